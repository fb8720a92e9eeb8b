/*
 * The counters every module reports into (metrics.c): a leaf with no
 * daemon state, read back by the heartbeat, STATUS, the last log line and
 * the Prometheus exporter (exporter.c).  Also what they count by: the
 * kinds of job, what made them and how they end.
 */
#ifndef ROSTERD_METRICS_H
#define ROSTERD_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum job_kind {
	JOB_SYNC = 0,		/* full roster sync */
	JOB_DISCOVER,		/* sections only, for the app's picker */
	JOB_FORGET,		/* erase the teacher: final diff, keys gone */
	JOB_DISTRICT,		/* a district's bulk pull (district.c) */
	JOB_KIND_COUNT
};

/* What made a job: the app, or rosterd itself (status field trigger). */
enum job_trigger {
	TRIGGER_APP = 0,	/* an app's request (or rosterctl's) */
	TRIGGER_SCHEDULE,	/* the freshness schedule */
	TRIGGER_UNRENEWED,	/* a forget: the token was never renewed */
	TRIGGER_EVENTS,		/* Clever's Events named the teacher (events.c) */
	TRIGGER_COUNT
};

/* How a job ended (counted here, logged by job.c). */
enum job_outcome {
	OUT_CHANGED = 0,	/* synced, diff written */
	OUT_UNCHANGED,		/* synced, nothing changed */
	OUT_DISCOVERED,		/* sections listed */
	OUT_FORGOTTEN,		/* teacher erased */
	OUT_COALESCED,		/* satisfied by another sync */
	OUT_FAILED,		/* permanent failure */
	OUT_DEAD,		/* attempts used up */
	OUT_HELD,		/* shrink guard */
	OUT_REJECTED,		/* malformed job */
	OUT_CANCELLED,		/* by an operator (rosterctl cancel) */
	OUT_COUNT
};

#define METRICS_HIST_MAX	16
#define METRICS_CLEVER_MAX	64	/* endpoint x status pairs */
#define METRICS_ENDPOINT_MAX	8	/* Clever endpoints */
/* The window of rosterd_event_loop_lag_max_seconds, s. */
#define METRICS_LAG_WINDOW	60

/* A histogram: counts per bucket (not cumulative), upper bounds in s. */
struct metrics_hist {
	const double	*bounds;
	size_t		 n;
	uint64_t	 counts[METRICS_HIST_MAX + 1];	/* + the +Inf one */
	uint64_t	 count;
	double		 sum;
};

struct metrics {
	uint64_t		 outcomes[JOB_KIND_COUNT][OUT_COUNT]
				    [TRIGGER_COUNT];
	uint64_t		 received[JOB_KIND_COUNT][TRIGGER_COUNT];
	struct metrics_hist	 duration[JOB_KIND_COUNT];
	struct metrics_hist	 queue_wait;
	struct {
		const char	*endpoint;	/* static strings */
		char		 status[24];
		uint64_t	 n;
	}			 clever[METRICS_CLEVER_MAX];
	size_t			 nclever;
	struct {
		const char	*endpoint;	/* static strings */
		struct metrics_hist latency;
	}			 latency[METRICS_ENDPOINT_MAX];
	size_t			 nlatency;
	uint64_t		 clever_429, clever_retries, job_retries;
	uint64_t		 scheduled, rate_wait_ms;
	/* Clever's Events (events.c): events read, jobs they added, bulk
	   fallbacks */
	uint64_t		 events_polled, events_jobs, events_fallbacks;
	uint64_t		 locks_lost, taken_over, handed_back;
	uint64_t		 loop_lag_ms;
	uint64_t		 beat_ms;	/* last heartbeat written (mono) */
};

/* What happened, as modules report it. */
void		 metrics_job_received(enum job_kind, enum job_trigger);
void		 metrics_job_outcome(enum job_kind, enum job_trigger,
		    enum job_outcome);
void		 metrics_job_duration(enum job_kind, uint64_t ms);
void		 metrics_queue_wait(uint64_t ms);
void		 metrics_clever_response(const char *endpoint,
		    const char *status, uint64_t ms);
void		 metrics_clever_retry(void);
void		 metrics_job_retry(void);
void		 metrics_scheduled(unsigned);
void		 metrics_events(unsigned polled, unsigned jobs, int fallback);
void		 metrics_rate_wait(uint64_t ms);
void		 metrics_loop_lag(uint64_t ms);
void		 metrics_lock_lost(void);
void		 metrics_taken_over(size_t);
void		 metrics_handed_back(void);
void		 metrics_heartbeat(void);

/* Read back. */
const struct metrics *metrics_read(void);
/* An outcome's name (the result label and status field), and the
   journal's event for it (ROSTERD_EVENT). */
const char	*metrics_outcome_name(enum job_outcome);
const char	*metrics_outcome_event(enum job_outcome);
void		 metrics_totals(uint64_t *done, uint64_t *coalesced,
		    uint64_t *failed);
unsigned	 metrics_done_last_minute(void);
uint64_t	 metrics_loop_lag_max_ms(void);
/* The same at a given monotonic second, for the unit test of the window. */
void		 metrics_loop_lag_at(uint64_t ms, uint64_t sec);
uint64_t	 metrics_loop_lag_max_at(uint64_t sec);

#endif
