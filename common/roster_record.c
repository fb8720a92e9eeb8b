/*
 * Records (users and sections) driven by their field tables: conversion to
 * and from JSON, comparison, field-level changes, sorting and lookup, and
 * the invariants every finished roster satisfies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"
#include "roster_int.h"
#include "xmalloc.h"

static int	check_id(const char *);

#define USER_FIELD(n, t, m, c)	\
	{ n, t, offsetof(struct roster_user, m), 0, ROSTER_STR_MAX, c }
#define SECTION_FIELD(n, t, m, c)	\
	{ n, t, offsetof(struct roster_section, m), 0, ROSTER_STR_MAX, c }

/* Key order here is the canonical key order of snapshots and diffs. */
static const struct field_desc user_fields[] = {
	{ "id", FT_STR, offsetof(struct roster_user, id), 0, ROSTER_ID_MAX,
	    check_id },
	USER_FIELD("first", FT_STR, first, NULL),
	USER_FIELD("middle", FT_OPTSTR, middle, NULL),
	USER_FIELD("last", FT_STR, last, NULL),
	USER_FIELD("email", FT_OPTSTR, email, NULL),
	USER_FIELD("grade", FT_STR, grade, normalize_grade_is_canonical),
	USER_FIELD("extra", FT_EXTRA, extra, NULL),
};

/*
 * A student in a format 2 snapshot is an array of these, in this order
 * (extra only when present): a student never has middle or email.
 */
const struct field_desc *const roster_student_columns[] = {
	&user_fields[0], &user_fields[1], &user_fields[3], &user_fields[5],
	&user_fields[6],
};
const size_t roster_nstudent_columns = sizeof(roster_student_columns) /
    sizeof(roster_student_columns[0]);

static const struct field_desc section_fields[] = {
	{ "id", FT_STR, offsetof(struct roster_section, id), 0, ROSTER_ID_MAX,
	    check_id },
	SECTION_FIELD("name", FT_STR, name, NULL),
	SECTION_FIELD("section_number", FT_STR, section_number, NULL),
	SECTION_FIELD("subject", FT_STR, subject,
	    normalize_subject_is_canonical),
	SECTION_FIELD("grade", FT_STR, grade, normalize_grade_is_canonical),
	{ "teachers", FT_IDLIST, offsetof(struct roster_section, teachers),
	    offsetof(struct roster_section, nteachers), ROSTER_ID_MAX,
	    check_id },
	SECTION_FIELD("extra", FT_EXTRA, extra, NULL),
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static void
user_derive(void *rec)
{
	roster_user_derive(rec);
}

const struct record_kind roster_user_kind = {
	"student", user_fields, NITEMS(user_fields),
	sizeof(struct roster_user), roster_user_clear, user_derive
};

const struct record_kind roster_section_kind = {
	"section", section_fields, NITEMS(section_fields),
	sizeof(struct roster_section), roster_section_clear, NULL
};

void
roster_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
check_id(const char *s)
{
	return s[0] != '\0';
}

int
roster_strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

/*
 * Copy s[0..len) without leading and trailing whitespace, as valid UTF-8
 * (what snapshots and diffs promise: ill-formed bytes become U+FFFD).
 */
char *
roster_trimdup(const char *s, size_t len)
{
	while (len > 0 && is_space(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_space(s[len - 1]))
		len--;
	return normalize_utf8(s, len, NULL);
}

void
roster_user_derive(struct roster_user *u)
{
	char	*p;

	free(u->email_lc);
	u->email_lc = NULL;
	if (u->email == NULL)
		return;
	u->email_lc = xstrdup(u->email);
	/* ASCII only: Clever emails are ASCII and locales must not matter. */
	for (p = u->email_lc; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = *p - 'A' + 'a';
	}
}

void
roster_idlist_free(char **list, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void
roster_field_clear(void *rec, const struct field_desc *fd)
{
	void	*slot = (char *)rec + fd->off;
	size_t	*count;

	switch (fd->type) {
	case FT_STR:
	case FT_OPTSTR:
		free(*(char **)slot);
		*(char **)slot = NULL;
		break;
	case FT_IDLIST:
		count = (size_t *)(void *)((char *)rec + fd->count_off);
		roster_idlist_free(*(char ***)slot, *count);
		*(char ***)slot = NULL;
		*count = 0;
		break;
	case FT_EXTRA:
		json_object_put(*(json_object **)slot);
		*(json_object **)slot = NULL;
		break;
	}
}

static void
record_clear_fields(const struct record_kind *kind, void *rec)
{
	size_t	i;

	for (i = 0; i < kind->nfields; i++)
		roster_field_clear(rec, &kind->fields[i]);
}

void
roster_user_clear(void *rec)
{
	struct roster_user	*u = rec;

	record_clear_fields(&roster_user_kind, u);
	free(u->email_lc);
	memset(u, 0, sizeof(*u));
}

void
roster_section_clear(void *rec)
{
	struct roster_section	*s = rec;

	record_clear_fields(&roster_section_kind, s);
	roster_idlist_free(s->students, s->nstudents);
	memset(s, 0, sizeof(*s));
}

const char *
roster_json_type_name(json_object *v)
{
	return v == NULL ? "null" : json_type_to_name(json_object_get_type(v));
}

/* Sorted deep copy of an object's members; NULL when there are none. */
static json_object *
canonical_object(json_object *v)
{
	struct json_object_iterator	 it, end;
	const char			**keys;
	json_object			*out;
	size_t				 n = 0, i;

	keys = xreallocarray(NULL, json_object_object_length(v) + 1,
	    sizeof(*keys));
	it = json_object_iter_begin(v);
	end = json_object_iter_end(v);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		keys[n++] = json_object_iter_peek_name(&it);
	qsort(keys, n, sizeof(*keys), roster_strcmp_ptr);
	out = json_object_new_object();
	for (i = 0; i < n; i++) {
		json_object_object_add(out, keys[i], roster_extra_canonical(
		    json_object_object_get(v, keys[i])));
	}
	free(keys);
	return out;
}

/* A string shared when it is valid UTF-8, else a repaired copy. */
static json_object *
canonical_string(json_object *v)
{
	json_object	*out;
	char		*fixed;
	int		 changed;

	fixed = normalize_utf8(json_object_get_string(v),
	    (size_t)json_object_get_string_len(v), &changed);
	out = changed ? json_object_new_string(fixed) : json_object_get(v);
	free(fixed);
	return out;
}

/*
 * Canonical deep copy of an "extra" value: object keys sorted, recursively,
 * so equal extras always serialize to equal bytes.
 */
json_object *
roster_extra_canonical(json_object *v)
{
	json_object	*out;
	size_t		 i, n;

	switch (json_object_get_type(v)) {
	case json_type_null:
		return NULL;
	case json_type_object:
		return canonical_object(v);
	case json_type_array:
		n = json_object_array_length(v);
		out = json_object_new_array_ext((int)n);
		for (i = 0; i < n; i++) {
			json_object_array_add(out, roster_extra_canonical(
			    json_object_array_get_idx(v, i)));
		}
		return out;
	case json_type_string:
		return canonical_string(v);
	default:
		/* Scalars are immutable: share them. */
		return json_object_get(v);
	}
}

json_object *
roster_field_to_json(const void *rec, const struct field_desc *fd)
{
	const void	*slot = (const char *)rec + fd->off;
	char *const	*list;
	json_object	*a;
	size_t		 i, n;

	switch (fd->type) {
	case FT_STR:
	case FT_OPTSTR:
		if (*(char *const *)slot == NULL)
			return NULL;
		return json_object_new_string(*(char *const *)slot);
	case FT_IDLIST:
		list = *(char **const *)slot;
		n = *(const size_t *)(const void *)((const char *)rec +
		    fd->count_off);
		a = json_object_new_array_ext((int)n);
		for (i = 0; i < n; i++)
			json_object_array_add(a, json_object_new_string(list[i]));
		return a;
	case FT_EXTRA:
		return json_object_get(*(json_object *const *)slot);
	}
	return NULL;
}

/* Validate a JSON string for field fd and copy it. */
static int
string_from_json(const struct field_desc *fd, json_object *v, char **out,
    char *err, size_t errlen)
{
	const char	*s;
	size_t		 len;

	if (!json_object_is_type(v, json_type_string)) {
		roster_seterr(err, errlen, "%s: expected a string, got %s",
		    fd->name, roster_json_type_name(v));
		return -1;
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len > fd->max) {
		roster_seterr(err, errlen, "%s: longer than %zu bytes",
		    fd->name, fd->max);
		return -1;
	}
	if (strlen(s) != len) {
		roster_seterr(err, errlen, "%s: contains a NUL character",
		    fd->name);
		return -1;
	}
	if (fd->check != NULL && !fd->check(s)) {
		roster_seterr(err, errlen, "%s: invalid value \"%.64s\"",
		    fd->name, s);
		return -1;
	}
	*out = xstrndup(s, len);
	return 0;
}

static int
idlist_from_json(const struct field_desc *fd, json_object *v, char ***out,
    size_t *nout, char *err, size_t errlen)
{
	char	**list;
	size_t	  i, n;

	if (!json_object_is_type(v, json_type_array)) {
		roster_seterr(err, errlen, "%s: expected an array, got %s",
		    fd->name, roster_json_type_name(v));
		return -1;
	}
	n = json_object_array_length(v);
	list = xreallocarray(NULL, n == 0 ? 1 : n, sizeof(*list));
	for (i = 0; i < n; i++) {
		if (string_from_json(fd, json_object_array_get_idx(v, i),
		    &list[i], err, errlen) == -1) {
			roster_idlist_free(list, i);
			return -1;
		}
	}
	*out = list;
	*nout = n;
	return 0;
}

static int
extra_from_json(const struct field_desc *fd, json_object *v, int allow_extra,
    json_object **out, char *err, size_t errlen)
{
	if (v == NULL) {
		*out = NULL;
		return 0;
	}
	if (!allow_extra) {
		roster_seterr(err, errlen, "%s: not allowed with the library "
		    "field set", fd->name);
		return -1;
	}
	if (!json_object_is_type(v, json_type_object)) {
		roster_seterr(err, errlen, "%s: expected an object, got %s",
		    fd->name, roster_json_type_name(v));
		return -1;
	}
	*out = NULL;
	if (json_object_object_length(v) > 0)
		*out = roster_extra_canonical(v);
	return 0;
}

/*
 * Set field fd of rec from JSON value v (NULL = JSON null or absent),
 * replacing the old value only on success.
 */
int
roster_field_from_json(void *rec, const struct field_desc *fd, json_object *v,
    int allow_extra, char *err, size_t errlen)
{
	void		*slot = (char *)rec + fd->off;
	char		*s = NULL, **list;
	json_object	*extra;
	size_t		 n;

	switch (fd->type) {
	case FT_STR:
	case FT_OPTSTR:
		if (v != NULL || fd->type == FT_STR) {
			if (string_from_json(fd, v, &s, err, errlen) == -1)
				return -1;
		}
		roster_field_clear(rec, fd);
		*(char **)slot = s;
		return 0;
	case FT_IDLIST:
		if (idlist_from_json(fd, v, &list, &n, err, errlen) == -1)
			return -1;
		roster_field_clear(rec, fd);
		*(char ***)slot = list;
		*(size_t *)(void *)((char *)rec + fd->count_off) = n;
		return 0;
	case FT_EXTRA:
		if (extra_from_json(fd, v, allow_extra, &extra, err,
		    errlen) == -1)
			return -1;
		roster_field_clear(rec, fd);
		*(json_object **)slot = extra;
		return 0;
	}
	return -1;
}

static int
str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
extra_equal(json_object *a, json_object *b)
{
	const int	fl = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;

	if (a == NULL || b == NULL)
		return a == b;
	/* Extras are canonical, so equal values serialize identically. */
	return strcmp(json_object_to_json_string_ext(a, fl),
	    json_object_to_json_string_ext(b, fl)) == 0;
}

int
roster_field_equal(const void *a, const void *b, const struct field_desc *fd)
{
	const void	*sa = (const char *)a + fd->off;
	const void	*sb = (const char *)b + fd->off;
	char *const	*la, *const *lb;
	size_t		 na, nb, i;

	switch (fd->type) {
	case FT_STR:
	case FT_OPTSTR:
		return str_equal(*(char *const *)sa, *(char *const *)sb);
	case FT_IDLIST:
		na = *(const size_t *)(const void *)((const char *)a +
		    fd->count_off);
		nb = *(const size_t *)(const void *)((const char *)b +
		    fd->count_off);
		if (na != nb)
			return 0;
		la = *(char **const *)sa;
		lb = *(char **const *)sb;
		for (i = 0; i < na; i++) {
			if (strcmp(la[i], lb[i]) != 0)
				return 0;
		}
		return 1;
	case FT_EXTRA:
		return extra_equal(*(json_object *const *)sa,
		    *(json_object *const *)sb);
	}
	return 0;
}

json_object *
roster_record_to_json(const struct record_kind *kind, const void *rec)
{
	json_object	*o, *v;
	size_t		 i;

	o = json_object_new_object();
	for (i = 0; i < kind->nfields; i++) {
		v = roster_field_to_json(rec, &kind->fields[i]);
		if (v == NULL && kind->fields[i].type != FT_STR)
			continue;	/* absent optional field */
		json_object_object_add(o, kind->fields[i].name, v);
	}
	return o;
}

/*
 * Fill a zeroed record from its JSON form.  On error the record may be
 * partly filled: the caller clears it with kind->clear.
 */
int
roster_record_from_json(const struct record_kind *kind, void *rec,
    json_object *o, int allow_extra, char *err, size_t errlen)
{
	const struct field_desc	*fd;
	json_object		*v;
	char			 why[256];
	size_t			 i;

	if (!json_object_is_type(o, json_type_object)) {
		roster_seterr(err, errlen, "%s: expected an object, got %s",
		    kind->name, roster_json_type_name(o));
		return -1;
	}
	for (i = 0; i < kind->nfields; i++) {
		fd = &kind->fields[i];
		if (!json_object_object_get_ex(o, fd->name, &v))
			v = NULL;
		if (v == NULL && fd->type != FT_OPTSTR &&
		    fd->type != FT_EXTRA) {
			roster_seterr(err, errlen, "%s %s: missing \"%s\"",
			    kind->name, i == 0 ? "record" : REC_ID(rec),
			    fd->name);
			return -1;
		}
		if (roster_field_from_json(rec, fd, v, allow_extra, why,
		    sizeof(why)) == -1) {
			roster_seterr(err, errlen, "%s %s: %s", kind->name,
			    i == 0 ? "record" : REC_ID(rec), why);
			return -1;
		}
	}
	if (kind->derive != NULL)
		kind->derive(rec);
	return 0;
}

int
roster_record_equal(const struct record_kind *kind, const void *a,
    const void *b)
{
	size_t	i;

	for (i = 0; i < kind->nfields; i++) {
		if (!roster_field_equal(a, b, &kind->fields[i]))
			return 0;
	}
	return 1;
}

/* {"field":{"old":..,"new":..},...} for the fields that differ, or NULL. */
json_object *
roster_record_changes(const struct record_kind *kind, const void *a,
    const void *b)
{
	const struct field_desc	*fd;
	json_object		*changes = NULL, *c;
	size_t			 i;

	for (i = 1; i < kind->nfields; i++) {
		fd = &kind->fields[i];
		if (roster_field_equal(a, b, fd))
			continue;
		if (changes == NULL)
			changes = json_object_new_object();
		c = json_object_new_object();
		json_object_object_add(c, "old", roster_field_to_json(a, fd));
		json_object_object_add(c, "new", roster_field_to_json(b, fd));
		json_object_object_add(changes, fd->name, c);
	}
	return changes;
}

static int
id_cmp_at(const char *base, size_t size, size_t i, size_t j)
{
	return strcmp(REC_ID(base + i * size), REC_ID(base + j * size));
}

/* Stable merge sort by id (the first duplicate must win the dedupe). */
static void
merge_sort(char *a, char *tmp, size_t n, size_t size)
{
	size_t	h = n / 2, i = 0, j = h, k = 0;

	if (n < 2)
		return;
	merge_sort(a, tmp, h, size);
	merge_sort(a + h * size, tmp, n - h, size);
	if (id_cmp_at(a, size, h - 1, h) <= 0)
		return;		/* already in order: the common case */
	while (i < h && j < n) {
		if (id_cmp_at(a, size, j, i) < 0)
			memcpy(tmp + k++ * size, a + j++ * size, size);
		else
			memcpy(tmp + k++ * size, a + i++ * size, size);
	}
	memcpy(tmp + k * size, a + i * size, (h - i) * size);
	k += h - i;
	memcpy(tmp + k * size, a + j * size, (n - j) * size);
	memcpy(a, tmp, n * size);
}

void
roster_records_sort(void *base, size_t n, size_t size)
{
	char	*tmp;

	if (n < 2)
		return;
	tmp = xreallocarray(NULL, n, size);
	merge_sort(base, tmp, n, size);
	free(tmp);
}

/* Drop (and free) records whose id repeats the previous one's. */
size_t
roster_records_dedupe(const struct record_kind *kind, void *base, size_t n)
{
	char	*a = base;
	size_t	 i, kept = 0;

	for (i = 0; i < n; i++) {
		if (kept > 0 && strcmp(REC_ID(a + (kept - 1) * kind->size),
		    REC_ID(a + i * kind->size)) == 0) {
			kind->clear(a + i * kind->size);
			continue;
		}
		if (kept != i)
			memcpy(a + kept * kind->size, a + i * kind->size,
			    kind->size);
		kept++;
	}
	return kept;
}

void *
roster_records_find(const void *base, size_t n, size_t size, const char *id)
{
	const char	*a = base;
	size_t		 lo = 0, hi = n, mid;
	int		 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(id, REC_ID(a + mid * size));
		if (c == 0)
			return (void *)(uintptr_t)(a + mid * size);
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int
idlist_is_sorted_unique(char *const *list, size_t n)
{
	size_t	i;

	for (i = 1; i < n; i++) {
		if (strcmp(list[i - 1], list[i]) >= 0)
			return 0;
	}
	return 1;
}

/* Sort a list of ids and free repeats; returns the new count. */
size_t
roster_idlist_sort_dedupe(char **list, size_t n)
{
	size_t	i, kept = 0;

	if (idlist_is_sorted_unique(list, n))
		return n;
	qsort(list, n, sizeof(*list), roster_strcmp_ptr);
	for (i = 0; i < n; i++) {
		if (kept > 0 && strcmp(list[kept - 1], list[i]) == 0) {
			free(list[i]);
			continue;
		}
		list[kept++] = list[i];
	}
	return kept;
}

int
roster_idlist_contains(char *const *list, size_t n, const char *id)
{
	return roster_records_find(list, n, sizeof(*list), id) != NULL;
}

static int
validate_order(const struct record_kind *kind, const void *base, size_t n,
    char *err, size_t errlen)
{
	size_t	i;

	for (i = 1; i < n; i++) {
		if (id_cmp_at(base, kind->size, i - 1, i) >= 0) {
			roster_seterr(err, errlen, "%ss not sorted by id or "
			    "repeated at \"%.64s\"", kind->name,
			    REC_ID((const char *)base + i * kind->size));
			return -1;
		}
	}
	return 0;
}

/* Every enrollment names a student record; mark the students enrolled. */
static int
validate_enrollments(const struct roster *r, const struct roster_section *s,
    char *enrolled, char *err, size_t errlen)
{
	const struct roster_user	*u;
	size_t				 i;

	if (!idlist_is_sorted_unique(s->students, s->nstudents)) {
		roster_seterr(err, errlen, "section %s: students not sorted "
		    "by id or repeated", s->id);
		return -1;
	}
	for (i = 0; i < s->nstudents; i++) {
		u = roster_find_student(r, s->students[i]);
		if (u == NULL) {
			roster_seterr(err, errlen, "section %s: enrolled "
			    "student %s has no record", s->id, s->students[i]);
			return -1;
		}
		enrolled[u - r->students] = 1;
	}
	return 0;
}

/* Students carry no middle name or email (district extras aside). */
static int
validate_students_minimal(const struct roster *r, char *err, size_t errlen)
{
	size_t	i;

	for (i = 0; i < r->nstudents; i++) {
		if (r->students[i].middle != NULL ||
		    r->students[i].email != NULL) {
			roster_seterr(err, errlen, "student %s: middle and "
			    "email are not kept for students",
			    r->students[i].id);
			return -1;
		}
	}
	return 0;
}

/* The library field set keeps no extras anywhere. */
static int
validate_no_extra(const struct roster *r, char *err, size_t errlen)
{
	const char	*id = NULL;
	size_t		 i;

	if (r->teacher.extra != NULL)
		id = r->teacher.id;
	for (i = 0; id == NULL && i < r->nsections; i++) {
		if (r->sections[i].extra != NULL)
			id = r->sections[i].id;
	}
	for (i = 0; id == NULL && i < r->nstudents; i++) {
		if (r->students[i].extra != NULL)
			id = r->students[i].id;
	}
	if (id == NULL)
		return 0;
	roster_seterr(err, errlen, "%s: extra not allowed with the library "
	    "field set", id);
	return -1;
}

/*
 * The invariants of a finished roster: sections and students sorted by
 * unique id, every enrollment names a student record, every student is
 * enrolled somewhere, students without middle or email, no extras with
 * the library field set.
 */
int
roster_validate(const struct roster *r, char *err, size_t errlen)
{
	char	*enrolled;
	size_t	 i;
	int	 rc = -1;

	if (r->fields == ROSTER_FIELDS_LIBRARY &&
	    validate_no_extra(r, err, errlen) == -1)
		return -1;
	if (validate_students_minimal(r, err, errlen) == -1 ||
	    validate_order(&roster_section_kind, r->sections, r->nsections,
	    err, errlen) == -1 ||
	    validate_order(&roster_user_kind, r->students, r->nstudents,
	    err, errlen) == -1)
		return -1;
	enrolled = xcalloc(r->nstudents + 1, 1);
	for (i = 0; i < r->nsections; i++) {
		if (validate_enrollments(r, &r->sections[i], enrolled, err,
		    errlen) == -1)
			goto out;
	}
	for (i = 0; i < r->nstudents; i++) {
		if (!enrolled[i]) {
			roster_seterr(err, errlen, "student %s is not enrolled "
			    "in any section", r->students[i].id);
			goto out;
		}
	}
	rc = 0;
out:
	free(enrolled);
	return rc;
}

const struct roster_section *
roster_find_section(const struct roster *r, const char *id)
{
	return roster_records_find(r->sections, r->nsections,
	    sizeof(*r->sections), id);
}

const struct roster_user *
roster_find_student(const struct roster *r, const char *id)
{
	return roster_records_find(r->students, r->nstudents,
	    sizeof(*r->students), id);
}

void
sbuf_put(struct sbuf *sb, const char *s, size_t len)
{
	if (sb->cap - sb->len < len + 1) {
		while (sb->cap - sb->len < len + 1)
			sb->cap = sb->cap < 256 ? 256 : sb->cap * 2;
		sb->s = xrealloc(sb->s, sb->cap);
	}
	memcpy(sb->s + sb->len, s, len);
	sb->len += len;
	sb->s[sb->len] = '\0';
}

void
sbuf_num(struct sbuf *sb, unsigned long long n)
{
	char	num[24];

	snprintf(num, sizeof(num), "%llu", n);
	sbuf_put(sb, num, strlen(num));
}

/* A JSON string escaped as json-c does (plain, '/' not escaped). */
void
sbuf_json_str(struct sbuf *sb, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	const char		*run = s;
	char			 esc[7];
	unsigned char		 c;

	SBUF_LIT(sb, "\"");
	for (; (c = (unsigned char)*s) != '\0'; s++) {
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sbuf_put(sb, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"':	SBUF_LIT(sb, "\\\""); break;
		case '\\':	SBUF_LIT(sb, "\\\\"); break;
		case '\b':	SBUF_LIT(sb, "\\b"); break;
		case '\f':	SBUF_LIT(sb, "\\f"); break;
		case '\n':	SBUF_LIT(sb, "\\n"); break;
		case '\r':	SBUF_LIT(sb, "\\r"); break;
		case '\t':	SBUF_LIT(sb, "\\t"); break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			sbuf_put(sb, esc, 6);
			break;
		}
	}
	sbuf_put(sb, run, (size_t)(s - run));
	SBUF_LIT(sb, "\"");
}

void
sbuf_json_idlist(struct sbuf *sb, char *const *list, size_t n)
{
	size_t	i;

	SBUF_LIT(sb, "[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			SBUF_LIT(sb, ",");
		sbuf_json_str(sb, list[i]);
	}
	SBUF_LIT(sb, "]");
}

/* A string, or null for NULL. */
void
sbuf_json_optstr(struct sbuf *sb, const char *s)
{
	if (s == NULL)
		SBUF_LIT(sb, "null");
	else
		sbuf_json_str(sb, s);
}

/* The value of one field, as roster_field_to_json() gives it, in text. */
void
roster_field_write_value(struct sbuf *sb, const void *rec,
    const struct field_desc *fd)
{
	const void	*slot = (const char *)rec + fd->off;
	json_object	*extra;
	const char	*s;
	size_t		 len;

	switch (fd->type) {
	case FT_STR:
	case FT_OPTSTR:
		sbuf_json_optstr(sb, *(char *const *)slot);
		break;
	case FT_IDLIST:
		sbuf_json_idlist(sb, *(char **const *)slot,
		    *(const size_t *)(const void *)((const char *)rec +
		    fd->count_off));
		break;
	case FT_EXTRA:
		if ((extra = *(json_object *const *)slot) == NULL) {
			SBUF_LIT(sb, "null");
			break;
		}
		s = json_object_to_json_string_length(extra,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &len);
		sbuf_put(sb, s, len);
		break;
	}
}

/* ,"name":value of one field, nothing for an absent optional field. */
static void
field_write(struct sbuf *sb, const void *rec, const struct field_desc *fd,
    int first)
{
	const void	*slot = (const char *)rec + fd->off;

	if ((fd->type == FT_OPTSTR && *(char *const *)slot == NULL) ||
	    (fd->type == FT_EXTRA && *(json_object *const *)slot == NULL))
		return;
	if (!first)
		SBUF_LIT(sb, ",");
	sbuf_json_str(sb, fd->name);
	SBUF_LIT(sb, ":");
	roster_field_write_value(sb, rec, fd);
}

/*
 * The text of roster_record_to_json(): the same keys in the same order.
 * Without close the object is left open for more members.
 */
void
roster_record_write(struct sbuf *sb, const struct record_kind *kind,
    const void *rec, int close)
{
	size_t	i;

	SBUF_LIT(sb, "{");
	for (i = 0; i < kind->nfields; i++)
		field_write(sb, rec, &kind->fields[i], i == 0);
	if (close)
		SBUF_LIT(sb, "}");
}
