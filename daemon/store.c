/*
 * The Redis contract (doc/contract.md; its version: contract.h): key names
 * under the configured prefix, the table of the Lua scripts (daemon/lua/)
 * that change them, and the one way to call a script.  Every write of a
 * job's outcome is one script, so it is atomic; all keys a script touches
 * are passed in KEYS (none is built inside Lua).  The keys rosterd keeps
 * per teacher carry the hash tag {teacher-id}; the app's token key does
 * not.
 */
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "partition.h"
#include "rosterd.h"
#include "xmalloc.h"

/* The key names, spelled in common/keys.c, under [redis] prefix. */
#define P	(rd->conf.redis_prefix)

char *key_jobs(void) { return keys_name(P, KEY_JOBS, NULL); }
/* The diff stream of partition p ([diffs] partitions), and a teacher's. */
char *key_diffs_part(unsigned p)
    { return keys_diffs(P, (unsigned)rd->conf.diffs_partitions, p); }
char *key_diffs(const char *t)
    { return key_diffs_part(partition_of(t,
    (unsigned)rd->conf.diffs_partitions)); }
char *key_diffs_partitions(void)
    { return keys_name(P, KEY_DIFFS_PARTITIONS, NULL); }
char *key_dead(void) { return keys_name(P, KEY_DEAD, NULL); }
char *key_events(void) { return keys_name(P, KEY_EVENTS, NULL); }
char *key_accounts(void) { return keys_name(P, KEY_ACCOUNTS, NULL); }
char *key_diffs_lost(void) { return keys_name(P, KEY_DIFFS_LOST, NULL); }
char *key_trim_lock(void) { return keys_name(P, KEY_TRIM_LOCK, NULL); }
char *key_paused(void) { return keys_name(P, KEY_PAUSED, NULL); }
char *key_contract(void) { return keys_name(P, KEY_CONTRACT, NULL); }
char *key_schedule(void) { return keys_name(P, KEY_SCHEDULE, NULL); }
char *key_schedule_left(void)
    { return keys_name(P, KEY_SCHEDULE_LEFT, NULL); }
char *key_reauthorize(void) { return keys_name(P, KEY_REAUTHORIZE, NULL); }
char *key_schedule_enrolled(void)
    { return keys_name(P, KEY_SCHEDULE_ENROLLED, NULL); }

char *key_job(const char *id) { return keys_name(P, KEY_JOB, id); }
char *key_token(const char *t) { return keys_name(P, KEY_TOKEN, t); }
char *key_district_token(const char *d)
    { return keys_name(P, KEY_DISTRICT_TOKEN, d); }
char *key_instance(const char *c) { return keys_name(P, KEY_INSTANCE, c); }
char *key_quiet(const char *c) { return keys_name(P, KEY_QUIET, c); }
char *key_control(const char *c) { return keys_name(P, KEY_CONTROL, c); }
char *key_ratelimit(const char *o) { return keys_name(P, KEY_RATELIMIT, o); }
char *key_me(const char *o) { return keys_name(P, KEY_ME, o); }

char *key_snapshot(const char *t) { return keys_name(P, KEY_SNAPSHOT, t); }
char *key_lock(const char *t) { return keys_name(P, KEY_LOCK, t); }
char *key_state(const char *t) { return keys_name(P, KEY_STATE, t); }
char *key_selection(const char *t) { return keys_name(P, KEY_SELECTION, t); }
char *key_sections(const char *t) { return keys_name(P, KEY_SECTIONS, t); }

char *key_districts(void) { return keys_name(P, KEY_DISTRICTS, NULL); }
char *key_district(const char *d) { return keys_name(P, KEY_DISTRICT, d); }
char *key_district_teachers(const char *d)
    { return keys_name(P, KEY_DISTRICT_TEACHERS, d); }
char *key_event_cursor(const char *d)
    { return keys_name(P, KEY_EVENT_CURSOR, d); }
char *key_event_lock(const char *d)
    { return keys_name(P, KEY_EVENT_LOCK, d); }

/*
 * The scripts: one file each in daemon/lua/, whose header names every KEY
 * and ARGV, the reply, and why the script must be atomic.  Embedded at
 * build time as lua_NAME (daemon/lua/embed.py).
 */
#include "store_lua.h"

static const char *const scripts[SCRIPT_COUNT] = {
	[SCRIPT_ADMIT] = lua_admit,
	[SCRIPT_LOAD] = lua_load,
	[SCRIPT_WRITEBACK] = lua_writeback,
	[SCRIPT_DISCOVERED] = lua_discovered,
	[SCRIPT_FAIL] = lua_fail,
	[SCRIPT_RETRY] = lua_retry,
	[SCRIPT_HANDBACK] = lua_handback,
	[SCRIPT_RENEW] = lua_renew,
	[SCRIPT_PERMIT] = lua_permit,
	[SCRIPT_OBSERVE] = lua_observe,
	[SCRIPT_PROBE] = lua_probe,
	[SCRIPT_BEAT] = lua_beat,
	[SCRIPT_REAP] = lua_reap,
	[SCRIPT_TRIM] = lua_trim,
	[SCRIPT_FORGET] = lua_forget,
	[SCRIPT_FORGET_STATUSES] = lua_forget_statuses,
	[SCRIPT_TOUCH] = lua_touch,
	[SCRIPT_DUE] = lua_due,
	[SCRIPT_CLAIM] = lua_claim,
	[SCRIPT_UNRENEWED] = lua_unrenewed,
	[SCRIPT_ENROLL] = lua_enroll,
	[SCRIPT_SCHEDULE_STATS] = lua_schedule_stats,
	[SCRIPT_CONFIRM] = lua_confirm,
	[SCRIPT_CONTROL] = lua_control,
	[SCRIPT_CANCEL] = lua_cancel,
	[SCRIPT_QUEUE_STATS] = lua_queue_stats,
	[SCRIPT_UPGRADE] = lua_upgrade,
	[SCRIPT_EVENT_LOCK] = lua_event_lock,
	[SCRIPT_EVENT_COMMIT] = lua_event_commit,
	[SCRIPT_DISTRICT_DONE] = lua_district_done,
};

static const char *const script_names[SCRIPT_COUNT] = {
	[SCRIPT_ADMIT] = "admit",
	[SCRIPT_LOAD] = "load",
	[SCRIPT_WRITEBACK] = "writeback",
	[SCRIPT_DISCOVERED] = "discovered",
	[SCRIPT_FAIL] = "fail",
	[SCRIPT_RETRY] = "retry",
	[SCRIPT_HANDBACK] = "handback",
	[SCRIPT_RENEW] = "renew",
	[SCRIPT_PERMIT] = "permit",
	[SCRIPT_OBSERVE] = "observe",
	[SCRIPT_PROBE] = "probe",
	[SCRIPT_BEAT] = "beat",
	[SCRIPT_REAP] = "reap",
	[SCRIPT_TRIM] = "trim",
	[SCRIPT_FORGET] = "forget",
	[SCRIPT_FORGET_STATUSES] = "forget_statuses",
	[SCRIPT_TOUCH] = "touch",
	[SCRIPT_DUE] = "due",
	[SCRIPT_CLAIM] = "claim",
	[SCRIPT_UNRENEWED] = "unrenewed",
	[SCRIPT_ENROLL] = "enroll",
	[SCRIPT_SCHEDULE_STATS] = "schedule_stats",
	[SCRIPT_CONFIRM] = "confirm",
	[SCRIPT_CONTROL] = "control",
	[SCRIPT_CANCEL] = "cancel",
	[SCRIPT_QUEUE_STATS] = "queue_stats",
	[SCRIPT_UPGRADE] = "upgrade",
	[SCRIPT_EVENT_LOCK] = "event_lock",
	[SCRIPT_EVENT_COMMIT] = "event_commit",
	[SCRIPT_DISTRICT_DONE] = "district_done",
};

/*
 * The scripts whose every success shows that Redis takes writes: each run
 * that succeeds called a command that Redis refuses while it takes none
 * (one that may use more memory: HSET, XADD, SET, ZADD).  Most scripts
 * write only on some paths (a lost lock, a busy teacher, nothing due), and
 * beat.lua may write at maxmemory (allow-oom): their success ends no
 * refusal of writes (health.c).
 */
static const unsigned char script_writes[SCRIPT_COUNT] = {
	[SCRIPT_OBSERVE] = 1,	/* its last HSET, always */
};

/* SHA1 of each script once Redis has it (SCRIPT LOAD), else NULL. */
static char *script_sha[SCRIPT_COUNT];

struct eval_ctx {
	enum store_script	 script;
	rconn_reply_cb		 cb;
	void			*arg;
};

/*
 * Scripts are loaded whenever the connection becomes ready, before any
 * other command on it, so EVALSHA finds them; only a SCRIPT FLUSH by hand
 * can make Redis forget one.  Then this one command fails (its job retries)
 * and the scripts are loaded again.  Arguments are not kept for a resend:
 * a write-back carries a whole roster.
 */
static void
on_eval(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct eval_ctx *e = arg;

	if (r == NULL)
		health_redis_failed(script_names[e->script], err, 0);
	else if (r->type == REDIS_REPLY_ERROR) {
		health_redis_failed(script_names[e->script], r->str, 1);
		if (strncmp(r->str, "NOSCRIPT", 8) == 0) {
			free(script_sha[e->script]);
			script_sha[e->script] = NULL;
			store_init();
		}
	} else
		health_redis_ok(script_writes[e->script]);
	if (e->cb != NULL)
		e->cb(c, r, err, e->arg);
	free(e);
}

/*
 * A script call being built: its keys, then its arguments, each added in
 * the order of the script's header.  argv[0..2] are left for EVAL(SHA),
 * the script and the key count, filled by script_run.
 */
#define SCRIPT_HEAD	3
/* Room in the call itself: most calls allocate nothing more. */
#define SCRIPT_INLINE	32
#define SCRIPT_NUMS	16

struct script_call {
	enum store_script	 script;
	const char		**argv;
	size_t			*lens;
	size_t			 n, cap;
	size_t			 nkeys;
	char			**owned;	/* freed by script_run */
	size_t			 nowned, owncap;
	size_t			 nnums;
	const char		*argv_in[SCRIPT_INLINE];
	size_t			 lens_in[SCRIPT_INLINE];
	char			*owned_in[SCRIPT_INLINE];
	char			 nums[SCRIPT_NUMS][24];
};

struct script_call *
script_new(enum store_script s)
{
	struct script_call *sc = xmalloc(sizeof(*sc));

	sc->script = s;
	sc->argv = sc->argv_in;
	sc->lens = sc->lens_in;
	sc->cap = SCRIPT_INLINE;
	sc->n = SCRIPT_HEAD;
	sc->nkeys = 0;
	sc->owned = sc->owned_in;
	sc->owncap = SCRIPT_INLINE;
	sc->nowned = sc->nnums = 0;
	return sc;
}

/* An array twice as long, on the heap from the inline one. */
static void *
grow(void *a, const void *in, size_t n, size_t size)
{
	void *b;

	if (a != in)
		return xreallocarray(a, n * 2, size);
	b = xreallocarray(NULL, n * 2, size);
	memcpy(b, a, n * size);
	return b;
}

static void
script_add(struct script_call *sc, const char *p, size_t len)
{
	if (sc->n == sc->cap) {
		sc->argv = grow(sc->argv, sc->argv_in, sc->cap,
		    sizeof(*sc->argv));
		sc->lens = grow(sc->lens, sc->lens_in, sc->cap,
		    sizeof(*sc->lens));
		sc->cap *= 2;
	}
	sc->argv[sc->n] = p;
	sc->lens[sc->n++] = len;
}

static const char *
script_own(struct script_call *sc, char *p)
{
	if (sc->nowned == sc->owncap) {
		sc->owned = grow(sc->owned, sc->owned_in, sc->owncap,
		    sizeof(*sc->owned));
		sc->owncap *= 2;
	}
	sc->owned[sc->nowned++] = p;
	return p;
}

/* A key (malloc'ed, as the key_*() functions give it; freed at the run).
   Keys come first: one after an argument is a bug. */
void
script_key(struct script_call *sc, char *key)
{
	if (sc->n != SCRIPT_HEAD + sc->nkeys)
		fatalx("%s: a key after the arguments",
		    script_names[sc->script]);
	script_add(sc, script_own(sc, key), strlen(key));
	sc->nkeys++;
}

/* The freshness schedule's three sets, in the order every script takes
   them. */
void
script_key_schedule_sets(struct script_call *sc)
{
	script_key(sc, key_schedule());
	script_key(sc, key_schedule_left());
	script_key(sc, key_reauthorize());
}

/* A string argument, NULL for "", used where it is until the run. */
void
script_arg(struct script_call *sc, const char *v)
{
	v = v != NULL ? v : "";
	script_add(sc, v, strlen(v));
}

/* A string argument that is the call's (malloc'ed; freed at the run). */
void
script_arg_own(struct script_call *sc, char *v)
{
	script_add(sc, script_own(sc, v), strlen(v));
}

/* Bytes (a snapshot, a diff), used where they are until the run. */
void
script_bytes(struct script_call *sc, const char *p, size_t len)
{
	script_add(sc, p, len);
}

void
script_num(struct script_call *sc, long long v)
{
	char *s;
	int len;

	if (sc->nnums == SCRIPT_NUMS) {
		xasprintf(&s, "%lld", v);
		script_arg_own(sc, s);
		return;
	}
	s = sc->nums[sc->nnums++];
	len = snprintf(s, sizeof(sc->nums[0]), "%lld", v);
	script_add(sc, s, (size_t)len);
}

/*
 * The plan's interval and jitter, ms, as the scripts that plan take them
 * (include/schedule.lua): the plan's, which is the schedule's own while
 * it is on.
 */
void
script_plan(struct script_call *sc)
{
	script_num(sc, conf_schedule_plan_ms(&rd->conf));
	script_num(sc, conf_schedule_jitter_ms(&rd->conf));
}

/*
 * Send the call with EVALSHA (EVAL until Redis has the script) and free
 * it; cb, if any, gets the reply.  hiredis formats the command at once:
 * nothing of the call is kept.
 */
void
script_run(struct script_call *sc, rconn_reply_cb cb, void *arg)
{
	struct eval_ctx *e = xmalloc(sizeof(*e));
	enum store_script s = sc->script;
	char nk[24];
	size_t i;

	e->script = s;
	e->cb = cb;
	e->arg = arg;
	snprintf(nk, sizeof(nk), "%zu", sc->nkeys);
	sc->argv[0] = script_sha[s] ? "EVALSHA" : "EVAL";
	sc->argv[1] = script_sha[s] ? script_sha[s] : scripts[s];
	sc->argv[2] = nk;
	for (i = 0; i < SCRIPT_HEAD; i++)
		sc->lens[i] = strlen(sc->argv[i]);
	rconn_commandargv(rd->rc, 0, on_eval, e, (int)sc->n, sc->argv,
	    sc->lens);
	script_free(sc);
}

/* A call not run after all. */
void
script_free(struct script_call *sc)
{
	size_t i;

	for (i = 0; i < sc->nowned; i++)
		free(sc->owned[i]);
	if (sc->owned != sc->owned_in)
		free(sc->owned);
	if (sc->argv != sc->argv_in)
		free(sc->argv);
	if (sc->lens != sc->lens_in)
		free(sc->lens);
	free(sc);
}

static void
on_script_load(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	enum store_script s = (enum store_script)(intptr_t)arg;

	if (r == NULL || r->type != REDIS_REPLY_STRING) {
		log_warnx("SCRIPT LOAD failed: %s", err ? err :
		    (r && r->type == REDIS_REPLY_ERROR ? r->str : "?"));
		return;
	}
	free(script_sha[s]);
	script_sha[s] = xstrdup(r->str);
}

/* Load every script; called whenever the command connection is ready. */
void
store_init(void)
{
	int s;

	for (s = 0; s < SCRIPT_COUNT; s++)
		rconn_command(rd->rc, 0, on_script_load, (void *)(intptr_t)s,
		    "SCRIPT LOAD %s", scripts[s]);
}

/*
 * A new connection may be to a Redis that restarted and knows no script:
 * until store_init has loaded them again, scripts go as EVAL with their
 * text (the permission check runs first, before anything is loaded).
 */
void
store_forget(void)
{
	int s;

	for (s = 0; s < SCRIPT_COUNT; s++) {
		free(script_sha[s]);
		script_sha[s] = NULL;
	}
}

void
store_free(void)
{
	store_forget();
}
