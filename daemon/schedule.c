/*
 * The freshness schedule ([schedule]): rosterd keeps every teacher it has
 * synced for the app synced no longer ago than interval_s, on its own.
 *
 * The plan lives in Redis, for the whole deployment: a sorted set of
 * teachers scored by the time each is due (include/schedule.lua spreads
 * them over the interval).  Every instance ticks; a tick asks due.lua for
 * the teachers due, which names none while the app's requests wait in the
 * stream, and claim.lua turns those still due into sync jobs on the job
 * stream, moving each to its next slot in the same step.  From there a
 * scheduled sync is a job like any other: coalesced with the app's,
 * retried, taken over if this instance dies.  It takes at most
 * [schedule] concurrency of this instance's slots, and rate_share_pct of
 * each rate-limit window (ratelimit.c), so that the app's requests never
 * wait behind it.
 *
 * Also here, on the same timer: teachers whose token was refused and not
 * renewed within [sync] forget_unrenewed_s are forgotten (unrenewed.lua).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define SCHEDULE_BATCH_MAX	100	/* teachers claimed per tick */
#define UNRENEWED_BATCH_MAX	100	/* teachers looked at per run */
/* The unrenewed sweep: every tenth of forget_unrenewed_s, 1 s to 1 min. */
#define UNRENEWED_SWEEP_MIN_MS	1000
#define UNRENEWED_SWEEP_MAX_MS	60000

static struct event	*ev_schedule;	/* the tick */
static int		 scheduling;	/* due/claim in flight */
static uint64_t		 last_sweep_ms;	/* unrenewed (monotonic) */

static void	schedule_unrenewed(void);

static uint64_t
schedule_interval_ms(void)
{
	return rd->conf.schedule_interval_s * 1000;
}

/* Ticks often enough that the jitter, not the tick, spreads syncs. */
static uint64_t
schedule_tick_ms(void)
{
	uint64_t ms = schedule_interval_ms() / 20;

	return ms < 100 ? 100 : ms > 1000 ? 1000 : ms;
}

/* Scheduled syncs this instance may start now: its share, if free. */
static unsigned
schedule_room(void)
{
	unsigned share = rd->conf.schedule_concurrency > 0 ?
	    (unsigned)rd->conf.schedule_concurrency :
	    (unsigned)rd->conf.sync_concurrency / 2;
	unsigned n, free_slots = jobs_free_slots(), now = jobs_scheduled();

	if (share == 0)
		share = 1;
	if (now >= share)
		return 0;
	n = share - now;
	if (n > free_slots)
		n = free_slots;
	return n > SCHEDULE_BATCH_MAX ? SCHEDULE_BATCH_MAX : n;
}

static long long
int_elem(redisReply *r, size_t i)
{
	return i < r->elements && r->element[i]->type == REDIS_REPLY_INTEGER ?
	    r->element[i]->integer : 0;
}

static void
on_claimed(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	scheduling = 0;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;		/* failures: health.c; the next tick tries */
	if (int_elem(r, 0) + int_elem(r, 1) > 0)
		logf_debug(LF(.event = "scheduled"), "scheduled %lld syncs; "
		    "%lld teachers fresh already", int_elem(r, 0),
		    int_elem(r, 1));
	metrics_scheduled((unsigned)int_elem(r, 0));
}

/*
 * A script that works on a batch of teachers, elements from.. of the
 * reply r: KEYS the set, the job stream, then each teacher's state hash
 * and one more key of it (teacher_key).  The caller adds its fixed
 * arguments, then teachers_run() the number of teachers and the teachers.
 */
static struct script_call *
teachers_call(enum store_script s, char *set,
    char *(*teacher_key)(const char *), redisReply *r, size_t from)
{
	struct script_call *sc = script_new(s);
	size_t i;

	script_key(sc, set);
	script_key(sc, key_jobs());
	for (i = from; i < r->elements; i++) {
		script_key(sc, key_state(r->element[i]->str));
		script_key(sc, teacher_key(r->element[i]->str));
	}
	return sc;
}

static void
teachers_run(struct script_call *sc, redisReply *r, size_t from,
    rconn_reply_cb cb)
{
	size_t i;

	script_num(sc, (long long)(r->elements - from));
	for (i = from; i < r->elements; i++)
		script_arg(sc, r->element[i]->str);
	script_run(sc, cb, NULL);
}

/* Claim the teachers due.lua named. */
static void
schedule_claim(redisReply *r)
{
	struct script_call *sc;

	sc = teachers_call(SCRIPT_CLAIM, key_schedule(), key_lock, r, 2);
	script_key(sc, key_districts());
	script_plan(sc);
	teachers_run(sc, r, 2, on_claimed);
}

/*
 * A member of the schedule: a teacher id, or "district:D" for a district
 * planned as a unit (district.c: one district job instead of its
 * teachers' syncs), whose lock and state have that name too.
 */
static int
schedule_member_ok(const char *m)
{
	if (strncmp(m, "district:", 9) == 0)
		m += 9;
	return contract_id_valid(m, TEACHER_ID_MAX);
}

/* Elements from..end of a reply are teacher ids (the sets are ours, but
   Redis is shared: never build a key from something unchecked). */
static int
teacher_ids_ok(redisReply *r, size_t from)
{
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < from)
		return 0;
	for (i = from; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    !schedule_member_ok(r->element[i]->str))
			return 0;
	return 1;
}

static void
on_due(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		scheduling = 0;
		return;		/* health.c counts it; the next tick tries */
	}
	if (!teacher_ids_ok(r, 2)) {
		scheduling = 0;
		log_warnx("the schedule names something that is not a "
		    "teacher id: skipped this tick");
		return;
	}
	if (int_elem(r, 1) > 0)
		logf_info(LF(.event = "schedule_replanned"), "%lld teachers "
		    "planned again for the current interval", int_elem(r, 1));
	if (r->elements == 2) {
		scheduling = 0;
		return;
	}
	schedule_claim(r);
}

static void
schedule_tick(void)
{
	struct script_call *sc;
	unsigned n;

	if (schedule_interval_ms() == 0 || scheduling || rd->draining ||
	    reader_paused() != NULL || !reader_group_ready() ||
	    rconn_state(rd->rc) != RCONN_READY || health_redis() != RH_OK)
		return;
	if ((n = schedule_room()) == 0)
		return;
	sc = script_new(SCRIPT_DUE);
	script_key(sc, key_schedule());
	script_key(sc, key_jobs());
	script_key(sc, key_districts());
	script_key(sc, key_schedule_left());
	script_arg(sc, CONSUMER_GROUP);
	script_num(sc, n);
	script_plan(sc);
	scheduling = 1;
	script_run(sc, on_due, NULL);
}

static void
on_schedule_timer(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = ms_to_tv(schedule_tick_ms());

	schedule_tick();
	schedule_unrenewed();
	evtimer_add(ev_schedule, &tv);
}

/* Ready for work (or reloaded): tick from now on. */
void
schedule_start(void)
{
	struct timeval tv = ms_to_tv(schedule_tick_ms());

	if (ev_schedule == NULL)
		ev_schedule = evtimer_new(rd->base, on_schedule_timer,
		    NULL);
	evtimer_add(ev_schedule, &tv);
}

static void
on_unrenewed(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	if (int_elem(r, 0) > 0)
		logf_warn(LF(.event = "unrenewed"), "%lld teachers whose "
		    "token was refused and not renewed for %llu s are being "
		    "forgotten", int_elem(r, 0),
		    (unsigned long long)rd->conf.sync_forget_unrenewed_s);
	if (int_elem(r, 1) > 0)
		logf_info(LF(.event = "renewed"), "%lld teachers have a new "
		    "token: not forgotten", int_elem(r, 1));
}

/* The oldest teachers awaiting a token: forget those past the limit. */
static void
on_awaiting(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct script_call *sc;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
	    !teacher_ids_ok(r, 0))
		return;
	sc = teachers_call(SCRIPT_UNRENEWED, key_reauthorize(), key_token, r,
	    0);
	script_num(sc, (long long)rd->conf.sync_forget_unrenewed_s * 1000);
	teachers_run(sc, r, 0, on_unrenewed);
}

/* How often the unrenewed sweep runs. */
static uint64_t
unrenewed_sweep_ms(void)
{
	uint64_t ms = rd->conf.sync_forget_unrenewed_s * 100;

	return ms < UNRENEWED_SWEEP_MIN_MS ? UNRENEWED_SWEEP_MIN_MS :
	    ms > UNRENEWED_SWEEP_MAX_MS ? UNRENEWED_SWEEP_MAX_MS : ms;
}

/* Forget the teachers whose refused token was not renewed in time. */
static void
schedule_unrenewed(void)
{
	uint64_t now = mono_ms();
	char *key;

	if (rd->conf.sync_forget_unrenewed_s == 0 || rd->draining ||
	    rconn_state(rd->rc) != RCONN_READY ||
	    now - last_sweep_ms < unrenewed_sweep_ms())
		return;
	last_sweep_ms = now;
	key = key_reauthorize();
	rconn_command(rd->rc, 0, on_awaiting, NULL, "ZRANGE %s 0 %d", key,
	    UNRENEWED_BATCH_MAX - 1);
	free(key);
}

/*
 * Enrolment: the teachers synced before the schedule existed (a
 * deployment upgraded to it) join it.  Each instance walks the snapshot
 * keys with SCAN from where the deployment got to; enroll.lua adds each
 * batch and moves the deployment's cursor, once.
 */
static void	enroll_scan(const char *cursor);

static void
on_enrolled(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[1]->type != REDIS_REPLY_STRING)
		return;		/* the next start goes on from the cursor */
	if (int_elem(r, 0) > 0)
		logf_info(LF(.event = "schedule_enrolled"), "%lld teachers "
		    "synced before the schedule existed joined it",
		    int_elem(r, 0));
	if (strcmp(r->element[1]->str, "done") != 0)
		enroll_scan(r->element[1]->str);
}

/* A SCAN batch of snapshot keys: its teachers go to enroll.lua. */
static void
on_enroll_batch(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	char *from = arg, *snap = key_snapshot(""), *id;
	struct script_call *sc;
	size_t plen = strlen(snap) - 1, i, len;	/* "...snapshot:{" */
	redisReply *ks;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY || rd->draining)
		goto out;
	ks = r->element[1];
	sc = script_new(SCRIPT_ENROLL);
	script_key(sc, key_schedule());
	script_key(sc, key_schedule_left());
	script_key(sc, key_schedule_enrolled());
	script_arg(sc, from);
	script_arg(sc, r->element[0]->str);
	script_plan(sc);
	for (i = 0; i < ks->elements; i++) {
		if (ks->element[i]->type != REDIS_REPLY_STRING ||
		    (len = ks->element[i]->len) <= plen + 1 ||
		    strncmp(ks->element[i]->str, snap, plen) != 0 ||
		    ks->element[i]->str[len - 1] != '}')
			continue;
		id = ks->element[i]->str + plen;
		id[len - plen - 1] = '\0';	/* the reply is ours */
		if (contract_id_valid(id, TEACHER_ID_MAX))
			script_arg(sc, id);
	}
	script_run(sc, on_enrolled, NULL);
out:
	free(snap);
	free(from);
}

static void
enroll_scan(const char *cursor)
{
	char *snap = key_snapshot("*");

	if (rd->draining || rconn_state(rd->rc) != RCONN_READY) {
		free(snap);
		return;
	}
	rconn_command(rd->rc, 0, on_enroll_batch, xstrdup(cursor),
	    "SCAN %s MATCH %s COUNT 1000", cursor, snap);
	free(snap);
}

static void
on_enroll_cursor(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		return;
	if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "done") == 0)
		return;
	enroll_scan(r->type == REDIS_REPLY_STRING ? r->str : "0");
}

/* At start-up: go on with the deployment's walk, if not done. */
void
schedule_enroll(void)
{
	char *key = key_schedule_enrolled();

	rconn_command(rd->rc, 0, on_enroll_cursor, NULL, "GET %s", key);
	free(key);
}

void
schedule_free(void)
{
	if (ev_schedule != NULL)
		event_free(ev_schedule);
	ev_schedule = NULL;
}
