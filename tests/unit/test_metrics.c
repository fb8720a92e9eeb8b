/* The counters (daemon/metrics.c): the loop lag's largest value over the
   last minute, and the Clever latency histograms per endpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* Far from 0: a monotonic clock's seconds since boot. */
#define T0	100000

static void
test_lag_max_is_the_last_minutes(void **state)
{
	assert_int_equal(metrics_loop_lag_max_at(T0), 0);
	metrics_loop_lag_at(2500, T0);		/* a stall */
	metrics_loop_lag_at(3, T0);		/* the next tick, same second */
	metrics_loop_lag_at(40, T0 + 1);
	assert_int_equal(metrics_read()->loop_lag_ms, 40);
	assert_int_equal(metrics_loop_lag_max_at(T0 + 1), 2500);
	/* still in the window at 59 s, gone at 60 s */
	assert_int_equal(metrics_loop_lag_max_at(T0 + METRICS_LAG_WINDOW - 1),
	    2500);
	assert_int_equal(metrics_loop_lag_max_at(T0 + METRICS_LAG_WINDOW), 40);
	assert_int_equal(metrics_loop_lag_max_at(T0 + METRICS_LAG_WINDOW + 1),
	    0);
	/* a slot reused a minute later starts again from its new second */
	metrics_loop_lag_at(7, T0 + METRICS_LAG_WINDOW);
	assert_int_equal(metrics_loop_lag_max_at(T0 + METRICS_LAG_WINDOW), 40);
	assert_int_equal(metrics_loop_lag_max_at(T0 + METRICS_LAG_WINDOW + 1),
	    7);
}

static void
test_clever_latency_per_endpoint(void **state)
{
	static const char me[] = "me", sections[] = "sections";
	const struct metrics *m = metrics_read();
	const struct metrics_hist *h;

	metrics_clever_response(me, "200", 4);		/* <= 5 ms */
	metrics_clever_response(me, "429", 70000);	/* past 60 s: +Inf */
	metrics_clever_response(sections, "timeout", 30000);
	assert_int_equal(m->nlatency, 2);
	assert_ptr_equal(m->latency[0].endpoint, me);
	h = &m->latency[0].latency;
	assert_int_equal(h->count, 2);
	assert_int_equal(h->counts[0], 1);
	assert_int_equal(h->counts[h->n], 1);
	assert_true(h->bounds[0] == 0.005 && h->bounds[h->n - 1] == 60);
	assert_int_equal(m->latency[1].latency.count, 1);
	assert_int_equal(m->nclever, 3);	/* and by status, as before */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lag_max_is_the_last_minutes),
		cmocka_unit_test(test_clever_latency_per_endpoint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
