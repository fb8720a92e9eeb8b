/*
 * The job stream.  A dedicated connection blocks in XREADGROUP (so that
 * other commands never wait behind it) and asks for as many jobs as there
 * are free slots; each batch is admitted in one script call.  A timer keeps
 * the jobs this instance holds from looking idle and takes over, with
 * XAUTOCLAIM, the jobs of instances that died.
 */
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define READ_BATCH_MAX	1000
#define READ_BLOCK_MS	5000
/* Requests for teachers already in hand, kept beyond the slots. */
#define IN_HAND_MAX	(10 * READ_BATCH_MAX)

/*
 * Concurrency slots count teachers, not jobs: a request for a teacher that
 * already has a job in memory waits for that teacher's sync (and most
 * often coalesces with the next one), so it must not take a slot another
 * teacher needs.  A tree of the teachers in hand, each with its jobs.
 */
struct in_hand {
	const char	*teacher;	/* the first job's, copied */
	unsigned	 jobs;
	char		 id[TEACHER_ID_MAX + 1];
};
static void	*in_hand_root;

static int
in_hand_cmp(const void *a, const void *b)
{
	return strcmp(((const struct in_hand *)a)->teacher,
	    ((const struct in_hand *)b)->teacher);
}

/* A job joins the list; its teacher takes a slot if not in hand yet. */
void
queue_job_add(struct job *j)
{
	struct in_hand *h = xcalloc(1, sizeof(*h)), **found;

	xstrlcpy(h->id, j->teacher, sizeof(h->id));
	h->teacher = h->id;
	if ((found = tsearch(h, &in_hand_root, in_hand_cmp)) == NULL)
		fatal("tsearch");
	if (*found != h)
		free(h);
	else
		rd->nteachers++;
	(*found)->jobs++;
	TAILQ_INSERT_TAIL(&rd->jobs, j, entry);
	rd->njobs++;
	if (j->trigger == TRIGGER_SCHEDULE)
		rd->nscheduled++;
}

void
queue_job_remove(struct job *j)
{
	struct in_hand key = { .teacher = j->teacher }, **found, *h;

	TAILQ_REMOVE(&rd->jobs, j, entry);
	rd->njobs--;
	if (j->trigger == TRIGGER_SCHEDULE)
		rd->nscheduled--;
	if ((found = tfind(&key, &in_hand_root, in_hand_cmp)) == NULL)
		return;
	h = *found;
	if (--h->jobs == 0) {
		tdelete(&key, &in_hand_root, in_hand_cmp);
		free(h);
		rd->nteachers--;
	}
}

/* Entries to ask for: one per free slot, while duplicates fit. */
unsigned
queue_free_slots(void)
{
	unsigned conc = (unsigned)rd->conf.sync_concurrency, n;

	if (rd->nteachers >= conc || rd->njobs >= conc + IN_HAND_MAX)
		return 0;
	n = conc - rd->nteachers;
	return n > READ_BATCH_MAX ? READ_BATCH_MAX : n;
}

static void
on_ignore(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		log_debug("background command failed: %s", err ? err : r->str);
}

/* Where the reader is: own pending entries first (after a restart). */
static char	pending_from[JOB_ID_MAX + 1] = "0";

/* Take the entries of an XREADGROUP/XAUTOCLAIM reply as jobs. */
static void
take_entries(redisReply *entries, int maybe_ours)
{
	struct job **batch;
	struct job *j, *have;
	redisReply *e;
	char err[256];
	size_t i, n = 0;

	if (entries->type != REDIS_REPLY_ARRAY || entries->elements == 0)
		return;
	batch = xcalloc(entries->elements, sizeof(*batch));
	for (i = 0; i < entries->elements; i++) {
		e = entries->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		/* new entries ('>') cannot be in memory; re-read ones can */
		have = NULL;
		if (maybe_ours)
			TAILQ_FOREACH(have, &rd->jobs, entry)
				if (strcmp(have->entry_id,
				    e->element[0]->str) == 0)
					break;
		if (have != NULL)
			continue;	/* already ours, in memory */
		if (e->element[1]->type == REDIS_REPLY_NIL) {
			/* deleted from the stream (trimmed): nothing to do */
			char *stream = key_jobs();

			rconn_command(rd->rc, 0, on_ignore, NULL,
			    "XACK %s %s %s", stream, CONSUMER_GROUP,
			    e->element[0]->str);
			free(stream);
			continue;
		}
		j = job_from_entry(e->element[0]->str, e->element[1], err,
		    sizeof(err));
		if (j == NULL) {
			const char *t = NULL;
			size_t k;
			redisReply *f = e->element[1];

			for (k = 0; f->type == REDIS_REPLY_ARRAY &&
			    k + 1 < f->elements; k += 2)
				if (f->element[k]->type == REDIS_REPLY_STRING &&
				    strcmp(f->element[k]->str, "teacher") == 0 &&
				    f->element[k + 1]->type ==
				    REDIS_REPLY_STRING &&
				    contract_id_valid(f->element[k + 1]->str,
				    TEACHER_ID_MAX))
					t = f->element[k + 1]->str;
			job_fail_bad(e->element[0]->str, t, err);
			continue;
		}
		queue_job_add(j);
		/* read as we stopped or paused: give it back */
		if (rd->draining || rd->paused)
			job_handback(j);
		else
			batch[n++] = j;
	}
	if (n > 0)
		admit_batch(batch, n);
	free(batch);
}

static void	queue_read(void);
static void	queue_create_group(void);

/*
 * The stream or its group is gone: deleted by hand, or Redis flushed or
 * restarted empty.  Set up everything again (scripts, contract key,
 * group) and read from the start of our own pending entries.
 */
static void
queue_lost(const char *why)
{
	if (!rd->group_ready || rd->draining)
		return;		/* already being set up again */
	rd->group_ready = 0;
	rd->own_pending_done = 0;
	xstrlcpy(pending_from, "0", sizeof(pending_from));
	logf_warn(LF(.event = "redis_reset"), "the job stream or its consumer "
	    "group is gone (%s): recreating the group, the contract key and "
	    "the scripts", why);
	/* else the command connection does it once it is back */
	if (rconn_state(rd->rc) == RCONN_READY)
		rosterd_redis_prepare();
}

/* What a Redis error reply says about the stream and its group. */
static int
stream_gone(const char *reply)
{
	return strncmp(reply, "NOGROUP", 7) == 0 ||
	    strncmp(reply, "UNBLOCKED", 9) == 0;
}

static int	read_failures;	/* consecutive, for the retry delay */

static void
on_read_retry(evutil_socket_t fd, short what, void *arg)
{
	queue_read();
}

/* Read again after a delay that grows with each failure in a row. */
static void
queue_read_later(void)
{
	uint64_t ms = backoff_ms(++read_failures, REDIS_RETRY_MIN_MS,
	    REDIS_RETRY_MAX_MS);
	struct timeval tv = ms_to_tv(ms);

	if (rd->ev_read_retry == NULL)
		rd->ev_read_retry = evtimer_new(rd->base, on_read_retry, NULL);
	evtimer_add(rd->ev_read_retry, &tv);
}

static void
on_read(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	int own = arg != NULL;
	redisReply *stream, *entries;

	rd->reading = 0;
	if (r == NULL) {
		/* the connection's state callback reads again once back */
		if (!rd->draining)
			health_redis_failed("reading jobs", err, 0);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (stream_gone(r->str))
			queue_lost(r->str);
		else if (!rd->draining) {
			health_redis_failed("reading jobs", r->str, 1);
			queue_read_later();
		}
		return;
	}
	health_redis_ok();
	read_failures = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
		stream = r->element[0];
		entries = stream->type == REDIS_REPLY_ARRAY &&
		    stream->elements == 2 ? stream->element[1] : NULL;
		if (entries != NULL) {
			if (own && entries->elements == 0)
				rd->own_pending_done = 1;
			else if (own) {
				redisReply *last = entries->element[
				    entries->elements - 1];
				if (last->type == REDIS_REPLY_ARRAY &&
				    last->elements > 0)
					xstrlcpy(pending_from,
					    last->element[0]->str,
					    sizeof(pending_from));
			}
			take_entries(entries, own);
		}
	} else if (own)
		rd->own_pending_done = 1;
	queue_kick();
}

static void
queue_read(void)
{
	unsigned free_slots;
	char count[16], *stream;
	uint64_t timeout;

	if (rd->draining || rd->paused || rd->reading || !rd->group_ready ||
	    rconn_state(rd->rq) != RCONN_READY)
		return;
	if ((free_slots = queue_free_slots()) == 0)
		return;
	snprintf(count, sizeof(count), "%u", free_slots);
	stream = key_jobs();
	rd->reading = 1;
	timeout = READ_BLOCK_MS + rd->conf.redis_command_timeout_ms;
	if (!rd->own_pending_done)
		rconn_command(rd->rq, timeout, on_read, (void *)1,
		    "XREADGROUP GROUP %s %s COUNT %s STREAMS %s %s",
		    CONSUMER_GROUP, rd->consumer, count, stream, pending_from);
	else
		rconn_command(rd->rq, timeout, on_read, NULL,
		    "XREADGROUP GROUP %s %s COUNT %s BLOCK %d STREAMS %s >",
		    CONSUMER_GROUP, rd->consumer, count, READ_BLOCK_MS, stream);
	free(stream);
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	queue_read();
}

/* Ask the reader to look for work (deferred to the loop). */
void
queue_kick(void)
{
	if (rd->ev_read != NULL && !rd->draining)
		event_active(rd->ev_read, EV_TIMEOUT, 0);
}

static void
queue_group_ready(void)
{
	rd->group_ready = 1;
	rosterd_prepared();
	queue_kick();
}

static void
on_group(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r != NULL && (r->type != REDIS_REPLY_ERROR ||
	    strncmp(r->str, "BUSYGROUP", 9) == 0)) {
		if (r->type != REDIS_REPLY_ERROR)
			logf_info(LF(.event = "group_created"), "created the "
			    "consumer group %s of %sjobs", CONSUMER_GROUP,
			    rd->conf.redis_prefix);
		queue_group_ready();
		return;
	}
	if (r == NULL)	/* prepared again once reconnected */
		health_redis_failed("creating the consumer group", err, 0);
	else
		rosterd_prepare_later("creating the consumer group", r->str);
}

static void
on_claimed(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
		if (r != NULL && r->type == REDIS_REPLY_ERROR &&
		    stream_gone(r->str))
			queue_lost(r->str);
		else if (r != NULL && r->type == REDIS_REPLY_ERROR)
			logf_warn(LF(.event = "claim_failed"), "XAUTOCLAIM: %s",
			    r->str);
		return;
	}
	if (r->element[1]->type == REDIS_REPLY_ARRAY &&
	    r->element[1]->elements > 0)
		logf_info(LF(.event = "takeover"), "took over %zu jobs of "
		    "stopped instances", r->element[1]->elements);
	take_entries(r->element[1], 1);
}

/* The entries touch.lua found not ours any more: forget their jobs. */
static void
on_touched(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct job *j, *tj;
	size_t i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING)
			continue;
		TAILQ_FOREACH_SAFE(j, &rd->jobs, entry, tj)
			if (strcmp(j->entry_id, r->element[i]->str) == 0)
				job_entry_lost(j);
	}
}

/*
 * Keep our own pending jobs fresh (touch.lua claims them to ourselves,
 * which resets their idle time, but only those still ours), then take over
 * jobs idle longer than claim_idle_ms.
 */
static void
on_claim_timer(evutil_socket_t fd, short what, void *arg)
{
	struct job *j;
	const char **argv;
	char *stream, idle[24], count[16];
	size_t n = 0;
	unsigned free_slots;

	if (rd->draining || rconn_state(rd->rc) != RCONN_READY ||
	    !rd->group_ready)
		return;
	stream = key_jobs();
	if (rd->njobs > 0) {
		argv = xcalloc(rd->njobs + 3, sizeof(*argv));
		argv[n++] = stream;
		argv[n++] = CONSUMER_GROUP;
		argv[n++] = rd->consumer;
		TAILQ_FOREACH(j, &rd->jobs, entry)
			if (j->state != JOB_FINISHED)
				argv[n++] = j->entry_id;
		store_eval(SCRIPT_TOUCH, 1, (int)n, argv, NULL, on_touched,
		    NULL);
		free(argv);
	}
	if (!rd->paused && (free_slots = queue_free_slots()) > 0) {
		snprintf(idle, sizeof(idle), "%llu",
		    (unsigned long long)rd->conf.sync_claim_idle_ms);
		snprintf(count, sizeof(count), "%u", free_slots);
		rconn_command(rd->rc, 0, on_claimed, NULL,
		    "XAUTOCLAIM %s %s %s %s 0-0 COUNT %s", stream,
		    CONSUMER_GROUP, rd->consumer, idle, count);
	}
	free(stream);
}

/* The command connection is ready: create the group, start timers. */
void
queue_start(void)
{
	struct timeval tv = ms_to_tv(rd->conf.sync_claim_idle_ms / 3);

	if (rd->ev_read == NULL)
		rd->ev_read = event_new(rd->base, -1, 0, on_kick, NULL);
	if (rd->ev_claim == NULL) {
		rd->ev_claim = event_new(rd->base, -1, EV_PERSIST,
		    on_claim_timer, NULL);
		evtimer_add(rd->ev_claim, &tv);
	}
	queue_create_group();
}

/* An XINFO GROUPS reply: does it name our group? */
static int
names_our_group(redisReply *r)
{
	redisReply *name;
	size_t i;

	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if ((name = rconn_reply_field(r->element[i], "name")) != NULL &&
		    name->type == REDIS_REPLY_STRING &&
		    strcmp(name->str, CONSUMER_GROUP) == 0)
			return 1;
	return 0;
}

static void
on_groups(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	char *stream;

	if (r == NULL) {	/* prepared again once reconnected */
		health_redis_failed("looking for the consumer group", err, 0);
		return;
	}
	if (names_our_group(r)) {
		queue_group_ready();
		return;
	}
	/* absent, no stream yet, or XINFO not allowed: create it */
	stream = key_jobs();
	rconn_command(rd->rc, 0, on_group, NULL,
	    "XGROUP CREATE %s %s 0 MKSTREAM", stream, CONSUMER_GROUP);
	free(stream);
}

/*
 * Look for the group first, and create it only when absent: XINFO only
 * reads, so it works when Redis refuses writes (maxmemory).
 */
static void
queue_create_group(void)
{
	char *stream = key_jobs();

	rconn_command(rd->rc, 0, on_groups, NULL, "XINFO GROUPS %s", stream);
	free(stream);
}

static void
on_client_id(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		rd->reader_id = r->integer;
}

/* The reader connection is (re)connected: learn its id, then read. */
void
queue_reader_ready(void)
{
	rd->reader_id = 0;
	rconn_command(rd->rq, 0, on_client_id, NULL, "CLIENT ID");
	queue_kick();
}

/*
 * Stop reading: free the timers and wake the blocked XREADGROUP (CLIENT
 * UNBLOCK), so that no entry is delivered to us after this; entries that
 * raced in are handed back by take_entries().
 */
static void	unblock_reader(void);

/*
 * CLIENT UNBLOCK goes over another connection than the XREADGROUP it
 * wakes, so it can overtake it: 0 means nothing was blocked yet; try again
 * until the read has returned.
 */
static void
on_unblock(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0 &&
	    rd->reading && rd->unblock_tries++ < 100)
		unblock_reader();
}

static void
unblock_reader(void)
{
	if (rd->reading && rd->reader_id > 0 &&
	    rconn_state(rd->rc) == RCONN_READY)
		rconn_command(rd->rc, 0, on_unblock, NULL,
		    "CLIENT UNBLOCK %lld", rd->reader_id);
}

/* Paused: wake the blocked read; what it brings is handed back. */
void
queue_pause(void)
{
	rd->unblock_tries = 0;
	unblock_reader();
}

void
queue_stop(void)
{
	unblock_reader();
	if (rd->ev_claim != NULL)
		event_free(rd->ev_claim);
	if (rd->ev_read != NULL)
		event_free(rd->ev_read);
	if (rd->ev_read_retry != NULL)
		event_free(rd->ev_read_retry);
	rd->ev_claim = rd->ev_read = rd->ev_read_retry = NULL;
}
