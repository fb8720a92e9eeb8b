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
	[OUT_CANCELLED] = { "cancelled", "cancelled" },
};

/* Jobs finished per second over the last minute (a ring of seconds). */
#define RING		60
static const double duration_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    10, 30, 60, 120, 300, 900 };
static const double wait_bounds[] = { 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30,
    60, 300, 900, 3600 };
/* An HTTP request to Clever: 5 ms to the 60 s of a slow roster. */
static const double latency_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
#define NB(a)	(sizeof(a) / sizeof((a)[0]))

static struct metrics m = {
	/* every kind: a kind left out would have the +Inf bucket only */
	.duration = {
		[JOB_SYNC] = { duration_bounds, NB(duration_bounds), { 0 }, 0, 0 },
		[JOB_DISCOVER] = { duration_bounds, NB(duration_bounds), { 0 }, 0,
		    0 },
		[JOB_FORGET] = { duration_bounds, NB(duration_bounds), { 0 }, 0,
		    0 },
		[JOB_DISTRICT] = { duration_bounds, NB(duration_bounds), { 0 },
		    0, 0 },
	},
	.queue_wait = { wait_bounds, NB(wait_bounds), { 0 }, 0, 0 },
};
static uint64_t	ring_sec[RING];
static unsigned	ring_n[RING];
/* The largest loop lag of each of the last seconds (a ring of seconds). */
static uint64_t	lag_sec[METRICS_LAG_WINDOW];
static uint64_t	lag_max[METRICS_LAG_WINDOW];

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
metrics_job_received(enum job_kind kind, enum job_trigger t)
{
	m.received[kind][t]++;
}

void
metrics_job_outcome(enum job_kind kind, enum job_trigger t,
    enum job_outcome o)
{
	uint64_t now = mono_sec();
	unsigned slot = (unsigned)(now % RING);

	m.outcomes[kind][o][t]++;
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

/* The latency histogram of an endpoint (a static string). */
static struct metrics_hist *
latency(const char *endpoint)
{
	size_t i;

	for (i = 0; i < m.nlatency; i++)
		if (m.latency[i].endpoint == endpoint)
			return &m.latency[i].latency;
	if (m.nlatency == METRICS_ENDPOINT_MAX)
		return NULL;		/* cannot happen: few endpoints */
	m.latency[i].endpoint = endpoint;
	m.latency[i].latency.bounds = latency_bounds;
	m.latency[i].latency.n = NB(latency_bounds);
	m.nlatency++;
	return &m.latency[i].latency;
}

/* A Clever response: status is the HTTP status, or why there was none;
   ms from the request's start to it. */
void
metrics_clever_response(const char *endpoint, const char *status,
    uint64_t ms)
{
	struct metrics_hist *h = latency(endpoint);
	size_t i;

	if (h != NULL)
		hist_observe(h, (double)ms / 1000);
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

/* A batch of Clever events committed: read, jobs added, a fallback. */
void
metrics_events(unsigned polled, unsigned jobs, int fallback)
{
	m.events_polled += polled;
	m.events_jobs += jobs;
	m.events_fallbacks += fallback != 0;
}

void
metrics_rate_wait(uint64_t ms)
{
	m.rate_wait_ms += ms;
}

void
metrics_loop_lag(uint64_t ms)
{
	metrics_loop_lag_at(ms, mono_sec());
}

void
metrics_loop_lag_at(uint64_t ms, uint64_t sec)
{
	unsigned slot = (unsigned)(sec % METRICS_LAG_WINDOW);

	m.loop_lag_ms = ms;
	if (lag_sec[slot] != sec) {
		lag_sec[slot] = sec;
		lag_max[slot] = 0;
	}
	if (ms > lag_max[slot])
		lag_max[slot] = ms;
}

uint64_t
metrics_loop_lag_max_ms(void)
{
	return metrics_loop_lag_max_at(mono_sec());
}

/* The largest lag of the seconds of the window that ends at sec. */
uint64_t
metrics_loop_lag_max_at(uint64_t sec)
{
	uint64_t max = 0;
	unsigned i;

	for (i = 0; i < METRICS_LAG_WINDOW; i++)
		if (lag_sec[i] + METRICS_LAG_WINDOW > sec && lag_sec[i] <= sec &&
		    lag_max[i] > max)
			max = lag_max[i];
	return max;
}

void
metrics_lock_lost(void)
{
	m.locks_lost++;
}

void
metrics_taken_over(size_t n)
{
	m.taken_over += n;
}

void
metrics_handed_back(void)
{
	m.handed_back++;
}

/* Redis took this instance's heartbeat. */
void
metrics_heartbeat(void)
{
	m.beat_ms = mono_ms();
}

/* Every kind and trigger, outcomes from..to. */
static uint64_t
sum(enum job_outcome from, enum job_outcome to)
{
	uint64_t n = 0;
	int o, k, t;

	for (o = from; o <= (int)to; o++)
		for (k = 0; k < JOB_KIND_COUNT; k++)
			for (t = 0; t < TRIGGER_COUNT; t++)
				n += m.outcomes[k][o][t];
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
