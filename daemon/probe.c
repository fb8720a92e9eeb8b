/*
 * What rosterd needs of Redis, checked before it works: every command it
 * sends, on every key and channel it uses, weighed against the Redis
 * user's ACL by daemon/lua/probe.lua (redis.acl_check_cmd) without
 * running any of them.  A denial found at start-up stops rosterd with one
 * error naming each command and key (before READY=1); found later, after a
 * reconnection, it is logged and rosterd goes on with what it may do.
 *
 * Keep this list in step with the scripts in daemon/lua/ and with the
 * minimal ACL in doc/production.md.  Ids appear as doc/contract.md writes
 * them (JOB, TEACHER, OWNER): the checks touch no key.
 *
 * Some checks are optional: what rosterd reads of the server for the
 * operator (INFO: redisinfo.c).  ROLE is not: every connection checks
 * it is on the primary (rconn.c).  Their denial stops nothing;
 * probe_allows() tells it, so that a denied command is never sent (Redis
 * would log each denial in its ACL LOG).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define PROBE_WORDS	12

/*
 * The checks: a command, and the key it names, if any, as the word K: the
 * key of the contract with its id as doc/contract.md writes it.
 */
static const char K[] = "KEY";
#define CMD(...)	{ .words = { __VA_ARGS__ } }
#define ON(key, id, ...) { key, id, { __VA_ARGS__ }, 0 }
#define OPTIONAL(what, ...) { .words = { __VA_ARGS__ }, .optional = what }

static const struct probe_check {
	enum key	 key;
	const char	*id;
	const char	*words[PROBE_WORDS];
	unsigned	 optional;	/* PROBE_INFO, ...; 0: needed */
} probe_checks[] = {
	/* connections and scripts */
	CMD("PING"),
	CMD("ROLE"),
	CMD("CLIENT", "SETNAME", "rosterd"),
	CMD("CLIENT", "ID"),
	CMD("CLIENT", "UNBLOCK", "1"),
	CMD("SCRIPT", "LOAD", "return 1"),
	CMD("EVALSHA", "0000000000000000000000000000000000000000", "0"),
	CMD("TIME"),
	/* the contract version */
	ON(KEY_CONTRACT, NULL, "GET", K),
	/* the pause key (rosterctl pause) */
	ON(KEY_PAUSED, NULL, "GET", K),
	ON(KEY_CONTRACT, NULL, "SET", K, CONTRACT_VERSION, "NX"),
	/* the number of diff partitions */
	ON(KEY_DIFFS_PARTITIONS, NULL, "GET", K),
	ON(KEY_DIFFS_PARTITIONS, NULL, "SET", K, "1", "NX"),
	/* the job stream */
	ON(KEY_JOBS, NULL, "XINFO", "GROUPS", K),
	ON(KEY_JOBS, NULL, "XGROUP", "CREATE", K, CONSUMER_GROUP, "0",
	    "MKSTREAM"),
	ON(KEY_JOBS, NULL, "XREADGROUP", "GROUP", CONSUMER_GROUP, "c", "COUNT",
	    "1", "BLOCK", "1", "STREAMS", K, ">"),
	ON(KEY_JOBS, NULL, "XCLAIM", K, CONSUMER_GROUP, "c", "0", "0-1",
	    "JUSTID"),
	ON(KEY_JOBS, NULL, "XAUTOCLAIM", K, CONSUMER_GROUP, "c", "1", "0-0",
	    "COUNT", "1"),
	ON(KEY_JOBS, NULL, "XACK", K, CONSUMER_GROUP, "0-1"),
	ON(KEY_JOBS, NULL, "XADD", K, "*", "f", "v"),
	ON(KEY_JOBS, NULL, "XDEL", K, "0-1"),
	/* what the app writes, rosterd reads */
	ON(KEY_TOKEN, "TEACHER", "GET", K),
	ON(KEY_DISTRICT_TOKEN, "DISTRICT", "GET", K),
	ON(KEY_SELECTION, "TEACHER", "GET", K),
	ON(KEY_ACCOUNTS, NULL, "HGET", K, "f"),
	/* job statuses */
	ON(KEY_JOB, "JOB", "HSET", K, "f", "v"),
	ON(KEY_JOB, "JOB", "HGET", K, "f"),
	ON(KEY_JOB, "JOB", "HDEL", K, "f"),
	ON(KEY_JOB, "JOB", "HINCRBY", K, "f", "1"),
	ON(KEY_JOB, "JOB", "EXPIRE", K, "1"),
	ON(KEY_JOB, "JOB", "EXISTS", K),
	/* per teacher */
	ON(KEY_STATE, "TEACHER", "HMGET", K, "f"),
	ON(KEY_STATE, "TEACHER", "HGET", K, "f"),
	ON(KEY_STATE, "TEACHER", "HSET", K, "f", "v"),
	ON(KEY_STATE, "TEACHER", "HDEL", K, "f"),
	ON(KEY_LOCK, "TEACHER", "SET", K, "v", "NX", "PX", "1"),
	ON(KEY_LOCK, "TEACHER", "GET", K),
	ON(KEY_LOCK, "TEACHER", "PEXPIRE", K, "1"),
	ON(KEY_LOCK, "TEACHER", "DEL", K),
	ON(KEY_SNAPSHOT, "TEACHER", "HMGET", K, "f"),
	ON(KEY_SNAPSHOT, "TEACHER", "HGET", K, "f"),
	ON(KEY_SNAPSHOT, "TEACHER", "HSET", K, "f", "v"),
	ON(KEY_SECTIONS, "TEACHER", "SET", K, "v"),
	/* rate-limit windows: per token, and the application's */
	ON(KEY_RATELIMIT, "OWNER", "HMGET", K, "f"),
	ON(KEY_RATELIMIT, "OWNER", "HGET", K, "f"),
	ON(KEY_RATELIMIT, "OWNER", "HSET", K, "f", "v"),
	ON(KEY_RATELIMIT, "OWNER", "PEXPIRE", K, "1"),
	ON(KEY_RATELIMIT, "app", "HMGET", K, "f"),
	ON(KEY_RATELIMIT, "app", "HGET", K, "f"),
	ON(KEY_RATELIMIT, "app", "HSET", K, "f", "v"),
	ON(KEY_RATELIMIT, "app", "PEXPIRE", K, "1"),
	ON(KEY_RATELIMIT, "demand", "HGETALL", K),
	ON(KEY_RATELIMIT, "demand", "HSET", K, "f", "v"),
	ON(KEY_RATELIMIT, "demand", "HDEL", K, "f"),
	/* a district token's kept /me answer */
	ON(KEY_ME, "OWNER", "HMGET", K, "f"),
	ON(KEY_ME, "OWNER", "HSET", K, "f", "v"),
	ON(KEY_ME, "OWNER", "EXPIRE", K, "1"),
	ON(KEY_ME, "OWNER", "DEL", K),
	/* what rosterd writes for the app */
	ON(KEY_DIFFS, NULL, "XADD", K, "*", "f", "v"),
	ON(KEY_DIFFS_PART, "P", "XADD", K, "*", "f", "v"),
	ON(KEY_DEAD, NULL, "XADD", K, "*", "f", "v"),
	ON(KEY_EVENTS, NULL, "PUBLISH", K, "m"),
	/* heartbeats, and the removal of gone consumers */
	ON(KEY_INSTANCE, "CONSUMER", "HSET", K, "f", "v"),
	ON(KEY_INSTANCE, "CONSUMER", "HSETNX", K, "f", "v"),
	ON(KEY_INSTANCE, "CONSUMER", "PEXPIRE", K, "1"),
	ON(KEY_INSTANCE, "CONSUMER", "EXISTS", K),
	ON(KEY_INSTANCE, "CONSUMER", "DEL", K),
	ON(KEY_JOBS, NULL, "XINFO", "CONSUMERS", K, CONSUMER_GROUP),
	ON(KEY_JOBS, NULL, "XGROUP", "DELCONSUMER", K, CONSUMER_GROUP, "c"),
	/* the gate poll (control.lua): pause, quiet, the control list */
	ON(KEY_QUIET, "CONSUMER", "GET", K),
	ON(KEY_QUIET, "CONSUMER", "PEXPIRE", K, "1"),
	ON(KEY_CONTROL, "CONSUMER", "LRANGE", K, "0", "1"),
	ON(KEY_CONTROL, "CONSUMER", "LTRIM", K, "1", "-1"),
	ON(KEY_INSTANCE, "CONSUMER", "HGET", K, "f"),
	ON(KEY_INSTANCE, "CONSUMER", "HDEL", K, "f"),
	/* Clever's Events per district (events.c) */
	ON(KEY_DISTRICTS, NULL, "SMEMBERS", K),
	ON(KEY_DISTRICT, "D", "HGET", K, "f"),
	ON(KEY_DISTRICT_TEACHERS, "D", "SISMEMBER", K, "t"),
	ON(KEY_EVENT_LOCK, "D", "SET", K, "v", "PX", "1"),
	ON(KEY_EVENT_LOCK, "D", "PEXPIRE", K, "1"),
	ON(KEY_EVENT_LOCK, "D", "DEL", K),
	ON(KEY_EVENT_CURSOR, "D", "HMGET", K, "f"),
	ON(KEY_EVENT_CURSOR, "D", "HSET", K, "f", "v"),
	ON(KEY_EVENT_CURSOR, "D", "HINCRBY", K, "f", "1"),
	/* retention */
	ON(KEY_TRIM_LOCK, NULL, "SET", K, "1", "NX", "PX", "1"),
	ON(KEY_JOBS, NULL, "XPENDING", K, CONSUMER_GROUP),
	ON(KEY_JOBS, NULL, "XTRIM", K, "MINID", "0-1"),
	ON(KEY_DEAD, NULL, "XTRIM", K, "MAXLEN", "1"),
	ON(KEY_DIFFS, NULL, "XINFO", "GROUPS", K),
	ON(KEY_DIFFS, NULL, "XPENDING", K, "app"),
	ON(KEY_DIFFS, NULL, "XTRIM", K, "MINID", "0-1"),
	ON(KEY_DIFFS, NULL, "XRANGE", K, "-", "+", "COUNT", "1"),
	ON(KEY_DIFFS, NULL, "XLEN", K),
	ON(KEY_DIFFS_PART, "P", "XINFO", "GROUPS", K),
	ON(KEY_DIFFS_PART, "P", "XPENDING", K, "app"),
	ON(KEY_DIFFS_PART, "P", "XTRIM", K, "MINID", "0-1"),
	ON(KEY_DIFFS_PART, "P", "XRANGE", K, "-", "+", "COUNT", "1"),
	ON(KEY_DIFFS_PART, "P", "XLEN", K),
	ON(KEY_DIFFS_LOST, NULL, "HGET", K, "app"),
	ON(KEY_DIFFS_LOST, NULL, "HSET", K, "app", "v"),
	/* forget */
	ON(KEY_SNAPSHOT, "TEACHER", "DEL", K),
	ON(KEY_STATE, "TEACHER", "DEL", K),
	ON(KEY_SECTIONS, "TEACHER", "DEL", K),
	ON(KEY_SELECTION, "TEACHER", "DEL", K),
	ON(KEY_JOB, "JOB", "DEL", K),
	ON(KEY_DIFFS, NULL, "XDEL", K, "0-1"),		/* forget erases */
	ON(KEY_DEAD, NULL, "XDEL", K, "0-1"),		/* held, confirmed */
	CMD("SCAN", "0", "MATCH", "x", "COUNT", "1"),
	/* the freshness schedule */
	ON(KEY_JOBS, NULL, "EXISTS", K),
	ON(KEY_JOBS, NULL, "XREVRANGE", K, "+", "-", "COUNT", "1"),
	ON(KEY_SCHEDULE, NULL, "ZRANGEBYSCORE", K, "-inf", "0", "LIMIT", "0",
	    "1"),
	ON(KEY_SCHEDULE, NULL, "ZSCORE", K, "TEACHER"),
	ON(KEY_SCHEDULE, NULL, "ZADD", K, "0", "TEACHER"),
	ON(KEY_SCHEDULE, NULL, "ZREM", K, "TEACHER"),
	ON(KEY_LOCK, "TEACHER", "EXISTS", K),
	ON(KEY_SCHEDULE_LEFT, NULL, "ZADD", K, "0", "TEACHER"),
	ON(KEY_SCHEDULE_LEFT, NULL, "ZREM", K, "TEACHER"),
	ON(KEY_REAUTHORIZE, NULL, "ZRANGE", K, "0", "1"),
	ON(KEY_REAUTHORIZE, NULL, "ZSCORE", K, "TEACHER"),
	ON(KEY_REAUTHORIZE, NULL, "ZADD", K, "0", "TEACHER"),
	ON(KEY_REAUTHORIZE, NULL, "ZREM", K, "TEACHER"),
	ON(KEY_SCHEDULE, NULL, "ZCARD", K),
	ON(KEY_SCHEDULE, NULL, "ZCOUNT", K, "-inf", "0"),
	ON(KEY_SCHEDULE_LEFT, NULL, "ZCARD", K),
	ON(KEY_REAUTHORIZE, NULL, "ZCARD", K),
	ON(KEY_SCHEDULE_ENROLLED, NULL, "GET", K),
	ON(KEY_SCHEDULE_ENROLLED, NULL, "SET", K, "v"),
	/* the server, for the operator: optional */
	OPTIONAL(PROBE_INFO, "INFO", "memory"),
	/* needed only with [redis] wait_replicas (prepare.c) */
	OPTIONAL(PROBE_WAIT, "WAIT", "0", "0"),
};
#define NCHECKS	(sizeof(probe_checks) / sizeof(probe_checks[0]))

/* The optional checks the last probe found denied. */
static unsigned	optional_denied;

static size_t
check_words(size_t i)
{
	size_t n = 0;

	while (n < PROBE_WORDS && probe_checks[i].words[n] != NULL)
		n++;
	return n;
}

/* The key of check i (malloc'ed). */
static char *
check_key(size_t i)
{
	return keys_name(rd->conf.redis_prefix, probe_checks[i].key,
	    probe_checks[i].id);
}

static int
is_container(const char *cmd)
{
	return strcmp(cmd, "CLIENT") == 0 || strcmp(cmd, "XINFO") == 0 ||
	    strcmp(cmd, "XGROUP") == 0 || strcmp(cmd, "SCRIPT") == 0;
}

/*
 * "XADD rosterd:diffs", "XINFO GROUPS rosterd:jobs": the command, its
 * subcommand, and its first key or channel.
 */
static void
check_label(size_t i, char *buf, size_t len)
{
	const char *const *w = probe_checks[i].words;
	size_t n = check_words(i), k;
	char *key;

	snprintf(buf, len, "%s", w[0]);
	/* a container command: name its subcommand */
	if (n > 1 && is_container(w[0]))
		snprintf(buf + strlen(buf), len - strlen(buf), " %s", w[1]);
	for (k = 1; k < n; k++)
		if (w[k] == K) {
			key = check_key(i);
			snprintf(buf + strlen(buf), len - strlen(buf), " %s",
			    key);
			free(key);
			return;
		}
}

static void
on_probe(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	probe_cb cb = (probe_cb)(uintptr_t)arg;
	char denied[2048] = "", label[128];
	size_t i;

	if (r == NULL) {
		cb(-1, err);	/* the connection is re-established */
		return;
	}
	optional_denied = 0;	/* unknown before Redis 7: try */
	if (r->type == REDIS_REPLY_ERROR) {
		if (strstr(r->str, "acl_check_cmd") != NULL ||
		    strstr(r->str, "nil value") != NULL) {
			/* Redis before 7.0: nothing to check with */
			log_debug("cannot check the ACL: %s", r->str);
			cb(0, NULL);
		} else
			cb(1, r->str);	/* EVAL itself is denied */
		return;
	}
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		long long k = r->element[i]->integer;

		if (r->element[i]->type != REDIS_REPLY_INTEGER || k < 1 ||
		    (size_t)k > NCHECKS)
			continue;
		if (probe_checks[k - 1].optional != 0) {
			optional_denied |= probe_checks[k - 1].optional;
			continue;
		}
		check_label((size_t)k - 1, label, sizeof(label));
		snprintf(denied + strlen(denied), sizeof(denied) -
		    strlen(denied), "%s%s", denied[0] ? ", " : "", label);
	}
	cb(denied[0] ? 1 : 0, denied[0] ? denied : NULL);
}

/*
 * Check every permission rosterd needs; cb(0, NULL) when all are granted,
 * cb(1, what) naming what is denied, cb(-1, err) when it could not ask.
 */
void
probe_redis(probe_cb cb)
{
	struct script_call *sc = script_new(SCRIPT_PROBE);
	size_t i, k, n;

	script_num(sc, NCHECKS);
	for (i = 0; i < NCHECKS; i++) {
		n = check_words(i);
		script_num(sc, n);
		for (k = 0; k < n; k++) {
			if (probe_checks[i].words[k] == K)
				script_arg_own(sc, check_key(i));
			else
				script_arg(sc, probe_checks[i].words[k]);
		}
	}
	script_run(sc, on_probe, (void *)(uintptr_t)cb);
}

/* Whether the last probe found the optional check(s) what allowed. */
int
probe_allows(unsigned what)
{
	return (optional_denied & what) == 0;
}
