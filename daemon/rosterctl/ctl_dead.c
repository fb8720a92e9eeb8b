/*
 * rosterctl on dead letters (the stream PREFIX "dead": failed, dead and
 * held jobs): list them, re-queue them, drop them.  Lists and bulk actions
 * take the same filters: -s STATE (failed, dead, held) and -e CODE (the
 * error code).  A permanent failure (state failed) comes straight back
 * when re-queued unchanged, so it is re-queued only with "force".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "contract.h"
#include "ctl.h"
#include "xmalloc.h"

#define CHUNK	500

struct filter {
	const char	*state;
	const char	*code;
};

static int
matches(const struct filter *flt, redisReply *e)
{
	redisReply *f = e->element[1];

	return (flt->state == NULL || strcmp(ctl_field(f, "state"),
	    flt->state) == 0) && (flt->code == NULL ||
	    strcmp(ctl_field(f, "error"), flt->code) == 0);
}

/* A usage error for -e CODE: the valid codes, from the contract's list. */
static int
bad_code(const char *cmd, const char *code)
{
	char *list = NULL, *more;
	size_t i;

	for (i = 0; contract_errors[i] != NULL; i++) {
		xasprintf(&more, "%s%s%s", list ? list : "", list ? ", " : "",
		    contract_errors[i]);
		free(list);
		list = more;
	}
	ctl_error(CTL_USAGE, CTL_E_USAGE, "%s: unknown error code %s; the "
	    "codes are %s", cmd, code, list);
	free(list);
	return -1;
}

/* -s STATE -e CODE; the index of the first argument, or -1: reported. */
static int
parse_filter(int argc, char **argv, struct filter *flt)
{
	int c;

	memset(flt, 0, sizeof(*flt));
	optind = 1;
	opterr = 0;
	while ((c = getopt(argc, argv, "+s:e:")) != -1) {
		if (c == 's' && (strcmp(optarg, "failed") == 0 ||
		    strcmp(optarg, "dead") == 0 || strcmp(optarg, "held") == 0))
			flt->state = optarg;
		else if (c == 's')
			return ctl_error(-1, CTL_E_USAGE, "%s: state is "
			    "failed, dead or held", argv[0]);
		else if (c == 'e' && contract_error_known(optarg))
			flt->code = optarg;
		else if (c == 'e')
			return bad_code(argv[0], optarg);
		else {
			ctl_usage(argv[0]);
			return -1;
		}
	}
	return optind;
}

typedef int (*dead_fn)(redisReply *entry, void *arg);

/*
 * Call fn on each dead letter that matches, newest first (reverse) or
 * oldest first, in chunks; fn returns 0 to stop.
 */
static void
dead_each(const struct filter *flt, int reverse, dead_fn fn, void *arg)
{
	char *k = ctl_key(KEY_DEAD, NULL), from[64];
	redisReply *r, *e;
	size_t i;
	int go = 1;

	xstrlcpy(from, reverse ? "+" : "-", sizeof(from));
	while (go) {
		r = reverse ? ctl_cmd("XREVRANGE %s %s - COUNT %d", k, from,
		    CHUNK) : ctl_cmd("XRANGE %s %s + COUNT %d", k, from, CHUNK);
		for (i = 0; i < r->elements && go; i++) {
			e = r->element[i];
			if (matches(flt, e))
				go = fn(e, arg);
		}
		if (r->elements < CHUNK)
			go = 0;
		else
			snprintf(from, sizeof(from), "(%s",
			    r->element[r->elements - 1]->element[0]->str);
		freeReplyObject(r);
	}
	free(k);
}

struct listing {
	long		 left;
	long		 shown;
	json_object	*a;
};

static int
list_one(redisReply *e, void *arg)
{
	struct listing *l = arg;

	if (l->a != NULL)
		json_object_array_add(l->a, ctl_entry_json(e,
		    ctl_dead_fields));
	else
		ctl_print_record(e->element[0]->str, e->element[1],
		    ctl_dead_fields);
	l->shown++;
	return --l->left > 0;
}

int
ctl_dead(int argc, char **argv)
{
	struct filter flt;
	struct listing l = { 50, 0, NULL };
	char *end;
	int first;

	if ((first = parse_filter(argc, argv, &flt)) == -1)
		return CTL_USAGE;
	if (argc - first > 1)
		return ctl_usage(argv[0]);
	if (argc - first == 1 && ((l.left = strtol(argv[first], &end, 10)) <=
	    0 || *end != '\0'))
		return ctl_usage(argv[0]);
	if (ctl_json)
		l.a = json_object_new_array();
	dead_each(&flt, 1, list_one, &l);
	if (ctl_json)
		ctl_print_json(l.a);
	else if (l.shown == 0)
		printf("no dead letters%s\n", flt.state || flt.code ?
		    " matching" : "");
	return CTL_OK;
}

/* One dead letter by id, or NULL. */
static redisReply *
dead_get(const char *id)
{
	char *k = ctl_key(KEY_DEAD, NULL);
	redisReply *r = ctl_cmd_try("XRANGE %s %s %s", k, id, id);

	free(k);
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
		return r;
	freeReplyObject(r);
	return NULL;
}

static void
dead_del(const char *id)
{
	char *k = ctl_key(KEY_DEAD, NULL);

	freeReplyObject(ctl_cmd("XDEL %s %s", k, id));
	free(k);
}

struct retry {
	int		 force;
	unsigned	 requeued, skipped, dropped;
	json_object	*res;		/* --json: the result object */
};

/* A result object with these arrays, empty, in this order. */
static json_object *
result_new(const char *command, const char *const *lists)
{
	json_object *res = ctl_result(command);

	for (; *lists != NULL; lists++)
		json_object_object_add(res, *lists, json_object_new_array());
	return res;
}

/* --json: add item to the result's array named what. */
static void
result_add(json_object *res, const char *what, json_object *item)
{
	json_object_array_add(json_object_object_get(res, what), item);
}

/* {"id": ID, name: value}, an item of a result's array. */
static json_object *
id_and(const char *id, const char *name, const char *value)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, name, json_object_new_string(value));
	return o;
}

/* XADD the job of a dead letter again; empty fields are left out. */
static redisReply *
requeue(redisReply *f, const char *kind, const char *force)
{
	static const char *const copied[] = { "ref", "district",
	    "traceparent" };
	const char *argv[20];
	char *jobs = ctl_key(KEY_JOBS, NULL);
	redisReply *r;
	size_t i;
	int n = 0;

	argv[n++] = "XADD";
	argv[n++] = jobs;
	argv[n++] = "*";
	argv[n++] = "teacher";
	argv[n++] = ctl_field(f, "teacher");
	argv[n++] = "kind";
	argv[n++] = kind;
	for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
		if (*ctl_field(f, copied[i]) != '\0') {
			argv[n++] = copied[i];
			argv[n++] = ctl_field(f, copied[i]);
		}
	argv[n++] = "force";
	argv[n++] = force;
	argv[n++] = "retry_of";
	argv[n++] = ctl_field(f, "job");
	r = ctl_cmd_argv(n, argv);
	free(jobs);
	return r;
}

/*
 * Re-queue one dead letter as a fresh job and remove it.  force lets a
 * permanent failure go again and a held change past the shrink guard.
 */
static int
retry_one(redisReply *e, void *arg)
{
	struct retry *rt = arg;
	redisReply *f = e->element[1], *r;
	const char *id = e->element[0]->str, *state = ctl_field(f, "state");
	const char *kind = *ctl_field(f, "kind") ? ctl_field(f, "kind") :
	    "sync";
	const char *force = ctl_field(f, "force");

	if (strcmp(state, "failed") == 0 && !rt->force) {
		if (rt->res != NULL)
			result_add(rt->res, "skipped", id_and(id, "error",
			    ctl_field(f, "error")));
		else
			printf("%s: not re-queued: a permanent failure (%s); "
			    "retry with force once it is fixed\n", id,
			    ctl_field(f, "error"));
		rt->skipped++;
		return 1;
	}
	if (strcmp(state, "held") == 0 && rt->force)
		force = "1";
	if (*ctl_field(f, "teacher") == '\0') {
		if (rt->res != NULL)
			result_add(rt->res, "dropped",
			    json_object_new_string(id));
		else
			printf("%s: no teacher (a malformed job): dropped\n",
			    id);
		rt->dropped++;
	} else {
		r = requeue(f, kind, *force ? force : "0");
		if (rt->res != NULL)
			result_add(rt->res, "requeued", id_and(id, "job",
			    r->str));
		else
			printf("%s: re-queued as job %s\n", id, r->str);
		freeReplyObject(r);
		rt->requeued++;
	}
	dead_del(id);
	return 1;
}

/* The arguments after the filters: ids or "all", then maybe "force". */
static int
ids_and_force(int argc, char **argv, int first, int *force, int *all)
{
	*force = argc - first > 1 && strcmp(argv[argc - 1], "force") == 0;
	if (*force)
		argc--;
	*all = argc - first == 1 && strcmp(argv[first], "all") == 0;
	return argc;
}

/*
 * An id that is not a dead letter: in the result's "missing" (--json), or
 * an error line.
 */
static int
missing(json_object *res, const char *cmd, const char *id)
{
	if (res != NULL)
		result_add(res, "missing", json_object_new_string(id));
	else
		ctl_error(CTL_FAIL, CTL_E_NOT_FOUND, "%s: %s: no such dead "
		    "letter", cmd, id);
	return CTL_FAIL;
}

/* The result of a command on dead letters: --json, the result object. */
static int
dead_result(json_object *res, int rv)
{
	if (res != NULL)
		ctl_print_json(res);
	return rv;
}

/*
 * retry all: 1 when nothing was re-queued; retry ID...: 1 when one was
 * unknown or not re-queued.
 */
int
ctl_retry(int argc, char **argv)
{
	static const char *const retry_lists[] = { "requeued", "skipped",
	    "dropped", "missing", NULL };
	struct filter flt;
	struct retry rt = { 0, 0, 0, 0, NULL };
	redisReply *r;
	int first, all, i, rv = CTL_OK;

	if ((first = parse_filter(argc, argv, &flt)) == -1)
		return CTL_USAGE;
	if (first >= argc)
		return ctl_usage(argv[0]);
	argc = ids_and_force(argc, argv, first, &rt.force, &all);
	if (!all && (first >= argc || flt.state != NULL || flt.code != NULL))
		return ctl_usage(argv[0]);
	if (ctl_json)
		rt.res = result_new("retry", retry_lists);
	if (all) {
		dead_each(&flt, 0, retry_one, &rt);
		if (!ctl_json)
			printf("%u re-queued, %u permanent failures left (retry "
			    "them with force), %u malformed dropped\n",
			    rt.requeued, rt.skipped, rt.dropped);
		return dead_result(rt.res, rt.requeued > 0 ? CTL_OK :
		    CTL_FAIL);
	}
	for (i = first; i < argc; i++) {
		if ((r = dead_get(argv[i])) == NULL) {
			rv = missing(rt.res, argv[0], argv[i]);
			continue;
		}
		retry_one(r->element[0], &rt);
		freeReplyObject(r);
	}
	return dead_result(rt.res, rt.skipped > 0 ? CTL_FAIL : rv);
}

int
ctl_delete(int argc, char **argv)
{
	static const char *const delete_lists[] = { "deleted", "missing",
	    NULL };
	json_object *res = NULL;
	redisReply *r;
	int i, rv = CTL_OK;

	if (argc < 2)
		return ctl_usage(argv[0]);
	if (ctl_json)
		res = result_new("delete", delete_lists);
	for (i = 1; i < argc; i++) {
		if ((r = dead_get(argv[i])) == NULL) {
			rv = missing(res, argv[0], argv[i]);
			continue;
		}
		freeReplyObject(r);
		dead_del(argv[i]);
		if (res != NULL)
			result_add(res, "deleted", json_object_new_string(
			    argv[i]));
		else
			printf("%s: deleted\n", argv[i]);
	}
	return dead_result(res, rv);
}

static int
purge_one(redisReply *e, void *arg)
{
	dead_del(e->element[0]->str);
	(*(unsigned *)arg)++;
	return 1;
}

/* "all" is required, so that a bare "purge" never empties the stream. */
int
ctl_purge(int argc, char **argv)
{
	struct filter flt;
	unsigned n = 0;
	int first;

	json_object *res;

	if ((first = parse_filter(argc, argv, &flt)) == -1)
		return CTL_USAGE;
	if (argc - first != 1 || strcmp(argv[first], "all") != 0)
		return ctl_usage(argv[0]);
	dead_each(&flt, 0, purge_one, &n);
	if (!ctl_json) {
		printf("%u dead letters deleted\n", n);
		return CTL_OK;
	}
	res = ctl_result("purge");
	json_object_object_add(res, "deleted", json_object_new_int64(n));
	return dead_result(res, CTL_OK);
}

/* ---- changes held by the shrink guard ---- */

struct held {
	json_object	*seen;		/* teachers listed (newest first) */
	json_object	*a;		/* --json */
	const char	*teacher;	/* confirm: only this one */
	char		 latest[64];	/* confirm: its newest held letter */
	unsigned	 n;
};

/*
 * A held change is open while no sync of its teacher finished after it
 * (a confirmation, or Clever's data coming back).
 */
static int
held_open(redisReply *f)
{
	char *k = ctl_key(KEY_STATE, ctl_field(f, "teacher"));
	redisReply *r;
	int open;

	r = ctl_cmd("HGET %s done_started_ms", k);
	open = r->type != REDIS_REPLY_STRING ||
	    strtoull(r->str, NULL, 10) < strtoull(ctl_field(f, "failed_ms"),
	    NULL, 10);
	freeReplyObject(r);
	free(k);
	return open;
}

/* What the held sync would remove, from its job's status. */
static redisReply *
held_status(redisReply *f)
{
	char *k = ctl_key(KEY_JOB, ctl_field(f, "job"));
	redisReply *r;

	r = ctl_cmd("HGETALL %s", k);
	free(k);
	return r;
}

static int
held_one(redisReply *e, void *arg)
{
	static const char *const counts[] = { "removed", "sections_removed",
	    "students_removed", "enrollments_removed", "added", "updated",
	    NULL };
	struct held *h = arg;
	redisReply *f = e->element[1], *st;
	const char *t = ctl_field(f, "teacher");
	json_object *o;
	size_t i;

	if (h->teacher != NULL && strcmp(t, h->teacher) != 0)
		return 1;
	if (json_object_object_get_ex(h->seen, t, NULL) || !held_open(f))
		return 1;
	json_object_object_add(h->seen, t, NULL);
	if (h->teacher != NULL) {
		xstrlcpy(h->latest, e->element[0]->str, sizeof(h->latest));
		return 0;
	}
	h->n++;
	st = held_status(f);
	if (h->a != NULL) {
		o = ctl_entry_json(e, ctl_dead_fields);
		for (i = 0; counts[i] != NULL; i++)
			json_object_object_add(o, counts[i],
			    json_object_new_int64(strtoll(ctl_field(st,
			    counts[i]), NULL, 10)));
		json_object_array_add(h->a, o);
	} else
		printf("%s  job %s\n  why: %s\n  would remove: %s in all (%s "
		    "sections, %s students, %s enrollments), add %s, update %s"
		    "\n  confirm: rosterctl held confirm %s\n", t,
		    ctl_field(f, "job"), ctl_field(f, "message"),
		    *ctl_field(st, "removed") ? ctl_field(st, "removed") : "?",
		    ctl_field(st, "sections_removed"),
		    ctl_field(st, "students_removed"),
		    ctl_field(st, "enrollments_removed"),
		    ctl_field(st, "added"), ctl_field(st, "updated"), t);
	freeReplyObject(st);
	return 1;
}

/*
 * Apply a teacher's held change: a forced sync, as an app confirms one.
 * Its held letters go when that sync succeeds (writeback.lua), whoever
 * queued it.
 */
static int
held_confirm(const char *teacher)
{
	struct held h = { json_object_new_object(), NULL, teacher, "", 0 };
	struct filter flt = { "held", NULL };
	redisReply *r, *jr;
	json_object *res;

	dead_each(&flt, 1, held_one, &h);
	json_object_put(h.seen);
	if (h.latest[0] == '\0')
		return ctl_error(CTL_FAIL, CTL_E_NOT_FOUND, "held confirm: no "
		    "held change for teacher %s", teacher);
	r = dead_get(h.latest);
	jr = requeue(r->element[0]->element[1], "sync", "1");
	if (ctl_json) {
		res = ctl_result("held confirm");
		json_object_object_add(res, "teacher",
		    json_object_new_string(teacher));
		json_object_object_add(res, "job",
		    json_object_new_string(jr->str));
		ctl_print_json(res);
	} else
		printf("%s: confirmed: forced sync queued as job %s\n",
		    teacher, jr->str);
	freeReplyObject(jr);
	freeReplyObject(r);
	return CTL_OK;
}

/*
 * rosterctl held: the open held changes, newest per teacher, with what
 * each would remove; rosterctl held confirm TEACHER applies one.
 */
int
ctl_held(int argc, char **argv)
{
	struct held h = { json_object_new_object(), NULL, NULL, "", 0 };
	struct filter flt = { "held", NULL };

	if (argc == 3 && strcmp(argv[1], "confirm") == 0) {
		json_object_put(h.seen);
		if (!contract_id_valid(argv[2], TEACHER_ID_MAX))
			return ctl_error(CTL_USAGE, CTL_E_USAGE, "held "
			    "confirm: %s: not a teacher id", argv[2]);
		return held_confirm(argv[2]);
	}
	if (argc != 1) {
		json_object_put(h.seen);
		return ctl_usage(argv[0]);
	}
	if (ctl_json)
		h.a = json_object_new_array();
	dead_each(&flt, 1, held_one, &h);
	json_object_put(h.seen);
	if (ctl_json)
		ctl_print_json(h.a);
	else if (h.n == 0)
		printf("no held changes\n");
	return CTL_OK;
}
