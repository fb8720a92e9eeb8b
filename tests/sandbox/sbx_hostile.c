/*
 * Hostile responses, for the tests of what a client must survive: set per
 * token and route through the control API (POST /hostile), never drawn at
 * random, so that good teachers stay good beside hostile ones.
 *
 *	huge	200 OK, a JSON list of `bytes` bytes (default 200 MiB) with no
 *		Content-Length: delimited by the close of the connection
 *	dribble	the real response, with its Content-Length, one byte every
 *		`interval_ms` (default 100)
 *	deep	a JSON array nested 100,000 deep
 *	badutf8	the real response with invalid UTF-8 in its first name (or
 *		else its first string value)
 *
 * huge and dribble write on the connection themselves: evhttp has no way
 * to send a close-delimited body or to pace one.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "xmalloc.h"
#include "sandbox.h"

const char *const hostile_names[HOSTILE_MAX] = {
	"none", "huge", "dribble", "deep", "badutf8",
};

#define DEEP		100000
#define HUGE_DEFAULT	(200ULL * 1024 * 1024)
#define HUGE_CHUNK	(256 * 1024)

int
hostile_kind_parse(const char *s)
{
	int	i;

	for (i = 0; i < HOSTILE_MAX; i++)
		if (strcmp(s, hostile_names[i]) == 0)
			return i;
	return -1;
}

/* Add, replace or (kind none) remove the rule of token and route. */
int
hostile_set(struct sbx *sbx, const char *token, const char *route,
    enum hostile_kind kind, uint64_t bytes, unsigned interval_ms)
{
	struct hostile_rule	*h;
	size_t			 i;

	for (i = 0; i < sbx->nhostile; i++) {
		h = &sbx->hostile[i];
		if (strcmp(h->token, token) == 0 && strcmp(h->route, route) == 0)
			break;
	}
	if (i == sbx->nhostile) {
		if (kind == HOSTILE_NONE)
			return 0;
		if (sbx->nhostile == HOSTILE_RULES_MAX)
			return -1;
		sbx->nhostile++;
	}
	h = &sbx->hostile[i];
	if (kind == HOSTILE_NONE) {
		sbx->hostile[i] = sbx->hostile[--sbx->nhostile];
		return 0;
	}
	snprintf(h->token, sizeof h->token, "%s", token);
	snprintf(h->route, sizeof h->route, "%s", route);
	h->kind = kind;
	h->bytes = bytes > 0 ? bytes : HUGE_DEFAULT;
	h->interval_ms = interval_ms > 0 ? interval_ms : 100;
	return 0;
}

const struct hostile_rule *
hostile_match(struct sbx *sbx, const char *token, const char *route)
{
	size_t	i;

	if (token == NULL)
		return NULL;
	for (i = 0; i < sbx->nhostile; i++)
		if (strcmp(sbx->hostile[i].token, token) == 0 &&
		    (strcmp(sbx->hostile[i].route, "*") == 0 ||
		    strcmp(sbx->hostile[i].route, route) == 0))
			return &sbx->hostile[i];
	return NULL;
}

/* A connection we write on ourselves. */
struct hostile_conn {
	struct sbx		*sbx;
	struct evhttp_request	*req;
	struct evhttp_connection *evcon;
	struct bufferevent	*bev;
	enum hostile_kind	 kind;
	char			*body;		/* dribble: what is left */
	size_t			 len, off;
	uint64_t		 left;		/* huge: bytes still to send */
	int			 items;		/* huge: items sent */
	unsigned		 interval_ms;
	struct event		*ev;		/* start, then the pace */
	TAILQ_ENTRY(hostile_conn) entry;
};

static void
hconn_free(struct hostile_conn *hc)
{
	TAILQ_REMOVE(&hc->sbx->hostile_conns, hc, entry);
	if (hc->evcon == NULL)
		hc->evcon = evhttp_request_get_connection(hc->req);
	if (hc->evcon != NULL)
		evhttp_connection_free(hc->evcon);	/* frees req too */
	else
		evhttp_request_free(hc->req);		/* peer gone */
	event_free(hc->ev);
	free(hc->body);
	free(hc);
}

/* Top up the output with list items until the announced size is sent. */
static void
huge_fill(struct hostile_conn *hc)
{
	struct evbuffer	*out = bufferevent_get_output(hc->bev);
	char		 item[256];
	int		 n;

	while (hc->left > 0 && evbuffer_get_length(out) < HUGE_CHUNK) {
		n = snprintf(item, sizeof item, "%s{\"data\":{\"id\":\"%024x\","
		    "\"name\":{\"first\":\"Item\",\"last\":\"N\"},\"roles\":"
		    "{\"student\":{\"grade\":\"5\"}}},\"uri\":\"/v3.0/users/"
		    "%024x\"}", hc->items > 0 ? "," : "", hc->items,
		    hc->items);
		hc->items++;
		if ((uint64_t)n > hc->left)
			n = (int)hc->left;
		evbuffer_add(out, item, (size_t)n);
		hc->left -= (uint64_t)n;
	}
}

static void
hconn_write_cb(struct bufferevent *bev, void *arg)
{
	struct hostile_conn	*hc = arg;

	(void)bev;
	if (hc->kind == HOSTILE_HUGE && hc->left > 0) {
		huge_fill(hc);
		return;
	}
	if (hc->kind == HOSTILE_HUGE || hc->off == hc->len)
		hconn_free(hc);		/* all out: close (the delimiter) */
}

static void
hconn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	hconn_free(arg);		/* the client left */
}

static void
dribble_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hostile_conn	*hc = arg;
	struct timeval		 tv;

	(void)fd;
	(void)what;
	if (hc->off == hc->len)
		return;			/* the write callback closes */
	bufferevent_write(hc->bev, hc->body + hc->off++, 1);
	tv.tv_sec = hc->interval_ms / 1000;
	tv.tv_usec = (hc->interval_ms % 1000) * 1000;
	evtimer_add(hc->ev, &tv);
}

/* Out of evhttp's callback: take the connection over and start. */
static void
hconn_start(evutil_socket_t fd, short what, void *arg)
{
	struct hostile_conn	*hc = arg;
	char			 head[256];

	(void)fd;
	(void)what;
	if ((hc->evcon = evhttp_request_get_connection(hc->req)) == NULL ||
	    (hc->bev = evhttp_connection_get_bufferevent(hc->evcon)) == NULL) {
		hconn_free(hc);
		return;
	}
	bufferevent_set_timeouts(hc->bev, NULL, NULL);
	bufferevent_disable(hc->bev, EV_READ);
	bufferevent_setcb(hc->bev, NULL, hconn_write_cb, hconn_event_cb, hc);
	bufferevent_enable(hc->bev, EV_WRITE);
	if (hc->kind == HOSTILE_HUGE) {
		static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: "
		    "application/json; charset=utf-8\r\nConnection: close\r\n"
		    "\r\n", open[] = "{\"data\":[";

		bufferevent_write(hc->bev, h, sizeof h - 1);
		bufferevent_write(hc->bev, open, sizeof open - 1);
		hc->left -= sizeof open - 1;
		huge_fill(hc);
		return;
	}
	snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json; charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
	    hc->len);
	bufferevent_write(hc->bev, head, strlen(head));
	event_free(hc->ev);
	hc->ev = evtimer_new(hc->sbx->base, dribble_cb, hc);
	dribble_cb(-1, 0, hc);
}

static void
body_set(struct sbuf *body, const char *p, size_t len)
{
	free(body->p);
	body->p = xmalloc(len + 1);
	memcpy(body->p, p, len);
	body->len = body->cap = len;
}

/*
 * Answer req as rule h says.  body is the real response; it is replaced
 * (deep, badutf8: the caller delivers it) or taken (huge, dribble: 1 is
 * returned and the response is ours).
 */
int
hostile_apply(struct sbx *sbx, struct evhttp_request *req,
    const struct hostile_rule *h, struct sbuf *body)
{
	struct hostile_conn	*hc;
	struct timeval		 now = { 0, 0 };
	char			*p, *at;
	size_t			 i;

	sbx->stats.hostile[h->kind]++;
	switch (h->kind) {
	case HOSTILE_DEEP:
		p = xmalloc(2 * DEEP);
		for (i = 0; i < DEEP; i++) {
			p[i] = '[';
			p[2 * DEEP - 1 - i] = ']';
		}
		body_set(body, p, 2 * DEEP);
		free(p);
		return 0;
	case HOSTILE_BADUTF8:
		/* "\xff\xfe" are never UTF-8: put them in a name */
		if (body->len > 0 && ((at = memmem(body->p, body->len,
		    "\"first\":\"", 9)) != NULL || (at = memmem(body->p,
		    body->len, "\":\"", 3)) != NULL)) {
			p = xmalloc(body->len + 2);
			i = (size_t)(at - body->p) + (at[1] == 'f' ? 9 : 3);
			memcpy(p, body->p, i);
			memcpy(p + i, "\xff\xfe", 2);
			memcpy(p + i + 2, body->p + i, body->len - i);
			body_set(body, p, body->len + 2);
			free(p);
		}
		return 0;
	default:
		break;
	}
	hc = xcalloc(1, sizeof *hc);
	hc->sbx = sbx;
	hc->req = req;
	hc->kind = h->kind;
	hc->interval_ms = h->interval_ms;
	hc->left = h->bytes < 16 ? 16 : h->bytes;
	hc->body = body->p;
	hc->len = body->len;
	body->p = NULL;
	body->len = body->cap = 0;
	hc->ev = evtimer_new(sbx->base, hconn_start, hc);
	evtimer_add(hc->ev, &now);
	TAILQ_INSERT_TAIL(&sbx->hostile_conns, hc, entry);
	return 1;
}

size_t
hostile_active(struct sbx *sbx)
{
	struct hostile_conn	*hc;
	size_t			 n = 0;

	TAILQ_FOREACH(hc, &sbx->hostile_conns, entry)
		n++;
	return n;
}

/* At exit, before evhttp_free(): close what we took over. */
void
hostile_flush(struct sbx *sbx)
{
	struct hostile_conn	*hc;

	while ((hc = TAILQ_FIRST(&sbx->hostile_conns)) != NULL)
		hconn_free(hc);
}
