/*
 * Redis health as rosterd sees it.  A failure of Redis work is one of:
 *
 *	unreachable	the connection is lost or a command timed out, or
 *			Redis is loading, busy or failing over: it passes
 *	refused		Redis answers, but will not do it: an ACL denies a
 *			command or key, maxmemory with noeviction, a
 *			read-only replica, failed persistence, a key of the
 *			wrong type.  It lasts until someone acts.
 *
 * A refusal of writes (OOM, MISCONF, READONLY, NOREPLICAS) ends only when
 * a write succeeds: at maxmemory Redis still reads (XREADGROUP, XINFO,
 * the scripts that only read), and a read going through says nothing of
 * the writes.  While writes are refused, every tick tries one that
 * changes nothing (SET of the contract key, NX).  Any other trouble ends
 * with any command that works.
 *
 * Apart from failures, an evicting Redis (its maxmemory-policy is not
 * noeviction: it would delete rosterd's keys under memory pressure) is
 * refused until the policy is set back (health_redis_policy).
 *
 * Every failure is counted.  The first of a run of failures is logged at
 * once, the rest as summaries (how many, for how long) at most every
 * HEALTH_LOG_INTERVAL_MS; the recovery from a run that was logged is
 * logged at once, so that flapping costs at most two lines per interval.
 * STATUS, heartbeats and metrics read the figures here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "keys.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define HEALTH_LOG_INTERVAL_MS	30000

static struct {
	enum redis_health	 state;
	uint64_t		 since_ms;	/* start of this trouble */
	uint64_t		 failures;	/* in this trouble */
	uint64_t		 logged;	/* failures already told */
	uint64_t		 last_log_ms;	/* of trouble; 0: never */
	int			 recovery_untold;
	uint64_t		 recovered_after_ms;
	uint64_t		 recovered_failures;
	char			 error[256];	/* the last one */
	char			 what[64];	/* the work that failed */
	int			 refused_writes; /* only a write ends it */
	int			 checking;	/* a write check in flight */
	uint64_t		 total[RH_COUNT];
	char			 evicting[64];	/* its policy; "": not */
	uint64_t		 evicting_ms;	/* since */
} h;

static const char *const health_names[RH_COUNT] = {
	[RH_OK] = "ok",
	[RH_UNREACHABLE] = "unreachable",
	[RH_REFUSED] = "refusing commands",
};

/* Error replies that pass with time; any other one is a refusal. */
static int
reply_is_transient(const char *reply)
{
	static const char *const transient[] = {
		"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN",
		"NOSCRIPT",	/* the scripts are loaded again */
	};
	size_t i, n;

	for (i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
		n = strlen(transient[i]);
		if (strncmp(reply, transient[i], n) == 0 &&
		    (reply[n] == ' ' || reply[n] == '\0'))
			return 1;
	}
	return 0;
}

/* Error replies of a Redis that takes no writes at all for now. */
static int
reply_refuses_writes(const char *reply)
{
	static const char *const codes[] = {
		"OOM", "MISCONF", "READONLY", "NOREPLICAS",
	};
	char inner[16];
	size_t i, n;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		n = strlen(codes[i]);
		/* as is, or wrapped by a script as "... -CODE ..." */
		snprintf(inner, sizeof(inner), "-%s ", codes[i]);
		if ((strncmp(reply, codes[i], n) == 0 && (reply[n] == ' ' ||
		    reply[n] == '\0')) || strstr(reply, inner) != NULL)
			return 1;
	}
	return 0;
}

static enum redis_health
health_classify(const char *err, int is_reply)
{
	if (!is_reply || reply_is_transient(err))
		return RH_UNREACHABLE;
	return RH_REFUSED;
}

static int
may_log(uint64_t now)
{
	return h.last_log_ms == 0 ||
	    now - h.last_log_ms >= HEALTH_LOG_INTERVAL_MS;
}

static void
log_trouble(uint64_t now)
{
	uint64_t n = h.failures - h.logged;

	if (h.logged == 0)
		logf_warn(LF(.event = h.state == RH_REFUSED ? "redis_refused" :
		    "redis_unreachable"), "Redis %s: %s failed: %s%s",
		    health_names[h.state], h.what, h.error, h.state ==
		    RH_REFUSED ? " (this lasts until Redis or its ACL is "
		    "fixed; retrying with backoff)" : "");
	else
		logf_warn(LF(.event = h.state == RH_REFUSED ? "redis_refused" :
		    "redis_unreachable"), "Redis still %s after %llu s: %llu "
		    "more commands failed (%llu in all); last: %s failed: %s",
		    health_names[h.state],
		    (unsigned long long)(now - h.since_ms) / 1000,
		    (unsigned long long)n, (unsigned long long)h.failures,
		    h.what, h.error);
	h.logged = h.failures;
	h.last_log_ms = now;
}

static void
log_recovery(void)
{
	logf_info(LF(.event = "redis_recovered"), "Redis works again after "
	    "%llu ms; %llu commands failed meanwhile",
	    (unsigned long long)h.recovered_after_ms,
	    (unsigned long long)h.recovered_failures);
	h.recovery_untold = 0;
}

void
health_redis_failed(const char *what, const char *err, int is_reply)
{
	enum redis_health kind = health_classify(err, is_reply);
	uint64_t now = mono_ms();
	int changed = 0;

	h.total[kind]++;
	if (h.state == RH_OK || (kind == RH_REFUSED && h.state != kind)) {
		changed = h.state != RH_OK;	/* worse: told at once */
		h.state = kind;
		h.since_ms = now;
		h.failures = h.logged = 0;
		h.refused_writes = 0;
		rosterd_status_changed();
	}
	if (kind == RH_REFUSED && reply_refuses_writes(err))
		h.refused_writes = 1;
	h.failures++;
	xstrlcpy(h.error, err, sizeof(h.error));
	xstrlcpy(h.what, what, sizeof(h.what));
	if (changed || may_log(now))
		log_trouble(now);
}

/*
 * A command worked; wrote: it was one that Redis refuses while it takes
 * no writes (one that may use more memory: HSET, XADD, SET, ...).
 */
void
health_redis_ok(int wrote)
{
	uint64_t now;

	if (h.state == RH_OK || (h.state == RH_REFUSED && h.refused_writes &&
	    !wrote))
		return;
	now = mono_ms();
	h.recovered_after_ms = now - h.since_ms;
	h.recovered_failures = h.failures;
	h.recovery_untold = 1;
	h.state = RH_OK;
	rosterd_status_changed();
	if (h.logged > 0)	/* its trouble was told: tell the end now */
		log_recovery();
}

static void
on_write_check(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	h.checking = 0;
	/* a failure is not counted again: the refusal goes on */
	if (r != NULL && r->type != REDIS_REPLY_ERROR)
		health_redis_ok(1);
}

/*
 * While Redis refuses writes, ask whether it takes one again: SET NX of
 * the contract key, which prepare.c set already, changes nothing (Redis
 * weighs the memory before it looks at NX).
 */
static void
write_check(void)
{
	char *key;

	if (h.state != RH_REFUSED || !h.refused_writes || h.checking ||
	    rconn_state(rd->rc) != RCONN_READY)
		return;
	/* the key spelled by keys.c: health.c sits below store.c */
	key = keys_name(rd->conf.redis_prefix, KEY_CONTRACT, NULL);
	if (rconn_command(rd->rc, 0, on_write_check, NULL, "SET %s %s NX",
	    key, CONTRACT_VERSION) == 0)
		h.checking = 1;
	free(key);
}

/*
 * From a periodic timer: check whether refused writes work again; tell
 * what the rate limit held back.
 */
void
health_tick(void)
{
	uint64_t now = mono_ms();

	write_check();
	if (!may_log(now))
		return;
	if (h.state != RH_OK && h.failures > h.logged)
		log_trouble(now);
	else if (h.state == RH_OK && h.recovery_untold) {
		log_recovery();
		h.last_log_ms = now;
	}
}

/*
 * The maxmemory-policy of the Redis rosterd works with (NULL: unknown,
 * keep what is known): anything but noeviction is a refusal, told at
 * once, until it is noeviction again.
 */
void
health_redis_policy(const char *policy)
{
	if (policy == NULL || policy[0] == '\0')
		return;
	if (strcmp(policy, "noeviction") != 0) {
		if (strcmp(h.evicting, policy) == 0)
			return;
		if (h.evicting[0] == '\0')
			h.evicting_ms = mono_ms();
		xstrlcpy(h.evicting, policy, sizeof(h.evicting));
		logf_err(LF(.event = "redis_evicting"), "Redis has "
		    "maxmemory-policy %s: under memory pressure it deletes "
		    "keys, rosterd's snapshots, jobs and tokens among them; "
		    "set maxmemory-policy noeviction (Redis health: refused "
		    "until then)", policy);
		return;
	}
	if (h.evicting[0] == '\0')
		return;
	logf_info(LF(.event = "redis_noeviction"), "Redis has "
	    "maxmemory-policy noeviction again (it was %s for %llu s)",
	    h.evicting, (unsigned long long)(mono_ms() - h.evicting_ms) /
	    1000);
	h.evicting[0] = '\0';
}

enum redis_health
health_redis(void)
{
	return h.evicting[0] != '\0' ? RH_REFUSED : h.state;
}

uint64_t
health_redis_failures(enum redis_health kind)
{
	return h.total[kind];
}

/* "ok", or what is wrong since when, for STATUS and heartbeats. */
void
health_describe(char *buf, size_t len)
{
	uint64_t now = mono_ms();
	int n = 0;

	if (h.evicting[0] != '\0')
		n = snprintf(buf, len, "refused for %llu s: maxmemory-policy "
		    "%s evicts keys (must be noeviction)",
		    (unsigned long long)(now - h.evicting_ms) / 1000,
		    h.evicting);
	if (n < 0 || (size_t)n >= len)
		return;
	if (h.state != RH_OK)
		snprintf(buf + n, len - (size_t)n, "%s%s for %llu s (%llu "
		    "failed; %s: %s)", n > 0 ? "; " : "",
		    health_names[h.state],
		    (unsigned long long)(now - h.since_ms) / 1000,
		    (unsigned long long)h.failures, h.what, h.error);
	else if (n == 0)
		snprintf(buf, len, "ok");
}
