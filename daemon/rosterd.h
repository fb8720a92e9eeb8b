/*
 * rosterd private header: the daemon's modules, each declaration under the
 * file that owns it, lowest layer first.  A module calls modules of its
 * own layer or below; the one call back up is a sync completing into its
 * job (sync.c -> job.c).  Other news travels up by callbacks that main.c
 * hands down: Redis prepared (prepare_init), a job gone from the table
 * (jobs_init: a slot may be free, a drain over).
 *
 *	common/		xmalloc, clock, log, conf, contract, keys, tls, the
 *			roster model (their own headers)
 *	rconn.c http.c	one Redis connection; Clever over curl multi
 *	etag.c selection.c job_json.c metrics.c
 *			pure leaves and the counters (their own headers,
 *			never this one)
 *
 *	rosterd.c	the environment: rd, the configuration in force
 *	sentinel.c	where the primary is, asked of the Sentinels
 *	store.c		the Redis contract: key names, the scripts (lua/),
 *			one way to call them
 *	health.c	Redis failures told apart, counted, logged
 *	redisinfo.c	the Redis server: address, role, TLS, eviction
 *			policy, memory
 *	ratelimit.c	per-token request permits shared by all instances
 *	probe.c		the permissions rosterd needs, checked
 *
 *	jobs.c		the jobs in memory: table, counts, slots, walks
 *	job.c		one job's life: load, sync, write back, fail, retry
 *	job_entry.c	one stream entry parsed into a job
 *	sync.c		the Clever requests of one job
 *	district.c	a district's bulk pull, written teacher by teacher
 *	forget.c	the job statuses of a forgotten teacher
 *
 *	reader.c	the job stream: read, take over, the gate (pause,
 *			quiet)
 *	control.c	the operator's hold on this instance: pause and
 *			quiet polled, commands on its control list run
 *	schedule.c	the freshness schedule; unrenewed tokens' teachers
 *	events.c	Clever's Events per district: teachers resynced
 *	trim.c		retention: the streams trimmed behind their readers
 *	instance.c	this instance for the others: heartbeat, reaping
 *	prepare.c	Redis made ready: permissions, scripts, contract
 *			version, consumer group
 *
 *	main.c		the program: start, signals, reload, watchdog, stop
 *	exporter.c	the Prometheus endpoint
 */
#ifndef ROSTERD_H
#define ROSTERD_H

#include <sys/queue.h>

#include <stdint.h>
#include <sysexits.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "clock.h"
#include "conf.h"
#include "contract.h"
#include "http.h"
#include "metrics.h"
#include "rconn.h"
#include "roster.h"
#include "selection.h"

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

/*
 * Delays between retries of Redis work that failed (reading the stream,
 * admitting jobs): exponential from MIN to MAX, with jitter.
 */
#define REDIS_RETRY_MIN_MS	100
#define REDIS_RETRY_MAX_MS	30000

/*
 * Exit status when the configuration is wrong (a bad file, key or value, a
 * metrics address it cannot listen on, TLS files OpenSSL refuses) or Redis
 * is set up so that rosterd cannot work (another contract version,
 * missing permissions): restarting will not help, so the unit has
 * RestartPreventExitStatus= for it (EX_CONFIG).
 */
#define EXIT_CONFIG	EX_CONFIG

enum job_state {
	JOB_ADMITTING,		/* admit script in flight */
	JOB_WAITING,		/* teacher busy elsewhere; timer re-admits */
	JOB_LOADING,		/* token, selection, snapshot being read */
	JOB_FETCHING,		/* Clever requests in flight */
	JOB_WRITING,		/* write-back script in flight */
	JOB_BACKOFF,		/* transient failure; timer re-admits */
	JOB_HANDBACK,		/* shutdown: being returned to the stream */
	JOB_FINISHED,		/* outcome written; about to be freed */
};

/* The error codes of the job status, ERR_*: contract.h. */

struct job;

/* How a failure is to be treated. */
enum fail_kind {
	FAIL_TRANSIENT,		/* retry the job later (counts an attempt) */
	FAIL_PERMANENT,		/* fail at once, dead letter */
	FAIL_HOLD,		/* shrink guard: held for confirmation */
};

struct sync;
struct written;
struct bulk;

struct job {
	TAILQ_ENTRY(job)	 entry;
	char			 entry_id[JOB_ID_MAX + 1];	/* stream id */
	char			 job_id[JOB_ID_MAX + 1];	/* status id */
	char			 teacher[TEACHER_ID_MAX + 1];
	char			*ref;
	char			*district;	/* from the job, may be NULL */
	/* The app's W3C traceparent, "" if none (or invalid: ignored). */
	char			 traceparent[TRACEPARENT_LEN + 1];
	char			 trace_id[TRACE_ID_LEN + 1];	/* its trace-id */
	enum job_kind		 kind;
	enum job_trigger	 trigger;
	int			 force;		/* bypass the shrink guard */
	uint64_t		 req_ms;	/* request time (Redis clock) */
	uint64_t		 started_ms;	/* this sync's start (Redis) */
	uint64_t		 first_run_ms;	/* first start (monotonic) */
	int			 attempts;
	int			 waits;		/* admissions found busy */
	int			 redis_failures;	/* admissions failed */
	enum job_state		 state;
	struct event		*timer;		/* waiting, backoff */
	uint64_t		 timer_due_ms;	/* when it fires (mono_ms) */
	struct event		*lock_timer;	/* renews the teacher lock */
	uint64_t		 lock_ms;	/* lock last confirmed (mono) */
	unsigned		 pending_cmds;	/* Redis commands in flight */
	char			*hold_extra;	/* shrink guard counts, JSON */

	/* Loaded before the sync. */
	char			*token;		/* never logged */
	char			*token_owner;	/* "teacher:ID", "district:ID" */
	struct selection	 sel;		/* "Sync Classes" */
	uint64_t		 base_version;
	char			*base_snapshot;	/* NULL: none, or not loaded */
	size_t			 base_snapshot_len;
	int			 snapshot_fetched; /* asked for after the load */
	char			*base_hash;	/* its content hash: "" no
						   snapshot, NULL none stored */
	char			*etags;		/* ETag record of the last sync */
	char			*unrec;		/* its unrecognised values, JSON */
	int			 unrec_changed;	/* this sync's differ: store */
	/* Built by this sync: its ETag record's entries, NULL if none. */
	char			*etag_entries;
	int			 not_modified;	/* every response unchanged */
	/* The picker's list this sync fetched (before the selection), JSON,
	   NULL if none (nothing parsed: not modified) */
	char			*picker;
	size_t			 picker_len, picker_n;

	struct sync		*sync;		/* Clever requests */
	struct roster		*roster;	/* result of the sync */
	struct roster_diff_counts counts;	/* of the diff written */
	int			 has_counts;
	unsigned		 requests;	/* Clever requests sent */
	unsigned		 conflicts;	/* CAS retries */
	char			 diff_id[JOB_ID_MAX + 1];	/* written, for
								   the log */
	struct written		*written;	/* a write-back waiting for
						   replicas ([redis]
						   wait_replicas) */
	/*
	 * District bulk syncs (district.c): a district job's pull, or, for
	 * a teacher written from one (kind sync), the pull its roster is
	 * built from; NULL for any other job.
	 */
	struct bulk		*bulk;
	enum job_outcome	 outcome;	/* how it ended, once it did */
};

/*
 * The log fields that name a job, for every line about it: journalctl
 * ROSTERD_JOB=, ROSTERD_TEACHER= or ROSTERD_TRACE_ID= follows it.
 */
#define JOB_LF(j, ...)	LF(.job = (j)->job_id, .teacher = (j)->teacher,	\
	.trace_id = (j)->trace_id, __VA_ARGS__)

/*
 * The daemon: its configuration, connections, event base and the flags of
 * its life.  What one module alone uses is that module's own (statics).
 */
struct rosterd {
	struct event_base	*base;
	struct conf		 conf;
	char			*consumer;
	struct rconn		*rc;		/* commands */
	struct rconn		*rq;		/* blocking XREADGROUP only */
	struct http_client	*http;
	int			 ready;		/* prepared once: READY=1 sent */
	int			 draining;	/* SIGTERM: take no work */
	int			 exit_code;
};

/* rosterd.c: the environment */
extern struct rosterd	*rd;
int		 rosterd_conf_reloadable(struct conf *, char *, size_t);
int		 rosterd_conf_load(struct conf *, const char *path, char *err,
		    size_t errlen);
char		*rosterd_consumer(void);
void		 rosterd_redis_where(char *buf, size_t len);
void		 rosterd_rconn_conf(struct rconn_conf *, const char *name);
void		 rosterd_http_conf(struct http_conf *);
void		 rosterd_conf_adopt(struct conf *next);
/* What STATUS shows changed (jobs, Redis health, the pause): main.c's
   callback (rosterd_on_status) sends it, at a bounded rate. */
void		 rosterd_on_status(void (*)(void));
void		 rosterd_status_changed(void);

/* sentinel.c: where the primary is, asked of the Sentinels */
void		 sentinel_init(void);
void		 sentinel_conf(struct rconn_conf *);
void		 sentinel_free(void);

/* store.c: key names (malloc'ed) and scripts. */
char		*key_jobs(void);
char		*key_job(const char *job_id);
char		*key_token(const char *teacher);
char		*key_district_token(const char *district);
char		*key_snapshot(const char *teacher);
char		*key_lock(const char *teacher);
char		*key_state(const char *teacher);
char		*key_selection(const char *teacher);
char		*key_sections(const char *teacher);
char		*key_diffs(const char *teacher);
char		*key_diffs_part(unsigned partition);
char		*key_diffs_partitions(void);
char		*key_dead(void);
char		*key_accounts(void);
char		*key_ratelimit(const char *owner);
char		*key_me(const char *owner);
char		*key_events(void);
char		*key_instance(const char *consumer);
char		*key_quiet(const char *consumer);
char		*key_control(const char *consumer);
char		*key_diffs_lost(void);
char		*key_trim_lock(void);
char		*key_paused(void);
char		*key_contract(void);
char		*key_schedule(void);
char		*key_schedule_left(void);
char		*key_reauthorize(void);
char		*key_schedule_enrolled(void);
char		*key_districts(void);
char		*key_district(const char *district);
char		*key_district_teachers(const char *district);
char		*key_event_cursor(const char *district);
char		*key_event_lock(const char *district);

enum store_script {
	SCRIPT_ADMIT,
	SCRIPT_LOAD,
	SCRIPT_WRITEBACK,
	SCRIPT_DISCOVERED,
	SCRIPT_FAIL,
	SCRIPT_RETRY,
	SCRIPT_HANDBACK,
	SCRIPT_RENEW,
	SCRIPT_PERMIT,
	SCRIPT_OBSERVE,
	SCRIPT_PROBE,
	SCRIPT_BEAT,
	SCRIPT_REAP,
	SCRIPT_TRIM,
	SCRIPT_FORGET,
	SCRIPT_FORGET_STATUSES,
	SCRIPT_TOUCH,
	SCRIPT_DUE,
	SCRIPT_CLAIM,
	SCRIPT_UNRENEWED,
	SCRIPT_ENROLL,
	SCRIPT_SCHEDULE_STATS,
	SCRIPT_CONFIRM,
	SCRIPT_CONTROL,
	SCRIPT_CANCEL,
	SCRIPT_QUEUE_STATS,
	SCRIPT_UPGRADE,
	SCRIPT_EVENT_LOCK,
	SCRIPT_EVENT_COMMIT,
	SCRIPT_DISTRICT_DONE,
	SCRIPT_COUNT
};
/*
 * One way to call a script: keys first, then the arguments, in the order
 * of the script's header (daemon/lua/NAME.lua), then run.  Keys and
 * _own strings are malloc'ed and freed by the run; other strings and
 * bytes must live until the run; a NULL string is "".
 */
struct script_call;
struct script_call *script_new(enum store_script);
void		 script_key(struct script_call *, char *key);
void		 script_key_schedule_sets(struct script_call *);	/* 3 */
void		 script_arg(struct script_call *, const char *);
void		 script_arg_own(struct script_call *, char *);
void		 script_bytes(struct script_call *, const char *, size_t);
void		 script_num(struct script_call *, long long);
void		 script_plan(struct script_call *);	/* interval, jitter */
void		 script_run(struct script_call *, rconn_reply_cb, void *arg);
void		 script_free(struct script_call *);
void		 store_init(void);
void		 store_forget(void);
void		 store_free(void);

/* health.c */
enum redis_health {
	RH_OK = 0,
	RH_UNREACHABLE,		/* connection lost, timeouts: it passes */
	RH_REFUSED,		/* Redis answers but will not: ACL, OOM, ... */
	RH_COUNT
};
/* Report a failed Redis command: what it was for, the error, and whether
   the error is Redis's reply (else the connection's: timeout, lost). */
void		 health_redis_failed(const char *what, const char *err,
		    int is_reply);
/* A command worked; wrote: one Redis refuses while it takes no writes. */
void		 health_redis_ok(int wrote);
/* The server's maxmemory-policy: anything but noeviction is refused. */
void		 health_redis_policy(const char *maxmemory_policy);
void		 health_tick(void);
enum redis_health health_redis(void);
uint64_t	 health_redis_failures(enum redis_health);
void		 health_describe(char *buf, size_t len);

/* redisinfo.c: the Redis server rosterd works with */
struct redis_server {
	const char	*address;	/* host:port or socket; "": none */
	int		 tls;
	const char	*role;		/* ROLE: master, slave, ...; unknown */
	const char	*policy;	/* maxmemory-policy, or unknown */
	int		 memory_known;	/* INFO memory was read */
	uint64_t	 used_memory;	/* bytes */
	uint64_t	 maxmemory;	/* bytes; 0: no limit */
	uint64_t	 failovers;	/* followed by the command connection */
};
typedef void	(*redisinfo_cb)(int lost);
void		 redisinfo_read(redisinfo_cb);
void		 redisinfo_poll(void);
const char	*redisinfo_policy(void);
void		 redisinfo_get(struct redis_server *);
void		 redisinfo_describe(char *buf, size_t len);

/* ratelimit.c */
typedef void (*permit_cb)(unsigned granted, uint64_t wait_ms, int cold,
		    const char *err, void *arg);
void		 ratelimit_acquire(const char *owner, unsigned n,
		    int share_pct, permit_cb, void *arg);
void		 ratelimit_acquire_as(const char *owner, const char *caller,
		    unsigned n, int share_pct, permit_cb, void *arg);
void		 ratelimit_observe(const char *owner,
		    const struct http_ratelimit *, int was_429);

/* probe.c: denied 0 (all granted), 1 (what names it), -1 (err); the
   optional checks do not count, probe_allows() tells them. */
typedef void	(*probe_cb)(int denied, const char *what);
void		 probe_redis(probe_cb);
#define PROBE_INFO	0x1	/* INFO memory */
#define PROBE_ROLE	0x2	/* ROLE */
#define PROBE_WAIT	0x4	/* WAIT, for [redis] wait_replicas */
int		 probe_allows(unsigned what);

/* jobs.c: the jobs in memory */
struct jobs_census {
	unsigned	 jobs;			/* in memory */
	unsigned	 fetching;		/* using Clever */
	unsigned	 retrying;		/* waiting for their next attempt */
	unsigned	 waiting_teacher;	/* for another sync of theirs */
	unsigned	 waiting_rate;		/* for a rate-limit window */
};
void		 jobs_init(void (*removed)(void));
void		 jobs_watch(void (*changed)(void));
void		 jobs_changed(void);
void		 jobs_add(struct job *);
void		 jobs_remove(struct job *);
unsigned	 jobs_count(void);
unsigned	 jobs_scheduled(void);
unsigned	 jobs_free_slots(void);
struct job	*jobs_find_entry(const char *entry_id);
struct job	*jobs_find_job(const char *job_id);
size_t		 jobs_entry_ids(const char **ids, size_t max);
void		 jobs_census(struct jobs_census *);
typedef void	(*job_fn)(struct job *);
void		 jobs_each(job_fn);
void		 jobs_each_in(enum job_state, enum job_state, job_fn);
void		 jobs_each_of_entry(const char *entry_id, job_fn);
uint64_t	 timer_left_ms(const struct event *, uint64_t);
char		*jobs_json(void);

/* job.c */
typedef void	(*job_reply_cb)(struct job *, redisReply *, const char *err);
void		 job_run(struct job *, struct script_call *, job_reply_cb);
void		 admit_batch(struct job **, size_t);
void		 job_admit(struct job *);
void		 job_fail_bad(const char *entry_id, const char *teacher,
		    const char *message);
void		 job_handback(struct job *);
void		 job_free(struct job *);
void		 job_sections_fetched(struct job *, const struct roster *);
void		 job_fetched(struct job *, struct roster *);
int		 job_snapshot_in(struct job *, redisReply *);
void		 job_snapshot_ask(const struct job *, rconn_reply_cb, void *);
void		 job_not_modified(struct job *, const char *authorized_by,
		    const char *district, const char *email_lc);
void		 job_failed(struct job *, enum fail_kind, const char *code,
		    const char *message);
void		 job_set_state(struct job *, enum job_state);
void		 job_entry_lost(struct job *);
int		 job_lock_expired(const struct job *);
int		 job_district_token(const struct job *);
void		 job_lock_lost(struct job *);
int		 job_retry_now(struct job *);
int		 job_cancel(struct job *, const char *message);
void		 job_ended(struct job *, enum job_outcome, const char *msg);
char		*job_lock_value(const struct job *);
int		 job_status_ttl_s(const struct job *);
int		 job_of_district(const struct job *);

/* job_entry.c: the kinds' names in jobs; parse one stream entry into a
   new job, NULL + err if bad. */
extern const char *const job_kind_names[JOB_KIND_COUNT];
extern const char *const job_trigger_names[TRIGGER_COUNT];
struct job	*job_from_entry(const char *entry_id, redisReply *fields,
		    char *err, size_t errlen);
void		 job_entry_free(struct job *);

/* sync.c */
struct sync	*sync_start(struct job *);
void		 sync_free(struct sync *);
int		 sync_rate_waiting(const struct sync *);
uint64_t	 sync_rate_wait_ms(const struct sync *);
char		*sync_etag_record(const struct job *, uint64_t version);
struct roster	*sync_roster_new(void);
const char	*sync_api_root(void);
const char	*sync_obj_str(json_object *, const char *key);
const char	*sync_next_link(json_object *page);
size_t		 sync_page_length(json_object *page);

/*
 * district.c: a district job's pull (job_fetch hands it over), its
 * teachers written as their own syncs would be (job.c's hooks: a
 * teacher's roster built from the pull, its end counted), and the
 * per-teacher jobs a running pull is to satisfy.
 */
void		 district_fetch(struct job *);
void		 district_stop(struct job *);
void		 district_teacher_roster(struct job *);
void		 district_teacher_ended(struct job *);
int		 district_defers(const struct job *);

/* forget.c: delete the statuses of a forgotten teacher's other jobs */
void		 forget_statuses(const char *teacher, const char *own_job);

/* reader.c */
void		 reader_start(void);
void		 reader_conn_state(enum rconn_state);
void		 reader_kick(void);
int		 reader_group_ready(void);
const char	*reader_paused(void);
const char	*reader_quiet(void);
void		 reader_gate(const char *pause, const char *quiet);
void		 reader_stop(void);
void		 reader_free(void);

/* control.c */
void		 control_poll(void);

/* schedule.c */
void		 schedule_start(void);
void		 schedule_enroll(void);
void		 schedule_free(void);

/* events.c: Clever's Events polled per district */
void		 events_start(void);
void		 events_stop(void);
void		 events_free(void);

/* trim.c */
void		 trim_start(void);
void		 trim_free(void);

/* instance.c */
void		 instance_start(void);
void		 instance_beat(void);
void		 instance_beat_soon(void);
void		 instance_stop(void);
void		 instance_free(void);

/* prepare.c */
typedef void	(*prepared_cb)(void);
void		 prepare_init(prepared_cb);
void		 prepare_redis(void);
void		 prepare_free(void);

/* exporter.c */
void		 exporter_start(void);
void		 exporter_stop(void);

#endif
