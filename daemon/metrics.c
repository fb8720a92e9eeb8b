/*
 * The daemon's counters, in one place: every module reports what happened
 * here; the heartbeat, STATUS, the final log line and the Prometheus
 * exporter (exporter.c) read them back.  A leaf: it keeps no daemon state
 * and calls no other module.
 */
#include <string.h>

#include "clock.h"
#include "metrics.h"
#include "xmalloc.h"

/* Each outcome's names: the result label, and the journal's event. */
static const struct {
	const char	*name;
	const char	*event;
} outcomes[OUT_COUNT] = {
	[OUT_CHANGED] = { "changed", "synced" },
	[OUT_UNCHANGED] = { "unchanged", "synced" },
	[OUT_DISCOVERED] = { "discovered", "discovered" },
	[OUT_FORGOTTEN] = { "forgotten", "forgotten" },
	[OUT_COALESCED] = { "coalesced", "coalesced" },
	[OUT_FAILED] = { "failed", "failed" },
	[OUT_DEAD] = { "dead", "dead" },
	[OUT_HELD] = { "held", "held" },
	[OUT_REJECTED] = { "rejected", "bad_job" },
};

/* Jobs finished per second over the last minute (a ring of seconds). */
#define RING		60
static const double duration_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    10, 30, 60, 120, 300, 900 };
static const double wait_bounds[] = { 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30,
    60, 300, 900, 3600 };
#define NB(a)	(sizeof(a) / sizeof((a)[0]))

static struct metrics m = {
	/* every kind: a kind left out would have the +Inf bucket only */
	.duration = {
		[JOB_SYNC] = { duration_bounds, NB(duration_bounds), { 0 }, 0, 0 },
		[JOB_DISCOVER] = { duration_bounds, NB(duration_bounds), { 0 }, 0,
		    0 },
		[JOB_FORGET] = { duration_bounds, NB(duration_bounds), { 0 }, 0,
		    0 },
	},
	.queue_wait = { wait_bounds, NB(wait_bounds), { 0 }, 0, 0 },
};
static uint64_t	ring_sec[RING];
static unsigned	ring_n[RING];

static uint64_t
mono_sec(void)
{
	return mono_ms() / 1000;
}

const char *
metrics_outcome_name(enum job_outcome o)
{
	return outcomes[o].name;
}

const char *
metrics_outcome_event(enum job_outcome o)
{
	return outcomes[o].event;
}

const struct metrics *
metrics_read(void)
{
	return &m;
}

void
metrics_job_outcome(enum job_kind kind, enum job_outcome o)
{
	uint64_t now = mono_sec();
	unsigned slot = (unsigned)(now % RING);

	m.outcomes[kind][o]++;
	if (ring_sec[slot] != now) {
		ring_sec[slot] = now;
		ring_n[slot] = 0;
	}
	ring_n[slot]++;
}

static void
hist_observe(struct metrics_hist *h, double v)
{
	size_t i;

	for (i = 0; i < h->n && v > h->bounds[i]; i++)
		;
	h->counts[i]++;		/* i == n: +Inf only */
	h->count++;
	h->sum += v;
}

void
metrics_job_duration(enum job_kind kind, uint64_t ms)
{
	hist_observe(&m.duration[kind], (double)ms / 1000);
}

void
metrics_queue_wait(uint64_t ms)
{
	hist_observe(&m.queue_wait, (double)ms / 1000);
}

/* A Clever response: status is the HTTP status, or why there was none. */
void
metrics_clever_response(const char *endpoint, const char *status)
{
	size_t i;

	for (i = 0; i < m.nclever; i++)
		if (m.clever[i].endpoint == endpoint &&
		    strcmp(m.clever[i].status, status) == 0)
			break;
	if (i == m.nclever) {
		if (m.nclever == METRICS_CLEVER_MAX)
			return;		/* cannot happen: few endpoints */
		m.clever[i].endpoint = endpoint;
		xstrlcpy(m.clever[i].status, status,
		    sizeof(m.clever[i].status));
		m.nclever++;
	}
	m.clever[i].n++;
	if (strcmp(status, "429") == 0)
		m.clever_429++;
}

void
metrics_clever_retry(void)
{
	m.clever_retries++;
}

void
metrics_job_retry(void)
{
	m.job_retries++;
}

void
metrics_scheduled(unsigned n)
{
	m.scheduled += n;
}

void
metrics_rate_wait(uint64_t ms)
{
	m.rate_wait_ms += ms;
}

void
metrics_loop_lag(uint64_t ms)
{
	m.loop_lag_ms = ms;
	if (ms > m.loop_lag_max_ms)
		m.loop_lag_max_ms = ms;
}

/* Both kinds, outcomes from..to. */
static uint64_t
sum(enum job_outcome from, enum job_outcome to)
{
	uint64_t n = 0;
	int o, k;

	for (o = from; o <= (int)to; o++)
		for (k = 0; k < JOB_KIND_COUNT; k++)
			n += m.outcomes[k][o];
	return n;
}

void
metrics_totals(uint64_t *done, uint64_t *coalesced, uint64_t *failed)
{
	*done = sum(OUT_CHANGED, OUT_FORGOTTEN);
	*coalesced = sum(OUT_COALESCED, OUT_COALESCED);
	*failed = sum(OUT_FAILED, OUT_REJECTED);
}

unsigned
metrics_done_last_minute(void)
{
	uint64_t now = mono_sec();
	unsigned n = 0, i;

	for (i = 0; i < RING; i++)
		if (ring_sec[i] + RING > now && ring_sec[i] <= now)
			n += ring_n[i];
	return n;
}
