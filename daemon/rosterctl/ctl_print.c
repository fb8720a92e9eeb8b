/*
 * A roster diff for people: one line per change, "+" added, "~" updated
 * (field: old -> new), "-" removed.  The format is doc/roster-format.md.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"

static const char *
str(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	return json_object_get_string(v);
}

/* A short label for a record: the name of a section or a person. */
static void
print_label(FILE *fp, const char *what, json_object *rec)
{
	json_object *name;
	const char *first, *last, *email;

	fprintf(fp, "%s %s", what, str(rec, "id") ? str(rec, "id") : "?");
	if (json_object_object_get_ex(rec, "name", &name) &&
	    json_object_is_type(name, json_type_object)) {
		first = str(name, "first");
		last = str(name, "last");
		fprintf(fp, " \"%s%s%s\"", first ? first : "",
		    first && last ? " " : "", last ? last : "");
	} else if (str(rec, "name") != NULL)
		fprintf(fp, " \"%s\"", str(rec, "name"));
	else if (str(rec, "first") != NULL || str(rec, "last") != NULL)
		fprintf(fp, " \"%s %s\"", str(rec, "first") ? str(rec, "first") :
		    "", str(rec, "last") ? str(rec, "last") : "");
	if (str(rec, "subject") != NULL)
		fprintf(fp, " subject=\"%s\"", str(rec, "subject"));
	if (str(rec, "grade") != NULL && *str(rec, "grade") != '\0')
		fprintf(fp, " grade=\"%s\"", str(rec, "grade"));
	if ((email = str(rec, "email")) != NULL)
		fprintf(fp, " <%s>", email);
}

static void
print_changes(FILE *fp, json_object *changes)
{
	json_object_object_foreach(changes, field, c) {
		json_object *o = NULL, *n = NULL;

		json_object_object_get_ex(c, "old", &o);
		json_object_object_get_ex(c, "new", &n);
		fprintf(fp, "\n      %s: %s -> %s", field,
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		    json_object_to_json_string_ext(n, JSON_C_TO_STRING_PLAIN));
	}
}

static void
print_list(FILE *fp, const char *what, json_object *group)
{
	static const char *const ops[] = { "added", "updated", "removed" };
	static const char marks[] = "+~-";
	json_object *list, *item, *changes;
	size_t i, k, n;

	for (k = 0; k < 3; k++) {
		if (!json_object_object_get_ex(group, ops[k], &list) ||
		    !json_object_is_type(list, json_type_array))
			continue;
		n = json_object_array_length(list);
		for (i = 0; i < n; i++) {
			item = json_object_array_get_idx(list, i);
			fprintf(fp, "  %c ", marks[k]);
			if (strcmp(what, "enrollment") == 0)
				fprintf(fp, "enrollment section %s student %s",
				    str(item, "section"), str(item, "student"));
			else
				print_label(fp, what, item);
			if (k == 1 && json_object_object_get_ex(item,
			    "changes", &changes))
				print_changes(fp, changes);
			fputc('\n', fp);
		}
	}
}

static void
print_teacher(FILE *fp, json_object *t)
{
	json_object *v;

	if (json_object_object_get_ex(t, "added", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		fputs("  + ", fp);
		print_label(fp, "teacher", v);
		fputc('\n', fp);
	}
	if (json_object_object_get_ex(t, "updated", &v) &&
	    !json_object_is_type(v, json_type_null) &&
	    json_object_object_length(v) > 0) {
		fputs("  ~ teacher", fp);
		print_changes(fp, v);
		fputc('\n', fp);
	}
	if (json_object_object_get_ex(t, "removed", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		fputs("  - ", fp);
		print_label(fp, "teacher", v);
		fputc('\n', fp);
	}
}

void
ctl_print_diff(FILE *fp, json_object *diff)
{
	json_object *v;

	if (json_object_object_get_ex(diff, "roster", &v) &&
	    json_object_is_type(v, json_type_object) &&
	    json_object_object_length(v) > 0) {
		fputs("  ~ roster", fp);
		print_changes(fp, v);
		fputc('\n', fp);
	}
	if (json_object_object_get_ex(diff, "teacher", &v))
		print_teacher(fp, v);
	if (json_object_object_get_ex(diff, "sections", &v))
		print_list(fp, "section", v);
	if (json_object_object_get_ex(diff, "students", &v))
		print_list(fp, "student", v);
	if (json_object_object_get_ex(diff, "enrollments", &v))
		print_list(fp, "enrollment", v);
}
