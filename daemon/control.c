/*
 * The operator's hold on this instance, polled every second by the reader
 * (control.lua, one script): the deployment-wide pause, this instance's
 * quiet (`rosterctl quiet`: it starts no new job but finishes, retries
 * included, those it holds) and the commands on its control list
 * (`rosterctl retry-now JOB`, `rosterctl cancel JOB`).  The same poll
 * records in the heartbeat which pause and quiet the instance applies, so
 * that `rosterctl pause --wait` knows who has seen them.  No connection
 * and no blocking of its own: one script on the command connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

/* Commands taken per poll: more wait for the next one. */
#define CONTROL_BATCH	100
/* How long a quiet key outlives the last poll of its instance. */
#define QUIET_TTL_MS	(3600 * 1000)

static int	 polling;	/* control.lua in flight */

/* One command: "retry JOB" or "cancel JOB MESSAGE". */
static void
control_command(const char *cmd)
{
	char job_id[JOB_ID_MAX + 1];
	const char *id, *msg;
	size_t vlen = strcspn(cmd, " "), ilen;
	struct job *j;
	int rv;

	id = cmd + vlen + strspn(cmd + vlen, " ");
	ilen = strcspn(id, " ");
	msg = id + ilen + strspn(id + ilen, " ");
	if (ilen == 0 || ilen > JOB_ID_MAX) {
		log_warnx("control: malformed command ignored");
		return;
	}
	memcpy(job_id, id, ilen);
	job_id[ilen] = '\0';
	if ((j = jobs_find_job(job_id)) == NULL) {
		logf_info(LF(.event = "control_ignored", .job = job_id),
		    "%.*s: the job is not held by this instance", (int)vlen,
		    cmd);
		return;
	}
	if (vlen == 5 && strncmp(cmd, "retry", 5) == 0)
		rv = job_retry_now(j);
	else if (vlen == 6 && strncmp(cmd, "cancel", 6) == 0)
		rv = job_cancel(j, *msg != '\0' ? msg : "cancelled");
	else {
		log_warnx("control: unknown command %.*s ignored", (int)vlen,
		    cmd);
		return;
	}
	if (rv == -1)
		logf_info(LF(.event = "control_ignored", .job = job_id,
		    .teacher = j->teacher), "%.*s: the job is running or "
		    "ending: left alone", (int)vlen, cmd);
}

static const char *
reply_str(const redisReply *r, size_t i)
{
	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    r->element[i]->type != REDIS_REPLY_STRING)
		return NULL;
	return r->element[i]->str;
}

static void
on_control(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	const char *pause, *quiet;
	redisReply *cmds;
	size_t i;

	polling = 0;
	if (r == NULL || (pause = reply_str(r, 0)) == NULL ||
	    (quiet = reply_str(r, 1)) == NULL || r->elements < 3)
		return;		/* the next poll asks again */
	reader_gate(*pause != '\0' ? pause : NULL,
	    *quiet != '\0' ? quiet : NULL);
	cmds = r->element[2];
	for (i = 0; cmds->type == REDIS_REPLY_ARRAY && i < cmds->elements;
	    i++)
		if (cmds->element[i]->type == REDIS_REPLY_STRING)
			control_command(cmds->element[i]->str);
}

/* The reader's poll: the gate, this instance's commands. */
void
control_poll(void)
{
	struct script_call *sc;
	const char *p = reader_paused(), *q = reader_quiet();

	if (polling || rconn_state(rd->rc) != RCONN_READY)
		return;
	sc = script_new(SCRIPT_CONTROL);
	script_key(sc, key_paused());
	script_key(sc, key_quiet(rd->consumer));
	script_key(sc, key_control(rd->consumer));
	script_key(sc, key_instance(rd->consumer));
	script_arg(sc, p);
	script_arg(sc, q);
	script_num(sc, QUIET_TTL_MS);
	script_num(sc, CONTROL_BATCH);
	polling = 1;
	script_run(sc, on_control, NULL);
}
