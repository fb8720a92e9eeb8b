/* The JSON a job writes (daemon/job_json.c), to the byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "contract.h"
#include "job_json.h"

/* The counts of a diff that changed nothing, up to "unrecognised". */
#define ZERO_COUNTS	"{\"added\":0,\"updated\":0,\"removed\":0," \
	"\"sections_added\":0,\"sections_updated\":0," \
	"\"sections_removed\":0,\"students_added\":0," \
	"\"students_updated\":0,\"students_removed\":0," \
	"\"enrollments_added\":0,\"enrollments_removed\":0," \
	"\"teacher_updated\":0,"

static void
assert_counts(const struct roster_diff_counts *c, const char *unrec,
    const char *want)
{
	char *s = job_counts_json(c, unrec);

	assert_string_equal(s, want);
	free(s);
}

static void
test_counts_none(void **state)
{
	struct roster_diff_counts c;

	memset(&c, 0, sizeof(c));
	assert_counts(&c, NULL, ZERO_COUNTS "\"unrecognised\":0}");
}

/* Each count in its own field, and the values as one JSON string. */
static void
test_counts_unrecognised(void **state)
{
	struct roster_diff_counts c = {
		.added = 1, .updated = 2, .removed = 3,
		.sections_added = 4, .sections_updated = 5,
		.sections_removed = 6, .students_added = 7,
		.students_updated = 8, .students_removed = 9,
		.enrollments_added = 10, .enrollments_removed = 11,
		.teacher_updated = 1,
	};

	assert_counts(&c, "{\"grade\":[\"13th\"],"
	    "\"subject\":[\"Basket Weaving\",\"Art/Craft\"]}",
	    "{\"added\":1,\"updated\":2,\"removed\":3,"
	    "\"sections_added\":4,\"sections_updated\":5,"
	    "\"sections_removed\":6,\"students_added\":7,"
	    "\"students_updated\":8,\"students_removed\":9,"
	    "\"enrollments_added\":10,\"enrollments_removed\":11,"
	    "\"teacher_updated\":1,\"unrecognised\":3,"
	    "\"unrecognised_values\":\"{\\\"grade\\\":[\\\"13th\\\"],"
	    "\\\"subject\\\":[\\\"Basket Weaving\\\",\\\"Art\\/Craft\\\"]}\"}");
}

/* Only lists count; what is not JSON counts nothing but still goes. */
static void
test_counts_odd_values(void **state)
{
	struct roster_diff_counts c;

	memset(&c, 0, sizeof(c));
	assert_counts(&c, "{\"grade\":\"x\",\"subject\":[\"y\"]}",
	    ZERO_COUNTS "\"unrecognised\":1,\"unrecognised_values\":"
	    "\"{\\\"grade\\\":\\\"x\\\",\\\"subject\\\":[\\\"y\\\"]}\"}");
	assert_counts(&c, "not json\n", ZERO_COUNTS "\"unrecognised\":0,"
	    "\"unrecognised_values\":\"not json\\n\"}");
	assert_counts(&c, "", ZERO_COUNTS "\"unrecognised\":0,"
	    "\"unrecognised_values\":\"\"}");
}

static void
test_sections(void **state)
{
	char *t1[] = { "t1" }, *t2[] = { "t2", "t1" };
	struct roster_section secs[] = {
		{ .id = "s1", .name = "Math \"A\"", .section_number = "101",
		  .subject = "math", .grade = "7", .teachers = t1,
		  .nteachers = 1 },
		{ .id = "s2", .subject = "homeroom/advisory", .grade = "",
		  .teachers = t2, .nteachers = 2 },
		{ .id = "s3", .name = "\xc3\x89tude", .section_number = "",
		  .subject = "other", .grade = "Other" },
	};
	struct roster r;
	size_t len = 0, n = 0;
	char *s;

	memset(&r, 0, sizeof(r));
	r.sections = secs;
	r.nsections = 3;
	s = job_sections_json(&r, &len, &n);
	assert_string_equal(s, "["
	    "{\"id\":\"s1\",\"name\":\"Math \\\"A\\\"\",\"section_number\":"
	    "\"101\",\"subject\":\"math\",\"grade\":\"7\",\"teachers\":"
	    "[\"t1\"]},"
	    "{\"id\":\"s2\",\"name\":\"\",\"section_number\":\"\",\"subject\":"
	    "\"homeroom/advisory\",\"grade\":\"\",\"teachers\":"
	    "[\"t2\",\"t1\"]},"
	    "{\"id\":\"s3\",\"name\":\"\xc3\x89tude\",\"section_number\":\"\","
	    "\"subject\":\"other\",\"grade\":\"Other\",\"teachers\":[]}]");
	assert_int_equal(len, strlen(s));
	assert_int_equal(n, 3);
	free(s);

	/* not yet finished (before the selection): sorted, each once */
	secs[0].id = "s9";
	secs[2].id = "s2";
	s = job_sections_json(&r, &len, &n);
	assert_int_equal(n, 2);
	assert_non_null(strstr(s, "[{\"id\":\"s2\""));
	assert_non_null(strstr(s, "},{\"id\":\"s9\""));
	free(s);

	r.nsections = 0;
	s = job_sections_json(&r, &len, &n);
	assert_string_equal(s, "[]");
	assert_int_equal(len, 2);
	assert_int_equal(n, 0);
	free(s);
}

/* A job entry's traceparent: W3C Trace Context version 00, or ignored. */
static void
test_traceparent(void **state)
{
	static const char *const bad[] = {
		"",
		/* upper case, all-zero ids, other versions, bad separators */
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
		/* too short, too long */
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
	};
	char id[TRACE_ID_LEN + 1];
	size_t i;

	assert_true(contract_traceparent(
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id));
	assert_string_equal(id, "4bf92f3577b34da6a3ce929d0e0e4736");
	/* flags are the app's: any two hex digits */
	assert_true(contract_traceparent(
	    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", id));
	assert_string_equal(id, "0af7651916cd43dd8448eb211c80319c");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(contract_traceparent(bad[i], id));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_none),
		cmocka_unit_test(test_counts_unrecognised),
		cmocka_unit_test(test_counts_odd_values),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_traceparent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
