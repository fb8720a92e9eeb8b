/*
 * What rosterd needs of Redis, checked before it works: every command it
 * sends, on every key and channel it uses, weighed against the Redis
 * user's ACL by daemon/lua/probe.lua (redis.acl_check_cmd) without
 * running any of them.  A denial found at start-up stops rosterd with one
 * error naming each command and key (before READY=1); found later, after a
 * reconnection, it is logged and rosterd goes on with what it may do.
 *
 * Keep this list in step with the scripts in daemon/lua/ and with the
 * minimal ACL documented in the README.  Ids appear as the README writes
 * them (JOB, TEACHER, OWNER): the checks touch no key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define PROBE_WORDS	12

/* %s is the key prefix. */
static const char *const probe_checks[][PROBE_WORDS] = {
	/* connections and scripts */
	{ "PING" },
	{ "CLIENT", "SETNAME", "rosterd" },
	{ "CLIENT", "ID" },
	{ "CLIENT", "UNBLOCK", "1" },
	{ "SCRIPT", "LOAD", "return 1" },
	{ "EVALSHA", "0000000000000000000000000000000000000000", "0" },
	{ "TIME" },
	/* the contract version */
	{ "GET", "%scontract" },
	/* the pause key (rosterctl pause) */
	{ "GET", "%spaused" },
	{ "SET", "%scontract", "1", "NX" },
	/* the job stream */
	{ "XINFO", "GROUPS", "%sjobs" },
	{ "XGROUP", "CREATE", "%sjobs", CONSUMER_GROUP, "0", "MKSTREAM" },
	{ "XREADGROUP", "GROUP", CONSUMER_GROUP, "c", "COUNT", "1", "BLOCK",
	    "1", "STREAMS", "%sjobs", ">" },
	{ "XCLAIM", "%sjobs", CONSUMER_GROUP, "c", "0", "0-1", "JUSTID" },
	{ "XAUTOCLAIM", "%sjobs", CONSUMER_GROUP, "c", "1", "0-0", "COUNT",
	    "1" },
	{ "XACK", "%sjobs", CONSUMER_GROUP, "0-1" },
	{ "XADD", "%sjobs", "*", "f", "v" },
	{ "XDEL", "%sjobs", "0-1" },
	/* what the app writes, rosterd reads */
	{ "GET", "%stoken:TEACHER" },
	{ "GET", "%sdistrict_token:DISTRICT" },
	{ "GET", "%sselection:{TEACHER}" },
	{ "HGET", "%saccounts", "f" },
	/* job statuses */
	{ "HSET", "%sjob:JOB", "f", "v" },
	{ "HGET", "%sjob:JOB", "f" },
	{ "HDEL", "%sjob:JOB", "f" },
	{ "HINCRBY", "%sjob:JOB", "f", "1" },
	{ "EXPIRE", "%sjob:JOB", "1" },
	{ "EXISTS", "%sjob:JOB" },
	/* per teacher */
	{ "HMGET", "%sstate:{TEACHER}", "f" },
	{ "HGET", "%sstate:{TEACHER}", "f" },
	{ "HSET", "%sstate:{TEACHER}", "f", "v" },
	{ "HDEL", "%sstate:{TEACHER}", "f" },
	{ "SET", "%slock:{TEACHER}", "v", "NX", "PX", "1" },
	{ "GET", "%slock:{TEACHER}" },
	{ "PEXPIRE", "%slock:{TEACHER}", "1" },
	{ "DEL", "%slock:{TEACHER}" },
	{ "HMGET", "%ssnapshot:{TEACHER}", "f" },
	{ "HGET", "%ssnapshot:{TEACHER}", "f" },
	{ "HSET", "%ssnapshot:{TEACHER}", "f", "v" },
	{ "SET", "%ssections:{TEACHER}", "v" },
	/* rate-limit windows: per token, and the application's */
	{ "HMGET", "%sratelimit:{rl}:OWNER", "f" },
	{ "HGET", "%sratelimit:{rl}:OWNER", "f" },
	{ "HSET", "%sratelimit:{rl}:OWNER", "f", "v" },
	{ "PEXPIRE", "%sratelimit:{rl}:OWNER", "1" },
	{ "HMGET", "%sratelimit:{rl}:app", "f" },
	{ "HGET", "%sratelimit:{rl}:app", "f" },
	{ "HSET", "%sratelimit:{rl}:app", "f", "v" },
	{ "PEXPIRE", "%sratelimit:{rl}:app", "1" },
	/* what rosterd writes for the app */
	{ "XADD", "%sdiffs", "*", "f", "v" },
	{ "XADD", "%sdead", "*", "f", "v" },
	{ "PUBLISH", "%sevents", "m" },
	/* heartbeats, and the removal of gone consumers */
	{ "HSET", "%sinstance:CONSUMER", "f", "v" },
	{ "HSETNX", "%sinstance:CONSUMER", "f", "v" },
	{ "PEXPIRE", "%sinstance:CONSUMER", "1" },
	{ "EXISTS", "%sinstance:CONSUMER" },
	{ "DEL", "%sinstance:CONSUMER" },
	{ "XINFO", "CONSUMERS", "%sjobs", CONSUMER_GROUP },
	{ "XGROUP", "DELCONSUMER", "%sjobs", CONSUMER_GROUP, "c" },
	/* retention */
	{ "SET", "%strim_lock", "1", "NX", "PX", "1" },
	{ "XPENDING", "%sjobs", CONSUMER_GROUP },
	{ "XTRIM", "%sjobs", "MINID", "0-1" },
	{ "XTRIM", "%sdead", "MAXLEN", "1" },
	{ "XINFO", "GROUPS", "%sdiffs" },
	{ "XPENDING", "%sdiffs", "app" },
	{ "XTRIM", "%sdiffs", "MINID", "0-1" },
	{ "XRANGE", "%sdiffs", "-", "+", "COUNT", "1" },
	{ "XLEN", "%sdiffs" },
	{ "HSETNX", "%sdiffs_lost", "app", "0-1" },
	/* forget */
	{ "DEL", "%ssnapshot:{TEACHER}" },
	{ "DEL", "%sstate:{TEACHER}" },
	{ "DEL", "%ssections:{TEACHER}" },
	{ "DEL", "%sselection:{TEACHER}" },
	{ "DEL", "%sjob:JOB" },
	{ "SCAN", "0", "MATCH", "x", "COUNT", "1" },
	/* the freshness schedule */
	{ "EXISTS", "%sjobs" },
	{ "XREVRANGE", "%sjobs", "+", "-", "COUNT", "1" },
	{ "ZRANGEBYSCORE", "%sschedule", "-inf", "0", "LIMIT", "0", "1" },
	{ "ZSCORE", "%sschedule", "TEACHER" },
	{ "ZADD", "%sschedule", "0", "TEACHER" },
	{ "ZREM", "%sschedule", "TEACHER" },
	{ "EXISTS", "%slock:{TEACHER}" },
	{ "ZADD", "%sschedule:left", "0", "TEACHER" },
	{ "ZREM", "%sschedule:left", "TEACHER" },
	{ "ZRANGE", "%sreauthorize", "0", "1" },
	{ "ZSCORE", "%sreauthorize", "TEACHER" },
	{ "ZADD", "%sreauthorize", "0", "TEACHER" },
	{ "ZREM", "%sreauthorize", "TEACHER" },
	{ "ZCARD", "%sschedule" },
	{ "ZCOUNT", "%sschedule", "-inf", "0" },
	{ "ZCARD", "%sschedule:left" },
	{ "ZCARD", "%sreauthorize" },
	{ "GET", "%sschedule:enrolled" },
	{ "SET", "%sschedule:enrolled", "v" },
};
#define NCHECKS	(sizeof(probe_checks) / sizeof(probe_checks[0]))

static size_t
check_words(size_t i)
{
	size_t n = 0;

	while (n < PROBE_WORDS && probe_checks[i][n] != NULL)
		n++;
	return n;
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
	size_t n = check_words(i), k;

	snprintf(buf, len, "%s", probe_checks[i][0]);
	/* a container command: name its subcommand */
	if (n > 1 && is_container(probe_checks[i][0]))
		snprintf(buf + strlen(buf), len - strlen(buf), " %s",
		    probe_checks[i][1]);
	for (k = 1; k < n; k++)
		if (strstr(probe_checks[i][k], "%s") != NULL) {
			snprintf(buf + strlen(buf), len - strlen(buf), " %s%s",
			    rd->conf.redis_prefix, probe_checks[i][k] + 2);
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
	size_t i, k, n, argc = 1;
	const char **argv;
	char **owned;
	size_t nowned = 0;

	for (i = 0; i < NCHECKS; i++)
		argc += 1 + check_words(i);
	argv = xcalloc(argc, sizeof(*argv));
	owned = xcalloc(argc, sizeof(*owned));
	xasprintf(&owned[nowned], "%zu", NCHECKS);
	argc = 0;
	argv[argc++] = owned[nowned++];
	for (i = 0; i < NCHECKS; i++) {
		n = check_words(i);
		xasprintf(&owned[nowned], "%zu", n);
		argv[argc++] = owned[nowned++];
		for (k = 0; k < n; k++) {
			if (strstr(probe_checks[i][k], "%s") != NULL) {
				xasprintf(&owned[nowned], "%s%s",
				    rd->conf.redis_prefix,
				    probe_checks[i][k] + 2);
				argv[argc++] = owned[nowned++];
			} else
				argv[argc++] = probe_checks[i][k];
		}
	}
	store_eval(SCRIPT_PROBE, 0, (int)argc, argv, NULL, on_probe,
	    (void *)(uintptr_t)cb);
	for (i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(argv);
}
