/* The JSON a job writes: its status's counts, the picker's sections. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "job_json.h"
#include "xmalloc.h"

/* Distinct unrecognised values in their JSON ({"grade":[],...}). */
static size_t
unrec_count(const char *unrec)
{
	json_object *o;
	size_t n = 0;

	if (unrec == NULL || (o = json_tokener_parse(unrec)) == NULL)
		return 0;
	json_object_object_foreach(o, kind, list) {
		(void)kind;
		if (json_object_is_type(list, json_type_array))
			n += json_object_array_length(list);
	}
	json_object_put(o);
	return n;
}

/*
 * The status fields of a sync's result as a JSON object: the counts of
 * its diff (also for the stream) and the unrecognised raw values.
 */
char *
job_counts_json(const struct roster_diff_counts *c, const char *unrec)
{
	json_object *v;
	char *s, *values = NULL;

	if (unrec != NULL) {
		v = json_object_new_string(unrec);
		xasprintf(&values, ",\"unrecognised_values\":%s",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		json_object_put(v);
	}
	xasprintf(&s, "{\"added\":%u,\"updated\":%u,\"removed\":%u,"
	    "\"sections_added\":%u,\"sections_updated\":%u,"
	    "\"sections_removed\":%u,\"students_added\":%u,"
	    "\"students_updated\":%u,\"students_removed\":%u,"
	    "\"enrollments_added\":%u,\"enrollments_removed\":%u,"
	    "\"teacher_updated\":%u,\"unrecognised\":%zu%s}", c->added,
	    c->updated, c->removed, c->sections_added, c->sections_updated,
	    c->sections_removed, c->students_added, c->students_updated,
	    c->students_removed, c->enrollments_added, c->enrollments_removed,
	    c->teacher_updated, unrec_count(unrec), values ? values : "");
	free(values);
	return s;
}

static int
section_id_cmp(const void *a, const void *b)
{
	const struct roster_section *x = *(const struct roster_section *const *)a;
	const struct roster_section *y = *(const struct roster_section *const *)b;

	return strcmp(x->id, y->id);
}

static json_object *
section_json(const struct roster_section *sec)
{
	json_object *o = json_object_new_object(), *t;
	size_t k;

	json_object_object_add(o, "id", json_object_new_string(sec->id));
	json_object_object_add(o, "name",
	    json_object_new_string(sec->name ? sec->name : ""));
	json_object_object_add(o, "section_number",
	    json_object_new_string(sec->section_number ?
	    sec->section_number : ""));
	json_object_object_add(o, "subject",
	    json_object_new_string(sec->subject));
	json_object_object_add(o, "grade", json_object_new_string(sec->grade));
	t = json_object_new_array();
	for (k = 0; k < sec->nteachers; k++)
		json_object_array_add(t,
		    json_object_new_string(sec->teachers[k]));
	json_object_object_add(o, "teachers", t);
	return o;
}

/*
 * The picker's list: sections without students, by id, each once (the
 * roster may not be finished yet: the list is taken before the selection
 * narrows it), '/' unescaped like the snapshot.
 */
char *
job_sections_json(const struct roster *r, size_t *lenp, size_t *countp)
{
	const struct roster_section **by_id;
	json_object *a = json_object_new_array();
	size_t i, n = 0;
	char *s;

	by_id = xreallocarray(NULL, r->nsections + 1, sizeof(*by_id));
	for (i = 0; i < r->nsections; i++)
		by_id[i] = &r->sections[i];
	qsort(by_id, r->nsections, sizeof(*by_id), section_id_cmp);
	for (i = 0; i < r->nsections; i++) {
		if (i > 0 && strcmp(by_id[i]->id, by_id[i - 1]->id) == 0)
			continue;
		json_object_array_add(a, section_json(by_id[i]));
		n++;
	}
	s = xstrdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	*lenp = strlen(s);
	*countp = n;
	json_object_put(a);
	free(by_id);
	return s;
}
