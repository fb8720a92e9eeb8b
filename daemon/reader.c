/*
 * The reader of the job stream.  A dedicated connection blocks in
 * XREADGROUP (so that other commands never wait behind it) and asks for as
 * many jobs as there are free slots; each batch is admitted in one script
 * call.  A timer keeps the jobs this instance holds from looking idle and
 * takes over, with XAUTOCLAIM, the jobs of instances that died.  The
 * reader owns the gate: it reads nothing while the deployment is paused
 * (the pause key), this instance is quiet (its quiet key; both polled
 * every second by control.c) or rosterd stops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define READ_BATCH_MAX	1000
#define READ_BLOCK_MS	5000
#define PAUSE_POLL_MS	1000

static struct event	*ev_read;	/* kick the reader */
static struct event	*ev_read_retry;	/* read again after an error */
static struct event	*ev_claim;	/* take over stale jobs */
static struct event	*ev_pause;	/* poll the pause key */
static int		 reading;	/* XREADGROUP in flight */
static long long	 reader_id;	/* CLIENT ID of rd->rq */
static int		 unblock_tries;
static int		 group_ready;	/* the group is there: read */
static int		 own_pending_done;	/* re-read own PEL */
static int		 paused;	/* the gate is shut: pause or quiet */
static char		*pause_note;	/* the pause key's value, or NULL */
static char		*quiet_note;	/* the quiet key's value, or NULL */
static int		 read_failures;	/* consecutive, for the retry delay */
/* Where the reader is: own pending entries first (after a restart). */
static char		 pending_from[JOB_ID_MAX + 1] = "0";

/* Entries to ask for: one per free slot, a batch at most. */
static unsigned
reader_free_slots(void)
{
	unsigned n = jobs_free_slots();

	return n > READ_BATCH_MAX ? READ_BATCH_MAX : n;
}

static void
on_ignore(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		log_debug("background command failed: %s", err ? err : r->str);
}

/* Take the entries of an XREADGROUP/XAUTOCLAIM reply as jobs; how many
   were new to this instance. */
static size_t
take_entries(redisReply *entries, int maybe_ours)
{
	struct job **batch;
	struct job *j;
	redisReply *e;
	char err[256];
	size_t i, n = 0, taken = 0;

	if (entries->type != REDIS_REPLY_ARRAY || entries->elements == 0)
		return 0;
	batch = xcalloc(entries->elements, sizeof(*batch));
	for (i = 0; i < entries->elements; i++) {
		e = entries->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		/* new entries ('>') cannot be in memory; re-read ones can */
		if (maybe_ours && jobs_find_entry(e->element[0]->str) != NULL)
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
		taken++;
		metrics_job_received(j ? j->kind : JOB_SYNC, j ? j->trigger :
		    TRIGGER_APP);
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
		jobs_add(j);
		/* read as we stopped or paused: give it back */
		if (rd->draining || paused)
			job_handback(j);
		else
			batch[n++] = j;
	}
	if (n > 0)
		admit_batch(batch, n);
	free(batch);
	return taken;
}

static void	reader_read(void);
static void	unblock_reader(void);

/*
 * The stream or its group is gone: deleted by hand, or Redis flushed or
 * restarted empty.  Set up everything again (scripts, contract key,
 * group) and read from the start of our own pending entries.
 */
static void
reader_lost(const char *why)
{
	if (!group_ready || rd->draining)
		return;		/* already being set up again */
	group_ready = 0;
	own_pending_done = 0;
	xstrlcpy(pending_from, "0", sizeof(pending_from));
	logf_warn(LF(.event = "redis_reset"), "the job stream or its consumer "
	    "group is gone (%s): recreating the group, the contract key and "
	    "the scripts", why);
	/* else the command connection does it once it is back */
	if (rconn_state(rd->rc) == RCONN_READY)
		prepare_redis();
}

/*
 * What a Redis error reply says about the stream and its group: gone
 * (NOGROUP; a blocked read woken because the stream was deleted).  A read
 * woken because the server became a replica is a failover, which rconn
 * follows: the stream is still there, on the new primary.
 */
static int
stream_gone(const char *reply)
{
	return strncmp(reply, "NOGROUP", 7) == 0 ||
	    (strncmp(reply, "UNBLOCKED", 9) == 0 &&
	    strstr(reply, "replica") == NULL);
}

static void
on_read_retry(evutil_socket_t fd, short what, void *arg)
{
	reader_read();
}

/* Read again after a delay that grows with each failure in a row. */
static void
reader_read_later(void)
{
	uint64_t ms = backoff_ms(++read_failures, REDIS_RETRY_MIN_MS,
	    REDIS_RETRY_MAX_MS);
	struct timeval tv = ms_to_tv(ms);

	if (ev_read_retry == NULL)
		ev_read_retry = evtimer_new(rd->base, on_read_retry, NULL);
	evtimer_add(ev_read_retry, &tv);
}

static void
on_read(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	int own = arg != NULL;
	redisReply *stream, *entries;

	reading = 0;
	if (r == NULL) {
		/* the connection's state callback reads again once back */
		if (!rd->draining)
			health_redis_failed("reading jobs", err, 0);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (stream_gone(r->str))
			reader_lost(r->str);
		else if (!rd->draining) {
			health_redis_failed("reading jobs", r->str, 1);
			reader_read_later();
		}
		return;
	}
	health_redis_ok(0);	/* XREADGROUP works at maxmemory too */
	read_failures = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
		stream = r->element[0];
		entries = stream->type == REDIS_REPLY_ARRAY &&
		    stream->elements == 2 ? stream->element[1] : NULL;
		if (entries != NULL) {
			if (own && entries->elements == 0)
				own_pending_done = 1;
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
		own_pending_done = 1;
	reader_kick();
}

static void
reader_read(void)
{
	unsigned free_slots;
	char count[16], *stream;
	uint64_t timeout;

	if (rd->draining || paused || reading || !group_ready ||
	    rconn_state(rd->rq) != RCONN_READY)
		return;
	if ((free_slots = reader_free_slots()) == 0)
		return;
	snprintf(count, sizeof(count), "%u", free_slots);
	stream = key_jobs();
	reading = 1;
	timeout = READ_BLOCK_MS + rd->conf.redis_command_timeout_ms;
	if (!own_pending_done)
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
	reader_read();
}

/* Ask the reader to look for work (deferred to the loop). */
void
reader_kick(void)
{
	if (ev_read != NULL && !rd->draining)
		event_active(ev_read, EV_TIMEOUT, 0);
}

static void
on_claimed(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
		if (r != NULL && r->type == REDIS_REPLY_ERROR &&
		    stream_gone(r->str))
			reader_lost(r->str);
		else if (r != NULL && r->type == REDIS_REPLY_ERROR)
			logf_warn(LF(.event = "claim_failed"), "XAUTOCLAIM: %s",
			    r->str);
		return;
	}
	if (r->element[1]->type == REDIS_REPLY_ARRAY &&
	    r->element[1]->elements > 0)
		logf_info(LF(.event = "takeover"), "took over %zu jobs of "
		    "stopped instances", r->element[1]->elements);
	metrics_taken_over(take_entries(r->element[1], 1));
}

/* The entries touch.lua found not ours any more: forget their jobs. */
static void
on_touched(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	size_t i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			jobs_each_of_entry(r->element[i]->str,
			    job_entry_lost);
}

/* Keep our own pending jobs fresh: touch.lua claims them to ourselves,
   which resets their idle time, but only those still ours. */
static void
reader_touch(void)
{
	struct script_call *sc;
	const char **ids;
	size_t n = jobs_count(), i;

	if (n == 0)
		return;
	ids = xcalloc(n, sizeof(*ids));
	n = jobs_entry_ids(ids, n);
	sc = script_new(SCRIPT_TOUCH);
	script_key(sc, key_jobs());
	script_arg(sc, CONSUMER_GROUP);
	script_arg(sc, rd->consumer);
	for (i = 0; i < n; i++)
		script_arg(sc, ids[i]);
	script_run(sc, on_touched, NULL);
	free(ids);
}

/* Take over jobs idle longer than claim_idle_ms (their instance died). */
static void
reader_take_over(void)
{
	char *stream, idle[24], count[16];
	unsigned free_slots;

	if (paused || (free_slots = reader_free_slots()) == 0)
		return;
	stream = key_jobs();
	snprintf(idle, sizeof(idle), "%llu",
	    (unsigned long long)rd->conf.sync_claim_idle_ms);
	snprintf(count, sizeof(count), "%u", free_slots);
	rconn_command(rd->rc, 0, on_claimed, NULL,
	    "XAUTOCLAIM %s %s %s %s 0-0 COUNT %s", stream, CONSUMER_GROUP,
	    rd->consumer, idle, count);
	free(stream);
}

static void
on_claim_timer(evutil_socket_t fd, short what, void *arg)
{
	if (rd->draining || rconn_state(rd->rc) != RCONN_READY ||
	    !group_ready)
		return;
	reader_touch();
	reader_take_over();
}

/* ---- the gate: while paused or quiet no new job starts ---- */

/* Keep a note (pause, quiet): whether it came or went. */
static int
note_changed(char **note, const char *now)
{
	if ((*note == NULL) == (now == NULL) &&
	    (now == NULL || strcmp(*note, now) == 0))
		return 0;
	free(*note);
	*note = now != NULL ? xstrdup(now) : NULL;
	return 1;
}

/*
 * What control.c's poll found: the pause key's and this instance's quiet
 * key's values (NULL: absent).  Either shuts the gate; what a read in
 * flight brings goes back (take_entries()).
 */
void
reader_gate(const char *pause, const char *quiet)
{
	int was = paused;

	if (note_changed(&pause_note, pause)) {
		if (pause != NULL)
			logf_info(LF(.event = "paused"), "queue paused (%s): no "
			    "new job starts, %u in flight finish", pause,
			    jobs_count());
		else
			logf_info(LF(.event = "resumed"), "queue resumed");
	}
	if (note_changed(&quiet_note, quiet)) {
		if (quiet != NULL)
			logf_info(LF(.event = "quiet"), "instance quiet (%s): "
			    "no new job starts here, %u held finish", quiet,
			    jobs_count());
		else
			logf_info(LF(.event = "unquiet"), "instance takes "
			    "work again");
		instance_beat_soon();	/* its state says so */
	}
	paused = pause_note != NULL || quiet_note != NULL;
	if (paused != was)
		rosterd_status_changed();
	if (paused && !was) {
		unblock_tries = 0;
		unblock_reader();
	} else if (!paused && was)
		reader_kick();
}

static void
on_pause_timer(evutil_socket_t fd, short what, void *arg)
{
	control_poll();
}

/* The pause key's value while the deployment is paused, else NULL. */
const char *
reader_paused(void)
{
	return pause_note;
}

/* This instance's quiet key's value while it is quiet, else NULL. */
const char *
reader_quiet(void)
{
	return quiet_note;
}

/* The consumer group is there: read, keep our jobs, take over. */
int
reader_group_ready(void)
{
	return group_ready;
}

/*
 * The consumer group is there (prepare.c made sure): start the timers and
 * read.
 */
void
reader_start(void)
{
	struct timeval claim = ms_to_tv(rd->conf.sync_claim_idle_ms / 3);
	struct timeval poll = ms_to_tv(PAUSE_POLL_MS);

	if (ev_read == NULL)
		ev_read = event_new(rd->base, -1, 0, on_kick, NULL);
	if (ev_claim == NULL) {
		ev_claim = event_new(rd->base, -1, EV_PERSIST, on_claim_timer,
		    NULL);
		evtimer_add(ev_claim, &claim);
	}
	if (ev_pause == NULL) {
		ev_pause = event_new(rd->base, -1, EV_PERSIST, on_pause_timer,
		    NULL);
		evtimer_add(ev_pause, &poll);
		on_pause_timer(-1, 0, NULL);
	}
	group_ready = 1;
	reader_kick();
}

static void
on_client_id(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		reader_id = r->integer;
}

/*
 * The reader connection's state changed: learn its id, then read, our
 * own pending entries first.  After a failover the new primary may hold
 * entries delivered to us whose end (the acknowledgement) was lost with
 * the old one: read again, they are taken up at once instead of after
 * claim_idle_ms.  Those still in memory are skipped.
 */
void
reader_conn_state(enum rconn_state st)
{
	if (st != RCONN_READY) {
		reading = 0;
		return;
	}
	own_pending_done = 0;
	xstrlcpy(pending_from, "0", sizeof(pending_from));
	reader_id = 0;
	rconn_command(rd->rq, 0, on_client_id, NULL, "CLIENT ID");
	reader_kick();
}

/*
 * CLIENT UNBLOCK goes over another connection than the XREADGROUP it
 * wakes, so it can overtake it: 0 means nothing was blocked yet; try again
 * until the read has returned.
 */
static void
on_unblock(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0 &&
	    reading && unblock_tries++ < 100)
		unblock_reader();
}

/* Wake the blocked XREADGROUP, so that no entry is delivered to us after
   this; entries that raced in are handed back by take_entries(). */
static void
unblock_reader(void)
{
	if (reading && reader_id > 0 && rconn_state(rd->rc) == RCONN_READY)
		rconn_command(rd->rc, 0, on_unblock, NULL,
		    "CLIENT UNBLOCK %lld", reader_id);
}

/* Stop reading (a stop): wake the blocked read, free the timers. */
void
reader_stop(void)
{
	unblock_reader();
	if (ev_claim != NULL)
		event_free(ev_claim);
	if (ev_read != NULL)
		event_free(ev_read);
	if (ev_read_retry != NULL)
		event_free(ev_read_retry);
	if (ev_pause != NULL)
		event_free(ev_pause);
	ev_claim = ev_read = ev_read_retry = ev_pause = NULL;
}

void
reader_free(void)
{
	reader_stop();
	free(pause_note);
	free(quiet_note);
	pause_note = quiet_note = NULL;
}
