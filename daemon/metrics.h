/*
 * The counters every module reports into (metrics.c): a leaf with no
 * daemon state, read back by the heartbeat, STATUS, the last log line and
 * the Prometheus exporter (exporter.c).  Also what they count by: the
 * kinds of job and how a job ends.
 */
#ifndef ROSTERD_METRICS_H
#define ROSTERD_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum job_kind {
	JOB_SYNC = 0,		/* full roster sync */
	JOB_DISCOVER,		/* sections only, for the app's picker */
	JOB_FORGET,		/* erase the teacher: final diff, keys gone */
	JOB_KIND_COUNT
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
	OUT_COUNT
};

#define METRICS_HIST_MAX	16
#define METRICS_CLEVER_MAX	64	/* endpoint x status pairs */

/* A histogram: counts per bucket (not cumulative), upper bounds in s. */
struct metrics_hist {
	const double	*bounds;
	size_t		 n;
	uint64_t	 counts[METRICS_HIST_MAX + 1];	/* + the +Inf one */
	uint64_t	 count;
	double		 sum;
};

struct metrics {
	uint64_t		 outcomes[JOB_KIND_COUNT][OUT_COUNT];
	struct metrics_hist	 duration[JOB_KIND_COUNT];
	struct metrics_hist	 queue_wait;
	struct {
		const char	*endpoint;	/* static strings */
		char		 status[24];
		uint64_t	 n;
	}			 clever[METRICS_CLEVER_MAX];
	size_t			 nclever;
	uint64_t		 clever_429, clever_retries, job_retries;
	uint64_t		 scheduled, rate_wait_ms;
	uint64_t		 loop_lag_ms, loop_lag_max_ms;
};

/* What happened, as modules report it. */
void		 metrics_job_outcome(enum job_kind, enum job_outcome);
void		 metrics_job_duration(enum job_kind, uint64_t ms);
void		 metrics_queue_wait(uint64_t ms);
void		 metrics_clever_response(const char *endpoint,
		    const char *status);
void		 metrics_clever_retry(void);
void		 metrics_job_retry(void);
void		 metrics_scheduled(unsigned);
void		 metrics_rate_wait(uint64_t ms);
void		 metrics_loop_lag(uint64_t ms);

/* Read back. */
const struct metrics *metrics_read(void);
/* An outcome's name (the result label and status field), and the
   journal's event for it (ROSTERD_EVENT). */
const char	*metrics_outcome_name(enum job_outcome);
const char	*metrics_outcome_event(enum job_outcome);
void		 metrics_totals(uint64_t *done, uint64_t *coalesced,
		    uint64_t *failed);
unsigned	 metrics_done_last_minute(void);

#endif
