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

/* The picker's list: sections without students. */
char *
job_sections_json(const struct roster *r, size_t *lenp)
{
	json_object *a = json_object_new_array(), *o, *t;
	size_t i, k;
	char *s;

	for (i = 0; i < r->nsections; i++) {
		const struct roster_section *sec = &r->sections[i];

		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(sec->id));
		json_object_object_add(o, "name",
		    json_object_new_string(sec->name ? sec->name : ""));
		json_object_object_add(o, "section_number",
		    json_object_new_string(sec->section_number ?
		    sec->section_number : ""));
		json_object_object_add(o, "subject",
		    json_object_new_string(sec->subject));
		json_object_object_add(o, "grade",
		    json_object_new_string(sec->grade));
		t = json_object_new_array();
		for (k = 0; k < sec->nteachers; k++)
			json_object_array_add(t,
			    json_object_new_string(sec->teachers[k]));
		json_object_object_add(o, "teachers", t);
		json_object_array_add(a, o);
	}
	s = xstrdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	*lenp = strlen(s);
	json_object_put(a);
	return s;
}
