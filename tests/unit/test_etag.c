/*
 * The ETag record (daemon/etag.c): built and parsed back, unsafe values
 * refused, and records for something else, truncated or garbled, ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etag.h"

#define FP	0x0123456789abcdefULL
#define VER	42
#define API	"https://api.clever.com/v3.0"
#define NKINDS	5

/* The record of two responses that most tests start from. */
static char *
sample(void)
{
	char *entries = NULL, *rec;
	size_t len = 0;

	assert_int_equal(etag_entry_add(&entries, &len, 0, 1, "\"me-1\"",
	    API "/me"), 0);
	assert_int_equal(etag_entry_add(&entries, &len, 4, 0, "W/\"s-2\"",
	    API "/sections/s1/users?role=student"), 0);
	assert_int_equal(len, strlen(entries));
	rec = etag_record_build(FP, VER, "district", "d1", "t@example.org",
	    0x13, entries);
	free(entries);
	assert_non_null(rec);
	return rec;
}

static int
parse(const char *rec, struct etag_record *r)
{
	return etag_record_parse(rec, FP, VER, API, NKINDS, r);
}

static void
assert_meta(const struct etag_record *r, const char *authorized_by,
    const char *district, const char *email_lc)
{
	assert_string_equal(r->authorized_by, authorized_by);
	assert_string_equal(r->district, district);
	assert_string_equal(r->email_lc, email_lc);
}

static void
assert_entry(const struct etag_entry *e, int kind, int first,
    const char *etag, const char *url)
{
	assert_int_equal(e->kind, kind);
	assert_int_equal(e->first, first);
	assert_string_equal(e->etag, etag);
	assert_string_equal(e->url, url);
}

static void
test_round_trip(void **state)
{
	struct etag_record r;
	char *rec = sample();

	assert_string_equal(rec, "E1 0123456789abcdef 42\n"
	    "district\td1\tt@example.org\t19\n"
	    "0\t1\t\"me-1\"\t" API "/me\n"
	    "4\t0\tW/\"s-2\"\t" API "/sections/s1/users?role=student\n");
	assert_int_equal(parse(rec, &r), 0);
	assert_meta(&r, "district", "d1", "t@example.org");
	assert_int_equal(r.exact, 0x13);
	assert_int_equal(r.n, 2);
	assert_entry(&r.entries[0], 0, 1, "\"me-1\"", API "/me");
	assert_entry(&r.entries[1], 4, 0, "W/\"s-2\"",
	    API "/sections/s1/users?role=student");
	etag_record_free(&r);
	assert_null(r.entries);
	assert_null(r.buf);
	free(rec);
}

/* A record written before EXACT (three fields) holds nothing exactly. */
static void
test_without_exact(void **state)
{
	struct etag_record r;

	assert_int_equal(parse("E1 0123456789abcdef 42\nteacher\t\tm\n"
	    "0\t1\te\t" API "/me\n", &r), 0);
	assert_meta(&r, "teacher", "", "m");
	assert_int_equal(r.exact, 0);
	assert_int_equal(r.n, 1);
	etag_record_free(&r);
}

/* No account, no district, no e-mail: empty fields, parsed as "". */
static void
test_empty_meta(void **state)
{
	struct etag_record r;
	char *entries = NULL, *rec;
	size_t len = 0;

	assert_int_equal(etag_entry_add(&entries, &len, 0, 7, "e", API "/me"),
	    0);
	assert_string_equal(entries, "0\t1\te\t" API "/me\n");	/* first: 0/1 */
	rec = etag_record_build(FP, VER, NULL, NULL, "", 0, entries);
	assert_string_equal(rec, "E1 0123456789abcdef 42\n\t\t\t0\n"
	    "0\t1\te\t" API "/me\n");
	assert_int_equal(parse(rec, &r), 0);
	assert_meta(&r, "", "", "");
	assert_int_equal(r.exact, 0);
	assert_int_equal(r.n, 1);
	assert_entry(&r.entries[0], 0, 1, "e", API "/me");
	etag_record_free(&r);
	free(entries);
	free(rec);
}

static void
test_unsafe_entries(void **state)
{
	static const struct {
		int		 kind;
		const char	*etag, *url;
	} bad[] = {
		{ 0, NULL, API "/me" },		/* a 200 without an ETag */
		{ 0, "", API "/me" },
		{ 0, "a\tb", API "/me" },
		{ 0, "a\nb", API "/me" },
		{ 0, "\n", API "/me" },
		{ 0, "e", API "/me\t" },
		{ 0, "e", API "/me\nE1 x" },
		{ 0, "e", NULL },
		{ -1, "e", API "/me" },
	};
	char *entries, *before;
	size_t i, len;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		entries = NULL;
		len = 0;
		assert_int_equal(etag_entry_add(&entries, &len, 0, 1, "ok",
		    API "/me"), 0);
		before = strdup(entries);
		assert_int_equal(etag_entry_add(&entries, &len, bad[i].kind, 1,
		    bad[i].etag, bad[i].url), -1);
		assert_string_equal(entries, before);	/* nothing appended */
		assert_int_equal(len, strlen(before));
		free(before);
		free(entries);
	}
	assert_true(etag_value_safe(NULL));
	assert_true(etag_value_safe(""));
	assert_true(etag_value_safe("W/\"x y\""));
	assert_false(etag_value_safe("\t"));
	assert_false(etag_value_safe("x\n"));
}

static void
test_unsafe_meta(void **state)
{
	const char *e = "0\t1\te\t" API "/me\n";

	assert_null(etag_record_build(FP, VER, "a\tb", "d", "m", 0, e));
	assert_null(etag_record_build(FP, VER, "a", "d\n", "m", 0, e));
	assert_null(etag_record_build(FP, VER, "a", "d", "m\nx", 0, e));
	assert_null(etag_record_build(FP, VER, "a", "d", "m", 0, NULL));
}

/* A record vouches only for its own fingerprint and version. */
static void
test_header(void **state)
{
	struct etag_record r;
	char *rec = sample(), *p;

	assert_int_equal(etag_record_parse(rec, FP + 1, VER, API, NKINDS, &r),
	    -1);
	assert_null(r.entries);
	assert_null(r.buf);
	assert_int_equal(etag_record_parse(rec, FP, VER + 1, API, NKINDS, &r),
	    -1);
	assert_int_equal(etag_record_parse(rec, FP, 4, API, NKINDS, &r), -1);
	assert_int_equal(etag_record_parse(rec, FP, 420, API, NKINDS, &r), -1);
	/* another format */
	rec[1] = '2';
	assert_int_equal(parse(rec, &r), -1);
	rec[1] = '1';
	/* the fingerprint in other digits */
	p = strchr(rec, 'a');
	*p = 'A';
	assert_int_equal(parse(rec, &r), -1);
	*p = 'a';
	assert_int_equal(parse(rec, &r), 0);
	etag_record_free(&r);
	free(rec);

	assert_int_equal(parse("E1 0123456789abcdef 42 \n\t\t\n"
	    "0\t1\te\t" API "/me\n", &r), -1);
	assert_int_equal(parse(" E1 0123456789abcdef 42\n\t\t\n"
	    "0\t1\te\t" API "/me\n", &r), -1);
	assert_int_equal(parse("E1 123456789abcdef 42\n\t\t\n"
	    "0\t1\te\t" API "/me\n", &r), -1);
	assert_int_equal(parse("E1 0123456789abcdef 042\n\t\t\n"
	    "0\t1\te\t" API "/me\n", &r), -1);
}

/* Cut anywhere before the first entry's URL: refused. */
static void
test_truncated(void **state)
{
	struct etag_record r;
	char *rec = sample(), *cut;
	size_t len, upto = (size_t)(strstr(rec, API "/me") - rec) +
	    strlen(API);

	for (len = 0; len < upto; len++) {
		cut = strndup(rec, len);
		assert_int_equal(parse(cut, &r), -1);
		free(cut);
	}
	assert_null(r.buf);
	free(rec);
}

static void
test_garbage(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"\n\n\n",
		"E1 0123456789abcdef 42",
		"E1 0123456789abcdef 42\n",
		"E1 0123456789abcdef 42\n\t\t",
		/* no entries: vouches for nothing */
		"E1 0123456789abcdef 42\n\t\t\n",
		"E1 0123456789abcdef 42\n\t\t\n\n\n",
		/* the account line: three fields, or four with EXACT */
		"E1 0123456789abcdef 42\n\t\n0\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\t\n0\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\tx\n0\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\t-1\n0\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\t1\t\n0\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n0\t1\te\t" API "/me\n",
		/* entries: four fields */
		"E1 0123456789abcdef 42\n\t\t\n0\t1\te\n",
		"E1 0123456789abcdef 42\n\t\t\n0\t1\te\t" API "/me\tx\n",
		"E1 0123456789abcdef 42\n\t\t\n0 1 e " API "/me\n",
		/* kinds: decimal, below NKINDS */
		"E1 0123456789abcdef 42\n\t\t\n5\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\n-1\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\nx\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\n\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\n 1\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\n1x\t1\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\n99999999999999999999\t1\te\t"
		    API "/me\n",
		/* first: 0 or 1 */
		"E1 0123456789abcdef 42\n\t\t\n0\t2\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\n0\t\te\t" API "/me\n",
		"E1 0123456789abcdef 42\n\t\t\n0\tyes\te\t" API "/me\n",
		/* an ETag */
		"E1 0123456789abcdef 42\n\t\t\n0\t1\t\t" API "/me\n",
		/* a URL of this API, not another host */
		"E1 0123456789abcdef 42\n\t\t\n0\t1\te\thttps://evil/me\n",
		"E1 0123456789abcdef 42\n\t\t\n0\t1\te\t\n",
		"E1 0123456789abcdef 42\n\t\t\n0\t1\te\thttps://api.clever.com"
		    "\n",
		/* one bad entry spoils the record */
		"E1 0123456789abcdef 42\n\t\t\n0\t1\te\t" API "/me\nx\n",
	};
	struct etag_record r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &r) != -1)
			fail_msg("accepted bad record %zu", i);
		assert_null(r.entries);
		assert_int_equal(r.n, 0);
	}
	assert_int_equal(parse(NULL, &r), -1);
	assert_int_equal(etag_record_parse("E1 0123456789abcdef 42\n\t\t\n"
	    "0\t1\te\t" API "/me\n", FP, VER, API, 0, &r), -1);
}

/* What parses leniently: blank lines, and a last line without "\n". */
static void
test_lenient(void **state)
{
	struct etag_record r;

	assert_int_equal(parse("E1 0123456789abcdef 42\na\tb\tc\n\n"
	    "0\t1\te\t" API "/me\n\n3\t0\tf\t" API "/x", &r), 0);
	assert_meta(&r, "a", "b", "c");
	assert_int_equal(r.n, 2);
	assert_entry(&r.entries[1], 3, 0, "f", API "/x");
	etag_record_free(&r);
	etag_record_free(&r);	/* twice: harmless */
}

/* The fingerprint: pinned, and the strings' boundaries count. */
static void
test_fingerprint(void **state)
{
	uint64_t ab_c = etag_fp_add(etag_fp_add(ETAG_FP_INIT, "ab"), "c");
	uint64_t a_bc = etag_fp_add(etag_fp_add(ETAG_FP_INIT, "a"), "bc");

	assert_true(etag_fp_add(ETAG_FP_INIT, "") == 0xaf64724c8602eb6eULL);
	assert_true(ab_c == 0x20ba9b3025a8b421ULL);
	assert_true(ab_c != a_bc);
	assert_true(etag_fp_add(ETAG_FP_INIT, "abc") != ab_c);
	assert_true(etag_fp_add(etag_fp_add(ETAG_FP_INIT, "x"), "") !=
	    etag_fp_add(ETAG_FP_INIT, "x"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_meta),
		cmocka_unit_test(test_without_exact),
		cmocka_unit_test(test_unsafe_entries),
		cmocka_unit_test(test_unsafe_meta),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_lenient),
		cmocka_unit_test(test_fingerprint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
