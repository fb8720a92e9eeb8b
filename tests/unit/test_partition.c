/*
 * The partition of a teacher's diffs: zlib's CRC-32 of the id mod N, the
 * values an app gets from Python's binascii.crc32 (doc/contract.md gives
 * the one-liner), so app and rosterd agree on every teacher.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "partition.h"

/* python3 -c 'import binascii; print(binascii.crc32(b"..."))' */
static const struct {
	const char	*s;
	uint32_t	 crc;
} known[] = {
	{ "", 0U },
	{ "a", 3904355907U },
	{ "123456789", 3421780262U },	/* the CRC-32 check value */
	{ "58da8c63d7dc0ca068000478", 3566484114U },
	{ "teacher-1", 4091006811U },
};

static void
test_crc32_matches_python(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		assert_int_equal(partition_crc32(known[i].s,
		    strlen(known[i].s)), known[i].crc);
}

static void
test_partition_of(void **state)
{
	/* 3566484114 % 4 == 2, % 7 == 4 */
	assert_int_equal(partition_of("58da8c63d7dc0ca068000478", 4), 2);
	assert_int_equal(partition_of("58da8c63d7dc0ca068000478", 7), 4);
	/* one partition: always 0 */
	assert_int_equal(partition_of("58da8c63d7dc0ca068000478", 1), 0);
	assert_int_equal(partition_of("teacher-1", 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_matches_python),
		cmocka_unit_test(test_partition_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
