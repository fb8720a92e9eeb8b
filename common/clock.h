/*
 * Time, as the daemon uses it: the monotonic clock for timers, deadlines
 * and durations; the wall clock only for timestamps shown to people or
 * apps; libevent's struct timeval; and the delays between retries.
 */
#ifndef ROSTERD_CLOCK_H
#define ROSTERD_CLOCK_H

#include <stdint.h>
#include <sys/time.h>

/* Milliseconds on CLOCK_MONOTONIC: for timers, deadlines and durations. */
uint64_t	mono_ms(void);
/* Milliseconds since the epoch: only for timestamps shown to people or apps. */
uint64_t	wall_ms(void);
/* A struct timeval for libevent from milliseconds. */
struct timeval	ms_to_tv(uint64_t ms);
/*
 * The delay before retry number attempt (1, 2, ...): exponential from
 * base to max, with "equal jitter" (at least half the delay, the rest
 * spread at random) so that retries of many callers do not line up.
 */
uint64_t	backoff_ms(int attempt, uint64_t base, uint64_t max);

#endif
