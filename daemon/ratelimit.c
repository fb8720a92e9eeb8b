/*
 * Request permits per bearer token, shared by every rosterd instance through
 * Redis, so that all of them together stay under Clever's limit.  The token
 * is known by its owner ("teacher:ID" or "district:ID"), never by itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

struct permit {
	permit_cb	 cb;
	void		*arg;
};

static void
on_permit(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct permit *p = arg;

	if (r == NULL)
		p->cb(0, 0, err, p->arg);
	else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER)
		p->cb(0, 0, r->type == REDIS_REPLY_ERROR ? r->str :
		    "bad reply", p->arg);
	else
		p->cb((unsigned)r->element[0]->integer,
		    (uint64_t)(r->element[1]->integer < 0 ? 0 :
		    r->element[1]->integer), NULL, p->arg);
	free(p);
}

/*
 * Ask for n permits; cb gets how many were granted (possibly fewer, once
 * the window runs out) and, when not all, the ms to wait before asking
 * again.
 */
void
ratelimit_acquire(const char *owner, unsigned n, permit_cb cb, void *arg)
{
	struct permit *p = xmalloc(sizeof(*p));
	char *key = key_ratelimit(owner), limit[16], window[24], nbuf[16];
	const char *argv[4];

	p->cb = cb;
	p->arg = arg;
	snprintf(limit, sizeof(limit), "%d", rd->conf.clever_rate_limit);
	snprintf(window, sizeof(window), "%d",
	    rd->conf.clever_rate_window_s * 1000);
	snprintf(nbuf, sizeof(nbuf), "%u", n);
	argv[0] = key;
	argv[1] = nbuf;
	argv[2] = limit;
	argv[3] = window;
	store_eval(SCRIPT_PERMIT, 1, 4, argv, NULL, on_permit, p);
	free(key);
}

static void
on_observe(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL)
		log_debug("rate-limit update failed: %s", err);
}

/* Tell the shared window what Clever's headers said. */
void
ratelimit_observe(const char *owner, const struct http_ratelimit *rl,
    int was_429)
{
	char *key, limit[24], remaining[24], reset[24], window[24];
	const char *argv[6];

	if (!rl->present && !was_429)
		return;
	key = key_ratelimit(owner);
	snprintf(limit, sizeof(limit), "%ld", rl->present ? rl->limit : 0);
	snprintf(remaining, sizeof(remaining), "%ld",
	    rl->present ? rl->remaining : 0);
	snprintf(reset, sizeof(reset), "%lld",
	    (long long)(rl->present ? rl->reset : 0));
	snprintf(window, sizeof(window), "%d",
	    rd->conf.clever_rate_window_s * 1000);
	argv[0] = key;
	argv[1] = limit;
	argv[2] = remaining;
	argv[3] = reset;
	argv[4] = was_429 ? "1" : "0";
	argv[5] = window;
	store_eval(SCRIPT_OBSERVE, 1, 6, argv, NULL, on_observe, NULL);
	free(key);
}
