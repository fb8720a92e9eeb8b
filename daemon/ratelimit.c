/*
 * Request permits shared by every rosterd instance through Redis, so that
 * all of them together stay under Clever's limits.  Clever counts requests
 * in buckets (X-RateLimit-Bucket): the token's own ("bearer") and possibly
 * buckets the whole application shares.  Each request draws from every
 * bucket it is known to fall in: its token's scope (known by its owner,
 * "teacher:ID" or "district:ID", never by the token) and the application's
 * scope; the buckets are learned from the headers (permit.lua,
 * observe.lua).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define APP_SCOPE	"app"
#define DEMAND_SCOPE	"demand"		/* queued demand per token */

struct permit {
	permit_cb	 cb;
	void		*arg;
};

static void
on_permit(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct permit *p = arg;

	if (r == NULL)
		p->cb(0, 0, 0, err, p->arg);
	else if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    r->element[2]->type != REDIS_REPLY_INTEGER)
		p->cb(0, 0, 0, r->type == REDIS_REPLY_ERROR ? r->str :
		    "bad reply", p->arg);
	else
		p->cb((unsigned)r->element[0]->integer,
		    (uint64_t)(r->element[1]->integer < 0 ? 0 :
		    r->element[1]->integer), r->element[2]->integer != 0, NULL,
		    p->arg);
	free(p);
}

/*
 * Ask for n permits, from at most share_pct percent of each window (100
 * for the app's requests; less for scheduled work, which leaves the rest
 * to them); cb gets how many were granted (possibly fewer, once a window
 * runs out), when not all the ms to wait before asking again, and whether
 * they were granted cold (their responses must be observed).  The caller
 * names itself (unique while it waits, the same each time it asks) so that
 * its token's queued demand is counted once: permit.lua gives the
 * application's buckets first to the token on the critical path.
 */
void
ratelimit_acquire_as(const char *owner, const char *caller, unsigned n,
    int share_pct, permit_cb cb, void *arg)
{
	struct permit *p = xmalloc(sizeof(*p));
	struct script_call *sc = script_new(SCRIPT_PERMIT);

	p->cb = cb;
	p->arg = arg;
	script_key(sc, key_ratelimit(owner));
	script_key(sc, key_ratelimit(APP_SCOPE));
	script_key(sc, key_ratelimit(DEMAND_SCOPE));
	script_num(sc, n);
	script_num(sc, rd->conf.clever_rate_limit);
	script_num(sc, rd->conf.clever_rate_window_s * 1000LL);
	script_num(sc, share_pct);
	script_arg(sc, caller);
	script_run(sc, on_permit, p);
}

/* As above for callers that do not name themselves: one entry per token. */
void
ratelimit_acquire(const char *owner, unsigned n, int share_pct, permit_cb cb,
    void *arg)
{
	ratelimit_acquire_as(owner, "", n, share_pct, cb, arg);
}

static void
on_observe(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL)
		log_debug("rate-limit update failed: %s", err);
}

/* Is a bucket of this name the token's own (else the application's)? */
static int
token_bucket(const char *name)
{
	const char *list = rd->conf.clever_token_buckets, *p = list;
	size_t n = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ',' || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return 1;
		p += n;
	}
	return 0;
}

/* Tell the shared windows what Clever's headers said. */
void
ratelimit_observe(const char *owner, const struct http_ratelimit *rl,
    int was_429)
{
	struct http_bucket b[HTTP_RL_MAX_BUCKETS];
	struct script_call *sc = script_new(SCRIPT_OBSERVE);
	int n, i;

	n = rl->present ? http_ratelimit_buckets(rl, b, HTTP_RL_MAX_BUCKETS) :
	    0;
	script_key(sc, key_ratelimit(owner));
	script_key(sc, key_ratelimit(APP_SCOPE));
	script_arg(sc, was_429 ? "1" : "0");
	script_num(sc, rd->conf.clever_rate_window_s * 1000LL);
	script_num(sc, n);
	for (i = 0; i < n; i++) {
		/* a response that names no bucket speaks of the token's */
		if (b[i].name[0] == '\0')
			snprintf(b[i].name, sizeof(b[i].name), "bearer");
		script_arg(sc, b[i].name);
		script_arg(sc, token_bucket(b[i].name) ? "t" : "a");
		script_num(sc, b[i].limit < 0 ? 0 : b[i].limit);
		script_num(sc, b[i].remaining < 0 ? 0 : b[i].remaining);
		script_num(sc, b[i].reset);
	}
	script_run(sc, on_observe, NULL);
}
