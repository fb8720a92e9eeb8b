/*
 * District bulk syncs (doc/contract.md, "Districts (Secure Sync)").  A
 * district job ("kind district") pulls its district's teachers, sections
 * and students with the district token, in pages of [district] page_size
 * (Clever's limit, at most 10,000), following each list's "next" link up
 * to Clever's empty trailing page, as Clever's guide for districts does:
 * a few dozen requests where syncing its teachers one by one takes four
 * each.  Every request takes a permit from the district token's windows,
 * as a teacher's sync through that token does.
 *
 * Then each teacher the app follows in the district (the district hash's
 * follow: all, or the members of district_teachers:{D}) is written as a
 * sync of that teacher would be: a job of kind sync of its own (its own
 * status, lock, coalescing, selection, shrink guard, write-back script
 * and events), [district] concurrency at a time, whose load step takes
 * its roster from the pull instead of asking Clever.  The roster is built
 * by the same parsers from the same records (each record kept as the
 * compact JSON text of what those parsers read of its "data", parsed
 * again for its teachers), so the snapshot is the one the teacher's own
 * sync writes, byte for byte.  Its
 * data dates from the pull's start: a request for the teacher made before
 * that coalesces with it, as with any sync that started after a request.
 *
 * Memory: a page's text is walked record by record (http_keep_text()), so
 * one record's tree stands at a time, not the page's (ten times its text,
 * some 80 MB for 10,000 students); what stays is the records' kept text,
 * about half of Clever's (dates, demographics and the like are dropped).
 */
#include <ctype.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

/* A list longer than this many pages is a Clever fault (a loop). */
#define DISTRICT_MAX_PAGES	10000

enum dlist {
	DL_ME,
	DL_TEACHERS,
	DL_SECTIONS,
	DL_STUDENTS,
	DL_COUNT
};

static const char *const dlist_names[DL_COUNT] = {
	[DL_ME] = "me",
	[DL_TEACHERS] = "teachers",
	[DL_SECTIONS] = "sections",
	[DL_STUDENTS] = "students",
};

static const char *const dlist_paths[DL_COUNT] = {
	[DL_ME] = "/me",
	[DL_TEACHERS] = "/users?role=teacher",
	[DL_SECTIONS] = "/sections",
	[DL_STUDENTS] = "/users?role=student",
};

/*
 * A record of the pull: its id and the compact JSON of what the parsers
 * read of its "data" (one allocation: text follows the id's NUL).
 */
struct rec {
	char	*id;
	char	*text;
};

struct recs {
	struct rec	*v;
	size_t		 n, cap;
};

/* A section's teacher: teacher id -> the section's index. */
struct link {
	char	*teacher;
	size_t	 section;
};

/* A teacher to write, and how far it got. */
enum target_state { T_TODO, T_RUNNING, T_ENDED };
struct target {
	char			*id;
	enum target_state	 state;
};

/* One list being fetched (or /me): its next page's URL. */
struct dreq {
	struct bulk	*b;
	enum dlist	 list;
	char		*url;
	int		 tries;		/* transient failures in a row */
	int		 pages;
	int		 done;
	struct http_req	*http;
	struct event	*timer;		/* retry or rate-limit wait */
	int		 permit;	/* a permit call in flight */
};

struct bulk {
	TAILQ_ENTRY(bulk)	 entry;		/* the pulls of this instance */
	int			 refs;
	struct job		*job;		/* NULL once it ended */
	char			*district;
	uint64_t		 started_ms;	/* the pull's start (Redis) */
	int			 follow_set;	/* follow = set */
	char			**follow;	/* its members, sorted */
	size_t			 nfollow;
	char			*auth, *me_district;	/* from /me */
	struct dreq		 req[DL_COUNT];
	struct recs		 teachers, sections, students;
	struct link		*links;
	size_t			 nlinks, links_cap;
	int			 pulled;	/* every list is in */
	struct target		*targets;	/* sorted by id */
	size_t			 ntargets, next;
	unsigned		 running;
	unsigned		 counts[OUT_COUNT];	/* the teachers' ends */
	unsigned		 dropped;	/* stopped before their end */
	uint64_t		 text_bytes;	/* the records' text kept */
};

static TAILQ_HEAD(, bulk) bulks = TAILQ_HEAD_INITIALIZER(bulks);

static void	dreq_send(struct dreq *);
static void	bulk_teachers_start(struct bulk *);

static struct bulk *
bulk_ref(struct bulk *b)
{
	b->refs++;
	return b;
}

static struct recs *
bulk_recs(struct bulk *b, enum dlist l)
{
	return l == DL_TEACHERS ? &b->teachers : l == DL_SECTIONS ?
	    &b->sections : &b->students;
}

/* Drop the records after the first n (a page taken in part). */
static void
recs_truncate(struct recs *rs, size_t n)
{
	while (rs->n > n)
		free(rs->v[--rs->n].id);
}

static void
recs_free(struct recs *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		free(rs->v[i].id);	/* and its text */
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

static void
bulk_unref(struct bulk *b)
{
	size_t i;

	if (--b->refs > 0)
		return;
	for (i = 0; i < b->nfollow; i++)
		free(b->follow[i]);
	free(b->follow);
	for (i = 0; i < b->nlinks; i++)
		free(b->links[i].teacher);
	free(b->links);
	for (i = 0; i < b->ntargets; i++)
		free(b->targets[i].id);
	free(b->targets);
	recs_free(&b->teachers);
	recs_free(&b->sections);
	recs_free(&b->students);
	for (i = 0; i < DL_COUNT; i++)
		free(b->req[i].url);
	free(b->auth);
	free(b->me_district);
	free(b->district);
	free(b);
}

/* The requests stop (the job ended, failed or goes back). */
static void
bulk_requests_stop(struct bulk *b)
{
	struct dreq *q;
	int i;

	for (i = 0; i < DL_COUNT; i++) {
		q = &b->req[i];
		if (q->http != NULL)
			http_cancel(q->http);
		q->http = NULL;
		if (q->timer != NULL)
			event_free(q->timer);
		q->timer = NULL;
	}
}

/*
 * The district job ends (or fails, or goes back): its requests stop, its
 * teachers not started are not, those running end on their own.
 */
void
district_stop(struct job *j)
{
	struct bulk *b;

	if (j == NULL || j->kind != JOB_DISTRICT || (b = j->bulk) == NULL)
		return;
	j->bulk = NULL;
	b->job = NULL;
	bulk_requests_stop(b);
	TAILQ_REMOVE(&bulks, b, entry);
	bulk_unref(b);
}

static void	bulk_fail(struct bulk *, enum fail_kind, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));

/* The pull failed: the district job fails (retried if transient). */
static void
bulk_fail(struct bulk *b, enum fail_kind fk, const char *code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (b->job == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	job_failed(b->job, fk, code, msg);	/* district_stop() */
}

/* ---- the requests ---- */

static void
on_dreq_timer(evutil_socket_t fd, short what, void *arg)
{
	dreq_send(arg);
}

static void
dreq_later(struct dreq *q, uint64_t ms)
{
	struct timeval tv = ms_to_tv(ms);

	if (q->timer == NULL)
		q->timer = evtimer_new(rd->base, on_dreq_timer, q);
	evtimer_add(q->timer, &tv);
}

static void	on_dreq_response(const struct http_response *, void *);

/* A permit call's context: the pull may end while Redis answers. */
struct dpermit {
	struct bulk	*b;
	enum dlist	 list;
};

static void
on_dreq_permit(unsigned granted, uint64_t wait_ms, int cold,
    const char *err, void *arg)
{
	struct dpermit *p = arg;
	struct bulk *b = p->b;
	struct dreq *q = &b->req[p->list];

	free(p);
	q->permit = 0;
	if (b->job == NULL) {
		bulk_unref(b);
		return;
	}
	if (err != NULL)
		bulk_fail(b, FAIL_TRANSIENT, ERR_REDIS, "rate-limit permit "
		    "failed: %s", err);
	else if (job_lock_expired(b->job))
		job_lock_lost(b->job);
	else if (granted == 0) {
		metrics_rate_wait(wait_ms);
		dreq_later(q, wait_ms > 0 ? wait_ms : 1);
	} else {
		b->job->requests++;
		q->http = http_get(rd->http, q->url, b->job->token, NULL,
		    on_dreq_response, q);
		if (q->list != DL_ME)
			http_keep_text(q->http);	/* walked, not a tree */
	}
	bulk_unref(b);
}

/* Send the list's next request once the district token has a permit. */
static void
dreq_send(struct dreq *q)
{
	struct bulk *b = q->b;
	struct dpermit *p;

	if (b->job == NULL || q->permit)
		return;
	p = xmalloc(sizeof(*p));
	p->b = bulk_ref(b);
	p->list = q->list;
	q->permit = 1;
	ratelimit_acquire(b->job->token_owner, 1,
	    b->job->trigger == TRIGGER_SCHEDULE ?
	    rd->conf.schedule_rate_share_pct : 100, on_dreq_permit, p);
}

static void
dreq_start(struct bulk *b, enum dlist l)
{
	struct dreq *q = &b->req[l];
	const char *path = dlist_paths[l];

	q->b = b;
	q->list = l;
	free(q->url);
	if (l == DL_ME)
		xasprintf(&q->url, "%s%s", sync_api_root(), path);
	else
		xasprintf(&q->url, "%s%s%slimit=%d", sync_api_root(), path,
		    strchr(path, '?') ? "&" : "?",
		    rd->conf.district_page_size);
	dreq_send(q);
}

/* /me: the token must be a district's, of this district. */
static int
bulk_me(struct bulk *b, json_object *body)
{
	json_object *data = NULL;
	const char *id, *type, *auth, *district;

	if (!json_object_object_get_ex(body, "data", &data) ||
	    (id = sync_obj_str(data, "id")) == NULL ||
	    (type = sync_obj_str(data, "type")) == NULL) {
		bulk_fail(b, FAIL_PERMANENT, ERR_BAD_RESPONSE, "Clever /me "
		    "response lacks data.id or data.type");
		return -1;
	}
	if (strcmp(type, "district") != 0 || strcmp(id, b->district) != 0) {
		bulk_fail(b, FAIL_PERMANENT, ERR_TOKEN_MISMATCH, "the token "
		    "stored for district %s is not that district's (Clever "
		    "/me: %s %s)", b->district, type, id);
		return -1;
	}
	auth = sync_obj_str(data, "authorized_by");
	district = sync_obj_str(data, "district");
	b->auth = xstrdup(auth != NULL ? auth : "district");
	b->me_district = district != NULL ? xstrdup(district) : NULL;
	return 0;
}

/*
 * What common/roster.c's parsers read of a record, member by member: the
 * rest of Clever's record (dates, demographics, enrollments, location...)
 * is not kept.  A member with sub, when it is an object, keeps only
 * those; any other value is kept whole, so a parser's error about it is
 * the one a teacher's own sync gets.
 */
struct keep {
	const char		*name;
	const struct keep	*sub;	/* NULL: the whole value */
};

#define KEEP(n)		{ n, NULL }
#define KEEP_END	{ NULL, NULL }

static const struct keep keep_name[] = {
	KEEP("first"), KEEP("middle"), KEEP("last"), KEEP_END
};
static const struct keep keep_credentials[] = {
	KEEP("district_username"), KEEP_END
};
static const struct keep keep_teacher_role[] = {
	{ "credentials", keep_credentials }, KEEP("school"), KEEP("schools"),
	KEEP("sis_id"), KEEP("state_id"), KEEP("teacher_number"),
	KEEP("title"), KEEP_END
};
static const struct keep keep_student_role[] = {
	{ "credentials", keep_credentials }, KEEP("grade"),
	KEEP("graduation_year"), KEEP("school"), KEEP("schools"),
	KEEP("sis_id"), KEEP("state_id"), KEEP("student_number"), KEEP_END
};
/* roles stays (an empty object when the role is not there: skipped) */
static const struct keep keep_teacher_roles[] = {
	{ "teacher", keep_teacher_role }, KEEP_END
};
static const struct keep keep_student_roles[] = {
	{ "student", keep_student_role }, KEEP_END
};

static const struct keep *const keep_lists[DL_COUNT] = {
	[DL_TEACHERS] = (const struct keep[]){ KEEP("id"),
	    { "name", keep_name }, KEEP("email"),
	    { "roles", keep_teacher_roles }, KEEP_END },
	[DL_STUDENTS] = (const struct keep[]){ KEEP("id"),
	    { "name", keep_name }, KEEP("email"),
	    { "roles", keep_student_roles }, KEEP_END },
	[DL_SECTIONS] = (const struct keep[]){ KEEP("id"), KEEP("name"),
	    KEEP("section_number"), KEEP("subject"), KEEP("grade"),
	    KEEP("teacher"), KEEP("teachers"), KEEP("students"),
	    KEEP("course"), KEEP("ext"), KEEP("period"), KEEP("school"),
	    KEEP("sis_id"), KEEP("term_id"), KEEP_END },
};

/* A new reference to what k keeps of v. */
static json_object *
kept(json_object *v, const struct keep *k)
{
	json_object *out, *m;

	if (k == NULL || !json_object_is_type(v, json_type_object))
		return json_object_get(v);
	out = json_object_new_object();
	for (; k->name != NULL; k++)
		if (json_object_object_get_ex(v, k->name, &m))
			json_object_object_add(out, k->name, kept(m, k->sub));
	return out;
}

static void
recs_add(struct bulk *b, enum dlist l, const char *id, json_object *data)
{
	struct recs *rs = bulk_recs(b, l);
	json_object *k = kept(data, keep_lists[l]);
	const char *t;
	size_t ilen = strlen(id), tlen;
	char *p;

	t = json_object_to_json_string_length(k, JSON_C_TO_STRING_PLAIN,
	    &tlen);
	if (rs->n == rs->cap) {
		rs->cap = rs->cap < 64 ? 64 : rs->cap * 2;
		rs->v = xreallocarray(rs->v, rs->cap, sizeof(*rs->v));
	}
	p = xmalloc(ilen + tlen + 2);
	memcpy(p, id, ilen + 1);
	memcpy(p + ilen + 1, t, tlen + 1);
	rs->v[rs->n].id = p;
	rs->v[rs->n].text = p + ilen + 1;
	rs->n++;
	b->text_bytes += ilen + tlen + 2;
	json_object_put(k);
}

/* Drop the links after the first n (a page taken in part). */
static void
links_truncate(struct bulk *b, size_t n)
{
	while (b->nlinks > n)
		free(b->links[--b->nlinks].teacher);
}

static void
link_add(struct bulk *b, const char *teacher, size_t section)
{
	size_t i;

	for (i = 0; i < b->nlinks && b->links[b->nlinks - 1 - i].section ==
	    section; i++)
		if (strcmp(b->links[b->nlinks - 1 - i].teacher, teacher) == 0)
			return;		/* primary and in teachers: once */
	if (b->nlinks == b->links_cap) {
		b->links_cap = b->links_cap < 64 ? 64 : b->links_cap * 2;
		b->links = xreallocarray(b->links, b->links_cap,
		    sizeof(*b->links));
	}
	b->links[b->nlinks].teacher = xstrdup(teacher);
	b->links[b->nlinks].section = section;
	b->nlinks++;
}

/* A section's teachers, as Clever lists it for /users/{id}/sections. */
static void
section_links(struct bulk *b, json_object *data, size_t section)
{
	json_object *a, *v;
	const char *t;
	size_t i, n;

	if ((t = sync_obj_str(data, "teacher")) != NULL && *t != '\0')
		link_add(b, t, section);
	if (!json_object_object_get_ex(data, "teachers", &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	n = json_object_array_length(a);
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(a, i);
		if (json_object_is_type(v, json_type_string))
			link_add(b, json_object_get_string(v), section);
	}
}

static int	bulk_listed(struct bulk *);
static void	dreq_transient(struct dreq *, const char *);

/* One record of a list page: its id checked, what the parsers read kept. */
static int
bulk_item(struct bulk *b, enum dlist l, json_object *item, size_t i)
{
	json_object *data;
	const char *id;

	if (!json_object_object_get_ex(item, "data", &data) ||
	    (id = sync_obj_str(data, "id")) == NULL ||
	    !contract_id_valid(id, ROSTER_ID_MAX)) {
		bulk_fail(b, FAIL_PERMANENT, ERR_BAD_RESPONSE, "Clever %s "
		    "page: data[%zu] has no valid id", dlist_names[l], i);
		return -1;
	}
	if (l == DL_SECTIONS)
		section_links(b, data, b->sections.n);
	recs_add(b, l, id, data);
	return 0;
}

/*
 * A list page's text walked value by value: {"data":[...],"links":[...]}
 * (members in any order), each record parsed, taken and freed on its own.
 */
struct walk {
	const char	*s;
	size_t		 len, pos;
	json_tokener	*tok;
};

static void
walk_space(struct walk *w)
{
	while (w->pos < w->len && isspace((unsigned char)w->s[w->pos]))
		w->pos++;
}

/* Skip whitespace; take the next character if it is c. */
static int
walk_char(struct walk *w, char c)
{
	walk_space(w);
	if (w->pos == w->len || w->s[w->pos] != c)
		return 0;
	w->pos++;
	return 1;
}

/* The next JSON value (the caller owns it; null is NULL), or -1. */
static int
walk_value(struct walk *w, json_object **out)
{
	walk_space(w);
	json_tokener_reset(w->tok);
	*out = json_tokener_parse_ex(w->tok, w->s + w->pos,
	    (int)(w->len - w->pos));
	if (json_tokener_get_error(w->tok) != json_tokener_success)
		return -1;
	w->pos += json_tokener_get_parse_end(w->tok);
	return 0;
}

enum walk_rc { WALK_OK, WALK_SYNTAX, WALK_FAILED };

/* The page's "data" array, its records taken one by one. */
static enum walk_rc
walk_items(struct bulk *b, enum dlist l, struct walk *w, size_t *count)
{
	json_object *item;
	int rc;

	if (!walk_char(w, '[')) {
		bulk_fail(b, FAIL_PERMANENT, ERR_BAD_RESPONSE, "Clever %s "
		    "page: \"data\" is not an array", dlist_names[l]);
		return WALK_FAILED;
	}
	if (walk_char(w, ']'))
		return WALK_OK;
	do {
		if (walk_value(w, &item) == -1)
			return WALK_SYNTAX;
		rc = bulk_item(b, l, item, (*count)++);
		json_object_put(item);
		if (rc == -1)
			return WALK_FAILED;
	} while (walk_char(w, ','));
	return walk_char(w, ']') ? WALK_OK : WALK_SYNTAX;
}

/* The uri of the "next" link of a page's links value, or NULL. */
static char *
walk_next_link(json_object *links)
{
	json_object *page = json_object_new_object();
	const char *next;
	char *s;

	json_object_object_add(page, "links", json_object_get(links));
	next = sync_next_link(page);
	s = next != NULL ? xstrdup(next) : NULL;
	json_object_put(page);
	return s;
}

/* The page's members: its records taken, its next link in *next. */
static enum walk_rc
walk_page(struct bulk *b, enum dlist l, struct walk *w, size_t *count,
    char **next)
{
	json_object *key = NULL, *v;
	enum walk_rc rc = WALK_SYNTAX;
	int data = 0;

	if (!walk_char(w, '{'))
		return WALK_SYNTAX;
	if (!walk_char(w, '}')) {
		do {
			json_object_put(key);
			if (walk_value(w, &key) == -1 ||
			    !json_object_is_type(key, json_type_string) ||
			    !walk_char(w, ':'))
				goto out;
			if (strcmp(json_object_get_string(key), "data") == 0 &&
			    !data++) {
				rc = walk_items(b, l, w, count);
				if (rc != WALK_OK)
					goto out;
				rc = WALK_SYNTAX;
				continue;
			}
			if (walk_value(w, &v) == -1)
				goto out;
			if (strcmp(json_object_get_string(key), "links") == 0) {
				free(*next);
				*next = walk_next_link(v);
			}
			json_object_put(v);
		} while (walk_char(w, ','));
		if (!walk_char(w, '}'))
			goto out;
	}
	walk_space(w);
	if (w->pos != w->len)
		goto out;
	rc = WALK_OK;
	if (!data) {
		bulk_fail(b, FAIL_PERMANENT, ERR_BAD_RESPONSE, "Clever %s "
		    "page: \"data\" is not an array", dlist_names[l]);
		rc = WALK_FAILED;
	}
out:
	json_object_put(key);
	return rc;
}

/*
 * A list page, from its text: its records kept, the next page asked for,
 * or the list done.  A page that is not JSON is asked again: what it gave
 * is dropped first.
 */
static void
dreq_page(struct dreq *q, const char *text, size_t len)
{
	struct bulk *b = q->b;
	struct recs *rs = bulk_recs(b, q->list);
	struct walk w = { text, len, 0, NULL };
	size_t n0 = rs->n, nlinks0 = b->nlinks, count = 0;
	char *next = NULL, *url;
	enum walk_rc rc = WALK_SYNTAX;

	if (len < INT_MAX / 2) {
		if ((w.tok = json_tokener_new()) == NULL)
			fatalx("%s: json_tokener_new", __func__);
		rc = walk_page(b, q->list, &w, &count, &next);
		json_tokener_free(w.tok);
	}
	if (rc != WALK_OK) {
		free(next);
		if (rc == WALK_SYNTAX && b->job != NULL) {
			recs_truncate(rs, n0);
			links_truncate(b, nlinks0);
			dreq_transient(q, "response is not a JSON list page");
		}
		return;
	}
	if (next != NULL && count > 0) {
		if (++q->pages >= DISTRICT_MAX_PAGES || next[0] != '/') {
			free(next);
			bulk_fail(b, FAIL_PERMANENT, ERR_BAD_RESPONSE, "Clever "
			    "%s list: bad or endless next links",
			    dlist_names[q->list]);
			return;
		}
		xasprintf(&url, "%s%s", rd->conf.clever_api_base, next);
		free(next);
		free(q->url);
		q->url = url;
		q->tries = 0;
		dreq_send(q);
		return;
	}
	free(next);
	q->done = 1;
	bulk_listed(b);
}

/* /me's 200: the token checked, and the pull may be complete. */
static void
dreq_me(struct dreq *q, json_object *body)
{
	if (bulk_me(q->b, body) == 0) {
		q->done = 1;
		bulk_listed(q->b);
	}
}

static void
dreq_transient(struct dreq *q, const char *what)
{
	uint64_t ms;

	if (q->tries++ < rd->conf.clever_request_retries) {
		metrics_clever_retry();
		ms = backoff_ms(q->tries, rd->conf.clever_retry_base_ms,
		    rd->conf.clever_retry_max_ms);
		logf_info(JOB_LF(q->b->job, .event = "request_retry"),
		    "Clever %s request: %s; retry %d in %llu ms",
		    dlist_names[q->list], what, q->tries,
		    (unsigned long long)ms);
		dreq_later(q, ms);
		return;
	}
	bulk_fail(q->b, FAIL_TRANSIENT, ERR_UNAVAILABLE, "Clever %s request: "
	    "%s (after %d tries)", dlist_names[q->list], what, q->tries);
}

static void
dreq_response(struct dreq *q, const struct http_response *res)
{
	struct bulk *b = q->b;
	char what[64];

	q->http = NULL;
	snprintf(what, sizeof(what), "%ld", res->status);
	metrics_clever_response(dlist_names[q->list], res->outcome ==
	    HTTP_OK ? what : "error", res->elapsed_ms);
	logf_debug(JOB_LF(b->job, .event = "response", .endpoint =
	    dlist_names[q->list], .http_status = (int)res->status, .timed = 1,
	    .duration_ms = res->elapsed_ms), "Clever %s: HTTP %ld, %zu bytes",
	    dlist_names[q->list], res->status, res->body_len);
	if (res->outcome == HTTP_OK && res->rl.present)
		ratelimit_observe(b->job->token_owner, &res->rl,
		    res->status == 429);
	if (res->outcome == HTTP_ERR_TOO_LARGE) {
		bulk_fail(b, FAIL_PERMANENT, ERR_TOO_LARGE, "Clever %s page is "
		    "larger than [clever] max_body_bytes (%llu): lower "
		    "[district] page_size", dlist_names[q->list],
		    (unsigned long long)rd->conf.clever_max_body);
		return;
	}
	if (res->outcome == HTTP_ERR_TLS) {
		bulk_fail(b, FAIL_PERMANENT, ERR_TLS, "Clever %s request "
		    "refused before sending: %s", dlist_names[q->list],
		    res->error ? res->error : "TLS verification failed");
		return;
	}
	if (res->outcome != HTTP_OK) {
		dreq_transient(q, res->error ? res->error : "transfer failed");
		return;
	}
	switch (res->status) {
	case 200:
		if (q->list != DL_ME) {
			/* tries: reset once the page is taken */
			dreq_page(q, res->text != NULL ? res->text : "",
			    res->text != NULL ? res->body_len : 0);
			return;
		}
		if (res->json == NULL || !json_object_is_type(res->json,
		    json_type_object)) {
			dreq_transient(q, "response is not a JSON object");
			return;
		}
		q->tries = 0;
		dreq_me(q, res->json);
		return;
	case 429:
		logf_info(JOB_LF(b->job, .event = "rate_limited"), "Clever "
		    "answered 429 to the %s request; waiting for the window",
		    dlist_names[q->list]);
		dreq_send(q);
		return;
	case 401:
		bulk_fail(b, FAIL_PERMANENT, ERR_REAUTHORIZE, "Clever refused "
		    "the district token of %s (401): the district must "
		    "authorize the app again", b->district);
		return;
	case 404:
		bulk_fail(b, FAIL_PERMANENT, ERR_NOT_SHARED, "Clever answered "
		    "404 to the district's %s request", dlist_names[q->list]);
		return;
	case 500: case 502: case 503: case 504:
		snprintf(what, sizeof(what), "HTTP %ld", res->status);
		dreq_transient(q, what);
		return;
	default:
		bulk_fail(b, FAIL_PERMANENT, ERR_BAD_REQUEST, "Clever answered "
		    "HTTP %ld to the district's %s request", res->status,
		    dlist_names[q->list]);
		return;
	}
}

/* Whatever the parsers log about this answer names the district job. */
static void
on_dreq_response(const struct http_response *res, void *arg)
{
	struct dreq *q = arg;
	struct job *j = q->b->job;

	log_setcontext(j->job_id, j->teacher, j->trace_id);
	dreq_response(q, res);
	log_setcontext(NULL, NULL, NULL);
}

/* ---- the index and the teachers to write ---- */

static int
rec_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rec *)a)->id, ((const struct rec *)b)->id);
}

static int
link_cmp(const void *a, const void *b)
{
	const struct link *x = a, *y = b;
	int c = strcmp(x->teacher, y->teacher);

	return c != 0 ? c : (x->section > y->section) - (x->section <
	    y->section);
}

static int
target_cmp(const void *a, const void *b)
{
	return strcmp(((const struct target *)a)->id,
	    ((const struct target *)b)->id);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct rec *
recs_find(const struct recs *rs, const char *id)
{
	struct rec key = { .id = (char *)id };

	return bsearch(&key, rs->v, rs->n, sizeof(*rs->v), rec_cmp);
}

/*
 * The teachers to write: every teacher listed (follow all), or those of
 * the app's set (follow set), listed or not (one not listed fails as its
 * own sync would: not shared with the app through this district).
 */
static void
bulk_targets(struct bulk *b)
{
	size_t i, n = b->follow_set ? b->nfollow : b->teachers.n;

	b->targets = xcalloc(n + 1, sizeof(*b->targets));
	for (i = 0; i < n; i++)
		b->targets[i].id = xstrdup(b->follow_set ? b->follow[i] :
		    b->teachers.v[i].id);
	b->ntargets = n;
	qsort(b->targets, n, sizeof(*b->targets), target_cmp);
}

static struct target *
target_find(const struct bulk *b, const char *id)
{
	struct target key = { .id = (char *)id };

	if (b->targets == NULL)
		return NULL;
	return bsearch(&key, b->targets, b->ntargets, sizeof(*b->targets),
	    target_cmp);
}

/* Once every list is in: sort for lookups, then write the teachers. */
static int
bulk_listed(struct bulk *b)
{
	int i;

	for (i = 0; i < DL_COUNT; i++)
		if (!b->req[i].done)
			return 0;
	b->pulled = 1;
	qsort(b->teachers.v, b->teachers.n, sizeof(*b->teachers.v), rec_cmp);
	qsort(b->students.v, b->students.n, sizeof(*b->students.v), rec_cmp);
	qsort(b->links, b->nlinks, sizeof(*b->links), link_cmp);
	bulk_targets(b);
	logf_info(JOB_LF(b->job, .event = "district_pulled", .requests =
	    b->job->requests), "district %s pulled: %zu teachers, %zu "
	    "sections, %zu students in %u requests (%llu bytes kept); "
	    "writing %zu teachers (follow %s)", b->district, b->teachers.n,
	    b->sections.n, b->students.n, b->job->requests,
	    (unsigned long long)b->text_bytes, b->ntargets,
	    b->follow_set ? "set" : "all");
	/* its teachers' writes hold it now, not Clever (a late stop) */
	job_set_state(b->job, JOB_WRITING);
	bulk_teachers_start(b);
	return 1;
}

/* ---- the teachers' writes ---- */

/* A teacher's job of this pull: a sync of its own, but for the fetch. */
static void
bulk_teacher_job(struct bulk *b, struct target *t)
{
	struct job *d = b->job, *j = xcalloc(1, sizeof(*j));

	t->state = T_RUNNING;
	b->running++;
	memcpy(j->entry_id, d->entry_id, sizeof(j->entry_id));
	/* fits: checked by bulk_teachers_start() */
	if (snprintf(j->job_id, sizeof(j->job_id), "%s.%s", d->job_id,
	    t->id) >= (int)sizeof(j->job_id))
		fatalx("bulk_teacher_job: job id too long");
	xstrlcpy(j->teacher, t->id, sizeof(j->teacher));
	j->ref = d->ref != NULL ? xstrdup(d->ref) : NULL;
	j->district = xstrdup(b->district);
	memcpy(j->traceparent, d->traceparent, sizeof(j->traceparent));
	memcpy(j->trace_id, d->trace_id, sizeof(j->trace_id));
	j->kind = JOB_SYNC;
	j->trigger = d->trigger;
	j->force = d->force;
	/* its data is the pull's: requests made before it coalesce */
	j->req_ms = b->started_ms;
	j->outcome = OUT_COUNT;
	j->bulk = bulk_ref(b);
	jobs_add(j);
	job_admit(j);
}

static void	bulk_done(struct bulk *);
static unsigned	bulk_failed(const struct bulk *);

/* Start teachers' writes up to [district] concurrency; end when done. */
static void
bulk_teachers_start(struct bulk *b)
{
	struct target *t;

	while (b->job != NULL && !rd->draining && b->next < b->ntargets &&
	    b->running < (unsigned)rd->conf.district_concurrency) {
		t = &b->targets[b->next++];
		if (strlen(t->id) + strlen(b->job->job_id) + 1 > JOB_ID_MAX ||
		    !contract_id_valid(t->id, TEACHER_ID_MAX)) {
			logf_warn(JOB_LF(b->job, .event = "district_skipped"),
			    "teacher id %.80s: not a Clever id of at most %d "
			    "characters; skipped", t->id, JOB_ID_MAX -
			    (int)strlen(b->job->job_id) - 1);
			t->state = T_ENDED;
			b->counts[OUT_FAILED]++;
			continue;
		}
		bulk_teacher_job(b, t);
	}
	if (b->job != NULL && b->running == 0)
		bulk_done(b);
}

/* A teacher's job of a pull ended (job_free), however it ended. */
void
district_teacher_ended(struct job *j)
{
	struct bulk *b = j->bulk;
	struct target *t;

	j->bulk = NULL;
	if ((t = target_find(b, j->teacher)) != NULL)
		t->state = T_ENDED;
	b->running--;
	if (j->outcome < OUT_COUNT)
		b->counts[j->outcome]++;
	else
		b->dropped++;	/* taken over, or handed back */
	bulk_teachers_start(b);
	bulk_unref(b);
}

static void
on_bulk_done(struct job *j, redisReply *r, const char *err)
{
	struct bulk *b = j->bulk;
	char msg[512];

	if (err != NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		job_failed(j, FAIL_TRANSIENT, ERR_REDIS, err ? err :
		    "unexpected reply to district_done");
	else if (strcmp(r->element[0]->str, "LOST") == 0)
		job_lock_lost(j);
	else if (strcmp(r->element[0]->str, "OK") != 0 || b == NULL)
		job_ended(j, OUT_COUNT, "the district job was taken over by "
		    "another instance");
	else {
		snprintf(msg, sizeof(msg), "district %s synced: %zu teachers "
		    "(%u changed, %u unchanged, %u coalesced, %u held, %u "
		    "failed) from %zu sections and %zu students in %u "
		    "requests", b->district, b->ntargets,
		    b->counts[OUT_CHANGED], b->counts[OUT_UNCHANGED],
		    b->counts[OUT_COALESCED], b->counts[OUT_HELD],
		    bulk_failed(b), b->sections.n, b->students.n,
		    j->requests);
		job_ended(j, b->counts[OUT_CHANGED] > 0 ? OUT_CHANGED :
		    OUT_UNCHANGED, msg);
	}
}

/* Teachers that failed, or stopped before their end. */
static unsigned
bulk_failed(const struct bulk *b)
{
	return b->counts[OUT_FAILED] + b->counts[OUT_DEAD] + b->dropped;
}

/* The counts of the district job's status and event, JSON. */
static char *
bulk_counts_json(const struct bulk *b)
{
	char *s;

	xasprintf(&s, "{\"teachers\":%zu,\"changed\":%u,\"unchanged\":%u,"
	    "\"coalesced\":%u,\"held\":%u,\"failed\":%u,\"requests\":%u,"
	    "\"teachers_listed\":%zu,\"sections\":%zu,\"students\":%zu}",
	    b->ntargets, b->counts[OUT_CHANGED], b->counts[OUT_UNCHANGED],
	    b->counts[OUT_COALESCED], b->counts[OUT_HELD], bulk_failed(b),
	    b->job->requests, b->teachers.n, b->sections.n, b->students.n);
	return s;
}

/*
 * Every teacher ended: the district job is done (district_done.lua), or,
 * while stopping with teachers left, goes back to the queue whole.
 */
static void
bulk_done(struct bulk *b)
{
	struct job *j = b->job;
	struct script_call *sc;
	char *key;

	if (rd->draining && (b->next < b->ntargets || b->dropped > 0)) {
		job_handback(j);
		return;
	}
	sc = script_new(SCRIPT_DISTRICT_DONE);
	script_key(sc, key_job(j->job_id));
	script_key(sc, key_jobs());
	script_key(sc, key_lock(j->teacher));
	script_key(sc, key_state(j->teacher));
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, j->entry_id);
	script_arg_own(sc, job_lock_value(j));
	script_arg(sc, j->job_id);
	script_arg(sc, j->teacher);
	script_arg(sc, b->district);
	script_num(sc, (long long)b->started_ms);
	script_arg_own(sc, bulk_counts_json(b));
	key = key_events();
	script_arg_own(sc, key);
	script_num(sc, job_status_ttl_s(j));
	script_arg(sc, j->ref);
	script_arg(sc, job_trigger_names[j->trigger]);
	script_arg(sc, rd->consumer);
	job_run(j, sc, on_bulk_done);
}

/*
 * A teacher's roster from the pull, as its own sync builds it from
 * Clever's answers (sync.c): the teacher's record, its sections (the
 * picker's list), the selection, the students of the sections kept.
 */
static json_object *
envelope(const char *text)
{
	json_object *o = json_object_new_object(), *d;

	d = json_tokener_parse(text);
	json_object_object_add(o, "data", d != NULL ? d :
	    json_object_new_object());
	return o;
}

static void
page_add(json_object *page, const char *text)
{
	json_object *a;

	json_object_object_get_ex(page, "data", &a);
	json_object_array_add(a, envelope(text));
}

static json_object *
page_new(void)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "data", json_object_new_array());
	return p;
}

/* The students of the roster's sections (those kept), once each. */
static json_object *
teacher_students(const struct bulk *b, const struct roster *r)
{
	json_object *page = page_new();
	const char **ids;
	const struct rec *s;
	size_t i, k, n = 0;

	for (i = 0; i < r->nsections; i++)
		n += r->sections[i].nstudents;
	ids = xcalloc(n + 1, sizeof(*ids));
	for (i = n = 0; i < r->nsections; i++)
		for (k = 0; k < r->sections[i].nstudents; k++)
			ids[n++] = r->sections[i].students[k];
	qsort(ids, n, sizeof(*ids), str_cmp);
	for (i = 0; i < n; i++)
		if ((i == 0 || strcmp(ids[i], ids[i - 1]) != 0) &&
		    (s = recs_find(&b->students, ids[i])) != NULL)
			page_add(page, s->text);
	free(ids);
	return page;
}

/* The teacher's sections as /users/{id}/sections lists them. */
static json_object *
teacher_sections(const struct bulk *b, const char *teacher)
{
	json_object *page = page_new();
	struct link key = { .teacher = (char *)teacher, .section = 0 };
	size_t lo = 0, hi = b->nlinks, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (link_cmp(&b->links[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < b->nlinks && strcmp(b->links[lo].teacher, teacher) == 0;
	    lo++)
		page_add(page, b->sections.v[b->links[lo].section].text);
	return page;
}

static int
teacher_build(struct job *j, const struct bulk *b, const struct rec *t,
    struct roster *r, char *err, size_t errlen)
{
	json_object *env, *page;
	int rc;

	env = envelope(t->text);
	rc = roster_set_teacher(r, env, err, errlen);
	json_object_put(env);
	if (rc == -1)
		return -1;
	page = teacher_sections(b, j->teacher);
	rc = roster_add_sections(r, page, err, errlen);
	json_object_put(page);
	if (rc == -1)
		return -1;
	job_sections_fetched(j, r);	/* the picker's list: every section */
	if (j->sel.mode == SEL_LIST)
		roster_select_sections(r, (const char *const *)j->sel.ids,
		    j->sel.count);
	else if (j->sel.mode == SEL_NONE)	/* non-NULL, empty: none */
		roster_select_sections(r, (const char *const *)&j->sel.ids, 0);
	page = teacher_students(b, r);
	rc = roster_add_students(r, page, err, errlen);
	json_object_put(page);
	if (rc == -1)
		return -1;
	roster_set_auth(r, b->auth, b->me_district);
	return roster_finish(r, 0, err, errlen);
}

/* Hook of job.c's load step for a pull's teacher: no Clever request. */
void
district_teacher_roster(struct job *j)
{
	const struct bulk *b = j->bulk;
	const struct rec *t;
	struct roster *r;
	char err[512];

	if ((t = recs_find(&b->teachers, j->teacher)) == NULL) {
		job_failed(j, FAIL_PERMANENT, ERR_NOT_SHARED, "the district's "
		    "teachers (/users?role=teacher) do not list this teacher");
		return;
	}
	log_setcontext(j->job_id, j->teacher, j->trace_id);
	r = sync_roster_new();
	if (teacher_build(j, b, t, r, err, sizeof(err)) == -1) {
		log_setcontext(NULL, NULL, NULL);
		roster_free(r);
		job_failed(j, FAIL_PERMANENT, ERR_BAD_RESPONSE, err);
		return;
	}
	log_setcontext(NULL, NULL, NULL);
	job_fetched(j, r);
}

/* ---- the start: the app's choice, then the requests ---- */

static void
bulk_pull(struct bulk *b)
{
	int i;

	for (i = 0; i < DL_COUNT; i++)
		dreq_start(b, (enum dlist)i);
}

static void
on_follow_set(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct bulk *b = arg;
	size_t i;

	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		err = r->str;
	if (b->job != NULL && (err != NULL || r->type != REDIS_REPLY_ARRAY))
		bulk_fail(b, FAIL_TRANSIENT, ERR_REDIS, "%s", err ? err :
		    "unexpected reply to SMEMBERS");
	else if (b->job != NULL) {
		b->follow = xcalloc(r->elements + 1, sizeof(*b->follow));
		for (i = 0; i < r->elements; i++)
			if (r->element[i]->type == REDIS_REPLY_STRING)
				b->follow[b->nfollow++] =
				    xstrdup(r->element[i]->str);
		qsort(b->follow, b->nfollow, sizeof(*b->follow), str_cmp);
		bulk_pull(b);
	}
	bulk_unref(b);
}

static void
on_follow(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct bulk *b = arg;
	char *key;

	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		err = r->str;
	if (b->job == NULL)
		;
	else if (err != NULL)
		bulk_fail(b, FAIL_TRANSIENT, ERR_REDIS, "%s", err);
	else if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "set") == 0) {
		b->follow_set = 1;
		key = key_district_teachers(b->district);
		rconn_command(rd->rc, 0, on_follow_set, bulk_ref(b),
		    "SMEMBERS %s", key);
		free(key);
	} else if (r->type == REDIS_REPLY_NIL || (r->type ==
	    REDIS_REPLY_STRING && strcmp(r->str, "all") == 0))
		bulk_pull(b);
	else
		bulk_fail(b, FAIL_PERMANENT, ERR_BAD_JOB, "the district's "
		    "follow (district:{D}) must be \"all\" or \"set\"");
	bulk_unref(b);
}

/* Hook of job.c's fetch step for a district job: the pull starts. */
void
district_fetch(struct job *j)
{
	struct bulk *b = xcalloc(1, sizeof(*b));
	char *key;

	district_stop(j);	/* an earlier attempt's, if any */
	b->refs = 1;		/* the job's */
	b->job = j;
	b->district = xstrdup(j->district);
	b->started_ms = j->started_ms;
	j->bulk = b;
	TAILQ_INSERT_TAIL(&bulks, b, entry);
	key = key_district(b->district);
	rconn_command(rd->rc, 0, on_follow, bulk_ref(b), "HGET %s follow",
	    key);
	free(key);
}

/*
 * Whether a teacher's sync must wait for a pull of this instance that is
 * to satisfy it: requested before the pull started, and of a teacher the
 * pull writes and has not yet written (before the teachers' list is in,
 * any sync that names the pull's district, or none).
 */
int
district_defers(const struct job *j)
{
	const struct bulk *b;
	const struct target *t;

	if (j->kind != JOB_SYNC || j->bulk != NULL)
		return 0;
	TAILQ_FOREACH(b, &bulks, entry) {
		if (b->job == NULL || j->req_ms > b->started_ms)
			continue;
		if (!b->pulled) {
			if (j->district == NULL ||
			    strcmp(j->district, b->district) == 0)
				return 1;
		} else if ((t = target_find(b, j->teacher)) != NULL &&
		    t->state != T_ENDED)
			return 1;
	}
	return 0;
}
