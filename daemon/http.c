/*
 * Asynchronous HTTP GET on libevent with curl multi, wired as curl's
 * docs/examples/hiperfifo.c: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to wake it (CURLMOPT_TIMERFUNCTION);
 * libevent calls curl_multi_socket_action() back and finished transfers are
 * collected with curl_multi_info_read().  One multi handle keeps the
 * connection cache, so easy handles are per request and connections are
 * reused across requests.
 *
 * A body's bytes are kept as they arrive and parsed once complete; a body
 * over max_body aborts the transfer as soon as it passes the limit.  No
 * transfer waits for another: a slow or idle one holds only its bytes.  The bearer token only ever goes into the
 * Authorization header list, which is wiped when the request ends; verbose
 * mode stays off and error messages come from curl's error buffer, which
 * never quotes request headers.
 *
 * Re-entrancy: user callbacks run from check_multi_info() and may start,
 * cancel or free anything, the client included.  Entry points from the
 * loop bracket their work with client_enter()/client_leave(); freeing the
 * client while busy only marks it dead and the last leave frees it.
 */

#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

#define HTTP_DEF_CONNECT_TIMEOUT_MS	10000
#define HTTP_DEF_REQUEST_TIMEOUT_MS	30000
#define HTTP_DEF_MAX_BODY		(64UL * 1024 * 1024)
#define HTTP_DEF_MAX_CONNECTIONS	8
#define HTTP_DEF_USER_AGENT		"rosterd"

enum req_state {
	REQ_NEW,
	REQ_RUNNING,		/* in the multi handle */
	REQ_FAILED_EARLY,	/* could not start; reported from a timer */
	REQ_COMPLETING,		/* its callback is running */
};

struct http_sock {
	LIST_ENTRY(http_sock)	 entry;
	struct http_client	*c;
	curl_socket_t		 fd;
	struct event		*ev;
};

/*
 * Easy handles kept for reuse: curl_easy_reset() keeps what a handle
 * allocated, so a request costs no handle setup and teardown.
 */
#define IDLE_EASY	64

struct http_req {
	TAILQ_ENTRY(http_req)	 entry;
	struct http_client	*c;
	enum req_state		 state;
	CURL			*easy;
	struct curl_slist	*headers;
	http_cb			 cb;
	void			*arg;
	uint64_t		 start_ms;

	struct http_body	 body;
	json_object		*json;
	int			 too_large;
	int			 unchanged;	/* If-None-Match's entity */
	int			 keep_text;	/* http_keep_text() */
	size_t			 skipped;	/* its bytes, counted only */

	struct http_ratelimit	 rl;
	char			*inm;		/* If-None-Match sent, or NULL */
	char			 etag[HTTP_ETAG_MAX + 1];	/* "" if none */
	struct event		*fail_ev;	/* REQ_FAILED_EARLY */
	const char		*fail_error;
	char			 errbuf[CURL_ERROR_SIZE];
};

struct http_client {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	TAILQ_HEAD(, http_req)	 reqs;
	LIST_HEAD(, http_sock)	 socks;
	size_t			 inflight;
	unsigned long		 connections;

	char			*ca_file;
	char			*user_agent;
	long			 connect_timeout_ms;
	long			 request_timeout_ms;
	size_t			 max_body;
	long			 max_connections;

	CURL			*idle[IDLE_EASY];	/* for reuse */
	int			 nidle;

	int			 busy;
	int			 dead;
};

static void	client_destroy(struct http_client *);
static void	check_multi_info(struct http_client *);

static void
client_enter(struct http_client *c)
{
	c->busy++;
}

static void
client_leave(struct http_client *c)
{
	if (--c->busy == 0 && c->dead)
		client_destroy(c);
}

static void
curl_init_once(void)
{
	static int	done;

	if (done)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	done = 1;
}

/* ---- Rate-limit headers ------------------------------------------------ */

enum rl_field { RL_LIMIT, RL_REMAINING, RL_RESET, RL_BUCKET };

static const char *
trim(const char *s, const char *end, const char **endp)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*endp = end;
	return s;
}

static int64_t
parse_int(const char *s, const char *end)
{
	char	 buf[32];
	char	*ep;
	size_t	 len = (size_t)(end - s);
	long long v;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtoll(buf, &ep, 10);
	if (*ep != '\0' || errno != 0 || v < 0)
		return -1;
	return v;
}

static int
rl_field_of(const char *name, size_t len)
{
	static const struct {
		const char	*name;
		enum rl_field	 field;
	} names[] = {
		{ "x-ratelimit-limit", RL_LIMIT },
		{ "x-ratelimit-remaining", RL_REMAINING },
		{ "x-ratelimit-reset", RL_RESET },
		{ "x-ratelimit-bucket", RL_BUCKET },
	};
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == len &&
		    strncasecmp(name, names[i].name, len) == 0)
			return names[i].field;
	}
	return -1;
}

static void
rl_append(struct http_ratelimit *rl, enum rl_field f, const char *s,
    const char *end)
{
	int	 i = rl->acc.n[f];
	size_t	 len, k;

	if (i >= HTTP_RL_MAX_BUCKETS)
		return;
	rl->acc.n[f]++;
	switch (f) {
	case RL_LIMIT:
		rl->acc.limit[i] = (long)parse_int(s, end);
		break;
	case RL_REMAINING:
		rl->acc.remaining[i] = (long)parse_int(s, end);
		break;
	case RL_RESET:
		rl->acc.reset[i] = parse_int(s, end);
		break;
	case RL_BUCKET:
		len = (size_t)(end - s);
		if (len >= sizeof(rl->acc.bucket[i]))
			len = sizeof(rl->acc.bucket[i]) - 1;
		for (k = 0; k < len; k++)	/* it may end up in a log */
			rl->acc.bucket[i][k] = isprint((unsigned char)s[k]) ?
			    s[k] : '?';
		rl->acc.bucket[i][len] = '\0';
		break;
	}
}

/* Index of bucket i's value of field f, -1 if that bucket did not say. */
static int
rl_index(const struct http_ratelimit *rl, enum rl_field f, int i)
{
	if (rl->acc.n[f] == 1)
		return 0;		/* one value for every bucket */
	return i < rl->acc.n[f] ? i : -1;
}

static int
rl_count(const struct http_ratelimit *rl)
{
	int	n = 0, k;

	for (k = 0; k < 4; k++)
		if (rl->acc.n[k] > n)
			n = rl->acc.n[k];
	return n;
}

int
http_ratelimit_buckets(const struct http_ratelimit *rl, struct http_bucket *b,
    int max)
{
	int	n = rl_count(rl), i, k;

	for (i = 0; i < n && i < max; i++) {
		k = rl_index(rl, RL_BUCKET, i);
		snprintf(b[i].name, sizeof(b[i].name), "%s",
		    k == -1 ? "" : rl->acc.bucket[k]);
		k = rl_index(rl, RL_LIMIT, i);
		b[i].limit = k == -1 ? -1 : rl->acc.limit[k];
		k = rl_index(rl, RL_REMAINING, i);
		b[i].remaining = k == -1 ? -1 : rl->acc.remaining[k];
		k = rl_index(rl, RL_RESET, i);
		b[i].reset = k == -1 || rl->acc.reset[k] < 0 ? 0 :
		    rl->acc.reset[k];
	}
	return i;
}

/* Point the public fields at the bucket with the lowest remaining. */
static void
rl_resolve(struct http_ratelimit *rl)
{
	int	n = rl_count(rl), i, k, best = 0;
	long	rem, best_rem = -1;

	for (i = 0; i < n; i++) {
		if ((k = rl_index(rl, RL_REMAINING, i)) == -1)
			continue;
		rem = rl->acc.remaining[k];
		if (rem >= 0 && (best_rem < 0 || rem < best_rem)) {
			best_rem = rem;
			best = i;
		}
	}
	k = rl_index(rl, RL_LIMIT, best);
	rl->limit = k == -1 ? -1 : rl->acc.limit[k];
	k = rl_index(rl, RL_REMAINING, best);
	rl->remaining = k == -1 ? -1 : rl->acc.remaining[k];
	k = rl_index(rl, RL_RESET, best);
	rl->reset = k == -1 || rl->acc.reset[k] < 0 ? 0 : rl->acc.reset[k];
	k = rl_index(rl, RL_BUCKET, best);
	snprintf(rl->bucket, sizeof(rl->bucket), "%s",
	    k == -1 ? "" : rl->acc.bucket[k]);
}

void
http_ratelimit_header(struct http_ratelimit *rl, const char *line, size_t len)
{
	const char	*end = line + len, *colon, *name_end, *v, *v_end, *item;
	const char	*comma, *item_end;
	int		 f;

	if ((colon = memchr(line, ':', len)) == NULL)
		return;
	line = trim(line, colon, &name_end);
	if ((f = rl_field_of(line, (size_t)(name_end - line))) == -1)
		return;
	v = trim(colon + 1, end, &v_end);
	rl->present = 1;
	for (item = v; item <= v_end; item = comma + 1) {
		if ((comma = memchr(item, ',', (size_t)(v_end - item))) == NULL)
			comma = v_end;
		item = trim(item, comma, &item_end);
		rl_append(rl, f, item, item_end);
		if (comma == v_end)
			break;
	}
	rl_resolve(rl);
}

/* ---- Request bookkeeping ------------------------------------------------ */

static void
req_wipe_headers(struct http_req *r)
{
	struct curl_slist	*h;

	/* The list holds the bearer token: leave nothing of it in the heap. */
	for (h = r->headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(r->headers);
	r->headers = NULL;
}

/* A fresh easy handle: a reused one, reset, or a new one. */
static CURL *
easy_get(struct http_client *c)
{
	CURL	*e;

	if (c->nidle == 0)
		return curl_easy_init();
	e = c->idle[--c->nidle];
	curl_easy_reset(e);
	return e;
}

static void
easy_put(struct http_client *c, CURL *e)
{
	if (c->nidle < IDLE_EASY && !c->dead)
		c->idle[c->nidle++] = e;
	else
		curl_easy_cleanup(e);
}

/* Release everything; the request must be off the client's list. */
static void
req_free(struct http_req *r)
{
	if (r->easy != NULL) {
		if (r->state == REQ_RUNNING)
			curl_multi_remove_handle(r->c->multi, r->easy);
		easy_put(r->c, r->easy);
	}
	req_wipe_headers(r);
	if (r->fail_ev != NULL)
		event_free(r->fail_ev);
	http_body_free(&r->body);
	json_object_put(r->json);
	free(r->inm);
	free(r);
}

static void
req_unlink(struct http_req *r)
{
	struct http_client *c = r->c;

	TAILQ_REMOVE(&c->reqs, r, entry);
	c->inflight--;
}

/* ---- Body --------------------------------------------------------------- */

#define BODY_MIN_CAP	16384

void
http_body_init(struct http_body *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

static void
body_grow(struct http_body *b, size_t want)
{
	size_t cap = b->cap > 0 ? b->cap : BODY_MIN_CAP;

	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	/* never more room than the limit: large blocks are mremap'ed */
	if (cap > b->max)
		cap = b->max;
	if (cap < want)
		cap = want;
	b->buf = xrealloc(b->buf, cap);
	b->cap = cap;
}

void
http_body_reserve(struct http_body *b, size_t n)
{
	if (n <= b->max && n > b->cap)
		body_grow(b, n);
}

int
http_body_add(struct http_body *b, const char *p, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return -1;
	if (b->len + n > b->cap)
		body_grow(b, b->len + n);
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	return 0;
}

static int
all_space(const char *p, size_t n)
{
	while (n-- > 0)
		if (!isspace((unsigned char)*p++))
			return 0;
	return 1;
}

json_object *
http_body_parse(const struct http_body *b, const char **err)
{
	json_tokener		*tok;
	json_object		*o;
	enum json_tokener_error	 jerr;
	size_t			 end;

	*err = NULL;
	if (b->len == 0)
		return NULL;
	if (b->len > INT_MAX / 2) {
		*err = "body too large to parse";
		return NULL;
	}
	if ((tok = json_tokener_new()) == NULL)
		fatalx("%s: json_tokener_new", __func__);
	o = json_tokener_parse_ex(tok, b->buf, (int)b->len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (o == NULL && jerr == json_tokener_continue) {
		/* a number at the very end: only the end can complete it */
		o = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = b->len;
	}
	json_tokener_free(tok);
	if (o == NULL) {
		*err = jerr == json_tokener_continue ||
		    jerr == json_tokener_error_parse_eof ? "truncated JSON" :
		    json_tokener_error_desc(jerr);
		return NULL;
	}
	if (end < b->len && !all_space(b->buf + end, b->len - end)) {
		json_object_put(o);
		*err = "data after the JSON value";
		return NULL;
	}
	return o;
}

void
http_body_free(struct http_body *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
}

/* Is this the 200 of the entity the request named in If-None-Match? */
static int
req_same_entity(const struct http_req *r)
{
	long	status = 0;

	if (r->inm == NULL || strcmp(r->inm, r->etag) != 0)
		return 0;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	return status == 200;
}

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct http_req	*r = arg;
	size_t		 n = size * nmemb;

	/* A server that ignores If-None-Match: count the bytes, keep none. */
	if (r->body.len == 0 && !r->unchanged && req_same_entity(r))
		r->unchanged = 1;
	if (r->unchanged) {
		if (n > r->body.max || r->skipped > r->body.max - n) {
			r->too_large = 1;
			return 0;
		}
		r->skipped += n;
		return n;
	}
	if (http_body_add(&r->body, p, n) == -1) {
		/* over the limit: drop what we have and stop at once */
		http_body_free(&r->body);
		r->too_large = 1;
		return 0;	/* aborts the transfer: CURLE_WRITE_ERROR */
	}
	return n;
}

/* ---- Headers ------------------------------------------------------------ */

static int
header_is(const char *line, size_t len, const char *name)
{
	size_t	nlen = strlen(name);

	return len > nlen && line[nlen] == ':' &&
	    strncasecmp(line, name, nlen) == 0;
}

static size_t
header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
	struct http_req	*r = arg;
	size_t		 n = size * nmemb;
	const char	*v, *end;
	int64_t		 cl;

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx): forget the previous one's. */
		memset(&r->rl, 0, sizeof(r->rl));
		r->etag[0] = '\0';
	} else if (header_is(line, n, "etag")) {
		v = trim(line + sizeof("etag"), line + n, &end);
		if ((size_t)(end - v) <= HTTP_ETAG_MAX &&
		    memchr(v, '\0', (size_t)(end - v)) == NULL) {
			memcpy(r->etag, v, (size_t)(end - v));
			r->etag[end - v] = '\0';
		}
	} else if (header_is(line, n, "content-length")) {
		v = trim(line + sizeof("content-length"), line + n, &end);
		cl = parse_int(v, end);
		if (cl >= 0 && (uint64_t)cl > r->body.max) {
			r->too_large = 1;
			return 0;	/* refuse before reading the body */
		}
		if (cl > 0)
			http_body_reserve(&r->body, (size_t)cl);
	} else if (n > 12 && strncasecmp(line, "x-ratelimit-", 12) == 0)
		http_ratelimit_header(&r->rl, line, n);
	return n;
}

/* ---- Completion --------------------------------------------------------- */

static enum http_outcome
outcome_of(const struct http_req *r, CURLcode res)
{
	if (r->too_large || res == CURLE_FILESIZE_EXCEEDED)
		return HTTP_ERR_TOO_LARGE;
	switch (res) {
	case CURLE_OK:
		return HTTP_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_ERR_TIMEOUT;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:	/* may be a reset mid-handshake */
		return HTTP_ERR_CONNECT;
	/*
	 * Verification failures (wrong host name, expired or self-signed
	 * certificate, unknown CA) and unusable TLS settings do not pass
	 * with time: no request was sent, and none should be retried.
	 */
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return HTTP_ERR_TLS;
	default:
		return HTTP_ERR_TRANSPORT;
	}
}

static const char *
error_of(struct http_req *r, enum http_outcome o, CURLcode res)
{
	switch (o) {
	case HTTP_OK:
		return NULL;
	case HTTP_ERR_TOO_LARGE:
		return "response body larger than the limit";
	default:
		/* curl's messages name host and port, never headers. */
		return r->errbuf[0] != '\0' ? r->errbuf :
		    curl_easy_strerror(res);
	}
}

/* Report a request's end exactly once, then free it. */
static void
req_report(struct http_req *r, struct http_response *res)
{
	res->elapsed_ms = mono_ms() - r->start_ms;
	res->rl = r->rl;
	res->body_len = r->body.len + r->skipped;
	req_unlink(r);
	r->state = REQ_COMPLETING;
	r->cb(res, r->arg);
	req_free(r);
}

static void
req_done(struct http_req *r, CURLcode res)
{
	struct http_response	 resp;

	memset(&resp, 0, sizeof(resp));
	curl_multi_remove_handle(r->c->multi, r->easy);
	r->state = REQ_COMPLETING;	/* off the multi handle now */
	resp.outcome = outcome_of(r, res);
	resp.error = error_of(r, resp.outcome, res);
	if (resp.outcome == HTTP_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
		resp.etag = r->etag[0] != '\0' ? r->etag : NULL;
		resp.unchanged = (resp.status == 304 && r->inm != NULL) ||
		    r->unchanged ||
		    (r->body.len == 0 && req_same_entity(r));
		if (resp.unchanged)
			;
		else if (r->keep_text)
			resp.text = r->body.len > 0 ? r->body.buf : "";
		else
			r->json = http_body_parse(&r->body, &resp.json_error);
		resp.json = r->json;
	}
	/* The token is no longer needed: wipe it before user code runs. */
	req_wipe_headers(r);
	req_report(r, &resp);
}

static void
check_multi_info(struct http_client *c)
{
	CURLMsg		*msg;
	struct http_req	*r;
	char		*priv;
	int		 left;

	while (!c->dead && (msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct http_req *)priv;
		req_done(r, msg->data.result);
	}
}

/* ---- curl multi <-> libevent --------------------------------------------- */

static void
sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_client	*c = arg;
	int			 action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	client_enter(c);
	curl_multi_socket_action(c->multi, fd, action, &running);
	/*
	 * Unlike hiperfifo, leave the timer alone when nothing runs: a
	 * callback may have started a request and armed it.  curl disarms it
	 * itself through timer_cb(-1).
	 */
	check_multi_info(c);
	client_leave(c);
}

static void
timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_client	*c = arg;
	int			 running;

	client_enter(c);
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(c);
	client_leave(c);
}

static void
sock_free(struct http_sock *s)
{
	LIST_REMOVE(s, entry);
	event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch what curl asks for on fd. */
static int
sock_cb(CURL *easy, curl_socket_t fd, int what, void *cbp, void *sockp)
{
	struct http_client	*c = cbp;
	struct http_sock	*s = sockp;
	short			 kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			sock_free(s);
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->c = c;
		s->fd = fd;
		LIST_INSERT_HEAD(&c->socks, s, entry);
		curl_multi_assign(c->multi, fd, s);
	} else
		event_free(s->ev);
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if ((s->ev = event_new(c->base, fd, kind, sock_event_cb, c)) == NULL)
		fatalx("%s: event_new", __func__);
	event_add(s->ev, NULL);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer; -1 deletes it. */
static int
timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct http_client	*c = arg;
	struct timeval		 tv;

	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	/* Even 0 goes through the loop: never act from inside curl. */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	return 0;
}

static curl_socket_t
opensocket_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct http_client	*c = arg;
	curl_socket_t		 fd;

	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC,
	    addr->protocol);
	if (fd != CURL_SOCKET_BAD)
		c->connections++;
	return fd;
}

/* ---- Client -------------------------------------------------------------- */

static void
client_set_conf(struct http_client *c, const struct http_conf *conf)
{
	free(c->ca_file);
	free(c->user_agent);
	c->ca_file = conf->ca_file != NULL && *conf->ca_file != '\0' ?
	    xstrdup(conf->ca_file) : NULL;
	c->user_agent = xstrdup(conf->user_agent != NULL &&
	    *conf->user_agent != '\0' ? conf->user_agent : HTTP_DEF_USER_AGENT);
	c->connect_timeout_ms = conf->connect_timeout_ms > 0 ?
	    conf->connect_timeout_ms : HTTP_DEF_CONNECT_TIMEOUT_MS;
	c->request_timeout_ms = conf->request_timeout_ms > 0 ?
	    conf->request_timeout_ms : HTTP_DEF_REQUEST_TIMEOUT_MS;
	c->max_body = conf->max_body > 0 ? conf->max_body : HTTP_DEF_MAX_BODY;
	c->max_connections = conf->max_connections > 0 ?
	    conf->max_connections : HTTP_DEF_MAX_CONNECTIONS;
	curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    c->max_connections);
	/* Keep as many idle connections as we may open. */
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, c->max_connections);
}

struct http_client *
http_client_new(struct event_base *base, const struct http_conf *conf)
{
	struct http_client	*c;

	curl_init_once();
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	TAILQ_INIT(&c->reqs);
	LIST_INIT(&c->socks);
	if ((c->multi = curl_multi_init()) == NULL)
		fatalx("%s: curl_multi_init", __func__);
	if ((c->timer = evtimer_new(base, timer_event_cb, c)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	client_set_conf(c, conf);
	return c;
}

void
http_client_reconfigure(struct http_client *c, const struct http_conf *conf)
{
	client_set_conf(c, conf);
}

static void
client_cancel_all(struct http_client *c)
{
	struct http_req	*r;

	while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
		req_unlink(r);
		req_free(r);
	}
}

static void
client_destroy(struct http_client *c)
{
	struct http_sock	*s;

	client_cancel_all(c);
	while (c->nidle > 0)
		curl_easy_cleanup(c->idle[--c->nidle]);
	curl_multi_cleanup(c->multi);
	/* Sockets curl closed without telling us (older curl). */
	while ((s = LIST_FIRST(&c->socks)) != NULL)
		sock_free(s);
	event_free(c->timer);
	free(c->ca_file);
	free(c->user_agent);
	free(c);
}

void
http_client_free(struct http_client *c)
{
	if (c == NULL || c->dead)
		return;
	if (c->busy > 0) {
		/* Inside our own callback: no more callbacks, free on leave. */
		c->dead = 1;
		client_cancel_all(c);
		evtimer_del(c->timer);
		return;
	}
	client_destroy(c);
}

size_t
http_inflight(const struct http_client *c)
{
	return c->inflight;
}

unsigned long
http_connections_opened(const struct http_client *c)
{
	return c->connections;
}

/* ---- Requests ------------------------------------------------------------ */

static void
req_fail_early_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_req		*r = arg;
	struct http_client	*c = r->c;
	struct http_response	 resp;

	memset(&resp, 0, sizeof(resp));
	resp.outcome = HTTP_ERR_TRANSPORT;
	resp.error = r->fail_error;
	client_enter(c);
	req_report(r, &resp);
	client_leave(c);
}

/* The callback must not run from inside http_get(): report from the loop. */
static void
req_fail_early(struct http_req *r, const char *why)
{
	struct timeval	tv = { 0, 0 };

	r->state = REQ_FAILED_EARLY;
	r->fail_error = why;
	req_wipe_headers(r);
	r->fail_ev = evtimer_new(r->c->base, req_fail_early_cb, r);
	if (r->fail_ev == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(r->fail_ev, &tv);
}

static int
req_add_headers(struct http_req *r, const char *token, const char *etag)
{
	struct curl_slist	*h;
	char			*auth, *inm;

	if ((h = curl_slist_append(NULL, "Accept: application/json")) == NULL)
		return -1;
	r->headers = h;
	if (etag != NULL) {
		if (strpbrk(etag, "\r\n") != NULL)
			return -1;	/* would inject headers */
		r->inm = xstrdup(etag);
		xasprintf(&inm, "If-None-Match: %s", etag);
		h = curl_slist_append(r->headers, inm);
		free(inm);
		if (h == NULL)
			return -1;
		r->headers = h;
	}
	if (token == NULL)
		return 0;
	if (strpbrk(token, "\r\n") != NULL)
		return -1;	/* would inject headers */
	xasprintf(&auth, "Authorization: Bearer %s", token);
	h = curl_slist_append(r->headers, auth);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	if (h == NULL)
		return -1;
	r->headers = h;
	return 0;
}

static int
req_setup(struct http_req *r, const char *url)
{
	struct http_client	*c = r->c;
	CURL			*e = r->easy;
	CURLcode		 rc = CURLE_OK;

#define SET(opt, val)	do {						\
	if (rc == CURLE_OK)						\
		rc = curl_easy_setopt(e, opt, val);			\
} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PRIVATE, (char *)r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	/*
	 * curl allocates a receive buffer per transfer (16 KiB by default);
	 * with thousands in flight, a smaller one keeps memory down.
	 */
	SET(CURLOPT_BUFFERSIZE, 8192L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500	/* 7.85.0 */
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_HTTPHEADER, r->headers);
	SET(CURLOPT_USERAGENT, c->user_agent);
	SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, c->request_timeout_ms);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->body.max);
	/*
	 * Over TLS, ALPN tells right after the handshake whether a connection
	 * multiplexes (HTTP/2): wait for that rather than open another one.
	 * Not for plain http, where curl would only know from the first
	 * response, so one slow request would hold back the others.
	 */
	if (strncasecmp(url, "https:", 6) == 0)
		SET(CURLOPT_PIPEWAIT, 1L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	SET(CURLOPT_OPENSOCKETDATA, c);
	if (c->ca_file != NULL)
		SET(CURLOPT_CAINFO, c->ca_file);
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

struct http_req *
http_get(struct http_client *c, const char *url, const char *token,
    const char *etag, http_cb cb, void *arg)
{
	struct http_req	*r;

	r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->cb = cb;
	r->arg = arg;
	r->start_ms = mono_ms();
	http_body_init(&r->body, c->max_body);
	TAILQ_INSERT_TAIL(&c->reqs, r, entry);
	c->inflight++;

	if (c->dead) {
		req_fail_early(r, "client is being freed");
		return r;
	}
	if (req_add_headers(r, token, etag) == -1) {
		req_fail_early(r, "invalid request headers");
		return r;
	}
	if ((r->easy = easy_get(c)) == NULL || req_setup(r, url) == -1) {
		req_fail_early(r, "cannot set up the request");
		return r;
	}
	/* curl arms its timer through timer_cb; the work starts in the loop. */
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		req_fail_early(r, "cannot start the request");
		return r;
	}
	r->state = REQ_RUNNING;
	return r;
}

void
http_keep_text(struct http_req *r)
{
	r->keep_text = 1;
}

void
http_cancel(struct http_req *r)
{
	if (r == NULL || r->state == REQ_COMPLETING)
		return;		/* its callback is running: it ends anyway */
	req_unlink(r);
	req_free(r);
}
