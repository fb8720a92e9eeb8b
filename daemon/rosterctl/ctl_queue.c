/*
 * rosterctl on the queue: its state, the whole deployment's figures
 * (stats, from the streams and the instances' heartbeats), enqueueing,
 * pausing and resuming every instance.  The queue's, the dead letters'
 * and the diff groups' figures come from queue_stats.lua, which rosterd's
 * metrics run too: both count alike.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "conf.h"
#include "contract.h"
#include "ctl.h"
#include "ctl_lua.h"
#include "xmalloc.h"

/* An XINFO entry (flat name/value array) as a JSON object. */
static json_object *
xinfo_json(const redisReply *g)
{
	json_object *o = json_object_new_object();
	const redisReply *v;
	size_t k;

	for (k = 0; k + 1 < g->elements; k += 2) {
		v = g->element[k + 1];
		if (v->type == REDIS_REPLY_INTEGER)
			json_object_object_add(o, g->element[k]->str,
			    json_object_new_int64(v->integer));
		else if (v->type == REDIS_REPLY_STRING ||
		    v->type == REDIS_REPLY_STATUS)
			json_object_object_add(o, g->element[k]->str,
			    json_object_new_string(v->str));
		else if (v->type == REDIS_REPLY_NIL)
			json_object_object_add(o, g->element[k]->str, NULL);
	}
	return o;
}

/* XINFO GROUPS/CONSUMERS as an array; empty when the stream or group is
 * missing. */
static json_object *
xinfo(const char *what, const char *stream, const char *group)
{
	json_object *a = json_object_new_array();
	redisReply *r;
	size_t i;

	r = group ? ctl_cmd_try("XINFO %s %s %s", what, stream, group) :
	    ctl_cmd_try("XINFO %s %s", what, stream);
	if (r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->elements; i++)
			json_object_array_add(a, xinfo_json(r->element[i]));
	freeReplyObject(r);
	return a;
}

static long long
xlen_of(const char *k)
{
	redisReply *r = ctl_cmd("XLEN %s", k);
	long long n = r->integer;

	freeReplyObject(r);
	return n;
}

static long long
xlen(enum key stream)
{
	char *k = ctl_key(stream, NULL);
	long long n = xlen_of(k);

	free(k);
	return n;
}

/* The diffs in every partition's stream. */
static long long
diffs_length(void)
{
	long long n = 0;
	unsigned p;
	char *k;

	for (p = 0; p < ctl_partitions(); p++) {
		k = ctl_diffs_key(p);
		n += xlen_of(k);
		free(k);
	}
	return n;
}

/* The pause key's value, or NULL (malloc'ed). */
static char *
pause_note(void)
{
	char *k = ctl_key(KEY_PAUSED, NULL), *v = NULL;
	redisReply *r = ctl_cmd("GET %s", k);

	if (r->type == REDIS_REPLY_STRING)
		v = xstrdup(r->str);
	freeReplyObject(r);
	free(k);
	return v;
}

static json_object *
str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* "label: key=value ..." per element, as before --json existed. */
static void
print_xinfo(const char *label, json_object *a)
{
	size_t i;

	for (i = 0; i < json_object_array_length(a); i++) {
		printf("%s:", label);
		json_object_object_foreach(json_object_array_get_idx(a, i),
		    k, v)
			if (v != NULL)
				printf(" %s=%s", k, json_object_get_string(v));
		printf("\n");
	}
}

int
ctl_queue(int argc, char **argv)
{
	char *stream = ctl_key(KEY_JOBS, NULL), *note = pause_note();
	json_object *o = ctl_object(), *groups, *consumers;

	if (argc != 1) {
		free(stream);
		free(note);
		json_object_put(o);
		return ctl_usage(argv[0]);
	}
	groups = xinfo("GROUPS", stream, NULL);
	consumers = xinfo("CONSUMERS", stream, CONSUMER_GROUP);
	json_object_object_add(o, "stream", json_object_new_string(stream));
	json_object_object_add(o, "length", json_object_new_int64(
	    xlen(KEY_JOBS)));
	json_object_object_add(o, "paused", str_or_null(note));
	json_object_object_add(o, "groups", groups);
	json_object_object_add(o, "consumers", consumers);
	json_object_object_add(o, "dead", json_object_new_int64(xlen(KEY_DEAD)));
	json_object_object_add(o, "diffs",
	    json_object_new_int64(diffs_length()));
	if (ctl_json)
		ctl_print_json(o);
	else {
		printf("jobs stream %s: %lld entries\n", stream,
		    (long long)json_object_get_int64(json_object_object_get(o,
		    "length")));
		printf("paused: %s\n", note ? note : "no");
		if (json_object_array_length(groups) == 0)
			printf("no consumer group yet (rosterd has not "
			    "started)\n");
		print_xinfo("group", groups);
		print_xinfo("consumer", consumers);
		printf("dead letters: %s\n", json_object_get_string(
		    json_object_object_get(o, "dead")));
		printf("diffs: %s\n", json_object_get_string(
		    json_object_object_get(o, "diffs")));
		json_object_put(o);
	}
	free(note);
	free(stream);
	return CTL_OK;
}

static int64_t
get_int(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) :
	    0;
}

/*
 * queue_stats.lua's figures: {jobs length, waiting, pending, oldest
 * waiting age ms (0: none), consumers, {dead letters failed, dead, held},
 * {{diffs group, lag, pending, partition}...}, {diffs lengths}}.
 */
static redisReply *
queue_stats(void)
{
	unsigned np = ctl_partitions(), p;
	size_t n = 0, i;
	const char **argv = xcalloc(7 + np, sizeof(*argv));
	char nkeys[16], dead_max[32];
	redisReply *r;

	snprintf(nkeys, sizeof(nkeys), "%u", 2 + np);
	snprintf(dead_max, sizeof(dead_max), "%d",
	    ctl_conf()->retention_dead_max);
	argv[n++] = "EVAL";
	argv[n++] = lua_queue_stats;
	argv[n++] = nkeys;
	argv[n++] = ctl_key(KEY_JOBS, NULL);
	argv[n++] = ctl_key(KEY_DEAD, NULL);
	for (p = 0; p < np; p++)
		argv[n++] = ctl_diffs_key(p);
	argv[n++] = CONSUMER_GROUP;
	argv[n++] = dead_max;
	r = ctl_cmd_argv((int)n, argv);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 8)
		ctl_fatal("queue_stats.lua: unexpected answer");
	for (i = 3; i < 5 + np; i++)
		free((char *)argv[i]);
	free(argv);
	return r;
}

static json_object *
int_elem(const redisReply *r, size_t i)
{
	return json_object_new_int64(r->element[i]->type ==
	    REDIS_REPLY_INTEGER ? r->element[i]->integer : 0);
}

/* Jobs not yet read by any instance: their number and the oldest's age. */
static json_object *
jobs_stats(const redisReply *qs)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "length", int_elem(qs, 0));
	json_object_object_add(o, "waiting", int_elem(qs, 1));
	json_object_object_add(o, "pending", int_elem(qs, 2));
	/* null when none waits, as before the script told it */
	json_object_object_add(o, "oldest_waiting_age_ms",
	    json_object_get_int64(json_object_object_get(o, "waiting")) > 0 ?
	    int_elem(qs, 3) : NULL);
	return o;
}

/*
 * The live instances: their heartbeats, PREFIX instance:CONSUMER, which
 * expire when an instance stops beating; sums of their figures.
 */
static json_object *
instances_stats(unsigned long long now, json_object *sums)
{
	static const char *const summed[] = { "jobs", "fetching", "retrying",
	    "waiting_teacher", "waiting_rate_limit", "finished_last_minute",
	    NULL };
	char *match = ctl_key(KEY_INSTANCE, "*"), cursor[32] = "0";
	json_object *a = json_object_new_array(), *hb;
	redisReply *r, *h;
	int64_t total[6] = { 0 };
	size_t i, s;

	do {
		r = ctl_cmd("SCAN %s MATCH %s COUNT 1000", cursor, match);
		xstrlcpy(cursor, r->element[0]->str, sizeof(cursor));
		for (i = 0; i < r->element[1]->elements; i++) {
			h = ctl_cmd("HGETALL %s", r->element[1]->element[i]->str);
			if (h->elements > 0) {	/* not expired meanwhile */
				hb = ctl_record_add(json_object_new_object(),
				    h, ctl_instance_fields);
				json_object_object_add(hb, "live",
				    json_object_new_boolean(1));
				for (s = 0; summed[s] != NULL; s++)
					total[s] += get_int(hb, summed[s]);
				json_object_array_add(a, hb);
			}
			freeReplyObject(h);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	for (s = 0; summed[s] != NULL; s++)
		json_object_object_add(sums, summed[s],
		    json_object_new_int64(total[s]));
	free(match);
	return a;
}

/* Dead letters by state (the newest [retention] dead_max of them). */
static json_object *
dead_stats(const redisReply *qs)
{
	static const char *const states[] = { "failed", "dead", "held" };
	const redisReply *d = qs->element[5];
	json_object *o = json_object_new_object();
	long long total = 0;
	size_t i;

	for (i = 0; i < 3 && d->type == REDIS_REPLY_ARRAY && i < d->elements;
	    i++) {
		json_object_object_add(o, states[i], int_elem(d, i));
		total += json_object_get_int64(json_object_object_get(o,
		    states[i]));
	}
	json_object_object_add(o, "total", json_object_new_int64(total));
	return o;
}

/*
 * Every partition's diff stream's groups as XINFO tells them, with the lag
 * counted where Redis cannot tell it; each names its partition when there
 * are several.
 */
static json_object *
diffs_stats(const redisReply *qs)
{
	json_object *o = json_object_new_object(), *all, *groups, *g;
	const redisReply *d = qs->element[6], *e;
	unsigned np = ctl_partitions(), p;
	size_t i, k;
	char *stream;

	all = json_object_new_array();
	for (p = 0; p < np; p++) {
		stream = ctl_diffs_key(p);
		groups = xinfo("GROUPS", stream, NULL);
		for (i = 0; i < json_object_array_length(groups); i++) {
			g = json_object_get(json_object_array_get_idx(groups,
			    i));
			for (k = 0; d->type == REDIS_REPLY_ARRAY &&
			    k < d->elements; k++) {
				e = d->element[k];
				if (e->type == REDIS_REPLY_ARRAY &&
				    e->elements == 4 &&
				    e->element[3]->integer == (long long)p &&
				    strcmp(e->element[0]->str,
				    json_object_get_string(json_object_object_get(
				    g, "name"))) == 0)
					json_object_object_add(g, "lag",
					    int_elem(e, 1));
			}
			if (np > 1)
				json_object_object_add(g, "partition",
				    json_object_new_int64(p));
			json_object_array_add(all, g);
		}
		json_object_put(groups);
		free(stream);
	}
	json_object_object_add(o, "length", json_object_new_int64(
	    diffs_length()));
	json_object_object_add(o, "partitions", json_object_new_int64(np));
	json_object_object_add(o, "groups", all);
	return o;
}

/* A value for people; absent or null: none. */
static const char *
jstr_or(json_object *o, const char *k, const char *none)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || v == NULL)
		return none;
	return json_object_get_string(v);
}

static const char *
jstr(json_object *o, const char *k)
{
	return jstr_or(o, k, "-");
}

static void
print_stats(json_object *st)
{
	json_object *jobs = json_object_object_get(st, "jobs");
	json_object *fl = json_object_object_get(st, "in_flight");
	json_object *inst = json_object_object_get(st, "instances");
	json_object *cons = json_object_object_get(st, "consumers");
	json_object *dead = json_object_object_get(st, "dead");
	json_object *diffs = json_object_object_get(st, "diffs"), *e;
	size_t i, live = 0;

	printf("%-22s %s\n", "paused", jstr_or(st, "paused", "no"));
	printf("%-22s", "instances");
	for (i = 0; i < json_object_array_length(inst); i++) {
		e = json_object_array_get_idx(inst, i);
		if (json_object_get_boolean(json_object_object_get(e, "live")))
			live++;
	}
	printf(" %zu live\n", live);
	for (i = 0; i < json_object_array_length(inst); i++) {
		e = json_object_array_get_idx(inst, i);
		printf("  %-20s %s on %s, pid %s, %s jobs, %s finished in the "
		    "last minute; redis %s\n", jstr(e, "consumer"),
		    jstr(e, "state"), jstr(e, "host"), jstr(e, "pid"),
		    jstr(e, "jobs"), jstr(e, "finished_last_minute"),
		    jstr(e, "redis"));
		if (json_object_object_get_ex(e, "redis_address", NULL))
			printf("  %-20s on redis %s (%s, tls %s), "
			    "maxmemory-policy %s, %s failovers followed\n", "",
			    jstr(e, "redis_address"), jstr(e, "redis_role"),
			    jstr(e, "redis_tls"),
			    jstr(e, "redis_maxmemory_policy"),
			    jstr(e, "redis_failovers"));
	}
	printf("%-22s %s jobs finished in the last minute\n", "throughput",
	    jstr(fl, "finished_last_minute"));
	printf("%-22s %s entries, %s waiting (oldest for %s ms), %s "
	    "pending\n", "jobs stream", jstr(jobs, "length"),
	    jstr(jobs, "waiting"), jstr_or(jobs, "oldest_waiting_age_ms", "0"),
	    jstr(jobs, "pending"));
	printf("%-22s %s jobs, %s fetching, %s retries scheduled, %s waiting "
	    "for the teacher, %s waiting on rate limits\n", "in flight",
	    jstr(fl, "jobs"), jstr(fl, "fetching"), jstr(fl, "retrying"),
	    jstr(fl, "waiting_teacher"), jstr(fl, "waiting_rate_limit"));
	for (i = 0; i < json_object_array_length(cons); i++) {
		e = json_object_array_get_idx(cons, i);
		printf("%-22s %s: %s pending, idle %s ms\n", i == 0 ?
		    "pending per consumer" : "", jstr(e, "name"),
		    jstr(e, "pending"), jstr(e, "idle"));
	}
	printf("%-22s %s: %s failed, %s dead, %s held\n", "dead letters",
	    jstr(dead, "total"), jstr(dead, "failed"), jstr(dead, "dead"),
	    jstr(dead, "held"));
	printf("%-22s %s entries in %s partition(s)\n", "diffs",
	    jstr(diffs, "length"), jstr(diffs, "partitions"));
	e = json_object_object_get(diffs, "groups");
	for (i = 0; i < json_object_array_length(e); i++)
		printf("  group %-14s%s%s lag %s, pending %s\n",
		    jstr(json_object_array_get_idx(e, i), "name"),
		    json_object_object_get_ex(json_object_array_get_idx(e, i),
		    "partition", NULL) ? " partition " : "",
		    jstr_or(json_object_array_get_idx(e, i), "partition", ""),
		    jstr(json_object_array_get_idx(e, i), "lag"),
		    jstr(json_object_array_get_idx(e, i), "pending"));
	e = json_object_object_get(st, "schedule");
	printf("%-22s %s teachers: %s due now, %s overdue, %s left\n",
	    "schedule", jstr(e, "scheduled"), jstr(e, "due_now"),
	    jstr(e, "overdue"), jstr(e, "left"));
}

int
ctl_stats(int argc, char **argv)
{
	unsigned long long now;
	json_object *st, *fl;
	char *stream, *note;
	redisReply *qs;

	if (argc != 1)
		return ctl_usage(argv[0]);
	now = ctl_redis_now_ms();
	qs = queue_stats();
	st = ctl_object();
	fl = json_object_new_object();
	stream = ctl_key(KEY_JOBS, NULL);
	note = pause_note();
	json_object_object_add(st, "paused", str_or_null(note));
	json_object_object_add(st, "instances", instances_stats(now, fl));
	json_object_object_add(st, "in_flight", fl);
	json_object_object_add(st, "jobs", jobs_stats(qs));
	json_object_object_add(st, "consumers",
	    xinfo("CONSUMERS", stream, CONSUMER_GROUP));
	json_object_object_add(st, "dead", dead_stats(qs));
	json_object_object_add(st, "diffs", diffs_stats(qs));
	freeReplyObject(qs);
	json_object_object_add(st, "schedule",
	    ctl_schedule_stats(json_object_new_object(), ctl_conf(), now));
	if (ctl_json)
		ctl_print_json(st);
	else {
		print_stats(st);
		json_object_put(st);
	}
	free(note);
	free(stream);
	return CTL_OK;
}

/* rosterctl forget TEACHER: enqueue TEACHER forget. */
int
ctl_forget(int argc, char **argv)
{
	char *av[3];

	if (argc != 2)
		return ctl_usage(argv[0]);
	av[0] = "forget";
	av[1] = argv[1];
	av[2] = "forget";
	return ctl_enqueue(3, av);
}

int
ctl_enqueue(int argc, char **argv)
{
	char *stream;
	const char *kind = "sync";
	int i, force = 0;
	json_object *o;
	redisReply *r;

	if (argc < 2)
		return ctl_usage(argv[0]);
	if (!contract_id_valid(argv[1], TEACHER_ID_MAX))
		return ctl_error(CTL_USAGE, CTL_E_USAGE, "%s: teacher must be "
		    "a Clever id (1-%d letters, digits, - or _)", argv[0],
		    TEACHER_ID_MAX);
	/* after the teacher: a kind and/or "force", in any order */
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "force") == 0)
			force = 1;
		else if (strcmp(argv[i], "sync") == 0 ||
		    strcmp(argv[i], "discover") == 0 ||
		    strcmp(argv[i], "forget") == 0)
			kind = argv[i];
		else
			return ctl_error(CTL_USAGE, CTL_E_USAGE, "enqueue: %s "
			    "is neither sync, discover, forget nor force",
			    argv[i]);
	}
	stream = ctl_key(KEY_JOBS, NULL);
	if (force)
		r = ctl_cmd("XADD %s * teacher %s kind %s force 1", stream,
		    argv[1], kind);
	else
		r = ctl_cmd("XADD %s * teacher %s kind %s", stream, argv[1],
		    kind);
	if (ctl_json) {
		o = ctl_result(argv[0]);
		json_object_object_add(o, "job", json_object_new_string(r->str));
		json_object_object_add(o, "teacher",
		    json_object_new_string(argv[1]));
		json_object_object_add(o, "kind", json_object_new_string(kind));
		json_object_object_add(o, "force",
		    json_object_new_boolean(force));
		ctl_print_json(o);
	} else
		printf("%s\n", r->str);
	freeReplyObject(r);
	free(stream);
	return CTL_OK;
}

/* pause and resume done: "paused: NOTE" or "resumed", or the result. */
static int
pause_result(const char *command, const char *done, const char *note)
{
	json_object *o;

	if (!ctl_json) {
		printf("%s%s%s\n", done, note ? ": " : "", note ? note : "");
		return CTL_OK;
	}
	o = ctl_result(command);
	json_object_object_add(o, "paused", json_object_new_boolean(
	    note != NULL));
	json_object_object_add(o, "note", str_or_null(note));
	ctl_print_json(o);
	return CTL_OK;
}

/*
 * Pause the deployment (if it is not yet): "REASON, by USER@HOST at
 * TIME"; *already says it was.  Returns the pause note in force
 * (malloc'ed), NULL if it was resumed meanwhile.
 */
static char *
pause_set(const char *reason, int *already)
{
	char *k, *note, host[256], when[32];
	const struct passwd *pw = getpwuid(getuid());
	time_t now = time(NULL);
	struct tm tm;
	redisReply *r;

	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	xasprintf(&note, "%s, by %s@%s at %s", reason ? reason : "paused",
	    pw ? pw->pw_name : "?", host, when);
	k = ctl_key(KEY_PAUSED, NULL);
	r = ctl_cmd("SET %s %s NX", k, note);
	if ((*already = r->type == REDIS_REPLY_NIL)) {
		free(note);
		note = pause_note();
	}
	freeReplyObject(r);
	free(k);
	return note;
}

/* The pause in force, set now or before (pause --wait waits for it). */
char *
ctl_pause_set(const char *reason)
{
	int already;

	return pause_set(reason, &already);
}

int
ctl_pause(int argc, char **argv)
{
	char *note;
	int already, rv;

	if (argc > 2)
		return ctl_usage(argv[0]);
	note = pause_set(argc > 1 ? argv[1] : NULL, &already);
	if (already)
		rv = ctl_error(CTL_FAIL, CTL_E_REFUSED, "already paused: %s",
		    note ? note : "?");
	else
		rv = pause_result("pause", "paused", note);
	free(note);
	return rv;
}

int
ctl_resume(int argc, char **argv)
{
	char *k;
	redisReply *r;
	int rv;

	if (argc != 1)
		return ctl_usage(argv[0]);
	k = ctl_key(KEY_PAUSED, NULL);
	r = ctl_cmd("DEL %s", k);
	rv = r->integer == 1 ? pause_result("resume", "resumed", NULL) :
	    ctl_error(CTL_FAIL, CTL_E_REFUSED, "the queue was not paused");
	freeReplyObject(r);
	free(k);
	return rv;
}
