/*
 * Clever's Events, per district ([events]; doc/contract.md "Events (Secure
 * Sync)").  For every district in the districts set whose app enabled
 * Events (field events = 1 of its district hash), one instance of the
 * deployment polls GET /events with the district's token, from the last
 * event id its cursor holds, and resyncs only the teachers the events
 * touch.
 *
 * One poller per district: event_lock.lua takes the district's lock on a
 * tick and renews it on every later one (a third of its TTL); an instance
 * that dies stops renewing it and another takes it over when it expires.
 * The cursor lives in Redis, so the one that takes over, or this one after
 * a restart, goes on from where the last commit left it.
 *
 * A poll reads one page of events (a batch), maps each event to teachers,
 * then commits the batch with event_commit.lua: the per-teacher sync jobs
 * (kind sync, trigger events) and the cursor's move, in one step, and only
 * while the lock is ours and the cursor is where the batch started.  A
 * crash before the step polls the batch again (its jobs coalesce with
 * those still queued); after it, both are there.
 *
 * Mapping (the roster holds teachers, sections and students):
 * - sections.*: the section's teachers before and after (object and
 *   previous_attributes: teacher, teachers); who is enrolled is in the
 *   teachers' rosters, so a change of students reaches them too;
 * - users.* of a teacher: the teacher;
 * - users.* of a student: the teachers of the student's sections, asked of
 *   Clever (/users/{id}/sections with the district token: one request,
 *   always current).  An update that changes no field a roster keeps
 *   (demographics) touches nobody.  A deleted student's sections are no
 *   longer listed by Clever, and the teachers who had the student are
 *   known only to a walk of every snapshot: that event cannot be mapped;
 * - other records (districts, schools, terms, courses, contacts...):
 *   nobody; a roster keeps only their ids.
 * An event that cannot be mapped, and a cursor Clever no longer knows (its
 * 30-day window), fall back to one district job (kind district, the bulk
 * sync) and restart the cursor from the newest event: the bulk sync sees
 * everything the skipped events said.  A district without a cursor starts
 * at the newest event, with no job: the app's own district sync (or the
 * schedule's) covers what came before.
 *
 * The cheaper way (doc/contract.md, "The choice"): a student's sections
 * cost a request each, a teacher's resync [events] teacher_requests, and
 * 1% of a district's records can touch half its teachers.  Before each
 * student lookup and before the commit, the requests the batch has left
 * to spend per teacher (its lookups to go, its followed teachers found so
 * far, what the pass's earlier full batches spent) are weighed against a
 * district pull (the requests of the district's last one, from its job
 * status, kept in the cursor); when the pull is cheaper the lookups stop,
 * and one district job is committed with the cursor moved to the newest
 * event.  A student appears once per batch however many events name it,
 * and its lookups run LOOKUPS_MAX at a time.
 *
 * Requests go through the district token's rate-limit windows
 * (ratelimit.c) with the schedule's share: events are background work.
 * Every step is asynchronous; the loop never waits.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define EVENT_ID_MAX		64
#define EVENTS_TICK_MIN_MS	50
#define EVENTS_TICK_MAX_MS	10000
/* Past this many pages of one student's sections: a Clever fault. */
#define STUDENT_PAGES_MAX	100
#define STUDENT_PAGE_SIZE	10000
/* Student lookups of a poll in flight at once: enough to hide Clever's
   latency, few enough that one poll does not take a window's permits in
   a burst (each still takes its permit, at the schedule's share). */
#define LOOKUPS_MAX		8

enum commit_mode { CM_TEACHERS, CM_DISTRICT, CM_START, CM_BULK };
static const char *const commit_modes[] = {
	[CM_TEACHERS] = "teachers",
	[CM_DISTRICT] = "district",
	[CM_START] = "start",
	[CM_BULK] = "bulk",
};

struct poll;
struct req;
typedef void	(*answer_fn)(struct req *, json_object *, long status);

/* A district the deployment polls; ours while held. */
struct district {
	TAILQ_ENTRY(district)	 entry;
	char			 id[TEACHER_ID_MAX + 1];
	struct poll		*poll;		/* in flight, or NULL */
	uint64_t		 next_ms;	/* next poll due (mono) */
	int			 held;		/* the lock, as last told */
	int			 locking;	/* event_lock.lua in flight */
	unsigned		 failures;	/* polls failed in a row */
	long long		 pass_spent;	/* requests the full batches
						   before this one called for,
						   per teacher */
};
TAILQ_HEAD(districtq, district);

/* A request of a poll (a page of events, a student's sections), from its
   permit to its answer. */
struct req {
	struct poll		*p;
	const char		*endpoint;	/* metrics label */
	char			*url;
	answer_fn		 answer;
	int			 tries, cold, pages;
	int			 live;		/* its answer is awaited */
	int			 permit;	/* a permit call in flight */
	size_t			 student;	/* a lookup's student */
	struct http_req		*http;
	struct event		*timer;		/* permit wait, retry */
};

/* One poll: a batch of events read, mapped, committed. */
struct poll {
	struct district		*d;		/* NULL: detached (stop) */
	int			 redis;		/* commands in flight */
	char			*token;		/* never logged */
	char			 owner[TEACHER_ID_MAX + 16];
	char			*from;		/* cursor read: "" start */
	char			*newest;	/* the newest event found */
	int			 has_cursor;
	json_object		*page;		/* the batch */
	size_t			 nevents;
	size_t			 mapped;	/* events touching teachers */
	char			**teachers;
	size_t			 nteachers, cap;
	size_t			 followed;	/* of them, followed */
	char			**students;	/* to look up, then sorted */
	size_t			 nstudents, scap;
	size_t			 next;		/* the next to look up */
	size_t			 inflight;	/* lookups under way */
	long long		 looked;	/* their requests */
	int			 stopping;	/* no more lookups */
	long long		 bulk;		/* a district pull's requests,
						   0: not known */
	int			 follow_set;	/* follow = set */
	char			**follow;	/* its members, sorted */
	size_t			 nfollow;
	enum commit_mode	 mode;
	char			 why[256];	/* fallback, start or bulk */
	struct req		 main;		/* pages of events */
	struct req		 look[LOOKUPS_MAX];
};

static struct districtq	 districts = TAILQ_HEAD_INITIALIZER(districts);
static struct event	*ev_tick;
static int		 walking;	/* SMEMBERS in flight */

static void	poll_start(struct district *);
static void	poll_end(struct poll *, int failed);
static void	req_send(struct req *);
static void	look_next(struct poll *);

static uint64_t
events_tick_ms(void)
{
	uint64_t ms = rd->conf.events_lock_ttl_ms / 3;

	if (rd->conf.events_interval_ms < ms)
		ms = rd->conf.events_interval_ms;
	return ms < EVENTS_TICK_MIN_MS ? EVENTS_TICK_MIN_MS :
	    ms > EVENTS_TICK_MAX_MS ? EVENTS_TICK_MAX_MS : ms;
}

/* ---- JSON ---- */

static json_object *
jget(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *
jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return v != NULL && json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
}

static json_object *
jarray(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return v != NULL && json_object_is_type(v, json_type_array) ? v : NULL;
}

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- the poll's life ---- */

static struct poll *
poll_new(struct district *d)
{
	struct poll *p = xcalloc(1, sizeof(*p));
	size_t i;

	p->d = d;
	snprintf(p->owner, sizeof(p->owner), "district:%s", d->id);
	p->main.p = p;
	for (i = 0; i < LOOKUPS_MAX; i++)
		p->look[i].p = p;
	d->poll = p;
	return p;
}

/* The request's answer is no longer awaited (a permit call in flight
   still comes back: it finds the request stopped). */
static void
req_stop(struct req *r)
{
	if (r->http != NULL)
		http_cancel(r->http);
	r->http = NULL;
	if (r->timer != NULL)
		event_free(r->timer);
	r->timer = NULL;
	free(r->url);
	r->url = NULL;
	r->live = 0;
}

static void
poll_reqs_stop(struct poll *p)
{
	size_t i;

	req_stop(&p->main);
	for (i = 0; i < LOOKUPS_MAX; i++)
		req_stop(&p->look[i]);
	p->inflight = 0;
}

static void
poll_free(struct poll *p)
{
	poll_reqs_stop(p);
	json_object_put(p->page);
	strv_free(p->teachers, p->nteachers);
	strv_free(p->students, p->nstudents);
	strv_free(p->follow, p->nfollow);
	free(p->token);
	free(p->from);
	free(p->newest);
	free(p);
}

/* A Redis reply for p came: 1 if p is gone (detached while waiting; the
   last reply frees it). */
static int
poll_gone(struct poll *p)
{
	p->redis--;
	if (p->d != NULL)
		return 0;
	if (p->redis == 0)
		poll_free(p);
	return 1;
}

/* Detach p from its district: freed now, or by its last Redis reply. */
static void
poll_detach(struct poll *p)
{
	p->d->poll = NULL;
	p->d = NULL;
	poll_reqs_stop(p);
	if (p->redis == 0)
		poll_free(p);
}

/* The poll is over: the next one after the interval (a failure backs
   off), or at once when the batch was full (more are waiting). */
static void
poll_end(struct poll *p, int failed)
{
	struct district *d = p->d;
	uint64_t wait = rd->conf.events_interval_ms;

	if (failed) {
		d->failures++;
		wait = backoff_ms((int)d->failures, wait,
		    wait * 16 > 600000 ? wait * 16 : 600000);
	} else {
		d->failures = 0;
		if (p->mode == CM_TEACHERS &&
		    p->nevents >= (size_t)rd->conf.events_page_size)
			wait = 0;
	}
	if (failed || wait != 0)
		d->pass_spent = 0;	/* the pass is over */
	d->next_ms = mono_ms() + wait;
	poll_detach(p);
	if (wait == 0 && d->held && !rd->draining)
		poll_start(d);
}

static void
poll_fail(struct poll *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
poll_fail(struct poll *p, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	logf_warn(LF(.event = "events_failed"), "events of district %s: %s; "
	    "polled again later from the same cursor", p->d->id, msg);
	poll_end(p, 1);
}

/* ---- requests: a permit from the district token's windows first ---- */

static void	on_http(const struct http_response *, void *);

static void
on_permit(unsigned granted, uint64_t wait_ms, int cold, const char *err,
    void *arg)
{
	struct req *r = arg;
	struct poll *p = r->p;
	struct timeval tv = ms_to_tv(wait_ms);

	r->permit = 0;
	if (poll_gone(p) || !r->live)
		return;
	if (err != NULL) {
		poll_fail(p, "rate-limit permit failed: %s", err);
		return;
	}
	if (granted == 0) {
		metrics_rate_wait(wait_ms);
		evtimer_add(r->timer, &tv);
		return;
	}
	r->cold = cold;
	if (r != &p->main)
		p->looked++;
	r->http = http_get(rd->http, r->url, p->token, NULL, on_http, r);
}

static void
req_send(struct req *r)
{
	r->permit = 1;
	r->p->redis++;
	ratelimit_acquire(r->p->owner, 1, rd->conf.schedule_rate_share_pct,
	    on_permit, r);
}

static void
on_req_timer(evutil_socket_t fd, short what, void *arg)
{
	req_send(arg);
}

/* GET url (taken) with the district token; answer gets the body. */
static void
req_get(struct req *r, const char *endpoint, char *url, answer_fn answer)
{
	free(r->url);
	r->url = url;
	r->endpoint = endpoint;
	r->answer = answer;
	r->tries = 0;
	r->live = 1;
	if (r->timer == NULL)
		r->timer = evtimer_new(rd->base, on_req_timer, r);
	req_send(r);
}

static void
count_answer(struct req *r, const struct http_response *res)
{
	char status[24];

	if (res->outcome == HTTP_OK)
		snprintf(status, sizeof(status), "%ld", res->status);
	else
		snprintf(status, sizeof(status), "failed");
	metrics_clever_response(r->endpoint, status, res->elapsed_ms);
	if (res->outcome == HTTP_OK && (res->status == 429 || r->cold ||
	    (res->rl.limit > 0 && res->rl.remaining * 10 <= res->rl.limit)))
		ratelimit_observe(r->p->owner, &res->rl, res->status == 429);
}

static void
on_http(const struct http_response *res, void *arg)
{
	struct req *r = arg;
	struct poll *p = r->p;
	struct timeval tv;

	r->http = NULL;
	count_answer(r, res);
	logf_debug(LF(.event = "response", .endpoint = r->endpoint,
	    .http_status = (int)res->status), "events of district %s: "
	    "Clever %s: HTTP %ld, %zu bytes", p->d->id, r->endpoint,
	    res->status, res->body_len);
	if (res->outcome == HTTP_OK && res->status == 429) {
		req_send(r);	/* the permit waits for the window */
		return;
	}
	if (res->outcome != HTTP_OK || res->status >= 500 ||
	    (res->status == 200 && res->json == NULL)) {
		if (r->tries++ >= rd->conf.clever_request_retries) {
			poll_fail(p, "Clever %s: %s", r->endpoint,
			    res->outcome != HTTP_OK && res->error ?
			    res->error : "no usable answer");
			return;
		}
		metrics_clever_retry();
		tv = ms_to_tv(backoff_ms(r->tries,
		    rd->conf.clever_retry_base_ms, rd->conf.clever_retry_max_ms));
		evtimer_add(r->timer, &tv);
		return;
	}
	if (res->status == 401) {
		poll_fail(p, "Clever refused the district token (401)");
		return;
	}
	r->answer(r, res->status == 200 ? res->json : NULL, res->status);
}

/* ---- the commit: jobs and cursor in one step ---- */

static void
on_commit(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct poll *p = arg;
	long long st, jobs;

	if (poll_gone(p))
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER) {
		poll_fail(p, "commit failed: %s", err != NULL ? err :
		    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str :
		    "bad reply");
		return;
	}
	st = r->element[0]->integer;
	jobs = r->element[1]->integer;
	if (st != 1) {
		p->d->held = 0;
		logf_info(LF(.event = "events_lost"), "events of district %s: "
		    "%s; the batch is left to the poller that holds it",
		    p->d->id, st == 0 ? "the poller lock is another "
		    "instance's now" : "the cursor moved meanwhile");
		poll_end(p, 0);
		return;
	}
	metrics_events((unsigned)p->nevents, (unsigned)jobs,
	    p->mode == CM_DISTRICT);
	if (p->mode == CM_DISTRICT)
		logf_warn(LF(.event = "events_fallback"), "events of district "
		    "%s: fell back to a district sync (%s); cursor restarted "
		    "at the newest event", p->d->id, p->why);
	else if (p->mode == CM_BULK)
		logf_info(LF(.event = "events_bulk"), "events of district "
		    "%s: one district sync instead of per-teacher resyncs, "
		    "the cheaper way: %s; cursor moved to the newest event",
		    p->d->id, p->why);
	else if (p->mode == CM_START)
		logf_info(LF(.event = "events_started"), "events of district "
		    "%s: cursor starts at the newest event (%s)", p->d->id,
		    p->why);
	else if (p->nevents > 0)
		logf_info(LF(.event = "events_polled"), "events of district "
		    "%s: %zu events polled, %zu mapped to %zu teachers (%zu "
		    "student lookups), %lld sync jobs added", p->d->id,
		    p->nevents, p->mapped, p->nteachers, p->nstudents, jobs);
	if (p->mode == CM_TEACHERS)
		p->d->pass_spent += p->looked +
		    (long long)rd->conf.events_teacher_requests * jobs;
	poll_end(p, 0);
}

static void
poll_commit(struct poll *p, const char *to)
{
	struct script_call *sc = script_new(SCRIPT_EVENT_COMMIT);
	size_t i;

	script_key(sc, key_event_cursor(p->d->id));
	script_key(sc, key_event_lock(p->d->id));
	script_key(sc, key_jobs());
	script_key(sc, key_district(p->d->id));
	script_key(sc, key_district_teachers(p->d->id));
	script_arg(sc, rd->consumer);
	script_arg(sc, p->d->id);
	script_arg(sc, p->from);
	script_arg(sc, to);
	script_arg(sc, commit_modes[p->mode]);
	script_arg(sc, p->mode == CM_TEACHERS ? "" : p->why);
	script_num(sc, (long long)p->nevents);
	script_num(sc, p->bulk);
	script_num(sc, p->mode == CM_TEACHERS ? (long long)p->nteachers : 0);
	if (p->mode == CM_TEACHERS)
		for (i = 0; i < p->nteachers; i++)
			script_arg(sc, p->teachers[i]);
	p->redis++;
	script_run(sc, on_commit, p);
}

/* ---- the newest event: where a cursor (re)starts ---- */

/* GET /events: a page of at most [events] page_size after id ("" the
   oldest Clever keeps). */
static void
events_page(struct poll *p, const char *after, answer_fn answer)
{
	char *url;

	xasprintf(&url, "%s/events?limit=%d%s%s", sync_api_root(),
	    rd->conf.events_page_size, after[0] ? "&starting_after=" : "",
	    after);
	req_get(&p->main, "events", url, answer);
}

/* The id of the last event of a page, "" if none, NULL if bad. */
static const char *
last_event_id(json_object *data)
{
	size_t n = json_object_array_length(data);
	const char *id;

	if (n == 0)
		return "";
	id = jstr(jget(json_object_array_get_idx(data, n - 1), "data"), "id");
	return id != NULL && contract_id_valid(id, EVENT_ID_MAX) ? id : NULL;
}

/*
 * The walk to the newest event, a page at a time from p->newest (NULL:
 * the oldest Clever keeps): the Events API names no other way to find it
 * (its pages run oldest first, and ending_before needs an id).  A short
 * page is the end.
 */
static void
on_newest(struct req *r, json_object *body, long status)
{
	struct poll *p = r->p;
	json_object *data = body != NULL ? jarray(body, "data") : NULL;
	const char *id = data != NULL ? last_event_id(data) : NULL;

	if (id == NULL) {
		poll_fail(p, "Clever answered HTTP %ld, not a page of events, "
		    "while looking for the newest event", status);
		return;
	}
	if (id[0] != '\0') {
		free(p->newest);
		p->newest = xstrdup(id);
	}
	if (json_object_array_length(data) >=
	    (size_t)rd->conf.events_page_size) {
		events_page(p, p->newest, on_newest);
		return;
	}
	poll_commit(p, p->newest != NULL ? p->newest : "");
}

/*
 * Restart the cursor at the newest event, with a district job (mode
 * CM_DISTRICT) or without (CM_START).
 */
static void
poll_restart(struct poll *p, enum commit_mode mode, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
poll_restart(struct poll *p, enum commit_mode mode, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	poll_reqs_stop(p);	/* lookups under way are of no use now */
	p->mode = mode;
	free(p->newest);
	p->newest = NULL;
	events_page(p, "", on_newest);
}

/* ---- mapping events to teachers ---- */

/* Whether the app follows teacher t (known once the weighing read it). */
static int
followed(struct poll *p, const char *t)
{
	return !p->follow_set || bsearch(&t, p->follow, p->nfollow,
	    sizeof(*p->follow), strp_cmp) != NULL;
}

static void
strv_add(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = xstrdup(s);
}

static int
add_teacher(struct poll *p, const char *t)
{
	size_t i;

	if (t == NULL || !contract_id_valid(t, TEACHER_ID_MAX))
		return -1;
	for (i = 0; i < p->nteachers; i++)
		if (strcmp(p->teachers[i], t) == 0)
			return 0;
	strv_add(&p->teachers, &p->nteachers, &p->cap, t);
	if (followed(p, t))
		p->followed++;
	return 0;
}

/* A section's teachers (field teacher, and teachers), if o names them. */
static int
add_section_teachers(struct poll *p, json_object *o)
{
	json_object *ts = jarray(o, "teachers");
	const char *t = jstr(o, "teacher");
	size_t i, n = ts != NULL ? json_object_array_length(ts) : 0;

	if (t != NULL && t[0] != '\0' && add_teacher(p, t) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (add_teacher(p, json_object_get_string(
		    json_object_array_get_idx(ts, i))) == -1)
			return -1;
	return 0;
}

/* Fields of a user, at its top or in its student role, that a roster
   keeps: a change of any other (demographics) touches no roster. */
static int
roster_field(const char *k)
{
	static const char *const kept[] = { "name", "email", "grade",
	    "credentials", "graduation_year", "school", "schools", "sis_id",
	    "state_id", "student_number" };
	size_t i;

	for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (strcmp(k, kept[i]) == 0)
			return 1;
	return 0;
}

/* Whether a student's previous_attributes name a field a roster keeps
   (none given: assume so). */
static int
student_changed(json_object *prev)
{
	json_object *st = jget(jget(prev, "roles"), "student");

	if (prev == NULL || !json_object_is_type(prev, json_type_object))
		return 1;
	json_object_object_foreach(prev, k, v) {
		(void)v;
		if (roster_field(k))
			return 1;
	}
	if (st == NULL || !json_object_is_type(st, json_type_object))
		return 0;
	json_object_object_foreach(st, sk, sv) {
		(void)sv;
		if (roster_field(sk))
			return 1;
	}
	return 0;
}

/*
 * Map an event without asking Clever: 1 when done with it (teachers
 * added, its student queued for a lookup, or none touched), -1 when it
 * cannot be mapped (why says so).
 */
static int
map_event(struct poll *p, json_object *ev, char *why, size_t len)
{
	const char *type = jstr(ev, "type"), *id;
	json_object *obj = jget(jget(ev, "data"), "object");
	json_object *prev = jget(jget(ev, "data"), "previous_attributes");
	int student, teacher;

	if (type == NULL || obj == NULL) {
		snprintf(why, len, "an event without a type or an object");
		return -1;
	}
	if (strncmp(type, "sections.", 9) == 0) {
		if (add_section_teachers(p, obj) == -1 ||
		    add_section_teachers(p, prev) == -1) {
			snprintf(why, len, "a %s event names a teacher id "
			    "that is not a Clever id", type);
			return -1;
		}
		p->mapped++;
		return 1;
	}
	student = strncmp(type, "students.", 9) == 0 ||
	    jget(jget(obj, "roles"), "student") != NULL;
	teacher = strncmp(type, "teachers.", 9) == 0 ||
	    jget(jget(obj, "roles"), "teacher") != NULL ||
	    jget(jget(prev, "roles"), "teacher") != NULL;
	if (strncmp(type, "users.", 6) != 0 && !student && !teacher)
		return 1;	/* a record no roster holds but by id */
	id = jstr(obj, "id");
	if (id == NULL || !contract_id_valid(id, TEACHER_ID_MAX)) {
		snprintf(why, len, "a %s event without a valid user id", type);
		return -1;
	}
	if (teacher) {
		add_teacher(p, id);
		p->mapped++;
	}
	if (!student || (strstr(type, ".updated") && !student_changed(prev)))
		return 1;
	if (strstr(type, ".deleted") != NULL) {
		snprintf(why, len, "a student was deleted (%s): Clever lists "
		    "a deleted student's sections no more", type);
		return -1;
	}
	strv_add(&p->students, &p->nstudents, &p->scap, id);
	return 1;
}

/* The batch's students, each once (sorted): one lookup a student. */
static void
students_unique(struct poll *p)
{
	size_t i, n = 0;

	if (p->nstudents == 0)
		return;
	qsort(p->students, p->nstudents, sizeof(*p->students), strp_cmp);
	for (i = 1; i < p->nstudents; i++) {
		if (strcmp(p->students[i], p->students[n]) == 0)
			free(p->students[i]);
		else
			p->students[++n] = p->students[i];
	}
	p->nstudents = n + 1;
}

/* The event at index i of the batch (its "data"). */
static json_object *
batch_event(struct poll *p, size_t i)
{
	return jget(json_object_array_get_idx(jarray(p->page, "data"), i),
	    "data");
}

/* The cursor after the batch: its last event's id. */
static const char *
batch_last(struct poll *p)
{
	return p->nevents > 0 ? jstr(batch_event(p, p->nevents - 1), "id") :
	    p->from;
}

/* ---- the choice: per teacher, or one district pull ---- */

/*
 * Whether a district pull is cheaper than what the batch has left to
 * spend per teacher: its student lookups to go (one request each, at
 * least), [events] teacher_requests for each followed teacher found so
 * far (a lower bound while lookups are to go), and what the pass's
 * earlier full batches spent that way (a pass that has spent a pull's
 * cost and still has events waiting is given to a pull: at worst twice
 * the cheaper way, the rent-or-buy rule).  Unknown (no pull of the
 * district done yet, or its figure forgotten): per teacher.
 */
static int
bulk_cheaper(struct poll *p)
{
	long long k = rd->conf.events_teacher_requests;
	long long left = (long long)(p->nstudents - p->next);
	long long per = left + k * (long long)p->followed + p->d->pass_spent;

	if (p->bulk <= 0 || k == 0 || per <= p->bulk)
		return 0;
	snprintf(p->why, sizeof(p->why), "per teacher ~%lld requests (%lld "
	    "student lookups to go, %zu followed teachers x %lld, %lld "
	    "spent by this pass's earlier batches) > a district pull ~%lld "
	    "(its last); %lld lookups made", per, left, p->followed, k,
	    p->d->pass_spent, p->bulk, p->looked);
	return 1;
}

/* One district job for the batch and the events after it: the cursor
   moves to the newest event (the pull sees what they all say). */
static void
poll_bulk(struct poll *p)
{
	p->mode = CM_BULK;
	free(p->newest);
	p->newest = xstrdup(batch_last(p));
	if (p->nevents < (size_t)rd->conf.events_page_size)
		poll_commit(p, p->newest);	/* it was the newest */
	else
		events_page(p, p->newest, on_newest);
}

/* ---- student lookups, LOOKUPS_MAX at a time ---- */

static void	on_student_sections(struct req *, json_object *, long);

static struct req *
look_slot(struct poll *p)
{
	size_t i;

	for (i = 0; i < LOOKUPS_MAX; i++)
		if (!p->look[i].live && !p->look[i].permit)
			return &p->look[i];
	return NULL;
}

static void
look_send(struct req *r, size_t student)
{
	char *url;

	r->student = student;
	r->pages = 0;
	r->p->inflight++;
	xasprintf(&url, "%s/users/%s/sections?limit=%d", sync_api_root(),
	    r->p->students[student], STUDENT_PAGE_SIZE);
	req_get(r, "user_sections", url, on_student_sections);
}

/* Look the next students up while per teacher stays the cheaper way;
   once none is under way, commit the batch the cheaper way. */
static void
look_next(struct poll *p)
{
	struct req *r;

	while (!p->stopping && p->next < p->nstudents &&
	    (r = look_slot(p)) != NULL) {
		if (bulk_cheaper(p)) {
			p->stopping = 1;
			break;
		}
		look_send(r, p->next++);
	}
	if (p->inflight > 0)
		return;		/* their answers go on */
	if (bulk_cheaper(p) || p->stopping) {	/* why: as it is now */
		poll_bulk(p);
		return;
	}
	p->mode = CM_TEACHERS;
	poll_commit(p, batch_last(p));
}

static void
on_student_sections(struct req *r, json_object *body, long status)
{
	struct poll *p = r->p;
	json_object *data = body != NULL ? jarray(body, "data") : NULL;
	json_object *links = body != NULL ? jarray(body, "links") : NULL;
	const char *rel, *uri;
	size_t i, n;
	char *url;

	if (data == NULL) {
		poll_restart(p, CM_DISTRICT, "Clever answered HTTP %ld for "
		    "student %s's sections", status, p->students[r->student]);
		return;
	}
	n = json_object_array_length(data);
	for (i = 0; i < n; i++)
		if (add_section_teachers(p, jget(json_object_array_get_idx(data,
		    i), "data")) == -1) {
			poll_restart(p, CM_DISTRICT, "a student's section "
			    "names a teacher id that is not a Clever id");
			return;
		}
	for (i = 0; n > 0 && links != NULL &&
	    i < json_object_array_length(links); i++) {
		json_object *l = json_object_array_get_idx(links, i);

		if ((rel = jstr(l, "rel")) == NULL || strcmp(rel, "next") ||
		    (uri = jstr(l, "uri")) == NULL)
			continue;
		if (uri[0] != '/' || ++r->pages > STUDENT_PAGES_MAX) {
			poll_fail(p, "a student's sections: bad or endless "
			    "next links");
			return;
		}
		xasprintf(&url, "%s%s", rd->conf.clever_api_base, uri);
		req_get(r, "user_sections", url, on_student_sections);
		return;
	}
	r->live = 0;
	p->inflight--;
	p->mapped++;
	look_next(p);
}

/* ---- what the choice weighs: the last pull, the followed teachers ---- */

static void
on_follow_set(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct poll *p = arg;
	size_t i;

	if (poll_gone(p))
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		poll_fail(p, "reading the followed teachers failed");
		return;
	}
	p->follow = xreallocarray(NULL, r->elements + 1, sizeof(*p->follow));
	for (i = 0; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			p->follow[p->nfollow++] = xstrdup(r->element[i]->str);
	qsort(p->follow, p->nfollow, sizeof(*p->follow), strp_cmp);
	p->follow_set = 1;
	p->followed = 0;
	for (i = 0; i < p->nteachers; i++)
		if (followed(p, p->teachers[i]))
			p->followed++;
	look_next(p);
}

static void
on_follow(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct poll *p = arg;
	char *key;

	if (poll_gone(p))
		return;
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		poll_fail(p, "reading the district's follow failed");
		return;
	}
	if (r->type != REDIS_REPLY_STRING || strcmp(r->str, "set") != 0) {
		look_next(p);		/* all: every teacher counts */
		return;
	}
	key = key_district_teachers(p->d->id);
	p->redis++;
	rconn_command(rd->rc, 0, on_follow_set, p, "SMEMBERS %s", key);
	free(key);
}

static void
weigh_follow(struct poll *p)
{
	char *key = key_district(p->d->id);

	p->redis++;
	rconn_command(rd->rc, 0, on_follow, p, "HGET %s follow", key);
	free(key);
}

static void
on_pull_requests(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct poll *p = arg;
	long long v;

	if (poll_gone(p))
		return;
	if (r != NULL && r->type == REDIS_REPLY_STRING &&
	    (v = strtoll(r->str, NULL, 10)) > 0)
		p->bulk = v;
	weigh_follow(p);
}

/* The district's last pull: its job (state:{district:D}'s done_job). */
static void
on_done_job(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct poll *p = arg;
	char *key;

	if (poll_gone(p))
		return;
	if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0 ||
	    r->len > 40 || strspn(r->str, "0123456789-") != r->len) {
		weigh_follow(p);	/* none: the cursor's figure, if any */
		return;
	}
	key = key_job(r->str);
	p->redis++;
	rconn_command(rd->rc, 0, on_pull_requests, p, "HGET %s requests",
	    key);
	free(key);
}

/*
 * Weigh the batch's ways (when it touches anyone and the choice is on):
 * the requests of the district's last pull, read from its job status (the
 * cursor keeps the figure for when the status has expired), and which
 * teachers the app follows; then the lookups.
 */
static void
poll_weigh(struct poll *p)
{
	char name[TEACHER_ID_MAX + 16];
	char *key;

	if (rd->conf.events_teacher_requests == 0 ||
	    (p->nstudents == 0 && p->nteachers == 0)) {
		look_next(p);
		return;
	}
	snprintf(name, sizeof(name), "district:%s", p->d->id);
	key = key_state(name);
	p->redis++;
	rconn_command(rd->rc, 0, on_done_job, p, "HGET %s done_job", key);
	free(key);
}

/* Map the batch without asking Clever, then weigh and look up. */
static void
poll_map(struct poll *p)
{
	char why[160];
	size_t i;

	for (i = 0; i < p->nevents; i++)
		if (map_event(p, batch_event(p, i), why, sizeof(why)) == -1) {
			poll_restart(p, CM_DISTRICT, "event %s cannot be "
			    "mapped: %s", jstr(batch_event(p, i), "id"), why);
			return;
		}
	students_unique(p);
	poll_weigh(p);
}

/* Every event of the page has a valid id: checked before any is used. */
static int
page_ok(struct poll *p)
{
	size_t i;
	const char *id;

	for (i = 0; i < p->nevents; i++)
		if ((id = jstr(batch_event(p, i), "id")) == NULL ||
		    !contract_id_valid(id, EVENT_ID_MAX))
			return 0;
	return 1;
}

static void
on_page(struct req *r, json_object *body, long status)
{
	struct poll *p = r->p;
	json_object *data = body != NULL ? jarray(body, "data") : NULL;

	if (data == NULL && status >= 400 && status < 500 && status != 401) {
		/* Clever's answer to a starting_after it no longer keeps */
		poll_restart(p, CM_DISTRICT, "Clever answered HTTP %ld to "
		    "starting_after=%s: older than its 30-day window, or "
		    "unknown", status, p->from);
		return;
	}
	if (data == NULL) {
		poll_fail(p, "Clever answered HTTP %ld, not a page of events",
		    status);
		return;
	}
	p->page = json_object_get(body);
	p->nevents = json_object_array_length(data);
	if (!page_ok(p)) {
		json_object_put(p->page);
		p->page = NULL;
		p->nevents = 0;
		poll_restart(p, CM_DISTRICT, "a page of events with an event "
		    "that has no valid id");
		return;
	}
	logf_debug(LF(.event = "events_page"), "events of district %s: %zu "
	    "events after %s", p->d->id, p->nevents,
	    p->from[0] ? p->from : "the start");
	poll_map(p);
}

/* ---- the cursor and the token, then the page ---- */

static void
poll_page(struct poll *p)
{
	if (!p->has_cursor) {
		poll_restart(p, CM_START, "no cursor yet");
		return;
	}
	events_page(p, p->from, on_page);
}

static void
on_token(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct poll *p = arg;

	if (poll_gone(p))
		return;
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		poll_fail(p, "reading the district token failed");
		return;
	}
	if (r->type != REDIS_REPLY_STRING || r->len == 0) {
		poll_fail(p, "no district token stored");
		return;
	}
	p->token = xstrdup(r->str);
	poll_page(p);
}

static void
on_cursor(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct poll *p = arg;
	char *key;

	if (poll_gone(p))
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		poll_fail(p, "reading the cursor failed");
		return;
	}
	p->has_cursor = r->element[0]->type == REDIS_REPLY_STRING;
	p->from = xstrdup(p->has_cursor ? r->element[0]->str : "");
	if (p->from[0] != '\0' && !contract_id_valid(p->from, EVENT_ID_MAX)) {
		poll_fail(p, "the cursor's last_id is not an event id");
		return;
	}
	if (r->element[1]->type == REDIS_REPLY_STRING)
		p->bulk = strtoll(r->element[1]->str, NULL, 10);
	key = key_district_token(p->d->id);
	p->redis++;
	rconn_command(rd->rc, 0, on_token, p, "GET %s", key);
	free(key);
}

static void
poll_start(struct district *d)
{
	struct poll *p = poll_new(d);
	char *key = key_event_cursor(d->id);

	p->redis++;
	rconn_command(rd->rc, 0, on_cursor, p, "HMGET %s last_id "
	    "bulk_requests", key);
	free(key);
}

/* ---- the districts and their locks ---- */

static struct district *
district_find(const char *id, int create)
{
	struct district *d;

	TAILQ_FOREACH(d, &districts, entry)
		if (strcmp(d->id, id) == 0)
			return d;
	if (!create)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	xstrlcpy(d->id, id, sizeof(d->id));
	TAILQ_INSERT_TAIL(&districts, d, entry);
	return d;
}

static void
on_lock(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct district *d = district_find(arg, 0);
	int was;

	free(arg);
	if (d == NULL)
		return;
	d->locking = 0;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER)
		return;		/* the next tick asks again */
	was = d->held;
	d->held = r->integer > 0 && !rd->draining;
	if (r->integer == 2)
		logf_info(LF(.event = "events_poller"), "events of district "
		    "%s: polled by this instance now", d->id);
	else if (was && !d->held)
		logf_info(LF(.event = "events_poller"), "events of district "
		    "%s: %s", d->id, r->integer < 0 ? "Events disabled by "
		    "the app" : "polled by another instance now");
	if (!d->held && d->poll != NULL)
		poll_detach(d->poll);
	if (d->held && d->poll == NULL && !rd->draining &&
	    mono_ms() >= d->next_ms)
		poll_start(d);
}

static void
district_lock(struct district *d, uint64_t ttl_ms)
{
	struct script_call *sc = script_new(SCRIPT_EVENT_LOCK);

	d->locking = 1;
	script_key(sc, key_event_lock(d->id));
	script_key(sc, key_district(d->id));
	script_arg(sc, rd->consumer);
	script_num(sc, (long long)ttl_ms);
	script_run(sc, on_lock, xstrdup(d->id));
}

static void
on_districts(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct district *d;
	size_t i;

	walking = 0;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || rd->draining)
		return;
	for (i = 0; i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    !contract_id_valid(r->element[i]->str, TEACHER_ID_MAX))
			continue;	/* the app's set: never a bad key */
		d = district_find(r->element[i]->str, 1);
		if (!d->locking)
			district_lock(d, rd->conf.events_lock_ttl_ms);
	}
}

static void
events_tick(void)
{
	char *key;

	if (rd->conf.events_interval_ms == 0 || walking || rd->draining ||
	    !reader_group_ready() || rconn_state(rd->rc) != RCONN_READY)
		return;
	walking = 1;
	key = key_districts();
	rconn_command(rd->rc, 0, on_districts, NULL, "SMEMBERS %s", key);
	free(key);
}

static void
on_events_timer(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = ms_to_tv(events_tick_ms());

	events_tick();
	evtimer_add(ev_tick, &tv);
}

/* Ready for work (or reloaded): tick from now on. */
void
events_start(void)
{
	struct timeval tv = ms_to_tv(events_tick_ms());

	if (ev_tick == NULL)
		ev_tick = evtimer_new(rd->base, on_events_timer, NULL);
	evtimer_add(ev_tick, &tv);
}

/* Stopping: polls end where they are (the cursor stays), locks go. */
void
events_stop(void)
{
	struct district *d;

	if (ev_tick != NULL)
		evtimer_del(ev_tick);
	TAILQ_FOREACH(d, &districts, entry) {
		if (d->poll != NULL)
			poll_detach(d->poll);
		if (d->held && rconn_state(rd->rc) == RCONN_READY)
			district_lock(d, 0);
		d->held = 0;
	}
}

void
events_free(void)
{
	struct district *d;

	while ((d = TAILQ_FIRST(&districts)) != NULL) {
		if (d->poll != NULL)
			poll_detach(d->poll);
		TAILQ_REMOVE(&districts, d, entry);
		free(d);
	}
	if (ev_tick != NULL)
		event_free(ev_tick);
	ev_tick = NULL;
}
