/*
 * A job stream entry, parsed and checked: the one piece of the daemon that
 * reads what apps write.  Pure: no Redis, no event loop (fuzzed by
 * tests/fuzz/fuzz_job_entry.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

/* Request time of an entry: its id's milliseconds (Redis clock). */
static uint64_t
entry_ms(const char *entry_id)
{
	return strtoull(entry_id, NULL, 10);
}

const char *const job_kind_names[JOB_KIND_COUNT] = {
	[JOB_SYNC] = "sync",
	[JOB_DISCOVER] = "discover",
	[JOB_FORGET] = "forget",
	[JOB_DISTRICT] = "district",
};

const char *const job_trigger_names[TRIGGER_COUNT] = {
	[TRIGGER_APP] = "app",
	[TRIGGER_SCHEDULE] = "schedule",
	[TRIGGER_UNRENEWED] = "unrenewed",
	[TRIGGER_EVENTS] = "events",
};

/*
 * The app's trace context: kept when valid; an invalid one is ignored, as
 * the W3C Trace Context spec has a receiver do (the job runs untraced).
 */
static void
job_entry_trace(struct job *j, const char *v)
{
	if (contract_traceparent(v, j->trace_id)) {
		xstrlcpy(j->traceparent, v, sizeof(j->traceparent));
		return;
	}
	j->trace_id[0] = j->traceparent[0] = '\0';
	logf_debug(LF(.event = "bad_traceparent", .job = j->job_id),
	    "traceparent \"%.64s\" is not a W3C version 00 traceparent: "
	    "ignored", v);
}

/*
 * A district job (district.c) names a district and no teacher: it runs
 * under the name "district:D" where a job names its teacher (its lock,
 * its state, its status's teacher field, the log), a name no teacher id
 * can take (':'), so one pull of a district runs at a time and a request
 * coalesces with a pull that started after it, as a teacher's do.
 */
static int
job_entry_district(struct job *j, char *err, size_t errlen)
{
	if (j->district == NULL || strlen(j->district) + 9 > TEACHER_ID_MAX) {
		snprintf(err, errlen, "a district job names its district "
		    "(field \"district\", a Clever id of at most %d "
		    "characters)", TEACHER_ID_MAX - 9);
		job_entry_free(j);
		return -1;
	}
	snprintf(j->teacher, sizeof(j->teacher), "district:%s", j->district);
	return 0;
}

struct job *
job_from_entry(const char *entry_id, redisReply *f, char *err, size_t errlen)
{
	struct job *j = xcalloc(1, sizeof(*j));
	const char *k, *v, *teacher = NULL;
	size_t i;
	int kind;

	xstrlcpy(j->entry_id, entry_id, sizeof(j->entry_id));
	xstrlcpy(j->job_id, entry_id, sizeof(j->job_id));
	j->req_ms = entry_ms(entry_id);
	if (f->type != REDIS_REPLY_ARRAY || f->elements % 2 != 0 ||
	    f->elements > 2 * JOB_FIELDS_MAX) {
		snprintf(err, errlen, "a job is a stream entry of at most %d "
		    "field/value pairs", JOB_FIELDS_MAX);
		goto bad;
	}
	for (i = 0; i < f->elements; i += 2) {
		if (f->element[i]->type != REDIS_REPLY_STRING ||
		    f->element[i + 1]->type != REDIS_REPLY_STRING) {
			snprintf(err, errlen, "job fields must be strings");
			goto bad;
		}
		k = f->element[i]->str;
		v = f->element[i + 1]->str;
		if (f->element[i + 1]->len > JOB_FIELD_MAX ||
		    strlen(v) != f->element[i + 1]->len) {
			snprintf(err, errlen, "job field \"%.32s\" is longer "
			    "than %d bytes or holds NUL bytes", k,
			    JOB_FIELD_MAX);
			goto bad;
		}
		if (strcmp(k, "teacher") == 0) {
			/* checked below: a district job has none of its own */
			teacher = v;
		} else if (strcmp(k, "kind") == 0) {
			for (kind = 0; kind < JOB_KIND_COUNT; kind++)
				if (strcmp(v, job_kind_names[kind]) == 0)
					break;
			if (kind < JOB_KIND_COUNT)
				j->kind = (enum job_kind)kind;
			else {
				snprintf(err, errlen, "kind must be \"sync\", "
				    "\"discover\", \"forget\" or \"district\"");
				goto bad;
			}
		} else if (strcmp(k, "trigger") == 0) {
			/* rosterd's own jobs say so; an app's need not */
			for (kind = 0; kind < TRIGGER_COUNT; kind++)
				if (strcmp(v, job_trigger_names[kind]) == 0)
					break;
			if (kind == TRIGGER_COUNT) {
				snprintf(err, errlen, "trigger must be \"app\", "
				    "\"schedule\", \"unrenewed\" or "
				    "\"events\"");
				goto bad;
			}
			j->trigger = (enum job_trigger)kind;
		} else if (strcmp(k, "ref") == 0) {
			if (strlen(v) > JOB_REF_MAX) {
				snprintf(err, errlen, "ref is longer than %d "
				    "bytes", JOB_REF_MAX);
				goto bad;
			}
			free(j->ref);
			j->ref = xstrdup(v);
		} else if (strcmp(k, "district") == 0) {
			if (!contract_id_valid(v, TEACHER_ID_MAX)) {
				snprintf(err, errlen, "district must be a "
				    "Clever id");
				goto bad;
			}
			free(j->district);
			j->district = xstrdup(v);
		} else if (strcmp(k, "force") == 0) {
			j->force = strcmp(v, "1") == 0 ||
			    strcmp(v, "yes") == 0 || strcmp(v, "true") == 0;
		} else if (strcmp(k, "job_id") == 0) {
			/* a job handed back keeps its identity */
			if (!contract_id_valid(v, JOB_ID_MAX)) {
				snprintf(err, errlen, "bad job_id");
				goto bad;
			}
			xstrlcpy(j->job_id, v, sizeof(j->job_id));
		} else if (strcmp(k, "requested_ms") == 0) {
			j->req_ms = strtoull(v, NULL, 10);
		} else if (strcmp(k, "traceparent") == 0) {
			job_entry_trace(j, v);
		} else if (strcmp(k, "token") == 0 ||
		    strcmp(k, "access_token") == 0) {
			snprintf(err, errlen, "jobs must not carry tokens: "
			    "store the token under the token key instead");
			goto bad;
		}
		/* other fields are the app's own; ignored */
	}
	if (j->kind == JOB_DISTRICT)
		return job_entry_district(j, err, errlen) == -1 ? NULL : j;
	if (teacher == NULL || *teacher == '\0') {
		snprintf(err, errlen, "the job names no teacher (field "
		    "\"teacher\")");
		goto bad;
	}
	if (!contract_id_valid(teacher, TEACHER_ID_MAX)) {
		snprintf(err, errlen, "teacher must be a Clever id (1-%d "
		    "letters, digits, - or _)", TEACHER_ID_MAX);
		goto bad;
	}
	xstrlcpy(j->teacher, teacher, sizeof(j->teacher));
	return j;
bad:
	job_entry_free(j);
	return NULL;
}

/* Free a job that was parsed but never started (fuzzing, bad entries). */
void
job_entry_free(struct job *j)
{
	free(j->ref);
	free(j->district);
	free(j);
}
