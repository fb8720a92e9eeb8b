/*
 * Roster diffs: computing them by sorted merges, counting them, and
 * applying them strictly so that apply(old, diff(old, new)) == new exactly.
 * Format: doc/roster-format.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "roster_int.h"
#include "xmalloc.h"

/* Big enough for any record kind. */
union any_record {
	struct roster_user	u;
	struct roster_section	s;
};

/* A parsed enrollment change; the strings point into the diff. */
struct enrollment {
	const char	*section;
	const char	*student;
};

/* The empty roster that a NULL old stands for. */
static const struct roster empty_roster;

static int
optstr_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/*
 * Diffs are written as text directly (as snapshots are): building a json-c
 * tree of a whole first-sync roster only to print it cost more than all the
 * rest of a sync.  roster_diff() parses this text for the callers that want
 * a tree, so there is one diff, whichever form it is read in.
 */

/* "key":{"old":a,"new":b}, comma-separated from what came before. */
static void
write_str_change(struct sbuf *sb, unsigned *n, const char *key,
    const char *a, const char *b)
{
	if ((*n)++ > 0)
		SBUF_LIT(sb, ",");
	sbuf_json_str(sb, key);
	SBUF_LIT(sb, ":{\"old\":");
	sbuf_json_optstr(sb, a);
	SBUF_LIT(sb, ",\"new\":");
	sbuf_json_optstr(sb, b);
	SBUF_LIT(sb, "}");
}

/* Changes of the roster itself: field set and authorization. */
static unsigned
write_header(struct sbuf *sb, const struct roster *a, const struct roster *b)
{
	unsigned	n = 0;

	SBUF_LIT(sb, "{");
	if (a->fields != b->fields)
		write_str_change(sb, &n, "fields",
		    roster_fieldset_name(a->fields),
		    roster_fieldset_name(b->fields));
	if (!optstr_equal(a->authorized_by, b->authorized_by))
		write_str_change(sb, &n, "authorized_by", a->authorized_by,
		    b->authorized_by);
	if (!optstr_equal(a->district, b->district))
		write_str_change(sb, &n, "district", a->district, b->district);
	SBUF_LIT(sb, "}");
	return n;
}

/*
 * {"field":{"old":...,"new":...},...} for the fields of two records that
 * differ (the id excepted); writes nothing and returns 0 when none does.
 */
static unsigned
write_changes(struct sbuf *sb, const struct record_kind *kind, const void *a,
    const void *b)
{
	const struct field_desc	*fd;
	unsigned		 n = 0;
	size_t			 i;

	for (i = 1; i < kind->nfields; i++) {
		fd = &kind->fields[i];
		if (roster_field_equal(a, b, fd))
			continue;
		if (n++ == 0)
			SBUF_LIT(sb, "{");
		else
			SBUF_LIT(sb, ",");
		sbuf_json_str(sb, fd->name);
		SBUF_LIT(sb, ":{\"old\":");
		roster_field_write_value(sb, a, fd);
		SBUF_LIT(sb, ",\"new\":");
		roster_field_write_value(sb, b, fd);
		SBUF_LIT(sb, "}");
	}
	if (n > 0)
		SBUF_LIT(sb, "}");
	return n;
}

static void
write_record_or_null(struct sbuf *sb, const struct record_kind *kind,
    const void *rec)
{
	if (rec == NULL)
		SBUF_LIT(sb, "null");
	else
		roster_record_write(sb, kind, rec, 1);
}

static void
write_teacher(struct sbuf *sb, const struct roster_user *a,
    const struct roster_user *b, struct roster_diff_counts *n)
{
	const struct roster_user	*added = NULL, *removed = NULL;

	if (a->id != NULL && b->id != NULL && strcmp(a->id, b->id) == 0) {
		SBUF_LIT(sb, "{\"added\":null,\"updated\":");
		if (write_changes(sb, &roster_user_kind, a, b) > 0)
			n->teacher_updated = 1;
		else
			SBUF_LIT(sb, "{}");
		SBUF_LIT(sb, ",\"removed\":null}");
		return;
	}
	if (a->id != NULL)
		removed = a;
	if (b->id != NULL)
		added = b;
	n->added += added != NULL;
	n->removed += removed != NULL;
	SBUF_LIT(sb, "{\"added\":");
	write_record_or_null(sb, &roster_user_kind, added);
	SBUF_LIT(sb, ",\"updated\":{},\"removed\":");
	write_record_or_null(sb, &roster_user_kind, removed);
	SBUF_LIT(sb, "}");
}

static int
id_cmp_or_end(const char *a, int a_end, const char *b, int b_end)
{
	if (a_end)
		return 1;
	if (b_end)
		return -1;
	return strcmp(a, b);
}

/* One list of a group: ,"name":[...] or "name":[...] for the first. */
static void
write_list(struct sbuf *sb, const char *name, struct sbuf *items, int first)
{
	if (!first)
		SBUF_LIT(sb, ",");
	sbuf_json_str(sb, name);
	SBUF_LIT(sb, ":[");
	if (items->len > 0)
		sbuf_put(sb, items->s, items->len);
	SBUF_LIT(sb, "]");
	free(items->s);
}

/* Append an item to a list being built, comma-separated. */
static void
item_begin(struct sbuf *list, unsigned *count)
{
	if ((*count)++ > 0)
		SBUF_LIT(list, ",");
}

/*
 * Added / updated / removed records of two sorted arrays, by merge:
 * {"added":[...],"updated":[{"id":...,"changes":{...}}],"removed":[...]}.
 */
static void
write_records(struct sbuf *sb, const struct record_kind *kind,
    const void *av, size_t na, const void *bv, size_t nb, unsigned *nadded,
    unsigned *nupdated, unsigned *nremoved)
{
	struct sbuf	 added = { NULL, 0, 0 }, updated = { NULL, 0, 0 };
	struct sbuf	 removed = { NULL, 0, 0 };
	const char	*a = av, *b = bv, *ra, *rb;
	size_t		 i = 0, j = 0, mark;
	int		 c;

	while (i < na || j < nb) {
		/* No arithmetic on a NULL array: UB even with offset 0. */
		ra = i < na ? a + i * kind->size : NULL;
		rb = j < nb ? b + j * kind->size : NULL;
		c = id_cmp_or_end(ra != NULL ? REC_ID(ra) : NULL, ra == NULL,
		    rb != NULL ? REC_ID(rb) : NULL, rb == NULL);
		if (c < 0) {
			item_begin(&removed, nremoved);
			roster_record_write(&removed, kind, ra, 1);
			i++;
		} else if (c > 0) {
			item_begin(&added, nadded);
			roster_record_write(&added, kind, rb, 1);
			j++;
		} else {
			mark = updated.len;
			if (*nupdated > 0)
				SBUF_LIT(&updated, ",");
			SBUF_LIT(&updated, "{\"id\":");
			sbuf_json_str(&updated, REC_ID(ra));
			SBUF_LIT(&updated, ",\"changes\":");
			if (write_changes(&updated, kind, ra, rb) > 0) {
				SBUF_LIT(&updated, "}");
				(*nupdated)++;
			} else
				updated.len = mark;	/* no change after all */
			i++;
			j++;
		}
	}
	SBUF_LIT(sb, "{");
	write_list(sb, "added", &added, 1);
	write_list(sb, "updated", &updated, 0);
	write_list(sb, "removed", &removed, 0);
	SBUF_LIT(sb, "}");
}

static void
write_enrollment(struct sbuf *list, unsigned *count, const char *section,
    const char *student)
{
	item_begin(list, count);
	SBUF_LIT(list, "{\"section\":");
	sbuf_json_str(list, section);
	SBUF_LIT(list, ",\"student\":");
	sbuf_json_str(list, student);
	SBUF_LIT(list, "}");
}

/* Enrollment changes of one section; a or b may be NULL (no section). */
static void
section_enrollments(const struct roster_section *a,
    const struct roster_section *b, struct sbuf *added, struct sbuf *removed,
    struct roster_diff_counts *n)
{
	const char	*id = a != NULL ? a->id : b->id;
	size_t		 na = a != NULL ? a->nstudents : 0;
	size_t		 nb = b != NULL ? b->nstudents : 0;
	size_t		 i = 0, j = 0;
	int		 c;

	while (i < na || j < nb) {
		c = id_cmp_or_end(i < na ? a->students[i] : NULL, i == na,
		    j < nb ? b->students[j] : NULL, j == nb);
		if (c < 0)
			write_enrollment(removed, &n->enrollments_removed, id,
			    a->students[i++]);
		else if (c > 0)
			write_enrollment(added, &n->enrollments_added, id,
			    b->students[j++]);
		else {
			i++;
			j++;
		}
	}
}

static void
write_enrollments(struct sbuf *sb, const struct roster *a,
    const struct roster *b, struct roster_diff_counts *n)
{
	struct sbuf	 added = { NULL, 0, 0 }, removed = { NULL, 0, 0 };
	size_t		 i = 0, j = 0;
	int		 c;

	while (i < a->nsections || j < b->nsections) {
		c = id_cmp_or_end(i < a->nsections ? a->sections[i].id : NULL,
		    i == a->nsections,
		    j < b->nsections ? b->sections[j].id : NULL,
		    j == b->nsections);
		if (c < 0)
			section_enrollments(&a->sections[i++], NULL, &added,
			    &removed, n);
		else if (c > 0)
			section_enrollments(NULL, &b->sections[j++], &added,
			    &removed, n);
		else
			section_enrollments(&a->sections[i++],
			    &b->sections[j++], &added, &removed, n);
	}
	SBUF_LIT(sb, "{");
	write_list(sb, "added", &added, 1);
	write_list(sb, "removed", &removed, 0);
	SBUF_LIT(sb, "}");
}

char *
roster_diff_text(const struct roster *old, const struct roster *new_,
    size_t *lenp, struct roster_diff_counts *counts)
{
	struct roster_diff_counts	 n;
	struct sbuf			 sb = { NULL, 0, 0 };
	unsigned			 header;

	if (old == NULL)
		old = &empty_roster;
	memset(&n, 0, sizeof(n));
	sb.cap = 1024 + (old->nstudents + new_->nstudents) * 64;
	sb.s = xmalloc(sb.cap);
	SBUF_LIT(&sb, "{\"format\":");
	sbuf_num(&sb, ROSTER_DIFF_FORMAT);
	SBUF_LIT(&sb, ",\"roster\":");
	header = write_header(&sb, old, new_);
	SBUF_LIT(&sb, ",\"teacher\":");
	write_teacher(&sb, &old->teacher, &new_->teacher, &n);
	SBUF_LIT(&sb, ",\"sections\":");
	write_records(&sb, &roster_section_kind, old->sections,
	    old->nsections, new_->sections, new_->nsections,
	    &n.sections_added, &n.sections_updated, &n.sections_removed);
	SBUF_LIT(&sb, ",\"students\":");
	write_records(&sb, &roster_user_kind, old->students, old->nstudents,
	    new_->students, new_->nstudents, &n.students_added,
	    &n.students_updated, &n.students_removed);
	SBUF_LIT(&sb, ",\"enrollments\":");
	write_enrollments(&sb, old, new_, &n);
	SBUF_LIT(&sb, "}");
	n.added += n.sections_added + n.students_added + n.enrollments_added;
	n.removed += n.sections_removed + n.students_removed +
	    n.enrollments_removed;
	n.updated = n.sections_updated + n.students_updated +
	    n.teacher_updated + header;
	if (counts != NULL)
		*counts = n;
	if (lenp != NULL)
		*lenp = sb.len;
	return sb.s;
}

json_object *
roster_diff(const struct roster *old, const struct roster *new_)
{
	json_object	*d;
	char		*text;

	text = roster_diff_text(old, new_, NULL, NULL);
	if ((d = json_tokener_parse(text)) == NULL)
		fatalx("roster_diff: cannot parse its own text");
	free(text);
	return d;
}

static unsigned
array_count(json_object *o, const char *key)
{
	json_object	*a = roster_member(o, key);

	return json_object_is_type(a, json_type_array) ?
	    (unsigned)json_object_array_length(a) : 0;
}

static unsigned
object_count(json_object *o)
{
	return json_object_is_type(o, json_type_object) ?
	    (unsigned)json_object_object_length(o) : 0;
}

void
roster_diff_count(json_object *diff, struct roster_diff_counts *n)
{
	json_object	*t, *s, *u, *e;

	memset(n, 0, sizeof(*n));
	if (!json_object_is_type(diff, json_type_object))
		return;
	t = roster_member(diff, "teacher");
	s = roster_member(diff, "sections");
	u = roster_member(diff, "students");
	e = roster_member(diff, "enrollments");
	n->sections_added = array_count(s, "added");
	n->sections_updated = array_count(s, "updated");
	n->sections_removed = array_count(s, "removed");
	n->students_added = array_count(u, "added");
	n->students_updated = array_count(u, "updated");
	n->students_removed = array_count(u, "removed");
	n->enrollments_added = array_count(e, "added");
	n->enrollments_removed = array_count(e, "removed");
	n->teacher_updated = object_count(roster_member(t, "updated")) > 0;
	n->added = n->sections_added + n->students_added +
	    n->enrollments_added + (roster_member(t, "added") != NULL);
	n->removed = n->sections_removed + n->students_removed +
	    n->enrollments_removed + (roster_member(t, "removed") != NULL);
	n->updated = n->sections_updated + n->students_updated +
	    n->teacher_updated + object_count(roster_member(diff, "roster"));
}

int
roster_diff_is_empty(json_object *diff)
{
	struct roster_diff_counts	n;

	roster_diff_count(diff, &n);
	return n.added == 0 && n.updated == 0 && n.removed == 0;
}

/*
 * Applying.  Each step checks what it can before changing anything, and
 * a failure never leaves dangling or leaked memory; the roster invariants
 * (every enrolled student has a record...) are checked once at the end.
 */

/* A member that must be present and of the given type. */
static int
need(json_object *o, const char *key, enum json_type type, int nullable,
    json_object **out, char *err, size_t errlen)
{
	if (!json_object_object_get_ex(o, key, out)) {
		roster_seterr(err, errlen, "diff: missing \"%s\"", key);
		return -1;
	}
	if ((*out == NULL && nullable) || json_object_is_type(*out, type))
		return 0;
	roster_seterr(err, errlen, "diff: \"%s\": expected %s%s, got %s", key,
	    json_type_to_name(type), nullable ? " or null" : "",
	    roster_json_type_name(*out));
	return -1;
}

/* {"old":..,"new":..} of a change. */
static int
change_pair(json_object *c, const char *key, json_object **old,
    json_object **new_, char *err, size_t errlen)
{
	if (!json_object_is_type(c, json_type_object) ||
	    !json_object_object_get_ex(c, "old", old) ||
	    !json_object_object_get_ex(c, "new", new_)) {
		roster_seterr(err, errlen, "diff: change of \"%s\" is not "
		    "{\"old\":..,\"new\":..}", key);
		return -1;
	}
	return 0;
}

/* Compare an optional string with a JSON string or null. */
static int
optstr_matches(const char *s, json_object *v)
{
	if (v == NULL)
		return s == NULL;
	return s != NULL && json_object_is_type(v, json_type_string) &&
	    strcmp(s, json_object_get_string(v)) == 0;
}

static int
fields_from_json(json_object *v, enum roster_fieldset *f)
{
	const char	*s;

	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (strcmp(s, "library") == 0)
		*f = ROSTER_FIELDS_LIBRARY;
	else if (strcmp(s, "district") == 0)
		*f = ROSTER_FIELDS_DISTRICT;
	else
		return -1;
	return 0;
}

static int
is_empty_roster(const struct roster *r)
{
	return r->teacher.id == NULL && r->nsections == 0 &&
	    r->nstudents == 0;
}

static int
apply_optstr(char **slot, const char *key, json_object *old, json_object *new_,
    char *err, size_t errlen)
{
	if (!optstr_matches(*slot, old)) {
		roster_seterr(err, errlen, "diff: roster %s: old value does "
		    "not match", key);
		return -1;
	}
	if (new_ != NULL && (!json_object_is_type(new_, json_type_string) ||
	    json_object_get_string_len(new_) > ROSTER_STR_MAX)) {
		roster_seterr(err, errlen, "diff: roster %s: new value is not "
		    "a string or null", key);
		return -1;
	}
	free(*slot);
	*slot = new_ == NULL ? NULL : xstrdup(json_object_get_string(new_));
	return 0;
}

/* An empty base has no field set of its own: it takes the diff's. */
static int
apply_fields(struct roster *r, json_object *old, json_object *new_, char *err,
    size_t errlen)
{
	enum roster_fieldset	fo, fn;

	if (fields_from_json(old, &fo) == -1 ||
	    fields_from_json(new_, &fn) == -1) {
		roster_seterr(err, errlen, "diff: roster fields: not "
		    "\"library\" or \"district\"");
		return -1;
	}
	if (fo != r->fields && !is_empty_roster(r)) {
		roster_seterr(err, errlen, "diff: roster fields: old value "
		    "does not match");
		return -1;
	}
	r->fields = fn;
	return 0;
}

static int
apply_header(struct roster *r, json_object *changes, char *err,
    size_t errlen)
{
	struct json_object_iterator	 it, end;
	const char			*key;
	json_object			*old, *new_;
	int				 rc;

	it = json_object_iter_begin(changes);
	end = json_object_iter_end(changes);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		if (change_pair(json_object_iter_peek_value(&it), key, &old,
		    &new_, err, errlen) == -1)
			return -1;
		if (strcmp(key, "fields") == 0)
			rc = apply_fields(r, old, new_, err, errlen);
		else if (strcmp(key, "authorized_by") == 0)
			rc = apply_optstr(&r->authorized_by, key, old, new_,
			    err, errlen);
		else if (strcmp(key, "district") == 0)
			rc = apply_optstr(&r->district, key, old, new_, err,
			    errlen);
		else {
			roster_seterr(err, errlen, "diff: roster: unknown "
			    "field \"%.64s\"", key);
			rc = -1;
		}
		if (rc == -1)
			return -1;
	}
	return 0;
}

static const struct field_desc *
find_field(const struct record_kind *kind, const char *name)
{
	size_t	i;

	for (i = 1; i < kind->nfields; i++) {	/* the id cannot change */
		if (strcmp(kind->fields[i].name, name) == 0)
			return &kind->fields[i];
	}
	return NULL;
}

/* Does field fd of rec equal the JSON value v? -1 if v is malformed. */
static int
field_matches(const struct field_desc *fd, const void *rec, json_object *v,
    char *err, size_t errlen)
{
	union any_record	scratch;
	int			eq;

	memset(&scratch, 0, sizeof(scratch));
	if (roster_field_from_json(&scratch, fd, v, 1, err, errlen) == -1)
		return -1;
	eq = roster_field_equal(rec, &scratch, fd);
	roster_field_clear(&scratch, fd);
	return eq;
}

/* Apply {"field":{"old":..,"new":..},...} to one record. */
static int
apply_changes(const struct record_kind *kind, void *rec, json_object *changes,
    int allow_extra, char *err, size_t errlen)
{
	struct json_object_iterator	 it, end;
	const struct field_desc		*fd;
	const char			*key;
	json_object			*old, *new_;
	char				 why[256];

	if (!json_object_is_type(changes, json_type_object)) {
		roster_seterr(err, errlen, "diff: %s %s: changes are not an "
		    "object", kind->name, REC_ID(rec));
		return -1;
	}
	it = json_object_iter_begin(changes);
	end = json_object_iter_end(changes);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		if ((fd = find_field(kind, key)) == NULL) {
			roster_seterr(err, errlen, "diff: %s %s: unknown field "
			    "\"%.64s\"", kind->name, REC_ID(rec), key);
			return -1;
		}
		if (change_pair(json_object_iter_peek_value(&it), key, &old,
		    &new_, err, errlen) == -1)
			return -1;
		switch (field_matches(fd, rec, old, why, sizeof(why))) {
		case 0:
			roster_seterr(err, errlen, "diff: %s %s: old %s does "
			    "not match", kind->name, REC_ID(rec), key);
			return -1;
		case -1:
			goto bad;
		}
		if (roster_field_from_json(rec, fd, new_, allow_extra, why,
		    sizeof(why)) == -1)
			goto bad;
	}
	if (kind->derive != NULL)
		kind->derive(rec);
	return 0;
bad:
	roster_seterr(err, errlen, "diff: %s %s: %s", kind->name, REC_ID(rec),
	    why);
	return -1;
}

/* Load a record of a diff into a zeroed rec; cleared on failure. */
static int
load_record(const struct record_kind *kind, void *rec, json_object *v,
    int allow_extra, char *err, size_t errlen)
{
	char	why[256];

	if (roster_record_from_json(kind, rec, v, allow_extra, why,
	    sizeof(why)) == -1) {
		kind->clear(rec);
		roster_seterr(err, errlen, "diff: %s", why);
		return -1;
	}
	return 0;
}

/* Is rec exactly the record v (a "removed" entry)? */
static int
record_matches(const struct record_kind *kind, const void *rec,
    json_object *v, char *err, size_t errlen)
{
	union any_record	scratch;
	int			eq;

	memset(&scratch, 0, sizeof(scratch));
	if (load_record(kind, &scratch, v, 1, err, errlen) == -1)
		return -1;
	eq = roster_record_equal(kind, rec, &scratch);
	kind->clear(&scratch);
	if (!eq) {
		roster_seterr(err, errlen, "diff: removed %s %s does not match",
		    kind->name, REC_ID(rec));
	}
	return eq ? 0 : -1;
}

static int
apply_teacher(struct roster *r, json_object *t, char *err, size_t errlen)
{
	json_object	*added, *updated, *removed;
	int		 allow_extra = r->fields == ROSTER_FIELDS_DISTRICT;

	if (need(t, "added", json_type_object, 1, &added, err, errlen) == -1 ||
	    need(t, "updated", json_type_object, 0, &updated, err,
	    errlen) == -1 ||
	    need(t, "removed", json_type_object, 1, &removed, err,
	    errlen) == -1)
		return -1;
	if (removed != NULL) {
		if (r->teacher.id == NULL) {
			roster_seterr(err, errlen, "diff: removed teacher is "
			    "absent");
			return -1;
		}
		if (record_matches(&roster_user_kind, &r->teacher, removed,
		    err, errlen) == -1)
			return -1;
		roster_user_clear(&r->teacher);
	}
	if (json_object_object_length(updated) > 0) {
		if (r->teacher.id == NULL) {
			roster_seterr(err, errlen, "diff: updated teacher is "
			    "absent");
			return -1;
		}
		if (apply_changes(&roster_user_kind, &r->teacher, updated,
		    allow_extra, err, errlen) == -1)
			return -1;
	}
	if (added != NULL) {
		if (r->teacher.id != NULL) {
			roster_seterr(err, errlen, "diff: added teacher %s is "
			    "already present", r->teacher.id);
			return -1;
		}
		return load_record(&roster_user_kind, &r->teacher, added,
		    allow_extra, err, errlen);
	}
	return 0;
}

/* The "id" of a record in a diff list. */
static const char *
entry_id(json_object *v)
{
	json_object	*id = roster_member(v, "id");

	return json_object_is_type(id, json_type_string) ?
	    json_object_get_string(id) : NULL;
}

/* Ids of the entries of a list, checked to be strictly ascending. */
static const char **
sorted_ids(const struct record_kind *kind, json_object *list,
    const char *what, char *err, size_t errlen)
{
	const char	**ids;
	size_t		  i, n = json_object_array_length(list);

	ids = xreallocarray(NULL, n + 1, sizeof(*ids));
	for (i = 0; i < n; i++) {
		ids[i] = entry_id(json_object_array_get_idx(list, i));
		if (ids[i] == NULL) {
			roster_seterr(err, errlen, "diff: %ss.%s[%zu]: no id",
			    kind->name, what, i);
			goto fail;
		}
		if (i > 0 && strcmp(ids[i - 1], ids[i]) >= 0) {
			roster_seterr(err, errlen, "diff: %ss.%s: not sorted "
			    "by id at \"%.64s\"", kind->name, what, ids[i]);
			goto fail;
		}
	}
	return ids;
fail:
	free(ids);
	return NULL;
}

/* A sorted array of records: sections or students of a roster. */
struct collection {
	const struct record_kind	*kind;
	void				**arr;
	size_t				*n;
	size_t				*cap;
};

#define AT(c, i)	((char *)*(c)->arr + (i) * (c)->kind->size)

/* A section can only go once the diff has removed its enrollments. */
static int
removable(const struct collection *c, const void *rec, char *err,
    size_t errlen)
{
	if (c->kind == &roster_section_kind &&
	    ((const struct roster_section *)rec)->nstudents > 0) {
		roster_seterr(err, errlen, "diff: removed section %s still has "
		    "enrollments", REC_ID(rec));
		return -1;
	}
	return 0;
}

/* Removed records: a merge of the array with the sorted removed list. */
static int
apply_removed(struct collection *c, json_object *list, char *err,
    size_t errlen)
{
	const char	**ids;
	json_object	 *v;
	size_t		  i = 0, j = 0, kept = 0, nrem;
	int		  cmp, rc = -1;

	if ((ids = sorted_ids(c->kind, list, "removed", err, errlen)) == NULL)
		return -1;
	nrem = json_object_array_length(list);
	for (; i < *c->n; i++) {
		cmp = j < nrem ? strcmp(ids[j], REC_ID(AT(c, i))) : 1;
		if (cmp < 0)
			break;		/* ids[j] is absent */
		if (cmp == 0) {
			v = json_object_array_get_idx(list, j);
			if (record_matches(c->kind, AT(c, i), v, err,
			    errlen) == -1 || removable(c, AT(c, i), err,
			    errlen) == -1)
				goto out;
			c->kind->clear(AT(c, i));
			j++;
			continue;
		}
		memmove(AT(c, kept++), AT(c, i), c->kind->size);
	}
	if (j < nrem) {
		roster_seterr(err, errlen, "diff: removed %s %.64s is absent",
		    c->kind->name, ids[j]);
		goto out;
	}
	rc = 0;
out:
	/* Close the gap so the array stays valid even after an error. */
	if (i < *c->n)
		memmove(AT(c, kept), AT(c, i), (*c->n - i) * c->kind->size);
	*c->n = kept + (*c->n - i);
	free(ids);
	return rc;
}

/* Added records: load them all, then merge them into the array. */
static int
apply_added(struct collection *c, json_object *list, int allow_extra,
    char *err, size_t errlen)
{
	const struct record_kind	*kind = c->kind;
	const char			**ids;
	char				 *add, *out;
	size_t				  i, j, k, nadd, loaded = 0;
	int				  cmp, rc = -1;

	if ((ids = sorted_ids(kind, list, "added", err, errlen)) == NULL)
		return -1;
	nadd = json_object_array_length(list);
	add = xcalloc(nadd + 1, kind->size);
	for (; loaded < nadd; loaded++) {
		if (load_record(kind, add + loaded * kind->size,
		    json_object_array_get_idx(list, loaded), allow_extra, err,
		    errlen) == -1)
			goto out;
	}
	for (i = 0; i < nadd; i++) {
		if (roster_records_find(*c->arr, *c->n, kind->size,
		    ids[i]) != NULL) {
			roster_seterr(err, errlen, "diff: added %s %.64s is "
			    "already present", kind->name, ids[i]);
			goto out;
		}
	}
	out = xreallocarray(NULL, *c->n + nadd + 1, kind->size);
	for (i = j = k = 0; i < *c->n || j < nadd; k++) {
		cmp = id_cmp_or_end(i < *c->n ? REC_ID(AT(c, i)) : NULL,
		    i == *c->n, j < nadd ? ids[j] : NULL, j == nadd);
		if (cmp < 0)
			memcpy(out + k * kind->size, AT(c, i++), kind->size);
		else
			memcpy(out + k * kind->size, add + j++ * kind->size,
			    kind->size);
	}
	free(*c->arr);
	*c->arr = out;
	*c->n = k;
	*c->cap = k + 1;
	loaded = 0;	/* now owned by the array */
	rc = 0;
out:
	for (i = 0; i < loaded; i++)
		kind->clear(add + i * kind->size);
	free(add);
	free(ids);
	return rc;
}

static int
apply_updated(struct collection *c, json_object *list, int allow_extra,
    char *err, size_t errlen)
{
	json_object	*u;
	const char	*id;
	void		*rec;
	size_t		 i, n = json_object_array_length(list);

	for (i = 0; i < n; i++) {
		u = json_object_array_get_idx(list, i);
		if ((id = entry_id(u)) == NULL) {
			roster_seterr(err, errlen, "diff: %ss.updated[%zu]: no "
			    "id", c->kind->name, i);
			return -1;
		}
		rec = roster_records_find(*c->arr, *c->n, c->kind->size, id);
		if (rec == NULL) {
			roster_seterr(err, errlen, "diff: updated %s %.64s is "
			    "absent", c->kind->name, id);
			return -1;
		}
		if (apply_changes(c->kind, rec, roster_member(u, "changes"),
		    allow_extra, err, errlen) == -1)
			return -1;
	}
	return 0;
}

static int
apply_records(struct collection *c, json_object *diff, const char *key,
    int allow_extra, char *err, size_t errlen)
{
	json_object	*g, *added, *updated, *removed;

	if (need(diff, key, json_type_object, 0, &g, err, errlen) == -1 ||
	    need(g, "added", json_type_array, 0, &added, err, errlen) == -1 ||
	    need(g, "updated", json_type_array, 0, &updated, err,
	    errlen) == -1 ||
	    need(g, "removed", json_type_array, 0, &removed, err,
	    errlen) == -1)
		return -1;
	if (apply_removed(c, removed, err, errlen) == -1 ||
	    apply_added(c, added, allow_extra, err, errlen) == -1 ||
	    apply_updated(c, updated, allow_extra, err, errlen) == -1)
		return -1;
	return 0;
}

static int
enrollment_cmp(const struct enrollment *a, const struct enrollment *b)
{
	int	c = strcmp(a->section, b->section);

	return c != 0 ? c : strcmp(a->student, b->student);
}

static const char *
enrollment_id(json_object *e, const char *key)
{
	json_object	*v = roster_member(e, key);
	size_t		 len;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > ROSTER_ID_MAX ||
	    strlen(json_object_get_string(v)) != len)
		return NULL;
	return json_object_get_string(v);
}

/* Parse an enrollment list, checked to be strictly ascending. */
static struct enrollment *
parse_enrollments(json_object *list, const char *what, size_t *np, char *err,
    size_t errlen)
{
	struct enrollment	*e;
	json_object		*v;
	size_t			 i, n = json_object_array_length(list);

	e = xreallocarray(NULL, n + 1, sizeof(*e));
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(list, i);
		e[i].section = enrollment_id(v, "section");
		e[i].student = enrollment_id(v, "student");
		if (e[i].section == NULL || e[i].student == NULL) {
			roster_seterr(err, errlen, "diff: enrollments.%s[%zu]: "
			    "expected {\"section\":id,\"student\":id}", what, i);
			goto fail;
		}
		if (i > 0 && enrollment_cmp(&e[i - 1], &e[i]) >= 0) {
			roster_seterr(err, errlen, "diff: enrollments.%s: not "
			    "sorted at %s/%s", what, e[i].section,
			    e[i].student);
			goto fail;
		}
	}
	*np = n;
	return e;
fail:
	free(e);
	return NULL;
}

/* Length of the run of enrollments of e[0].section. */
static size_t
run_length(const struct enrollment *e, size_t n)
{
	size_t	k = 1;

	while (k < n && strcmp(e[k].section, e[0].section) == 0)
		k++;
	return k;
}

static struct roster_section *
run_section(struct roster *r, const struct enrollment *e, const char *what,
    char *err, size_t errlen)
{
	struct roster_section	*s;

	s = roster_records_find(r->sections, r->nsections,
	    sizeof(*r->sections), e->section);
	if (s == NULL) {
		roster_seterr(err, errlen, "diff: %s enrollment %s/%s: no such "
		    "section", what, e->section, e->student);
	}
	return s;
}

/* Remove a sorted run of students from a section, all or nothing. */
static int
remove_run(struct roster_section *s, const struct enrollment *e, size_t m,
    char *err, size_t errlen)
{
	size_t	i, j = 0, kept = 0;

	for (i = 0; i < m; i++) {
		if (!roster_idlist_contains(s->students, s->nstudents,
		    e[i].student)) {
			roster_seterr(err, errlen, "diff: removed enrollment "
			    "%s/%s is absent", e[i].section, e[i].student);
			return -1;
		}
	}
	for (i = 0; i < s->nstudents; i++) {
		if (j < m && strcmp(s->students[i], e[j].student) == 0) {
			free(s->students[i]);
			j++;
			continue;
		}
		s->students[kept++] = s->students[i];
	}
	s->nstudents = kept;
	return 0;
}

/* Merge a sorted run of students into a section, all or nothing. */
static int
add_run(struct roster_section *s, const struct enrollment *e, size_t m,
    char *err, size_t errlen)
{
	char	**out;
	size_t	  i = 0, j = 0, k = 0;

	for (j = 0; j < m; j++) {
		if (roster_idlist_contains(s->students, s->nstudents,
		    e[j].student)) {
			roster_seterr(err, errlen, "diff: added enrollment "
			    "%s/%s is already present", e[j].section,
			    e[j].student);
			return -1;
		}
	}
	out = xreallocarray(NULL, s->nstudents + m + 1, sizeof(*out));
	for (j = 0; i < s->nstudents || j < m; k++) {
		if (j == m || (i < s->nstudents &&
		    strcmp(s->students[i], e[j].student) < 0))
			out[k] = s->students[i++];
		else
			out[k] = xstrdup(e[j++].student);
	}
	free(s->students);
	s->students = out;
	s->nstudents = k;
	return 0;
}

static int
apply_enrollments(struct roster *r, json_object *list, int adding,
    char *err, size_t errlen)
{
	struct enrollment	*e;
	struct roster_section	*s;
	const char		*what = adding ? "added" : "removed";
	size_t			 n, i, m;
	int			 rc = -1;

	if ((e = parse_enrollments(list, what, &n, err, errlen)) == NULL)
		return -1;
	for (i = 0; i < n; i += m) {
		m = run_length(e + i, n - i);
		if ((s = run_section(r, e + i, what, err, errlen)) == NULL)
			goto out;
		if ((adding ? add_run : remove_run)(s, e + i, m, err,
		    errlen) == -1)
			goto out;
	}
	rc = 0;
out:
	free(e);
	return rc;
}

int
roster_apply(struct roster *r, json_object *diff, char *err, size_t errlen)
{
	struct collection	 sections = { &roster_section_kind,
	    (void **)&r->sections, &r->nsections, &r->sections_cap };
	struct collection	 students = { &roster_user_kind,
	    (void **)&r->students, &r->nstudents, &r->students_cap };
	json_object		*v, *hdr, *teacher, *enr, *enr_added, *enr_removed;
	char			 why[256];
	int			 allow_extra;

	if (!json_object_is_type(diff, json_type_object)) {
		roster_seterr(err, errlen, "diff: expected an object, got %s",
		    roster_json_type_name(diff));
		return -1;
	}
	if (need(diff, "format", json_type_int, 0, &v, err, errlen) == -1)
		return -1;
	if (json_object_get_int64(v) != ROSTER_DIFF_FORMAT) {
		roster_seterr(err, errlen, "diff: unsupported format %lld",
		    (long long)json_object_get_int64(v));
		return -1;
	}
	if (need(diff, "roster", json_type_object, 0, &hdr, err, errlen) == -1 ||
	    need(diff, "teacher", json_type_object, 0, &teacher, err,
	    errlen) == -1 ||
	    need(diff, "enrollments", json_type_object, 0, &enr, err,
	    errlen) == -1 ||
	    need(enr, "added", json_type_array, 0, &enr_added, err,
	    errlen) == -1 ||
	    need(enr, "removed", json_type_array, 0, &enr_removed, err,
	    errlen) == -1)
		return -1;
	if (apply_header(r, hdr, err, errlen) == -1)
		return -1;
	allow_extra = r->fields == ROSTER_FIELDS_DISTRICT;
	if (apply_teacher(r, teacher, err, errlen) == -1 ||
	    apply_enrollments(r, enr_removed, 0, err, errlen) == -1 ||
	    apply_records(&sections, diff, "sections", allow_extra, err,
	    errlen) == -1 ||
	    apply_records(&students, diff, "students", allow_extra, err,
	    errlen) == -1 ||
	    apply_enrollments(r, enr_added, 1, err, errlen) == -1)
		return -1;
	if (roster_validate(r, why, sizeof(why)) == -1) {
		roster_seterr(err, errlen, "diff: result is invalid: %s", why);
		return -1;
	}
	r->version++;
	return 0;
}
