/*
 * The Clever requests of one job, all asynchronous (curl multi on the event
 * loop).  A Library sync takes four requests whatever the number of
 * sections: /me, /users/{id}, /users/{id}/sections (which lists each
 * section's student ids) and /users/{id}/mystudents, sent at once.  With a
 * section selection, students come per selected section instead, so that
 * unselected sections' students are never fetched; where mystudents is
 * refused (404) the sync falls back to the same per-section requests.
 * District tokens page through lists by following "next" links.
 *
 * Each request takes a permit from the shared rate limit first, retries
 * transient failures with exponential backoff and full jitter, and waits
 * (without counting a try) when Clever answers 429.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

/* A paged list longer than this is treated as a Clever fault (loop). */
#define SYNC_MAX_PAGES	10000

enum sreq_kind {
	SR_ME,
	SR_TEACHER,
	SR_SECTIONS,
	SR_MYSTUDENTS,
	SR_SECTION_STUDENTS,
};

static const char *const sreq_names[] = {
	[SR_ME] = "me",
	[SR_TEACHER] = "teacher",
	[SR_SECTIONS] = "sections",
	[SR_MYSTUDENTS] = "mystudents",
	[SR_SECTION_STUDENTS] = "section_students",
};

struct sreq {
	TAILQ_ENTRY(sreq)	 entry;
	struct sync		*sync;
	enum sreq_kind		 kind;
	char			*url;
	int			 tries;		/* transient failures so far */
	int			 pages;
	struct http_req		*http;
	struct event		*timer;		/* backoff or rate-limit wait */
	int			 needs_permit;
};
TAILQ_HEAD(sreqq, sreq);

struct sync {
	struct job	*job;
	struct sreqq	 reqs;		/* in flight or waiting */
	json_object	*me;		/* small: kept for the end */
	struct roster	*roster;	/* built as responses arrive */
	int		 students_per_section;	/* 1 wanted, 2 requested */
	int		 failed;
	int		 observed;	/* rate-limit headers passed on */
	struct event	*permit_ev;	/* batches permits; waits */
	struct permit_call *permit_call;	/* in flight */
};

static void	sreq_send(struct sreq *);
static void	sreq_free(struct sreq *);
static void	sync_maybe_done(struct sync *);

static const char *
api_root(void)
{
	static char root[1024];

	snprintf(root, sizeof(root), "%s/%s", rd->conf.clever_api_base,
	    rd->conf.clever_api_version);
	return root;
}

/* District tokens page; Library tokens get everything in one response. */
static int
sync_pages(const struct sync *s)
{
	return strncmp(s->job->token_owner, "district:", 9) == 0;
}

static void
sreq_add(struct sync *s, enum sreq_kind kind, const char *path,
    const char *query)
{
	struct sreq *q = xcalloc(1, sizeof(*q));
	char lim[32] = "";

	q->sync = s;
	q->kind = kind;
	if (sync_pages(s) && kind != SR_ME && kind != SR_TEACHER)
		snprintf(lim, sizeof(lim), "%slimit=%d", query ? "&" : "?",
		    rd->conf.clever_page_size);
	xasprintf(&q->url, "%s%s%s%s%s", api_root(), path,
	    query ? "?" : "", query ? query : "", lim);
	TAILQ_INSERT_TAIL(&s->reqs, q, entry);
	sreq_send(q);
}

static void
sync_fail(struct sync *s, enum fail_kind fk, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
sync_fail(struct sync *s, enum fail_kind fk, const char *code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (s->failed)
		return;
	s->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* job_failed frees the job and with it this sync */
	job_failed(s->job, fk, code, msg);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	sreq_send(arg);
}

static void
sreq_later(struct sreq *q, uint64_t ms)
{
	struct timeval tv = MS_TO_TV(ms);

	if (q->timer == NULL)
		q->timer = evtimer_new(rd->base, on_timer, q);
	evtimer_add(q->timer, &tv);
}

static void	on_response(const struct http_response *, void *);
static void	sync_permits(struct sync *);

/*
 * Permits are asked for all the requests that wait, in one script call.
 * Redis commands cannot be cancelled, so the call has its own small
 * context, detached from the sync if the sync ends first.
 */
struct permit_call {
	struct sync	*sync;
};

static void
on_permits(unsigned granted, uint64_t wait_ms, const char *err, void *arg)
{
	struct permit_call *pc = arg;
	struct sync *s = pc->sync;
	struct sreq *q;
	struct timeval tv = MS_TO_TV(wait_ms);

	free(pc);
	if (s == NULL)
		return;		/* the sync ended while Redis answered */
	s->permit_call = NULL;
	if (err != NULL) {
		sync_fail(s, FAIL_TRANSIENT, ERR_REDIS,
		    "rate-limit permit failed: %s", err);
		return;
	}
	TAILQ_FOREACH(q, &s->reqs, entry) {
		if (!q->needs_permit || granted == 0)
			continue;
		granted--;
		q->needs_permit = 0;
		s->job->requests++;
		q->http = http_get(rd->http, q->url, s->job->token,
		    on_response, q);
	}
	TAILQ_FOREACH(q, &s->reqs, entry)
		if (q->needs_permit)
			break;
	if (q == NULL)
		return;
	if (wait_ms > 0) {
		metrics_rate_wait(wait_ms);
		logf_debug(LF(.event = "rate_wait", .job = s->job->job_id,
		    .teacher = s->job->teacher), "rate limit: waiting %llu ms",
		    (unsigned long long)wait_ms);
		evtimer_add(s->permit_ev, &tv);
	} else
		sync_permits(s);
}

/* Ask for the permits of every request waiting for one. */
static void
sync_permits(struct sync *s)
{
	struct sreq *q;
	unsigned n = 0;

	if (s->permit_call != NULL || evtimer_pending(s->permit_ev, NULL))
		return;
	TAILQ_FOREACH(q, &s->reqs, entry)
		if (q->needs_permit)
			n++;
	if (n == 0)
		return;
	s->permit_call = xcalloc(1, sizeof(*s->permit_call));
	s->permit_call->sync = s;
	ratelimit_acquire(s->job->token_owner, n, on_permits, s->permit_call);
}

static void
on_permit_ev(evutil_socket_t fd, short what, void *arg)
{
	sync_permits(arg);
}

/* Send q once it has a permit; requests made together share one call. */
static void
sreq_send(struct sreq *q)
{
	struct sync *s = q->sync;

	q->needs_permit = 1;
	if (s->permit_call == NULL && !evtimer_pending(s->permit_ev, NULL))
		event_active(s->permit_ev, EV_TIMEOUT, 0);
}

static void
sreq_free(struct sreq *q)
{
	TAILQ_REMOVE(&q->sync->reqs, q, entry);
	if (q->http != NULL)
		http_cancel(q->http);
	if (q->timer != NULL)
		event_free(q->timer);
	free(q->url);
	free(q);
}

/* The uri of the "next" link of a list page, or NULL. */
static const char *
next_link(json_object *page)
{
	json_object *links, *l, *rel, *uri;
	size_t i, n;

	if (!json_object_object_get_ex(page, "links", &links) ||
	    !json_object_is_type(links, json_type_array))
		return NULL;
	n = json_object_array_length(links);
	for (i = 0; i < n; i++) {
		l = json_object_array_get_idx(links, i);
		if (json_object_object_get_ex(l, "rel", &rel) &&
		    json_object_object_get_ex(l, "uri", &uri) &&
		    strcmp(json_object_get_string(rel), "next") == 0)
			return json_object_get_string(uri);
	}
	return NULL;
}

static size_t
page_length(json_object *page)
{
	json_object *data;

	if (!json_object_object_get_ex(page, "data", &data) ||
	    !json_object_is_type(data, json_type_array))
		return 0;
	return json_object_array_length(data);
}

/* Request one section's students (selection or mystudents fallback). */
static void
request_section_students(struct sync *s, const char *section)
{
	char *path;

	/* anything else must not reach a URL */
	if (!contract_id_valid(section, ROSTER_ID_MAX)) {
		logf_warn(LF(.event = "bad_section_id", .job = s->job->job_id,
		    .teacher = s->job->teacher), "skipping unsafe section id");
		return;
	}
	xasprintf(&path, "/sections/%s/users", section);
	sreq_add(s, SR_SECTION_STUDENTS, path, "role=student");
	free(path);
}

/*
 * All section pages are in: narrow the roster to the selection, and ask
 * for students per section where that is the plan.
 */
static void
sections_complete(struct sync *s)
{
	struct roster *r = s->roster;
	size_t i;

	if (s->job->sel_mode == SEL_LIST)
		roster_select_sections(r, (const char *const *)s->job->sel,
		    s->job->nsel);
	if (s->job->kind != JOB_SYNC)
		return;
	for (i = 0; i < r->nsections; i++)
		request_section_students(s, r->sections[i].id);
}

static int
sections_in_flight(const struct sync *s)
{
	const struct sreq *q;

	TAILQ_FOREACH(q, &s->reqs, entry)
		if (q->kind == SR_SECTIONS)
			return 1;
	return 0;
}

/* A complete 200 JSON response: keep it and follow "next" if any. */
static void
sreq_ok(struct sreq *q, json_object *body)
{
	struct sync *s = q->sync;
	const char *next;
	char *url, err[256];
	int rc;

	if (!json_object_is_type(body, json_type_object)) {
		sync_fail(s, FAIL_PERMANENT, ERR_BAD_RESPONSE,
		    "Clever %s response is not a JSON object",
		    sreq_names[q->kind]);
		return;
	}
	/*
	 * Into the roster at once, so that only the compact roster is kept
	 * while the other responses are awaited, never the parsed JSON.
	 */
	switch (q->kind) {
	case SR_ME:
		s->me = json_object_get(body);
		rc = 0;
		break;
	case SR_TEACHER:
		rc = roster_set_teacher(s->roster, body, err, sizeof(err));
		break;
	case SR_SECTIONS:
		rc = roster_add_sections(s->roster, body, err, sizeof(err));
		break;
	default:
		rc = roster_add_students(s->roster, body, err, sizeof(err));
		break;
	}
	if (rc == -1) {
		sync_fail(s, FAIL_PERMANENT, ERR_BAD_RESPONSE, "Clever data "
		    "rejected: %s", err);
		return;
	}
	/* Follow "next" unless the page is empty (Clever's trailing page). */
	next = (q->kind == SR_ME || q->kind == SR_TEACHER) ? NULL :
	    next_link(body);
	if (next != NULL && page_length(body) > 0) {
		if (++q->pages >= SYNC_MAX_PAGES || next[0] != '/') {
			sync_fail(s, FAIL_PERMANENT, ERR_BAD_RESPONSE,
			    "Clever %s list: bad or endless next links",
			    sreq_names[q->kind]);
			return;
		}
		xasprintf(&url, "%s%s", rd->conf.clever_api_base, next);
		free(q->url);
		q->url = url;
		q->tries = 0;
		sreq_send(q);
		return;
	}
	sreq_free(q);
	sync_maybe_done(s);
}

/* Retry a transient failure of one request, or give up on the job. */
static void
sreq_transient(struct sreq *q, const char *code, const char *what)
{
	struct sync *s = q->sync;
	uint64_t ms;

	if (q->tries++ < rd->conf.clever_request_retries) {
		metrics_clever_retry();
		ms = backoff_ms(q->tries, rd->conf.clever_retry_base_ms,
		    rd->conf.clever_retry_max_ms);
		logf_info(LF(.event = "request_retry", .job = s->job->job_id,
		    .teacher = s->job->teacher), "Clever %s request: %s; "
		    "retry %d in %llu ms", sreq_names[q->kind], what, q->tries,
		    (unsigned long long)ms);
		sreq_later(q, ms);
		return;
	}
	sync_fail(s, FAIL_TRANSIENT, code, "Clever %s request: %s (after %d "
	    "tries)", sreq_names[q->kind], what, q->tries);
}

/* The status label of a response: its HTTP status, or why none came. */
static void
count_response(const struct sreq *q, const struct http_response *res)
{
	static const char *const failures[] = {
		[HTTP_ERR_CONNECT] = "connect",
		[HTTP_ERR_TIMEOUT] = "timeout",
		[HTTP_ERR_TOO_LARGE] = "too_large",
		[HTTP_ERR_TRANSPORT] = "transport",
	};
	char status[24];

	if (res->outcome == HTTP_OK)
		snprintf(status, sizeof(status), "%ld", res->status);
	else
		snprintf(status, sizeof(status), "%s", failures[res->outcome]);
	metrics_clever_response(sreq_names[q->kind], status);
}

static void
on_response(const struct http_response *res, void *arg)
{
	struct sreq *q = arg;
	struct sync *s = q->sync;
	char what[256];

	q->http = NULL;
	count_response(q, res);
	logf_debug(LF(.event = "response", .job = s->job->job_id,
	    .teacher = s->job->teacher), "Clever %s: HTTP %ld, %zu bytes, %llu "
	    "ms", sreq_names[q->kind], res->status, res->body_len,
	    (unsigned long long)res->elapsed_ms);
	/*
	 * Pass Clever's view of the window on once per sync (to align the
	 * shared window with Clever's), when it runs low, and on a 429.
	 */
	if (res->outcome == HTTP_OK && (res->status == 429 || !s->observed ||
	    (res->rl.limit > 0 && res->rl.remaining * 10 <= res->rl.limit))) {
		s->observed = res->rl.present;
		ratelimit_observe(s->job->token_owner, &res->rl,
		    res->status == 429);
	}
	switch (res->outcome) {
	case HTTP_OK:
		break;
	case HTTP_ERR_TOO_LARGE:
		sync_fail(s, FAIL_PERMANENT, ERR_TOO_LARGE, "Clever %s "
		    "response is larger than max_body_bytes (%llu)",
		    sreq_names[q->kind],
		    (unsigned long long)rd->conf.clever_max_body);
		return;
	default:
		sreq_transient(q, ERR_UNAVAILABLE, res->error ? res->error :
		    "transfer failed");
		return;
	}

	switch (res->status) {
	case 200:
		if (res->json == NULL) {
			snprintf(what, sizeof(what), "response is not valid "
			    "JSON (%s)", res->json_error ? res->json_error :
			    "empty");
			sreq_transient(q, ERR_BAD_RESPONSE, what);
			return;
		}
		sreq_ok(q, res->json);
		return;
	case 429:
		logf_info(LF(.event = "rate_limited", .job = s->job->job_id,
		    .teacher = s->job->teacher), "Clever answered 429 to the %s "
		    "request; waiting for the window", sreq_names[q->kind]);
		sreq_send(q);	/* the permit now waits for the reset */
		return;
	case 401:
		sync_fail(s, FAIL_PERMANENT, ERR_REAUTHORIZE, "Clever refused "
		    "the token (401): the teacher must authorize the app again");
		return;
	case 404:
		if (q->kind == SR_MYSTUDENTS) {
			/* refused for this token: ask per section instead */
			sreq_free(q);
			s->students_per_section = 1;
			sync_maybe_done(s);
			return;
		}
		sync_fail(s, FAIL_PERMANENT, ERR_NOT_SHARED, "Clever answered "
		    "404 to the %s request: not shared with the app, deleted, "
		    "or the wrong kind of token", sreq_names[q->kind]);
		return;
	case 500:
	case 502:
	case 503:
	case 504:
		snprintf(what, sizeof(what), "HTTP %ld", res->status);
		sreq_transient(q, ERR_UNAVAILABLE, what);
		return;
	default:
		sync_fail(s, FAIL_PERMANENT, ERR_BAD_REQUEST, "Clever answered "
		    "HTTP %ld to the %s request", res->status,
		    sreq_names[q->kind]);
		return;
	}
}

static const char *
obj_str(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Check /me against the job; fills authorized_by and district. */
static int
check_me(struct sync *s, const char **auth, const char **district)
{
	json_object *data = NULL;
	const char *id, *type;

	if (!json_object_object_get_ex(s->me, "data", &data) ||
	    (id = obj_str(data, "id")) == NULL ||
	    (type = obj_str(data, "type")) == NULL) {
		sync_fail(s, FAIL_PERMANENT, ERR_BAD_RESPONSE,
		    "Clever /me response lacks data.id or data.type");
		return -1;
	}
	*district = obj_str(data, "district");
	*auth = obj_str(data, "authorized_by");
	if (*auth == NULL)
		*auth = strcmp(type, "district") == 0 ? "district" : "teacher";
	if (strcmp(type, "district") != 0 && strcmp(id, s->job->teacher) != 0) {
		sync_fail(s, FAIL_PERMANENT, ERR_TOKEN_MISMATCH, "the token "
		    "stored for this teacher belongs to another Clever user");
		return -1;
	}
	return 0;
}

/* Everything is in: finish the roster and hand it to the job. */
static void
sync_build(struct sync *s)
{
	struct job *j = s->job;
	const char *auth, *district;
	struct roster *r = s->roster;
	char err[256];

	if (check_me(s, &auth, &district) == -1)
		return;
	roster_set_auth(r, auth, district);
	if (j->sel_mode == SEL_NONE)	/* non-NULL, empty: none */
		roster_select_sections(r, (const char *const *)&j->sel, 0);
	if (roster_finish(r, j->kind == JOB_DISCOVER ?
	    ROSTER_FINISH_SECTIONS_ONLY : 0, err, sizeof(err)) == -1) {
		sync_fail(s, FAIL_PERMANENT, ERR_BAD_RESPONSE, "Clever data "
		    "rejected: %s", err);
		return;
	}
	s->roster = NULL;
	s->failed = 1;	/* done: nothing more may be reported */
	job_fetched(j, r);
}

/*
 * After each completed request: once the section list is in, ask for the
 * per-section students if that is the plan; once nothing is left, build.
 */
static void
sync_maybe_done(struct sync *s)
{
	if (s->failed)
		return;
	if (s->students_per_section == 1 && !sections_in_flight(s)) {
		s->students_per_section = 2;
		sections_complete(s);
	}
	if (TAILQ_EMPTY(&s->reqs))
		sync_build(s);
}

struct sync *
sync_start(struct job *j)
{
	struct sync *s = xcalloc(1, sizeof(*s));
	char *path;

	s->job = j;
	s->roster = roster_new(strcmp(rd->conf.sync_fields, "district") == 0 ?
	    ROSTER_FIELDS_DISTRICT : ROSTER_FIELDS_LIBRARY);
	TAILQ_INIT(&s->reqs);
	s->permit_ev = evtimer_new(rd->base, on_permit_ev, s);
	j->sync = s;
	sreq_add(s, SR_ME, "/me", NULL);
	xasprintf(&path, "/users/%s", j->teacher);
	sreq_add(s, SR_TEACHER, path, NULL);
	free(path);
	xasprintf(&path, "/users/%s/sections", j->teacher);
	sreq_add(s, SR_SECTIONS, path, NULL);
	free(path);
	if (j->kind == JOB_SYNC && j->sel_mode == SEL_ALL) {
		xasprintf(&path, "/users/%s/mystudents", j->teacher);
		sreq_add(s, SR_MYSTUDENTS, path, NULL);
		free(path);
	} else if (j->kind == JOB_SYNC && j->sel_mode == SEL_LIST)
		s->students_per_section = 1;	/* once sections are known */
	return s;
}

void
sync_free(struct sync *s)
{
	if (s == NULL)
		return;
	while (!TAILQ_EMPTY(&s->reqs))
		sreq_free(TAILQ_FIRST(&s->reqs));
	if (s->permit_call != NULL)
		s->permit_call->sync = NULL;
	event_free(s->permit_ev);
	json_object_put(s->me);
	roster_free(s->roster);
	free(s);
}

/* Whether the sync waits for its token's rate-limit window. */
int
sync_rate_waiting(const struct sync *s)
{
	return s != NULL && evtimer_pending(s->permit_ev, NULL);
}
