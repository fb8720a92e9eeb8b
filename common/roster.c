/*
 * The roster model: building a roster from Clever responses, minimizing it
 * to the field set, selecting sections, finishing (sort, merge, drop what is
 * not enrolled, validate) and the shrink guard.  See roster.h and
 * doc/roster-format.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "normalize.h"
#include "roster_int.h"
#include "xmalloc.h"

/* More co-teachers than this on one section is not real data. */
#define SECTION_TEACHERS_MAX	256

struct roster *
roster_new(enum roster_fieldset fields)
{
	struct roster	*r;

	r = xcalloc(1, sizeof(*r));
	r->fields = fields;
	return r;
}

static void
free_sections(struct roster *r)
{
	size_t	i;

	for (i = 0; i < r->nsections; i++)
		roster_section_clear(&r->sections[i]);
	free(r->sections);
	r->sections = NULL;
	r->nsections = r->sections_cap = 0;
}

static void
free_students(struct roster *r)
{
	size_t	i;

	for (i = 0; i < r->nstudents; i++)
		roster_user_clear(&r->students[i]);
	free(r->students);
	r->students = NULL;
	r->nstudents = r->students_cap = 0;
}

void
roster_free(struct roster *r)
{
	size_t	i;

	if (r == NULL)
		return;
	free(r->authorized_by);
	free(r->district);
	roster_user_clear(&r->teacher);
	free_sections(r);
	free_students(r);
	for (i = 0; i < r->unrec_subjects.n; i++)
		free(r->unrec_subjects.v[i]);
	for (i = 0; i < r->unrec_grades.n; i++)
		free(r->unrec_grades.v[i]);
	free(r);
}

static char *
strdup_or_null(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

void
roster_set_auth(struct roster *r, const char *authorized_by,
    const char *district)
{
	free(r->authorized_by);
	free(r->district);
	r->authorized_by = strdup_or_null(authorized_by);
	r->district = strdup_or_null(district);
}

const char *
roster_fieldset_name(enum roster_fieldset f)
{
	return f == ROSTER_FIELDS_DISTRICT ? "district" : "library";
}

/*
 * JSON access for Clever input.  Absent and null members are the same
 * (Clever marks most fields x-nullable); a member of the wrong type is an
 * error described in why.
 */
static int
get_obj(json_object *o, const char *key, json_object **out, char *why,
    size_t whylen)
{
	json_object	*v = NULL;

	if (o != NULL)
		json_object_object_get_ex(o, key, &v);
	if (v != NULL && !json_object_is_type(v, json_type_object)) {
		roster_seterr(why, whylen, "\"%s\": expected an object, got %s",
		    key, roster_json_type_name(v));
		return -1;
	}
	*out = v;
	return 0;
}

static int
get_str(json_object *o, const char *key, size_t max, const char **out,
    size_t *lenp, char *why, size_t whylen)
{
	json_object	*v = NULL;
	size_t		 len;

	*out = NULL;
	*lenp = 0;
	if (o != NULL)
		json_object_object_get_ex(o, key, &v);
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		roster_seterr(why, whylen, "\"%s\": expected a string, got %s",
		    key, roster_json_type_name(v));
		return -1;
	}
	*out = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len > max) {
		roster_seterr(why, whylen, "\"%s\": longer than %zu bytes",
		    key, max);
		return -1;
	}
	if (strlen(*out) != len) {
		roster_seterr(why, whylen, "\"%s\": contains a NUL character",
		    key);
		return -1;
	}
	*lenp = len;
	return 0;
}

/* A required, non-empty id. */
static int
get_id(json_object *o, const char *key, const char **out, char *why,
    size_t whylen)
{
	size_t	len;

	if (get_str(o, key, ROSTER_ID_MAX, out, &len, why, whylen) == -1)
		return -1;
	if (*out == NULL || len == 0) {
		roster_seterr(why, whylen, "missing \"%s\"", key);
		return -1;
	}
	return 0;
}

/* Trimmed copy of a string member; "" (or NULL if null_if_empty) if none. */
static int
get_trimmed(json_object *o, const char *key, int null_if_empty, char **out,
    char *why, size_t whylen)
{
	const char	*s;
	size_t		 len;

	if (get_str(o, key, ROSTER_STR_MAX, &s, &len, why, whylen) == -1)
		return -1;
	*out = roster_trimdup(s == NULL ? "" : s, len);
	if (null_if_empty && **out == '\0') {
		free(*out);
		*out = NULL;
	}
	return 0;
}

/* Length of the first UTF-8 character of s, 0 if none or malformed. */
static size_t
utf8_first_len(const char *s)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 n, i;

	if (u[0] == 0)
		return 0;
	if (u[0] < 0x80)
		n = 1;
	else if ((u[0] & 0xe0) == 0xc0)
		n = 2;
	else if ((u[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((u[0] & 0xf8) == 0xf0)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

/* Add a district extra, skipping absent values and empty strings. */
static void
extra_add(json_object **extra, const char *key, json_object *v)
{
	if (v == NULL || (json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v) == 0))
		return;
	if (*extra == NULL)
		*extra = json_object_new_object();
	json_object_object_add(*extra, key, roster_extra_canonical(v));
}

static void
extra_add_member(json_object **extra, const char *key, json_object *from,
    const char *member)
{
	json_object	*v = NULL;

	if (from != NULL)
		json_object_object_get_ex(from, member, &v);
	extra_add(extra, key, v);
}

static void
extra_add_string(json_object **extra, const char *key, const char *s)
{
	json_object	*v;

	if (s == NULL || *s == '\0')
		return;
	v = json_object_new_string(s);
	extra_add(extra, key, v);
	json_object_put(v);
}

/* "credentials":{"district_username":..} of a role, if any. */
static json_object *
role_credentials(json_object *role)
{
	json_object	*c = NULL;

	if (role != NULL)
		json_object_object_get_ex(role, "credentials", &c);
	return json_object_is_type(c, json_type_object) ? c : NULL;
}

/* District extras of a teacher, keys in sorted order. */
static json_object *
teacher_extra(json_object *role)
{
	json_object	*x = NULL;

	extra_add_member(&x, "district_username", role_credentials(role),
	    "district_username");
	extra_add_member(&x, "school", role, "school");
	extra_add_member(&x, "schools", role, "schools");
	extra_add_member(&x, "sis_id", role, "sis_id");
	extra_add_member(&x, "state_id", role, "state_id");
	extra_add_member(&x, "teacher_number", role, "teacher_number");
	extra_add_member(&x, "title", role, "title");
	return x;
}

/* District extras of a student, keys in sorted order. */
static json_object *
student_extra(json_object *role, const char *email, const char *last,
    const char *middle)
{
	json_object	*x = NULL;

	extra_add_member(&x, "district_username", role_credentials(role),
	    "district_username");
	extra_add_string(&x, "email", email);
	extra_add_member(&x, "graduation_year", role, "graduation_year");
	extra_add_string(&x, "last_name", last);
	extra_add_string(&x, "middle_name", middle);
	extra_add_member(&x, "school", role, "school");
	extra_add_member(&x, "schools", role, "schools");
	extra_add_member(&x, "sis_id", role, "sis_id");
	extra_add_member(&x, "state_id", role, "state_id");
	extra_add_member(&x, "student_number", role, "student_number");
	return x;
}

/* District extras of a section, keys in sorted order. */
static json_object *
section_extra(json_object *d)
{
	json_object	*x = NULL;

	extra_add_member(&x, "course", d, "course");
	extra_add_member(&x, "ext", d, "ext");
	extra_add_member(&x, "period", d, "period");
	extra_add_member(&x, "school", d, "school");
	extra_add_member(&x, "sis_id", d, "sis_id");
	extra_add_member(&x, "term_id", d, "term_id");
	return x;
}

/* The "roles" object and one role in it; *has_roles says roles exist. */
static int
get_role(json_object *d, const char *name, json_object **role, int *has_roles,
    char *why, size_t whylen)
{
	json_object	*roles;

	*role = NULL;
	if (get_obj(d, "roles", &roles, why, whylen) == -1)
		return -1;
	*has_roles = roles != NULL;
	return get_obj(roles, name, role, why, whylen);
}

/* Teacher: id, full trimmed name, email; grade "". */
static int
parse_teacher(json_object *d, enum roster_fieldset fields,
    struct roster_user *u, char *why, size_t whylen)
{
	json_object	*name, *role;
	const char	*id;
	int		 has_roles;

	if (get_id(d, "id", &id, why, whylen) == -1)
		return -1;
	u->id = xstrdup(id);
	if (get_obj(d, "name", &name, why, whylen) == -1 ||
	    get_trimmed(name, "first", 0, &u->first, why, whylen) == -1 ||
	    get_trimmed(name, "middle", 1, &u->middle, why, whylen) == -1 ||
	    get_trimmed(name, "last", 0, &u->last, why, whylen) == -1 ||
	    get_trimmed(d, "email", 1, &u->email, why, whylen) == -1 ||
	    get_role(d, "teacher", &role, &has_roles, why, whylen) == -1)
		return -1;
	u->grade = xstrdup("");
	if (fields == ROSTER_FIELDS_DISTRICT)
		u->extra = teacher_extra(role);
	roster_user_derive(u);
	return 0;
}

/* Keep a raw value normalization did not recognise, once. */
static void
note_unrecognised(struct roster_unrec *u, const char *raw)
{
	char	*v;
	size_t	 i, len = strlen(raw);

	v = normalize_utf8(raw, len < ROSTER_UNREC_LEN ? len :
	    ROSTER_UNREC_LEN, NULL);
	for (i = 0; i < u->n; i++)
		if (strcmp(u->v[i], v) == 0)
			break;
	if (i < u->n || u->n == ROSTER_UNREC_MAX)
		free(v);
	else
		u->v[u->n++] = v;
}

/*
 * Student: id, first name, last initial, normalized grade; with the
 * district field set the rest goes to extra.  *skip is set for users that
 * have roles but not a student role.
 */
static int
parse_student(json_object *d, struct roster *r, struct roster_user *u,
    int *skip, char *why, size_t whylen)
{
	json_object	*name, *role;
	const char	*id, *grade;
	char		*last = NULL, *middle = NULL, *email = NULL;
	size_t		 len;
	int		 has_roles, known, rc = -1;

	if (get_id(d, "id", &id, why, whylen) == -1 ||
	    get_role(d, "student", &role, &has_roles, why, whylen) == -1)
		return -1;
	if ((*skip = has_roles && role == NULL))
		return 0;
	u->id = xstrdup(id);
	if (get_obj(d, "name", &name, why, whylen) == -1 ||
	    get_trimmed(name, "first", 0, &u->first, why, whylen) == -1 ||
	    get_trimmed(name, "middle", 1, &middle, why, whylen) == -1 ||
	    get_trimmed(name, "last", 0, &last, why, whylen) == -1 ||
	    get_trimmed(d, "email", 1, &email, why, whylen) == -1 ||
	    get_str(role, "grade", ROSTER_STR_MAX, &grade, &len, why,
	    whylen) == -1)
		goto out;
	u->last = xstrndup(last, utf8_first_len(last));
	u->grade = xstrdup(normalize_grade(grade, &known));
	if (!known) {
		note_unrecognised(&r->unrec_grades, grade);
		r->inexact |= ROSTER_INEXACT_STUDENTS;
	}
	if (r->fields == ROSTER_FIELDS_DISTRICT)
		u->extra = student_extra(role, email, last, middle);
	rc = 0;
out:
	free(last);
	free(middle);
	free(email);
	return rc;
}

/* Teachers of a section in Clever order, primary ("teacher") first. */
static int
parse_section_teachers(json_object *d, struct roster_section *s, char *why,
    size_t whylen)
{
	json_object	*a = NULL, *v;
	const char	*primary, *t;
	size_t		 i, j, n, len;

	if (get_str(d, "teacher", ROSTER_ID_MAX, &primary, &len, why,
	    whylen) == -1)
		return -1;
	json_object_object_get_ex(d, "teachers", &a);
	if (a != NULL && !json_object_is_type(a, json_type_array)) {
		roster_seterr(why, whylen, "\"teachers\": expected an array, "
		    "got %s", roster_json_type_name(a));
		return -1;
	}
	n = a == NULL ? 0 : json_object_array_length(a);
	if (n > SECTION_TEACHERS_MAX) {
		roster_seterr(why, whylen, "\"teachers\": more than %d",
		    SECTION_TEACHERS_MAX);
		return -1;
	}
	s->teachers = xreallocarray(NULL, n + 1, sizeof(*s->teachers));
	if (primary != NULL && *primary != '\0')
		s->teachers[s->nteachers++] = xstrdup(primary);
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(a, i);
		t = json_object_get_string(v);
		if (!json_object_is_type(v, json_type_string) || *t == '\0' ||
		    (size_t)json_object_get_string_len(v) > ROSTER_ID_MAX ||
		    strlen(t) != (size_t)json_object_get_string_len(v)) {
			roster_seterr(why, whylen, "\"teachers\"[%zu]: not an "
			    "id", i);
			return -1;
		}
		for (j = 0; j < s->nteachers; j++) {
			if (strcmp(s->teachers[j], t) == 0)
				break;
		}
		if (j == s->nteachers)
			s->teachers[s->nteachers++] = xstrdup(t);
	}
	return 0;
}

/* Enrolled student ids, sorted and unique. */
static int
parse_section_students(json_object *d, struct roster_section *s, char *why,
    size_t whylen)
{
	json_object	*a = NULL, *v;
	const char	*id;
	size_t		 i, n, len;

	json_object_object_get_ex(d, "students", &a);
	if (a != NULL && !json_object_is_type(a, json_type_array)) {
		roster_seterr(why, whylen, "\"students\": expected an array, "
		    "got %s", roster_json_type_name(a));
		return -1;
	}
	n = a == NULL ? 0 : json_object_array_length(a);
	s->students = xreallocarray(NULL, n + 1, sizeof(*s->students));
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(a, i);
		id = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		if (!json_object_is_type(v, json_type_string) || len == 0 ||
		    len > ROSTER_ID_MAX || strlen(id) != len) {
			roster_seterr(why, whylen, "\"students\"[%zu]: not an "
			    "id", i);
			return -1;
		}
		s->students[s->nstudents++] = xstrndup(id, len);
	}
	s->nstudents = roster_idlist_sort_dedupe(s->students, s->nstudents);
	return 0;
}

/* A section's normalized subject or grade, noting values not recognised. */
static int
get_normalized(json_object *d, const char *key, struct roster *r,
    struct roster_unrec *unrec, const char *(*normalize)(const char *, int *),
    char **out, char *why, size_t whylen)
{
	const char	*raw, *v;
	size_t		 len;
	int		 known;

	if (get_str(d, key, ROSTER_STR_MAX, &raw, &len, why, whylen) == -1)
		return -1;
	v = normalize(raw, &known);
	if (!known) {
		note_unrecognised(unrec, raw);
		r->inexact |= ROSTER_INEXACT_SECTIONS;
	}
	*out = xstrdup(v);
	return 0;
}

static int
parse_section(json_object *d, struct roster *r, struct roster_section *s,
    char *why, size_t whylen)
{
	const char	*id;

	if (get_id(d, "id", &id, why, whylen) == -1)
		return -1;
	s->id = xstrdup(id);
	if (get_trimmed(d, "name", 0, &s->name, why, whylen) == -1 ||
	    get_trimmed(d, "section_number", 0, &s->section_number, why,
	    whylen) == -1 ||
	    get_normalized(d, "subject", r, &r->unrec_subjects,
	    normalize_subject, &s->subject, why, whylen) == -1 ||
	    get_normalized(d, "grade", r, &r->unrec_grades, normalize_grade,
	    &s->grade, why, whylen) == -1 ||
	    parse_section_teachers(d, s, why, whylen) == -1 ||
	    parse_section_students(d, s, why, whylen) == -1)
		return -1;
	if (r->fields == ROSTER_FIELDS_DISTRICT)
		s->extra = section_extra(d);
	return 0;
}

/* The record inside an envelope: {"data":{...}}. */
static int
envelope_data(json_object *env, json_object **data, char *why, size_t whylen)
{
	if (!json_object_is_type(env, json_type_object)) {
		roster_seterr(why, whylen, "expected an object, got %s",
		    roster_json_type_name(env));
		return -1;
	}
	if (get_obj(env, "data", data, why, whylen) == -1)
		return -1;
	if (*data == NULL) {
		roster_seterr(why, whylen, "missing \"data\" object");
		return -1;
	}
	return 0;
}

/* The items of a list page: {"data":[{"data":{..},"uri":..}],"links":..}. */
static int
page_items(json_object *page, json_object **items, char *why, size_t whylen)
{
	if (!json_object_is_type(page, json_type_object)) {
		roster_seterr(why, whylen, "expected an object, got %s",
		    roster_json_type_name(page));
		return -1;
	}
	if (!json_object_object_get_ex(page, "data", items) ||
	    !json_object_is_type(*items, json_type_array)) {
		roster_seterr(why, whylen, "\"data\": expected an array, "
		    "got %s", roster_json_type_name(*items));
		return -1;
	}
	return 0;
}

int
roster_set_teacher(struct roster *r, json_object *env, char *err,
    size_t errlen)
{
	struct roster_user	 u = { 0 };
	json_object		*d;
	char			 why[256];

	if (envelope_data(env, &d, why, sizeof(why)) == -1 ||
	    parse_teacher(d, r->fields, &u, why, sizeof(why)) == -1) {
		roster_seterr(err, errlen, "teacher%s%s: %s",
		    u.id != NULL ? " " : "", u.id != NULL ? u.id : "", why);
		roster_user_clear(&u);
		return -1;
	}
	roster_user_clear(&r->teacher);
	r->teacher = u;
	return 0;
}

static void
grow(void **arr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return;
	*cap = *cap < 8 ? 8 : *cap;
	while (*cap < need)
		*cap *= 2;
	*arr = xreallocarray(*arr, *cap, size);
}

int
roster_add_sections(struct roster *r, json_object *page, char *err,
    size_t errlen)
{
	struct roster_section	 s;
	json_object		*items, *d;
	char			 why[256];
	size_t			 i, n;

	if (page_items(page, &items, why, sizeof(why)) == -1) {
		roster_seterr(err, errlen, "sections page: %s", why);
		return -1;
	}
	n = json_object_array_length(items);
	grow((void **)&r->sections, &r->sections_cap, r->nsections + n,
	    sizeof(*r->sections));
	for (i = 0; i < n; i++) {
		memset(&s, 0, sizeof(s));
		if (envelope_data(json_object_array_get_idx(items, i), &d, why,
		    sizeof(why)) == -1 ||
		    parse_section(d, r, &s, why, sizeof(why)) == -1) {
			roster_seterr(err, errlen, "sections page: data[%zu]%s%s:"
			    " %s", i, s.id != NULL ? ": section " : "",
			    s.id != NULL ? s.id : "", why);
			roster_section_clear(&s);
			return -1;
		}
		r->sections[r->nsections++] = s;
	}
	return 0;
}

int
roster_add_students(struct roster *r, json_object *page, char *err,
    size_t errlen)
{
	struct roster_user	 u;
	json_object		*items, *d;
	char			 why[256];
	size_t			 i, n;
	int			 skip = 0;

	if (page_items(page, &items, why, sizeof(why)) == -1) {
		roster_seterr(err, errlen, "students page: %s", why);
		return -1;
	}
	n = json_object_array_length(items);
	grow((void **)&r->students, &r->students_cap, r->nstudents + n,
	    sizeof(*r->students));
	for (i = 0; i < n; i++) {
		memset(&u, 0, sizeof(u));
		if (envelope_data(json_object_array_get_idx(items, i), &d, why,
		    sizeof(why)) == -1 ||
		    parse_student(d, r, &u, &skip, why, sizeof(why)) == -1) {
			roster_seterr(err, errlen, "students page: data[%zu]%s%s:"
			    " %s", i, u.id != NULL ? ": user " : "",
			    u.id != NULL ? u.id : "", why);
			roster_user_clear(&u);
			return -1;
		}
		if (!skip)
			r->students[r->nstudents++] = u;
	}
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_object *
unrec_array(struct roster_unrec *u)
{
	json_object	*a = json_object_new_array();
	size_t		 i;

	qsort(u->v, u->n, sizeof(*u->v), cmp_str);
	for (i = 0; i < u->n; i++)
		json_object_array_add(a, json_object_new_string(u->v[i]));
	return a;
}

char *
roster_unrecognised_json(struct roster *r, size_t *count)
{
	json_object	*o;
	char		*s;

	*count = r->unrec_subjects.n + r->unrec_grades.n;
	if (*count == 0)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "grade", unrec_array(&r->unrec_grades));
	json_object_object_add(o, "subject", unrec_array(&r->unrec_subjects));
	s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

void
roster_select_sections(struct roster *r, const char *const *ids, size_t n)
{
	const char	**sorted;
	size_t		  i, kept = 0;

	if (ids == NULL)
		return;		/* all */
	sorted = xreallocarray(NULL, n + 1, sizeof(*sorted));
	memcpy(sorted, ids, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), roster_strcmp_ptr);
	for (i = 0; i < r->nsections; i++) {
		if (!roster_idlist_contains((char *const *)sorted, n,
		    r->sections[i].id)) {
			roster_section_clear(&r->sections[i]);
			continue;
		}
		r->sections[kept++] = r->sections[i];
	}
	if (kept != r->nsections)
		r->inexact |= ROSTER_INEXACT_SECTIONS;
	r->nsections = kept;
	free(sorted);
}

/* An array of records, its count and capacity, from src (left empty). */
static void
move_records(void **dst, size_t *dn, size_t *dcap, void **src, size_t *sn,
    size_t *scap)
{
	*dst = *src;
	*dn = *sn;
	*dcap = *scap;
	*src = NULL;
	*sn = *scap = 0;
}

void
roster_take(struct roster *dst, struct roster *src, unsigned parts)
{
	if (parts & ROSTER_PART_TEACHER) {
		roster_user_clear(&dst->teacher);
		dst->teacher = src->teacher;
		memset(&src->teacher, 0, sizeof(src->teacher));
	}
	if (parts & ROSTER_PART_SECTIONS) {
		free_sections(dst);
		move_records((void **)&dst->sections, &dst->nsections,
		    &dst->sections_cap, (void **)&src->sections,
		    &src->nsections, &src->sections_cap);
	}
	if (parts & ROSTER_PART_STUDENTS) {
		free_students(dst);
		move_records((void **)&dst->students, &dst->nstudents,
		    &dst->students_cap, (void **)&src->students,
		    &src->nstudents, &src->students_cap);
	}
}

/*
 * Keep only enrollments that have a student record, marking those students
 * enrolled; one warning per section for what was dropped.
 */
static void
prune_enrollments(struct roster *r, struct roster_section *s, char *enrolled)
{
	const struct roster_user	*u;
	size_t				 i, kept = 0;

	for (i = 0; i < s->nstudents; i++) {
		u = roster_find_student(r, s->students[i]);
		if (u == NULL) {
			free(s->students[i]);
			continue;
		}
		enrolled[u - r->students] = 1;
		s->students[kept++] = s->students[i];
	}
	if (kept != s->nstudents) {
		r->inexact |= ROSTER_INEXACT_SECTIONS;
		log_warnx("section %s: dropped %zu enrollment(s) without a "
		    "student record", s->id, s->nstudents - kept);
	}
	s->nstudents = kept;
}

/* Drop the students that no kept section enrolls. */
static void
prune_students(struct roster *r)
{
	char	*enrolled;
	size_t	 i, kept = 0;

	enrolled = xcalloc(r->nstudents + 1, 1);
	for (i = 0; i < r->nsections; i++)
		prune_enrollments(r, &r->sections[i], enrolled);
	for (i = 0; i < r->nstudents; i++) {
		if (!enrolled[i]) {
			roster_user_clear(&r->students[i]);
			continue;
		}
		r->students[kept++] = r->students[i];
	}
	if (kept != r->nstudents)
		r->inexact |= ROSTER_INEXACT_STUDENTS;
	r->nstudents = kept;
	free(enrolled);
}

static void
drop_enrollments(struct roster *r)
{
	size_t	i;

	for (i = 0; i < r->nsections; i++) {
		roster_idlist_free(r->sections[i].students,
		    r->sections[i].nstudents);
		r->sections[i].students = NULL;
		r->sections[i].nstudents = 0;
	}
	free_students(r);
	r->inexact |= ROSTER_INEXACT_SECTIONS | ROSTER_INEXACT_STUDENTS;
}

int
roster_finish(struct roster *r, int flags, char *err, size_t errlen)
{
	char	why[256];
	size_t	n;

	if (r->teacher.id == NULL) {
		roster_seterr(err, errlen, "roster has no teacher");
		return -1;
	}
	roster_records_sort(r->sections, r->nsections, sizeof(*r->sections));
	n = roster_records_dedupe(&roster_section_kind, r->sections,
	    r->nsections);
	if (n != r->nsections)	/* the picker's list may show another */
		r->inexact |= ROSTER_INEXACT_SECTIONS;
	r->nsections = n;
	if (flags & ROSTER_FINISH_SECTIONS_ONLY)
		drop_enrollments(r);
	else {
		roster_records_sort(r->students, r->nstudents,
		    sizeof(*r->students));
		r->nstudents = roster_records_dedupe(&roster_user_kind,
		    r->students, r->nstudents);
		prune_students(r);
	}
	if (roster_validate(r, why, sizeof(why)) == -1) {
		roster_seterr(err, errlen, "invalid roster: %s", why);
		return -1;
	}
	return 0;
}

/* Students of old section o that new section n no longer has. */
static size_t
count_lost(const struct roster_section *o, const struct roster_section *n)
{
	size_t	i = 0, j = 0, lost = 0;
	int	c;

	while (i < o->nstudents) {
		c = j < n->nstudents ? strcmp(o->students[i], n->students[j]) :
		    -1;
		if (c < 0) {
			lost++;
			i++;
		} else if (c > 0)
			j++;
		else {
			i++;
			j++;
		}
	}
	return lost;
}

static int
section_shrinks(const struct roster_section *o, const struct roster_section *n,
    const struct roster_shrink_conf *conf, char *why, size_t whylen)
{
	size_t	lost;

	if (o->nstudents == 0 || o->nstudents < conf->section_min_students)
		return 0;
	lost = count_lost(o, n);
	if (lost * 100 <= (size_t)conf->section_max_loss_pct * o->nstudents)
		return 0;
	roster_seterr(why, whylen, "section %s (%s) would lose %zu of its %zu "
	    "students (%zu%% > %u%%)", o->id, o->name, lost, o->nstudents,
	    lost * 100 / o->nstudents, conf->section_max_loss_pct);
	return 1;
}

int
roster_shrink_check(const struct roster *old, const struct roster *new_,
    const struct roster_shrink_conf *conf, char *why, size_t whylen)
{
	const struct roster_section	*n;
	size_t				 i;

	if (old == NULL || conf == NULL || !conf->enabled)
		return 0;
	if (conf->teacher_all_sections && old->nsections > 0 &&
	    new_->nsections == 0) {
		roster_seterr(why, whylen, "teacher %s would lose all %zu "
		    "section(s)", old->teacher.id != NULL ? old->teacher.id :
		    "?", old->nsections);
		return 1;
	}
	/* Only sections kept on both sides: dropping a class is normal. */
	for (i = 0; i < old->nsections; i++) {
		n = roster_find_section(new_, old->sections[i].id);
		if (n != NULL && section_shrinks(&old->sections[i], n, conf,
		    why, whylen))
			return 1;
	}
	return 0;
}
