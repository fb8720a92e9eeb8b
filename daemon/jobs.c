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
 */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

/* Requests for teachers already in hand, kept beyond the slots. */
#define IN_HAND_MAX	10000

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
