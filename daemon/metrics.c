/*
 * The daemon's counters, in one place: every module reports what happened
 * here, and the heartbeat, STATUS and the final log line read them back.
 */
#include <string.h>
#include <time.h>

#include "rosterd.h"

static const char *const outcome_names[] = {
	[OUT_CHANGED] = "changed",
	[OUT_UNCHANGED] = "unchanged",
	[OUT_DISCOVERED] = "discovered",
	[OUT_COALESCED] = "coalesced",
	[OUT_FAILED] = "failed",
	[OUT_DEAD] = "dead",
	[OUT_HELD] = "held",
	[OUT_REJECTED] = "rejected",
};

/* Jobs finished per second over the last minute (a ring of seconds). */
#define RING	60

static struct {
	uint64_t	 outcomes[2][OUT_COUNT];	/* [kind][outcome] */
	uint64_t	 ring_sec[RING];
	unsigned	 ring_n[RING];
} m;

static uint64_t
mono_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

const char *
metrics_outcome_name(enum job_outcome o)
{
	return outcome_names[o];
}

void
metrics_job_outcome(enum job_kind kind, enum job_outcome o)
{
	uint64_t now = mono_sec();
	unsigned slot = (unsigned)(now % RING);

	m.outcomes[kind == JOB_DISCOVER][o]++;
	if (m.ring_sec[slot] != now) {
		m.ring_sec[slot] = now;
		m.ring_n[slot] = 0;
	}
	m.ring_n[slot]++;
}

uint64_t
metrics_outcomes(enum job_kind kind, enum job_outcome o)
{
	return m.outcomes[kind == JOB_DISCOVER][o];
}

/* Both kinds, outcomes from..to. */
static uint64_t
sum(enum job_outcome from, enum job_outcome to)
{
	uint64_t n = 0;
	int o;

	for (o = from; o <= (int)to; o++)
		n += m.outcomes[0][o] + m.outcomes[1][o];
	return n;
}

void
metrics_totals(uint64_t *done, uint64_t *coalesced, uint64_t *failed)
{
	*done = sum(OUT_CHANGED, OUT_DISCOVERED);
	*coalesced = sum(OUT_COALESCED, OUT_COALESCED);
	*failed = sum(OUT_FAILED, OUT_REJECTED);
}

unsigned
metrics_done_last_minute(void)
{
	uint64_t now = mono_sec();
	unsigned n = 0, i;

	for (i = 0; i < RING; i++)
		if (m.ring_sec[i] + RING > now && m.ring_sec[i] <= now)
			n += m.ring_n[i];
	return n;
}
