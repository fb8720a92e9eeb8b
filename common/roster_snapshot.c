/*
 * Canonical snapshots: the whole roster as one JSON document with a fixed
 * key order (the field tables' order), records sorted by id and extras
 * with sorted keys, so that a roster has exactly one serialization.
 * Format 2 (written) says each student id once: a section's "students"
 * are indices into the snapshot's "students", and a student is an array
 * of its fields (roster_student_columns) rather than an object.  Format 1
 * (ids and objects) is still read.  Format: doc/roster-format.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "roster_int.h"
#include "xmalloc.h"

/* A section, its enrolled students as indices into r->students. */
static void
write_section(struct sbuf *sb, const struct roster *r,
    const struct roster_section *s)
{
	const struct roster_user	*u;
	size_t				 i;

	roster_record_write(sb, &roster_section_kind, s, 0);
	SBUF_LIT(sb, ",\"students\":[");
	for (i = 0; i < s->nstudents; i++) {
		/* a valid roster: roster_validate() holds every caller to it */
		if ((u = roster_find_student(r, s->students[i])) == NULL)
			fatalx("snapshot: section %s: student %s has no record",
			    s->id, s->students[i]);
		if (i > 0)
			SBUF_LIT(sb, ",");
		sbuf_num(sb, (unsigned long long)(u - r->students));
	}
	SBUF_LIT(sb, "]}");
}

/* A student as an array: id, first, last, grade, then extra if any. */
static void
write_student(struct sbuf *sb, const struct roster_user *u)
{
	size_t	i;

	SBUF_LIT(sb, "[");
	for (i = 0; i < roster_nstudent_columns; i++) {
		if (roster_student_columns[i]->type == FT_EXTRA &&
		    u->extra == NULL)
			break;
		if (i > 0)
			SBUF_LIT(sb, ",");
		roster_field_write_value(sb, u, roster_student_columns[i]);
	}
	SBUF_LIT(sb, "]");
}

/*
 * Written directly rather than through a json-c tree (3x faster); the text
 * is what json-c would print for the same document, and the snapshot
 * tests hold the two to each other.
 */
char *
roster_snapshot(const struct roster *r, size_t *lenp)
{
	struct sbuf	 sb = { NULL, 0, 0 };
	size_t		 i;

	sb.cap = 512 + r->nstudents * 80 + r->nsections * 256;
	sb.s = xmalloc(sb.cap);
	SBUF_LIT(&sb, "{\"format\":");
	sbuf_num(&sb, ROSTER_SNAPSHOT_FORMAT);
	SBUF_LIT(&sb, ",\"version\":");
	sbuf_num(&sb, (unsigned long long)r->version);
	SBUF_LIT(&sb, ",\"fields\":");
	sbuf_json_str(&sb, roster_fieldset_name(r->fields));
	SBUF_LIT(&sb, ",\"authorized_by\":");
	sbuf_json_optstr(&sb, r->authorized_by);
	SBUF_LIT(&sb, ",\"district\":");
	sbuf_json_optstr(&sb, r->district);
	SBUF_LIT(&sb, ",\"teacher\":");
	if (r->teacher.id == NULL)
		SBUF_LIT(&sb, "null");
	else
		roster_record_write(&sb, &roster_user_kind, &r->teacher, 1);
	SBUF_LIT(&sb, ",\"sections\":[");
	for (i = 0; i < r->nsections; i++) {
		if (i > 0)
			SBUF_LIT(&sb, ",");
		write_section(&sb, r, &r->sections[i]);
	}
	SBUF_LIT(&sb, "],\"students\":[");
	for (i = 0; i < r->nstudents; i++) {
		if (i > 0)
			SBUF_LIT(&sb, ",");
		write_student(&sb, &r->students[i]);
	}
	SBUF_LIT(&sb, "]}");
	if (lenp != NULL)
		*lenp = sb.len;
	return sb.s;
}

/* Parse exactly one JSON document filling [json, json + len). */
static int
parse_document(const char *json, size_t len, json_object **out, char *err,
    size_t errlen)
{
	struct json_tokener	*tok;
	json_object		*o;
	enum json_tokener_error	 jerr;
	size_t			 end;

	if (len > INT32_MAX) {
		roster_seterr(err, errlen, "snapshot too large");
		return -1;
	}
	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* A NUL ends a document that could still go on ("nul"). */
		o = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof) {
		roster_seterr(err, errlen, "snapshot: truncated JSON");
		return -1;
	}
	if (jerr != json_tokener_success) {
		roster_seterr(err, errlen, "snapshot: invalid JSON at byte %zu:"
		    " %s", end, json_tokener_error_desc(jerr));
		return -1;
	}
	while (end < len && strchr(" \t\r\n", json[end]) != NULL &&
	    json[end] != '\0')
		end++;
	if (end != len) {
		json_object_put(o);
		roster_seterr(err, errlen, "snapshot: trailing data at byte %zu",
		    end);
		return -1;
	}
	*out = o;
	return 0;
}

/* A nullable string member into *out. */
static int
load_optstr(json_object *o, const char *key, char **out, char *err,
    size_t errlen)
{
	json_object	*v = roster_member(o, key);
	size_t		 len;

	if (v == NULL)
		return 0;
	len = (size_t)json_object_get_string_len(v);
	if (!json_object_is_type(v, json_type_string) ||
	    len > ROSTER_STR_MAX || strlen(json_object_get_string(v)) != len) {
		roster_seterr(err, errlen, "snapshot: \"%s\": expected a string "
		    "or null", key);
		return -1;
	}
	*out = xstrndup(json_object_get_string(v), len);
	return 0;
}

/* The header; *format gets the snapshot's format (1 or 2). */
static int
load_header(struct roster *r, json_object *o, int *format, char *err,
    size_t errlen)
{
	json_object	*v;
	const char	*f;

	v = roster_member(o, "format");
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 1 ||
	    json_object_get_int64(v) > ROSTER_SNAPSHOT_FORMAT) {
		roster_seterr(err, errlen, "snapshot: \"format\" is not 1 "
		    "to %d", ROSTER_SNAPSHOT_FORMAT);
		return -1;
	}
	*format = (int)json_object_get_int64(v);
	v = roster_member(o, "version");
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0) {
		roster_seterr(err, errlen, "snapshot: \"version\" is not a "
		    "non-negative integer");
		return -1;
	}
	r->version = (uint64_t)json_object_get_int64(v);
	v = roster_member(o, "fields");
	f = json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : "";
	if (strcmp(f, "library") == 0)
		r->fields = ROSTER_FIELDS_LIBRARY;
	else if (strcmp(f, "district") == 0)
		r->fields = ROSTER_FIELDS_DISTRICT;
	else {
		roster_seterr(err, errlen, "snapshot: \"fields\" is not "
		    "\"library\" or \"district\"");
		return -1;
	}
	return load_optstr(o, "authorized_by", &r->authorized_by, err,
	    errlen) == -1 ? -1 :
	    load_optstr(o, "district", &r->district, err, errlen);
}

static int
load_teacher(struct roster *r, json_object *o, char *err, size_t errlen)
{
	json_object	*v = roster_member(o, "teacher");

	if (v == NULL)
		return 0;
	if (roster_record_from_json(&roster_user_kind, &r->teacher, v,
	    r->fields == ROSTER_FIELDS_DISTRICT, err, errlen) == -1) {
		roster_user_clear(&r->teacher);
		return -1;
	}
	return 0;
}

static json_object *
array_member(json_object *o, const char *key, char *err, size_t errlen)
{
	json_object	*a = roster_member(o, key);

	if (!json_object_is_type(a, json_type_array)) {
		roster_seterr(err, errlen, "snapshot: \"%s\": expected an "
		    "array, got %s", key, roster_json_type_name(a));
		return NULL;
	}
	return a;
}

/*
 * A format 2 section's "students": strictly increasing indices into the
 * students already loaded, turned into their ids.
 */
static int
load_enrollment_indices(const struct roster *r, struct roster_section *s,
    json_object *o, char *err, size_t errlen)
{
	json_object	*a = roster_member(o, "students"), *v;
	int64_t		 idx, prev = -1;
	size_t		 i, n;

	if (!json_object_is_type(a, json_type_array)) {
		roster_seterr(err, errlen, "section %s: students: expected an "
		    "array, got %s", s->id, roster_json_type_name(a));
		return -1;
	}
	n = json_object_array_length(a);
	s->students = xreallocarray(NULL, n == 0 ? 1 : n,
	    sizeof(*s->students));
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(a, i);
		idx = json_object_is_type(v, json_type_int) ?
		    json_object_get_int64(v) : -1;
		if (idx <= prev || idx >= (int64_t)r->nstudents) {
			roster_seterr(err, errlen, "section %s: students: "
			    "item %zu is not a student's index in increasing "
			    "order", s->id, i);
			return -1;
		}
		s->students[s->nstudents++] = xstrdup(r->students[idx].id);
		prev = idx;
	}
	return 0;
}

/* A format 1 section's "students": ids, ordered (roster_validate). */
static int
load_enrollments(struct roster_section *s, json_object *o, char *err,
    size_t errlen)
{
	static const struct field_desc fd = { "students", FT_IDLIST,
	    offsetof(struct roster_section, students),
	    offsetof(struct roster_section, nstudents), ROSTER_ID_MAX, NULL };
	char	why[256];

	if (roster_field_from_json(s, &fd, roster_member(o, "students"), 0, why,
	    sizeof(why)) == -1) {
		roster_seterr(err, errlen, "section %s: %s", s->id, why);
		return -1;
	}
	return 0;
}

static int
load_sections(struct roster *r, json_object *o, int format, char *err,
    size_t errlen)
{
	struct roster_section	*s;
	json_object		*a, *v;
	size_t			 i, n;

	if ((a = array_member(o, "sections", err, errlen)) == NULL)
		return -1;
	n = json_object_array_length(a);
	r->sections = xcalloc(n + 1, sizeof(*r->sections));
	r->sections_cap = n + 1;
	for (i = 0; i < n; i++) {
		s = &r->sections[r->nsections++];
		v = json_object_array_get_idx(a, i);
		if (roster_record_from_json(&roster_section_kind, s, v,
		    r->fields == ROSTER_FIELDS_DISTRICT, err, errlen) == -1)
			return -1;
		if ((format == 1 ? load_enrollments(s, v, err, errlen) :
		    load_enrollment_indices(r, s, v, err, errlen)) == -1)
			return -1;
	}
	return 0;
}

/* A format 2 student: an array of roster_student_columns, extra last. */
static int
load_student_array(struct roster_user *u, json_object *a, int allow_extra,
    char *err, size_t errlen)
{
	size_t	i, n;
	char	why[256];

	n = json_object_is_type(a, json_type_array) ?
	    json_object_array_length(a) : 0;
	if (n != roster_nstudent_columns && n != roster_nstudent_columns - 1) {
		roster_seterr(err, errlen, "student: expected an array of %zu "
		    "or %zu items", roster_nstudent_columns - 1,
		    roster_nstudent_columns);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (roster_field_from_json(u, roster_student_columns[i],
		    json_object_array_get_idx(a, i), allow_extra, why,
		    sizeof(why)) == -1) {
			roster_seterr(err, errlen, "student %s: %s",
			    i == 0 ? "record" : u->id, why);
			return -1;
		}
	}
	roster_user_derive(u);
	return 0;
}

static int
load_students(struct roster *r, json_object *o, int format, char *err,
    size_t errlen)
{
	json_object	*a, *v;
	size_t		 i, n;
	int		 extra = r->fields == ROSTER_FIELDS_DISTRICT, rc;

	if ((a = array_member(o, "students", err, errlen)) == NULL)
		return -1;
	n = json_object_array_length(a);
	r->students = xcalloc(n + 1, sizeof(*r->students));
	r->students_cap = n + 1;
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(a, i);
		rc = format == 1 ? roster_record_from_json(&roster_user_kind,
		    &r->students[r->nstudents++], v, extra, err, errlen) :
		    load_student_array(&r->students[r->nstudents++], v, extra,
		    err, errlen);
		if (rc == -1)
			return -1;
	}
	return 0;
}

struct roster *
roster_from_snapshot(const char *json, size_t len, char *err, size_t errlen)
{
	struct roster	*r;
	json_object	*o;
	char		 why[256];
	int		 format = 0;

	if (parse_document(json, len, &o, err, errlen) == -1)
		return NULL;
	r = roster_new(ROSTER_FIELDS_LIBRARY);
	if (!json_object_is_type(o, json_type_object)) {
		roster_seterr(err, errlen, "snapshot: expected an object, got "
		    "%s", roster_json_type_name(o));
		goto fail;
	}
	/* format 2 sections name students by index: students come first */
	if (load_header(r, o, &format, err, errlen) == -1 ||
	    load_teacher(r, o, err, errlen) == -1 ||
	    load_students(r, o, format, err, errlen) == -1 ||
	    load_sections(r, o, format, err, errlen) == -1)
		goto fail;
	if (roster_validate(r, why, sizeof(why)) == -1) {
		roster_seterr(err, errlen, "snapshot: %s", why);
		goto fail;
	}
	json_object_put(o);
	return r;
fail:
	json_object_put(o);
	roster_free(r);
	return NULL;
}

/*
 * Where the version number of a canonical snapshot text starts, or NULL.
 * A snapshot of an older format is never "the same": it is parsed and
 * diffed, and rewritten in the current one.
 */
_Static_assert(ROSTER_SNAPSHOT_FORMAT == 2, "version_at() names format 2");
static const char *
version_at(const char *s, size_t len)
{
	static const char	key[] = "{\"format\":2,\"version\":";

	if (len < sizeof(key) - 1 || memcmp(s, key, sizeof(key) - 1) != 0)
		return NULL;
	return s + sizeof(key) - 1;
}

int
roster_snapshot_same(const char *a, size_t alen, const char *b, size_t blen)
{
	const char	*va = version_at(a, alen), *vb = version_at(b, blen);
	const char	*ea = a + alen, *eb = b + blen;

	if (va == NULL || vb == NULL)
		return 0;
	while (va < ea && *va >= '0' && *va <= '9')
		va++;
	while (vb < eb && *vb >= '0' && *vb <= '9')
		vb++;
	return ea - va == eb - vb && memcmp(va, vb, (size_t)(ea - va)) == 0;
}

/* The empty roster's text ends so: no teacher, no section, no student. */
static int
snapshot_empty(const char *s, size_t len)
{
	static const char	tail[] =
	    ",\"teacher\":null,\"sections\":[],\"students\":[]}";

	return len >= sizeof(tail) - 1 &&
	    memcmp(s + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1) == 0;
}

/*
 * The content hash: the SHA-256 of the canonical text with its version
 * left out ({"format":2,"version":N,... hashed as {"format":2,...), so
 * that the same content hashes the same at any version.
 */
int
roster_snapshot_hash(const char *s, size_t len, char out[ROSTER_HASH_LEN + 1])
{
	static const char	 hex[] = "0123456789abcdef";
	const char		*v = version_at(s, len), *end = s + len;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen, i;
	EVP_MD_CTX		*ctx;
	size_t			 head;

	out[0] = '\0';
	if (v == NULL)
		return -1;
	head = (size_t)(v - s) - (sizeof("\"version\":") - 1);
	while (v < end && *v >= '0' && *v <= '9')
		v++;
	if (v == end || *v != ',')
		return -1;
	if (snapshot_empty(s, len))
		return 0;
	v++;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, s, head) != 1 ||
	    EVP_DigestUpdate(ctx, v, (size_t)(end - v)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		fatalx("roster_snapshot_hash: SHA-256 failed");
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < ROSTER_HASH_LEN / 2 && i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * i] = '\0';
	return 0;
}

void
roster_hash(const struct roster *r, char out[ROSTER_HASH_LEN + 1])
{
	char	*s;
	size_t	 len;

	out[0] = '\0';
	if (r == NULL)
		return;
	s = roster_snapshot(r, &len);
	if (roster_snapshot_hash(s, len, out) == -1)
		fatalx("roster_hash: the snapshot writer's text has no version");
	free(s);
}
