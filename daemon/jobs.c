/*
 * The jobs this instance holds in memory, in one table: its counts, the
 * free concurrency slots, the census of their states, and the walks that
 * a stop needs (each job, or those in given states).  A job joins with jobs_add() when the
 * reader takes its entry and leaves with jobs_remove() when job_free()
 * ends it.
 *
 * Concurrency slots count teachers, not jobs: a request for a teacher that
 * already has a job in memory waits for that teacher's sync (and most
 * often coalesces with the next one), so it must not take a slot another
 * teacher needs.  A tree of the teachers in hand, each with its jobs.
 *
 * The table also describes itself for the operator (jobs_json(): each
 * job, and what it waits on), and tells a watcher when a job joins, leaves
 * or changes state, so that the heartbeat can show it soon.
 */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

/* Requests for teachers already in hand, kept beyond the slots. */
#define IN_HAND_MAX	10000
/* Jobs the heartbeat lists at most: it is rewritten often. */
#define JOBS_JSON_MAX	200

struct in_hand {
	const char	*teacher;	/* points to id */
	unsigned	 jobs;
	char		 id[TEACHER_ID_MAX + 1];
};

static TAILQ_HEAD(, job) jobs = TAILQ_HEAD_INITIALIZER(jobs);
static unsigned		 njobs;		/* in the list */
static unsigned		 nteachers;	/* their teachers: the slots */
static unsigned		 nscheduled;	/* jobs of the schedule */
static void		*in_hand_root;
static void		(*on_removed)(void);	/* from jobs_init */
static void		(*on_changed)(void);	/* from jobs_watch */

static int
in_hand_cmp(const void *a, const void *b)
{
	return strcmp(((const struct in_hand *)a)->teacher,
	    ((const struct in_hand *)b)->teacher);
}

/* A job joins the table; its teacher takes a slot if not in hand yet. */
void
jobs_add(struct job *j)
{
	struct in_hand *h = xcalloc(1, sizeof(*h)), **found;

	xstrlcpy(h->id, j->teacher, sizeof(h->id));
	h->teacher = h->id;
	if ((found = tsearch(h, &in_hand_root, in_hand_cmp)) == NULL)
		fatal("tsearch");
	if (*found != h)
		free(h);
	else
		nteachers++;
	(*found)->jobs++;
	TAILQ_INSERT_TAIL(&jobs, j, entry);
	njobs++;
	if (j->trigger == TRIGGER_SCHEDULE)
		nscheduled++;
	jobs_changed();
	rosterd_status_changed();
}

/*
 * A job leaves the table, and main.c is told: a slot may be free for the
 * reader, or the last job of a drain gone.
 */
void
jobs_remove(struct job *j)
{
	struct in_hand key = { .teacher = j->teacher }, **found, *h;

	TAILQ_REMOVE(&jobs, j, entry);
	njobs--;
	if (j->trigger == TRIGGER_SCHEDULE)
		nscheduled--;
	if ((found = tfind(&key, &in_hand_root, in_hand_cmp)) != NULL) {
		h = *found;
		if (--h->jobs == 0) {
			tdelete(&key, &in_hand_root, in_hand_cmp);
			free(h);
			nteachers--;
		}
	}
	jobs_changed();
	rosterd_status_changed();	/* and the outcome counted */
	if (on_removed != NULL)
		on_removed();
}

/* Whom to tell when a job has left the table. */
void
jobs_init(void (*removed)(void))
{
	on_removed = removed;
}

/* Whom to tell when a job joins, leaves or changes state. */
void
jobs_watch(void (*changed)(void))
{
	on_changed = changed;
}

void
jobs_changed(void)
{
	if (on_changed != NULL)
		on_changed();
}

unsigned
jobs_count(void)
{
	return njobs;
}

unsigned
jobs_scheduled(void)
{
	return nscheduled;
}

/* Teachers that may still start ([sync] concurrency less those in hand),
   0 once the requests waiting for a teacher in hand reach their cap. */
unsigned
jobs_free_slots(void)
{
	unsigned conc = (unsigned)rd->conf.sync_concurrency;

	if (nteachers >= conc || njobs >= conc + IN_HAND_MAX)
		return 0;
	return conc - nteachers;
}

/* The job of a stream entry, if it is in memory. */
struct job *
jobs_find_entry(const char *entry_id)
{
	struct job *j;

	TAILQ_FOREACH(j, &jobs, entry)
		if (strcmp(j->entry_id, entry_id) == 0)
			return j;
	return NULL;
}

/* The job of a status id (job id), if it is in memory and not ending. */
struct job *
jobs_find_job(const char *job_id)
{
	struct job *j;

	TAILQ_FOREACH(j, &jobs, entry)
		if (j->state != JOB_FINISHED && strcmp(j->job_id, job_id) == 0)
			return j;
	return NULL;
}

/* The stream entries of the jobs in memory, at most max, into ids. */
size_t
jobs_entry_ids(const char **ids, size_t max)
{
	struct job *j;
	size_t n = 0;

	TAILQ_FOREACH(j, &jobs, entry)
		if (n < max && j->state != JOB_FINISHED)
			ids[n++] = j->entry_id;
	return n;
}

/* What the jobs in memory do: fetching, or waiting and for what. */
void
jobs_census(struct jobs_census *c)
{
	struct job *j;

	memset(c, 0, sizeof(*c));
	c->jobs = njobs;
	TAILQ_FOREACH(j, &jobs, entry) {
		if (j->state == JOB_BACKOFF)
			c->retrying++;
		else if (j->state == JOB_WAITING)
			c->waiting_teacher++;
		else if (j->state == JOB_FETCHING) {
			c->fetching++;
			if (sync_rate_waiting(j->sync))
				c->waiting_rate++;
		}
	}
}

/* Each job, fn may end it. */
void
jobs_each(job_fn fn)
{
	struct job *j, *next;

	TAILQ_FOREACH_SAFE(j, &jobs, entry, next)
		fn(j);
}

/* Each job in state a or b (a stop hands them back), fn may end it. */
void
jobs_each_in(enum job_state a, enum job_state b, job_fn fn)
{
	struct job *j, *next;

	TAILQ_FOREACH_SAFE(j, &jobs, entry, next)
		if (j->state == a || j->state == b)
			fn(j);
}

/* Each job of a stream entry, fn may end it. */
void
jobs_each_of_entry(const char *entry_id, job_fn fn)
{
	struct job *j, *next;

	TAILQ_FOREACH_SAFE(j, &jobs, entry, next)
		if (strcmp(j->entry_id, entry_id) == 0)
			fn(j);
}

/*
 * How long until a pending timer fires, ms, from the monotonic time its
 * owner recorded when adding it; 0 if it is not pending. Not libevent's
 * own expiry: event_pending() reports a timer made active by
 * event_active() as pending with an expiry that was never set.
 */
uint64_t
timer_left_ms(const struct event *ev, uint64_t due_ms)
{
	uint64_t now = mono_ms();

	if (ev == NULL || !evtimer_pending(ev, NULL))
		return 0;
	return due_ms > now ? due_ms - now : 0;
}

/*
 * One job for the operator (doc/contract.md, the heartbeat's jobs_json):
 * who, since when, which attempt, and what it waits on now.
 */
static json_object *
job_json(const struct job *j)
{
	static const char *const states[] = {
		[JOB_ADMITTING] = "admitting", [JOB_WAITING] = "waiting",
		[JOB_LOADING] = "loading", [JOB_FETCHING] = "fetching",
		[JOB_WRITING] = "writing", [JOB_BACKOFF] = "retrying",
		[JOB_HANDBACK] = "handing_back", [JOB_FINISHED] = "finished",
	};
	json_object *o = json_object_new_object();
	const char *waits = "redis";
	uint64_t left = 0;

	switch (j->state) {
	case JOB_WAITING:	/* another job of the teacher holds its lock */
		waits = "lock";
		left = timer_left_ms(j->timer, j->timer_due_ms);
		break;
	case JOB_BACKOFF:
		waits = "retry";
		left = timer_left_ms(j->timer, j->timer_due_ms);
		break;
	case JOB_FETCHING:
		left = sync_rate_wait_ms(j->sync);
		waits = left > 0 ? "rate_limit" : "clever";
		break;
	default:		/* admitting, loading, writing: a script */
		break;
	}
#define ADD_STR(k, v)	json_object_object_add(o, k, json_object_new_string(v))
#define ADD_NUM(k, v)	json_object_object_add(o, k, json_object_new_int64(v))
	ADD_STR("job", j->job_id);
	ADD_STR("entry", j->entry_id);
	ADD_STR("teacher", j->teacher);
	ADD_STR("kind", job_kind_names[j->kind]);
	ADD_STR("trigger", job_trigger_names[j->trigger]);
	if (j->ref != NULL)
		ADD_STR("ref", j->ref);
	ADD_STR("state", states[j->state]);
	ADD_NUM("attempt", j->attempts);
	ADD_NUM("requested_ms", (int64_t)j->req_ms);
	if (j->started_ms != 0)
		ADD_NUM("started_ms", (int64_t)j->started_ms);
	ADD_STR("waits_on", waits);
	/* until the timer (lock, retry) or the rate-limit window */
	if (left > 0 || j->state == JOB_BACKOFF)
		ADD_NUM("wait_left_ms", (int64_t)left);
	if (j->state == JOB_FETCHING)
		ADD_NUM("requests", j->requests);
#undef ADD_NUM
#undef ADD_STR
	return o;
}

/*
 * The jobs in memory, for the heartbeat: a JSON array (malloc'ed), the
 * first JOBS_JSON_MAX (the heartbeat's jobs field counts them all).
 */
char *
jobs_json(void)
{
	json_object *a = json_object_new_array();
	struct job *j;
	char *s;

	TAILQ_FOREACH(j, &jobs, entry)
		if (j->state != JOB_FINISHED &&
		    json_object_array_length(a) < JOBS_JSON_MAX)
			json_object_array_add(a, job_json(j));
	s = xstrdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	return s;
}
