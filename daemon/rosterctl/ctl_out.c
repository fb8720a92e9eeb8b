/*
 * rosterctl's one output layer, for people and for programs.
 *
 * A record (a job status hash, a published event, a dead letter, a diff
 * entry, a heartbeat) has a field table: its known fields in the order of
 * the tables of doc/contract.md, each a string or a number.  People get one
 * "  field  value" line per field in that order (the others follow by
 * name), *_ms fields also as UTC dates.  --json gets an object with the
 * same fields in the same order, typed by the table: a number field is a
 * JSON number (null when empty or not an integer), every other field a
 * string, whatever its value looks like.  So the same object is the same
 * JSON wherever it appears (status, watch, find, dead...).
 *
 * Every object printed on its own, and every object of a listing (a JSON
 * array), begins with "schema": CTL_SCHEMA; errors are such an object too,
 * {"schema":1,"error":{"code":...,"message":...}}, on standard output.
 * The schema is documented under JSON OUTPUT in doc/rosterctl.8: change its
 * number when a field changes type or meaning.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "ctl.h"
#include "xmalloc.h"

#define S	CTL_STR
#define N	CTL_NUM

/* doc/contract.md, "Job status": the status hash and the events. */
const struct ctl_field ctl_job_fields[] = {
	{ "job", S }, { "state", S }, { "teacher", S }, { "kind", S },
	{ "trigger", S }, { "ref", S }, { "traceparent", S },
	{ "attempts", N }, { "consumer", S },
	{ "created_ms", N }, { "started_ms", N }, { "updated_ms", N },
	{ "next_attempt_ms", N }, { "finished_ms", N }, { "result", S },
	{ "coalesced_with", S }, { "version", N }, { "base_version", N },
	{ "diff_id", S }, { "added", N }, { "updated", N }, { "removed", N },
	{ "teacher_updated", N }, { "sections_added", N },
	{ "sections_updated", N }, { "sections_removed", N },
	{ "students_added", N }, { "students_updated", N },
	{ "students_removed", N }, { "enrollments_added", N },
	{ "enrollments_removed", N }, { "sections", N }, { "requests", N },
	{ "unrecognised", N }, { "unrecognised_values", S }, { "account", S }, { "authorized_by", S },
	{ "authorized_by_changed", S }, { "error", S }, { "message", S },
	{ "note", S }, { NULL, S }
};

/* The fields of a dead letter (rosterd:dead), after its stream id. */
const struct ctl_field ctl_dead_fields[] = {
	{ "job", S }, { "state", S }, { "error", S }, { "message", S },
	{ "teacher", S }, { "kind", S }, { "ref", S }, { "traceparent", S },
	{ "district", S }, { "force", N }, { "attempts", N }, { "entry", S }, { "failed_ms", N },
	{ NULL, S }
};

/* A diff entry (rosterd:diffs), after its stream id; "diff" is parsed. */
const struct ctl_field ctl_diff_fields[] = {
	{ "v", N }, { "teacher", S }, { "job", S }, { "ref", S },
	{ "traceparent", S }, { "base_version", N }, { "version", N }, { "added", N },
	{ "updated", N }, { "removed", N }, { "forgotten", N }, { NULL, S }
};

/* An instance's heartbeat, rosterd:instance:CONSUMER. */
const struct ctl_field ctl_instance_fields[] = {
	{ "consumer", S }, { "host", S }, { "pid", N }, { "version", S },
	{ "state", S }, { "heartbeat_ms", N }, { "jobs", N },
	{ "fetching", N }, { "retrying", N }, { "waiting_teacher", N },
	{ "waiting_rate_limit", N }, { "done", N }, { "coalesced", N },
	{ "failed", N }, { "finished_last_minute", N }, { "redis", S },
	{ "redis_address", S }, { "redis_role", S }, { "redis_tls", S },
	{ "redis_maxmemory_policy", S }, { "redis_failovers", N },
	{ "paused_note", S }, { "paused_since_ms", N }, { "quiet_note", S },
	{ "quiet_since_ms", N }, { "jobs_json", S },
	{ "started_ms", N }, { "last_beat_ms", N }, { NULL, S }
};

#undef S
#undef N

/*
 * A record's fields as a flat name, value, name, value... array: the
 * field/value reply of Redis, or a published event's members.
 */
struct kv {
	const char	**p;
	size_t		  n;		/* pairs */
};

static void
kv_of_reply(struct kv *kv, const redisReply *f)
{
	size_t i;

	kv->n = f->elements / 2;
	kv->p = xcalloc(kv->n * 2 + 1, sizeof(*kv->p));
	for (i = 0; i < kv->n * 2; i++)
		kv->p[i] = f->element[i]->str;
}

static const char *
kv_get(const struct kv *kv, const char *name)
{
	size_t i;

	for (i = 0; i < kv->n; i++)
		if (strcmp(kv->p[2 * i], name) == 0)
			return kv->p[2 * i + 1];
	return NULL;
}

const char *
ctl_field(const redisReply *f, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < f->elements; i += 2)
		if (strcmp(f->element[i]->str, name) == 0)
			return f->element[i + 1]->str;
	return "";
}

static const struct ctl_field *
known(const struct ctl_field *t, const char *name)
{
	for (; t->name != NULL; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The record's field names, known ones first: a NULL-ended array. */
static const char **
ordered_names(const struct kv *kv, const struct ctl_field *t)
{
	const char **names = xcalloc(kv->n + 1, sizeof(*names));
	size_t i, n = 0, extra;

	for (i = 0; t[i].name != NULL; i++)
		if (kv_get(kv, t[i].name) != NULL)
			names[n++] = t[i].name;
	extra = n;
	for (i = 0; i < kv->n; i++)
		if (known(t, kv->p[2 * i]) == NULL)
			names[n++] = kv->p[2 * i];
	qsort(names + extra, n - extra, sizeof(*names), cmp_names);
	names[n] = NULL;
	return names;
}

/* A value as its field table says: a number (or null), else a string. */
static json_object *
typed(const struct ctl_field *def, const char *v)
{
	char *end;
	long long n;

	if (def == NULL || def->type == CTL_STR)
		return json_object_new_string(v);
	n = strtoll(v, &end, 10);
	return *v != '\0' && *end == '\0' ? json_object_new_int64(n) : NULL;
}

static json_object *
kv_json(json_object *o, const struct kv *kv, const struct ctl_field *t)
{
	const char **names = ordered_names(kv, t), **p;

	for (p = names; *p != NULL; p++)
		json_object_object_add(o, *p, typed(known(t, *p),
		    kv_get(kv, *p)));
	free(names);
	return o;
}

json_object *
ctl_object(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "schema", json_object_new_int(CTL_SCHEMA));
	return o;
}

/* Name, value, name, value...: npairs fields added to o, typed. */
json_object *
ctl_pairs_add(json_object *o, const char **p, size_t npairs,
    const struct ctl_field *t)
{
	struct kv kv = { p, npairs };

	return kv_json(o, &kv, t);
}

json_object *
ctl_record_add(json_object *o, const redisReply *f,
    const struct ctl_field *t)
{
	struct kv kv;

	kv_of_reply(&kv, f);
	kv_json(o, &kv, t);
	free(kv.p);
	return o;
}

json_object *
ctl_record_json(const redisReply *f, const struct ctl_field *t)
{
	return ctl_record_add(ctl_object(), f, t);
}

/* A stream entry: {"schema": 1, "id": ID, its fields...}. */
json_object *
ctl_entry_json(const redisReply *e, const struct ctl_field *t)
{
	json_object *o = ctl_object();

	json_object_object_add(o, "id",
	    json_object_new_string(e->element[0]->str));
	return ctl_record_add(o, e->element[1], t);
}

/*
 * A published event (a JSON object whose members' types are whatever the
 * publisher chose) retyped by the table, so that it reads as the status.
 */
json_object *
ctl_event_json(json_object *ev, const struct ctl_field *t)
{
	json_object *o = ctl_object();
	struct kv kv;
	size_t i = 0;

	kv.n = (size_t)json_object_object_length(ev);
	kv.p = xcalloc(kv.n * 2 + 1, sizeof(*kv.p));
	json_object_object_foreach(ev, k, v) {
		kv.p[i++] = k;
		kv.p[i++] = v == NULL ? "" : json_object_get_string(v);
	}
	kv_json(o, &kv, t);
	free(kv.p);
	return o;
}

void
ctl_print_ms(const char *label, unsigned long long ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
	printf("  %-22s %llu (%s)\n", label, ms, buf);
}

void
ctl_print_record(const char *title, const redisReply *f,
    const struct ctl_field *t)
{
	const char **names, **p, *v;
	struct kv kv;
	size_t kl;

	kv_of_reply(&kv, f);
	names = ordered_names(&kv, t);
	if (title != NULL)
		printf("%s\n", title);
	for (p = names; *p != NULL; p++) {
		v = kv_get(&kv, *p);
		kl = strlen(*p);
		if (kl > 3 && strcmp(*p + kl - 3, "_ms") == 0 && *v != '\0')
			ctl_print_ms(*p, strtoull(v, NULL, 10));
		else
			printf("  %-22s %s\n", *p, v);
	}
	free(names);
	free(kv.p);
}

void
ctl_print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* An action command's result object: {"schema": 1, "command": NAME}. */
json_object *
ctl_result(const char *command)
{
	json_object *o = ctl_object();

	json_object_object_add(o, "command", json_object_new_string(command));
	return o;
}

/*
 * An error: "rosterctl: MESSAGE" on stderr, or with --json the error
 * object on stdout.  Returns status, the command's exit status.
 */
int
ctl_verror(int status, const char *code, const char *fmt, va_list ap)
{
	json_object *o, *e;
	char *msg;

	if (vasprintf(&msg, fmt, ap) == -1)
		abort();
	if (ctl_json) {
		o = ctl_object();
		e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string(code));
		json_object_object_add(e, "message",
		    json_object_new_string(msg));
		json_object_object_add(o, "error", e);
		ctl_print_json(o);
	} else
		fprintf(stderr, "rosterctl: %s\n", msg);
	free(msg);
	return status;
}

int
ctl_error(int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	status = ctl_verror(status, code, fmt, ap);
	va_end(ap);
	return status;
}
