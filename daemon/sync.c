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
 *
 * Identity first: /me names the token's owner, and a token stored under
 * the wrong teacher must fail token_mismatch whatever else Clever says
 * (its other answers are 404s: the data is not that token's).  /me still
 * goes out together with the others, so a sync costs no extra request and
 * no extra round trip; sending it first only when the token is not known
 * to be the teacher's would cost a round trip on every first sync and buy
 * nothing more.  Instead the verdict waits for /me: a failure that comes
 * before /me is answered is held, the other requests are dropped (their
 * answers cannot change the outcome), and /me decides: another user's
 * token fails token_mismatch, the teacher's own the held failure.
 *
 * Conditional requests: a full sync remembers the ETag of every response
 * (job_store_memo(), in the teacher's state) with what it vouches for:
 * the snapshot version and a fingerprint of everything on rosterd's side
 * that shapes the roster (selection, fields, rules, formats, the token's
 * kind, the API).  The next sync of the same fingerprint and version sends
 * the remembered requests, all at once, with If-None-Match.  When every
 * answer is unchanged (304, or a 200 of the same tag) the sync ends "no
 * changes" having parsed nothing.  At the first changed answer it becomes
 * a full sync: when every remembered request was a first one (no page
 * past the first, no per-section request: a Library sync), the changed
 * answers are kept and the unchanged ones taken from the snapshot where
 * the record says it holds them exactly (see sync_reuse_start()), else
 * asked again without the header; otherwise, where follow-up requests
 * depend on what changed, it starts over.  No record (a server without
 * ETags): a full sync exactly as before.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "etag.h"
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
	SR_COUNT
};

/* A set of request kinds, as the ETag record's EXACT holds them. */
#define SR_BIT(k)	(1u << (k))

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
	char			*etag;		/* If-None-Match, or NULL */
	int			 parked;	/* on sync's unchanged list */
	int			 tries;		/* transient failures so far */
	int			 pages;
	struct http_req		*http;
	struct event		*timer;		/* backoff or rate-limit wait */
	int			 needs_permit;
	int			 observe;	/* permit granted cold */
	/* /me of a district token: its kept answer (see me_kept_send()) */
	int			 me_asked;	/* sent to Clever, not kept */
	char			*rec_etag;	/* the ETag record's, if any */
	struct me_call		*me_call;	/* lookup in flight */
	struct me_flight	*flight;	/* whose /me answers this one */
	TAILQ_ENTRY(sreq)	 fentry;	/* on flight->waiting */
};
TAILQ_HEAD(sreqq, sreq);

/* A failure held until /me has said whose the token is. */
struct held_fail {
	enum fail_kind	 fk;
	const char	*code;
	char		 msg[512];
};

/* The answers of one endpoint, by status, for the fetch summary. */
#define TALLY_STATUSES	4
struct tally {
	char		 status[12];	/* "200", "304", "timeout"... */
	unsigned	 n;
};

struct sync {
	struct job	*job;
	uint64_t	 started_ms;	/* monotonic, for the summary */
	struct tally	 tally[SR_COUNT][TALLY_STATUSES];
	unsigned	 not_modified;	/* answers 304 */
	struct sreqq	 reqs;		/* in flight or waiting */
	json_object	*me;		/* small: kept for the end */
	const char	*me_auth;	/* in me: authorized_by */
	const char	*me_district;	/* in me, may be NULL */
	struct held_fail *held;		/* waits for /me */
	int		 conditional;	/* all answers unchanged so far */
	int		 all_first;	/* the record has only first requests */
	struct sreqq	 unchanged;	/* answered unchanged (conditional) */
	char		*rec_meta[3];	/* the record's auth, district, email */
	unsigned	 exact;		/* the record's EXACT: kinds the snapshot
					   holds exactly */
	unsigned	 reuse;		/* kinds an unchanged answer is taken
					   from the snapshot for (changed) */
	struct snap_call *snap_call;	/* the snapshot, asked early */
	int		 snap;		/* SNAP_* */
	struct roster	*old;		/* the snapshot's roster, to take from */
	char		*entries;	/* this sync's ETag record entries */
	size_t		 entries_len;
	int		 no_record;	/* an answer without a usable ETag */
	struct roster	*roster;	/* built as responses arrive */
	int		 students_per_section;	/* 1 wanted, 2 requested */
	int		 listed;	/* the picker's list taken */
	int		 failed;
	int		 observed;	/* rate-limit headers passed on */
	struct event	*permit_ev;	/* batches permits; waits */
	uint64_t	 permit_due_ms;	/* when the wait ends (mono_ms) */
	struct permit_call *permit_call;	/* in flight */
};

enum { SNAP_NONE, SNAP_ASKED, SNAP_IN, SNAP_BAD };

static void	sreq_send(struct sreq *);
static void	sreq_free(struct sreq *);
static void	sync_maybe_done(struct sync *);
static int	me_kept_send(struct sreq *);
static void	me_drop(struct sreq *);

/* The versioned API root, for every Clever request (events.c too). */
const char *
sync_api_root(void)
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
	return job_district_token(s->job);
}

/* A request for url (taken), sent once it has a permit. */
static void
sreq_new(struct sync *s, enum sreq_kind kind, char *url, const char *etag)
{
	struct sreq *q = xcalloc(1, sizeof(*q));

	q->sync = s;
	q->kind = kind;
	q->url = url;
	q->etag = etag != NULL ? xstrdup(etag) : NULL;
	TAILQ_INSERT_TAIL(&s->reqs, q, entry);
	sreq_send(q);
}

static void
sreq_add(struct sync *s, enum sreq_kind kind, const char *path,
    const char *query)
{
	char lim[32] = "", *url;

	if (sync_pages(s) && kind != SR_ME && kind != SR_TEACHER)
		snprintf(lim, sizeof(lim), "%slimit=%d", query ? "&" : "?",
		    rd->conf.clever_page_size);
	xasprintf(&url, "%s%s%s%s%s", sync_api_root(), path,
	    query ? "?" : "", query ? query : "", lim);
	sreq_new(s, kind, url, NULL);
}

/* One more answer with this status (the rare fifth status: not told). */
static void
tally_add(struct tally *t, const char *status)
{
	int i;

	for (i = 0; i < TALLY_STATUSES; i++) {
		if (t[i].n == 0)
			xstrlcpy(t[i].status, status, sizeof(t[i].status));
		if (strcmp(t[i].status, status) == 0) {
			t[i].n++;
			return;
		}
	}
}

/*
 * The fetch's one info line, however it ended (how): the requests, each
 * endpoint's statuses ("sections 200, section_students 200x3 404"), the
 * parts not modified, and how long it took.  Per request: debug lines.
 */
static void
sync_summary(const struct sync *s, const char *how)
{
	char buf[512] = "";
	FILE *fp = fmemopen(buf, sizeof(buf) - 1, "w");
	const struct tally *t;
	int k, i, any = 0;

	if (fp == NULL)
		return;
	for (k = 0; k < SR_COUNT; k++) {
		for (i = 0; i < TALLY_STATUSES && s->tally[k][i].n > 0; i++) {
			t = &s->tally[k][i];
			if (i == 0)
				fprintf(fp, "%s%s", any++ ? ", " : "",
				    sreq_names[k]);
			fprintf(fp, " %s", t->status);
			if (t->n > 1)
				fprintf(fp, "x%u", t->n);
		}
	}
	fclose(fp);	/* a long list is cut; the last byte stays NUL */
	logf_info(JOB_LF(s->job, .event = "fetched", .attempt =
	    s->job->attempts, .requests = s->job->requests, .timed = 1,
	    .duration_ms = mono_ms() - s->started_ms), "fetch %s: %u "
	    "requests (%s), %u not modified", how, s->job->requests,
	    any ? buf : "no answer", s->not_modified);
}

static void
sync_vfail(struct sync *s, enum fail_kind fk, const char *code,
    const char *fmt, va_list ap)
{
	char msg[512];

	if (s->failed)
		return;
	s->failed = 1;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	sync_summary(s, "failed");
	/* job_failed frees the job and with it this sync */
	job_failed(s->job, fk, code, msg);
}

static void
sync_fail(struct sync *s, enum fail_kind fk, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
sync_fail(struct sync *s, enum fail_kind fk, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sync_vfail(s, fk, code, fmt, ap);
	va_end(ap);
}

static int
me_pending(const struct sync *s)
{
	const struct sreq *q;

	if (s->me != NULL)
		return 0;
	TAILQ_FOREACH(q, &s->reqs, entry)
		if (q->kind == SR_ME)
			return 1;
	return 0;
}

/*
 * A request failed for good.  Until /me is answered the failure is held
 * (see the top of the file) and every other request dropped.
 */
static void
sreq_fail(struct sreq *q, enum fail_kind fk, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
sreq_fail(struct sreq *q, enum fail_kind fk, const char *code,
    const char *fmt, ...)
{
	struct sync *s = q->sync;
	struct sreq *r, *tmp;
	va_list ap;

	va_start(ap, fmt);
	if (q->kind == SR_ME || s->failed || !me_pending(s)) {
		sync_vfail(s, fk, code, fmt, ap);
		va_end(ap);
		return;
	}
	if (s->held == NULL) {
		s->held = xcalloc(1, sizeof(*s->held));
		s->held->fk = fk;
		s->held->code = code;
		vsnprintf(s->held->msg, sizeof(s->held->msg), fmt, ap);
	}
	va_end(ap);
	TAILQ_FOREACH_SAFE(r, &s->reqs, entry, tmp)
		if (r->kind != SR_ME)
			sreq_free(r);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	sreq_send(arg);
}

static void
sreq_later(struct sreq *q, uint64_t ms)
{
	struct timeval tv = ms_to_tv(ms);

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
on_permits(unsigned granted, uint64_t wait_ms, int cold, const char *err,
    void *arg)
{
	struct permit_call *pc = arg;
	struct sync *s = pc->sync;
	struct sreq *q;
	struct timeval tv = ms_to_tv(wait_ms);

	free(pc);
	if (s == NULL)
		return;		/* the sync ended while Redis answered */
	s->permit_call = NULL;
	if (err != NULL) {
		sync_fail(s, FAIL_TRANSIENT, ERR_REDIS,
		    "rate-limit permit failed: %s", err);
		return;
	}
	if (job_lock_expired(s->job)) {
		s->failed = 1;
		job_lock_lost(s->job);	/* frees this sync */
		return;
	}
	TAILQ_FOREACH(q, &s->reqs, entry) {
		if (!q->needs_permit || granted == 0)
			continue;
		granted--;
		q->needs_permit = 0;
		q->observe = cold;
		s->job->requests++;
		q->http = http_get(rd->http, q->url, s->job->token, q->etag,
		    on_response, q);
	}
	TAILQ_FOREACH(q, &s->reqs, entry)
		if (q->needs_permit)
			break;
	if (q == NULL)
		return;
	if (wait_ms > 0) {
		metrics_rate_wait(wait_ms);
		logf_debug(JOB_LF(s->job, .event = "rate_wait"),
		    "rate limit: waiting %llu ms",
		    (unsigned long long)wait_ms);
		s->permit_due_ms = mono_ms() + wait_ms;
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
	/* rosterd's own work (the schedule, the Events poller's resyncs)
	   leaves part of each window to the app's requests */
	ratelimit_acquire_as(s->job->token_owner, s->job->entry_id, n,
	    s->job->trigger == TRIGGER_SCHEDULE ||
	    s->job->trigger == TRIGGER_EVENTS ?
	    rd->conf.schedule_rate_share_pct : 100, on_permits,
	    s->permit_call);
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

	if (me_kept_send(q))
		return;		/* the kept answer, or another's /me, does */
	q->needs_permit = 1;
	if (s->permit_call == NULL && !evtimer_pending(s->permit_ev, NULL)) {
		s->permit_due_ms = 0;	/* now */
		event_active(s->permit_ev, EV_TIMEOUT, 0);
	}
}

static void
sreq_free(struct sreq *q)
{
	TAILQ_REMOVE(q->parked ? &q->sync->unchanged : &q->sync->reqs, q,
	    entry);
	if (q->http != NULL)
		http_cancel(q->http);
	if (q->timer != NULL)
		event_free(q->timer);
	me_drop(q);
	free(q->url);
	free(q->etag);
	free(q->rec_etag);
	free(q);
}

/* The uri of the "next" link of a list page, or NULL. */
const char *
sync_next_link(json_object *page)
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

/* The number of records in a list page. */
size_t
sync_page_length(json_object *page)
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
		logf_warn(JOB_LF(s->job, .event = "bad_section_id"),
		    "skipping unsafe section id");
		return;
	}
	xasprintf(&path, "/sections/%s/users", section);
	sreq_add(s, SR_SECTION_STUDENTS, path, "role=student");
	free(path);
}

/*
 * The section list is in: hand the job the picker's list, every section
 * as Clever listed it, before the selection narrows the roster.
 */
static void
sections_listed(struct sync *s)
{
	if (s->listed)
		return;
	s->listed = 1;
	job_sections_fetched(s->job, s->roster);
}

/*
 * All section pages are in: keep the picker's list, narrow the roster to
 * the selection, and ask for students per section where that is the plan.
 */
static void
sections_complete(struct sync *s)
{
	struct roster *r = s->roster;
	size_t i;

	sections_listed(s);
	if (s->job->sel.mode == SEL_LIST)
		roster_select_sections(r, (const char *const *)s->job->sel.ids,
		    s->job->sel.count);
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

static int	check_me(struct sync *);

/* A complete 200 JSON response: keep it and follow "next" if any. */
static void
sreq_ok(struct sreq *q, json_object *body)
{
	struct sync *s = q->sync;
	const char *next;
	char *url, err[256];
	int rc;

	if (!json_object_is_type(body, json_type_object)) {
		sreq_fail(q, FAIL_PERMANENT, ERR_BAD_RESPONSE,
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
		if (check_me(s) == -1)
			return;
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
		sreq_fail(q, FAIL_PERMANENT, ERR_BAD_RESPONSE, "Clever data "
		    "rejected: %s", err);
		return;
	}
	/* Follow "next" unless the page is empty (Clever's trailing page). */
	next = (q->kind == SR_ME || q->kind == SR_TEACHER) ? NULL :
	    sync_next_link(body);
	if (next != NULL && sync_page_length(body) > 0) {
		if (++q->pages >= SYNC_MAX_PAGES || next[0] != '/') {
			sreq_fail(q, FAIL_PERMANENT, ERR_BAD_RESPONSE,
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
		logf_info(JOB_LF(s->job, .event = "request_retry"),
		    "Clever %s request: %s; "
		    "retry %d in %llu ms", sreq_names[q->kind], what, q->tries,
		    (unsigned long long)ms);
		sreq_later(q, ms);
		return;
	}
	sreq_fail(q, FAIL_TRANSIENT, code, "Clever %s request: %s (after %d "
	    "tries)", sreq_names[q->kind], what, q->tries);
}

/* ---- conditional requests (see the top of the file) ---- */

/* Everything on rosterd's side that shapes a roster from the answers. */
static uint64_t
sync_fingerprint(const struct job *j)
{
	uint64_t h = ETAG_FP_INIT;
	char buf[96];
	size_t i;

	snprintf(buf, sizeof(buf), "%d %d %d %d %d", ROSTER_SNAPSHOT_FORMAT,
	    ROSTER_RULES, (int)j->kind, (int)j->sel.mode,
	    rd->conf.clever_page_size);
	h = etag_fp_add(h, buf);
	h = etag_fp_add(h, rd->conf.sync_fields);
	h = etag_fp_add(h, sync_api_root());
	h = etag_fp_add(h, j->token_owner);
	for (i = 0; i < j->sel.count; i++)
		h = etag_fp_add(h, j->sel.ids[i]);
	return h;
}

/* Remember a 200's ETag for this sync's record. */
static void
sync_note_etag(struct sync *s, const struct sreq *q, const char *etag)
{
	if (s->no_record)
		return;
	if (etag_entry_add(&s->entries, &s->entries_len, (int)q->kind,
	    q->pages == 0 && q->kind != SR_SECTION_STUDENTS, etag,
	    q->url) == -1)
		s->no_record = 1;
}

/*
 * The kinds whose unchanged answers the roster (its snapshot) holds
 * exactly: /me by the record's identity, the teacher always; sections and
 * students when building left nothing out (ROSTER_INEXACT_*) and there is
 * no selection (the snapshot holds the selected sections, the answer all).
 */
static unsigned
sync_exact(const struct job *j, const struct roster *r)
{
	unsigned m = SR_BIT(SR_ME) | SR_BIT(SR_TEACHER);

	if (j->sel.mode != SEL_ALL)
		return m;
	if (!(r->inexact & ROSTER_INEXACT_SECTIONS))
		m |= SR_BIT(SR_SECTIONS);
	if (!(r->inexact & ROSTER_INEXACT_STUDENTS))
		m |= SR_BIT(SR_MYSTUDENTS);
	return m;
}

/*
 * The record a full sync leaves for the next: what it vouches for, what
 * a "no changes" ending must still report, what its snapshot holds
 * exactly, and one line per response.
 */
char *
sync_etag_record(const struct job *j, uint64_t version)
{
	const struct roster *r = j->roster;

	if (j->etag_entries == NULL || r == NULL)
		return NULL;
	return etag_record_build(sync_fingerprint(j), version,
	    r->authorized_by, r->district, r->teacher.email_lc,
	    sync_exact(j, r), j->etag_entries);
}

/*
 * Start conditionally from the last sync's record when it vouches for
 * this sync (same fingerprint, the stored snapshot's version).  0: no.
 */
static int
sync_from_record(struct sync *s)
{
	struct job *j = s->job;
	struct etag_record rec;
	size_t i, me = 0;

	if (j->etags == NULL || j->kind != JOB_SYNC || j->base_version == 0)
		return 0;
	if (etag_record_parse(j->etags, sync_fingerprint(j), j->base_version,
	    sync_api_root(), SR_COUNT, &rec) == -1)
		return 0;
	for (i = 0; i < rec.n; i++)
		me += rec.entries[i].kind == SR_ME;
	if (me != 1) {
		etag_record_free(&rec);
		return 0;	/* identity first: /me is always asked */
	}
	s->rec_meta[0] = xstrdup(rec.authorized_by);
	s->rec_meta[1] = xstrdup(rec.district);
	s->rec_meta[2] = xstrdup(rec.email_lc);
	s->exact = rec.exact;
	s->conditional = s->all_first = 1;
	for (i = 0; i < rec.n; i++) {
		const struct etag_entry *e = &rec.entries[i];

		s->all_first &= e->first;
		sreq_new(s, (enum sreq_kind)e->kind, xstrdup(e->url), e->etag);
	}
	etag_record_free(&rec);
	return 1;
}

/* An unchanged answer waits, off the list of requests, for the end. */
static void
sreq_park(struct sreq *q)
{
	TAILQ_REMOVE(&q->sync->reqs, q, entry);
	TAILQ_INSERT_TAIL(&q->sync->unchanged, q, entry);
	q->parked = 1;
}

static void
sreq_unpark(struct sreq *q)
{
	TAILQ_REMOVE(&q->sync->unchanged, q, entry);
	TAILQ_INSERT_TAIL(&q->sync->reqs, q, entry);
	q->parked = 0;
}

static void	sync_add_first(struct sync *);

/* A new roster of the configured field set ([sync] fields). */
struct roster *
sync_roster_new(void)
{
	return roster_new(strcmp(rd->conf.sync_fields, "district") == 0 ?
	    ROSTER_FIELDS_DISTRICT : ROSTER_FIELDS_LIBRARY);
}

/*
 * ---- a changed roster: unchanged parts from the snapshot ----
 *
 * A 304 confirms that Clever's answer is the one the last full sync
 * parsed, and the snapshot that sync wrote holds it whole where building
 * dropped and normalized nothing of it: the record's EXACT says which
 * (sync_exact()).  So a changed roster costs its four requests, not four
 * and the unchanged ones again; the roster, snapshot, hash and diff are
 * those of a full fetch.  Not taken, asked again as before: with a
 * selection, a part the last sync did not hold exactly, without a
 * snapshot, or when the stored one is not the record's (another version
 * or hash, a format this rosterd does not write) or cannot be read.
 */
struct snap_call {
	struct sync	*sync;
};

static void	sreq_ask_again(struct sreq *);

/* Nothing more from the snapshot: ask again what waits for it. */
static void
sync_reuse_off(struct sync *s)
{
	struct sreq *r, *tmp;

	if (s->reuse == 0)
		return;
	s->reuse = 0;
	TAILQ_FOREACH_SAFE(r, &s->unchanged, entry, tmp)
		sreq_ask_again(r);
}

/* The snapshot in hand is the one the record vouches for: parse it. */
static int
sync_snapshot_usable(struct sync *s, uint64_t version, const char *hash)
{
	struct job *j = s->job;
	char h[ROSTER_HASH_LEN + 1], err[256];

	if (j->base_snapshot == NULL || j->base_version != version ||
	    j->base_hash == NULL || strcmp(j->base_hash, hash) != 0 ||
	    roster_snapshot_hash(j->base_snapshot, j->base_snapshot_len,
	    h) == -1 || strcmp(h, hash) != 0)
		return 0;
	s->old = roster_from_snapshot(j->base_snapshot, j->base_snapshot_len,
	    err, sizeof(err));
	if (s->old == NULL)
		logf_warn(JOB_LF(j, .event = "bad_snapshot"),
		    "stored snapshot: %s", err);
	return s->old != NULL;
}

static void
on_snap(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct snap_call *sc = arg;
	struct sync *s = sc->sync;
	uint64_t version;
	char *hash;

	free(sc);
	if (s == NULL)
		return;		/* the sync ended while Redis answered */
	s->snap_call = NULL;
	version = s->job->base_version;
	hash = xstrdup(s->job->base_hash);
	s->snap = err == NULL && r->type != REDIS_REPLY_ERROR &&
	    job_snapshot_in(s->job, r) == 0 &&
	    sync_snapshot_usable(s, version, hash) ? SNAP_IN : SNAP_BAD;
	free(hash);
	log_setcontext(s->job->job_id, s->job->teacher, s->job->trace_id);
	sync_maybe_done(s);
	log_setcontext(NULL, NULL, NULL);
}

/*
 * The sync became a full one: what its unchanged answers may be taken
 * from, and the snapshot asked for now, beside the requests still out
 * (load.lua left it out; the write-back then has it).
 */
static void
sync_reuse_start(struct sync *s)
{
	struct job *j = s->job;

	if (s->exact == 0 || j->base_hash == NULL || *j->base_hash == '\0' ||
	    (j->base_snapshot == NULL && j->snapshot_fetched))
		return;		/* none, or no snapshot to take from */
	s->reuse = s->exact;
	if (j->base_snapshot != NULL) {	/* loaded after all */
		s->snap = sync_snapshot_usable(s, j->base_version,
		    j->base_hash) ? SNAP_IN : SNAP_BAD;
		return;
	}
	s->snap = SNAP_ASKED;
	s->snap_call = xcalloc(1, sizeof(*s->snap_call));
	s->snap_call->sync = s;
	job_snapshot_ask(j, on_snap, s->snap_call);
}

/*
 * Only unchanged answers are left: take them from the snapshot (with
 * their ETags, for the next sync's record).  0 while it is not in, or
 * when they are asked again after all.
 */
static int
sync_reused(struct sync *s)
{
	struct sreq *q;
	unsigned parts = 0;

	if (s->snap == SNAP_ASKED)
		return 0;
	if (s->snap != SNAP_IN) {
		logf_info(JOB_LF(s->job, .event = "snapshot_not_taken"),
		    "the stored snapshot is not the one the ETags vouch for: "
		    "asking again");
		sync_reuse_off(s);
		return 0;
	}
	while ((q = TAILQ_FIRST(&s->unchanged)) != NULL) {
		if (q->kind == SR_ME) {	/* identity: the record's */
			s->me_auth = s->rec_meta[0];
			s->me_district = *s->rec_meta[1] != '\0' ?
			    s->rec_meta[1] : NULL;
		} else
			parts |= q->kind == SR_TEACHER ? ROSTER_PART_TEACHER :
			    q->kind == SR_SECTIONS ? ROSTER_PART_SECTIONS :
			    ROSTER_PART_STUDENTS;
		sync_note_etag(s, q, q->etag);
		sreq_free(q);
	}
	roster_take(s->roster, s->old, parts);
	logf_debug(JOB_LF(s->job, .event = "snapshot_taken"),
	    "unchanged parts taken from the snapshot");
	return 1;
}

/* Ask again, without If-None-Match, an unchanged answer not taken. */
static void
sreq_ask_again(struct sreq *q)
{
	if (q->parked)
		sreq_unpark(q);
	free(q->etag);
	q->etag = NULL;
	sreq_send(q);
}

/*
 * Something changed: from now on a full sync.  Keep what came; what came
 * unchanged is taken from the snapshot where it holds that answer exactly
 * (sync_reuse_start()), else asked again without If-None-Match, when no
 * request depends on another's answer; else start over.  1 if q is gone.
 */
static int
sync_go_full(struct sync *s, struct sreq *q)
{
	struct sreq *r, *tmp;

	s->conditional = 0;
	logf_debug(JOB_LF(s->job, .event = "changed"),
	    "Clever %s answer changed: full sync",
	    sreq_names[q->kind]);
	if (s->all_first) {
		sync_reuse_start(s);
		TAILQ_FOREACH(r, &s->reqs, entry) {
			if (s->reuse & SR_BIT(r->kind))
				continue;	/* still conditional */
			free(r->etag);
			r->etag = NULL;
		}
		TAILQ_FOREACH_SAFE(r, &s->unchanged, entry, tmp)
			if (!(s->reuse & SR_BIT(r->kind)))
				sreq_ask_again(r);
		return 0;
	}
	while ((r = TAILQ_FIRST(&s->reqs)) != NULL)
		sreq_free(r);
	while ((r = TAILQ_FIRST(&s->unchanged)) != NULL)
		sreq_free(r);
	roster_free(s->roster);
	s->roster = sync_roster_new();
	json_object_put(s->me);
	s->me = NULL;
	s->me_auth = s->me_district = NULL;
	s->students_per_section = 0;
	s->listed = 0;
	sync_add_first(s);
	return 1;
}

/*
 * A complete answer to a request that named an ETag (or an unchanged
 * one after the sync became full).  1 if it was dealt with here.
 */
static int
sreq_conditional(struct sreq *q, const struct http_response *res)
{
	struct sync *s = q->sync;

	if (res->unchanged) {
		if (s->conditional || (s->reuse & SR_BIT(q->kind))) {
			sreq_park(q);
			/* /me unchanged: the token is the teacher's */
			if (q->kind == SR_ME && s->held != NULL)
				sync_fail(s, s->held->fk, s->held->code, "%s",
				    s->held->msg);
			else
				sync_maybe_done(s);
		} else	/* the sync became a full one meanwhile: the body */
			sreq_ask_again(q);
		return 1;
	}
	if (res->status == 429 || res->status >= 500)
		return 0;	/* waits or is retried as such */
	free(q->etag);
	q->etag = NULL;
	return s->conditional ? sync_go_full(s, q) : 0;
}

static void	sreq_response(struct sreq *, const struct http_response *);
static void	sreq_answer(struct sreq *, const struct http_response *);

/*
 * ---- /me once per district token ----
 *
 * For a district token /me names the district, the same answer for every
 * teacher it serves: it is kept, with its ETag, in Redis (key_me() of the
 * token's owner, "district:ID", never the token), so that every instance
 * shares it.  A sync takes the kept answer while it was checked less than
 * [clever] me_revalidate_s ago, else asks /me with If-None-Match (a 304
 * keeps it for another interval); a 401 to any request of the token drops
 * it.  Within one instance one lookup, then at most one /me, is under way
 * per token at a time: the syncs that need the answer meanwhile wait for
 * it (a flight, led by the first).  The answer goes through each sync as
 * Clever's would (identity check, ETag record, conditional requests).
 */
#define ME_KEEP_TTL_S	86400	/* an unused kept answer goes after a day */

struct me_flight {
	TAILQ_ENTRY(me_flight)	 entry;
	char			*owner;
	struct sreq		*leader;	/* looks it up, asks Clever */
	struct sreqq		 waiting;	/* on fentry */
	json_object		*kept;		/* a stale kept answer */
};
static TAILQ_HEAD(, me_flight) me_flights =
    TAILQ_HEAD_INITIALIZER(me_flights);

/* A lookup in Redis, detached from its request if that goes first. */
struct me_call {
	struct sreq	*q;
};

static int
me_keeping(const struct sync *s)
{
	return job_district_token(s->job) && rd->conf.clever_me_revalidate_s > 0;
}

static void
on_me_stored(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		err = r->str;
	if (err != NULL)
		log_debug("kept /me not updated: %s", err);
}

/* Drop the token's kept answer: Clever refused the token. */
static void
me_forget(const struct sync *s)
{
	char *key;

	if (!job_district_token(s->job))
		return;
	key = key_me(s->job->token_owner);
	rconn_command(rd->rc, 0, on_me_stored, NULL, "DEL %s", key);
	free(key);
}

/* Keep body and its tag ("" without one), checked now; NULL: just that. */
static void
me_store(const struct sync *s, const char *body, const char *etag)
{
	char *key = key_me(s->job->token_owner);

	if (body != NULL)
		rconn_command(rd->rc, 0, on_me_stored, NULL, "HSET %s body %s "
		    "etag %s checked %llu", key, body, etag ? etag : "",
		    (unsigned long long)wall_ms());
	else
		rconn_command(rd->rc, 0, on_me_stored, NULL, "HSET %s "
		    "checked %llu", key, (unsigned long long)wall_ms());
	rconn_command(rd->rc, 0, on_me_stored, NULL, "EXPIRE %s %d", key,
	    ME_KEEP_TTL_S);
	free(key);
}

/*
 * Hand q the answer to /me as if Clever had sent it: unchanged, in a
 * conditional sync, when its tag is the one the sync's record named.
 */
static void
me_deliver(struct sreq *q, json_object *me, const char *etag)
{
	struct http_response res = { .outcome = HTTP_OK, .status = 200 };

	free(q->etag);
	q->etag = q->rec_etag;
	q->rec_etag = NULL;
	q->me_asked = 0;
	res.json = me;
	res.etag = etag != NULL && *etag != '\0' ? etag : NULL;
	res.unchanged = q->etag != NULL && res.etag != NULL &&
	    q->sync->conditional && strcmp(q->etag, res.etag) == 0;
	tally_add(q->sync->tally[SR_ME], "kept");
	log_setcontext(q->sync->job->job_id, q->sync->job->teacher,
	    q->sync->job->trace_id);
	sreq_answer(q, &res);
	log_setcontext(NULL, NULL, NULL);
}

/*
 * The flight is over: the leader, then those waiting, get me; or (me
 * NULL: the leader gave up) those waiting look again, a new flight.
 */
static void
me_flight_end(struct me_flight *f, json_object *me, const char *etag)
{
	struct sreq *w, *leader = f->leader;
	char *tag = etag ? xstrdup(etag) : NULL;	/* may be f's */

	TAILQ_REMOVE(&me_flights, f, entry);
	leader->flight = NULL;
	if (me != NULL)
		me_deliver(leader, me, tag);
	while ((w = TAILQ_FIRST(&f->waiting)) != NULL) {
		TAILQ_REMOVE(&f->waiting, w, fentry);
		w->flight = NULL;
		if (me != NULL)
			me_deliver(w, me, tag);
		else
			sreq_send(w);
	}
	json_object_put(f->kept);
	free(f->owner);
	free(f);
	free(tag);
}

static void
on_me_lookup(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct me_call *mc = arg;
	struct sreq *q = mc->q;
	struct me_flight *f;
	const char *etag = NULL;
	json_object *me = NULL;
	uint64_t checked = 0;

	free(mc);
	if (q == NULL)
		return;		/* the request ended while Redis answered */
	q->me_call = NULL;
	f = q->flight;
	if (err == NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		me = json_tokener_parse(r->element[0]->str);
		if (r->element[1]->type == REDIS_REPLY_STRING)
			etag = r->element[1]->str;
		if (r->element[2]->type == REDIS_REPLY_STRING)
			checked = strtoull(r->element[2]->str, NULL, 10);
	}
	if (me != NULL && checked + rd->conf.clever_me_revalidate_s * 1000ULL >
	    wall_ms()) {
		me_flight_end(f, me, etag);
		json_object_put(me);
		return;
	}
	/* ask Clever, conditionally if there is an answer to keep */
	f->kept = me;
	q->me_asked = 1;
	free(q->etag);
	q->etag = me != NULL && etag != NULL && *etag != '\0' ?
	    xstrdup(etag) : NULL;
	sreq_send(q);
}

/*
 * Instead of sending a district token's /me: wait for the answer of the
 * flight under way for the token, or lead one (look the kept answer up).
 * 1: q is taken care of; 0: send q to Clever.
 */
static int
me_kept_send(struct sreq *q)
{
	struct me_flight *f;
	char *key;

	if (q->kind != SR_ME || q->me_asked || !me_keeping(q->sync))
		return 0;
	if (q->flight != NULL)
		return 1;
	if (q->etag != NULL) {	/* what the sync's record said */
		free(q->rec_etag);
		q->rec_etag = q->etag;
		q->etag = NULL;
	}
	TAILQ_FOREACH(f, &me_flights, entry) {
		if (strcmp(f->owner, q->sync->job->token_owner) == 0) {
			q->flight = f;
			TAILQ_INSERT_TAIL(&f->waiting, q, fentry);
			return 1;
		}
	}
	f = xcalloc(1, sizeof(*f));
	f->owner = xstrdup(q->sync->job->token_owner);
	f->leader = q;
	TAILQ_INIT(&f->waiting);
	TAILQ_INSERT_TAIL(&me_flights, f, entry);
	q->flight = f;
	q->me_call = xcalloc(1, sizeof(*q->me_call));
	q->me_call->q = q;
	key = key_me(f->owner);
	rconn_command(rd->rc, 0, on_me_lookup, q->me_call,
	    "HMGET %s body etag checked", key);
	free(key);
	return 1;
}

/* q is freed: out of its lookup and its flight. */
static void
me_drop(struct sreq *q)
{
	struct me_flight *f = q->flight;

	if (q->me_call != NULL)
		q->me_call->q = NULL;
	if (f == NULL)
		return;
	if (f->leader == q)
		me_flight_end(f, NULL, NULL);	/* the others look again */
	else
		TAILQ_REMOVE(&f->waiting, q, fentry);
}

/*
 * Clever answered a district token's /me: a 200 is kept, a 304 keeps what
 * was (checked now); either goes to all the flight.  0: any other answer,
 * handled as Clever's.
 */
static int
me_answered(struct sreq *q, const struct http_response *res)
{
	struct me_flight *f = q->flight;
	json_object *me;

	if (res->unchanged && f->kept != NULL) {
		me_store(q->sync, NULL, NULL);
		me = json_object_get(f->kept);
		me_flight_end(f, me, res->etag);
	} else if (!res->unchanged && res->status == 200 && res->json != NULL) {
		me = json_object_get(res->json);
		me_store(q->sync, json_object_to_json_string_ext(me,
		    JSON_C_TO_STRING_PLAIN), res->etag);
		me_flight_end(f, me, res->etag);
	} else
		return 0;
	json_object_put(me);
	return 1;
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
		[HTTP_ERR_TLS] = "tls",
	};
	char status[24];

	if (res->outcome == HTTP_OK)
		snprintf(status, sizeof(status), "%ld", res->status);
	else
		snprintf(status, sizeof(status), "%s", failures[res->outcome]);
	metrics_clever_response(sreq_names[q->kind], status, res->elapsed_ms);
	tally_add(q->sync->tally[q->kind], res->unchanged ? "304" : status);
	if (res->unchanged)
		q->sync->not_modified++;
}

/* Whatever the parsers log about this answer names the job. */
static void
on_response(const struct http_response *res, void *arg)
{
	struct sreq *q = arg;

	log_setcontext(q->sync->job->job_id, q->sync->job->teacher,
	    q->sync->job->trace_id);
	sreq_response(q, res);
	log_setcontext(NULL, NULL, NULL);
}

static void
sreq_response(struct sreq *q, const struct http_response *res)
{
	struct sync *s = q->sync;

	q->http = NULL;
	count_response(q, res);
	logf_debug(JOB_LF(s->job, .event = "response", .endpoint =
	    sreq_names[q->kind], .http_status = (int)res->status, .timed = 1,
	    .duration_ms = res->elapsed_ms),
	    "Clever %s: HTTP %ld, %zu bytes, %llu "
	    "ms", sreq_names[q->kind], res->status, res->body_len,
	    (unsigned long long)res->elapsed_ms);
	/*
	 * Pass Clever's view of the windows on once per sync (to align the
	 * shared windows with Clever's), for a request sent cold (before the
	 * windows were known), when one runs low, and on a 429.
	 */
	if (res->outcome == HTTP_OK && (res->status == 429 || !s->observed ||
	    q->observe || (res->rl.limit > 0 &&
	    res->rl.remaining * 10 <= res->rl.limit))) {
		s->observed = res->rl.present;
		ratelimit_observe(s->job->token_owner, &res->rl,
		    res->status == 429);
	}
	switch (res->outcome) {
	case HTTP_OK:
		break;
	case HTTP_ERR_TOO_LARGE:
		sreq_fail(q, FAIL_PERMANENT, ERR_TOO_LARGE, "Clever %s "
		    "response is larger than max_body_bytes (%llu)",
		    sreq_names[q->kind],
		    (unsigned long long)rd->conf.clever_max_body);
		return;
	case HTTP_ERR_TLS:
		sync_fail(s, FAIL_PERMANENT, ERR_TLS, "Clever %s request "
		    "refused before sending: %s", sreq_names[q->kind],
		    res->error ? res->error : "TLS verification failed");
		return;
	default:
		sreq_transient(q, ERR_UNAVAILABLE, res->error ? res->error :
		    "transfer failed");
		return;
	}
	if (q->me_asked && me_answered(q, res))
		return;
	sreq_answer(q, res);
}

/* What an answer (Clever's, or a kept /me) means for the sync. */
static void
sreq_answer(struct sreq *q, const struct http_response *res)
{
	struct sync *s = q->sync;
	char what[256];

	if ((res->unchanged || q->etag != NULL) && sreq_conditional(q, res))
		return;

	switch (res->status) {
	case 200:
		if (res->json == NULL) {
			snprintf(what, sizeof(what), "response is not valid "
			    "JSON (%s)", res->json_error ? res->json_error :
			    "empty");
			sreq_transient(q, ERR_BAD_RESPONSE, what);
			return;
		}
		sync_note_etag(s, q, res->etag);
		sreq_ok(q, res->json);
		return;
	case 429:
		logf_info(JOB_LF(s->job, .event = "rate_limited"),
		    "Clever answered 429 to the %s "
		    "request; waiting for the window", sreq_names[q->kind]);
		sreq_send(q);	/* the permit now waits for the reset */
		return;
	case 401:
		me_forget(s);	/* a refused token's answer is not kept */
		sreq_fail(q, FAIL_PERMANENT, ERR_REAUTHORIZE, "Clever refused "
		    "the token (401): the teacher must authorize the app again");
		return;
	case 404:
		if (q->kind == SR_MYSTUDENTS) {
			/* refused for this token: ask per section instead,
			   once the section list is in */
			sync_reuse_off(s);
			sreq_free(q);
			s->students_per_section = 1;
			sync_maybe_done(s);
			return;
		}
		sreq_fail(q, FAIL_PERMANENT, ERR_NOT_SHARED, "Clever answered "
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
		sreq_fail(q, FAIL_PERMANENT, ERR_BAD_REQUEST, "Clever answered "
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

/*
 * Identity first: check /me against the job as soon as it is in, then let
 * a failure held for it go.  Fills me_auth and me_district.
 */
static int
check_me(struct sync *s)
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
	s->me_district = obj_str(data, "district");
	s->me_auth = obj_str(data, "authorized_by");
	if (s->me_auth == NULL)
		s->me_auth = strcmp(type, "district") == 0 ? "district" :
		    "teacher";
	if (strcmp(type, "district") != 0 && strcmp(id, s->job->teacher) != 0) {
		sync_fail(s, FAIL_PERMANENT, ERR_TOKEN_MISMATCH, "the token "
		    "stored for this teacher belongs to another Clever user");
		return -1;
	}
	if (s->held != NULL) {
		sync_fail(s, s->held->fk, s->held->code, "%s", s->held->msg);
		return -1;
	}
	return 0;
}

/* Everything is in: finish the roster and hand it to the job. */
static void
sync_build(struct sync *s)
{
	struct job *j = s->job;
	struct roster *r = s->roster;
	char err[256];

	roster_set_auth(r, s->me_auth, s->me_district);
	sections_listed(s);	/* when no per-section request took it */
	if (j->sel.mode == SEL_NONE)	/* non-NULL, empty: none */
		roster_select_sections(r, (const char *const *)&j->sel.ids, 0);
	if (roster_finish(r, j->kind == JOB_DISCOVER ?
	    ROSTER_FINISH_SECTIONS_ONLY : 0, err, sizeof(err)) == -1) {
		sync_fail(s, FAIL_PERMANENT, ERR_BAD_RESPONSE, "Clever data "
		    "rejected: %s", err);
		return;
	}
	s->roster = NULL;
	s->failed = 1;	/* done: nothing more may be reported */
	sync_summary(s, "complete");
	free(j->etag_entries);
	j->etag_entries = s->no_record ? NULL : s->entries;
	if (!s->no_record)
		s->entries = NULL;
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
	if (s->conditional) {
		if (TAILQ_EMPTY(&s->reqs)) {
			s->failed = 1;	/* done: nothing more to report */
			sync_summary(s, "not modified");
			job_not_modified(s->job, s->rec_meta[0],
			    s->rec_meta[1], s->rec_meta[2]);
		}
		return;
	}
	if (s->students_per_section == 1 && !sections_in_flight(s)) {
		s->students_per_section = 2;
		sections_complete(s);
	}
	if (TAILQ_EMPTY(&s->reqs) && (TAILQ_EMPTY(&s->unchanged) ||
	    sync_reused(s)))
		sync_build(s);
}

/* The requests a sync starts with; the rest follow from their answers. */
static void
sync_add_first(struct sync *s)
{
	struct job *j = s->job;
	char *path;

	sreq_add(s, SR_ME, "/me", NULL);
	xasprintf(&path, "/users/%s", j->teacher);
	sreq_add(s, SR_TEACHER, path, NULL);
	free(path);
	xasprintf(&path, "/users/%s/sections", j->teacher);
	sreq_add(s, SR_SECTIONS, path, NULL);
	free(path);
	if (j->kind == JOB_SYNC && j->sel.mode == SEL_ALL) {
		xasprintf(&path, "/users/%s/mystudents", j->teacher);
		sreq_add(s, SR_MYSTUDENTS, path, NULL);
		free(path);
	} else if (j->kind == JOB_SYNC && j->sel.mode == SEL_LIST)
		s->students_per_section = 1;	/* once sections are known */
}

struct sync *
sync_start(struct job *j)
{
	struct sync *s = xcalloc(1, sizeof(*s));

	s->job = j;
	s->started_ms = mono_ms();
	s->roster = sync_roster_new();
	TAILQ_INIT(&s->reqs);
	TAILQ_INIT(&s->unchanged);
	s->permit_ev = evtimer_new(rd->base, on_permit_ev, s);
	j->sync = s;
	if (!sync_from_record(s))
		sync_add_first(s);
	return s;
}

void
sync_free(struct sync *s)
{
	int i;

	if (s == NULL)
		return;
	while (!TAILQ_EMPTY(&s->reqs))
		sreq_free(TAILQ_FIRST(&s->reqs));
	while (!TAILQ_EMPTY(&s->unchanged))
		sreq_free(TAILQ_FIRST(&s->unchanged));
	if (s->permit_call != NULL)
		s->permit_call->sync = NULL;
	if (s->snap_call != NULL)
		s->snap_call->sync = NULL;
	roster_free(s->old);
	event_free(s->permit_ev);
	json_object_put(s->me);
	free(s->held);
	for (i = 0; i < 3; i++)
		free(s->rec_meta[i]);
	free(s->entries);
	roster_free(s->roster);
	free(s);
}

/* Whether the sync waits for its token's rate-limit window. */
int
sync_rate_waiting(const struct sync *s)
{
	return s != NULL && evtimer_pending(s->permit_ev, NULL);
}

/* How long until the sync's rate-limit window opens, ms; 0: not waiting. */
uint64_t
sync_rate_wait_ms(const struct sync *s)
{
	return s != NULL ? timer_left_ms(s->permit_ev, s->permit_due_ms) : 0;
}

/* A string member of a JSON object, or NULL, for district.c. */
const char *
sync_obj_str(json_object *o, const char *key)
{
	return obj_str(o, key);
}
