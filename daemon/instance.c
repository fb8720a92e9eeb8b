/*
 * This instance as the others and rosterctl see it.  A one-second tick
 * reads the pause key (while it exists no new job starts; in-flight work
 * finishes) and every CONTRACT_HEARTBEAT_MS writes the heartbeat: what
 * this instance holds and has done, for `rosterctl stats`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "rosterd.h"
#include "rosterd_version.h"
#include "xmalloc.h"

#define TICK_MS		1000

static unsigned	ticks;
static uint64_t	last_tick_ms;	/* monotonic */

static void
on_pause_key(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	int paused;

	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		return;		/* the next tick asks again */
	paused = r->type == REDIS_REPLY_STRING;
	if (paused == rd->paused)
		return;
	rd->paused = paused;
	free(rd->pause_note);
	rd->pause_note = paused ? xstrdup(r->str) : NULL;
	if (paused) {
		logf_info(LF(.event = "paused"), "queue paused (%s): no new "
		    "job starts, %u in flight finish", r->str, rd->njobs);
		queue_pause();
	} else {
		logf_info(LF(.event = "resumed"), "queue resumed");
		queue_kick();
	}
}

static void
on_ignore(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		log_debug("heartbeat failed: %s", err ? err : r->str);
}

static void
add_int(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static char *
heartbeat_json(void)
{
	json_object *o = json_object_new_object();
	unsigned backoff, waiting, rate;
	uint64_t done, coalesced, failed;
	char host[256], *s;

	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	metrics_job_states(&backoff, &waiting, &rate);
	metrics_totals(&done, &coalesced, &failed);
	json_object_object_add(o, "consumer",
	    json_object_new_string(rd->consumer));
	json_object_object_add(o, "host", json_object_new_string(host));
	add_int(o, "pid", (uint64_t)getpid());
	json_object_object_add(o, "version",
	    json_object_new_string(ROSTERD_VERSION));
	add_int(o, "started_ms", rd->started_ms);
	add_int(o, "updated_ms", wall_ms());
	json_object_object_add(o, "paused",
	    json_object_new_boolean(rd->paused));
	json_object_object_add(o, "draining",
	    json_object_new_boolean(rd->draining));
	add_int(o, "jobs", rd->njobs);
	add_int(o, "fetching", rd->nfetching);
	add_int(o, "retrying", backoff);
	add_int(o, "waiting_teacher", waiting);
	add_int(o, "waiting_rate_limit", rate);
	add_int(o, "done", done);
	add_int(o, "coalesced", coalesced);
	add_int(o, "failed", failed);
	add_int(o, "finished_last_minute", metrics_done_last_minute());
	s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static void
heartbeat(void)
{
	char *key = key_instances(), *hb = heartbeat_json();

	rconn_command(rd->rc, 0, on_ignore, NULL, "HSET %s %s %s", key,
	    rd->consumer, hb);
	free(hb);
	free(key);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = mono_ms();
	char *key;

	/* how late this tick is: the event loop's lag */
	if (last_tick_ms != 0 && fd != -1)
		metrics_loop_lag(now - last_tick_ms > TICK_MS ?
		    now - last_tick_ms - TICK_MS : 0);
	last_tick_ms = now;
	if (rconn_state(rd->rc) != RCONN_READY)
		return;
	key = key_paused();
	rconn_command(rd->rc, 0, on_pause_key, NULL, "GET %s", key);
	free(key);
	if (ticks++ % (CONTRACT_HEARTBEAT_MS / TICK_MS) == 0)
		heartbeat();
}

/* The command connection is ready: tick (once per process). */
void
instance_start(void)
{
	struct timeval tv = MS_TO_TV(TICK_MS);

	if (rd->started_ms == 0)
		rd->started_ms = wall_ms();
	if (rd->ev_tick == NULL) {
		rd->ev_tick = event_new(rd->base, -1, EV_PERSIST, on_tick,
		    NULL);
		evtimer_add(rd->ev_tick, &tv);
	}
	ticks = 0;
	on_tick(-1, 0, NULL);
}

static void
on_left(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	rd->leaving = 0;
	rosterd_maybe_exit();
}

/*
 * Stopping: no more ticks; this instance leaves the heartbeat hash (the
 * daemon exits once Redis has answered).
 */
void
instance_stop(void)
{
	char *key;

	if (rd->ev_tick != NULL)
		event_free(rd->ev_tick);
	rd->ev_tick = NULL;
	if (rconn_state(rd->rc) != RCONN_READY)
		return;
	key = key_instances();
	rd->leaving = 1;
	rconn_command(rd->rc, 0, on_left, NULL, "HDEL %s %s", key,
	    rd->consumer);
	free(key);
}
