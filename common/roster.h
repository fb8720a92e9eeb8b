/*
 * The roster model: one teacher, the teacher's sections and the students
 * enrolled in them, normalized and minimized to the Clever Library
 * teacher-shared data set (or, for district authorizations, with the
 * district-level extras kept apart in "extra").
 *
 * Life cycle of a sync:
 *	r = roster_new(fields);
 *	roster_set_auth(r, "teacher", NULL);
 *	roster_set_teacher(r, user_envelope, ...);
 *	roster_add_sections(r, page, ...);		(once per page)
 *	roster_select_sections(r, ids, n);		(optional)
 *	roster_add_students(r, page, ...);		(once per page)
 *	roster_finish(r, 0, ...);
 *	old = roster_from_snapshot(stored, ...);	(or NULL: nothing yet)
 *	diff = roster_diff(old, r);
 *	r->version = old->version + 1;
 *	snap = roster_snapshot(r, &len);
 *
 * The snapshot and diff formats are documented in doc/roster-format.md.
 * Everything here is pure: no I/O except log_warnx() for dropped or
 * unrecognised input.
 */
#ifndef ROSTERD_ROSTER_H
#define ROSTERD_ROSTER_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/*
 * Format versions written in snapshots ("format":2) and diffs
 * ("format":1).  Snapshot format 2 stores enrollments as indices into the
 * students array and students as arrays, about half the bytes of format 1
 * in Redis; format 1 snapshots (before the upgrade) are still read.  The
 * snapshot format is part of the conditional-request fingerprint.
 */
#define ROSTER_SNAPSHOT_FORMAT	2
#define ROSTER_DIFF_FORMAT	1

/*
 * Version of the normalization rules (subjects, grades, names, trimming):
 * bump it with any change to what a given Clever response normalizes to,
 * so that remembered ETags no longer vouch for the stored snapshot.
 */
#define ROSTER_RULES	2	/* 2: names repaired to valid UTF-8 */

/* Longest id and longest other string accepted from Clever or a snapshot. */
#define ROSTER_ID_MAX	128
#define ROSTER_STR_MAX	4096

enum roster_fieldset {
	ROSTER_FIELDS_LIBRARY = 0,	/* teacher-shared set only */
	ROSTER_FIELDS_DISTRICT		/* plus district-level "extra" */
};

struct roster_user {		/* teacher or student */
	char		*id;
	char		*first, *middle, *last;	/* trimmed; middle may be NULL;
						   students: last initial only */
	char		*email;		/* as given (trimmed), NULL if none */
	char		*email_lc;	/* lower-cased email, derived */
	char		*grade;		/* normalized, "" if none */
	json_object	*extra;		/* DISTRICT extras, else NULL */
};

struct roster_section {
	char		*id, *name, *section_number;
	char		*subject;	/* normalized */
	char		*grade;		/* normalized, "" if none */
	char		**teachers;	/* Clever order: primary first */
	size_t		 nteachers;
	char		**students;	/* enrollments, sorted by id */
	size_t		 nstudents;
	json_object	*extra;
};

/*
 * Raw subject or grade values that normalization did not recognise (and
 * made "other"/"Other"): distinct, valid UTF-8, at most 64 bytes each, the
 * first ROSTER_UNREC_MAX of each kind.
 */
#define ROSTER_UNREC_MAX	16
#define ROSTER_UNREC_LEN	64
struct roster_unrec {
	char		*v[ROSTER_UNREC_MAX];
	size_t		 n;
};

struct roster {
	uint64_t		 version;	/* 0 = nothing synced */
	enum roster_fieldset	 fields;
	char			*authorized_by;	/* "teacher" | "district" | NULL */
	char			*district;	/* NULL for Library */
	struct roster_user	 teacher;	/* teacher.id NULL until set */
	struct roster_section	*sections;	/* sorted by id after finish */
	size_t			 nsections;
	struct roster_user	*students;	/* sorted by id after finish */
	size_t			 nstudents;
	struct roster_unrec	 unrec_subjects, unrec_grades;
	unsigned		 inexact;	/* ROSTER_INEXACT_* */

	/* Internal bookkeeping. */
	size_t			 sections_cap;
	size_t			 students_cap;
};

/*
 * What building the roster left out of, or changed in, the answers it was
 * built from (bits of r->inexact): without them a finished roster holds
 * that part's answers exactly, and a part Clever answers unchanged can be
 * taken from the snapshot instead of asked again (roster_take()).
 */
#define ROSTER_INEXACT_SECTIONS	0x1	/* an unrecognised subject or grade,
					   a duplicate section, an enrollment
					   without its student record, a
					   section not selected */
#define ROSTER_INEXACT_STUDENTS	0x2	/* an unrecognised grade, a student
					   no kept section enrolls */

struct roster	*roster_new(enum roster_fieldset);
void		 roster_free(struct roster *);	/* NULL ok */
void		 roster_set_auth(struct roster *, const char *authorized_by,
		    const char *district);
const char	*roster_fieldset_name(enum roster_fieldset);

/*
 * Parsers take the whole Clever response envelope.  Return 0, or -1 with a
 * clear message in err (the roster is then unchanged by the bad item but may
 * hold items parsed before it; callers discard it).
 */
/* {"data":{user},"links":[...]} */
int	roster_set_teacher(struct roster *, json_object *user_envelope,
	    char *err, size_t errlen);
/* {"data":[{"data":{section},"uri":...}],"links":[...]}; appends. */
int	roster_add_sections(struct roster *, json_object *list_page,
	    char *err, size_t errlen);
/*
 * A list of users (/users/{id}/mystudents or /sections/{id}/users?role=
 * student); appends.  Users that have roles but no student role are skipped.
 * Duplicates are allowed and merged by roster_finish (first one wins).
 */
int	roster_add_students(struct roster *, json_object *list_page,
	    char *err, size_t errlen);

/*
 * Move parts (ROSTER_PART_*) of src, a finished roster, into dst, one being
 * built that has not got them (its own are freed): a part Clever answered
 * unchanged, taken from the snapshot.  src keeps the rest.
 */
#define ROSTER_PART_TEACHER	0x1
#define ROSTER_PART_SECTIONS	0x2
#define ROSTER_PART_STUDENTS	0x4
void	roster_take(struct roster *dst, struct roster *src, unsigned parts);

/*
 * Keep only these sections (the teacher's "Sync Classes" choice).  Call after
 * the sections are added and before the students.  ids == NULL means all;
 * n == 0 with ids != NULL means none.
 */
void	roster_select_sections(struct roster *, const char *const *ids,
	    size_t n);

enum {
	ROSTER_FINISH_SECTIONS_ONLY = 1	/* discovery: no students/enrollments */
};
/*
 * Sort by id, merge duplicates, drop students not enrolled in a kept section,
 * drop enrollments whose student record is missing (one log_warnx per
 * section with a count) and validate.  Subjects and grades are normalized
 * as they are parsed; unrecognised raw values are kept in unrec_*.
 */
int	roster_finish(struct roster *, int flags, char *err, size_t errlen);

/*
 * The unrecognised raw values as canonical JSON,
 * {"grade":[...],"subject":[...]} with sorted lists, and their number;
 * NULL (and 0) when there are none.
 */
char	*roster_unrecognised_json(struct roster *, size_t *count);

/*
 * Canonical snapshot JSON: deterministic, self-describing, byte-for-byte
 * stable through roster_from_snapshot().  malloc'ed and NUL-terminated;
 * *lenp (may be NULL) gets its length.
 */
char		*roster_snapshot(const struct roster *, size_t *lenp);
struct roster	*roster_from_snapshot(const char *json, size_t len, char *err,
		    size_t errlen);
/*
 * 1 if two snapshot texts hold the same roster, whatever their versions:
 * snapshots are canonical, so this is a comparison of bytes, no parsing.
 */
int		 roster_snapshot_same(const char *a, size_t alen, const char *b,
		    size_t blen);

/*
 * The content hash: the first ROSTER_HASH_LEN hex digits of the SHA-256
 * of the canonical (current format) text without its version field, so
 * equal content hashes equal at any version; "" for the empty roster
 * (NULL, or no teacher, section or student: never synced, or forgotten).
 * roster_snapshot_hash() hashes a snapshot text as roster_snapshot()
 * writes it: -1 (and "") for any other text, an older format included.
 */
#define ROSTER_HASH_LEN	32
void		 roster_hash(const struct roster *, char out[ROSTER_HASH_LEN + 1]);
int		 roster_snapshot_hash(const char *, size_t,
		    char out[ROSTER_HASH_LEN + 1]);

/*
 * Diff from old (NULL = empty roster) to new_: added / updated (field by
 * field, old and new) / removed for the roster, teacher, sections, students
 * and enrollments, in a deterministic order.  The diff carries no versions.
 */
json_object	*roster_diff(const struct roster *old, const struct roster *new_);
int		 roster_diff_is_empty(json_object *diff);

struct roster_diff_counts {
	unsigned	added, updated, removed;	/* totals */
	unsigned	sections_added, sections_updated, sections_removed;
	unsigned	students_added, students_updated, students_removed;
	unsigned	enrollments_added, enrollments_removed;
	unsigned	teacher_updated;	/* 1 if any teacher field changed */
};
void	roster_diff_count(json_object *diff, struct roster_diff_counts *);
/*
 * The same diff as JSON text, without building a tree (what the daemon
 * writes), with its counts (counts and lenp may be NULL).  malloc'ed,
 * NUL-terminated.  roster_diff() is this text, parsed.
 */
char	*roster_diff_text(const struct roster *old, const struct roster *new_,
	    size_t *lenp, struct roster_diff_counts *counts);

/*
 * Apply a diff to base in place (base may be an empty roster_new()).
 * Strict: adding something present, an update whose old value does not
 * match, or removing something absent (or different) is an error.  On
 * success base->version is advanced by one (the daemon's convention: each
 * diff is one version step).  On error base is in an unspecified state
 * that may break the roster invariants: only roster_free() it (apply to a
 * copy when the original must survive a bad diff).
 */
int	roster_apply(struct roster *base, json_object *diff, char *err,
	    size_t errlen);

/*
 * Shrink guard: 1 if going from old to new_ removes suspiciously much (a
 * section present in both that had at least section_min_students losing
 * more than section_max_loss_pct% of them, or, with teacher_all_sections,
 * a teacher losing every section when they had at least one), with the
 * reason in why; else 0.  old NULL or conf->enabled == 0 gives 0.
 */
struct roster_shrink_conf {
	int		enabled;
	unsigned	section_min_students;
	unsigned	section_max_loss_pct;
	int		teacher_all_sections;
};
int	roster_shrink_check(const struct roster *old,
	    const struct roster *new_, const struct roster_shrink_conf *,
	    char *why, size_t whylen);

/* Lookups by id in a finished roster (binary search); NULL if absent. */
const struct roster_section *roster_find_section(const struct roster *,
	    const char *id);
const struct roster_user *roster_find_student(const struct roster *,
	    const char *id);

#endif
