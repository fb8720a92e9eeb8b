/*
 * Roster model: the recorded Clever payloads parse, the field set is
 * minimized, selection and finish behave, canonical snapshots round-trip
 * byte for byte, and bad input gives a clear error, never a crash.
 * Fixtures in fixtures/ were extracted from the VCR recordings with
 * fixtures/extract.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "roster.h"

#define TEACHER_ID	"5faac8b7bc447500a10ae857"

static char	*logbuf;
static size_t	 loglen;
static FILE	*logmem;

static int
setup(void **state)
{
	logmem = open_memstream(&logbuf, &loglen);
	log_init("test_roster", LOG_LVL_INFO, LOG_TARGET_STDERR);
	log_setstream(logmem);
	return 0;
}

static int
teardown(void **state)
{
	log_setstream(NULL);
	log_init("test_roster", LOG_LVL_ERR, LOG_TARGET_STDERR);
	fclose(logmem);
	free(logbuf);
	logbuf = NULL;
	return 0;
}

static const char *
logged(void)
{
	fflush(logmem);
	return logbuf != NULL ? logbuf : "";
}

static json_object *
fixture(const char *name)
{
	char		 path[256];
	json_object	*o;

	snprintf(path, sizeof(path), "fixtures/%s", name);
	o = json_object_from_file(path);
	if (o == NULL)
		fail_msg("cannot load %s: %s", path, json_util_get_last_err());
	return o;
}

static json_object *
parse(const char *s)
{
	json_object	*o = json_tokener_parse(s);

	if (o == NULL)
		fail_msg("bad test JSON: %s", s);
	return o;
}

static void
set_teacher_fixture(struct roster *r)
{
	json_object	*o = fixture("teacher_user.json");
	char		 err[256];

	if (roster_set_teacher(r, o, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	json_object_put(o);
}

static void
add_page(struct roster *r, const char *name, int sections)
{
	json_object	*o = fixture(name);
	char		 err[256];
	int		 rc;

	rc = sections ? roster_add_sections(r, o, err, sizeof(err)) :
	    roster_add_students(r, o, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s: %s", name, err);
	json_object_put(o);
}

static const char *const student_pages[] = {
	"users_next_1.json", "users_next_2.json", "users_with_limit.json",
	"mystudents.json", "section_users.json", NULL
};

/* A teacher with every recorded section and every recorded student. */
static struct roster *
recorded_roster(enum roster_fieldset f)
{
	struct roster		*r = roster_new(f);
	const char *const	*p;
	char			 err[256];

	roster_set_auth(r, f == ROSTER_FIELDS_DISTRICT ? "district" :
	    "teacher", f == ROSTER_FIELDS_DISTRICT ?
	    "58da8a43cc70ab00017a1a87" : NULL);
	set_teacher_fixture(r);
	add_page(r, "sections_with_limit.json", 1);
	add_page(r, "user_sections.json", 1);
	for (p = student_pages; *p != NULL; p++)
		add_page(r, *p, 0);
	if (roster_finish(r, 0, err, sizeof(err)) != 0)
		fail_msg("finish: %s", err);
	return r;
}

static void
test_every_fixture_parses(void **state)
{
	static const char *const users[] = {
		"teacher_user.json", "student_user.json", NULL
	};
	static const char *const sections[] = {
		"sections_with_limit.json", "user_sections.json", NULL
	};
	const char *const	*p;
	struct roster		*r;
	json_object		*o, *page;
	char			 err[256];
	enum roster_fieldset	 f;

	for (f = ROSTER_FIELDS_LIBRARY; f <= ROSTER_FIELDS_DISTRICT; f++) {
		r = roster_new(f);
		for (p = users; *p != NULL; p++) {
			o = fixture(*p);
			assert_int_equal(roster_set_teacher(r, o, err,
			    sizeof(err)), 0);
			json_object_put(o);
		}
		for (p = sections; *p != NULL; p++)
			add_page(r, *p, 1);
		/* A single section response is one list item. */
		page = json_object_new_object();
		o = json_object_new_array();
		json_object_array_add(o, fixture("section.json"));
		json_object_object_add(page, "data", o);
		assert_int_equal(roster_add_sections(r, page, err,
		    sizeof(err)), 0);
		json_object_put(page);
		for (p = student_pages; *p != NULL; p++)
			add_page(r, *p, 0);
		assert_int_equal(r->nsections, 25 + 3 + 1);
		assert_int_equal(r->nstudents, 100 + 100 + 25 + 25 + 26);
		assert_int_equal(roster_finish(r, 0, err, sizeof(err)), 0);
		roster_free(r);
	}
}

static void
test_teacher(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);

	set_teacher_fixture(r);
	assert_string_equal(r->teacher.id, TEACHER_ID);
	assert_string_equal(r->teacher.first, "Robin");
	assert_string_equal(r->teacher.middle, "M");
	assert_string_equal(r->teacher.last, "Plant");
	assert_string_equal(r->teacher.email, "robin_plant@example.org");
	assert_string_equal(r->teacher.email_lc, "robin_plant@example.org");
	assert_string_equal(r->teacher.grade, "");
	assert_null(r->teacher.extra);
	roster_free(r);
}

static void
test_teacher_trim_and_case(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	json_object	*o;
	char		 err[256];

	o = parse("{\"data\":{\"id\":\"t1\",\"email\":\" Ms.Smith@School.ORG "
	    "\",\"name\":{\"first\":\"  Ann \",\"middle\":\" \",\"last\":"
	    "\"Smith\\t\"}}}");
	assert_int_equal(roster_set_teacher(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	assert_string_equal(r->teacher.first, "Ann");
	assert_null(r->teacher.middle);
	assert_string_equal(r->teacher.last, "Smith");
	assert_string_equal(r->teacher.email, "Ms.Smith@School.ORG");
	assert_string_equal(r->teacher.email_lc, "ms.smith@school.org");
	/* No name, no email at all. */
	o = parse("{\"data\":{\"id\":\"t2\",\"name\":null,\"email\":null}}");
	assert_int_equal(roster_set_teacher(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	assert_string_equal(r->teacher.id, "t2");
	assert_string_equal(r->teacher.first, "");
	assert_null(r->teacher.email);
	assert_null(r->teacher.email_lc);
	roster_free(r);
}

static void
test_library_minimized(void **state)
{
	struct roster		*r = recorded_roster(ROSTER_FIELDS_LIBRARY);
	const struct roster_user *u;
	char			*snap;
	size_t			 i, len;

	assert_true(r->nsections > 0);
	assert_true(r->nstudents > 0);
	u = roster_find_student(r, "58da8c63d7dc0ca06800040a");
	assert_non_null(u);
	assert_string_equal(u->first, "Theron");
	assert_string_equal(u->last, "K");	/* Kuvalis */
	assert_null(u->middle);
	assert_null(u->email);
	assert_string_equal(u->grade, "6");
	for (i = 0; i < r->nstudents; i++) {
		assert_int_equal(strlen(r->students[i].last), 1);
		assert_null(r->students[i].extra);
	}
	snap = roster_snapshot(r, &len);
	assert_int_equal(strlen(snap), len);
	assert_null(strstr(snap, "Kuvalis"));
	assert_null(strstr(snap, "k.theron@example.com"));
	assert_null(strstr(snap, "@example.net"));
	assert_null(strstr(snap, "\"school\""));
	assert_null(strstr(snap, "sis_id"));
	assert_null(strstr(snap, "\"extra\""));
	assert_null(strstr(snap, "dob"));
	assert_non_null(strstr(snap, "robin_plant@example.org"));
	free(snap);
	roster_free(r);
}

static void
test_district_extras(void **state)
{
	struct roster			*r;
	const struct roster_user	*u;
	const struct roster_section	*s;
	json_object			*v;

	r = recorded_roster(ROSTER_FIELDS_DISTRICT);
	u = roster_find_student(r, "58da8c63d7dc0ca06800040a");
	assert_non_null(u);
	assert_string_equal(u->last, "K");	/* core schema unchanged */
	assert_non_null(u->extra);
	assert_true(json_object_object_get_ex(u->extra, "last_name", &v));
	assert_string_equal(json_object_get_string(v), "Kuvalis");
	assert_true(json_object_object_get_ex(u->extra, "student_number", &v));
	assert_true(json_object_object_get_ex(u->extra, "email", &v));
	assert_false(json_object_object_get_ex(u->extra, "dob", &v));
	assert_false(json_object_object_get_ex(u->extra, "race", &v));
	s = roster_find_section(r, "58da8c6a894273be68000182");
	assert_non_null(s);
	assert_non_null(s->extra);
	assert_true(json_object_object_get_ex(s->extra, "ext", &v));
	assert_true(json_object_object_get_ex(s->extra, "term_id", &v));
	assert_non_null(r->teacher.extra);
	assert_true(json_object_object_get_ex(r->teacher.extra, "title", &v));
	assert_string_equal(json_object_get_string(v),
	    "High School Arts Teacher");
	roster_free(r);
}

static void
test_sections(void **state)
{
	struct roster			*r = recorded_roster(ROSTER_FIELDS_LIBRARY);
	const struct roster_section	*s;
	size_t				 i, j;

	for (i = 1; i < r->nsections; i++)
		assert_true(strcmp(r->sections[i - 1].id, r->sections[i].id) <
		    0);
	for (i = 1; i < r->nstudents; i++)
		assert_true(strcmp(r->students[i - 1].id, r->students[i].id) <
		    0);
	for (i = 0; i < r->nsections; i++) {
		s = &r->sections[i];
		for (j = 1; j < s->nstudents; j++)
			assert_true(strcmp(s->students[j - 1],
			    s->students[j]) < 0);
		for (j = 0; j < s->nstudents; j++)
			assert_non_null(roster_find_student(r,
			    s->students[j]));
	}
	s = roster_find_section(r, "58da8c6a894273be6800018b");
	assert_non_null(s);
	assert_string_equal(s->name, "Group Guidance - Greene - 0");
	assert_string_equal(s->subject, "homeroom/advisory");
	assert_string_equal(s->grade, "9");
	assert_string_equal(s->section_number, "");
	assert_int_equal(s->nteachers, 2);
	assert_string_equal(s->teachers[0], "5faac8b7bc447500a10ae85c");
	roster_free(r);
}

static void
assert_same_snapshot(const struct roster *a, const struct roster *b)
{
	char	*sa = roster_snapshot(a, NULL), *sb = roster_snapshot(b, NULL);

	assert_string_equal(sa, sb);
	free(sa);
	free(sb);
}

/* Answers of a small Library teacher, each a Clever envelope. */
#define T_ME	"{\"data\":{\"id\":\"t1\",\"name\":{\"first\":\"Ann\"," \
	"\"last\":\"Lee\"},\"email\":\"A@x.org\"}}"
#define T_ME2	"{\"data\":{\"id\":\"t1\",\"name\":{\"first\":\"Zoe\"," \
	"\"last\":\"Lee\"},\"email\":\"A@x.org\"}}"
#define T_SEC(extra)	"{\"data\":[{\"data\":{\"id\":\"s2\",\"subject\":" \
	"\"math\",\"grade\":\"9\",\"teacher\":\"t1\",\"students\":[\"u2\"," \
	"\"u1\"]}},{\"data\":{\"id\":\"s1\",\"name\":\"Art\",\"subject\":" \
	"\"arts and music\",\"students\":[\"u1\"]}}" extra "]}"
#define T_STU(extra)	"{\"data\":[{\"data\":{\"id\":\"u2\",\"name\":{" \
	"\"first\":\"Bo\",\"last\":\"Kim\"},\"roles\":{\"student\":{" \
	"\"grade\":\"9\"}}}},{\"data\":{\"id\":\"u1\",\"name\":{\"first\":" \
	"\"Cy\",\"last\":\"Ng\"},\"roles\":{\"student\":{}}}}" extra "]}"

/* A roster built from these answers (a selection of sel if not NULL). */
static struct roster *
built(const char *me, const char *sec, const char *stu,
    const char *const *sel, size_t nsel)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	json_object	*o;
	char		 err[256];

	roster_set_auth(r, "teacher", NULL);
	o = parse(me);
	assert_int_equal(roster_set_teacher(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	if (sec != NULL) {
		o = parse(sec);
		assert_int_equal(roster_add_sections(r, o, err, sizeof(err)),
		    0);
		json_object_put(o);
	}
	roster_select_sections(r, sel, nsel);
	if (stu != NULL) {
		o = parse(stu);
		assert_int_equal(roster_add_students(r, o, err, sizeof(err)),
		    0);
		json_object_put(o);
	}
	assert_int_equal(roster_finish(r, 0, err, sizeof(err)), 0);
	return r;
}

static unsigned
inexact(const char *sec, const char *stu, const char *const *sel,
    size_t nsel)
{
	struct roster	*r = built(T_ME, sec, stu, sel, nsel);
	unsigned	 f = r->inexact;

	roster_free(r);
	return f;
}

/* What building drops or normalizes away is flagged, per part. */
static void
test_inexact(void **state)
{
	static const char *const one[] = { "s2" }, *const both[] = { "s1",
	    "s2" };
	assert_int_equal(inexact(T_SEC(""), T_STU(""), NULL, 0), 0);
	assert_int_equal(inexact(T_SEC(""), T_STU(""), both, 2), 0);
	/* a duplicate student: the first wins either way */
	assert_int_equal(inexact(T_SEC(""), T_STU(",{\"data\":{\"id\":"
	    "\"u1\",\"roles\":{\"student\":{}}}}"), NULL, 0), 0);
	assert_int_equal(inexact(T_SEC(",{\"data\":{\"id\":\"s3\","
	    "\"subject\":\"Lunch\"}}"), T_STU(""), NULL, 0),
	    ROSTER_INEXACT_SECTIONS);
	assert_int_equal(inexact(T_SEC(",{\"data\":{\"id\":\"s3\","
	    "\"grade\":\"Year 4\"}}"), T_STU(""), NULL, 0),
	    ROSTER_INEXACT_SECTIONS);
	assert_int_equal(inexact(T_SEC(",{\"data\":{\"id\":\"s1\"}}"),
	    T_STU(""), NULL, 0), ROSTER_INEXACT_SECTIONS);
	assert_int_equal(inexact(T_SEC(",{\"data\":{\"id\":\"s3\","
	    "\"students\":[\"gone\"]}}"), T_STU(""), NULL, 0),
	    ROSTER_INEXACT_SECTIONS);
	assert_int_equal(inexact(T_SEC(""), T_STU(""), one, 1),
	    ROSTER_INEXACT_SECTIONS);
	assert_int_equal(inexact(T_SEC(""), T_STU(",{\"data\":{\"id\":\"u3\","
	    "\"roles\":{\"student\":{}}}}"), NULL, 0),
	    ROSTER_INEXACT_STUDENTS);
	assert_int_equal(inexact(T_SEC(""), T_STU(",{\"data\":{\"id\":\"u1\","
	    "\"roles\":{\"student\":{\"grade\":\"Sophomore\"}}}}"), NULL, 0),
	    ROSTER_INEXACT_STUDENTS);
}

/*
 * Unchanged parts taken from an exact roster's snapshot make the roster
 * a build from every answer makes, byte for byte.
 */
static void
test_take(void **state)
{
	static const unsigned parts[] = {
		ROSTER_PART_SECTIONS | ROSTER_PART_STUDENTS,
		ROSTER_PART_TEACHER | ROSTER_PART_STUDENTS,
		ROSTER_PART_TEACHER | ROSTER_PART_SECTIONS,
	};
	const char *sec2 = T_SEC(",{\"data\":{\"id\":\"s0\",\"students\":"
	    "[\"u2\"]}}"), *stu2 = "{\"data\":[{\"data\":{\"id\":\"u1\","
	    "\"name\":{\"first\":\"Cyd\",\"last\":\"Ng\"},\"roles\":{"
	    "\"student\":{}}}},{\"data\":{\"id\":\"u2\",\"roles\":{"
	    "\"student\":{}}}}]}";
	struct roster	*last = built(T_ME, T_SEC(""), T_STU(""), NULL, 0);
	struct roster	*old, *r, *full;
	json_object	*o;
	char		*snap, err[256];
	size_t		 len, i;
	int		 rc;

	assert_int_equal(last->inexact, 0);
	snap = roster_snapshot(last, &len);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		old = roster_from_snapshot(snap, len, err, sizeof(err));
		assert_non_null(old);
		/* the one part that changed is parsed, the rest taken */
		r = roster_new(ROSTER_FIELDS_LIBRARY);
		roster_set_auth(r, "teacher", NULL);
		o = parse(i == 0 ? T_ME2 : i == 1 ? sec2 : stu2);
		rc = i == 0 ? roster_set_teacher(r, o, err, sizeof(err)) :
		    i == 1 ? roster_add_sections(r, o, err, sizeof(err)) :
		    roster_add_students(r, o, err, sizeof(err));
		assert_int_equal(rc, 0);
		json_object_put(o);
		roster_take(r, old, parts[i]);
		assert_int_equal(roster_finish(r, 0, err, sizeof(err)), 0);
		full = built(i == 0 ? T_ME2 : T_ME, i == 1 ? sec2 : T_SEC(""),
		    i == 2 ? stu2 : T_STU(""), NULL, 0);
		assert_same_snapshot(r, full);
		roster_free(r);
		roster_free(full);
		roster_free(old);
	}
	free(snap);
	roster_free(last);
}

/* Enrollments without a student record are dropped with one warning. */
static void
test_missing_students_dropped(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	json_object	*o;
	char		 err[256];

	set_teacher_fixture(r);
	add_page(r, "user_sections.json", 1);
	o = parse("{\"data\":[{\"data\":{\"id\":\"58da8c63d7dc0ca068000478\","
	    "\"name\":{\"first\":\"James\",\"last\":\"Spencer\"},"
	    "\"roles\":{\"student\":{\"grade\":\"09\"}}}},"
	    "{\"data\":{\"id\":\"lonely\",\"name\":{\"first\":\"A\","
	    "\"last\":\"B\"},\"roles\":{\"student\":{}}}}]}");
	assert_int_equal(roster_add_students(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	assert_int_equal(roster_finish(r, 0, err, sizeof(err)), 0);
	assert_int_equal(r->nstudents, 1);	/* "lonely" is in no section */
	assert_string_equal(r->students[0].grade, "9");
	assert_int_equal(r->nsections, 3);
	assert_int_equal(r->sections[0].nstudents, 1);
	assert_non_null(strstr(logged(), "section 58da8c6a894273be6800018b: "
	    "dropped 15 enrollment(s) without a student record"));
	roster_free(r);
}

static void
test_duplicates_merged(void **state)
{
	struct roster	*a = recorded_roster(ROSTER_FIELDS_LIBRARY);
	struct roster	*b = roster_new(ROSTER_FIELDS_LIBRARY);
	const char *const *p;
	char		 err[256];

	roster_set_auth(b, "teacher", NULL);
	set_teacher_fixture(b);
	add_page(b, "user_sections.json", 1);
	add_page(b, "sections_with_limit.json", 1);
	add_page(b, "user_sections.json", 1);
	for (p = student_pages; *p != NULL; p++) {
		add_page(b, *p, 0);
		add_page(b, *p, 0);
	}
	assert_int_equal(roster_finish(b, 0, err, sizeof(err)), 0);
	assert_same_snapshot(a, b);
	roster_free(a);
	roster_free(b);
}

static void
test_primary_teacher_first(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	json_object	*o;
	char		 err[256];

	o = parse("{\"data\":[{\"data\":{\"id\":\"s1\",\"teacher\":\"t2\","
	    "\"teachers\":[\"t1\",\"t2\",\"t1\"]}},{\"data\":{\"id\":\"s2\","
	    "\"teacher\":\"t9\",\"teachers\":[\"t1\"],\"subject\":\"Math\","
	    "\"grade\":\"K\"}}]}");
	assert_int_equal(roster_add_sections(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	assert_int_equal(r->sections[0].nteachers, 2);
	assert_string_equal(r->sections[0].teachers[0], "t2");
	assert_string_equal(r->sections[0].teachers[1], "t1");
	assert_string_equal(r->sections[0].name, "");
	assert_string_equal(r->sections[0].subject, "");
	assert_string_equal(r->sections[0].grade, "");
	assert_int_equal(r->sections[1].nteachers, 2);
	assert_string_equal(r->sections[1].teachers[0], "t9");
	assert_string_equal(r->sections[1].subject, "math");
	assert_string_equal(r->sections[1].grade, "Kindergarten");
	roster_free(r);
}

/* Unrecognised raw values are kept (distinct, capped), not logged here. */
static void
test_unknown_values_kept(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	json_object	*o;
	char		 err[256], *js, buf[512];
	size_t		 n, i;

	o = parse("{\"data\":[{\"data\":{\"id\":\"s1\",\"subject\":\"Lunch\","
	    "\"grade\":\"Year 4\",\"students\":[\"u1\"]}},{\"data\":{\"id\":"
	    "\"s2\",\"subject\":\"Lunch\",\"grade\":\"9\"}}]}");
	assert_int_equal(roster_add_sections(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	assert_string_equal(r->sections[0].subject, "other");
	assert_string_equal(r->sections[0].grade, "Other");
	assert_null(strstr(logged(), "Lunch"));
	o = parse("{\"data\":[{\"data\":{\"id\":\"u1\",\"roles\":{\"student\":"
	    "{\"grade\":\"Sophomore\"}}}},{\"data\":{\"id\":\"u2\",\"roles\":{"
	    "\"student\":{\"grade\":\"Sophomore\"}}}}]}");
	assert_int_equal(roster_add_students(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	assert_string_equal(r->students[0].grade, "Other");
	js = roster_unrecognised_json(r, &n);
	assert_int_equal(n, 3);
	assert_string_equal(js, "{\"grade\":[\"Sophomore\",\"Year 4\"],"
	    "\"subject\":[\"Lunch\"]}");
	free(js);
	/* capped: at most ROSTER_UNREC_MAX distinct values of a kind */
	for (i = 0; i < ROSTER_UNREC_MAX + 5; i++) {
		snprintf(buf, sizeof(buf), "{\"data\":[{\"data\":{\"id\":"
		    "\"x%zu\",\"subject\":\"Odd %zu\"}}]}", i, i);
		o = parse(buf);
		assert_int_equal(roster_add_sections(r, o, err, sizeof(err)), 0);
		json_object_put(o);
	}
	js = roster_unrecognised_json(r, &n);
	assert_int_equal(n, 2 + ROSTER_UNREC_MAX);
	free(js);
	roster_free(r);
	r = roster_new(ROSTER_FIELDS_LIBRARY);
	assert_null(roster_unrecognised_json(r, &n));
	assert_int_equal(n, 0);
	roster_free(r);
}

static void
test_last_initial_utf8(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	json_object	*o;
	char		 err[256];

	o = parse("{\"data\":[{\"data\":{\"id\":\"u1\",\"name\":{\"first\":"
	    "\" Zo\\u00eb \",\"last\":\" \\u00d3lafsson\"}}},"
	    "{\"data\":{\"id\":\"u2\",\"name\":{\"last\":\"\"}}},"
	    "{\"data\":{\"id\":\"u3\",\"name\":{\"last\":\"\\ud83d\\ude00x\"}}},"
	    "{\"data\":{\"id\":\"t\",\"roles\":{\"teacher\":{}}}}]}");
	assert_int_equal(roster_add_students(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	assert_int_equal(r->nstudents, 3);	/* the teacher is skipped */
	assert_string_equal(r->students[0].first, "Zo\xc3\xab");
	assert_string_equal(r->students[0].last, "\xc3\x93");
	assert_string_equal(r->students[1].last, "");
	assert_string_equal(r->students[2].last, "\xf0\x9f\x98\x80");
	roster_free(r);
}

static int
strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_select_sections(void **state)
{
	static const char *const pick[] = {
		"58da8c6a894273be6800018b", "58da8c6b894273be680002eb", "nope"
	};
	struct roster	*r;
	const char *const *p;
	const char	*id;
	char		 err[256];
	size_t		 i, j;

	r = roster_new(ROSTER_FIELDS_LIBRARY);
	set_teacher_fixture(r);
	add_page(r, "sections_with_limit.json", 1);
	add_page(r, "user_sections.json", 1);
	roster_select_sections(r, pick, 3);
	assert_int_equal(r->nsections, 3);	/* one twice until finish */
	for (p = student_pages; *p != NULL; p++)
		add_page(r, *p, 0);
	assert_int_equal(roster_finish(r, 0, err, sizeof(err)), 0);
	assert_int_equal(r->nsections, 2);
	assert_true(r->nstudents > 0);
	for (i = 0; i < r->nstudents; i++) {
		id = r->students[i].id;
		for (j = 0; j < r->nsections; j++) {
			if (bsearch(&id, r->sections[j].students,
			    r->sections[j].nstudents, sizeof(char *),
			    strcmp_ptr) != NULL)
				break;
		}
		assert_true(j < r->nsections);
	}
	roster_free(r);

	/* "none" */
	r = roster_new(ROSTER_FIELDS_LIBRARY);
	set_teacher_fixture(r);
	add_page(r, "sections_with_limit.json", 1);
	roster_select_sections(r, pick, 0);
	assert_int_equal(r->nsections, 0);
	add_page(r, "mystudents.json", 0);
	assert_int_equal(roster_finish(r, 0, err, sizeof(err)), 0);
	assert_int_equal(r->nstudents, 0);
	roster_free(r);

	/* "all" */
	r = roster_new(ROSTER_FIELDS_LIBRARY);
	add_page(r, "sections_with_limit.json", 1);
	roster_select_sections(r, NULL, 0);
	assert_int_equal(r->nsections, 25);
	roster_free(r);
}

static void
test_sections_only(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	char		 err[256];
	size_t		 i;

	set_teacher_fixture(r);
	add_page(r, "sections_with_limit.json", 1);
	add_page(r, "mystudents.json", 0);
	assert_int_equal(roster_finish(r, ROSTER_FINISH_SECTIONS_ONLY, err,
	    sizeof(err)), 0);
	assert_int_equal(r->nsections, 25);
	assert_int_equal(r->nstudents, 0);
	for (i = 0; i < r->nsections; i++)
		assert_int_equal(r->sections[i].nstudents, 0);
	roster_free(r);
}

static void
test_finish_needs_teacher(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	char		 err[256];

	assert_int_equal(roster_finish(r, 0, err, sizeof(err)), -1);
	assert_string_equal(err, "roster has no teacher");
	roster_free(r);
}

static void
check_round_trip(const struct roster *r)
{
	struct roster	*back;
	char		*s1, *s2, err[256];
	size_t		 l1, l2;

	s1 = roster_snapshot(r, &l1);
	back = roster_from_snapshot(s1, l1, err, sizeof(err));
	if (back == NULL)
		fail_msg("round trip: %s\n%s", err, s1);
	s2 = roster_snapshot(back, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(s1, s2, l1);
	roster_free(back);
	free(s1);
	free(s2);
}

static void
test_snapshot_round_trip(void **state)
{
	struct roster	*r;

	r = recorded_roster(ROSTER_FIELDS_LIBRARY);
	r->version = 42;
	check_round_trip(r);
	roster_free(r);
	r = recorded_roster(ROSTER_FIELDS_DISTRICT);
	r->version = UINT64_C(1) << 40;
	check_round_trip(r);
	roster_free(r);
	r = roster_new(ROSTER_FIELDS_LIBRARY);
	check_round_trip(r);
	roster_free(r);
}

static void
test_snapshot_format(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	json_object	*o;
	char		*s, err[256];

	roster_set_auth(r, "teacher", NULL);
	o = parse("{\"data\":{\"id\":\"t1\",\"email\":\"A@b.c\",\"name\":{"
	    "\"first\":\"Ann\",\"last\":\"Lee\"}}}");
	assert_int_equal(roster_set_teacher(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	o = parse("{\"data\":[{\"data\":{\"id\":\"s2\",\"name\":\"Algebra\","
	    "\"subject\":\"Math\",\"grade\":\"08\",\"teachers\":[\"t1\"],"
	    "\"students\":[\"u2\",\"u1\"]}},{\"data\":{\"id\":\"s1\","
	    "\"name\":\"Art/Design\",\"section_number\":\"7\"}}]}");
	assert_int_equal(roster_add_sections(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	o = parse("{\"data\":[{\"data\":{\"id\":\"u2\",\"name\":{\"first\":"
	    "\"Bo\",\"last\":\"Ng\"},\"roles\":{\"student\":{\"grade\":\"8\"}}}},"
	    "{\"data\":{\"id\":\"u1\",\"name\":{\"first\":\"Al\",\"last\":"
	    "\"\\\"Q\\\"\"},\"roles\":{\"student\":{}}}}]}");
	assert_int_equal(roster_add_students(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	assert_int_equal(roster_finish(r, 0, err, sizeof(err)), 0);
	r->version = 3;
	s = roster_snapshot(r, NULL);
	assert_string_equal(s, "{\"format\":2,\"version\":3,\"fields\":"
	    "\"library\",\"authorized_by\":\"teacher\",\"district\":null,"
	    "\"teacher\":{\"id\":\"t1\",\"first\":\"Ann\",\"last\":\"Lee\","
	    "\"email\":\"A@b.c\",\"grade\":\"\"},\"sections\":["
	    "{\"id\":\"s1\",\"name\":\"Art/Design\",\"section_number\":\"7\","
	    "\"subject\":\"\",\"grade\":\"\",\"teachers\":[],\"students\":[]},"
	    "{\"id\":\"s2\",\"name\":\"Algebra\",\"section_number\":\"\","
	    "\"subject\":\"math\",\"grade\":\"8\",\"teachers\":[\"t1\"],"
	    "\"students\":[0,1]}],\"students\":["
	    "[\"u1\",\"Al\",\"\\\"\",\"\"],[\"u2\",\"Bo\",\"N\",\"8\"]]}");
	free(s);
	roster_free(r);
}

/* Snapshot texts compare by bytes, around the version number only. */
static void
test_snapshot_same(void **state)
{
	static const char a[] = "{\"format\":2,\"version\":9,\"fields\":\"x\"}";
	static const char b[] = "{\"format\":2,\"version\":10,\"fields\":\"x\"}";
	static const char c[] = "{\"format\":2,\"version\":9,\"fields\":\"y\"}";
	static const char d[] = "{\"format\":2,\"version\":9,\"fields\":\"x\"} ";
	/* an older format is never the same: it is read and rewritten */
	static const char e[] = "{\"format\":1,\"version\":9,\"fields\":\"x\"}";

	assert_true(roster_snapshot_same(a, strlen(a), b, strlen(b)));
	assert_true(roster_snapshot_same(a, strlen(a), a, strlen(a)));
	assert_false(roster_snapshot_same(a, strlen(a), c, strlen(c)));
	assert_false(roster_snapshot_same(a, strlen(a), d, strlen(d)));
	assert_false(roster_snapshot_same(a, 10, a, 10));	/* cut short */
	assert_false(roster_snapshot_same("{}", 2, "{}", 2));
	assert_false(roster_snapshot_same(e, strlen(e), e, strlen(e)));
}

/*
 * The content hash: equal content at other versions hashes the same, any
 * change hashes otherwise, the empty roster is "", and it is the SHA-256
 * of the text without its version (what the contract tells the apps).
 */
static void
test_roster_hash(void **state)
{
	static const char	 text[] = "{\"format\":2,\"version\":7,"
	    "\"fields\":\"x\"}";
	struct roster		*r = recorded_roster(ROSTER_FIELDS_LIBRARY);
	struct roster		*none = roster_new(ROSTER_FIELDS_LIBRARY);
	char			 h1[ROSTER_HASH_LEN + 1], h2[ROSTER_HASH_LEN + 1];
	char			 h3[ROSTER_HASH_LEN + 1], *old;

	r->version = 1;
	roster_hash(r, h1);
	assert_int_equal(strlen(h1), ROSTER_HASH_LEN);
	assert_int_equal(strspn(h1, "0123456789abcdef"), ROSTER_HASH_LEN);
	r->version = 99;
	roster_hash(r, h2);
	assert_string_equal(h1, h2);
	/* a change anywhere: a student's grade, the authorization */
	old = r->students[0].grade;
	r->students[0].grade = strcmp(old, "9") == 0 ? "10" : "9";
	roster_hash(r, h3);
	assert_string_not_equal(h1, h3);
	r->students[0].grade = old;
	free(r->authorized_by);
	r->authorized_by = strdup("district");
	roster_hash(r, h3);
	assert_string_not_equal(h1, h3);
	/* the empty roster, at any version, and no roster: "" */
	roster_hash(NULL, h3);
	assert_string_equal(h3, "");
	none->version = 5;
	roster_hash(none, h3);
	assert_string_equal(h3, "");
	/* sha256('{"format":2,"fields":"x"}'), its first 32 hex digits */
	assert_int_equal(roster_snapshot_hash(text, strlen(text), h3), 0);
	assert_string_equal(h3, "e351c570cab6935530f85fa66ae46032");
	/* not a current-format snapshot: no hash */
	assert_int_equal(roster_snapshot_hash("{\"format\":1,\"version\":1,}",
	    25, h3), -1);
	assert_string_equal(h3, "");
	roster_free(none);
	roster_free(r);
}

/*
 * The snapshot writer prints what json-c would: reparsing the text with
 * json-c and printing it again gives the same bytes, for awkward strings
 * and district extras too.
 */
static void
test_snapshot_is_json_c_text(void **state)
{
	struct roster	*r = recorded_roster(ROSTER_FIELDS_DISTRICT);
	json_object	*o;
	char		*s, err[256];
	const char	*again;

	o = parse("{\"data\":{\"id\":\"t\\u0001/\\\\\",\"email\":\"a\\\"b@c\","
	    "\"name\":{\"first\":\"\\b\\f\\n\\r\\t\\u001f\\u007f\","
	    "\"middle\":\"\\u00e9\\ud83d\\ude00\",\"last\":\"</script>\"},"
	    "\"roles\":{\"teacher\":{\"title\":\"x\\u0002\",\"schools\":"
	    "[1,2.50,true,null,{\"b\":1,\"a\":[]}]}}}}");
	assert_int_equal(roster_set_teacher(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	s = roster_snapshot(r, NULL);
	o = parse(s);
	again = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	assert_string_equal(s, again);
	assert_non_null(strstr(s, "\"first\":\"\\b\\f\\n\\r\\t\\u001f\x7f\""));
	json_object_put(o);
	free(s);
	check_round_trip(r);
	roster_free(r);
}

/* Every truncation of a valid snapshot is rejected with a message. */
static void
test_snapshot_truncated(void **state)
{
	struct roster	*r = recorded_roster(ROSTER_FIELDS_LIBRARY), *back;
	char		*s, err[256];
	size_t		 len, cut;

	roster_select_sections(r, (const char *const[]){
	    "58da8c6a894273be68000182" }, 1);
	roster_finish(r, 0, err, sizeof(err));
	s = roster_snapshot(r, &len);
	for (cut = 0; cut < len; cut++) {
		err[0] = '\0';
		back = roster_from_snapshot(s, cut, err, sizeof(err));
		assert_null(back);
		assert_true(err[0] != '\0');
	}
	free(s);
	roster_free(r);
}

struct bad_snapshot {
	const char	*json;
	const char	*error;		/* substring of the message */
};

#define SNAP_HEAD	"{\"format\":1,\"version\":1,\"fields\":\"library\"," \
	"\"authorized_by\":\"teacher\",\"district\":null,\"teacher\":{\"id\":" \
	"\"t\",\"first\":\"\",\"last\":\"\",\"grade\":\"\"},"
#define SEC(id, studs)	"{\"id\":\"" id "\",\"name\":\"\",\"section_number\":" \
	"\"\",\"subject\":\"\",\"grade\":\"\",\"teachers\":[],\"students\":[" \
	studs "]}"
#define STU(id)		"{\"id\":\"" id "\",\"first\":\"\",\"last\":\"\"," \
	"\"grade\":\"\"}"
#define SNAP2_HEAD	"{\"format\":2,\"version\":1,\"fields\":\"library\"," \
	"\"authorized_by\":\"teacher\",\"district\":null,\"teacher\":{\"id\":" \
	"\"t\",\"first\":\"\",\"last\":\"\",\"grade\":\"\"},"
#define STU2(id)	"[\"" id "\",\"\",\"\",\"\"]"

static void
test_snapshot_malformed(void **state)
{
	static const struct bad_snapshot bad[] = {
		{ "", "truncated" },
		{ "null", "expected an object" },
		{ "[]", "expected an object" },
		{ "{\"format\":3}", "\"format\" is not 1 to 2" },
		{ "{\"format\":0}", "\"format\" is not 1 to 2" },
		{ "{\"format\":\"1\"}", "\"format\" is not 1" },
		{ "{\"format\":1,\"version\":-1}", "\"version\"" },
		{ "{\"format\":1,\"version\":1.5}", "\"version\"" },
		{ "{\"format\":1,\"version\":1,\"fields\":\"all\"}",
		    "\"fields\"" },
		{ "{\"format\":1,\"version\":1,\"fields\":\"library\","
		    "\"authorized_by\":7}", "authorized_by" },
		{ SNAP_HEAD "\"sections\":{},\"students\":[]}",
		    "\"sections\": expected an array" },
		{ SNAP_HEAD "\"sections\":[]}", "\"students\": expected an "
		    "array, got null" },
		{ SNAP_HEAD "\"sections\":[" SEC("b", "") "," SEC("a", "")
		    "],\"students\":[]}", "not sorted" },
		{ SNAP_HEAD "\"sections\":[" SEC("a", "") "," SEC("a", "")
		    "],\"students\":[]}", "repeated" },
		{ SNAP_HEAD "\"sections\":[" SEC("a", "\"u\"")
		    "],\"students\":[]}", "has no record" },
		{ SNAP_HEAD "\"sections\":[" SEC("a", "\"u\",\"u\"")
		    "],\"students\":[" STU("u") "]}", "not sorted" },
		{ SNAP_HEAD "\"sections\":[" SEC("a", "")
		    "],\"students\":[" STU("u") "]}", "not enrolled" },
		{ SNAP_HEAD "\"sections\":[{\"id\":\"a\"}],\"students\":[]}",
		    "missing \"name\"" },
		{ SNAP_HEAD "\"sections\":[{\"id\":\"a\",\"name\":\"\","
		    "\"section_number\":\"\",\"subject\":\"Math\",\"grade\":"
		    "\"\",\"teachers\":[],\"students\":[]}],\"students\":[]}",
		    "invalid value \"Math\"" },
		{ SNAP_HEAD "\"sections\":[{\"id\":\"a\",\"name\":\"\","
		    "\"section_number\":\"\",\"subject\":\"\",\"grade\":"
		    "\"K\",\"teachers\":[],\"students\":[]}],\"students\":[]}",
		    "invalid value \"K\"" },
		{ SNAP_HEAD "\"sections\":[{\"id\":\"a\",\"name\":\"\","
		    "\"section_number\":\"\",\"subject\":\"\",\"grade\":"
		    "\"\",\"teachers\":[1],\"students\":[]}],\"students\":[]}",
		    "teachers: expected a string" },
		{ SNAP_HEAD "\"sections\":[{\"id\":\"a\",\"name\":\"\","
		    "\"section_number\":\"\",\"subject\":\"\",\"grade\":"
		    "\"\",\"teachers\":[],\"students\":[],\"extra\":{\"x\":1}}],"
		    "\"students\":[]}", "not allowed with the library" },
		{ SNAP_HEAD "\"sections\":[{\"id\":\"\",\"name\":\"\","
		    "\"section_number\":\"\",\"subject\":\"\",\"grade\":"
		    "\"\",\"teachers\":[],\"students\":[]}],\"students\":[]}",
		    "id: invalid value" },
		{ SNAP_HEAD "\"sections\":[],\"students\":[]} x",
		    "at byte 167" },
		{ SNAP_HEAD "\"sections\":[],\"students\":[],}",
		    "invalid JSON" },
		{ "{\"format\":1,\"version\":1,\"fields\":\"library\","
		    "\"teacher\":{\"id\":\"t\",\"first\":\"a\\u0000b\","
		    "\"last\":\"\",\"grade\":\"\"},\"sections\":[],"
		    "\"students\":[]}", "NUL" },
		{ SNAP_HEAD "\"sections\":[],\"students\":[{\"id\":\"u\","
		    "\"first\":\"\",\"middle\":\"M\",\"last\":\"\",\"grade\":\"\"}]}",
		    "not kept for students" },
		/* format 2: enrollments by index, students as arrays */
		{ SNAP2_HEAD "\"sections\":[" SEC("a", "1")
		    "],\"students\":[" STU2("u") "]}", "not a student's index" },
		{ SNAP2_HEAD "\"sections\":[" SEC("a", "-1")
		    "],\"students\":[" STU2("u") "]}", "not a student's index" },
		{ SNAP2_HEAD "\"sections\":[" SEC("a", "0,0")
		    "],\"students\":[" STU2("u") "]}", "increasing order" },
		{ SNAP2_HEAD "\"sections\":[" SEC("a", "\"u\"")
		    "],\"students\":[" STU2("u") "]}", "item 0 is not" },
		{ SNAP2_HEAD "\"sections\":[" SEC("a", "1,0") "],\"students\":["
		    STU2("u") "," STU2("v") "]}", "item 1 is not" },
		{ SNAP2_HEAD "\"sections\":[" SEC("a", "0")
		    "],\"students\":[" STU("u") "]}", "expected an array of 4" },
		{ SNAP2_HEAD "\"sections\":[" SEC("a", "0")
		    "],\"students\":[[\"u\",\"\",\"\"]]}", "array of 4 or 5" },
		{ SNAP2_HEAD "\"sections\":[" SEC("a", "0")
		    "],\"students\":[[\"u\",\"\",null,\"\"]]}",
		    "last: expected a string" },
		{ SNAP2_HEAD "\"sections\":[" SEC("a", "0")
		    "],\"students\":[[\"u\",\"\",\"\",\"\",{\"x\":1}]]}",
		    "not allowed with the library" },
		{ SNAP2_HEAD "\"sections\":[" SEC("a", "0,1") "],\"students\":["
		    STU2("v") "," STU2("u") "]}", "not sorted" },
		{ NULL, NULL }
	};
	const struct bad_snapshot	*b;
	struct roster			*r;
	char				 err[256];

	for (b = bad; b->json != NULL; b++) {
		err[0] = '\0';
		r = roster_from_snapshot(b->json, strlen(b->json), err,
		    sizeof(err));
		if (r != NULL)
			fail_msg("accepted: %s", b->json);
		if (strstr(err, b->error) == NULL)
			fail_msg("%s\n  gave \"%s\", want \"%s\"", b->json, err,
			    b->error);
	}
}

/* A format 1 snapshot (before the upgrade) reads, and is written as 2. */
static void
test_snapshot_minimal_valid(void **state)
{
	static const char *const old =
	    SNAP_HEAD "\"sections\":[" SEC("a", "\"u\"") "],\"students\":["
	    STU("u") "]}";
	static const char *const good =
	    SNAP2_HEAD "\"sections\":[" SEC("a", "0") "],\"students\":["
	    STU2("u") "]}";
	const char	*in[] = { old, good };
	struct roster	*r;
	char		 err[256], *s;
	size_t		 i;

	for (i = 0; i < 2; i++) {
		r = roster_from_snapshot(in[i], strlen(in[i]), err,
		    sizeof(err));
		if (r == NULL)
			fail_msg("%s", err);
		s = roster_snapshot(r, NULL);
		assert_string_equal(s, good);
		free(s);
		roster_free(r);
	}
}

/*
 * The format 1 text of a format 2 snapshot, as rosterd wrote it before
 * the upgrade: students as objects, enrollments as ids.
 */
static char *
snapshot_as_format1(const char *s2)
{
	static const char *const cols[] = { "id", "first", "last", "grade",
	    "extra" };
	json_object	*o = parse(s2), *studs, *secs, *a, *u, *ids;
	size_t		 i, j;
	char		*out;

	json_object_object_add(o, "format", json_object_new_int(1));
	json_object_object_get_ex(o, "students", &studs);
	json_object_object_get_ex(o, "sections", &secs);
	for (i = 0; i < json_object_array_length(secs); i++) {
		json_object_object_get_ex(json_object_array_get_idx(secs, i),
		    "students", &a);
		ids = json_object_new_array();
		for (j = 0; j < json_object_array_length(a); j++)
			json_object_array_add(ids, json_object_get(
			    json_object_array_get_idx(json_object_array_get_idx(
			    studs, (size_t)json_object_get_int(
			    json_object_array_get_idx(a, j))), 0)));
		json_object_object_add(json_object_array_get_idx(secs, i),
		    "students", ids);
	}
	a = json_object_new_array();
	for (i = 0; i < json_object_array_length(studs); i++) {
		u = json_object_new_object();
		for (j = 0; j < json_object_array_length(
		    json_object_array_get_idx(studs, i)); j++)
			json_object_object_add(u, cols[j], json_object_get(
			    json_object_array_get_idx(json_object_array_get_idx(
			    studs, i), j)));
		json_object_array_add(a, u);
	}
	json_object_object_add(o, "students", a);
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

/* A deployment upgrades with format 1 snapshots: they read the same. */
static void
test_snapshot_format1_reads(void **state)
{
	enum roster_fieldset	 sets[] = { ROSTER_FIELDS_LIBRARY,
	    ROSTER_FIELDS_DISTRICT };
	struct roster		*r, *back;
	char			*s2, *s1, *again, err[256];
	size_t			 i;

	for (i = 0; i < 2; i++) {
		r = recorded_roster(sets[i]);
		r->version = 5;
		s2 = roster_snapshot(r, NULL);
		s1 = snapshot_as_format1(s2);
		assert_non_null(strstr(s1, "{\"format\":1,"));
		back = roster_from_snapshot(s1, strlen(s1), err, sizeof(err));
		if (back == NULL)
			fail_msg("%s\n%s", err, s1);
		again = roster_snapshot(back, NULL);
		assert_string_equal(again, s2);
		assert_false(roster_snapshot_same(s1, strlen(s1), s2,
		    strlen(s2)));
		free(again);
		free(s1);
		free(s2);
		roster_free(back);
		roster_free(r);
	}
}

struct bad_input {
	int		 kind;	/* 0 teacher, 1 sections, 2 students */
	const char	*json;
	const char	*error;
};

static void
test_clever_malformed(void **state)
{
	static const struct bad_input bad[] = {
		{ 0, "[]", "teacher: expected an object, got array" },
		{ 0, "{}", "missing \"data\" object" },
		{ 0, "{\"data\":[]}", "\"data\": expected an object" },
		{ 0, "{\"data\":{}}", "missing \"id\"" },
		{ 0, "{\"data\":{\"id\":\"\"}}", "missing \"id\"" },
		{ 0, "{\"data\":{\"id\":5}}", "\"id\": expected a string, got "
		    "int" },
		{ 0, "{\"data\":{\"id\":\"t\",\"name\":\"Bob\"}}",
		    "teacher t: \"name\": expected an object" },
		{ 0, "{\"data\":{\"id\":\"t\",\"name\":{\"first\":1}}}",
		    "\"first\": expected a string" },
		{ 0, "{\"data\":{\"id\":\"t\",\"email\":[]}}",
		    "\"email\": expected a string" },
		{ 0, "{\"data\":{\"id\":\"t\",\"roles\":[]}}",
		    "\"roles\": expected an object" },
		{ 0, "{\"data\":{\"id\":\"a\\u0000b\"}}", "NUL" },
		{ 1, "{}", "sections page: \"data\": expected an array, got "
		    "null" },
		{ 1, "{\"data\":{}}", "expected an array, got object" },
		{ 1, "{\"data\":[1]}", "data[0]: expected an object" },
		{ 1, "{\"data\":[{\"uri\":\"x\"}]}", "data[0]: missing \"data\"" },
		{ 1, "{\"data\":[{\"data\":{\"id\":\"s\",\"teachers\":\"t\"}}]}",
		    "section s: \"teachers\": expected an array" },
		{ 1, "{\"data\":[{\"data\":{\"id\":\"s\",\"teachers\":[null]}}]}",
		    "\"teachers\"[0]: not an id" },
		{ 1, "{\"data\":[{\"data\":{\"id\":\"s\",\"students\":[\"a\",2]}}"
		    "]}", "\"students\"[1]: not an id" },
		{ 1, "{\"data\":[{\"data\":{\"id\":\"s\",\"students\":{}}}]}",
		    "\"students\": expected an array" },
		{ 1, "{\"data\":[{\"data\":{\"id\":\"s\",\"subject\":3}}]}",
		    "\"subject\": expected a string" },
		{ 1, "{\"data\":[{\"data\":{\"id\":\"s\",\"name\":true}}]}",
		    "\"name\": expected a string" },
		{ 2, "{\"data\":[{\"data\":{\"id\":\"u\",\"roles\":{\"student\":"
		    "{\"grade\":9}}}}]}", "user u: \"grade\": expected a string" },
		{ 2, "{\"data\":[{\"data\":{\"id\":\"u\",\"roles\":{\"student\":"
		    "\"yes\"}}}]}", "\"student\": expected an object" },
		{ 2, "{\"data\":[{\"data\":{\"id\":\"u\",\"name\":{\"last\":[]}}}"
		    "]}", "\"last\": expected a string" },
		{ 2, "\"x\"", "students page: expected an object" },
		{ -1, NULL, NULL }
	};
	const struct bad_input	*b;
	struct roster		*r;
	json_object		*o;
	char			 err[256];
	int			 rc;

	for (b = bad; b->json != NULL; b++) {
		r = roster_new(ROSTER_FIELDS_DISTRICT);
		o = parse(b->json);
		err[0] = '\0';
		switch (b->kind) {
		case 0:
			rc = roster_set_teacher(r, o, err, sizeof(err));
			assert_null(r->teacher.id);
			break;
		case 1:
			rc = roster_add_sections(r, o, err, sizeof(err));
			break;
		default:
			rc = roster_add_students(r, o, err, sizeof(err));
			break;
		}
		if (rc != -1)
			fail_msg("accepted: %s", b->json);
		if (strstr(err, b->error) == NULL)
			fail_msg("%s\n  gave \"%s\", want \"%s\"", b->json, err,
			    b->error);
		json_object_put(o);
		roster_free(r);
	}
}

static void
test_oversized_fields(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	json_object	*o, *d;
	char		*big, err[256];

	big = malloc(ROSTER_STR_MAX + 2);
	memset(big, 'x', ROSTER_STR_MAX + 1);
	big[ROSTER_STR_MAX + 1] = '\0';
	o = json_object_new_object();
	d = json_object_new_object();
	json_object_object_add(o, "data", d);
	json_object_object_add(d, "id", json_object_new_string("t"));
	json_object_object_add(d, "email", json_object_new_string(big));
	assert_int_equal(roster_set_teacher(r, o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\"email\": longer than 4096 bytes"));
	big[ROSTER_ID_MAX + 1] = '\0';
	json_object_object_add(d, "id", json_object_new_string(big));
	assert_int_equal(roster_set_teacher(r, o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\"id\": longer than 128 bytes"));
	json_object_put(o);
	free(big);
	roster_free(r);
}

/* Clever pages with nothing in them are fine (a next link can do that). */
static void
test_empty_pages(void **state)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	json_object	*o = parse("{\"data\":[],\"links\":[]}");
	char		 err[256];

	assert_int_equal(roster_add_sections(r, o, err, sizeof(err)), 0);
	assert_int_equal(roster_add_students(r, o, err, sizeof(err)), 0);
	json_object_put(o);
	set_teacher_fixture(r);
	assert_int_equal(roster_finish(r, 0, err, sizeof(err)), 0);
	check_round_trip(r);
	roster_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_fixture_parses),
		cmocka_unit_test(test_teacher),
		cmocka_unit_test(test_teacher_trim_and_case),
		cmocka_unit_test(test_library_minimized),
		cmocka_unit_test(test_district_extras),
		cmocka_unit_test(test_sections),
		cmocka_unit_test_setup_teardown(test_missing_students_dropped,
		    setup, teardown),
		cmocka_unit_test(test_inexact),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_duplicates_merged),
		cmocka_unit_test(test_primary_teacher_first),
		cmocka_unit_test_setup_teardown(test_unknown_values_kept,
		    setup, teardown),
		cmocka_unit_test(test_last_initial_utf8),
		cmocka_unit_test(test_select_sections),
		cmocka_unit_test(test_sections_only),
		cmocka_unit_test(test_finish_needs_teacher),
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(test_snapshot_format),
		cmocka_unit_test(test_snapshot_same),
		cmocka_unit_test(test_roster_hash),
		cmocka_unit_test(test_snapshot_is_json_c_text),
		cmocka_unit_test(test_snapshot_truncated),
		cmocka_unit_test(test_snapshot_malformed),
		cmocka_unit_test(test_snapshot_minimal_valid),
		cmocka_unit_test(test_snapshot_format1_reads),
		cmocka_unit_test(test_clever_malformed),
		cmocka_unit_test(test_oversized_fields),
		cmocka_unit_test(test_empty_pages),
	};

	/* Warnings about the recorded data go nowhere outside the log tests. */
	log_init("test_roster", LOG_LVL_ERR, LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
