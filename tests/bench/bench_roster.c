/*
 * CPU cost of the roster model per typical teacher: 6 sections of 30
 * students, 180 students, the three Clever responses of a Library sync
 * (/users/{id}, /users/{id}/sections, /users/{id}/mystudents) shaped like
 * the recordings.  Reports microseconds of process CPU time per teacher
 * for Library-shaped responses (teacher-shared fields only) and for
 * responses shaped like the district recordings:
 *	parse		json-c parsing of the three responses alone (baseline)
 *	first sync	parse + normalize + finish + diff from nothing +
 *			diff to text + snapshot
 *	resync		the same plus reading the previous snapshot, with a
 *			few changes since (the steady state)
 * and the ratios to the baseline.  Usage: bench_roster [iterations]
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "log.h"
#include "roster.h"

#define NSECTIONS	6
#define PER_SECTION	30
#define NSTUDENTS	(NSECTIONS * PER_SECTION)
#define ROUNDS		5

static const char teacher_json[] =
    "{\"data\":{\"created\":\"2023-04-07T16:21:01.441Z\",\"district\":"
    "\"58da8a43cc70ab00017a1a87\",\"email\":\"robin_plant@example.org\","
    "\"id\":\"5faac8b7bc447500a10ae857\",\"last_modified\":"
    "\"2023-03-26T16:08:09.909Z\",\"name\":{\"first\":\"Robin\",\"last\":"
    "\"Plant\",\"middle\":\"M\"},\"roles\":{\"teacher\":{\"credentials\":"
    "{\"district_username\":\"plant_robin\"},\"ext\":{\"admin_permissions\":"
    "\"Y\"},\"legacy_id\":\"58da8c5da7a7e5a6470000a1\",\"school\":"
    "\"58da8c58155b940248000007\",\"schools\":[\"58da8c58155b940248000007\"],"
    "\"sis_id\":\"77\",\"state_id\":\"114182024\",\"teacher_number\":"
    "\"532771\",\"title\":\"High School Arts Teacher\"}}},\"links\":[{\"rel\":"
    "\"self\",\"uri\":\"/v3.0/users/5faac8b7bc447500a10ae857\"}]}";

struct buf {
	char	*s;
	size_t	 len, cap;
};

static void
buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n + 1;
		if ((b->s = realloc(b->s, b->cap)) == NULL)
			abort();
	}
}

static void
student_id(char *id, size_t len, unsigned i)
{
	snprintf(id, len, "58da8c63d7dc0ca0680%05x", 0x3ee + i);
}

/* The sections page; variant != 0 moves one student between sections. */
static char *
sections_json(int variant)
{
	struct buf	b = { 0 };
	char		id[32];
	unsigned	s, k, stu;

	buf_printf(&b, "{\"links\":[{\"rel\":\"self\",\"uri\":"
	    "\"/v3.0/users/5faac8b7bc447500a10ae857/sections\"}],\"data\":[");
	for (s = 0; s < NSECTIONS; s++) {
		buf_printf(&b, "%s{\"data\":{\"course\":\"5970d4de35e9e69741000"
		    "27%u\",\"created\":\"2023-04-12T23:05:00.310Z\",\"district\":"
		    "\"58da8a43cc70ab00017a1a87\",\"ext\":{\"classroom\":\"A%u\"},"
		    "\"grade\":\"%u\",\"last_modified\":\"2023-04-23T16:07:31.465Z"
		    "\",\"name\":\"Sixth Grade Math - Plant - %u\",\"period\":"
		    "\"%u\",\"school\":\"58da8c58155b940248000008\","
		    "\"section_number\":\"\",\"sis_id\":\"58%u\",\"students\":[",
		    s ? "," : "", s, s, 6 + s % 3, s, s, s);
		for (k = 0; k < PER_SECTION; k++) {
			stu = s * PER_SECTION + k;
			if (variant && stu == 0)
				stu = NSTUDENTS - 1;	/* moved */
			student_id(id, sizeof(id), stu);
			buf_printf(&b, "%s\"%s\"", k ? "," : "", id);
		}
		buf_printf(&b, "],\"subject\":\"%s\",\"teacher\":"
		    "\"5faac8b7bc447500a10ae857\",\"teachers\":"
		    "[\"5faac8b7bc447500a10ae857\"],\"term_id\":"
		    "\"5b42365868c8d6104f634d34\",\"id\":\"58da8c6a894273be680001"
		    "8%u\"},\"uri\":\"/v3.0/sections/58da8c6a894273be6800018%u\"}",
		    s % 2 ? "math" : "Mathematics", s, s);
	}
	buf_printf(&b, "]}");
	return b.s;
}

/* A student as a Library token sees it: the teacher-shared fields. */
static void
library_student(struct buf *b, unsigned i, const char *id, int variant)
{
	buf_printf(b, "%s{\"data\":{\"created\":\"2023-04-12T23:05:01.320Z\","
	    "\"last_modified\":\"2023-04-23T16:07:32.551Z\",\"name\":{"
	    "\"first\":\"Douglas%u\",\"last\":\"W\"},\"id\":\"%s\","
	    "\"roles\":{\"student\":{\"grade\":\"%s\"}}},\"uri\":"
	    "\"/v3.0/users/%s\"}", i ? "," : "", i, id,
	    variant && i == 7 ? "07" : "6", id);
}

/*
 * The mystudents page; variant != 0 changes one student's grade.  Library
 * shape: teacher-shared fields only; else shaped like the recordings.
 */
static char *
students_json(int variant, int library)
{
	struct buf	b = { 0 };
	char		id[32];
	unsigned	i;

	buf_printf(&b, "{\"links\":[{\"rel\":\"self\",\"uri\":\"/v3.0/users/"
	    "5faac8b7bc447500a10ae857/mystudents\"}],\"data\":[");
	for (i = 0; i < NSTUDENTS; i++) {
		student_id(id, sizeof(id), i);
		if (library) {
			library_student(&b, i, id, variant);
			continue;
		}
		buf_printf(&b, "%s{\"data\":{\"created\":\"2023-04-12T23:05:01.320Z"
		    "\",\"district\":\"58da8a43cc70ab00017a1a87\",\"email\":"
		    "\"student%u@example.net\",\"last_modified\":"
		    "\"2023-04-23T16:07:32.551Z\",\"name\":{\"first\":\"Douglas%u\","
		    "\"last\":\"Wisoky\",\"middle\":\"S\"},\"id\":\"%s\",\"roles\":"
		    "{\"student\":{\"credentials\":{\"district_username\":"
		    "\"douglasw%u\"},\"dob\":\"6/18/1998\",\"enrollments\":[],"
		    "\"ext\":{\"gifted_status\":\"Y\"},\"gender\":\"M\",\"grade\":"
		    "\"%s\",\"graduation_year\":\"\",\"hispanic_ethnicity\":\"N\","
		    "\"location\":{\"address\":\"\",\"city\":\"\",\"state\":\"\","
		    "\"zip\":\"11004\"},\"race\":\"Caucasian\",\"school\":"
		    "\"58da8c58155b940248000007\",\"schools\":"
		    "[\"58da8c58155b940248000007\"],\"sis_id\":\"10156%04u\","
		    "\"state_id\":\"49800%04u\",\"student_number\":\"10156%04u\","
		    "\"email\":\"student%u@example.net\"}}},\"uri\":"
		    "\"/v3.0/users/%s\"}", i ? "," : "", i, i, id, i,
		    variant && i == 7 ? "07" : "6", i, i, i, i, id);
	}
	buf_printf(&b, "]}");
	return b.s;
}

struct responses {
	const char	*teacher, *sections, *students;
};

static json_object *
parse(const char *s)
{
	json_object	*o = json_tokener_parse(s);

	if (o == NULL)
		abort();
	return o;
}

static void
parse_only(const struct responses *r)
{
	json_object_put(parse(r->teacher));
	json_object_put(parse(r->sections));
	json_object_put(parse(r->students));
}

static void
must(int rc, const char *err)
{
	if (rc != 0) {
		fprintf(stderr, "bench_roster: %s\n", err);
		exit(1);
	}
}

/* What the daemon does for one teacher; returns the new snapshot. */
static char *
sync_teacher(const struct responses *resp, const char *old_snap,
    size_t old_len, size_t *difflen)
{
	struct roster	*r, *old = NULL;
	json_object	*o;
	char		 err[256], *snap, *diff;

	r = roster_new(ROSTER_FIELDS_LIBRARY);
	roster_set_auth(r, "teacher", NULL);
	o = parse(resp->teacher);
	must(roster_set_teacher(r, o, err, sizeof(err)), err);
	json_object_put(o);
	o = parse(resp->sections);
	must(roster_add_sections(r, o, err, sizeof(err)), err);
	json_object_put(o);
	o = parse(resp->students);
	must(roster_add_students(r, o, err, sizeof(err)), err);
	json_object_put(o);
	must(roster_finish(r, 0, err, sizeof(err)), err);
	if (old_snap != NULL) {
		old = roster_from_snapshot(old_snap, old_len, err, sizeof(err));
		must(old == NULL, err);
	}
	/* as the daemon does: the diff as text, never as a tree */
	diff = roster_diff_text(old, r, difflen, NULL);
	r->version = old != NULL ? old->version + 1 : 1;
	snap = roster_snapshot(r, NULL);
	free(diff);
	roster_free(old);
	roster_free(r);
	return snap;
}

static double
cpu_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

enum which { PARSE, FIRST, RESYNC };

/* Best of ROUNDS runs of n iterations: microseconds per teacher. */
static double
measure(enum which w, const struct responses *resp, const char *old_snap,
    unsigned n)
{
	double		 best = 1e30, t0, t;
	size_t		 dl, len = old_snap != NULL ? strlen(old_snap) : 0;
	unsigned	 round, i;

	for (round = 0; round < ROUNDS; round++) {
		t0 = cpu_us();
		for (i = 0; i < n; i++) {
			if (w == PARSE)
				parse_only(resp);
			else
				free(sync_teacher(resp, w == RESYNC ?
				    old_snap : NULL, len, &dl));
		}
		t = (cpu_us() - t0) / n;
		if (t < best)
			best = t;
	}
	return best;
}

/* One response shape: build the responses, measure, print. */
static void
run(const char *shape, int library, unsigned n)
{
	struct responses	 prev, cur;
	char			*old_snap, *snap;
	size_t			 dl_first, dl_resync;
	double			 p, f, r;

	prev.teacher = cur.teacher = teacher_json;
	prev.sections = sections_json(0);
	prev.students = students_json(0, library);
	cur.sections = sections_json(1);
	cur.students = students_json(1, library);
	old_snap = sync_teacher(&prev, NULL, 0, &dl_first);
	snap = sync_teacher(&cur, old_snap, strlen(old_snap), &dl_resync);

	p = measure(PARSE, &cur, NULL, n);
	f = measure(FIRST, &cur, NULL, n);
	r = measure(RESYNC, &cur, old_snap, n);
	printf("%s: %u sections x %u students, responses %zu bytes, snapshot "
	    "%zu bytes, diff %zu (first) / %zu (resync) bytes\n", shape,
	    NSECTIONS, PER_SECTION, strlen(cur.teacher) + strlen(cur.sections) +
	    strlen(cur.students), strlen(snap), dl_first, dl_resync);
	printf("  json-c parse alone:   %8.1f us/teacher\n", p);
	printf("  first sync (full):    %8.1f us/teacher  (%.2fx parse)\n", f,
	    f / p);
	printf("  resync (full):        %8.1f us/teacher  (%.2fx parse)\n", r,
	    r / p);
	free(snap);
	free(old_snap);
	free((char *)prev.sections);
	free((char *)prev.students);
	free((char *)cur.sections);
	free((char *)cur.students);
}

int
main(int argc, char **argv)
{
	unsigned	n = argc > 1 ? (unsigned)atoi(argv[1]) : 2000;

	log_init("bench_roster", LOG_LVL_ERR, LOG_TARGET_STDERR);
	run("library-shaped", 1, n);
	run("district-shaped (recordings)", 0, n);
	return 0;
}
