/*
 * Asynchronous HTTP GET client: curl multi driven by libevent socket and
 * timer callbacks (the hiperfifo.c pattern, never a perform loop).  A body's
 * bytes are kept as they arrive and parsed once complete; a body larger
 * than max_body aborts the transfer as soon as it passes the limit.
 * Connections are reused across requests.
 * The client knows nothing about retries or rate limits: it reports what
 * happened and the rate-limit headers it saw; callers decide.
 */
#ifndef ROSTERD_HTTP_H
#define ROSTERD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <json-c/json.h>

struct http_conf {
	const char	*ca_file;		/* NULL: system default */
	long		 connect_timeout_ms;
	long		 request_timeout_ms;	/* whole transfer */
	size_t		 max_body;		/* bytes; larger aborts */
	long		 max_connections;	/* total open connections */
	const char	*user_agent;
};

enum http_outcome {
	HTTP_OK = 0,		/* complete response received; see status */
	HTTP_ERR_CONNECT,	/* could not connect / resolve / TLS handshake */
	HTTP_ERR_TLS,		/* server refused as not trustworthy: its
				   certificate, our CA file, pinning */
	HTTP_ERR_TIMEOUT,	/* connect or transfer timeout */
	HTTP_ERR_TOO_LARGE,	/* body exceeded max_body */
	HTTP_ERR_TRANSPORT,	/* reset, truncated body, protocol error */
};

#define HTTP_RL_MAX_BUCKETS	4

/*
 * Rate-limit headers; with several buckets, the most restrictive one (the
 * lowest remaining).  Several buckets come as repeated headers or as
 * comma-separated values; the i-th value of each header belongs to bucket i
 * (a header sent once applies to all).  When present, a value that was not
 * sent is -1 (reset: 0, bucket: "").
 */
struct http_ratelimit {
	int		 present;	/* any X-RateLimit-* header seen */
	long		 limit;		/* X-RateLimit-Limit */
	long		 remaining;	/* X-RateLimit-Remaining */
	int64_t		 reset;		/* X-RateLimit-Reset, epoch seconds */
	char		 bucket[32];	/* X-RateLimit-Bucket */
	/* Private to http.c: every bucket's values seen so far. */
	struct {
		int		 n[4];	/* values of limit, remaining, ... */
		long		 limit[HTTP_RL_MAX_BUCKETS];
		long		 remaining[HTTP_RL_MAX_BUCKETS];
		int64_t		 reset[HTTP_RL_MAX_BUCKETS];
		char		 bucket[HTTP_RL_MAX_BUCKETS][32];
	} acc;
};

struct http_response {
	enum http_outcome	 outcome;
	long			 status;	/* HTTP status when HTTP_OK */
	const char		*error;		/* human message unless HTTP_OK */
	/*
	 * Parsed body when it is complete valid JSON (any status), else NULL.
	 * Owned by the client and released after the callback returns; take
	 * a reference with json_object_get() to keep it.
	 */
	json_object		*json;
	/*
	 * With http_keep_text(): the body's body_len bytes, not parsed (json
	 * is NULL), owned by the client like json.  Else NULL.
	 */
	const char		*text;
	/* Non-NULL when a body was present but not valid/complete JSON. */
	const char		*json_error;
	size_t			 body_len;
	struct http_ratelimit	 rl;
	uint64_t		 elapsed_ms;	/* monotonic */
	/* The response's ETag (owned by the client), else NULL. */
	const char		*etag;
	/*
	 * The entity is the one the request named in If-None-Match: a 304,
	 * or a 200 whose ETag is that tag (a server that ignores the header).
	 * Its body, if any, was counted but not parsed (json is NULL).
	 */
	int			 unchanged;
};

#define HTTP_ETAG_MAX	128	/* longer tags are ignored */

/*
 * A response body as it arrives, in chunks of any size: its bytes are kept
 * (never more than max) and parsed as JSON once the last one is in.
 * Keeping the text, not a partial tree, bounds a transfer's memory by its
 * bytes: json-c's tree is about ten times the text, and a slow or endless
 * body would otherwise hold a growing tree.
 */
struct http_body {
	char		*buf;
	size_t		 len;
	size_t		 cap;
	size_t		 max;
};

void		 http_body_init(struct http_body *, size_t max);
/* Reserve room for a body of announced length n (<= max). */
void		 http_body_reserve(struct http_body *, size_t n);
/* Append n bytes; -1 (nothing kept) when the body would exceed max. */
int		 http_body_add(struct http_body *, const char *, size_t n);
/*
 * Parse the complete body: a JSON value (the caller owns it), or NULL
 * with *err saying why (not JSON, truncated, too deep, data after the
 * value).  Ill-formed UTF-8 passes: normalization makes it U+FFFD.  An empty body is NULL with *err NULL.
 */
json_object	*http_body_parse(const struct http_body *, const char **err);
void		 http_body_free(struct http_body *);

struct http_client;
struct http_req;

typedef void (*http_cb)(const struct http_response *, void *arg);

struct http_client *http_client_new(struct event_base *,
		    const struct http_conf *);
/* Cancels everything in flight; no callbacks are called. */
void		 http_client_free(struct http_client *);
/* Replace the configuration (SIGHUP); applies to new requests. */
void		 http_client_reconfigure(struct http_client *,
		    const struct http_conf *);

/*
 * Start GET url with "Authorization: Bearer <token>" (token may be NULL)
 * and, when etag is not NULL, "If-None-Match: <etag>".  The callback runs
 * exactly once, from the event loop, never from inside http_get().  The
 * token is never logged.
 */
struct http_req	*http_get(struct http_client *, const char *url,
		    const char *token, const char *etag, http_cb, void *arg);
/*
 * Hand the request's body to the callback as text instead of a tree: a
 * caller that walks a large body value by value holds one value's tree at
 * a time, not the whole body's (about ten times its text).
 */
void		 http_keep_text(struct http_req *);
/* Abort a request; its callback will not run. */
void		 http_cancel(struct http_req *);
size_t		 http_inflight(const struct http_client *);
/* Connections opened so far (to verify reuse). */
unsigned long	 http_connections_opened(const struct http_client *);

/* One rate-limit bucket a response named. */
struct http_bucket {
	char		 name[32];	/* "" when the response named none */
	long		 limit;		/* -1 when not sent */
	long		 remaining;	/* -1 when not sent */
	int64_t		 reset;		/* epoch seconds, 0 when not sent */
};

/* The buckets in rl, at most max of them; returns how many. */
int		 http_ratelimit_buckets(const struct http_ratelimit *,
		    struct http_bucket *, int max);

/*
 * Parse one header line ("X-RateLimit-Remaining: 1199\r\n"; others are
 * ignored) into rl, which starts zeroed for each response; the public
 * fields always describe the most restrictive bucket seen so far.
 */
void		 http_ratelimit_header(struct http_ratelimit *,
		    const char *line, size_t len);

#endif
