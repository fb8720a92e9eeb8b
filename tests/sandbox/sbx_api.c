/*
 * The fake Clever Data API: authentication, rate limiting, routing,
 * Library/district scoping, paging and the response envelopes.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "clock.h"
#include "xmalloc.h"
#include "sandbox.h"

#define MAX_LIMIT	10000
#define DEFAULT_LIMIT	100

const char *const route_names[ROUTE_MAX] = {
	"/me", "/users", "/users/{id}", "/users/{id}/sections",
	"/users/{id}/mystudents", "/sections", "/sections/{id}",
	"/sections/{id}/users", "/events", "/events/{id}", "unknown",
};

/* One API request being answered. */
struct apireq {
	struct sbx		*sbx;
	struct world		*w;
	struct evhttp_request	*req;
	const char		*version;	/* "v3.0" or "v3.1" */
	const char		*uri;		/* as requested, for self links */
	const char		*path;		/* request path */
	const char		*query;		/* raw query or NULL */
	struct evkeyvalq	 params;
	struct user		*teacher;	/* teacher token */
	struct district		*district;	/* district token */
	enum view		 view;
	struct sbuf		 body;
	int			 code;
};

static void
json_message(struct sbuf *b, const char *msg)
{
	b->len = 0;
	SBUF_LIT(b, "{\"message\":");
	sbuf_jstr(b, msg);
	SBUF_LIT(b, "}");
}

static void
fail(struct apireq *ar, int code, const char *msg)
{
	ar->code = code;
	json_message(&ar->body, msg);
}

/* ---- rate limiting ---- */

/* Open a new window when the last one is over (or on first use). */
static void
bucket_roll(struct sbx *sbx, struct bucket *bk)
{
	uint64_t	now = mono_ms();
	struct timespec	ts;
	int64_t		wall;
	int64_t		win = sbx->rate_window_s;

	/* not time(): it may read a coarse clock, a tick behind the others */
	clock_gettime(CLOCK_REALTIME, &ts);
	wall = (int64_t)ts.tv_sec;

	if (sbx->rate_wall) {
		if (!bk->open || wall / win != bk->key) {
			bk->open = 1;
			bk->windows++;
			bk->key = wall / win;
			bk->used = 0;
			bk->reset_s = (bk->key + 1) * win;
		}
		return;
	}
	if (!bk->open || now - bk->start_ms >= (uint64_t)win * 1000) {
		bk->open = 1;
		bk->windows++;
		bk->start_ms = now;
		bk->used = 0;
		bk->reset_s = wall + win;
	}
}

static void
rate_headers(struct evkeyvalq *h, int n, const char *names,
    const uint32_t *limit, const uint32_t *remaining, const int64_t *reset)
{
	char	l[64], r[64], t[64];

	if (n == 1) {
		snprintf(l, sizeof l, "%u", limit[0]);
		snprintf(r, sizeof r, "%u", remaining[0]);
		snprintf(t, sizeof t, "%lld", (long long)reset[0]);
	} else {
		snprintf(l, sizeof l, "%u, %u", limit[0], limit[1]);
		snprintf(r, sizeof r, "%u, %u", remaining[0], remaining[1]);
		snprintf(t, sizeof t, "%lld, %lld", (long long)reset[0],
		    (long long)reset[1]);
	}
	evhttp_add_header(h, "X-RateLimit-Bucket", names);
	evhttp_add_header(h, "X-RateLimit-Limit", l);
	evhttp_add_header(h, "X-RateLimit-Remaining", r);
	evhttp_add_header(h, "X-RateLimit-Reset", t);
}

/*
 * Count one request against the token's bucket (and the app bucket with
 * --two-buckets) and add the headers.  Returns -1 when over the limit.
 */
static int
rate_take(struct sbx *sbx, struct evkeyvalq *h, struct bucket *bk)
{
	struct bucket	*bks[2] = { bk, &sbx->app_bucket };
	uint32_t	 limit[2] = { sbx->rate_limit, sbx->app_limit };
	uint32_t	 remaining[2];
	int64_t		 reset[2];
	int		 n = sbx->two_buckets ? 2 : 1, i, over = 0;
	struct bucket	 phantom = { 0 };

	if (bk == NULL)
		bks[0] = &phantom;	/* unknown token: a fresh window */
	for (i = 0; i < n; i++) {
		bucket_roll(sbx, bks[i]);
		if (bks[i]->used >= limit[i]) {
			over = 1;
			bks[i]->full++;
		}
	}
	for (i = 0; i < n; i++) {
		if (!over && bk != NULL)
			bks[i]->used++;
		remaining[i] = limit[i] - (bks[i]->used > limit[i] ?
		    limit[i] : bks[i]->used);
		reset[i] = bks[i]->reset_s;
	}
	rate_headers(h, n, n == 1 ? "bearer" : "bearer, app", limit,
	    remaining, reset);
	return over ? -1 : 0;
}

/* ---- entity tags ---- */

const char *const etag_mode_names[ETAG_MAX] = { "on", "off", "ignore" };

int
etag_mode_parse(const char *s)
{
	int	i;

	for (i = 0; i < ETAG_MAX; i++)
		if (strcmp(s, etag_mode_names[i]) == 0)
			return i;
	return -1;
}

/*
 * Express's default (the "etag" package, weak): W/"<body length in hex>-
 * <the first 27 characters of the base64 SHA-1 of the body>".  Checked
 * against the recorded /me: W/"61-AwqL+qrfGYiYQGkFV/VdyPjPCA8".
 */
static void
etag_of(const struct sbuf *b, char *out, size_t outlen)
{
	unsigned char	md[EVP_MAX_MD_SIZE], b64[64];
	unsigned int	mdlen = 0;

	EVP_Digest(b->p != NULL ? b->p : "", b->len, md, &mdlen, EVP_sha1(),
	    NULL);
	EVP_EncodeBlock(b64, md, (int)mdlen);
	b64[27] = '\0';
	snprintf(out, outlen, "W/\"%zx-%s\"", b->len, b64);
}

/* Does an If-None-Match header name tag ("*", or a list of tags)? */
static int
etag_listed(const char *inm, const char *tag)
{
	size_t	n = strlen(tag);
	const char *p;

	while (*inm == ' ')
		inm++;
	if (strcmp(inm, "*") == 0)
		return 1;
	for (p = inm; (p = strstr(p, tag)) != NULL; p += n)
		if ((p == inm || p[-1] == ' ' || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return 1;
	return 0;
}

/*
 * Tag a 200 as Express does; when the request's If-None-Match names the
 * tag, answer 304 without a body (the request was counted already).
 */
static void
etag_apply(struct apireq *ar, struct evkeyvalq *oh)
{
	char		 tag[96];
	const char	*inm;

	if (ar->code != 200 || ar->sbx->etag == ETAG_OFF)
		return;
	etag_of(&ar->body, tag, sizeof tag);
	evhttp_add_header(oh, "ETag", tag);
	inm = evhttp_find_header(evhttp_request_get_input_headers(ar->req),
	    "If-None-Match");
	if (ar->sbx->etag == ETAG_ON && inm != NULL && etag_listed(inm, tag)) {
		ar->code = 304;
		ar->body.len = 0;
		ar->sbx->stats.not_modified++;
	}
}

/* ---- scoping ---- */

static int
can_see_section(const struct apireq *ar, const struct section *s)
{
	if (s == NULL || s->deleted)
		return 0;
	if (ar->district != NULL)
		return s->district == ar->district;
	return section_has_teacher(s, ar->teacher);
}

/*
 * As Clever scopes a Library (teacher-authorized) token: its own teacher,
 * the sections it teaches and the students in them; anything else,
 * co-teachers included, is 404.  A district token sees its district.
 */
static int
can_see_user(const struct apireq *ar, const struct user *u)
{
	size_t	i;

	if (u == NULL)
		return 0;
	if (ar->district != NULL)
		return u->district == ar->district;
	if (u == ar->teacher)
		return 1;
	if (u->o.type != OBJ_STUDENT)
		return 0;
	for (i = 0; i < u->sections.n; i++)
		if (can_see_section(ar, u->sections.v[i]))
			return 1;
	return 0;
}

/* ---- envelopes ---- */

static void
link(struct sbuf *b, int first, const char *rel, const char *uri)
{
	if (!first)
		SBUF_LIT(b, ",");
	SBUF_LIT(b, "{\"rel\":");
	sbuf_jstr(b, rel);
	SBUF_LIT(b, ",\"uri\":");
	sbuf_jstr(b, uri);
	SBUF_LIT(b, "}");
}

static void
sublinks(struct apireq *ar, const char *kind, const char *id,
    const char *const *rels, const char *const *subs)
{
	struct sbuf	*b = &ar->body;
	char		 uri[256];
	int		 i;

	SBUF_LIT(b, ",\"links\":[");
	snprintf(uri, sizeof uri, "/%s/%s/%s", ar->version, kind, id);
	link(b, 1, "self", uri);
	for (i = 0; rels[i] != NULL; i++) {
		snprintf(uri, sizeof uri, "/%s/%s/%s/%s", ar->version, kind,
		    id, subs[i]);
		link(b, 0, rels[i], uri);
	}
	SBUF_LIT(b, "]");
}

/* {"data":{...},"links":[...]}: links only for district tokens. */
static void
single(struct apireq *ar, struct obj *o)
{
	static const char *const srels[] = { "district", "school", "term",
	    "course", "users", NULL };
	static const char *const ssubs[] = { "district", "school", "term",
	    "course", "users", NULL };
	static const char *const strels[] = { "district", "sections",
	    "myContacts", "myTeachers", "schools", NULL };
	static const char *const stsubs[] = { "district", "sections",
	    "mycontacts", "myteachers", "schools", NULL };
	static const char *const trels[] = { "district", "sections",
	    "myStudents", "schools", NULL };
	static const char *const tsubs[] = { "district", "sections",
	    "mystudents", "schools", NULL };
	struct sbuf	*b = &ar->body;

	SBUF_LIT(b, "{\"data\":");
	render_obj(ar->w, o, ar->view, b);
	if (ar->district != NULL) {
		if (o->type == OBJ_SECTION)
			sublinks(ar, "sections", o->id, srels, ssubs);
		else if (o->type == OBJ_STUDENT)
			sublinks(ar, "users", o->id, strels, stsubs);
		else
			sublinks(ar, "users", o->id, trels, tsubs);
	}
	SBUF_LIT(b, "}");
	ar->code = 200;
}

static size_t
lower_bound(const struct ptrv *items, const char *id)
{
	size_t	lo = 0, hi = items->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (strcmp(((struct obj *)items->v[mid])->id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* path?<the request's other parameters>&<cursor>=<id> */
static void
cursor_uri(struct apireq *ar, struct sbuf *u, const char *cursor,
    const char *id)
{
	const char	*q = ar->query, *amp;
	size_t		 n;
	int		 any = 0;

	u->len = 0;
	sbuf_adds(u, ar->path);
	SBUF_LIT(u, "?");
	while (q != NULL && *q != '\0') {
		amp = strchr(q, '&');
		n = amp != NULL ? (size_t)(amp - q) : strlen(q);
		if (n > 0 && strncmp(q, "starting_after=", 15) != 0 &&
		    strncmp(q, "ending_before=", 14) != 0) {
			sbuf_add(u, q, n);
			SBUF_LIT(u, "&");
			any = 1;
		}
		q = amp != NULL ? amp + 1 : NULL;
	}
	(void)any;
	sbuf_adds(u, cursor);
	SBUF_LIT(u, "=");
	sbuf_adds(u, id);
}

/*
 * A list response.  Library tokens get everything at once; district
 * tokens page by id like Clever, including its quirk: a page that ends
 * exactly at the end still has a "next" link, to an empty page.
 */
static void
list(struct apireq *ar, const struct ptrv *items, const char *kind)
{
	struct sbuf	*b = &ar->body;
	struct sbuf	 u = { 0 };
	const char	*s, *after, *before;
	size_t		 start = 0, end = items->n, i;
	long		 limit = DEFAULT_LIMIT;
	size_t		 kindlen = strlen(kind);
	char		*ep;

	if (ar->district != NULL) {
		if ((s = evhttp_find_header(&ar->params, "limit")) != NULL) {
			errno = 0;
			limit = strtol(s, &ep, 10);
			if (*s == '\0' || *ep != '\0' || errno != 0 ||
			    limit < 1) {
				fail(ar, 400, "limit must be a positive "
				    "integer");
				return;
			}
			if (limit > MAX_LIMIT) {
				fail(ar, 413, "limit must be less than or "
				    "equal to 10000");
				return;
			}
		}
		after = evhttp_find_header(&ar->params, "starting_after");
		before = evhttp_find_header(&ar->params, "ending_before");
		if (after != NULL) {
			start = lower_bound(items, after);
			if (start < items->n && strcmp(((struct obj *)
			    items->v[start])->id, after) == 0)
				start++;
			end = start + (size_t)limit < items->n ?
			    start + (size_t)limit : items->n;
		} else if (before != NULL) {
			end = lower_bound(items, before);
			start = end > (size_t)limit ? end - (size_t)limit : 0;
		} else
			end = (size_t)limit < items->n ? (size_t)limit :
			    items->n;
	} else
		after = before = NULL;

	/* One allocation for the whole page instead of doubling into it. */
	sbuf_grow(b, 256 + (end - start) * (ar->view == VIEW_FULL ?
	    1024 : 256));
	SBUF_LIT(b, "{\"links\":[");
	link(b, 1, "self", ar->uri);
	if (ar->district != NULL && end > start) {
		const char *first = ((struct obj *)items->v[start])->id;
		const char *last = ((struct obj *)items->v[end - 1])->id;

		if (after != NULL || (before != NULL &&
		    end - start == (size_t)limit)) {
			cursor_uri(ar, &u, "ending_before", first);
			link(b, 0, "prev", u.p);
		}
		if (before != NULL || end - start == (size_t)limit) {
			cursor_uri(ar, &u, "starting_after", last);
			link(b, 0, "next", u.p);
		}
	}
	SBUF_LIT(b, "],\"data\":[");
	for (i = start; i < end; i++) {
		struct obj *o = items->v[i];

		if (i > start)
			SBUF_LIT(b, ",");
		SBUF_LIT(b, "{\"data\":");
		render_obj(ar->w, o, ar->view, b);
		/* No printf here: this loop is the hot path of a list. */
		SBUF_LIT(b, ",\"uri\":\"/");
		sbuf_add(b, ar->version, 4);
		SBUF_LIT(b, "/");
		sbuf_add(b, kind, kindlen);
		SBUF_LIT(b, "/");
		sbuf_add(b, o->id, SBX_IDLEN);
		SBUF_LIT(b, "\"}");
	}
	SBUF_LIT(b, "]}");
	sbuf_free(&u);
	ar->code = 200;
}

/* ---- routes ---- */

static void
route_me(struct apireq *ar)
{
	struct sbuf	*b = &ar->body;
	char		 uri[128];
	int		 full;

	if (ar->district != NULL) {
		SBUF_LIT(b, "{\"type\":\"district\",\"data\":{\"id\":");
		sbuf_jstr(b, ar->district->o.id);
		SBUF_LIT(b, ",\"district\":");
		sbuf_jstr(b, ar->district->o.id);
		SBUF_LIT(b, ",\"type\":\"district\",\"authorized_by\":"
		    "\"district\"},\"links\":[");
		link(b, 1, "self", "/me");
		snprintf(uri, sizeof uri, "/%s/districts/%s", ar->version,
		    ar->district->o.id);
		link(b, 0, "canonical", uri);
		SBUF_LIT(b, "]}");
		ar->code = 200;
		return;
	}
	/* Library has no district; Secure Sync (set_authorization) has. */
	full = ar->teacher->auth_district;
	SBUF_LIT(b, "{\"type\":\"user\",\"data\":{\"id\":");
	sbuf_jstr(b, ar->teacher->o.id);
	if (full) {
		SBUF_LIT(b, ",\"district\":");
		sbuf_jstr(b, ar->teacher->district->o.id);
	}
	SBUF_LIT(b, ",\"type\":\"teacher\",\"authorized_by\":");
	sbuf_jstr(b, full ? "district" : "teacher");
	SBUF_LIT(b, "},\"links\":[");
	link(b, 1, "self", "/me");
	snprintf(uri, sizeof uri, "/%s/users/%s", ar->version,
	    ar->teacher->o.id);
	link(b, 0, "canonical", uri);
	if (full) {
		snprintf(uri, sizeof uri, "/%s/districts/%s", ar->version,
		    ar->teacher->district->o.id);
		link(b, 0, "district", uri);
	}
	SBUF_LIT(b, "]}");
	ar->code = 200;
}

/* Keep only what the caller may see, deduplicated, sorted by id. */
static void
scoped_users(struct apireq *ar, struct ptrv *out, const struct ptrv *in,
    const char *role)
{
	size_t	i, j;

	for (i = 0; i < in->n; i++) {
		struct user *u = in->v[i];

		if (role != NULL && strcmp(role, u->o.type == OBJ_TEACHER ?
		    "teacher" : "student") != 0)
			continue;
		if (can_see_user(ar, u))
			ptrv_push(out, u);
	}
	ptrv_sort(out);
	for (i = j = 0; i < out->n; i++)
		if (j == 0 || out->v[j - 1] != out->v[i])
			out->v[j++] = out->v[i];
	out->n = j;
}

static void
route_users(struct apireq *ar, const char *role)
{
	struct ptrv	 all = { 0 }, out = { 0 };
	size_t		 i, j;

	if (ar->district != NULL) {
		world_sort_district(ar->w, ar->district);
		if (role == NULL) {
			list(ar, &ar->district->all_users, "users");
			return;
		}
		scoped_users(ar, &out, &ar->district->all_users, role);
	} else {
		struct user *t = ar->teacher;

		ptrv_push(&all, t);
		for (i = 0; i < t->sections.n; i++) {
			struct section *s = t->sections.v[i];

			for (j = 0; j < s->students.n; j++)
				ptrv_push(&all, s->students.v[j]);
			for (j = 0; j < s->teachers.n; j++)
				ptrv_push(&all, s->teachers.v[j]);
		}
		scoped_users(ar, &out, &all, role);
	}
	list(ar, &out, "users");
	ptrv_free(&all);
	ptrv_free(&out);
}

static void
route_user_sections(struct apireq *ar, struct user *u)
{
	struct ptrv	 out = { 0 };
	size_t		 i;

	if (ar->district != NULL) {
		list(ar, &u->sections, "sections");
		return;
	}
	for (i = 0; i < u->sections.n; i++)
		if (can_see_section(ar, u->sections.v[i]))
			ptrv_push(&out, u->sections.v[i]);
	list(ar, &out, "sections");
	ptrv_free(&out);
}

static void
route_mystudents(struct apireq *ar, struct user *u)
{
	struct ptrv	 all = { 0 }, out = { 0 };
	size_t		 i, j;

	if (ar->teacher != NULL && u != ar->teacher) {
		fail(ar, 404, "Resource not found");
		return;
	}
	if (u->o.type == OBJ_TEACHER) {
		for (i = 0; i < u->sections.n; i++) {
			struct section *s = u->sections.v[i];

			for (j = 0; j < s->students.n; j++)
				ptrv_push(&all, s->students.v[j]);
		}
	}
	scoped_users(ar, &out, &all, NULL);
	list(ar, &out, "users");
	ptrv_free(&all);
	ptrv_free(&out);
}

static void
route_sections(struct apireq *ar)
{
	if (ar->district != NULL) {
		world_sort_district(ar->w, ar->district);
		list(ar, &ar->district->all_sections, "sections");
	} else
		list(ar, &ar->teacher->sections, "sections");
}

static void
route_section_users(struct apireq *ar, struct section *s, const char *role)
{
	struct ptrv	 all = { 0 }, out = { 0 };
	size_t		 i;

	if (role == NULL || strcmp(role, "student") == 0)
		for (i = 0; i < s->students.n; i++)
			ptrv_push(&all, s->students.v[i]);
	if (role == NULL || strcmp(role, "teacher") == 0)
		for (i = 0; i < s->teachers.n; i++)
			ptrv_push(&all, s->teachers.v[i]);
	ptrv_sort(&all);
	for (i = 0; i < all.n; i++)
		if ((out.n == 0 || out.v[out.n - 1] != all.v[i]) &&
		    can_see_user(ar, all.v[i]))
			ptrv_push(&out, all.v[i]);
	list(ar, &out, "users");
	ptrv_free(&all);
	ptrv_free(&out);
}

/*
 * GET /events[/{id}]: district tokens only, as Clever serves Events to
 * district-app tokens; a teacher token gets the 404 of an unknown path.
 * A cursor naming no event still kept (unknown, or dropped by the 30-day
 * window) is 404: the spec lists only 404 and the docs say nothing more.
 */
static enum route
route_events(struct apireq *ar, int n, const char *id)
{
	struct district		*d = ar->district;
	struct sbx_event	*ev;
	const char		*after, *before;
	char			 self[256];

	if (d == NULL) {
		fail(ar, 404, "Resource not found");
		return n == 1 ? ROUTE_EVENTS : ROUTE_EVENT;
	}
	events_expire(ar->w, d);
	if (n == 2) {
		if ((ev = event_find(d, id)) == NULL) {
			fail(ar, 404, "Resource not found");
			return ROUTE_EVENT;
		}
		SBUF_LIT(&ar->body, "{\"data\":");
		render_obj(ar->w, &ev->o, VIEW_FULL, &ar->body);
		SBUF_LIT(&ar->body, ",\"links\":[");
		link(&ar->body, 1, "self", ar->path);
		SBUF_LIT(&ar->body, "]}");
		ar->code = 200;
		return ROUTE_EVENT;
	}
	after = evhttp_find_header(&ar->params, "starting_after");
	before = evhttp_find_header(&ar->params, "ending_before");
	if ((after != NULL && event_find(d, after) == NULL) ||
	    (before != NULL && event_find(d, before) == NULL)) {
		fail(ar, 404, "Event not found: unknown, or older than 30 "
		    "days");
		return ROUTE_EVENTS;
	}
	/* As recorded: a bare /v3.0/events has the self link ".../events?". */
	if (ar->query == NULL || *ar->query == '\0') {
		snprintf(self, sizeof self, "%s?", ar->path);
		ar->uri = self;
	}
	list(ar, &d->events, "events");
	return ROUTE_EVENTS;
}

/* Split "/users/ID/sub" into its parts; returns the number of parts. */
static int
split_path(const char *p, char parts[3][64])
{
	int		n = 0;
	const char	*e;
	size_t		len;

	while (*p == '/' && n < 3) {
		p++;
		e = strchr(p, '/');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		if (len == 0 || len >= 64)
			return -1;
		memcpy(parts[n], p, len);
		parts[n][len] = '\0';
		n++;
		p += len;
	}
	return *p == '\0' ? n : -1;
}

static enum route
route(struct apireq *ar, const char *rest)
{
	char		 parts[3][64];
	const char	*role = evhttp_find_header(&ar->params, "role");
	int		 n = split_path(rest, parts);
	struct user	*u;
	struct section	*s;

	if (role != NULL && strcmp(role, "student") != 0 &&
	    strcmp(role, "teacher") != 0 && n >= 1 && n <= 3) {
		fail(ar, 400, "role must be one of student, teacher");
		return ROUTE_UNKNOWN;
	}
	if (n == 1 && strcmp(parts[0], "me") == 0) {
		route_me(ar);
		return ROUTE_ME;
	}
	if (n >= 1 && strcmp(parts[0], "users") == 0) {
		if (n == 1) {
			route_users(ar, role);
			return ROUTE_USERS;
		}
		u = world_user(ar->w, parts[1]);
		if (!can_see_user(ar, u)) {
			fail(ar, 404, "Resource not found");
			return n == 2 ? ROUTE_USER : n == 3 &&
			    strcmp(parts[2], "sections") == 0 ?
			    ROUTE_USER_SECTIONS : ROUTE_USER_MYSTUDENTS;
		}
		if (n == 2) {
			single(ar, &u->o);
			return ROUTE_USER;
		}
		if (strcmp(parts[2], "sections") == 0) {
			route_user_sections(ar, u);
			return ROUTE_USER_SECTIONS;
		}
		if (strcmp(parts[2], "mystudents") == 0) {
			route_mystudents(ar, u);
			return ROUTE_USER_MYSTUDENTS;
		}
	}
	if (n >= 1 && strcmp(parts[0], "sections") == 0) {
		if (n == 1) {
			route_sections(ar);
			return ROUTE_SECTIONS;
		}
		s = world_section(ar->w, parts[1]);
		if (!can_see_section(ar, s)) {
			fail(ar, 404, "Resource not found");
			return n == 2 ? ROUTE_SECTION : ROUTE_SECTION_USERS;
		}
		if (n == 2) {
			single(ar, &s->o);
			return ROUTE_SECTION;
		}
		if (strcmp(parts[2], "users") == 0) {
			route_section_users(ar, s, role);
			return ROUTE_SECTION_USERS;
		}
	}
	if (n >= 1 && n <= 2 && strcmp(parts[0], "events") == 0)
		return route_events(ar, n, parts[1]);
	fail(ar, 404, "Resource not found");
	return ROUTE_UNKNOWN;
}

/* ---- request entry ---- */

static void
common_headers(struct sbx *sbx, struct evkeyvalq *h)
{
	char		id[48];
	uint64_t	n = ++sbx->reqctr;

	snprintf(id, sizeof id, "%08x-%04x-%04x-%04x-%012llx",
	    (unsigned)(n * 2654435761u), (unsigned)(n & 0xffff),
	    (unsigned)((n >> 16) & 0xffff), 0x9e37u,
	    (unsigned long long)n);
	evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
	evhttp_add_header(h, "Access-Control-Allow-Headers", "Content-Type,"
	    "Authorization,X-Requested-With,Accept,Origin,Referer,User-Agent");
	evhttp_add_header(h, "Access-Control-Allow-Methods",
	    "GET,PATCH,POST,DELETE");
	evhttp_add_header(h, "Strict-Transport-Security",
	    "max-age=15552000; includeSubDomains");
	evhttp_add_header(h, "X-Powered-By", "Express");
	evhttp_add_header(h, "X-Request-Id", id);
}

static const char *
bearer(struct evhttp_request *req)
{
	const char	*a = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");

	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return NULL;
	a += 7;
	while (*a == ' ')
		a++;
	return *a != '\0' ? a : NULL;
}

/*
 * Like Clever's servers, answer without Nagle's delay: evhttp writes the
 * headers and the body apart, and a client's delayed ACK would otherwise
 * hold every large response back by some 40 ms.
 */
static void
no_delay(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	int one = 1;

	if (evcon != NULL &&
	    (bev = evhttp_connection_get_bufferevent(evcon)) != NULL)
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
}

void
api_request(struct evhttp_request *req, void *arg)
{
	struct sbx		*sbx = arg;
	struct apireq		 ar = { .sbx = sbx, .w = sbx->world, .req = req,
				     .version = "v3.0", .code = 200 };
	struct evkeyvalq	*oh = evhttp_request_get_output_headers(req);
	const struct evhttp_uri	*eu = evhttp_request_get_evhttp_uri(req);
	const char		*tok, *rest;
	struct obj		*owner = NULL;
	struct bucket		*bk = NULL;
	enum fault_kind		 fault = FAULT_NONE;
	enum route		 r;
	const struct hostile_rule *h;

	TAILQ_INIT(&ar.params);
	sbx->stats.requests++;
	no_delay(req);
	common_headers(sbx, oh);
	ar.uri = evhttp_request_get_uri(req);
	ar.path = eu != NULL ? evhttp_uri_get_path(eu) : NULL;
	ar.query = eu != NULL ? evhttp_uri_get_query(eu) : NULL;
	if (ar.path == NULL || *ar.path == '\0')
		ar.path = "/";
	if (ar.query != NULL)
		evhttp_parse_query_str(ar.query, &ar.params);

	if ((tok = bearer(req)) != NULL &&
	    (owner = world_token(ar.w, tok)) != NULL) {
		if (owner->type == OBJ_DISTRICT) {
			ar.district = (struct district *)owner;
			bk = ar.district->revoked ? NULL : &ar.district->bucket;
			ar.view = VIEW_FULL;
		} else {
			ar.teacher = (struct user *)owner;
			bk = ar.teacher->revoked ? NULL : &ar.teacher->bucket;
			ar.view = ar.teacher->auth_district ? VIEW_FULL :
			    VIEW_LIBRARY;
		}
	}
	if (bk == NULL) {
		rate_take(sbx, oh, NULL);
		sbx->stats.unauthorized++;
		fail(&ar, 401, tok == NULL ? "Missing bearer token" :
		    "Invalid bearer token");
		goto out;
	}
	if (ar.district != NULL)
		ar.district->requests++;
	else
		ar.teacher->requests++;
	if (rate_take(sbx, oh, bk) == -1) {
		sbx->stats.limited++;
		if (ar.district != NULL)
			ar.district->limited++;
		else
			ar.teacher->limited++;
		ar.code = 429;
		ar.body.len = 0;
		goto out;
	}
	/* One draw per authenticated request keeps faults reproducible. */
	fault = fault_draw(&sbx->faults);

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		fail(&ar, 405, "Method not allowed");
		r = ROUTE_UNKNOWN;
	} else if (strncmp(ar.path, "/v3.0/", 6) == 0 ||
	    strncmp(ar.path, "/v3.1/", 6) == 0) {
		ar.version = ar.path[4] == '0' ? "v3.0" : "v3.1";
		rest = ar.path + 5;
		r = route(&ar, rest);
	} else if (strcmp(ar.path, "/me") == 0)
		r = route(&ar, "/me");
	else {
		fail(&ar, 404, "Resource not found");
		r = ROUTE_UNKNOWN;
	}
	sbx->stats.route[r]++;
	if ((h = hostile_match(sbx, tok, route_names[r])) != NULL) {
		if (hostile_apply(sbx, req, h, &ar.body)) {
			evhttp_clear_headers(&ar.params);
			return;		/* the connection is its now */
		}
	} else if (fault == FAULT_NONE)	/* a mangled body has no tag */
		etag_apply(&ar, oh);
out:
	sbx->stats.body_bytes += ar.body.len;
	evhttp_clear_headers(&ar.params);
	api_deliver(sbx, req, ar.code, &ar.body, fault);
}
