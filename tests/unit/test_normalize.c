/* Subject and grade normalization: fixed points, legacy table, unknowns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "normalize.h"

struct mapping {
	const char	*raw;
	const char	*want;
};

/* The documented legacy table (doc/roster-format.md), a sample per row. */
static const struct mapping subjects[] = {
	{ "ELA", "english/language arts" },
	{ "English", "english/language arts" },
	{ "English Language Arts", "english/language arts" },
	{ "Reading", "english/language arts" },
	{ "Language Arts", "english/language arts" },
	{ "Literature", "english/language arts" },
	{ "Math", "math" },
	{ "MATHEMATICS", "math" },
	{ "Algebra", "math" },
	{ "Geometry", "math" },
	{ "Science", "science" },
	{ "Biology", "science" },
	{ "Earth Science", "science" },
	{ "Social Studies", "social studies" },
	{ "social-studies", "social studies" },
	{ "History", "social studies" },
	{ "U.S. History", "social studies" },
	{ "Civics", "social studies" },
	{ "Foreign Language", "language" },
	{ "World Languages", "language" },
	{ "Spanish", "language" },
	{ "French", "language" },
	{ "ASL", "language" },
	{ "Homeroom", "homeroom/advisory" },
	{ "Advisory", "homeroom/advisory" },
	{ "Homeroom / Advisory", "homeroom/advisory" },
	{ "Intervention", "interventions/online learning" },
	{ "Online Learning", "interventions/online learning" },
	{ "Special Education", "interventions/online learning" },
	{ "Technology", "technology and engineering" },
	{ "Computer Science", "technology and engineering" },
	{ "Engineering", "technology and engineering" },
	{ "Technology & Engineering", "technology and engineering" },
	{ "Robotics", "technology and engineering" },
	{ "PE", "PE and health" },
	{ "P.E.", "PE and health" },
	{ "Physical Education", "PE and health" },
	{ "Health", "PE and health" },
	{ "PE & Health", "PE and health" },
	{ "Art", "arts and music" },
	{ "Music", "arts and music" },
	{ "Band", "arts and music" },
	{ "Theatre", "arts and music" },
	{ "Arts & Music", "arts and music" },
	{ "  math  ", "math" },
	{ "\tScience\n", "science" },
	{ "OTHER", "other" },
	{ NULL, NULL }
};

static const struct mapping grades[] = {
	{ "K", "Kindergarten" },
	{ "KG", "Kindergarten" },
	{ "kinder", "Kindergarten" },
	{ "0", "Kindergarten" },
	{ "00", "Kindergarten" },
	{ "PK", "PreKindergarten" },
	{ "Pre-K", "PreKindergarten" },
	{ "pre k", "PreKindergarten" },
	{ "Pre-Kindergarten", "PreKindergarten" },
	{ "PK4", "PreKindergarten" },
	{ "TK", "TransitionalKindergarten" },
	{ "Transitional Kindergarten", "TransitionalKindergarten" },
	{ "Infant/Toddler", "InfantToddler" },
	{ "Infant", "InfantToddler" },
	{ "Preschool", "Preschool" },
	{ "PS", "Preschool" },
	{ "Post Graduate", "PostGraduate" },
	{ "post-graduate", "PostGraduate" },
	{ "PG", "PostGraduate" },
	{ "UG", "Ungraded" },
	{ "Ungraded", "Ungraded" },
	{ "Non-Graded", "Ungraded" },
	{ "01", "1" }, { "02", "2" }, { "03", "3" }, { "04", "4" },
	{ "05", "5" }, { "06", "6" }, { "07", "7" }, { "08", "8" },
	{ "09", "9" }, { "10", "10" }, { "11", "11" }, { "12", "12" },
	{ "Grade 3", "3" },
	{ "grade 12", "12" },
	{ "Gr. 5", "5" },
	{ "G7", "7" },
	{ "3rd grade", "3" },
	{ "3rd Grade", "3" },
	{ "1st", "1" },
	{ "2nd", "2" },
	{ "12th", "12" },
	{ "13th grade", "13" },
	{ "Third Grade", "3" },
	{ "first", "1" },
	{ "Grade Twelve", "Other" },	/* not in the table: documented */
	{ " 9 ", "9" },
	{ "other", "Other" },
	{ NULL, NULL }
};

static void
test_subject_fixed_points(void **state)
{
	const char *const	*s;
	const char		*v;
	int			 known;

	for (s = normalize_subjects; *s != NULL; s++) {
		known = -1;
		v = normalize_subject(*s, &known);
		assert_string_equal(v, *s);
		assert_int_equal(known, 1);
		assert_true(normalize_subject_is_canonical(*s));
	}
}

static void
test_grade_fixed_points(void **state)
{
	const char *const	*g;
	const char		*v;
	int			 known;

	for (g = normalize_grades; *g != NULL; g++) {
		known = -1;
		v = normalize_grade(*g, &known);
		assert_string_equal(v, *g);
		assert_int_equal(known, 1);
		assert_true(normalize_grade_is_canonical(*g));
	}
}

/* Changing case or spacing of a normalized value does not change it. */
static void
test_case_insensitive(void **state)
{
	int	known;

	assert_string_equal(normalize_subject("pe AND HEALTH", &known),
	    "PE and health");
	assert_int_equal(known, 1);
	assert_string_equal(normalize_subject("English/Language Arts", &known),
	    "english/language arts");
	assert_string_equal(normalize_subject("Interventions/Online Learning",
	    &known), "interventions/online learning");
	assert_string_equal(normalize_grade("prekindergarten", &known),
	    "PreKindergarten");
	assert_string_equal(normalize_grade("KINDERGARTEN", &known),
	    "Kindergarten");
	assert_string_equal(normalize_grade("infanttoddler", &known),
	    "InfantToddler");
	assert_string_equal(normalize_grade("Transitional kindergarten",
	    &known), "TransitionalKindergarten");
	assert_int_equal(known, 1);
}

static void
check_table(const struct mapping *m, const char *(*fn)(const char *, int *),
    const char *other)
{
	const char	*v;
	int		 known;

	for (; m->raw != NULL; m++) {
		v = fn(m->raw, &known);
		if (strcmp(v, m->want) != 0)
			fail_msg("\"%s\" gave \"%s\", want \"%s\"", m->raw, v,
			    m->want);
		/* "Other" from the table is known; a fallback is not. */
		if (strcmp(m->want, other) == 0 &&
		    strcasecmp(m->raw, other) != 0)
			assert_int_equal(known, 0);
		else
			assert_int_equal(known, 1);
	}
}

static void
test_subject_legacy(void **state)
{
	check_table(subjects, normalize_subject, "other");
}

static void
test_grade_legacy(void **state)
{
	check_table(grades, normalize_grade, "Other");
}

static void
test_empty(void **state)
{
	int	known = 0;

	assert_string_equal(normalize_subject(NULL, &known), "");
	assert_int_equal(known, 1);
	known = 0;
	assert_string_equal(normalize_subject("   ", &known), "");
	assert_int_equal(known, 1);
	known = 0;
	assert_string_equal(normalize_grade(NULL, &known), "");
	assert_int_equal(known, 1);
	known = 0;
	assert_string_equal(normalize_grade("", &known), "");
	assert_int_equal(known, 1);
	/* known may be NULL */
	assert_string_equal(normalize_grade("K", NULL), "Kindergarten");
}

static void
test_unknown(void **state)
{
	static const char *const bad_grades[] = {
		"14", "-1", "-2", "100", "3.5", "Year 3", "grade", "kk", "?",
		"\xc3\xa9", "Grade 3 and 4", NULL
	};
	static const char *const bad_subjects[] = {
		"Underwater basket weaving", "Lunch", "mathx", "!!!", "123",
		NULL
	};
	const char *const	*p;
	char			 longval[300];
	int			 known;

	for (p = bad_grades; *p != NULL; p++) {
		known = 1;
		assert_string_equal(normalize_grade(*p, &known), "Other");
		assert_int_equal(known, 0);
	}
	for (p = bad_subjects; *p != NULL; p++) {
		known = 1;
		assert_string_equal(normalize_subject(*p, &known), "other");
		assert_int_equal(known, 0);
	}
	memset(longval, 'a', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';
	assert_string_equal(normalize_subject(longval, &known), "other");
	assert_int_equal(known, 0);
	assert_false(normalize_grade_is_canonical("K"));
	assert_false(normalize_grade_is_canonical(NULL));
	assert_false(normalize_subject_is_canonical("Math"));
}

/* Every result is a member of the normalized set. */
static void
test_results_are_canonical(void **state)
{
	const struct mapping	*m;

	for (m = subjects; m->raw != NULL; m++)
		assert_true(normalize_subject_is_canonical(
		    normalize_subject(m->raw, NULL)));
	for (m = grades; m->raw != NULL; m++)
		assert_true(normalize_grade_is_canonical(
		    normalize_grade(m->raw, NULL)));
}

#define FFFD	"\xef\xbf\xbd"

struct utf8_case {
	const char	*in;
	size_t		 len;
	const char	*want;
	int		 changed;
};
#define U(in, want, ch)	{ in, sizeof(in) - 1, want, ch }

/* Valid text is kept byte for byte; each maximal ill-formed part -> U+FFFD. */
static void
test_utf8(void **state)
{
	static const struct utf8_case cases[] = {
		U("", "", 0),
		U("Zo\xc3\xab O'Neil", "Zo\xc3\xab O'Neil", 0),
		U("\xe6\x9d\x8e \xf0\x9f\x98\x80", "\xe6\x9d\x8e \xf0\x9f\x98\x80", 0),
		U("\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\xef\xbf\xbf\xf4\x8f\xbf\xbf", 0),
		/* bytes that never occur in UTF-8 */
		U("a\xfe\xff" "b", "a" FFFD FFFD "b", 1),
		/* overlong forms: "/" as two and three bytes, NUL as two */
		U("\xc0\xaf", FFFD FFFD, 1),
		U("\xe0\x80\xaf", FFFD FFFD FFFD, 1),
		U("\xc1\xbf", FFFD FFFD, 1),
		U("\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD, 1),
		/* surrogate code points U+D800, U+DFFF (CESU-8) */
		U("\xed\xa0\x80", FFFD FFFD FFFD, 1),
		U("x\xed\xbf\xbfy", "x" FFFD FFFD FFFD "y", 1),
		/* lone continuation bytes */
		U("\x80", FFFD, 1),
		U("ab\xbf\xbf" "c", "ab" FFFD FFFD "c", 1),
		/* past U+10FFFF */
		U("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD, 1),
		U("\xf5\x80", FFFD FFFD, 1),
		/* truncated: the maximal subpart is one U+FFFD */
		U("\xe6\x9d", FFFD, 1),
		U("\xe6\x9d" "a", FFFD "a", 1),
		U("\xf0\x9f\x98", FFFD, 1),
		U("\xc3", FFFD, 1),
	};
	size_t i;
	char *out;
	int changed;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = normalize_utf8(cases[i].in, cases[i].len, &changed);
		assert_string_equal(out, cases[i].want);
		assert_int_equal(changed, cases[i].changed);
		free(out);
	}
	out = normalize_utf8("ok", 2, NULL);
	assert_string_equal(out, "ok");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subject_fixed_points),
		cmocka_unit_test(test_grade_fixed_points),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_subject_legacy),
		cmocka_unit_test(test_grade_legacy),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_results_are_canonical),
		cmocka_unit_test(test_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
