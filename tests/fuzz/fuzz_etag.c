/*
 * libFuzzer target: the ETag record (daemon/etag.c), read back from the
 * teacher's state before a sync.  The input is tried two ways:
 *
 *  - as a record (for the fingerprint, version and API of the seeds in
 *    corpus_etag/): what parses must build again into a record that
 *    parses to the same values and builds to the same text;
 *  - as a value: an ETag, URL or account field the record accepts must
 *    come back unchanged (a tab or newline in it must be refused).
 *
 * Never a crash, a leak, or a value that changes on the way.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etag.h"
#include "xmalloc.h"

#define FP	0x0123456789abcdefULL
#define VER	42
#define API	"https://api.clever.com/v3.0"
#define NKINDS	5

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int ok)
{
	if (!ok)
		__builtin_trap();
}

static int
parse(const char *rec, struct etag_record *r)
{
	return etag_record_parse(rec, FP, VER, API, NKINDS, r);
}

/* The record of r's values, built as the daemon builds one. */
static char *
rebuild(const struct etag_record *r)
{
	char *entries = NULL, *rec;
	size_t i, len = 0;

	for (i = 0; i < r->n; i++)
		check(etag_entry_add(&entries, &len, r->entries[i].kind,
		    r->entries[i].first, r->entries[i].etag,
		    r->entries[i].url) == 0);
	rec = etag_record_build(FP, VER, r->authorized_by, r->district,
	    r->email_lc, r->exact, entries);
	free(entries);
	check(rec != NULL);
	return rec;
}

static void
same(const struct etag_record *a, const struct etag_record *b)
{
	size_t i;

	check(a->n == b->n);
	check(strcmp(a->authorized_by, b->authorized_by) == 0);
	check(strcmp(a->district, b->district) == 0);
	check(strcmp(a->email_lc, b->email_lc) == 0);
	check(a->exact == b->exact);
	for (i = 0; i < a->n; i++) {
		check(a->entries[i].kind == b->entries[i].kind);
		check(a->entries[i].first == b->entries[i].first);
		check(strcmp(a->entries[i].etag, b->entries[i].etag) == 0);
		check(strcmp(a->entries[i].url, b->entries[i].url) == 0);
	}
}

static void
as_record(const char *in)
{
	struct etag_record r, again;
	char *rec, *rec2;

	if (parse(in, &r) == -1) {
		check(r.buf == NULL && r.entries == NULL && r.n == 0);
		return;
	}
	check(r.n > 0);
	rec = rebuild(&r);
	check(parse(rec, &again) == 0);
	same(&r, &again);
	rec2 = rebuild(&again);
	check(strcmp(rec, rec2) == 0);
	free(rec2);
	free(rec);
	etag_record_free(&again);
	etag_record_free(&r);
}

static void
as_value(const char *in)
{
	struct etag_record r;
	char *entries = NULL, *url, *rec;
	size_t len = 0;
	int safe = etag_value_safe(in);

	xasprintf(&url, "%s/%s", API, in);
	if (etag_entry_add(&entries, &len, 0, 1, in, url) == -1) {
		check(!safe || *in == '\0');
		check(entries == NULL && len == 0);
		free(url);
		return;
	}
	check(safe && *in != '\0');
	rec = etag_record_build(FP, VER, in, in, in, 0, entries);
	check(rec != NULL);
	check(parse(rec, &r) == 0);
	check(r.n == 1 && r.entries[0].kind == 0 && r.entries[0].first == 1);
	check(strcmp(r.entries[0].etag, in) == 0);
	check(strcmp(r.entries[0].url, url) == 0);
	check(strcmp(r.authorized_by, in) == 0 &&
	    strcmp(r.district, in) == 0 && strcmp(r.email_lc, in) == 0);
	etag_record_free(&r);
	free(rec);
	free(entries);
	free(url);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = xstrndup((const char *)data, size);	/* stops at a NUL */

	as_record(in);
	as_value(in);
	free(in);
	return 0;
}
