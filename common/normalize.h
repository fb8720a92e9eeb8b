/*
 * Normalization of Clever (and legacy SIS) subject and grade values to the
 * fixed sets Clever documents.  Pure functions, no I/O; the caller decides
 * whether to log an unrecognised value.  The mapping table is documented in
 * doc/roster-format.md ("Normalization").
 */
#ifndef ROSTERD_NORMALIZE_H
#define ROSTERD_NORMALIZE_H

/*
 * Map a raw value to its normalized form, case-, whitespace- and
 * punctuation-insensitively.  NULL or "" (after trimming) gives "" with
 * *known = 1.  A value that is not recognised gives "other" (subject) or
 * "Other" (grade) with *known = 0.  known may be NULL.  The returned string
 * is static and is always one of the normalized values below.
 */
const char	*normalize_subject(const char *raw, int *known);
const char	*normalize_grade(const char *raw, int *known);

/*
 * 1 if s is exactly one of the normalized values (what a canonical snapshot
 * or diff may contain), else 0.  NULL is not normalized.
 */
int		 normalize_subject_is_canonical(const char *s);
int		 normalize_grade_is_canonical(const char *s);

/*
 * A copy of the len bytes at s that is valid UTF-8: each ill-formed
 * sequence (stray or lone continuation bytes, 0xFE/0xFF, overlong forms,
 * surrogate code points, values past U+10FFFF, truncated sequences) is
 * replaced with U+FFFD, one per maximal subpart as the Unicode standard
 * recommends.  *changed (may be NULL) says whether anything was replaced.
 * NUL bytes are kept: callers refuse them before.
 */
char		*normalize_utf8(const char *s, size_t len, int *changed);

/* The normalized sets, NULL-terminated, in Clever's documented order. */
extern const char *const normalize_subjects[];
extern const char *const normalize_grades[];

#endif
