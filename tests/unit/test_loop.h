/*
 * Driving the event loop in tests: run until a flag is set (an event), with
 * a deadline so that a missing event fails the test instead of hanging it.
 */
#ifndef ROSTERD_TEST_LOOP_H
#define ROSTERD_TEST_LOOP_H

#include <stdint.h>

#include <event2/event.h>

#include "xmalloc.h"

static void
test_loop_deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	int	*expired = arg;

	*expired = 1;
}

/* Drive the loop until *flag becomes nonzero; 0 if the deadline passed. */
static inline int
run_until_ms(struct event_base *base, const int *flag, uint64_t ms)
{
	struct timeval	 tv = ms_to_tv(ms);
	struct event	*guard;
	int		 expired = 0;

	guard = evtimer_new(base, test_loop_deadline_cb, &expired);
	evtimer_add(guard, &tv);
	while (!*flag && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
	return *flag != 0;
}

#endif
