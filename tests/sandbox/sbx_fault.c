/*
 * Fault injection and response delivery: seeded, reproducible faults
 * (5xx, 429, HTML 404, malformed or truncated bodies, resets, stalls)
 * and a fixed added latency on libevent timers.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "xmalloc.h"
#include "sandbox.h"

const char *const fault_names[FAULT_MAX] = {
	"500", "502", "503", "429", "html404", "malformed", "truncated",
	"reset", "stall",
};

int
fault_kind_parse(const char *s)
{
	int	i;

	for (i = 0; i < FAULT_MAX; i++)
		if (strcmp(s, fault_names[i]) == 0)
			return i;
	return -1;
}

void
fault_reseed(struct faults *f, uint64_t seed)
{
	f->seed = seed;
	rng_seed(&f->rng, seed);
}

/* Exactly one draw per call, whatever the rates, so runs line up. */
enum fault_kind
fault_draw(struct faults *f)
{
	double	x = rng_unit(&f->rng), acc = 0;
	int	i;

	for (i = 0; i < FAULT_MAX; i++) {
		acc += f->rate[i];
		if (x < acc)
			return (enum fault_kind)i;
	}
	return FAULT_NONE;
}

static const char html404[] =
    "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
    "<body><h1>Not Found</h1><p>The requested URL was not found on this "
    "server.</p></body></html>\n";
static const char envoy_503[] =
    "upstream connect error or disconnect/reset before headers. "
    "reset reason: connection failure";

static void
body_set(struct reply *rp, const char *s)
{
	free(rp->body);
	rp->body = xstrdup(s);
	rp->len = strlen(s);
}

/* Turn the real response into the injected fault. */
static void
fault_apply(struct reply *rp)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(rp->req);

	switch (rp->fault) {
	case FAULT_500:
		rp->code = 500;
		body_set(rp, "{\"message\":\"Internal Server Error\"}");
		break;
	case FAULT_502:
	case FAULT_503:
		rp->code = rp->fault == FAULT_502 ? 502 : 503;
		evhttp_remove_header(h, "Content-Type");
		evhttp_add_header(h, "Content-Type", "text/plain");
		body_set(rp, envoy_503);
		break;
	case FAULT_429:
		rp->code = 429;
		rp->len = 0;
		break;
	case FAULT_HTML404:
		rp->code = 404;
		evhttp_remove_header(h, "Content-Type");
		evhttp_add_header(h, "Content-Type",
		    "text/html; charset=utf-8");
		body_set(rp, html404);
		break;
	case FAULT_MALFORMED:
		/* Cut mid-document and add junk: never valid JSON. */
		rp->len = rp->len / 2;
		rp->body = xrealloc(rp->body, rp->len + 16);
		memcpy(rp->body + rp->len, "\",]}<<<", 7);
		rp->len += 7;
		rp->code = 200;
		break;
	default:
		break;
	}
}

static void
free_body(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/* A reset: close with SO_LINGER 0 so the peer sees RST, not FIN. */
static void
deliver_reset(struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	struct linger			 l = { 1, 0 };
	evutil_socket_t			 fd;

	if ((evcon = evhttp_request_get_connection(req)) == NULL) {
		evhttp_request_free(req);	/* peer already gone */
		return;
	}
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (fd != -1)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	evhttp_connection_free(evcon);
}

static void
deliver_now(struct reply *rp)
{
	struct evhttp_request	*req = rp->req;
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*ob = evhttp_request_get_output_buffer(req);
	const char		*reason;
	char			 cl[32];

	if (rp->fault == FAULT_RESET) {
		deliver_reset(req);
		return;
	}
	if (rp->fault == FAULT_TRUNCATED && rp->len > 0) {
		/* Promise the whole body, send half, then hang up. */
		snprintf(cl, sizeof cl, "%zu", rp->len);
		evhttp_add_header(h, "Content-Length", cl);
		evhttp_add_header(h, "Connection", "close");
		rp->len /= 2;
	}
	if (rp->len > 0) {
		evbuffer_add_reference(ob, rp->body, rp->len, free_body, NULL);
		rp->body = NULL;
	} else
		evhttp_remove_header(h, "Content-Type");
	switch (rp->code) {
	case 200:
		reason = "OK";
		break;
	case 304:
		reason = "Not Modified";
		break;
	case 429:
		reason = "Too Many Requests";
		break;
	default:
		reason = NULL;	/* libevent picks the standard phrase */
	}
	evhttp_send_reply(req, rp->code, reason, NULL);
}

static void
reply_free(struct reply *rp)
{
	if (rp->ev != NULL)
		event_free(rp->ev);
	free(rp->body);
	free(rp);
}

static void
reply_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct reply	*rp = arg;

	(void)fd;
	(void)ev;
	TAILQ_REMOVE(&rp->sbx->pending, rp, entry);
	deliver_now(rp);
	reply_free(rp);
}

/* Send a response now, after the configured latency, or never. */
void
api_deliver(struct sbx *sbx, struct evhttp_request *req, int code,
    struct sbuf *body, enum fault_kind fault)
{
	struct reply	*rp = xcalloc(1, sizeof *rp);
	unsigned	 ms = sbx->faults.latency_ms;
	struct timeval	 tv;

	rp->sbx = sbx;
	rp->req = req;
	rp->code = code;
	rp->fault = fault;
	rp->body = body->p;
	rp->len = body->len;
	body->p = NULL;
	body->len = body->cap = 0;
	if (fault != FAULT_NONE) {
		sbx->stats.fault[fault]++;
		fault_apply(rp);
	}
	if (fault == FAULT_STALL) {
		TAILQ_INSERT_TAIL(&sbx->pending, rp, entry);
		return;
	}
	/* A reset is deferred so evhttp is not freed under its callback. */
	if (ms == 0 && fault != FAULT_RESET) {
		deliver_now(rp);
		reply_free(rp);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	rp->ev = evtimer_new(sbx->base, reply_timer, rp);
	evtimer_add(rp->ev, &tv);
	TAILQ_INSERT_TAIL(&sbx->pending, rp, entry);
}

/*
 * At exit: requests whose peer left are ours to free; the rest belong to
 * live connections that evhttp_free() tears down.
 */
void
api_flush_pending(struct sbx *sbx)
{
	struct reply	*rp;

	while ((rp = TAILQ_FIRST(&sbx->pending)) != NULL) {
		TAILQ_REMOVE(&sbx->pending, rp, entry);
		if (evhttp_request_get_connection(rp->req) == NULL)
			evhttp_request_free(rp->req);
		reply_free(rp);
	}
}
