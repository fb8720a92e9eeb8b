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
 * Every failure is counted.  The first of a run of failures is logged at
 * once, the rest as summaries (how many, for how long) at most every
 * HEALTH_LOG_INTERVAL_MS; the recovery from a run that was logged is
 * logged at once, so that flapping costs at most two lines per interval.
 * STATUS, heartbeats and metrics read the figures here.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
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
	uint64_t		 total[RH_COUNT];
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
	}
	h.failures++;
	xstrlcpy(h.error, err, sizeof(h.error));
	xstrlcpy(h.what, what, sizeof(h.what));
	if (changed || may_log(now))
		log_trouble(now);
}

void
health_redis_ok(void)
{
	uint64_t now;

	if (h.state == RH_OK)
		return;
	now = mono_ms();
	h.recovered_after_ms = now - h.since_ms;
	h.recovered_failures = h.failures;
	h.recovery_untold = 1;
	h.state = RH_OK;
	if (h.logged > 0)	/* its trouble was told: tell the end now */
		log_recovery();
}

/* From a periodic timer: tell what the rate limit held back. */
void
health_tick(void)
{
	uint64_t now = mono_ms();

	if (!may_log(now))
		return;
	if (h.state != RH_OK && h.failures > h.logged)
		log_trouble(now);
	else if (h.state == RH_OK && h.recovery_untold) {
		log_recovery();
		h.last_log_ms = now;
	}
}

enum redis_health
health_redis(void)
{
	return h.state;
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
	if (h.state == RH_OK)
		snprintf(buf, len, "ok");
	else
		snprintf(buf, len, "%s for %llu s (%llu failed; %s: %s)",
		    health_names[h.state],
		    (unsigned long long)(mono_ms() - h.since_ms) / 1000,
		    (unsigned long long)h.failures, h.what, h.error);
}
