/*
 * The ETag record: what a full sync leaves in the teacher's state (field
 * "etags") so that the next sync can ask Clever with If-None-Match.  Pure:
 * text in, text out, no Redis, no configuration (tests/unit/test_etag.c,
 * tests/fuzz/fuzz_etag.c).  The format, one line each:
 *
 *	E1 FINGERPRINT VERSION		(%016llx, %llu)
 *	AUTHORIZED_BY \t DISTRICT \t EMAIL \t EXACT	("" for none)
 *	KIND \t FIRST \t ETAG \t URL	(one a response)
 *
 * A record vouches only for the fingerprint and snapshot version in its
 * first line; it holds tabs and newlines as separators, so no value in it
 * may contain them.  EXACT (%u) is a set of the caller's kinds, bit 1 <<
 * KIND: those whose unchanged answers the snapshot at that version holds
 * exactly.  A record written before it had one (three fields) holds none.
 */
#ifndef ROSTERD_ETAG_H
#define ROSTERD_ETAG_H

#include <stddef.h>
#include <stdint.h>

/* The fingerprint: FNV-1a over strings, each ended by a separator. */
#define ETAG_FP_INIT	0xcbf29ce484222325ULL
uint64_t	 etag_fp_add(uint64_t fp, const char *);

/* Whether a value can go into a record (NULL can: it is written ""). */
int		 etag_value_safe(const char *);

/*
 * Append one response's line to *entries (malloc'ed, *len its length; NULL
 * and 0 to start).  kind is the caller's request kind (0 or more); first:
 * whether the request needs no other's answer.  -1, appending nothing, if
 * the ETag is NULL or empty or a value cannot go into a record.
 */
int		 etag_entry_add(char **entries, size_t *len, int kind,
		    int first, const char *etag, const char *url);

/* The record of these entries (malloc'ed), or NULL if a value is unsafe. */
char		*etag_record_build(uint64_t fp, uint64_t version,
		    const char *authorized_by, const char *district,
		    const char *email_lc, unsigned exact, const char *entries);

struct etag_entry {
	int		 kind;
	int		 first;
	const char	*etag;
	const char	*url;
};

struct etag_record {
	const char		*authorized_by;	/* "" for none */
	const char		*district;
	const char		*email_lc;
	unsigned		 exact;		/* 0 in a record without */
	struct etag_entry	*entries;
	size_t			 n;
	char			*buf;		/* the strings are in it */
};

/*
 * Parse a record that vouches for fp and version: every entry's kind below
 * nkinds, its ETag not empty, its URL under url_prefix.  0 with *out
 * filled (free with etag_record_free), or -1 with *out empty when the
 * record is for something else, truncated, or not sound.
 */
int		 etag_record_parse(const char *rec, uint64_t fp,
		    uint64_t version, const char *url_prefix, int nkinds,
		    struct etag_record *out);
void		 etag_record_free(struct etag_record *);

#endif
