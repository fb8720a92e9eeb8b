/*
 * After a teacher is forgotten (forget.lua), the statuses of its other
 * jobs go too.  Status keys are named by job, not by teacher, so they are
 * found with SCAN, a batch at a time, each batch checked and deleted by
 * forget_statuses.lua.  Best effort in the background: a status missed
 * (rosterd stopped meanwhile) expires after [sync] status_ttl_s anyway.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define SCAN_COUNT	"1000"

struct forget_scan {
	char		 teacher[TEACHER_ID_MAX + 1];
	char		*own;		/* the forget job's status: kept */
	char		*match;
	char		 cursor[32];
	unsigned long	 deleted;
};

static void	scan_next(struct forget_scan *);

static void
scan_done(struct forget_scan *fs, const char *err)
{
	if (err != NULL)
		logf_warn(LF(.event = "forget_statuses", .teacher =
		    fs->teacher), "deleting the forgotten teacher's job "
		    "statuses stopped (%s); the rest expire by status_ttl_s",
		    err);
	else
		logf_info(LF(.event = "forget_statuses", .teacher =
		    fs->teacher), "deleted %lu job statuses of the forgotten "
		    "teacher", fs->deleted);
	free(fs->own);
	free(fs->match);
	free(fs);
}

static void
on_deleted(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct forget_scan *fs = arg;

	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		scan_done(fs, err ? err : r->type == REDIS_REPLY_ERROR ?
		    r->str : "unexpected reply");
		return;
	}
	fs->deleted += (unsigned long)r->integer;
	scan_next(fs);
}

static void
on_scanned(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct forget_scan *fs = arg;
	struct script_call *sc;
	redisReply *keys;
	size_t i, n = 0;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY) {
		scan_done(fs, err ? err : r->type == REDIS_REPLY_ERROR ?
		    r->str : "unexpected reply to SCAN");
		return;
	}
	xstrlcpy(fs->cursor, r->element[0]->str, sizeof(fs->cursor));
	keys = r->element[1];
	sc = script_new(SCRIPT_FORGET_STATUSES);
	for (i = 0; i < keys->elements; i++)
		if (keys->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(keys->element[i]->str, fs->own) != 0) {
			script_key(sc, xstrdup(keys->element[i]->str));
			n++;
		}
	script_arg(sc, fs->teacher);
	if (n > 0)
		script_run(sc, on_deleted, fs);
	else {
		script_free(sc);
		scan_next(fs);
	}
}

static void
scan_next(struct forget_scan *fs)
{
	if (strcmp(fs->cursor, "0") == 0) {	/* the scan went round */
		scan_done(fs, NULL);
		return;
	}
	rconn_command(rd->rc, 0, on_scanned, fs, "SCAN %s MATCH %s COUNT "
	    SCAN_COUNT, fs->cursor, fs->match);
}

void
forget_statuses(const char *teacher, const char *own_job)
{
	struct forget_scan *fs = xcalloc(1, sizeof(*fs));

	xstrlcpy(fs->teacher, teacher, sizeof(fs->teacher));
	fs->own = key_job(own_job);
	fs->match = key_job("*");
	rconn_command(rd->rc, 0, on_scanned, fs, "SCAN 0 MATCH %s COUNT "
	    SCAN_COUNT, fs->match);
}
