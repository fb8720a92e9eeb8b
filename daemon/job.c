/*
 * One job's life:
 *
 *	ADMITTING --coalesced--> (done, freed)
 *	    |  \--busy--> WAITING --timer--> ADMITTING
 *	    v
 *	LOADING (token, selection, snapshot) --> FETCHING (sync.c)
 *	    --> WRITING (compare-and-set write-back) --> (done, freed)
 *	any step --transient--> BACKOFF --timer--> ADMITTING
 *	any step --permanent, or attempts used up--> (failed/dead, freed)
 *	shutdown --> HANDBACK (re-queued for another instance) --> (freed)
 *
 * Redis commands cannot be cancelled, so a job counts the commands it has in
 * flight and job_free() only marks it FINISHED until the last one answers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job_json.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

/* Re-admission delay while another sync of the teacher runs. */
#define WAIT_MIN_MS	200
#define WAIT_MAX_MS	2000

struct job_cmd {
	struct job	*job;
	job_reply_cb	 cb;
};

static void	job_release(struct job *);
static void	job_taken_over(struct job *);
static void	job_load(struct job *);
static void	job_writeback(struct job *);
static void	job_forget(struct job *);
static void	job_send_wait(struct job *);

static const char *const state_names[] = {
	[JOB_ADMITTING] = "admitting",
	[JOB_WAITING] = "waiting",
	[JOB_LOADING] = "loading",
	[JOB_FETCHING] = "fetching",
	[JOB_WRITING] = "writing",
	[JOB_BACKOFF] = "backoff",
	[JOB_HANDBACK] = "handback",
	[JOB_FINISHED] = "finished",
};

void
job_set_state(struct job *j, enum job_state st)
{
	if (j->state == st)
		return;
	logf_debug(JOB_LF(j, .event = "job_state"),
	    "%s -> %s", state_names[j->state],
	    state_names[st]);
	if (j->state == JOB_FETCHING || st == JOB_FETCHING)
		rosterd_status_changed();	/* STATUS counts them */
	j->state = st;
	jobs_changed();		/* the heartbeat shows it soon */
}

char *
job_lock_value(const struct job *j)
{
	char *v;

	xasprintf(&v, "%s:%s", rd->consumer, j->job_id);
	return v;
}

static void
on_job_reply(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct job_cmd *jc = arg;
	struct job *j = jc->job;

	j->pending_cmds--;
	if (j->state == JOB_FINISHED)
		job_release(j);
	else {
		if (r != NULL && r->type == REDIS_REPLY_ERROR)
			err = r->str;
		jc->cb(j, err == NULL ? r : NULL, err);
	}
	free(jc);
}

/* A Redis command of the job starts: the job lives until it answers. */
static struct job_cmd *
job_cmd_new(struct job *j, job_reply_cb cb)
{
	struct job_cmd *jc = xmalloc(sizeof(*jc));

	jc->job = j;
	jc->cb = cb;
	j->pending_cmds++;
	return jc;
}

/* Run a script call on behalf of a job; cb gets reply or err (never
   both), unless the job ended meanwhile. */
void
job_run(struct job *j, struct script_call *sc, job_reply_cb cb)
{
	script_run(sc, on_job_reply, job_cmd_new(j, cb));
}

/* GET one key on behalf of a job. */
static void
job_get(struct job *j, const char *key, job_reply_cb cb)
{
	rconn_command(rd->rc, 0, on_job_reply, job_cmd_new(j, cb), "GET %s",
	    key);
}

/* Forget the bearer token, leaving nothing of it in the heap. */
static void
job_drop_token(struct job *j)
{
	if (j->token == NULL)
		return;
	explicit_bzero(j->token, strlen(j->token));
	free(j->token);
	j->token = NULL;
}

/* Timer: re-admit after waiting or backing off. */
static void
on_job_timer(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	if (j->state == JOB_WAITING || j->state == JOB_BACKOFF)
		job_admit(j);
	else if (j->state == JOB_WRITING && j->written != NULL)
		job_send_wait(j);
}

static void
job_later(struct job *j, enum job_state st, uint64_t ms)
{
	struct timeval tv = ms_to_tv(ms);

	job_set_state(j, st);
	if (j->timer == NULL)
		j->timer = evtimer_new(rd->base, on_job_timer, j);
	j->timer_due_ms = mono_ms() + ms;
	evtimer_add(j->timer, &tv);
}

/*
 * The lock is gone (this instance stalled past lock_ttl_ms, and another
 * sync may hold the teacher now): nothing this sync fetched may be
 * written, so its Clever requests stop at once.  Whether the job is still
 * ours to retry, the retry script decides.
 */
void
job_lock_lost(struct job *j)
{
	metrics_lock_lost();
	logf_warn(JOB_LF(j, .event = "lock_lost"),
	    "the teacher lock expired (this instance "
	    "stalled past lock_ttl_ms); the sync stops");
	job_failed(j, FAIL_TRANSIENT, ERR_LOCK_LOST, "the teacher lock "
	    "expired before the sync ended (the instance stalled)");
}

/*
 * Whether the lock has surely expired, without asking Redis: Redis set its
 * expiry before we heard of it, so no later than lock_ms + TTL.  After a
 * stall (SIGSTOP, a long pause), replies and timers that were due run in
 * any order: this keeps a sync from sending Clever anything meanwhile.
 */
int
job_lock_expired(const struct job *j)
{
	return mono_ms() >= j->lock_ms + rd->conf.sync_lock_ttl_ms;
}

static void
on_renew(struct job *j, redisReply *r, const char *err)
{
	if (err != NULL || r->type != REDIS_REPLY_INTEGER)
		logf_warn(JOB_LF(j, .event = "renew_failed"),
		    "could not renew the teacher lock: "
		    "%s", err ? err : "unexpected reply");
	else if (r->integer == 1)
		j->lock_ms = mono_ms();
	else if (j->state == JOB_LOADING || j->state == JOB_FETCHING)
		job_lock_lost(j);
	/* while writing, the write-back script itself finds the lock gone */
}

static void
on_lock_timer(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct script_call *sc;

	if (j->state != JOB_LOADING && j->state != JOB_FETCHING &&
	    j->state != JOB_WRITING)
		return;
	if (j->state != JOB_WRITING && job_lock_expired(j)) {
		job_lock_lost(j);
		return;
	}
	sc = script_new(SCRIPT_RENEW);
	script_key(sc, key_lock(j->teacher));
	script_arg_own(sc, job_lock_value(j));
	script_num(sc, rd->conf.sync_lock_ttl_ms);
	job_run(j, sc, on_renew);
}

static void
lock_renewal_start(struct job *j)
{
	struct timeval tv = ms_to_tv(rd->conf.sync_lock_ttl_ms / 3);

	if (j->lock_timer == NULL)
		j->lock_timer = event_new(rd->base, -1, EV_PERSIST,
		    on_lock_timer, j);
	evtimer_add(j->lock_timer, &tv);
}

static void
lock_renewal_stop(struct job *j)
{
	if (j->lock_timer != NULL)
		evtimer_del(j->lock_timer);
}

static const char *
kind_name(const struct job *j)
{
	return job_kind_names[j->kind];
}

/*
 * How a job ended, counted and told in one line: journalctl
 * ROSTERD_TEACHER=ID shows every job of a teacher with its outcome, ref,
 * error code and change counts.  j is NULL for a job that could not be
 * parsed; job_id and teacher then come alone.
 */
#define job_outcome(j, job_id, teacher, o, code, ...)			\
	job_outcome_src(LOG_SRC, j, job_id, teacher, o, code, __VA_ARGS__)

static void	job_outcome_src(const struct log_src *, struct job *,
		    const char *, const char *, enum job_outcome, const char *,
		    const char *, ...) __attribute__((format(printf, 7, 8)));

static void
job_outcome_src(const struct log_src *src, struct job *j,
    const char *job_id, const char *teacher, enum job_outcome o,
    const char *code, const char *fmt, ...)
{
	struct log_fields lf = {
		.event = metrics_outcome_event(o),
		.job = job_id,
		.teacher = teacher,
		.ref = j != NULL ? j->ref : NULL,
		.error = code,
		.result = metrics_outcome_name(o),
		.trigger = j != NULL && j->trigger != TRIGGER_APP ?
		    job_trigger_names[j->trigger] : NULL,
		.consumer = rd->consumer,
	};
	va_list ap;

	if (j != NULL)
		j->outcome = o;	/* a district job counts its teachers' */
	metrics_job_outcome(j != NULL ? j->kind : JOB_SYNC, j != NULL ?
	    j->trigger : TRIGGER_APP, o);
	if (j != NULL) {
		lf.trace_id = j->trace_id;
		lf.attempt = j->attempts;
		lf.requests = j->requests;
		lf.diff_id = j->diff_id;
	}
	if (j != NULL && j->first_run_ms != 0) {
		/* from its first start here, across its attempts */
		lf.timed = 1;
		lf.duration_ms = mono_ms() - j->first_run_ms;
		metrics_job_duration(j->kind, lf.duration_ms);
	}
	if (j != NULL && j->has_counts && (o == OUT_CHANGED ||
	    o == OUT_UNCHANGED || o == OUT_HELD)) {
		lf.counts = 1;
		lf.added = j->counts.added;
		lf.updated = j->counts.updated;
		lf.removed = j->counts.removed;
	}
	va_start(ap, fmt);
	/* an operator's cancel is no failure */
	log_vemit(o < OUT_FAILED || o == OUT_CANCELLED ? LOG_LVL_INFO :
	    LOG_LVL_WARN, src, &lf, fmt, ap);
	va_end(ap);
}

/*
 * How long the job's status hash lives: scheduled jobs' for [schedule]
 * status_ttl_s (nobody asked for them: at the default interval a teacher
 * keeps one), the others' for [sync] status_ttl_s.
 */
int
job_status_ttl_s(const struct job *j)
{
	return j != NULL && j->trigger == TRIGGER_SCHEDULE ?
	    rd->conf.schedule_status_ttl_s : rd->conf.sync_status_ttl_s;
}

/* ---- admission (batches) ---- */

struct admit_batch {
	struct job	**jobs;
	size_t		  n;
};

static void	job_admitted(struct job *, redisReply *);

/*
 * Redis failed the admission (store.c has told health.c, which logs).
 * Try again later, each time later, up to REDIS_RETRY_MAX_MS; while
 * stopping, leave the entry pending: it is taken over after claim_idle_ms.
 */
static void
job_admit_failed(struct job *j, const char *err)
{
	uint64_t ms;

	if (rd->draining) {
		job_free(j);
		return;
	}
	ms = backoff_ms(++j->redis_failures, REDIS_RETRY_MIN_MS,
	    REDIS_RETRY_MAX_MS);
	logf_debug(JOB_LF(j, .event = "admit_failed"),
	    "admission failed (%s); again in %llu ms",
	    err, (unsigned long long)ms);
	job_later(j, JOB_BACKOFF, ms);
}

static void
on_admit(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct admit_batch *b = arg;
	size_t i;

	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		err = r->str;
	else if (r != NULL && (r->type != REDIS_REPLY_ARRAY ||
	    r->elements != b->n))
		err = "unexpected reply to admit";
	for (i = 0; i < b->n; i++) {
		struct job *j = b->jobs[i];

		j->pending_cmds--;
		if (j->state == JOB_FINISHED)
			job_release(j);
		else if (err != NULL)
			job_admit_failed(j, err);
		else
			job_admitted(j, r->element[i]);
	}
	free(b->jobs);
	free(b);
}

/*
 * A teacher's sync that a district pull of this instance is to satisfy
 * (district_defers()), or that comes in one batch with a district job
 * (which may be about to start one), waits for it: admitted again later,
 * it then coalesces with the write of its teacher's roster.
 */
static size_t
admit_defer(struct job **jobs, size_t n)
{
	size_t i, k, district = 0;

	for (i = 0; i < n; i++)
		district += jobs[i]->kind == JOB_DISTRICT;
	for (i = k = 0; i < n; i++) {
		if (district_defers(jobs[i]) || (district > 0 &&
		    jobs[i]->kind == JOB_SYNC && jobs[i]->bulk == NULL)) {
			jobs[i]->waits++;
			job_later(jobs[i], JOB_WAITING, WAIT_MAX_MS);
		} else
			jobs[k++] = jobs[i];
	}
	return k;
}

/* Admit jobs in one script call: coalesce, lock, or wait. */
void
admit_batch(struct job **jobs, size_t n)
{
	struct admit_batch *b;
	struct script_call *sc;
	size_t i;

	if ((n = admit_defer(jobs, n)) == 0)
		return;
	b = xcalloc(1, sizeof(*b));
	sc = script_new(SCRIPT_ADMIT);

	b->jobs = xcalloc(n, sizeof(*b->jobs));
	b->n = n;
	script_key(sc, key_jobs());
	for (i = 0; i < n; i++) {
		script_key(sc, key_job(jobs[i]->job_id));
		script_key(sc, key_state(jobs[i]->teacher));
		script_key(sc, key_lock(jobs[i]->teacher));
	}
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, rd->consumer);
	script_num(sc, rd->conf.sync_lock_ttl_ms);
	script_arg_own(sc, key_events());
	script_num(sc, n);
	for (i = 0; i < n; i++) {
		struct job *j = jobs[i];

		script_arg(sc, j->entry_id);
		script_arg(sc, j->job_id);
		script_arg(sc, j->teacher);
		script_arg(sc, kind_name(j));
		script_arg(sc, j->ref);
		script_num(sc, j->req_ms);
		script_arg_own(sc, job_lock_value(j));
		script_arg(sc, job_trigger_names[j->trigger]);
		script_num(sc, job_status_ttl_s(j));
		script_arg(sc, j->traceparent);
		job_set_state(j, JOB_ADMITTING);
		j->pending_cmds++;
		b->jobs[i] = j;
	}
	script_run(sc, on_admit, b);
}

void
job_admit(struct job *j)
{
	admit_batch(&j, 1);
}

/*
 * A job starts here for the first time: its first line at info level,
 * what it is and how long it waited in the queue (from the request to
 * this start, Redis clock), counted too for the first attempt's.
 */
static void
job_received(struct job *j)
{
	uint64_t wait = j->started_ms >= j->req_ms ?
	    j->started_ms - j->req_ms : 0;

	j->first_run_ms = mono_ms();
	if (j->attempts == 1)
		metrics_queue_wait(wait);
	logf_info(JOB_LF(j, .event = "received", .ref = j->ref,
	    .trigger = job_trigger_names[j->trigger], .attempt = j->attempts,
	    .waited = 1, .queue_wait_ms = wait, .consumer = rd->consumer),
	    "job received: %s (%s), %llu ms in the queue, attempt %d",
	    kind_name(j), job_trigger_names[j->trigger],
	    (unsigned long long)wait, j->attempts);
}

static void
job_admitted(struct job *j, redisReply *e)
{
	const char *code = e->type == REDIS_REPLY_ARRAY && e->elements > 0 &&
	    e->element[0]->type == REDIS_REPLY_STRING ? e->element[0]->str : "";

	if (rd->draining && (strcmp(code, "R") == 0 ||
	    strcmp(code, "B") == 0)) {
		/* stopping: give it back (releasing the lock just taken) */
		if (strcmp(code, "R") == 0)
			job_set_state(j, JOB_LOADING);
		job_handback(j);
	} else if (strcmp(code, "C") == 0) {
		job_outcome(j, j->job_id, j->teacher, OUT_COALESCED, NULL,
		    "coalesced: satisfied by job %s, a sync that started "
		    "after the request", e->elements > 1 ?
		    e->element[1]->str : "?");
		job_free(j);
	} else if (strcmp(code, "R") == 0 && e->elements == 3) {
		j->redis_failures = 0;
		j->started_ms = strtoull(e->element[1]->str, NULL, 10);
		j->attempts = (int)e->element[2]->integer;
		/* a district pull's teacher: its data is from the pull's start */
		if (job_of_district(j))
			j->started_ms = j->req_ms;
		j->lock_ms = mono_ms();
		if (j->first_run_ms == 0)
			job_received(j);
		lock_renewal_start(j);
		job_load(j);
	} else if (strcmp(code, "G") == 0) {
		job_taken_over(j);
	} else if (strcmp(code, "B") == 0) {
		j->waits++;
		job_later(j, JOB_WAITING, backoff_ms(j->waits, WAIT_MIN_MS,
		    WAIT_MAX_MS));
	} else {
		logf_warn(JOB_LF(j, .event = "admit_failed"),
		    "unexpected admit answer");
		job_later(j, JOB_BACKOFF, WAIT_MAX_MS);
	}
}

/* ---- loading what the sync needs ---- */

static const char *
elem_str(redisReply *r, size_t i)
{
	if (i >= r->elements || r->element[i]->type != REDIS_REPLY_STRING)
		return NULL;
	return r->element[i]->str;
}

static void
job_fetch(struct job *j)
{
	free(j->picker);	/* a list of this attempt's, or none */
	j->picker = NULL;
	j->picker_n = 0;
	job_set_state(j, JOB_FETCHING);
	logf_debug(JOB_LF(j, .event = "fetch"), "fetching from Clever as %s",
	    j->token_owner);
	if (j->kind == JOB_DISTRICT)
		district_fetch(j);
	else
		sync_start(j);
}

static void
on_district_token(struct job *j, redisReply *r, const char *err)
{
	if (j->state != JOB_LOADING)
		return;		/* stopped meanwhile (lock lost) */
	if (err != NULL) {
		job_failed(j, FAIL_TRANSIENT, ERR_REDIS, err);
		return;
	}
	if (r->type != REDIS_REPLY_STRING) {
		job_failed(j, FAIL_PERMANENT, ERR_NO_TOKEN, j->kind ==
		    JOB_DISTRICT ? "no token stored for the district "
		    "(district_token:D)" : "no token stored for this teacher "
		    "nor for its district");
		return;
	}
	j->token = xstrdup(r->str);
	free(j->token_owner);
	xasprintf(&j->token_owner, "district:%s", j->district);
	job_fetch(j);
}

/*
 * The stored snapshot's roster, which load.lua left out (see there): the
 * snapshot exists (a hash that is not "", or none stored) and is not in
 * hand yet.
 */
static int
base_left_out(const struct job *j)
{
	return j->base_snapshot == NULL && !j->snapshot_fetched &&
	    (j->base_hash == NULL || *j->base_hash != '\0');
}

/*
 * The snapshot a diff starts from: its version, canonical roster and
 * content hash (NULL: stored before contract 2, without one).
 */
static void
job_set_base(struct job *j, const char *version, redisReply *roster,
    const char *hash)
{
	j->base_version = version ? strtoull(version, NULL, 10) : 0;
	free(j->base_hash);
	j->base_hash = hash ? xstrdup(hash) : NULL;
	free(j->base_snapshot);
	j->base_snapshot = NULL;
	j->base_snapshot_len = 0;
	if (roster->type == REDIS_REPLY_STRING) {
		j->base_snapshot = xmalloc(roster->len + 1);
		memcpy(j->base_snapshot, roster->str, roster->len);
		j->base_snapshot[roster->len] = '\0';
		j->base_snapshot_len = roster->len;
	}
}

static void
on_load(struct job *j, redisReply *r, const char *err)
{
	const char *token, *district, *sel;
	char msg[256], *key;

	if (j->state != JOB_LOADING && j->state != JOB_WRITING)
		return;		/* stopped meanwhile (lock lost) */
	if (err != NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 8) {
		job_failed(j, FAIL_TRANSIENT, ERR_REDIS,
		    err ? err : "unexpected reply to load");
		return;
	}
	token = elem_str(r, 0);
	district = elem_str(r, 1);
	sel = elem_str(r, 4);
	job_set_base(j, elem_str(r, 2), r->element[3], elem_str(r, 7));
	j->snapshot_fetched = 0;
	/*
	 * What the last full sync left: ETag record, unrecognised values.
	 * A snapshot without its hash is not taken as unchanged on the
	 * ETags' word: this sync diffs it, and rewrites it with its hash.
	 */
	free(j->etags);
	free(j->unrec);
	j->etags = elem_str(r, 5) && j->base_hash != NULL ?
	    xstrdup(elem_str(r, 5)) : NULL;
	j->unrec = elem_str(r, 6) ? xstrdup(elem_str(r, 6)) : NULL;
	if (j->kind == JOB_FORGET) {
		job_forget(j);	/* no token, no Clever: the final diff */
		return;
	}
	if (j->state == JOB_WRITING) {
		/* reloaded after a write conflict: recompute the diff */
		job_writeback(j);
		return;
	}
	selection_free(&j->sel);
	if (selection_parse(&j->sel, sel, msg, sizeof(msg)) == -1) {
		job_failed(j, FAIL_PERMANENT, ERR_BAD_JOB, msg);
		return;
	}
	if (job_of_district(j)) {
		/* no Clever request: the roster comes from the pull */
		district_teacher_roster(j);
		return;
	}
	if (token != NULL) {
		j->token = xstrdup(token);
		xasprintf(&j->token_owner, "teacher:%s", j->teacher);
		job_fetch(j);
		return;
	}
	if (j->district == NULL && district != NULL)
		j->district = xstrdup(district);
	if (j->district == NULL) {
		job_failed(j, FAIL_PERMANENT, ERR_NO_TOKEN, "no token stored "
		    "for this teacher (and no district known)");
		return;
	}
	key = key_district_token(j->district);
	job_get(j, key, on_district_token);
	free(key);
}

static void
job_load(struct job *j)
{
	struct script_call *sc = script_new(SCRIPT_LOAD);

	job_set_state(j, JOB_LOADING);
	script_key(sc, key_token(j->teacher));
	script_key(sc, key_state(j->teacher));
	script_key(sc, key_snapshot(j->teacher));
	script_key(sc, key_selection(j->teacher));
	script_arg(sc, kind_name(j));
	job_run(j, sc, on_load);
}

/* ---- outcomes ---- */

/* A job's log fields for a reply that may come after the job ended. */
struct state_ctx {
	char	job_id[JOB_ID_MAX + 1];
	char	teacher[TEACHER_ID_MAX + 1];
	char	trace_id[TRACE_ID_LEN + 1];
};

static void
on_state_set(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct state_ctx *e = arg;

	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		err = r->str;
	if (err != NULL)
		logf_warn(JOB_LF(e, .event = "state_not_stored"), "could not "
		    "update the teacher's state: %s", err);
	free(e);
}

/* Set (or, with value NULL, delete) a field of the teacher's state. */
static void
job_state_set(struct job *j, const char *field, const char *value)
{
	struct state_ctx *e = xmalloc(sizeof(*e));
	char *key = key_state(j->teacher);

	memcpy(e->job_id, j->job_id, sizeof(e->job_id));
	memcpy(e->teacher, j->teacher, sizeof(e->teacher));
	memcpy(e->trace_id, j->trace_id, sizeof(e->trace_id));
	if (value != NULL)
		rconn_command(rd->rc, 0, on_state_set, e, "HSET %s %s %s",
		    key, field, value);
	else
		rconn_command(rd->rc, 0, on_state_set, e, "HDEL %s %s", key,
		    field);
	free(key);
}

/*
 * After a full sync is written: remember its ETags for the next one (or
 * forget the last sync's when this one could not record them) and its
 * unrecognised values when they changed.  Not in the write-back script,
 * but safe outside it: the record names the snapshot version it vouches
 * for and is ignored at any other; the values only decide what is logged.
 */
static void
job_store_memo(struct job *j, uint64_t version)
{
	char *rec;

	rec = j->etag_entries != NULL ? sync_etag_record(j, version) : NULL;
	job_state_set(j, "etags", rec);
	free(rec);
	if (j->unrec_changed)
		job_state_set(j, "unrecognised", j->unrec);
}

/* What a write-back wrote, kept while WAIT waits for the replicas. */
struct written {
	char	*diff_id, *version, *account, *changed;
	int	 tries;		/* WAITs that saw too few replicas */
};

static void
written_free(struct written *w)
{
	if (w == NULL)
		return;
	free(w->diff_id);
	free(w->version);
	free(w->account);
	free(w->changed);
	free(w);
}

/* A sync ends: its one log line (the counts, the version, the match). */
static void
job_synced(struct job *j, const char *diff_id, const char *version,
    const char *account, const char *changed)
{
	xstrlcpy(j->diff_id, diff_id, sizeof(j->diff_id));
	job_outcome(j, j->job_id, j->teacher, *diff_id ? OUT_CHANGED :
	    OUT_UNCHANGED, NULL, "synced: %s (+%u ~%u -%u, version %s, %u "
	    "requests, attempt %d)%s%s%s%s", *diff_id ? "changes written" :
	    j->not_modified ? "no changes (not modified)" : "no changes",
	    j->counts.added, j->counts.updated, j->counts.removed, version,
	    j->requests, j->attempts, *account ? ", account match " : "",
	    account, *changed ? ", authorization changed " : "", changed);
}

static void
on_confirmed(struct job *j, redisReply *r, const char *err)
{
	struct written *w = j->written;
	const char *code = err == NULL ? elem_str(r, 0) : NULL;

	if (code != NULL && strcmp(code, "LOST") == 0) {
		job_lock_lost(j);
		return;
	}
	if (code == NULL || strcmp(code, "OK") != 0) {
		job_failed(j, FAIL_TRANSIENT, ERR_REDIS, err ? err :
		    "unexpected reply to confirm");
		return;
	}
	job_synced(j, w->diff_id, w->version, w->account, w->changed);
	job_free(j);
}

/* WAIT answered: enough replicas have the write-back, or it is retried. */
static void
on_replicated(struct job *j, redisReply *r, const char *err)
{
	struct script_call *sc;
	long long n;
	char msg[256];

	n = err == NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	if (err != NULL) {
		/*
		 * WAIT counts the writes of its own connection: on another
		 * one (to a new primary, maybe without our write) it would
		 * say nothing.  Run the job again: it finds its write, or
		 * writes it again where it was lost.
		 */
		job_failed(j, FAIL_TRANSIENT, ERR_REDIS, "the connection was "
		    "lost before the write-back was known replicated");
		return;
	}
	if (n < rd->conf.redis_wait_replicas) {
		snprintf(msg, sizeof(msg), "the write-back reached %lld of %d "
		    "replicas in %llu ms ([redis] wait_replicas)", n,
		    rd->conf.redis_wait_replicas,
		    (unsigned long long)rd->conf.redis_wait_timeout_ms);
		if (++j->written->tries >= rd->conf.sync_max_attempts) {
			job_failed(j, FAIL_PERMANENT, ERR_REDIS, msg);
			return;
		}
		logf_warn(JOB_LF(j, .event = "not_replicated"),
		    "%s: not done, waiting again", msg);
		job_later(j, JOB_WRITING, backoff_ms(j->written->tries,
		    WAIT_MIN_MS, WAIT_MAX_MS));
		return;
	}
	sc = script_new(SCRIPT_CONFIRM);
	script_key(sc, key_job(j->job_id));
	script_key(sc, key_jobs());
	script_key(sc, key_lock(j->teacher));
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, j->entry_id);
	script_arg_own(sc, job_lock_value(j));
	script_arg_own(sc, key_events());
	script_arg(sc, job_trigger_names[j->trigger]);
	script_arg(sc, job_of_district(j) ? "1" : "0");
	job_run(j, sc, on_confirmed);
}

/* Ask whether the replicas have the job's write-back (WAIT). */
static void
job_send_wait(struct job *j)
{
	rconn_command(rd->rc, rd->conf.redis_wait_timeout_ms +
	    rd->conf.redis_command_timeout_ms, on_job_reply,
	    job_cmd_new(j, on_replicated), "WAIT %d %llu",
	    rd->conf.redis_wait_replicas,
	    (unsigned long long)rd->conf.redis_wait_timeout_ms);
}

/*
 * [redis] wait_replicas: the write-back is done once that many replicas
 * have it.  WAIT goes on the connection that wrote (it waits for that
 * client's writes), so while replicas lag it holds the commands behind
 * it for up to wait_timeout_ms.  Too few: WAIT again after a delay (the
 * lock stays held and renewed), [sync] max_attempts times at most, then
 * the job fails: its write is in Redis, not known to be replicated.
 */
static void
job_wait_replicas(struct job *j, redisReply *r)
{
	struct written *w = xcalloc(1, sizeof(*w));

	w->diff_id = xstrdup(elem_str(r, 1) ? elem_str(r, 1) : "");
	w->version = xstrdup(elem_str(r, 2) ? elem_str(r, 2) : "");
	w->account = xstrdup(elem_str(r, 3) ? elem_str(r, 3) : "");
	w->changed = xstrdup(elem_str(r, 4) ? elem_str(r, 4) : "");
	written_free(j->written);
	j->written = w;
	job_send_wait(j);
}

static void
on_written(struct job *j, redisReply *r, const char *err)
{
	const char *code;

	if (err != NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
		job_failed(j, FAIL_TRANSIENT, ERR_REDIS,
		    err ? err : "unexpected reply to write-back");
		return;
	}
	code = elem_str(r, 0);
	if (code != NULL && strcmp(code, "CONFLICT") == 0 && j->not_modified) {
		/* the ETags vouched for the version that moved: sync again */
		job_failed(j, FAIL_TRANSIENT, ERR_REDIS, "the snapshot moved "
		    "during the sync");
		return;
	}
	if (code != NULL && strcmp(code, "CONFLICT") == 0 &&
	    j->conflicts++ < 5) {
		logf_info(JOB_LF(j, .event = "write_conflict"),
		    "snapshot moved to version %s; "
		    "diffing again from it", elem_str(r, 1));
		job_load(j);
		job_set_state(j, JOB_WRITING);
		return;
	}
	if (code != NULL && strcmp(code, "LOST") == 0) {
		job_lock_lost(j);
		return;
	}
	if (code == NULL || strcmp(code, "OK") != 0) {
		job_failed(j, FAIL_TRANSIENT, ERR_REDIS,
		    "write-back conflicts persist");
		return;
	}
	if (j->kind == JOB_SYNC && !j->not_modified)
		job_store_memo(j, strtoull(elem_str(r, 2), NULL, 10));
	if (j->kind == JOB_DISCOVER)
		job_outcome(j, j->job_id, j->teacher, OUT_DISCOVERED, NULL,
		    "sections discovered with %u requests", j->requests);
	else if (j->kind == JOB_FORGET) {
		xstrlcpy(j->diff_id, elem_str(r, 1), sizeof(j->diff_id));
		job_outcome(j, j->job_id, j->teacher, OUT_FORGOTTEN, NULL,
		    "forgotten: final diff %s removes %u records (version "
		    "%s); the teacher's keys are gone", *elem_str(r, 1) ?
		    elem_str(r, 1) : "(none: nothing was synced)",
		    j->counts.removed, elem_str(r, 2));
		forget_statuses(j->teacher, j->job_id);
	} else if (rd->conf.redis_wait_replicas > 0) {
		job_wait_replicas(j, r);
		return;
	} else
		job_synced(j, elem_str(r, 1), elem_str(r, 2), elem_str(r, 3),
		    elem_str(r, 4));
	job_free(j);
}

/*
 * Note this sync's unrecognised raw values; log them once, when they
 * differ from the last sync's (not on every resync that finds them).
 */
static void
job_note_unrecognised(struct job *j)
{
	char *cur;
	size_t n;

	cur = roster_unrecognised_json(j->roster, &n);
	j->unrec_changed = (cur == NULL) != (j->unrec == NULL) ||
	    (cur != NULL && strcmp(cur, j->unrec) != 0);
	if (j->unrec_changed && cur != NULL)
		logf_warn(JOB_LF(j, .event = "unrecognised"),
		    "%zu unrecognised subject or grade "
		    "value(s), normalized to \"other\"/\"Other\": %s", n, cur);
	free(j->unrec);
	j->unrec = cur;
}

/*
 * The picker's list as Clever sent it, every section before the selection
 * narrows the roster: a discovery writes it, and so does a full sync.
 */
void
job_sections_fetched(struct job *j, const struct roster *r)
{
	free(j->picker);
	j->picker = job_sections_json(r, &j->picker_len, &j->picker_n);
}

static void
job_discovered(struct job *j)
{
	struct script_call *sc = script_new(SCRIPT_DISCOVERED);

	script_key(sc, key_sections(j->teacher));
	script_key(sc, key_job(j->job_id));
	script_key(sc, key_jobs());
	script_key(sc, key_lock(j->teacher));
	script_key(sc, key_state(j->teacher));
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, j->entry_id);
	script_arg_own(sc, job_lock_value(j));
	script_bytes(sc, j->picker ? j->picker : "[]", j->picker ?
	    j->picker_len : 2);
	script_arg(sc, j->job_id);
	script_arg(sc, j->teacher);
	script_arg_own(sc, key_events());
	script_num(sc, job_status_ttl_s(j));
	script_num(sc, j->started_ms);
	script_num(sc, (long long)j->picker_n);
	script_num(sc, j->requests);
	script_arg(sc, j->roster->authorized_by);
	script_arg(sc, j->ref);
	job_set_state(j, JOB_WRITING);
	job_run(j, sc, on_written);
}

/* Record a shrink-guard hold: nothing is applied until a forced sync. */
static void
job_hold(struct job *j, const char *why, char *counts)
{
	free(j->hold_extra);
	j->hold_extra = counts;
	job_failed(j, FAIL_HOLD, ERR_SHRINK_GUARD, why);
}

/* What one write-back writes; "" and 0 lengths: no changes. */
struct writeback {
	const char	*snap;
	size_t		 snaplen;
	const char	*diff;
	size_t		 difflen;
	const char	*counts;	/* JSON object */
	uint64_t	 version;	/* the snapshot's, if it changes */
	const char	*email_lc, *authorized_by, *district;
	const char	*base_hash, *hash;	/* content hashes */
};

/*
 * The first six keys of the scripts that commit a new version of the
 * teacher's roster (writeback.lua, forget.lua), in their order.
 */
static void
commit_keys(struct script_call *sc, const struct job *j)
{
	script_key(sc, key_snapshot(j->teacher));
	script_key(sc, key_diffs(j->teacher));
	script_key(sc, key_job(j->job_id));
	script_key(sc, key_jobs());
	script_key(sc, key_lock(j->teacher));
	script_key(sc, key_state(j->teacher));
}

/* The compare-and-set write-back script: one atomic step. */
static void
writeback_send(struct job *j, const struct writeback *w)
{
	struct script_call *sc = script_new(SCRIPT_WRITEBACK);

	commit_keys(sc, j);
	script_key(sc, key_accounts());
	script_key_schedule_sets(sc);
	script_key(sc, key_sections(j->teacher));
	script_key(sc, key_dead());
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, j->entry_id);
	script_arg_own(sc, job_lock_value(j));
	script_num(sc, j->base_version);
	script_num(sc, w->version);
	script_bytes(sc, w->snap, w->snaplen);
	script_bytes(sc, w->diff, w->difflen);
	script_arg(sc, j->job_id);
	script_arg(sc, j->teacher);
	script_arg_own(sc, key_events());
	script_num(sc, job_status_ttl_s(j));
	script_num(sc, j->started_ms);
	script_arg(sc, w->email_lc);
	script_arg(sc, w->authorized_by);
	script_arg(sc, w->counts);
	script_num(sc, j->requests);
	script_arg(sc, w->district);
	script_arg(sc, j->ref);
	script_arg(sc, job_trigger_names[j->trigger]);
	script_plan(sc);
	script_arg(sc, rd->conf.redis_wait_replicas > 0 ? "1" : "0");
	/* the picker's list, refreshed by a sync that fetched it */
	script_bytes(sc, j->picker ? j->picker : "", j->picker ?
	    j->picker_len : 0);
	script_num(sc, (long long)j->picker_n);
	script_arg(sc, w->base_hash);
	script_arg(sc, w->hash);
	script_arg(sc, j->force ? "1" : "0");
	script_arg(sc, job_of_district(j) ? "1" : "0");
	job_set_state(j, JOB_WRITING);
	job_run(j, sc, on_written);
}

/*
 * The stored snapshot left out by load.lua, from HMGET version roster
 * hash: the base the write-back diffs from.  A sync that takes unchanged
 * parts from it asks for it early (sync.c); the write-back then does not.
 * -1: not such a reply.
 */
int
job_snapshot_in(struct job *j, redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		return -1;
	/* gone meanwhile (not ours any more): the write-back says CONFLICT */
	job_set_base(j, elem_str(r, 0), r->element[1],
	    elem_str(r, 0) ? elem_str(r, 2) : "");
	j->snapshot_fetched = 1;
	return 0;
}

static void
on_snapshot(struct job *j, redisReply *r, const char *err)
{
	if (err != NULL || job_snapshot_in(j, r) == -1) {
		job_failed(j, FAIL_TRANSIENT, ERR_REDIS,
		    err ? err : "unexpected reply to the snapshot");
		return;
	}
	if (j->kind == JOB_FORGET)
		job_forget(j);
	else
		job_writeback(j);
}

/*
 * Ask for the stored snapshot, which load.lua left out (see there), in
 * the fields job_snapshot_in() reads: for the write-back, or early for
 * a sync that takes unchanged parts from it (sync.c).
 */
void
job_snapshot_ask(const struct job *j, rconn_reply_cb cb, void *arg)
{
	char *key = key_snapshot(j->teacher);

	rconn_command(rd->rc, 0, cb, arg, "HMGET %s version roster hash", key);
	free(key);
}

static void
job_fetch_snapshot(struct job *j)
{
	job_snapshot_ask(j, on_job_reply, job_cmd_new(j, on_snapshot));
}

/*
 * The stored roster's content hash: the one stored with it, or, for a
 * snapshot stored without one (before contract 2), computed from it.
 */
static void
base_hash(const struct job *j, const struct roster *old,
    char out[ROSTER_HASH_LEN + 1])
{
	if (j->base_hash != NULL)
		xstrlcpy(out, j->base_hash, ROSTER_HASH_LEN + 1);
	else
		roster_hash(old, out);
}

/*
 * The new roster's snapshot text at the base version: the same content
 * as the stored one, to rewrite it in place (another format, no hash).
 */
static char *
snapshot_at_base(struct job *j, size_t *lenp)
{
	char *s;

	j->roster->version = j->base_version;
	s = roster_snapshot(j->roster, lenp);
	j->roster->version = j->base_version + 1;
	return s;
}

static void
job_writeback(struct job *j)
{
	struct roster *old = NULL;
	struct roster_diff_counts dc;
	struct writeback w;
	char err[256], why[512], *snap = NULL, *counts, *diff;
	char bh[ROSTER_HASH_LEN + 1], nh[ROSTER_HASH_LEN + 1];
	size_t snaplen = 0, difflen;
	struct roster_shrink_conf sc = {
		.enabled = rd->conf.sync_shrink_guard,
		.section_min_students = (unsigned)rd->conf.sync_shrink_min_students,
		.section_max_loss_pct = (unsigned)rd->conf.sync_shrink_max_loss_pct,
		/* "none" is the teacher's own choice, not Clever's loss */
		.teacher_all_sections = rd->conf.sync_shrink_all_sections &&
		    j->sel.mode != SEL_NONE,
	};

	job_set_state(j, JOB_WRITING);
	if (base_left_out(j)) {
		job_fetch_snapshot(j);
		return;
	}
	job_note_unrecognised(j);
	/*
	 * Most resyncs change nothing: when the new canonical snapshot is
	 * byte for byte the stored one, there is no diff to compute and the
	 * stored snapshot need not even be parsed.
	 */
	j->roster->version = j->base_version + 1;
	snap = roster_snapshot(j->roster, &snaplen);
	if (roster_snapshot_hash(snap, snaplen, nh) == -1)
		fatalx("job_writeback: a snapshot without a version");
	if (j->base_snapshot != NULL && roster_snapshot_same(snap, snaplen,
	    j->base_snapshot, j->base_snapshot_len)) {
		memset(&dc, 0, sizeof(dc));
		diff = xstrdup("");
		difflen = snaplen = 0;
		xstrlcpy(bh, nh, sizeof(bh));
		if (j->base_hash == NULL) {
			/* stored without its hash: rewritten with it */
			free(snap);
			snap = snapshot_at_base(j, &snaplen);
		}
		counts = job_counts_json(&dc, j->unrec);
		j->counts = dc;
		j->has_counts = 1;
		goto write;
	}
	if (j->base_snapshot != NULL && (old = roster_from_snapshot(
	    j->base_snapshot, j->base_snapshot_len, err, sizeof(err))) == NULL) {
		logf_err(JOB_LF(j, .event = "bad_snapshot"),
		    "stored snapshot: %s", err);
		free(snap);
		job_failed(j, FAIL_PERMANENT, ERR_BAD_RESPONSE, "the stored "
		    "snapshot cannot be read");
		return;
	}
	base_hash(j, old, bh);
	diff = roster_diff_text(old, j->roster, &difflen, &dc);
	counts = job_counts_json(&dc, j->unrec);
	j->counts = dc;
	j->has_counts = 1;
	if (!j->force && roster_shrink_check(old, j->roster, &sc, why,
	    sizeof(why))) {
		job_hold(j, why, counts);
		free(diff);
		free(snap);
		roster_free(old);
		return;
	}
	roster_free(old);
	if (dc.added + dc.updated + dc.removed == 0) {
		/* nothing changed: no diff, and the snapshot stays... */
		difflen = snaplen = 0;
		if (j->base_snapshot != NULL) {
			/* ...but in other bytes (an older format): rewrite it */
			free(snap);
			snap = snapshot_at_base(j, &snaplen);
		}
	}
write:
	w.snap = snap;
	w.snaplen = snaplen;
	w.diff = diff;
	w.difflen = difflen;
	w.counts = counts;
	w.version = j->roster->version;
	w.email_lc = j->roster->teacher.email_lc;
	w.authorized_by = j->roster->authorized_by;
	w.district = j->roster->district;
	w.base_hash = bh;
	w.hash = nh;
	writeback_send(j, &w);
	free(snap);
	free(counts);
	free(diff);
}

/*
 * Every Clever response was the one of the last sync (304, or its ETag):
 * "no changes" without parsing, diffing or building anything.
 */
void
job_not_modified(struct job *j, const char *authorized_by,
    const char *district, const char *email_lc)
{
	struct roster_diff_counts dc;
	struct writeback w;
	char *counts;

	memset(&dc, 0, sizeof(dc));
	/* the last sync's unrecognised values: the answers are the same */
	counts = job_counts_json(&dc, j->unrec);
	j->counts = dc;
	j->has_counts = 1;
	memset(&w, 0, sizeof(w));
	w.snap = w.diff = "";
	w.counts = counts;
	w.version = j->base_version;
	w.email_lc = email_lc;
	w.authorized_by = authorized_by;
	w.district = district;
	/* the ETags are not trusted for a snapshot without its hash (on_load) */
	w.base_hash = w.hash = j->base_hash;
	j->not_modified = 1;
	job_drop_token(j);
	writeback_send(j, &w);	/* copies every argument */
	free(counts);
	sync_free(j->sync);
	j->sync = NULL;
}

/*
 * FORGET: a final diff from the stored roster to nothing, so that an app
 * that applies the teacher's diffs ends with nothing; forget.lua writes
 * it and deletes the teacher's keys in one step.
 */
static void
job_forget(struct job *j)
{
	struct roster *old, *none;
	struct roster_diff_counts dc;
	struct script_call *sc;
	char *diff = NULL, *counts, *owner, *email = NULL, err[256];
	char bh[ROSTER_HASH_LEN + 1] = "";
	size_t difflen = 0;

	job_set_state(j, JOB_WRITING);
	if (base_left_out(j)) {
		job_fetch_snapshot(j);
		return;
	}
	memset(&dc, 0, sizeof(dc));
	if (j->base_snapshot != NULL) {
		if ((old = roster_from_snapshot(j->base_snapshot,
		    j->base_snapshot_len, err, sizeof(err))) == NULL) {
			job_failed(j, FAIL_PERMANENT, ERR_BAD_RESPONSE, "the "
			    "stored snapshot cannot be read");
			return;
		}
		none = roster_new(old->fields);
		diff = roster_diff_text(old, none, &difflen, &dc);
		base_hash(j, old, bh);
		if (old->teacher.email_lc != NULL)
			email = xstrdup(old->teacher.email_lc);
		roster_free(none);
		roster_free(old);
	}
	counts = job_counts_json(&dc, NULL);
	j->counts = dc;
	j->has_counts = 1;
	sc = script_new(SCRIPT_FORGET);
	commit_keys(sc, j);
	script_key(sc, key_sections(j->teacher));
	script_key(sc, key_selection(j->teacher));
	script_key(sc, key_token(j->teacher));
	xasprintf(&owner, "teacher:%s", j->teacher);
	script_key(sc, key_ratelimit(owner));
	free(owner);
	script_key_schedule_sets(sc);
	script_key(sc, key_accounts());
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, j->entry_id);
	script_arg_own(sc, job_lock_value(j));
	script_num(sc, j->base_version);
	script_bytes(sc, diff ? diff : "", difflen);
	script_arg(sc, j->job_id);
	script_arg(sc, j->teacher);
	script_arg_own(sc, key_events());
	script_num(sc, job_status_ttl_s(j));
	script_arg(sc, counts);
	script_arg(sc, rd->conf.sync_forget_deletes_token ? "1" : "0");
	script_arg(sc, j->ref);
	script_arg(sc, bh);
	script_arg(sc, email);
	job_run(j, sc, on_written);
	free(email);
	free(diff);
	free(counts);
}

void
job_fetched(struct job *j, struct roster *r)
{
	sync_free(j->sync);
	j->sync = NULL;
	roster_free(j->roster);
	j->roster = r;
	job_drop_token(j);	/* not needed any more */
	log_setcontext(j->job_id, j->teacher, j->trace_id);
	if (j->kind == JOB_DISCOVER)
		job_discovered(j);
	else
		job_writeback(j);
	log_setcontext(NULL, NULL, NULL);
}

/* A script's {'GONE'}: the job's entry is not ours any more. */
static int
reply_gone(redisReply *r)
{
	const char *code;

	return r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    (code = elem_str(r, 0)) != NULL && strcmp(code, "GONE") == 0;
}

/*
 * Another instance finished this job or took it over while this one
 * stalled: forget it, writing nothing (its status is the other's now).
 */
static void
job_taken_over(struct job *j)
{
	logf_info(JOB_LF(j, .event = "taken_over"),
	    "the job was finished or taken over by "
	    "another instance while this one stalled; leaving it to that one");
	job_free(j);
}

/*
 * touch.lua found the job's entry pending with another instance, or
 * finished.  A job that holds the lock stops its sync and lets the retry
 * script release the lock (it writes nothing else); one with a script in
 * flight lets that script find out.
 */
void
job_entry_lost(struct job *j)
{
	switch (j->state) {
	case JOB_WAITING:
	case JOB_BACKOFF:
		job_taken_over(j);
		break;
	case JOB_LOADING:
	case JOB_FETCHING:
		job_failed(j, FAIL_TRANSIENT, ERR_LOCK_LOST, "the job was "
		    "taken over by another instance");
		break;
	default:
		break;
	}
}

static void
on_failed_written(struct job *j, redisReply *r, const char *err)
{
	if (err != NULL)
		logf_err(JOB_LF(j, .event = "fail_write_failed"),
		    "could not record the failure: %s; "
		    "the job stays pending and will be taken over", err);
	if (reply_gone(r)) {
		job_taken_over(j);
		return;
	}
	job_free(j);
}

static void
on_retry_written(struct job *j, redisReply *r, const char *err)
{
	if (err != NULL)
		logf_warn(JOB_LF(j, .event = "retry_write_failed"),
		    "could not record the retry: %s",
		    err);
	else if (reply_gone(r))
		job_taken_over(j);
}

/* Whether the job's token is its district's (token_owner "district:ID"). */
int
job_district_token(const struct job *j)
{
	return j != NULL && j->token_owner != NULL &&
	    strncmp(j->token_owner, "district:", 9) == 0;
}

/* Whose token the job used: "teacher", "district", "" if none yet. */
static const char *
job_token_kind(const struct job *j)
{
	if (j == NULL || j->token_owner == NULL)
		return "";
	return job_district_token(j) ? "district" : "teacher";
}

/* The key of the token the job used, else of the teacher's own. */
static char *
job_token_key(const struct job *j, const char *teacher)
{
	return job_district_token(j) ? key_district_token(j->district) :
	    key_token(teacher);
}

/* Write a final failure (failed, dead or held) and a dead letter. */
static void
job_fail_write(const char *entry_id, const char *job_id, const char *teacher,
    struct job *j, const char *state, const char *code, const char *message)
{
	struct script_call *sc = script_new(SCRIPT_FAIL);

	script_key(sc, key_job(job_id));
	script_key(sc, key_jobs());
	script_key(sc, key_lock(teacher));
	script_key(sc, key_dead());
	script_key(sc, key_state(teacher));
	script_key_schedule_sets(sc);
	script_key(sc, job_token_key(j, teacher));
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, entry_id);
	if (j != NULL && j->attempts > 0)
		script_arg_own(sc, job_lock_value(j));
	else
		script_arg(sc, "");
	script_arg(sc, job_id);
	script_arg(sc, teacher);
	script_arg(sc, j ? kind_name(j) : "");
	script_arg(sc, j ? j->ref : NULL);
	script_arg(sc, state);
	script_arg(sc, code);
	script_arg(sc, message);
	script_arg_own(sc, key_events());
	script_num(sc, job_status_ttl_s(j));
	script_arg(sc, j && j->hold_extra ? j->hold_extra : "{}");
	script_arg(sc, j ? j->district : NULL);
	script_arg(sc, j && j->force ? "1" : "0");
	script_arg(sc, rd->consumer);
	/* a malformed entry may carry a secret (a token): it goes */
	script_arg(sc, j == NULL ? "1" : "0");
	script_arg(sc, job_trigger_names[j ? j->trigger : TRIGGER_APP]);
	script_arg(sc, job_token_kind(j));
	script_arg(sc, job_of_district(j) ? "1" : "0");
	if (j != NULL)
		job_run(j, sc, on_failed_written);
	else
		script_run(sc, NULL, NULL);
}

/* A job that could not even be parsed: failed at once, dead letter. */
void
job_fail_bad(const char *entry_id, const char *teacher, const char *message)
{
	job_outcome(NULL, entry_id, teacher, OUT_REJECTED, ERR_BAD_JOB,
	    "rejected job: %s", message);
	job_fail_write(entry_id, entry_id, teacher ? teacher : "", NULL,
	    "failed", ERR_BAD_JOB, message);
}

void
job_failed(struct job *j, enum fail_kind fk, const char *code,
    const char *message)
{
	struct script_call *sc;
	uint64_t ms;

	sync_free(j->sync);
	j->sync = NULL;
	district_stop(j);
	lock_renewal_stop(j);
	job_drop_token(j);
	/* a pull's teacher is not retried alone: its status says it failed,
	   the district job counts it, and the next pull writes it */
	if (job_of_district(j) && fk == FAIL_TRANSIENT)
		fk = FAIL_PERMANENT;

	if (fk == FAIL_HOLD) {
		job_outcome(j, j->job_id, j->teacher, OUT_HELD, code,
		    "roster change held by the shrink guard: %s", message);
		job_set_state(j, JOB_WRITING);
		job_fail_write(j->entry_id, j->job_id, j->teacher, j, "held",
		    code, message);
		return;
	}
	if (fk == FAIL_PERMANENT || j->attempts >= rd->conf.sync_max_attempts ||
	    rd->draining) {
		if (rd->draining && fk == FAIL_TRANSIENT &&
		    j->attempts < rd->conf.sync_max_attempts) {
			job_handback(j);
			return;
		}
		job_outcome(j, j->job_id, j->teacher, fk == FAIL_PERMANENT ?
		    OUT_FAILED : OUT_DEAD, code, "%s: %s (attempt %d)", code,
		    message, j->attempts);
		job_set_state(j, JOB_WRITING);
		job_fail_write(j->entry_id, j->job_id, j->teacher, j,
		    fk == FAIL_PERMANENT ? "failed" : "dead", code, message);
		return;
	}

	free(j->token_owner);	/* the next attempt loads it again */
	j->token_owner = NULL;
	metrics_job_retry();
	ms = backoff_ms(j->attempts, rd->conf.sync_retry_base_ms,
	    rd->conf.sync_retry_max_ms);
	logf_info(JOB_LF(j, .event = "retrying", .ref = j->ref, .error = code),
	    "attempt %d failed (%s: %s); next in %llu "
	    "ms", j->attempts, code, message, (unsigned long long)ms);
	sc = script_new(SCRIPT_RETRY);
	script_key(sc, key_job(j->job_id));
	script_key(sc, key_lock(j->teacher));
	script_key(sc, key_jobs());
	script_arg_own(sc, job_lock_value(j));
	script_arg(sc, j->job_id);
	script_arg(sc, j->teacher);
	script_arg(sc, code);
	script_arg(sc, message);
	script_num(sc, ms);
	script_arg_own(sc, key_events());
	script_num(sc, job_status_ttl_s(j));
	script_arg(sc, j->ref);
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, j->entry_id);
	script_arg(sc, rd->consumer);
	job_run(j, sc, on_retry_written);
	j->requests = 0;
	j->not_modified = 0;
	free(j->etag_entries);
	j->etag_entries = NULL;
	j->conflicts = 0;
	job_later(j, JOB_BACKOFF, ms);
}

static void
on_handed_back(struct job *j, redisReply *r, const char *err)
{
	if (err != NULL)
		logf_warn(JOB_LF(j, .event = "handback_failed"),
		    "could not hand the job back (%s); "
		    "it stays pending and will be taken over", err);
	else if (r->type == REDIS_REPLY_STRING && r->len == 0) {
		job_taken_over(j);
		return;
	} else if (job_of_district(j))
		logf_info(JOB_LF(j, .event = "handed_back"), "its district "
		    "job goes back to the queue whole; teacher lock released");
	else {
		metrics_handed_back();
		logf_info(JOB_LF(j, .event = "handed_back"),
		    "job handed back to the queue");
	}
	job_free(j);
}

/* Shutdown: give the job back to the stream for another instance. */
void
job_handback(struct job *j)
{
	struct script_call *sc;

	sc = script_new(SCRIPT_HANDBACK);
	sync_free(j->sync);
	j->sync = NULL;
	district_stop(j);
	lock_renewal_stop(j);
	if (j->timer != NULL)
		evtimer_del(j->timer);
	script_key(sc, key_jobs());
	script_key(sc, key_job(j->job_id));
	script_key(sc, key_lock(j->teacher));
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, j->entry_id);
	/* only running states hold the teacher lock */
	if (j->state == JOB_LOADING || j->state == JOB_FETCHING ||
	    j->state == JOB_WRITING)
		script_arg_own(sc, job_lock_value(j));
	else
		script_arg(sc, "");
	script_arg(sc, j->job_id);
	script_arg(sc, j->teacher);
	script_arg(sc, kind_name(j));
	script_arg(sc, j->ref);
	script_arg(sc, j->district);
	script_num(sc, j->req_ms);
	script_arg(sc, j->force ? "1" : "0");
	script_arg_own(sc, key_events());
	script_arg(sc, rd->consumer);
	script_arg(sc, job_trigger_names[j->trigger]);
	script_arg(sc, j->traceparent);
	/* a district job's teacher: the district job goes back whole */
	script_arg(sc, job_of_district(j) ? "1" : "0");
	job_set_state(j, JOB_HANDBACK);
	job_run(j, sc, on_handed_back);
}

/* Memory goes once no Redis command of the job is in flight. */
static void
job_release(struct job *j)
{
	if (j->pending_cmds > 0)
		return;
	selection_free(&j->sel);
	free(j->ref);
	free(j->district);
	free(j->token_owner);
	free(j->base_snapshot);
	free(j->base_hash);
	free(j->hold_extra);
	free(j->etags);
	free(j->etag_entries);
	free(j->unrec);
	free(j->picker);
	written_free(j->written);
	roster_free(j->roster);
	free(j);
}

/* The one place a job ends: off the list, timers gone, then released. */
void
job_free(struct job *j)
{
	if (j->state == JOB_FINISHED)
		return;
	job_set_state(j, JOB_FINISHED);
	jobs_remove(j);
	sync_free(j->sync);
	j->sync = NULL;
	district_stop(j);
	if (job_of_district(j))
		district_teacher_ended(j);	/* may end its district job */
	if (j->timer != NULL)
		event_free(j->timer);
	if (j->lock_timer != NULL)
		event_free(j->lock_timer);
	j->timer = j->lock_timer = NULL;
	job_drop_token(j);
	job_release(j);
}

/* A job that ends here without a script of job.c's (district.c). */
void
job_ended(struct job *j, enum job_outcome o, const char *message)
{
	job_outcome(j, j->job_id, j->teacher, o, NULL, "%s", message);
	job_free(j);
}

/* Whether the job is a teacher's write of a district pull (district.c). */
int
job_of_district(const struct job *j)
{
	return j != NULL && j->bulk != NULL && j->kind != JOB_DISTRICT;
}

/* ---- the operator's commands (control.c) ---- */

/*
 * `rosterctl retry-now`: a job waiting for its next attempt (or for its
 * teacher) is admitted at once instead of when its timer fires.  -1 if
 * the job waits for nothing that a timer ends.
 */
int
job_retry_now(struct job *j)
{
	if ((j->state != JOB_BACKOFF && j->state != JOB_WAITING) ||
	    j->timer == NULL)
		return -1;
	evtimer_del(j->timer);
	job_admit(j);
	return 0;
}

static void
on_cancelled(struct job *j, redisReply *r, const char *err)
{
	if (err != NULL)
		logf_warn(LF(.event = "cancel_failed", .job = j->job_id,
		    .teacher = j->teacher), "could not cancel the job (%s); "
		    "it stays pending and will be taken over", err);
	else if (reply_gone(r)) {
		job_taken_over(j);
		return;
	} else
		job_outcome(j, j->job_id, j->teacher, OUT_CANCELLED, NULL,
		    "job cancelled by an operator");
	job_free(j);
}

/*
 * `rosterctl cancel`: a job between attempts (retrying) or waiting for its
 * teacher ends for good, state 'cancelled' (cancel.lua).  -1 for a job
 * that is running (loading, fetching, writing) or already ending: its
 * sync may be writing, so it is left to end on its own.
 */
int
job_cancel(struct job *j, const char *message)
{
	struct script_call *sc;

	if (j->state != JOB_BACKOFF && j->state != JOB_WAITING)
		return -1;
	if (j->timer != NULL)
		evtimer_del(j->timer);
	logf_info(JOB_LF(j, .event = "cancel"), "cancelling the job: %s",
	    message);
	sc = script_new(SCRIPT_CANCEL);
	script_key(sc, key_jobs());
	script_key(sc, key_job(j->job_id));
	script_key(sc, key_lock(j->teacher));
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, j->entry_id);
	script_arg(sc, rd->consumer);
	script_arg(sc, "");	/* between attempts: no lock held */
	script_arg(sc, j->job_id);
	script_arg(sc, j->teacher);
	script_arg(sc, kind_name(j));
	script_arg(sc, j->ref);
	script_arg(sc, job_trigger_names[j->trigger]);
	script_arg(sc, message);
	script_arg_own(sc, key_events());
	script_num(sc, job_status_ttl_s(j));
	job_set_state(j, JOB_WRITING);
	job_run(j, sc, on_cancelled);
	return 0;
}
