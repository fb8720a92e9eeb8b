/*
 * rosterctl on jobs and teachers: a job's status, status changes as they
 * happen, a teacher's snapshot, the roster diffs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "contract.h"
#include "ctl.h"
#include "partition.h"
#include "xmalloc.h"

int
ctl_status(int argc, char **argv)
{
	char *k;
	redisReply *r;

	if (argc != 2)
		return ctl_usage(argv[0]);
	k = ctl_key(KEY_JOB, argv[1]);
	r = ctl_cmd("HGETALL %s", k);
	free(k);
	if (r->elements == 0) {
		freeReplyObject(r);
		return ctl_error(CTL_FAIL, CTL_E_NOT_FOUND, "job %s: no status "
		    "(not seen yet, or expired)", argv[1]);
	}
	if (ctl_json)
		ctl_print_json(ctl_record_json(r, ctl_job_fields));
	else
		ctl_print_record(NULL, r, ctl_job_fields);
	freeReplyObject(r);
	return CTL_OK;
}

/* Event fields in the order people read them; the rest follow. */
static const char *const event_order[] = {
	"state", "job", "teacher", "ref", "result", "version", "diff_id",
	"error", "message", "attempts", "coalesced_with", NULL
};

static void
print_event(const char *msg)
{
	json_object *ev = json_tokener_parse(msg), *v;
	const char *const *p;
	char tbuf[16];
	time_t now = time(NULL);
	struct tm tm;

	if (ev == NULL || !json_object_is_type(ev, json_type_object)) {
		printf("(unreadable event) %s\n", msg);
		json_object_put(ev);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%SZ", &tm);
	printf("%s", tbuf);
	for (p = event_order; *p != NULL; p++)
		if (json_object_object_get_ex(ev, *p, &v) &&
		    *json_object_get_string(v) != '\0')
			printf(" %s=%s", *p, json_object_get_string(v));
	json_object_object_foreach(ev, k, val) {
		for (p = event_order; *p != NULL; p++)
			if (strcmp(*p, k) == 0)
				break;
		if (*p == NULL && *json_object_get_string(val) != '\0')
			printf(" %s=%s", k, json_object_get_string(val));
	}
	printf("\n");
	json_object_put(ev);
}

/* An event as a job object: the same keys, order and types as status. */
static void
print_event_json(const char *msg)
{
	json_object *ev = json_tokener_parse(msg);

	if (ev == NULL || !json_object_is_type(ev, json_type_object))
		ctl_error(0, "unreadable_event", "unreadable event: %s", msg);
	else
		ctl_print_json(ctl_event_json(ev, ctl_job_fields));
	json_object_put(ev);
}

static int
event_of(const char *msg, const char *teacher)
{
	json_object *ev, *v;
	int match;

	if (teacher == NULL)
		return 1;
	if ((ev = json_tokener_parse(msg)) == NULL)
		return 0;
	match = json_object_object_get_ex(ev, "teacher", &v) &&
	    strcmp(json_object_get_string(v), teacher) == 0;
	json_object_put(ev);
	return match;
}

/* Follow the events channel; -n COUNT: stop after COUNT events. */
int
ctl_watch(int argc, char **argv)
{
	const char *teacher = NULL;
	char *ch = ctl_key(KEY_EVENTS, NULL), *end;
	long count = -1, seen = 0;
	redisReply *r;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt(argc, argv, "+n:")) != -1) {
		if (c != 'n' || (count = strtol(optarg, &end, 10)) <= 0 ||
		    *end != '\0') {
			free(ch);
			return ctl_usage(argv[0]);
		}
	}
	if (argc - optind > 1) {
		free(ch);
		return ctl_usage(argv[0]);
	}
	if (optind < argc) {
		teacher = argv[optind];
		if (!contract_id_valid(teacher, TEACHER_ID_MAX)) {
			free(ch);
			return ctl_error(CTL_USAGE, CTL_E_USAGE, "watch: %s is "
			    "not a teacher id", teacher);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	freeReplyObject(ctl_cmd("SUBSCRIBE %s", ch));
	fprintf(stderr, "rosterctl: watching %s\n", ch);
	free(ch);
	ctl_conn_wait_forever();
	while (count < 0 || seen < count) {
		if ((r = ctl_conn_read()) == NULL)
			ctl_fatal("Redis: %s", ctl_conn_error());
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    strcmp(r->element[0]->str, "message") == 0 &&
		    event_of(r->element[2]->str, teacher)) {
			if (ctl_json)
				print_event_json(r->element[2]->str);
			else
				print_event(r->element[2]->str);
			seen++;
		}
		freeReplyObject(r);
	}
	return CTL_OK;
}

int
ctl_snapshot(int argc, char **argv)
{
	char *k;
	redisReply *r;

	if (argc != 2)
		return ctl_usage(argv[0]);
	k = ctl_key(KEY_SNAPSHOT, argv[1]);
	r = ctl_cmd("HGET %s roster", k);
	free(k);
	if (r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return ctl_error(CTL_FAIL, CTL_E_NOT_FOUND, "no snapshot for "
		    "teacher %s", argv[1]);
	}
	/* the snapshot is JSON already: the same with or without --json */
	printf("%s\n", r->str);
	freeReplyObject(r);
	return CTL_OK;
}

static void
print_diff_entry(redisReply *e)
{
	redisReply *f = e->element[1];
	json_object *diff;

	printf("diff %s: teacher %s, version %s -> %s, job %s (+%s ~%s -%s)\n",
	    e->element[0]->str, ctl_field(f, "teacher"),
	    ctl_field(f, "base_version"), ctl_field(f, "version"),
	    ctl_field(f, "job"), ctl_field(f, "added"),
	    ctl_field(f, "updated"), ctl_field(f, "removed"));
	diff = json_tokener_parse(ctl_field(f, "diff"));
	if (diff == NULL)
		printf("  (unreadable diff)\n");
	else
		ctl_print_diff(stdout, diff);
	json_object_put(diff);
}

/* A diff entry as JSON: its fields, the diff itself parsed. */
static json_object *
diff_entry_json(redisReply *e)
{
	json_object *o = ctl_entry_json(e, ctl_diff_fields);

	json_object_object_add(o, "diff",
	    json_tokener_parse(ctl_field(e->element[1], "diff")));
	return o;
}

/* What ctl_diffs read: the entries kept, and the replies they are in. */
struct diffs_read {
	redisReply	**keep;		/* newest first */
	size_t		  n;
	redisReply	**chunks;
	size_t		  nr;
};

/*
 * The last count entries of stream k (of teacher, if not NULL), newest
 * first, added to d.  Read backwards in chunks: a long stream is not read
 * whole.
 */
static void
diffs_read_back(struct diffs_read *d, const char *k, const char *teacher,
    size_t count)
{
	char end[64] = "+";
	redisReply *r;
	size_t i, n = 0;

	while (n < count) {
		r = ctl_cmd("XREVRANGE %s %s - COUNT 1000", k, end);
		d->chunks = xreallocarray(d->chunks, d->nr + 1,
		    sizeof(*d->chunks));
		d->chunks[d->nr++] = r;
		if (r->elements > 0)
			d->keep = xreallocarray(d->keep, d->n + r->elements,
			    sizeof(*d->keep));
		for (i = 0; i < r->elements && n < count; i++)
			if (teacher == NULL || strcmp(ctl_field(
			    r->element[i]->element[1], "teacher"), teacher) == 0) {
				d->keep[d->n++] = r->element[i];
				n++;
			}
		if (r->elements < 1000)
			break;
		/* next chunk: strictly before the last id seen */
		snprintf(end, sizeof(end), "(%s",
		    r->element[r->elements - 1]->element[0]->str);
	}
}

/* Stream ids, newest first: "MS-SEQ", compared as numbers. */
static int
newest_first(const void *a, const void *b)
{
	const char *x = (*(redisReply *const *)a)->element[0]->str;
	const char *y = (*(redisReply *const *)b)->element[0]->str;
	unsigned long long xm, xs = 0, ym, ys = 0;
	char *p;

	xm = strtoull(x, &p, 10);
	if (*p == '-')
		xs = strtoull(p + 1, NULL, 10);
	ym = strtoull(y, &p, 10);
	if (*p == '-')
		ys = strtoull(p + 1, NULL, 10);
	if (xm != ym)
		return xm < ym ? 1 : -1;
	return xs < ys ? 1 : xs > ys ? -1 : 0;
}

/*
 * The last COUNT diffs (of one teacher), oldest first.  A teacher's are in
 * its partition's stream; all teachers': the last COUNT of every
 * partition, merged by stream id.
 */
int
ctl_diffs(int argc, char **argv)
{
	const char *teacher = argc > 1 && strcmp(argv[1], "-") != 0 ?
	    argv[1] : NULL;
	long count = 100;
	struct diffs_read d = { 0 };
	unsigned np, p;
	json_object *a = NULL;
	size_t i, n;
	char *k, *end;

	if (argc > 3 || (argc > 2 && ((count = strtol(argv[2], &end, 10)) <= 0 ||
	    *end != '\0')))
		return ctl_usage(argv[0]);
	np = ctl_partitions();
	for (p = 0; p < np; p++) {
		if (teacher != NULL && p != partition_of(teacher, np))
			continue;
		k = ctl_diffs_key(p);
		diffs_read_back(&d, k, teacher, (size_t)count);
		free(k);
	}
	if (np > 1 && d.n > 1)
		qsort(d.keep, d.n, sizeof(*d.keep), newest_first);
	n = d.n < (size_t)count ? d.n : (size_t)count;
	if (ctl_json)
		a = json_object_new_array();
	while (n > 0) {
		if (ctl_json)
			json_object_array_add(a, diff_entry_json(d.keep[--n]));
		else
			print_diff_entry(d.keep[--n]);
	}
	if (ctl_json)
		ctl_print_json(a);
	for (i = 0; i < d.nr; i++)
		freeReplyObject(d.chunks[i]);
	free(d.chunks);
	free(d.keep);
	return CTL_OK;
}
