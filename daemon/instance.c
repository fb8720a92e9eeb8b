/*
 * This instance among the others: a heartbeat every [daemon] heartbeat_ms
 * in <prefix>instance:CONSUMER (beat.lua), which expires when beats stop
 * and is deleted at a clean stop; and the removal from the consumer group
 * of consumers that are gone: no heartbeat, nothing pending, idle for
 * claim_idle_ms (reap.lua), so that restarts leave nothing behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "rosterd.h"
#include "rosterd_version.h"
#include "xmalloc.h"

/* The heartbeat outlives this many missed beats. */
#define BEAT_LIVES	4

static char	host[256];

static void
on_beat(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	/* store.c has told health.c of any failure */
}

void
instance_beat(void)
{
	char *key, ttl[24], pid[24], jobs[24], fetching[24], synced[24];
	char failed[24], redis[512];
	const char *argv[24];
	int k = 0;

	if (rconn_state(rd->rc) != RCONN_READY || !rd->ready)
		return;
	if (host[0] == '\0' && gethostname(host, sizeof(host) - 1) == -1)
		xstrlcpy(host, "?", sizeof(host));
	key = key_instance(rd->consumer);
	snprintf(ttl, sizeof(ttl), "%llu",
	    (unsigned long long)rd->conf.daemon_heartbeat_ms * BEAT_LIVES);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	snprintf(jobs, sizeof(jobs), "%u", rd->njobs);
	snprintf(fetching, sizeof(fetching), "%u", rd->nfetching);
	snprintf(synced, sizeof(synced), "%llu",
	    (unsigned long long)rd->synced);
	snprintf(failed, sizeof(failed), "%llu",
	    (unsigned long long)rd->failed);
	health_describe(redis, sizeof(redis));
	argv[k++] = key;
	argv[k++] = ttl;
	argv[k++] = "consumer";
	argv[k++] = rd->consumer;
	argv[k++] = "host";
	argv[k++] = host;
	argv[k++] = "pid";
	argv[k++] = pid;
	argv[k++] = "version";
	argv[k++] = ROSTERD_VERSION;
	argv[k++] = "state";
	argv[k++] = rd->draining ? "stopping" : "running";
	argv[k++] = "jobs";
	argv[k++] = jobs;
	argv[k++] = "fetching";
	argv[k++] = fetching;
	argv[k++] = "synced";
	argv[k++] = synced;
	argv[k++] = "failed";
	argv[k++] = failed;
	argv[k++] = "redis";
	argv[k++] = redis;
	store_eval(SCRIPT_BEAT, 1, k, argv, NULL, on_beat, NULL);
	free(key);
}

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
	char *keys[2], idle[24];
	const char *argv[5];

	keys[0] = key_jobs();
	keys[1] = key_instance(name);
	snprintf(idle, sizeof(idle), "%llu",
	    (unsigned long long)rd->conf.sync_claim_idle_ms);
	argv[0] = keys[0];
	argv[1] = keys[1];
	argv[2] = CONSUMER_GROUP;
	argv[3] = name;
	argv[4] = idle;
	store_eval(SCRIPT_REAP, 2, 5, argv, NULL, on_reaped, xstrdup(name));
	free(keys[0]);
	free(keys[1]);
}

/* An XINFO CONSUMERS entry's field as a reply, or NULL. */
static redisReply *
consumer_field(redisReply *c, const char *name)
{
	size_t k;

	for (k = 0; c->type == REDIS_REPLY_ARRAY && k + 1 < c->elements;
	    k += 2)
		if (c->element[k]->type == REDIS_REPLY_STRING &&
		    strcmp(c->element[k]->str, name) == 0)
			return c->element[k + 1];
	return NULL;
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
		name = consumer_field(r->element[i], "name");
		pending = consumer_field(r->element[i], "pending");
		idle = consumer_field(r->element[i], "idle");
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

void
instance_reap(void)
{
	char *stream;

	if (rconn_state(rd->rc) != RCONN_READY || !rd->group_ready ||
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
}

/* Ready for work: beat now and every heartbeat_ms. */
void
instance_start(void)
{
	struct timeval tv = MS_TO_TV(rd->conf.daemon_heartbeat_ms);

	if (rd->ev_beat == NULL)
		rd->ev_beat = event_new(rd->base, -1, EV_PERSIST,
		    on_beat_timer, NULL);
	evtimer_add(rd->ev_beat, &tv);
	instance_beat();
}

static void
on_gone(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	event_base_loopexit(rd->base, NULL);
}

/* A clean stop: the heartbeat goes, then the loop ends. */
void
instance_stop(void)
{
	char *key;

	if (rd->ev_beat != NULL)
		evtimer_del(rd->ev_beat);
	if (rconn_state(rd->rc) != RCONN_READY) {
		event_base_loopexit(rd->base, NULL);
		return;
	}
	key = key_instance(rd->consumer);
	rconn_command(rd->rc, 0, on_gone, NULL, "DEL %s", key);
	free(key);
}
