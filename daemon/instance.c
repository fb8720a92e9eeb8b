/*
 * This instance among the others.
 *
 * A one-second tick measures the event loop's lag.
 *
 * Every [daemon] heartbeat_ms the instance writes its heartbeat in
 * <prefix>instance:CONSUMER (beat.lua): who it is, what it holds and has
 * done, the state of Redis and the server it is on, for `rosterctl stats`
 * and for the others, with the jobs it holds (jobs_json, for `rosterctl
 * running`).  It
 * expires after BEAT_LIVES missed beats and is deleted at a clean stop.
 * When a job starts, changes state or ends, and when the gate opens or
 * shuts, the heartbeat is written again soon (instance_beat_soon(), at
 * most once every BEAT_SOON_MS), so that what rosterctl shows is not a
 * whole beat old.
 * On the same beat, consumers of the group that are gone (no heartbeat,
 * nothing pending, idle for claim_idle_ms) are removed (reap.lua), so that
 * restarts under new names leave nothing behind, and the Redis server is
 * read again (redisinfo.c: its role, eviction policy and memory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "rosterd_version.h"
#include "xmalloc.h"

#define TICK_MS		1000
/* The heartbeat outlives this many missed beats. */
#define BEAT_LIVES	4
/* Extra beats (a job changed) come at most this often. */
#define BEAT_SOON_MS	250

static struct event	*ev_tick;	/* loop lag */
static struct event	*ev_beat;	/* heartbeat, reaping */
static struct event	*ev_soon;	/* an extra beat, rate-bounded */
static uint64_t		 last_beat_ms;	/* monotonic */
static uint64_t		 last_tick_ms;	/* monotonic */
static char		 host[256];

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = mono_ms();

	/* how late this tick is: the event loop's lag (not at the first,
	   direct call: a timer's fd is -1 too, its what EV_TIMEOUT) */
	if (last_tick_ms != 0 && (what & EV_TIMEOUT))
		metrics_loop_lag(now - last_tick_ms > TICK_MS ?
		    now - last_tick_ms - TICK_MS : 0);
	last_tick_ms = now;
}

/* ---- the heartbeat ---- */

static void
on_beat(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	/* store.c has told health.c of any failure */
	if (r != NULL && r->type != REDIS_REPLY_ERROR)
		metrics_heartbeat();
}

void
instance_beat(void)
{
	struct script_call *sc;
	struct jobs_census jc;
	uint64_t done, coalesced, failed;
	struct redis_server sv;
	char redis[512];

	if (rconn_state(rd->rc) != RCONN_READY || !rd->ready)
		return;
	if (host[0] == '\0' && gethostname(host, sizeof(host) - 1) == -1)
		xstrlcpy(host, "?", sizeof(host));
	last_beat_ms = mono_ms();
	if (ev_soon != NULL)
		evtimer_del(ev_soon);
	jobs_census(&jc);
	metrics_totals(&done, &coalesced, &failed);
	health_describe(redis, sizeof(redis));
	redisinfo_get(&sv);
	sc = script_new(SCRIPT_BEAT);
	script_key(sc, key_instance(rd->consumer));
	script_num(sc, (long long)rd->conf.daemon_heartbeat_ms * BEAT_LIVES);
#define BEAT_STR(name, value)	do {					\
	script_arg(sc, name);						\
	script_arg(sc, value);						\
} while (0)
#define BEAT_NUM(name, value)	do {					\
	script_arg(sc, name);						\
	script_num(sc, (long long)(value));				\
} while (0)
	BEAT_STR("consumer", rd->consumer);
	BEAT_STR("host", host);
	BEAT_NUM("pid", getpid());
	BEAT_STR("version", ROSTERD_VERSION);
	BEAT_STR("state", rd->draining ? "stopping" : reader_paused() ?
	    "paused" : reader_quiet() ? "quiet" : "running");
	BEAT_NUM("heartbeat_ms", rd->conf.daemon_heartbeat_ms);
	BEAT_NUM("jobs", jc.jobs);
	BEAT_NUM("fetching", jc.fetching);
	BEAT_NUM("retrying", jc.retrying);
	BEAT_NUM("waiting_teacher", jc.waiting_teacher);
	BEAT_NUM("waiting_rate_limit", jc.waiting_rate);
	BEAT_NUM("done", done);
	BEAT_NUM("coalesced", coalesced);
	BEAT_NUM("failed", failed);
	BEAT_NUM("finished_last_minute", metrics_done_last_minute());
	BEAT_STR("redis", redis);
	BEAT_STR("redis_address", sv.address);
	BEAT_STR("redis_role", sv.role);
	BEAT_STR("redis_tls", sv.tls ? "on" : "off");
	BEAT_STR("redis_maxmemory_policy", sv.policy);
	BEAT_NUM("redis_failovers", sv.failovers);
	script_arg(sc, "jobs_json");
	script_arg_own(sc, jobs_json());
#undef BEAT_NUM
#undef BEAT_STR
	script_run(sc, on_beat, NULL);
}

static void
on_soon(evutil_socket_t fd, short what, void *arg)
{
	instance_beat();
}

/* Beat again soon: now, or BEAT_SOON_MS after the last beat. */
void
instance_beat_soon(void)
{
	uint64_t since = mono_ms() - last_beat_ms;
	struct timeval tv;

	if (ev_beat == NULL || rd->draining)
		return;		/* not started, or stopping */
	if (ev_soon == NULL)
		ev_soon = evtimer_new(rd->base, on_soon, NULL);
	if (evtimer_pending(ev_soon, NULL))
		return;
	tv = ms_to_tv(since >= BEAT_SOON_MS ? 0 : BEAT_SOON_MS - since);
	evtimer_add(ev_soon, &tv);
}

/* ---- removing the consumers that are gone ---- */

static void
on_reaped(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	char *name = arg;

	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
		logf_info(LF(.event = "consumer_removed"), "removed consumer "
		    "%s from the group: no heartbeat, nothing pending", name);
	free(name);
}

static void
reap_one(const char *name)
{
	struct script_call *sc = script_new(SCRIPT_REAP);

	script_key(sc, key_jobs());
	script_key(sc, key_instance(name));
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, name);
	script_num(sc, (long long)rd->conf.sync_claim_idle_ms);
	script_run(sc, on_reaped, xstrdup(name));
}

/* Candidates: others with nothing pending, idle long enough; reap.lua
   checks again, with their heartbeat, in one step. */
static void
on_consumers(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	redisReply *name, *pending, *idle;
	size_t i;

	for (i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    i < r->elements; i++) {
		name = rconn_reply_field(r->element[i], "name");
		pending = rconn_reply_field(r->element[i], "pending");
		idle = rconn_reply_field(r->element[i], "idle");
		if (name == NULL || name->type != REDIS_REPLY_STRING ||
		    pending == NULL || pending->type != REDIS_REPLY_INTEGER ||
		    idle == NULL || idle->type != REDIS_REPLY_INTEGER)
			continue;
		if (strcmp(name->str, rd->consumer) == 0 ||
		    pending->integer != 0 || (uint64_t)idle->integer <
		    rd->conf.sync_claim_idle_ms)
			continue;
		reap_one(name->str);
	}
}

static void
instance_reap(void)
{
	char *stream;

	if (rconn_state(rd->rc) != RCONN_READY || !reader_group_ready() ||
	    rd->draining)
		return;
	stream = key_jobs();
	rconn_command(rd->rc, 0, on_consumers, NULL, "XINFO CONSUMERS %s %s",
	    stream, CONSUMER_GROUP);
	free(stream);
}

static void
on_beat_timer(evutil_socket_t fd, short what, void *arg)
{
	instance_beat();
	instance_reap();
	redisinfo_poll();	/* for the next beat, the metrics */
}

/* Ready for work (and after a reload): tick, beat now and every beat. */
void
instance_start(void)
{
	struct timeval tick = ms_to_tv(TICK_MS);
	struct timeval beat = ms_to_tv(rd->conf.daemon_heartbeat_ms);

	if (ev_tick == NULL) {
		ev_tick = event_new(rd->base, -1, EV_PERSIST, on_tick,
		    NULL);
		evtimer_add(ev_tick, &tick);
		on_tick(-1, 0, NULL);
	}
	if (ev_beat == NULL)
		ev_beat = event_new(rd->base, -1, EV_PERSIST,
		    on_beat_timer, NULL);
	evtimer_add(ev_beat, &beat);
	jobs_watch(instance_beat_soon);
	instance_beat();
}

static void
on_gone(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	event_base_loopexit(rd->base, NULL);
}

/* A clean stop: no more ticks or beats; the heartbeat goes, then the
   loop ends. */
void
instance_stop(void)
{
	char *key;

	if (ev_tick != NULL)
		evtimer_del(ev_tick);
	if (ev_beat != NULL)
		evtimer_del(ev_beat);
	if (ev_soon != NULL)
		evtimer_del(ev_soon);
	if (rconn_state(rd->rc) != RCONN_READY) {
		event_base_loopexit(rd->base, NULL);
		return;
	}
	key = key_instance(rd->consumer);
	rconn_command(rd->rc, 0, on_gone, NULL, "DEL %s", key);
	free(key);
}

void
instance_free(void)
{
	if (ev_tick != NULL)
		event_free(ev_tick);
	if (ev_beat != NULL)
		event_free(ev_beat);
	if (ev_soon != NULL)
		event_free(ev_soon);
	ev_tick = ev_beat = ev_soon = NULL;
}
