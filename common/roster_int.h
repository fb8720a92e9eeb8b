/*
 * Internals shared by roster.c, roster_record.c, roster_snapshot.c and
 * roster_diff.c.  Not part of the public interface.
 *
 * Users and sections are "records": structs whose first member is the
 * char *id, described field by field by a table (struct field_desc).  One
 * table drives serialization, loading, comparison, diffing and applying, so
 * each field is handled in exactly one place.
 */
#ifndef ROSTERD_ROSTER_INT_H
#define ROSTERD_ROSTER_INT_H

#include <stdarg.h>
#include <stddef.h>

#include "roster.h"

enum field_type {
	FT_STR,		/* char *, never NULL in a valid record */
	FT_OPTSTR,	/* char *, NULL = absent (serialized as null/omitted) */
	FT_IDLIST,	/* char ** + size_t count */
	FT_EXTRA	/* json_object *, NULL = none */
};

struct field_desc {
	const char	*name;
	enum field_type	 type;
	size_t		 off;		/* of the pointer */
	size_t		 count_off;	/* FT_IDLIST: of the size_t count */
	size_t		 max;		/* longest accepted string */
	int		(*check)(const char *);	/* allowed values, or NULL */
};

/* A kind of record: its table, its size and how to free one. */
struct record_kind {
	const char		*name;		/* "section", "student", ... */
	const struct field_desc	*fields;	/* fields[0] is "id" */
	size_t			 nfields;
	size_t			 size;
	void			(*clear)(void *);	/* free members */
	void			(*derive)(void *);	/* derived members, or NULL */
};

extern const struct record_kind roster_user_kind;
extern const struct record_kind roster_section_kind;
/* A student's fields in a format 2 snapshot, in array order. */
extern const struct field_desc *const roster_student_columns[];
extern const size_t roster_nstudent_columns;

/* The id of a record (its first member). */
#define REC_ID(rec)	(*(char *const *)(const void *)(rec))

/* errors */
void	 roster_seterr(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* strings */
int	 roster_strcmp_ptr(const void *, const void *);	/* for char ** */
char	*roster_trimdup(const char *s, size_t len);
void	 roster_user_derive(struct roster_user *);	/* email_lc */
void	 roster_user_clear(void *);
void	 roster_section_clear(void *);
void	 roster_idlist_free(char **, size_t);

/* records and fields */
json_object *roster_field_to_json(const void *rec, const struct field_desc *);
int	 roster_field_from_json(void *rec, const struct field_desc *,
	    json_object *, int allow_extra, char *err, size_t errlen);
int	 roster_field_equal(const void *a, const void *b,
	    const struct field_desc *);
void	 roster_field_clear(void *rec, const struct field_desc *);
json_object *roster_record_to_json(const struct record_kind *,
	    const void *rec);
int	 roster_record_from_json(const struct record_kind *, void *rec,
	    json_object *, int allow_extra, char *err, size_t errlen);
int	 roster_record_equal(const struct record_kind *, const void *a,
	    const void *b);
json_object *roster_record_changes(const struct record_kind *,
	    const void *a, const void *b);

/*
 * Text output (snapshots): a growing buffer and JSON writers that give the
 * same text json-c would for the same values, without building a tree.
 */
struct sbuf {
	char	*s;
	size_t	 len, cap;
};
void	 sbuf_put(struct sbuf *, const char *, size_t);
/* lit must be a string literal: "" lit "" refuses anything else */
#define	 SBUF_LIT(sb, lit)	sbuf_put((sb), "" lit "", sizeof(lit) - 1)
void	 sbuf_num(struct sbuf *, unsigned long long);	/* decimal */
void	 sbuf_json_str(struct sbuf *, const char *);	/* quoted, escaped */
void	 sbuf_json_idlist(struct sbuf *, char *const *, size_t);
void	 sbuf_json_optstr(struct sbuf *, const char *);	/* or null */
void	 roster_field_write_value(struct sbuf *, const void *rec,
	    const struct field_desc *);
void	 roster_record_write(struct sbuf *, const struct record_kind *,
	    const void *rec, int close);

/* json helpers */
/* o's member key, or NULL (o may be NULL or not an object) */
static inline json_object *
roster_member(json_object *o, const char *key)
{
	json_object	*v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}
json_object *roster_extra_canonical(json_object *);	/* sorted deep copy */
const char *roster_json_type_name(json_object *);

/* sorted arrays of records */
void	 roster_records_sort(void *base, size_t n, size_t size);  /* stable */
size_t	 roster_records_dedupe(const struct record_kind *, void *base,
	    size_t n);					/* first wins */
void	*roster_records_find(const void *base, size_t n, size_t size,
	    const char *id);
size_t	 roster_idlist_sort_dedupe(char **, size_t);
int	 roster_idlist_contains(char *const *, size_t, const char *);

/* invariants of a finished roster */
int	 roster_validate(const struct roster *, char *err, size_t errlen);

#endif
