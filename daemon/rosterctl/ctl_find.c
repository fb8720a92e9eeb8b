/*
 * rosterctl find TEACHER | find --ref REF: a teacher's or an application
 * reference's jobs without knowing a job id, newest first.  Three places
 * know of a job: its status hash, PREFIX job:JOB, while it has not expired
 * (running, retrying, done, failed...); the job stream, where a job not
 * read by any instance yet is "waiting" and one read but without a status
 * yet is "pending" (in the group's pending list).  The status hashes are
 * found with SCAN MATCH, COUNT at a time, never KEYS: Redis goes on
 * serving meanwhile.  Each job prints as rosterctl status prints it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "contract.h"
#include "ctl.h"
#include "xmalloc.h"

#define SCAN_COUNT	"1000"
#define CHUNK		500

struct find {
	const char	*field;		/* "teacher" or "ref" */
	const char	*value;
	json_object	*jobs;		/* job id -> job object */
};

/* A stream id, "MS-SEQ", as two numbers: ids compare as those. */
static int
id_cmp(const char *a, const char *b)
{
	unsigned long long am, bm, as = 0, bs = 0;
	char *end;

	am = strtoull(a, &end, 10);
	if (*end == '-')
		as = strtoull(end + 1, NULL, 10);
	bm = strtoull(b, &end, 10);
	if (*end == '-')
		bs = strtoull(end + 1, NULL, 10);
	if (am != bm)
		return am < bm ? -1 : 1;
	return as < bs ? -1 : as > bs;
}

/* key with SCAN's pattern characters escaped, then "*". */
static char *
scan_pattern(const char *key)
{
	char *p = xcalloc(2 * strlen(key) + 2, 1), *q = p;

	for (; *key != '\0'; key++) {
		if (strchr("*?[]\\", *key) != NULL)
			*q++ = '\\';
		*q++ = *key;
	}
	*q = '*';
	return p;
}

/* One status hash: the job's when its teacher or ref is the one sought. */
static void
status_one(struct find *fd, const char *key, size_t prefix_len)
{
	redisReply *r = ctl_cmd("HGET %s %s", key, fd->field);
	int match = r->type == REDIS_REPLY_STRING &&
	    strcmp(r->str, fd->value) == 0;

	freeReplyObject(r);
	if (!match)
		return;
	r = ctl_cmd("HGETALL %s", key);
	if (r->elements > 0)	/* not expired meanwhile */
		json_object_object_add(fd->jobs, key + prefix_len,
		    ctl_record_json(r, ctl_job_fields));
	freeReplyObject(r);
}

static void
find_statuses(struct find *fd)
{
	char *prefix = ctl_key(KEY_JOB, ""), *match = scan_pattern(prefix);
	char cursor[32] = "0";
	redisReply *r;
	size_t i;

	do {
		r = ctl_cmd("SCAN %s MATCH %s COUNT " SCAN_COUNT, cursor,
		    match);
		xstrlcpy(cursor, r->element[0]->str, sizeof(cursor));
		for (i = 0; i < r->element[1]->elements; i++)
			status_one(fd, r->element[1]->element[i]->str,
			    strlen(prefix));
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	free(match);
	free(prefix);
}

/* The id of the last entry the group read, "0-0" when none or no group. */
static void
last_delivered(const char *stream, char *buf, size_t len)
{
	redisReply *r = ctl_cmd_try("XINFO GROUPS %s", stream), *g;
	size_t i, k;

	xstrlcpy(buf, "0-0", len);
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		g = r->element[i];
		if (strcmp(ctl_field(g, "name"), CONSUMER_GROUP) != 0)
			continue;
		for (k = 0; k + 1 < g->elements; k += 2)
			if (strcmp(g->element[k]->str,
			    "last-delivered-id") == 0)
				xstrlcpy(buf, g->element[k + 1]->str, len);
	}
	freeReplyObject(r);
}

static int
is_pending(const char *stream, const char *id)
{
	redisReply *r = ctl_cmd_try("XPENDING %s %s %s %s 1", stream,
	    CONSUMER_GROUP, id, id);
	int pending = r->type == REDIS_REPLY_ARRAY && r->elements == 1;

	freeReplyObject(r);
	return pending;
}

/*
 * A job entry without a status: waiting or pending, as a job object with
 * the entry's fields (kind and trigger defaulted as rosterd does) and its
 * creation time, the id's milliseconds.
 */
static json_object *
entry_job(redisReply *e, const char *state)
{
	redisReply *f = e->element[1];
	const char **kv = xcalloc(f->elements + 8, sizeof(*kv));
	char created[32];
	json_object *o;
	size_t i, n = 0;

	snprintf(created, sizeof(created), "%llu",
	    strtoull(e->element[0]->str, NULL, 10));
	kv[n++] = "job";
	kv[n++] = e->element[0]->str;
	kv[n++] = "state";
	kv[n++] = state;
	kv[n++] = "created_ms";
	kv[n++] = created;
	if (*ctl_field(f, "kind") == '\0') {
		kv[n++] = "kind";
		kv[n++] = "sync";
	}
	if (*ctl_field(f, "trigger") == '\0') {
		kv[n++] = "trigger";
		kv[n++] = "app";
	}
	for (i = 0; i < f->elements; i++)
		kv[n++] = f->element[i]->str;
	o = ctl_pairs_add(ctl_object(), kv, n / 2, ctl_job_fields);
	free(kv);
	return o;
}

/* The stream's jobs of the teacher or ref that have no status yet. */
static void
find_waiting(struct find *fd)
{
	char *stream = ctl_key(KEY_JOBS, NULL), from[80] = "-", last[80];
	redisReply *r, *e;
	const char *id;
	size_t i;
	int more = 1;

	last_delivered(stream, last, sizeof(last));
	while (more) {
		r = ctl_cmd("XRANGE %s %s + COUNT %d", stream, from, CHUNK);
		for (i = 0; i < r->elements; i++) {
			e = r->element[i];
			id = e->element[0]->str;
			if (strcmp(ctl_field(e->element[1], fd->field),
			    fd->value) != 0 ||
			    json_object_object_get_ex(fd->jobs, id, NULL))
				continue;
			if (id_cmp(id, last) > 0)
				json_object_object_add(fd->jobs, id,
				    entry_job(e, "waiting"));
			else if (is_pending(stream, id))
				json_object_object_add(fd->jobs, id,
				    entry_job(e, "pending"));
			/* else: finished, its status expired */
		}
		more = r->elements == CHUNK;
		if (more)
			snprintf(from, sizeof(from), "(%s",
			    r->element[r->elements - 1]->element[0]->str);
		freeReplyObject(r);
	}
	free(stream);
}

static const char *
job_str(json_object *job, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(job, k, &v) && v != NULL ?
	    json_object_get_string(v) : "";
}

static int
newest_first(const void *a, const void *b)
{
	return id_cmp(job_str(*(json_object *const *)b, "job"),
	    job_str(*(json_object *const *)a, "job"));
}

/* " LABEL YYYY-MM-DD HH:MM:SSZ" for a time field the job has. */
static void
print_time(json_object *job, const char *label, const char *k)
{
	json_object *v;
	time_t t;
	struct tm tm;
	char buf[32];

	if (!json_object_object_get_ex(job, k, &v) || v == NULL)
		return;
	t = (time_t)(json_object_get_int64(v) / 1000);
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
	printf("  %s %s", label, buf);
}

/* One line a job: id, state, kind, trigger, times, result or error. */
static void
print_job(json_object *job)
{
	printf("%s  %-8s %-8s %-8s", job_str(job, "job"),
	    job_str(job, "state"), job_str(job, "kind"),
	    job_str(job, "trigger"));
	print_time(job, "created", "created_ms");
	print_time(job, "finished", "finished_ms");
	if (*job_str(job, "ref") != '\0')
		printf("  ref %s", job_str(job, "ref"));
	if (*job_str(job, "result") != '\0')
		printf("  result %s", job_str(job, "result"));
	if (*job_str(job, "error") != '\0')
		printf("  error %s: %s", job_str(job, "error"),
		    job_str(job, "message"));
	printf("\n");
}

static int
find_args(int argc, char **argv, struct find *fd)
{
	static const struct option longopts[] = {
		{ "ref", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	fd->field = "teacher";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+r:", longopts, NULL)) != -1) {
		if (c != 'r')
			return ctl_usage(argv[0]);
		fd->field = "ref";
		fd->value = optarg;
	}
	if (argc - optind != (fd->value == NULL ? 1 : 0))
		return ctl_usage(argv[0]);
	if (fd->value == NULL)
		fd->value = argv[optind];
	if (strcmp(fd->field, "teacher") == 0 &&
	    !contract_id_valid(fd->value, TEACHER_ID_MAX))
		return ctl_error(CTL_USAGE, CTL_E_USAGE, "find: %s is not a "
		    "teacher id", fd->value);
	if (*fd->value == '\0' || strlen(fd->value) > JOB_REF_MAX)
		return ctl_error(CTL_USAGE, CTL_E_USAGE, "find: a ref is 1-%d "
		    "bytes", JOB_REF_MAX);
	return CTL_OK;
}

int
ctl_find(int argc, char **argv)
{
	struct find fd = { NULL, NULL, NULL };
	json_object *list;
	size_t i, n;
	int rv;

	if ((rv = find_args(argc, argv, &fd)) != CTL_OK)
		return rv;
	fd.jobs = json_object_new_object();
	find_statuses(&fd);
	find_waiting(&fd);
	list = json_object_new_array();
	json_object_object_foreach(fd.jobs, id, job) {
		(void)id;
		json_object_array_add(list, json_object_get(job));
	}
	json_object_put(fd.jobs);
	json_object_array_sort(list, newest_first);
	if (ctl_json) {
		ctl_print_json(list);
		return CTL_OK;
	}
	n = json_object_array_length(list);
	if (n == 0)
		printf("no jobs of %s %s\n", fd.field, fd.value);
	for (i = 0; i < n; i++)
		print_job(json_object_array_get_idx(list, i));
	json_object_put(list);
	return CTL_OK;
}
