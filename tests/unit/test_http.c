/*
 * http.c against an in-process evhttp server on loopback, on the same
 * event_base: real libevent, real curl, real sockets.  The loop is driven
 * until the awaited callback fires, with a safety deadline.
 */

#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

/* libevent's evhttp defines HTTP_OK (200); ours is the outcome enum. */
#undef HTTP_OK
#include "clock.h"
#include "http.h"
#include "test_loop.h"
#include "xmalloc.h"

#define DEADLINE_MS	10000
#define TOKEN		"tok-SECRET-123"
#define ETAG		"W/\"b-Vw3cBjsUDlDAAdCFGJb+PRtLBDM\""
#define MAX_PEERS	64

struct server {
	struct event_base	*base;
	struct evhttp		*http;
	int			 port;
	int			 nrequests;
	char			 last_auth[128];
	int			 saw_auth;
	uint16_t		 peers[MAX_PEERS];	/* distinct client ports */
	int			 npeers;
	int			 stalled;	/* /stall requests received */
	struct evhttp_request	*held[16];	/* stalled, to end at stop */
	LIST_HEAD(, chunker)	 chunkers;
};

struct chunker {
	LIST_ENTRY(chunker)	 entry;
	struct evhttp_request	*req;
	struct event		*ev;
	const char		*body;
	size_t			 off, step;
};

struct fixture {
	struct event_base	*base;
	struct server		 srv;
	struct http_client	*hc;
	struct http_conf	 conf;
};

struct result {
	int		 called;
	int		 ncalls;
	enum http_outcome outcome;
	long		 status;
	char		 error[256];
	json_object	*json;		/* our reference */
	int		 has_json_error;
	char		 json_error[128];
	size_t		 body_len;
	int		 has_text;	/* http_keep_text(): the body */
	char		 text[256];
	struct http_ratelimit rl;
	char		 etag[HTTP_ETAG_MAX + 1];
	int		 unchanged;
	struct http_client *free_client;	/* free from the callback */
	struct fixture	*chain;		/* start the next request */
	int		 chain_left;
};

static int in_api;

/* ---- server ---------------------------------------------------------- */

static void
note_peer(struct server *s, struct evhttp_request *req)
{
	struct evhttp_connection	*conn;
	char				*addr;
	uint16_t			 port;
	int				 i;

	conn = evhttp_request_get_connection(req);
	evhttp_connection_get_peer(conn, &addr, &port);
	for (i = 0; i < s->npeers; i++)
		if (s->peers[i] == port)
			return;
	if (s->npeers < MAX_PEERS)
		s->peers[s->npeers++] = port;
}

static void
reply(struct evhttp_request *req, int code, const char *type,
    const char *body)
{
	struct evbuffer	*b = evbuffer_new();

	evbuffer_add(b, body, strlen(body));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
}

static void
chunker_end(struct chunker *ch)
{
	/* Also frees a request whose client went away. */
	evhttp_send_reply_end(ch->req);
	LIST_REMOVE(ch, entry);
	event_free(ch->ev);
	free(ch);
}

static void
chunk_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct chunker	*ch = arg;
	struct evbuffer	*b;
	struct timeval	 tv = { 0, 1000 };
	size_t		 n = strlen(ch->body) - ch->off;

	if (n == 0) {
		chunker_end(ch);
		return;
	}
	if (n > ch->step)
		n = ch->step;
	b = evbuffer_new();
	evbuffer_add(b, ch->body + ch->off, n);
	evhttp_send_reply_chunk(ch->req, b);
	evbuffer_free(b);
	ch->off += n;
	evtimer_add(ch->ev, &tv);
}

/* Send body with chunked encoding, step bytes every millisecond. */
static void
reply_chunked(struct server *s, struct evhttp_request *req, const char *body,
    size_t step)
{
	struct chunker	*ch = xcalloc(1, sizeof(*ch));
	struct timeval	 tv = { 0, 1000 };

	ch->req = req;
	ch->body = body;
	ch->step = step;
	ch->ev = evtimer_new(s->base, chunk_cb, ch);
	LIST_INSERT_HEAD(&s->chunkers, ch, entry);
	evhttp_send_reply_start(req, 200, "OK");
	evtimer_add(ch->ev, &tv);
}

static char *
big_json(size_t n)
{
	char	*s = xmalloc(n + 16);
	size_t	 i;

	strcpy(s, "{\"pad\":\"");
	for (i = strlen(s); i < n; i++)
		s[i] = 'x';
	strcpy(s + n, "\"}");
	return s;
}

static const char *chunked_body;
static char *big_body;

static void
server_cb(struct evhttp_request *req, void *arg)
{
	struct server		*s = arg;
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	const char		*uri = evhttp_request_get_uri(req);
	const char		*auth, *inm;
	char			 body[256];

	s->nrequests++;
	note_peer(s, req);
	auth = evhttp_find_header(in, "Authorization");
	s->saw_auth = auth != NULL;
	snprintf(s->last_auth, sizeof(s->last_auth), "%s", auth ? auth : "");

	if (strcmp(uri, "/json") == 0 || strcmp(uri, "/seq") == 0)
		reply(req, 200, "application/json",
		    "{\"data\":{\"id\":\"abc\",\"n\":42}}");
	else if (strcmp(uri, "/accept") == 0) {
		snprintf(body, sizeof(body), "{\"accept\":\"%s\","
		    "\"ua\":\"%s\"}", evhttp_find_header(in, "Accept"),
		    evhttp_find_header(in, "User-Agent"));
		reply(req, 200, "application/json", body);
	} else if (strcmp(uri, "/chunked") == 0)
		reply_chunked(s, req, chunked_body, 3);
	else if (strcmp(uri, "/big-chunked") == 0)
		reply_chunked(s, req, big_body, 512);
	else if (strcmp(uri, "/big") == 0)
		reply(req, 200, "application/json", big_body);
	else if (strcmp(uri, "/html404") == 0)
		reply(req, 404, "text/html",
		    "<html><body><h1>Not Found</h1></body></html>");
	else if (strcmp(uri, "/empty429") == 0) {
		evhttp_add_header(out, "X-RateLimit-Remaining", "0");
		evhttp_send_reply(req, 429, "Too Many Requests", NULL);
	} else if (strcmp(uri, "/truncated") == 0) {
		evhttp_add_header(out, "Content-Length", "1000");
		evhttp_add_header(out, "Connection", "close");
		reply(req, 200, "application/json", "{\"data\":[1,2,");
	} else if (strcmp(uri, "/stall") == 0) {
		/* Answered only when the server stops. */
		assert_true(s->stalled < 16);
		s->held[s->stalled++] = req;
	}
	else if (strcmp(uri, "/ratelimit") == 0) {
		evhttp_add_header(out, "X-Ratelimit-Bucket", "bearer");
		evhttp_add_header(out, "X-Ratelimit-Limit", "1200");
		evhttp_add_header(out, "X-Ratelimit-Remaining", "1135");
		evhttp_add_header(out, "X-Ratelimit-Reset", "1682376269");
		reply(req, 200, "application/json", "{}");
	} else if (strcmp(uri, "/ratelimit-repeated") == 0) {
		evhttp_add_header(out, "x-ratelimit-bucket", "bearer");
		evhttp_add_header(out, "x-ratelimit-limit", "1200");
		evhttp_add_header(out, "x-ratelimit-remaining", "1100");
		evhttp_add_header(out, "x-ratelimit-reset", "1700000060");
		evhttp_add_header(out, "x-ratelimit-bucket", "district");
		evhttp_add_header(out, "x-ratelimit-limit", "10000");
		evhttp_add_header(out, "x-ratelimit-remaining", "7");
		evhttp_add_header(out, "x-ratelimit-reset", "1700000030");
		reply(req, 200, "application/json", "{}");
	} else if (strcmp(uri, "/ratelimit-comma") == 0) {
		evhttp_add_header(out, "X-RateLimit-Bucket", "bearer, district");
		evhttp_add_header(out, "X-RateLimit-Limit", "1200, 10000");
		evhttp_add_header(out, "X-RateLimit-Remaining", "5, 9000");
		evhttp_add_header(out, "X-RateLimit-Reset", "1700000060, "
		    "1700000030");
		reply(req, 200, "application/json", "{}");
	} else if (strcmp(uri, "/etag") == 0 ||
	    strcmp(uri, "/etag-ignored") == 0) {
		/* as Express: 304 when If-None-Match names the tag */
		inm = evhttp_find_header(in, "If-None-Match");
		evhttp_add_header(out, "ETag", ETAG);
		if (strcmp(uri, "/etag") == 0 && inm != NULL &&
		    strcmp(inm, ETAG) == 0)
			evhttp_send_reply(req, 304, "Not Modified", NULL);
		else
			reply(req, 200, "application/json", "{\"data\":{}}");
	} else
		reply(req, 404, "text/plain", "no such test path");
}

static void
server_start(struct server *s, struct event_base *base)
{
	struct evhttp_bound_socket	*bs;
	struct sockaddr_in		 sin;
	socklen_t			 len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->http = evhttp_new(base);
	assert_non_null(s->http);
	evhttp_set_gencb(s->http, server_cb, s);
	bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	assert_non_null(bs);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	LIST_INIT(&s->chunkers);
}

static void
server_stop(struct server *s)
{
	int	i;

	/*
	 * evhttp leaves a request whose client left to its handler, which
	 * must still end it: replying to it frees it.
	 */
	for (i = 0; i < s->stalled; i++)
		evhttp_send_reply(s->held[i], 503, "Stopping", NULL);
	while (!LIST_EMPTY(&s->chunkers))
		chunker_end(LIST_FIRST(&s->chunkers));
	evhttp_free(s->http);
}

/* ---- client side ------------------------------------------------------- */

static int
run_until(struct event_base *base, const int *flag)
{
	return run_until_ms(base, flag, DEADLINE_MS);
}

static char *
url(struct fixture *f, const char *path)
{
	char	*u;

	xasprintf(&u, "http://127.0.0.1:%d%s", f->srv.port, path);
	return u;
}

static void	on_response(const struct http_response *, void *);

static struct http_req *
get_if(struct fixture *f, const char *path, const char *token,
    const char *etag, struct result *r)
{
	struct http_req	*req;
	char		*u = url(f, path);

	in_api = 1;
	req = http_get(f->hc, u, token, etag, on_response, r);
	in_api = 0;
	free(u);
	return req;
}

static struct http_req *
get(struct fixture *f, const char *path, const char *token, struct result *r)
{
	return get_if(f, path, token, NULL, r);
}

static void
on_response(const struct http_response *res, void *arg)
{
	struct result	*r = arg;

	assert_false(in_api);
	r->called = 1;
	r->ncalls++;
	r->outcome = res->outcome;
	r->status = res->status;
	snprintf(r->error, sizeof(r->error), "%s",
	    res->error != NULL ? res->error : "");
	if (res->outcome != HTTP_OK)
		assert_non_null(res->error);
	json_object_put(r->json);
	r->json = res->json != NULL ? json_object_get(res->json) : NULL;
	r->has_json_error = res->json_error != NULL;
	snprintf(r->json_error, sizeof(r->json_error), "%s",
	    res->json_error != NULL ? res->json_error : "");
	r->body_len = res->body_len;
	r->has_text = res->text != NULL;
	snprintf(r->text, sizeof(r->text), "%.*s", (int)(res->text != NULL ?
	    res->body_len : 0), res->text != NULL ? res->text : "");
	r->rl = res->rl;
	snprintf(r->etag, sizeof(r->etag), "%s", res->etag ? res->etag : "");
	r->unchanged = res->unchanged;
	if (r->unchanged)
		assert_null(res->json);
	if (r->free_client != NULL) {
		http_client_free(r->free_client);
		r->free_client = NULL;
	}
	if (r->chain != NULL && --r->chain_left > 0) {
		r->called = 0;
		get(r->chain, "/seq", TOKEN, r);
	}
}

static void
result_clear(struct result *r)
{
	json_object_put(r->json);
	memset(r, 0, sizeof(*r));
}

static const char *
jstr(json_object *o, const char *k1, const char *k2)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, k1, &v))
		return NULL;
	if (k2 != NULL && !json_object_object_get_ex(v, k2, &v))
		return NULL;
	return json_object_get_string(v);
}

static int
setup(void **state)
{
	struct fixture	*f = xcalloc(1, sizeof(*f));

	f->base = event_base_new();
	server_start(&f->srv, f->base);
	f->conf.connect_timeout_ms = 2000;
	f->conf.request_timeout_ms = 5000;
	f->conf.max_body = 1 << 20;
	f->conf.max_connections = 4;
	f->conf.user_agent = "rosterd-test/1";
	f->hc = http_client_new(f->base, &f->conf);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	http_client_free(f->hc);
	server_stop(&f->srv);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* ---- tests ------------------------------------------------------------ */

static void
test_json_ok(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };

	assert_non_null(get(f, "/json", TOKEN, &r));
	assert_false(r.called);		/* never from inside http_get */
	assert_int_equal(http_inflight(f->hc), 1);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	assert_false(r.has_json_error);
	assert_string_equal(jstr(r.json, "data", "id"), "abc");
	assert_string_equal(jstr(r.json, "data", "n"), "42");
	assert_int_equal(r.body_len, strlen("{\"data\":{\"id\":\"abc\","
	    "\"n\":42}}"));
	assert_false(r.rl.present);
	assert_int_equal(http_inflight(f->hc), 0);
	assert_int_equal(r.ncalls, 1);
	result_clear(&r);
}

/* The body as text, not parsed: valid JSON or not. */
static void
test_keep_text(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };

	http_keep_text(get(f, "/json", TOKEN, &r));
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.status, 200);
	assert_null(r.json);
	assert_false(r.has_json_error);
	assert_true(r.has_text);
	assert_string_equal(r.text, "{\"data\":{\"id\":\"abc\",\"n\":42}}");
	result_clear(&r);
	http_keep_text(get(f, "/html404", TOKEN, &r));
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.status, 404);
	assert_null(r.json);
	assert_false(r.has_json_error);	/* nobody parsed it */
	assert_string_equal(r.text, "<html><body><h1>Not Found</h1></body>"
	    "</html>");
	result_clear(&r);
	/* without it: a tree, no text */
	get(f, "/json", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_non_null(r.json);
	assert_false(r.has_text);
	result_clear(&r);
}

static void
test_headers_sent(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };

	get(f, "/accept", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_true(f->srv.saw_auth);
	assert_string_equal(f->srv.last_auth, "Bearer " TOKEN);
	assert_string_equal(jstr(r.json, "accept", NULL), "application/json");
	assert_string_equal(jstr(r.json, "ua", NULL), "rosterd-test/1");
	result_clear(&r);

	/* No token: no Authorization header at all. */
	get(f, "/json", NULL, &r);
	assert_true(run_until(f->base, &r.called));
	assert_false(f->srv.saw_auth);
	result_clear(&r);

	/* A token that would smuggle a header is refused, from the loop. */
	get(f, "/json", "abc\r\nX-Evil: 1", &r);
	assert_false(r.called);
	assert_true(run_until(f->base, &r.called));
	assert_int_not_equal(r.outcome, HTTP_OK);
	assert_null(strstr(r.error, "abc"));
	result_clear(&r);
}

static void
test_chunked_incremental(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };
	json_object	*items;

	get(f, "/chunked", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	assert_int_equal(r.body_len, strlen(chunked_body));
	assert_true(json_object_object_get_ex(r.json, "data", &items));
	assert_int_equal(json_object_array_length(items), 40);
	result_clear(&r);
}

static void
test_too_large(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };

	f->conf.max_body = 1000;
	http_client_reconfigure(f->hc, &f->conf);

	/* No Content-Length: stopped while reading. */
	get(f, "/big-chunked", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_ERR_TOO_LARGE);
	assert_null(r.json);
	assert_true(r.body_len <= 1000);
	result_clear(&r);

	/* Content-Length over the limit: refused before the body. */
	get(f, "/big", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_ERR_TOO_LARGE);
	assert_int_equal(r.body_len, 0);
	result_clear(&r);

	/* Small bodies still pass. */
	get(f, "/json", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_OK);
	assert_non_null(r.json);
	result_clear(&r);
}

static void
test_html_404(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };

	get(f, "/html404", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_OK);
	assert_int_equal(r.status, 404);
	assert_null(r.json);
	assert_true(r.has_json_error);
	assert_true(r.body_len > 0);
	result_clear(&r);

	/* An empty body is neither JSON nor a JSON error. */
	get(f, "/empty429", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_OK);
	assert_int_equal(r.status, 429);
	assert_null(r.json);
	assert_false(r.has_json_error);
	assert_true(r.rl.present);
	assert_int_equal(r.rl.remaining, 0);
	result_clear(&r);
}

static void
test_truncated(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };

	get(f, "/truncated", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_ERR_TRANSPORT);
	assert_null(r.json);
	assert_null(strstr(r.error, TOKEN));
	result_clear(&r);
}

static void
test_timeout(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };
	uint64_t	 t0;

	f->conf.request_timeout_ms = 300;
	http_client_reconfigure(f->hc, &f->conf);
	t0 = mono_ms();
	get(f, "/stall", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_ERR_TIMEOUT);
	assert_true(mono_ms() - t0 >= 290);
	assert_int_equal(f->srv.stalled, 1);
	assert_null(strstr(r.error, TOKEN));
	result_clear(&r);
}

static void
test_connect_refused(void **state)
{
	struct fixture		*f = *state;
	struct result		 r = { 0 };
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	char			*u;
	int			 fd;

	/* A port nobody listens on. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	xasprintf(&u, "http://127.0.0.1:%d/json", ntohs(sin.sin_port));
	http_get(f->hc, u, TOKEN, NULL, on_response, &r);
	close(fd);
	free(u);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_ERR_CONNECT);
	assert_null(strstr(r.error, TOKEN));
	result_clear(&r);

	/* Only http and https. */
	http_get(f->hc, "file:///etc/passwd", TOKEN, NULL, on_response, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_not_equal(r.outcome, HTTP_OK);
	assert_int_equal(r.body_len, 0);
	result_clear(&r);
}

static void
test_ratelimit_headers(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };

	get(f, "/ratelimit", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_true(r.rl.present);
	assert_int_equal(r.rl.limit, 1200);
	assert_int_equal(r.rl.remaining, 1135);
	assert_int_equal(r.rl.reset, 1682376269);
	assert_string_equal(r.rl.bucket, "bearer");
	result_clear(&r);

	get(f, "/ratelimit-repeated", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_true(r.rl.present);
	assert_string_equal(r.rl.bucket, "district");
	assert_int_equal(r.rl.limit, 10000);
	assert_int_equal(r.rl.remaining, 7);
	assert_int_equal(r.rl.reset, 1700000030);
	result_clear(&r);

	get(f, "/ratelimit-comma", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_string_equal(r.rl.bucket, "bearer");
	assert_int_equal(r.rl.limit, 1200);
	assert_int_equal(r.rl.remaining, 5);
	assert_int_equal(r.rl.reset, 1700000060);
	result_clear(&r);
}

static void
rl_lines(struct http_ratelimit *rl, const char **lines)
{
	memset(rl, 0, sizeof(*rl));
	for (; *lines != NULL; lines++)
		http_ratelimit_header(rl, *lines, strlen(*lines));
}

static void
test_ratelimit_parser(void **state)
{
	struct http_ratelimit	 rl;
	const char		*plain[] = { "Content-Type: text/html\r\n",
	    "X-RateLimitish: 3\r\n", NULL };
	const char		*one[] = { "x-ratelimit-remaining:  17 \r\n",
	    NULL };
	const char		*shared[] = {
	    "X-RATELIMIT-LIMIT: 1200\r\n",
	    "X-RateLimit-Bucket: a, b, c\r\n",
	    "X-RateLimit-Remaining: 30,2,900\r\n",
	    "X-RateLimit-Reset: 100, 200, 300\r\n", NULL };
	const char		*junk[] = {
	    "X-RateLimit-Remaining: lots\r\n",
	    "X-RateLimit-Limit: -5\r\n",
	    "X-RateLimit-Bucket: \x01\x02zz\r\n", NULL };
	const char		*many[] = {
	    "X-RateLimit-Remaining: 9,8,7,6,5,4,3\r\n", NULL };

	rl_lines(&rl, plain);
	assert_false(rl.present);

	rl_lines(&rl, one);
	assert_true(rl.present);
	assert_int_equal(rl.remaining, 17);
	assert_int_equal(rl.limit, -1);
	assert_int_equal(rl.reset, 0);
	assert_string_equal(rl.bucket, "");

	/* A header sent once applies to every bucket. */
	rl_lines(&rl, shared);
	assert_string_equal(rl.bucket, "b");
	assert_int_equal(rl.limit, 1200);
	assert_int_equal(rl.remaining, 2);
	assert_int_equal(rl.reset, 200);

	rl_lines(&rl, junk);
	assert_true(rl.present);
	assert_int_equal(rl.remaining, -1);
	assert_int_equal(rl.limit, -1);
	assert_string_equal(rl.bucket, "??zz");

	/* More buckets than we track: the first ones count. */
	rl_lines(&rl, many);
	assert_int_equal(rl.remaining, 6);
}

/* If-None-Match: a 304, or a 200 of the same tag, is "unchanged", unparsed. */
static void
test_conditional(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };

	get(f, "/etag", TOKEN, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.status, 200);
	assert_string_equal(r.etag, ETAG);
	assert_false(r.unchanged);
	assert_non_null(r.json);
	result_clear(&r);

	get_if(f, "/etag", TOKEN, ETAG, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.outcome, HTTP_OK);
	assert_int_equal(r.status, 304);
	assert_true(r.unchanged);
	assert_int_equal(r.body_len, 0);
	result_clear(&r);

	/* a server that ignores the header: same tag, body counted only */
	get_if(f, "/etag-ignored", TOKEN, ETAG, &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.status, 200);
	assert_true(r.unchanged);
	assert_null(r.json);
	assert_false(r.has_json_error);
	assert_int_equal(r.body_len, strlen("{\"data\":{}}"));
	result_clear(&r);

	/* another tag: a changed entity, parsed */
	get_if(f, "/etag-ignored", TOKEN, "W/\"1-x\"", &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_equal(r.status, 200);
	assert_false(r.unchanged);
	assert_non_null(r.json);
	result_clear(&r);

	/* no tag from the server: never unchanged */
	get_if(f, "/json", TOKEN, ETAG, &r);
	assert_true(run_until(f->base, &r.called));
	assert_false(r.unchanged);
	assert_string_equal(r.etag, "");
	assert_non_null(r.json);
	result_clear(&r);

	/* a tag that would inject a header is refused */
	get_if(f, "/etag", TOKEN, "W/\"1\"\r\nX-Evil: 1", &r);
	assert_true(run_until(f->base, &r.called));
	assert_int_not_equal(r.outcome, HTTP_OK);
	result_clear(&r);
}

/* Parse text given in chunks of n bytes; err is what parsing said. */
static json_object *
body_in_chunks(const char *text, size_t n, size_t max, const char **err,
    int *refused)
{
	struct http_body	 b;
	json_object		*o;
	size_t			 len = strlen(text), off, k;

	http_body_init(&b, max);
	*refused = 0;
	for (off = 0; off < len; off += k) {
		k = len - off < n ? len - off : n;
		if (http_body_add(&b, text + off, k) == -1) {
			*refused = 1;
			http_body_free(&b);
			return NULL;
		}
	}
	o = http_body_parse(&b, err);
	http_body_free(&b);
	return o;
}

static void
test_body(void **state)
{
	const char	*err;
	json_object	*o;
	int		 refused;
	size_t		 n;

	for (n = 1; n <= 7; n += 3) {
		o = body_in_chunks("{\"data\":[1,2,3]}  \n", n, 64, &err,
		    &refused);
		assert_non_null(o);
		assert_null(err);
		json_object_put(o);
	}
	/* a number only the end completes */
	o = body_in_chunks("42", 1, 64, &err, &refused);
	assert_non_null(o);
	assert_int_equal(json_object_get_int(o), 42);
	json_object_put(o);
	/* the limit is refused at the chunk that passes it */
	assert_null(body_in_chunks("[1,2,3,4,5,6,7,8]", 4, 16, &err,
	    &refused));
	assert_true(refused);
	assert_null(body_in_chunks("{\"a\":1", 3, 64, &err, &refused));
	assert_string_equal(err, "truncated JSON");
	assert_null(body_in_chunks("{} {}", 2, 64, &err, &refused));
	assert_string_equal(err, "data after the JSON value");
	assert_null(body_in_chunks("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 5, 1024, &err,
	    &refused));
	assert_non_null(err);
	assert_null(body_in_chunks("", 5, 64, &err, &refused));
	assert_null(err);
	assert_false(refused);
}

static void
test_connection_reuse(void **state)
{
	struct fixture	*f = *state;
	struct result	 r = { 0 };

	r.chain = f;
	r.chain_left = 50;
	get(f, "/seq", TOKEN, &r);
	while (r.chain_left > 0 && run_until(f->base, &r.called))
		;
	assert_int_equal(r.ncalls, 50);
	assert_int_equal(f->srv.nrequests, 50);
	assert_int_equal(r.outcome, HTTP_OK);
	assert_true(http_connections_opened(f->hc) <= 2);
	assert_true(f->srv.npeers <= 2);
	result_clear(&r);
}

static void
test_cancel(void **state)
{
	struct fixture	*f = *state;
	struct result	 a = { 0 }, b = { 0 }, c = { 0 };
	struct http_req	*ra, *rb;
	int		 never = 0;

	/* Cancelled before the loop ever ran. */
	ra = get(f, "/json", TOKEN, &a);
	http_cancel(ra);
	assert_int_equal(http_inflight(f->hc), 0);

	/* Cancelled while the server holds it. */
	rb = get(f, "/stall", TOKEN, &b);
	while (f->srv.stalled == 0 && run_until_ms(f->base, &never, 20) == 0 &&
	    !b.called)
		;
	assert_int_equal(f->srv.stalled, 1);
	http_cancel(rb);
	assert_int_equal(http_inflight(f->hc), 0);

	/* Cancelled after an early failure was scheduled. */
	http_cancel(get(f, "/json", "bad\ntoken", &c));

	run_until_ms(f->base, &never, 200);
	assert_false(a.called);
	assert_false(b.called);
	assert_false(c.called);
}

static void
test_free_with_inflight(void **state)
{
	struct fixture	*f = *state;
	struct result	 a = { 0 }, b = { 0 };
	int		 never = 0;

	get(f, "/stall", TOKEN, &a);
	get(f, "/chunked", TOKEN, &b);
	run_until_ms(f->base, &never, 20);
	http_client_free(f->hc);
	f->hc = NULL;
	run_until_ms(f->base, &never, 100);
	assert_false(a.called);
	assert_false(b.called);
}

static void
test_free_in_callback(void **state)
{
	struct fixture	*f = *state;
	struct result	 a = { 0 }, b = { 0 };
	int		 never = 0;

	get(f, "/stall", TOKEN, &b);
	get(f, "/json", TOKEN, &a);
	a.free_client = f->hc;
	f->hc = NULL;
	assert_true(run_until(f->base, &a.called));
	/* A stalled request does not hold back another one. */
	assert_int_equal(a.outcome, HTTP_OK);
	run_until_ms(f->base, &never, 100);
	assert_false(b.called);
	result_clear(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep_text, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_headers_sent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_chunked_incremental, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_html_404, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit_headers, setup,
		    teardown),
		cmocka_unit_test(test_ratelimit_parser),
		cmocka_unit_test_setup_teardown(test_conditional, setup,
		    teardown),
		cmocka_unit_test(test_body),
		cmocka_unit_test_setup_teardown(test_connection_reuse, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_inflight, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_in_callback, setup,
		    teardown),
	};
	char	*chunked;
	size_t	 i;
	int	 rc;

	/* {"data":[{"i":0,"name":"item 0"},...]}: many tiny chunks */
	chunked = xstrdup("{\"data\":[");
	for (i = 0; i < 40; i++) {
		char *next;

		xasprintf(&next, "%s%s{\"i\":%zu,\"name\":\"item %zu\"}",
		    chunked, i ? "," : "", i, i);
		free(chunked);
		chunked = next;
	}
	{
		char *next;

		xasprintf(&next, "%s]}", chunked);
		free(chunked);
		chunked = next;
	}
	chunked_body = chunked;
	big_body = big_json(20000);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(chunked);
	free(big_body);
	return rc;
}
