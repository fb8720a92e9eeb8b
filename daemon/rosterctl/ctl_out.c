/*
 * Records for people or programs.  A record is a field/value reply (a job
 * status hash, a dead letter); people get one "  field  value" line per
 * field in a fixed order (known fields first, in the order of the tables
 * of doc/contract.md, then the others by name), *_ms fields also as UTC
 * dates; --json gets an object with the same fields in the same order.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "ctl.h"
#include "xmalloc.h"

const char *const ctl_status_order[] = {
	"job", "state", "teacher", "kind", "trigger", "ref", "attempts",
	"consumer", "created_ms", "started_ms", "updated_ms", "next_attempt_ms",
	"finished_ms", "result", "coalesced_with", "version", "base_version",
	"diff_id", "added", "updated", "removed", "teacher_updated",
	"sections_added", "sections_updated", "sections_removed",
	"students_added", "students_updated", "students_removed",
	"enrollments_added", "enrollments_removed", "sections", "requests",
	"account", "authorized_by", "authorized_by_changed", "error",
	"message", "note", NULL
};

const char *const ctl_dead_order[] = {
	"job", "state", "error", "message", "teacher", "kind", "ref",
	"district", "force", "attempts", "entry", "failed_ms", NULL
};

const char *
ctl_field(const redisReply *f, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < f->elements; i += 2)
		if (strcmp(f->element[i]->str, name) == 0)
			return f->element[i + 1]->str;
	return "";
}

static int
in_order(const char *const *order, const char *k)
{
	for (; *order != NULL; order++)
		if (strcmp(*order, k) == 0)
			return 1;
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The record's field names, known ones first: a NULL-ended array. */
static const char **
ordered_names(const redisReply *f, const char *const *order)
{
	const char **names = xcalloc(f->elements / 2 + 1, sizeof(*names));
	size_t i, n = 0, extra;

	for (i = 0; order[i] != NULL; i++) {
		size_t k;

		for (k = 0; k + 1 < f->elements; k += 2)
			if (strcmp(f->element[k]->str, order[i]) == 0) {
				names[n++] = order[i];
				break;
			}
	}
	extra = n;
	for (i = 0; i + 1 < f->elements; i += 2)
		if (!in_order(order, f->element[i]->str))
			names[n++] = f->element[i]->str;
	qsort(names + extra, n - extra, sizeof(*names), cmp_names);
	names[n] = NULL;
	return names;
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
    const char *const *order)
{
	const char **names = ordered_names(f, order), **p, *v;
	size_t kl;

	if (title != NULL)
		printf("%s\n", title);
	for (p = names; *p != NULL; p++) {
		v = ctl_field(f, *p);
		kl = strlen(*p);
		if (kl > 3 && strcmp(*p + kl - 3, "_ms") == 0 && *v != '\0')
			ctl_print_ms(*p, strtoull(v, NULL, 10));
		else
			printf("  %-22s %s\n", *p, v);
	}
	free(names);
}

json_object *
ctl_record_json(const redisReply *f, const char *const *order)
{
	const char **names = ordered_names(f, order), **p;
	json_object *o = json_object_new_object();

	for (p = names; *p != NULL; p++)
		json_object_object_add(o, *p,
		    json_object_new_string(ctl_field(f, *p)));
	free(names);
	return o;
}

void
ctl_print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* A stream entry: {"id": ID, its fields...}. */
json_object *
ctl_entry_json(const redisReply *e, const char *const *order)
{
	json_object *o = json_object_new_object(), *rec;

	json_object_object_add(o, "id",
	    json_object_new_string(e->element[0]->str));
	rec = ctl_record_json(e->element[1], order);
	json_object_object_foreach(rec, k, v)
		json_object_object_add(o, k, json_object_get(v));
	json_object_put(rec);
	return o;
}
