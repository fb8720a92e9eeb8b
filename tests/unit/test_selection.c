/* The teacher's section selection (daemon/selection.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "selection.h"

static void
assert_mode(const char *v, enum selection_mode mode)
{
	struct selection sel;
	char err[128] = "";

	assert_int_equal(selection_parse(&sel, v, err, sizeof(err)), 0);
	assert_int_equal(sel.mode, mode);
	assert_int_equal(sel.count, 0);
	assert_null(sel.ids);
	assert_string_equal(err, "");
	selection_free(&sel);
}

static void
test_all_and_none(void **state)
{
	assert_mode(NULL, SEL_ALL);
	assert_mode("", SEL_ALL);
	assert_mode("all", SEL_ALL);
	assert_mode("none", SEL_NONE);
	/* a list of no ids is none */
	assert_mode(",", SEL_NONE);
	assert_mode(" ,\t\n, ", SEL_NONE);
}

static void
test_list(void **state)
{
	struct selection sel;
	char err[128];

	assert_int_equal(selection_parse(&sel, "s1, s2,,s-3\ts_4\n s1",
	    err, sizeof(err)), 0);
	assert_int_equal(sel.mode, SEL_LIST);
	assert_int_equal(sel.count, 5);
	assert_string_equal(sel.ids[0], "s1");
	assert_string_equal(sel.ids[1], "s2");
	assert_string_equal(sel.ids[2], "s-3");
	assert_string_equal(sel.ids[3], "s_4");
	assert_string_equal(sel.ids[4], "s1");	/* kept as written */
	selection_free(&sel);
	assert_int_equal(sel.mode, SEL_ALL);
	assert_int_equal(sel.count, 0);
	assert_null(sel.ids);
	selection_free(&sel);	/* twice: harmless */

	/* words other than all and none are ids, in any case */
	assert_int_equal(selection_parse(&sel, "ALL", err, sizeof(err)), 0);
	assert_int_equal(sel.mode, SEL_LIST);
	assert_int_equal(sel.count, 1);
	assert_string_equal(sel.ids[0], "ALL");
	selection_free(&sel);
	assert_int_equal(selection_parse(&sel, "none,s1", err, sizeof(err)),
	    0);
	assert_int_equal(sel.mode, SEL_LIST);
	assert_int_equal(sel.count, 2);
	selection_free(&sel);
}

static void
test_bad_ids(void **state)
{
	static const char *const bad[] = {
		"s1,../s2",
		"s1;s2",
		"s/1",
		"s1,s2?x=1",
		"s\xc3\xa9",
		/* 129 characters: longer than a roster id */
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"x",
	};
	struct selection sel;
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(selection_parse(&sel, bad[i], err,
		    sizeof(err)), -1);
		assert_string_equal(err, "the section selection holds an "
		    "invalid section id");
		/* nothing half-parsed is left */
		assert_int_equal(sel.mode, SEL_ALL);
		assert_int_equal(sel.count, 0);
		assert_null(sel.ids);
	}
	/* 128 characters is a roster id */
	assert_int_equal(selection_parse(&sel, bad[5] + 1, err, sizeof(err)),
	    0);
	assert_int_equal(sel.count, 1);
	selection_free(&sel);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_and_none),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_bad_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
