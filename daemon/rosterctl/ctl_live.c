/*
 * Live work: what the instances run now (their heartbeats' jobs_json),
 * and acting on it: a retrying job's next attempt now, a queued or
 * between-attempts job cancelled, one instance quiet (it starts no new
 * job) or drained, and a pause that waits until every instance has seen
 * it.  An instance is told through its control list and quiet key, which
 * it polls every second (daemon/control.c); rosterctl then waits, at most
 * a bounded time, for the effect to show (the job's status, the
 * instance's heartbeat) and says what happened.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "contract.h"
#include "ctl.h"
#include "ctl_lua.h"
#include "xmalloc.h"

/* How long retry-now and cancel wait for the instance to act. */
#define ACT_WAIT_S	10
/* How long pause --wait and quiet --wait wait by default. */
#define GATE_WAIT_S	60
#define POLL_MS		100
/* A command nobody takes (its instance died) goes after this. */
#define CONTROL_TTL_MS	60000
/* The quiet key's first life; the instance's poll renews it. */
#define QUIET_TTL_S	3600

static const char *const final_states[] = {
	"done", "failed", "dead", "held", "cancelled", NULL
};

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
in_list(const char *const *l, const char *s)
{
	for (; *l != NULL; l++)
		if (strcmp(*l, s) == 0)
			return 1;
	return 0;
}

/* A hash as a field/value reply; empty if the key does not exist. */
static redisReply *
hgetall(enum key which, const char *id)
{
	char *k = ctl_key(which, id);
	redisReply *r = ctl_cmd("HGETALL %s", k);

	free(k);
	return r;
}

/* "REASON, by USER@HOST at TIME": who shut a gate, for the logs. */
static char *
gate_note(const char *reason)
{
	const struct passwd *pw = getpwuid(getuid());
	char host[256], when[32], *note;
	time_t now = time(NULL);
	struct tm tm;

	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	xasprintf(&note, "%s, by %s@%s at %s", reason, pw ? pw->pw_name : "?",
	    host, when);
	return note;
}

/*
 * Options of the waiting commands, taken out of argv: --wait (-w) and
 * -t SECONDS.  Returns the arguments left, -1 on a bad -t.
 */
static int
wait_opts(int argc, char **argv, int *wait, unsigned *secs)
{
	int i, n = 0;
	char *end;

	for (i = 0; i < argc; i++) {
		if (i > 0 && (strcmp(argv[i], "--wait") == 0 ||
		    strcmp(argv[i], "-w") == 0))
			*wait = 1;
		else if (i > 0 && strcmp(argv[i], "-t") == 0) {
			if (++i == argc)
				return -1;
			*secs = (unsigned)strtoul(argv[i], &end, 10);
			if (*end != '\0' || *secs == 0)
				return -1;
		} else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	return n;
}

/* ---- the live instances ---- */

struct inst {
	char		*name;
	redisReply	*hb;	/* its heartbeat, field/value */
};

/* The live instances (their heartbeats), n of them; free with insts_free. */
static struct inst *
insts_read(size_t *n)
{
	char *match = ctl_key(KEY_INSTANCE, "*"), *head, cursor[32] = "0";
	struct inst *v = NULL;
	size_t i, hl;
	redisReply *r, *h;

	head = ctl_key(KEY_INSTANCE, "");
	hl = strlen(head);
	*n = 0;
	do {
		r = ctl_cmd("SCAN %s MATCH %s COUNT 1000", cursor, match);
		xstrlcpy(cursor, r->element[0]->str, sizeof(cursor));
		for (i = 0; i < r->element[1]->elements; i++) {
			h = ctl_cmd("HGETALL %s",
			    r->element[1]->element[i]->str);
			if (h->elements == 0) {	/* expired meanwhile */
				freeReplyObject(h);
				continue;
			}
			v = xreallocarray(v, *n + 1, sizeof(*v));
			v[*n].name = xstrdup(r->element[1]->element[i]->str +
			    hl);
			v[(*n)++].hb = h;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	free(match);
	free(head);
	return v;
}

static void
insts_free(struct inst *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].name);
		freeReplyObject(v[i].hb);
	}
	free(v);
}

static int
inst_live(const char *name)
{
	char *k = ctl_key(KEY_INSTANCE, name);
	redisReply *r = ctl_cmd("EXISTS %s", k);
	int live = r->integer == 1;

	freeReplyObject(r);
	free(k);
	return live;
}

/* ---- rosterctl running ---- */

/* One instance's jobs, each with its instance and, when retrying, the
   time of its next attempt (Redis clock). */
static json_object *
inst_jobs(const struct inst *in)
{
	json_object *a = json_tokener_parse(ctl_field(in->hb, "jobs_json")),
	    *j, *left;
	unsigned long long beat = strtoull(ctl_field(in->hb, "last_beat_ms"),
	    NULL, 10);
	size_t i;

	if (a == NULL || !json_object_is_type(a, json_type_array)) {
		json_object_put(a);
		return json_object_new_array();	/* an older rosterd */
	}
	for (i = 0; i < json_object_array_length(a); i++) {
		j = json_object_array_get_idx(a, i);
		json_object_object_add(j, "instance",
		    json_object_new_string(in->name));
		if (json_object_object_get_ex(j, "wait_left_ms", &left))
			json_object_object_add(j, "wait_until_ms",
			    json_object_new_int64((int64_t)beat +
			    json_object_get_int64(left)));
	}
	return a;
}

static json_object *
inst_json(const struct inst *in, unsigned long long now)
{
	json_object *o = json_object_new_object();
	unsigned long long beat = strtoull(ctl_field(in->hb, "last_beat_ms"),
	    NULL, 10);
	const char *q = ctl_field(in->hb, "quiet_note");

	json_object_object_add(o, "instance", json_object_new_string(in->name));
	json_object_object_add(o, "state",
	    json_object_new_string(ctl_field(in->hb, "state")));
	if (*q != '\0')
		json_object_object_add(o, "quiet", json_object_new_string(q));
	json_object_object_add(o, "picture_ms", json_object_new_int64(
	    (int64_t)beat));
	/* how old the picture is: the heartbeat was written then */
	json_object_object_add(o, "picture_age_ms", json_object_new_int64(
	    now > beat ? (int64_t)(now - beat) : 0));
	json_object_object_add(o, "jobs", inst_jobs(in));
	return o;
}

static const char *
jget(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ?
	    json_object_get_string(v) : "";
}

static long long
jnum(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ?
	    (long long)json_object_get_int64(v) : -1;
}

/* What a job waits on, for people: "clever (3 requests)", "retry in 4.2s". */
static void
print_waits(json_object *j, unsigned long long now)
{
	const char *w = jget(j, "waits_on");
	long long until = jnum(j, "wait_until_ms"), started;

	if (until >= 0) {
		long long in = until - (long long)now;

		printf("%s %s %.1fs", w, in >= 0 ? "in" : "due", (double)
		    (in >= 0 ? in : -in) / 1000.0);
		if (in < 0)
			printf(" ago");
	} else if (strcmp(w, "clever") == 0)
		printf("clever (%lld requests sent)", jnum(j, "requests"));
	else
		printf("%s", w);
	if ((started = jnum(j, "started_ms")) > 0 &&
	    (unsigned long long)started <= now)
		printf(", started %.1fs ago", (double)(now -
		    (unsigned long long)started) / 1000.0);
	printf("\n");
}

static void
print_running(json_object *all, unsigned long long now)
{
	json_object *insts = json_object_object_get(all, "instances"), *in,
	    *jobs, *j;
	size_t i, k;

	if (json_object_array_length(insts) == 0)
		printf("no live instance\n");
	for (i = 0; i < json_object_array_length(insts); i++) {
		in = json_object_array_get_idx(insts, i);
		jobs = json_object_object_get(in, "jobs");
		printf("%s  %s%s%s, %zu jobs (as of %.1fs ago)\n",
		    jget(in, "instance"), jget(in, "state"),
		    *jget(in, "quiet") ? ": " : "", jget(in, "quiet"),
		    json_object_array_length(jobs),
		    (double)jnum(in, "picture_age_ms") / 1000.0);
		for (k = 0; k < json_object_array_length(jobs); k++) {
			j = json_object_array_get_idx(jobs, k);
			printf("  %-20s %-16s %-8s attempt %-2lld %-12s ",
			    jget(j, "job"), jget(j, "teacher"),
			    jget(j, "kind"), jnum(j, "attempt"),
			    jget(j, "state"));
			print_waits(j, now);
		}
	}
}

/* rosterctl running [INSTANCE]: the jobs in flight, per live instance. */
int
ctl_running(int argc, char **argv)
{
	json_object *all = ctl_object(), *a;
	unsigned long long now;
	struct inst *v;
	size_t n, i;

	if (argc > 2)
		return ctl_usage(argv[0]);
	now = ctl_redis_now_ms();
	v = insts_read(&n);
	a = json_object_new_array();
	for (i = 0; i < n; i++)
		if (argc < 2 || strcmp(argv[1], v[i].name) == 0)
			json_object_array_add(a, inst_json(&v[i], now));
	insts_free(v, n);
	json_object_object_add(all, "now_ms", json_object_new_int64(
	    (int64_t)now));
	json_object_object_add(all, "instances", a);
	if (argc == 2 && json_object_array_length(a) == 0) {
		(void)ctl_error(CTL_FAIL, CTL_E_NOT_FOUND, "no live instance %s", argv[1]);
		json_object_put(all);
		return CTL_FAIL;
	}
	if (ctl_json)
		ctl_print_json(all);
	else {
		print_running(all, now);
		json_object_put(all);
	}
	return CTL_OK;
}

/* ---- acting on one job ---- */

/* Tell an instance: a command on its control list (daemon/control.c). */
static void
control_send(const char *inst, const char *cmd)
{
	char *k = ctl_key(KEY_CONTROL, inst);

	freeReplyObject(ctl_cmd("RPUSH %s %s", k, cmd));
	freeReplyObject(ctl_cmd("PEXPIRE %s %d", k, CONTROL_TTL_MS));
	free(k);
}

/* The job's outcome, for people or as JSON: its status now. */
static void
print_status(const char *what, redisReply *st)
{
	json_object *o;

	if (ctl_json) {
		o = ctl_object();
		json_object_object_add(o, "result",
		    json_object_new_string(what));
		json_object_object_add(o, "status",
		    ctl_record_json(st, ctl_job_fields));
		ctl_print_json(o);
	} else
		ctl_print_record(what, st, ctl_job_fields);
}

/*
 * The job's status hash, and whether an instance holds it between
 * attempts; exits are the caller's.  NULL: no status.
 */
static redisReply *
job_status(const char *job)
{
	redisReply *st = hgetall(KEY_JOB, job);

	if (st->elements == 0) {
		freeReplyObject(st);
		return NULL;
	}
	return st;
}

typedef int	(*status_done)(redisReply *st, const void *before);

/* Poll the job's status until done() says so or ACT_WAIT_S pass. */
static redisReply *
await_status(const char *job, status_done done, const void *before)
{
	uint64_t end = mono_ms() + ACT_WAIT_S * 1000;
	redisReply *st;

	for (;;) {
		st = hgetall(KEY_JOB, job);
		if (done(st, before) || mono_ms() >= end)
			return st;
		freeReplyObject(st);
		sleep_ms(POLL_MS);
	}
}

/* The job's holder is live, else a message and 0. */
static int
holder_live(const char *job, const char *holder)
{
	if (*holder == '\0' || !inst_live(holder)) {
		(void)ctl_error(CTL_FAIL, CTL_E_REFUSED, "job %s: its instance "
		    "%s is not live; another instance takes the job over", job,
		    *holder ? holder : "(none)");
		return 0;
	}
	return 1;
}

static int
new_attempt(redisReply *st, const void *before)
{
	return strcmp(ctl_field(st, "state"), "retrying") != 0 ||
	    strtol(ctl_field(st, "attempts"), NULL, 10) > *(const long *)before;
}

/* rosterctl retry-now JOB: a retrying job's next attempt starts now. */
int
ctl_retry_now(int argc, char **argv)
{
	const char *job = argc == 2 ? argv[1] : NULL, *state;
	redisReply *st;
	char *cmd;
	long before;
	int rv = CTL_FAIL;

	if (job == NULL)
		return ctl_usage(argv[0]);
	if ((st = job_status(job)) == NULL) {
		(void)ctl_error(CTL_FAIL, CTL_E_NOT_FOUND, "job %s not found", job);
		return CTL_FAIL;
	}
	state = ctl_field(st, "state");
	if (strcmp(state, "retrying") != 0) {
		(void)ctl_error(CTL_FAIL, CTL_E_REFUSED, "job %s is %s, not retrying: "
		    "nothing to hurry", job, state);
	} else if (holder_live(job, ctl_field(st, "consumer"))) {
		before = strtol(ctl_field(st, "attempts"), NULL, 10);
		xasprintf(&cmd, "retry %s", job);
		control_send(ctl_field(st, "consumer"), cmd);
		free(cmd);
		freeReplyObject(st);
		st = await_status(job, new_attempt, &before);
		if (new_attempt(st, &before)) {
			print_status("attempt started", st);
			rv = CTL_OK;
		} else
			(void)ctl_error(CTL_FAIL, CTL_E_REFUSED, "job %s: no new attempt "
			    "within %d s", job, ACT_WAIT_S);
	}
	freeReplyObject(st);
	return rv;
}

/* The undelivered entry of a job (its entry id or its job_id field), or
   NULL: an XRANGE element, id and fields. */
static redisReply *
queued_entry(const char *job, redisReply **whole)
{
	char *stream = ctl_key(KEY_JOBS, NULL), from[80];
	redisReply *r, *e, *id;
	size_t i;

	*whole = NULL;
	xstrlcpy(from, "-", sizeof(from));
	for (;;) {
		r = ctl_cmd("XRANGE %s %s + COUNT 1000", stream, from);
		if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
			break;
		for (i = 0; i < r->elements; i++) {
			e = r->element[i];
			id = e->element[0];
			if (strcmp(id->str, job) == 0 ||
			    strcmp(ctl_field(e->element[1], "job_id"), job) ==
			    0) {
				*whole = r;
				free(stream);
				return e;
			}
		}
		snprintf(from, sizeof(from), "(%s",
		    r->element[r->elements - 1]->element[0]->str);
		freeReplyObject(r);
	}
	freeReplyObject(r);
	free(stream);
	return NULL;
}

/* cancel.lua on a queued entry: 1 cancelled, 0 not queued any more. */
static int
cancel_queued(const redisReply *e, const char *msg)
{
	const redisReply *f = e->element[1];
	const char *eid = e->element[0]->str, *teacher = ctl_field(f, "teacher");
	const char *job = *ctl_field(f, "job_id") ? ctl_field(f, "job_id") : eid;
	const char *kind = ctl_field(f, "kind"), *trigger = ctl_field(f,
	    "trigger");
	char *stream = ctl_key(KEY_JOBS, NULL), *status = ctl_key(KEY_JOB, job);
	char *lock = ctl_key(KEY_LOCK, teacher), *events = ctl_key(KEY_EVENTS,
	    NULL), ttl[24];
	const char *a[] = { "EVAL", lua_cancel, "3", stream, status, lock,
	    CONSUMER_GROUP, eid, "", "", job, teacher, *kind ? kind : "sync",
	    ctl_field(f, "ref"), *trigger ? trigger : "app", msg, events, ttl };
	redisReply *r;
	int ok;

	snprintf(ttl, sizeof(ttl), "%d", ctl_conf()->sync_status_ttl_s);
	r = ctl_cmd_argv((int)(sizeof(a) / sizeof(a[0])), a);
	ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    strcmp(r->element[0]->str, "OK") == 0;
	freeReplyObject(r);
	free(stream);
	free(status);
	free(lock);
	free(events);
	return ok;
}

static int
cancelled(redisReply *st, const void *unused)
{
	return in_list(final_states, ctl_field(st, "state"));
}

/* A job held by an instance: between attempts it is cancelled there. */
static int
cancel_held(const char *job, const char *msg)
{
	redisReply *st = job_status(job);
	const char *state;
	char *cmd;
	int rv = CTL_FAIL;

	if (st == NULL) {
		(void)ctl_error(CTL_FAIL, CTL_E_NOT_FOUND, "job %s not found", job);
		return CTL_FAIL;
	}
	state = ctl_field(st, "state");
	if (in_list(final_states, state))
		(void)ctl_error(CTL_FAIL, CTL_E_REFUSED, "job %s already finished: %s",
		    job, state);
	else if (strcmp(state, "running") == 0)
		(void)ctl_error(CTL_FAIL, CTL_E_REFUSED, "job %s is running on %s (attempt "
		    "%s): a running job is not cancelled, its sync may be "
		    "writing; cancel it once it is retrying", job,
		    ctl_field(st, "consumer"), ctl_field(st, "attempts"));
	else if (holder_live(job, ctl_field(st, "consumer"))) {
		xasprintf(&cmd, "cancel %s %s", job, msg);
		control_send(ctl_field(st, "consumer"), cmd);
		free(cmd);
		freeReplyObject(st);
		st = await_status(job, cancelled, NULL);
		state = ctl_field(st, "state");
		if (strcmp(state, "cancelled") == 0) {
			print_status("cancelled", st);
			rv = CTL_OK;
		} else
			(void)ctl_error(CTL_FAIL, CTL_E_REFUSED, "job %s was not cancelled "
			    "within %d s: %s (it was running meanwhile, or "
			    "ended)", job, ACT_WAIT_S, state);
	}
	freeReplyObject(st);
	return rv;
}

/*
 * rosterctl cancel JOB [REASON]: a queued job leaves the stream; a job an
 * instance holds between attempts (retrying, or waiting for its teacher)
 * ends there.  Either way its status says 'cancelled'.
 */
int
ctl_cancel(int argc, char **argv)
{
	redisReply *whole, *e, *st;
	char *note;
	int rv;

	if (argc < 2 || argc > 3)
		return ctl_usage(argv[0]);
	note = gate_note(argc > 2 ? argv[2] : "cancelled");
	if ((e = queued_entry(argv[1], &whole)) != NULL &&
	    cancel_queued(e, note)) {
		st = job_status(*ctl_field(e->element[1], "job_id") ?
		    ctl_field(e->element[1], "job_id") : e->element[0]->str);
		print_status("cancelled (it was queued)", st);
		freeReplyObject(st);
		rv = CTL_OK;
	} else	/* not queued, or read by an instance meanwhile */
		rv = cancel_held(argv[1], note);
	if (whole != NULL)
		freeReplyObject(whole);
	free(note);
	return rv;
}

/* ---- quiet, drain, pause --wait ---- */

/* Whether an instance has shut its gate: it applies this note (field). */
static int
gate_seen(const struct inst *in, const char *field, const char *note)
{
	return strcmp(ctl_field(in->hb, field), note) == 0;
}

/* A quiet instance holds no job: its beat, written quiet, says none. */
static int
drained(const struct inst *in, const char *note)
{
	return gate_seen(in, "quiet_note", note) &&
	    strcmp(ctl_field(in->hb, "state"), "quiet") == 0 &&
	    strcmp(ctl_field(in->hb, "jobs"), "0") == 0;
}

/*
 * Wait until every live instance (or the one named) confirms: pause
 * (field paused_note), quiet, or drained.  Prints the laggards and
 * returns CTL_FAIL after secs.
 */
enum gate_wait { WAIT_PAUSED, WAIT_QUIET, WAIT_DRAINED };

static int
await_gate(enum gate_wait what, const char *only, const char *note,
    unsigned secs, json_object *o)
{
	uint64_t end = mono_ms() + (uint64_t)secs * 1000;
	json_object *late;
	struct inst *v;
	size_t n, i;
	int ok;

	for (;;) {
		v = insts_read(&n);
		late = json_object_new_array();
		for (i = 0; i < n; i++) {
			if (only != NULL && strcmp(only, v[i].name) != 0)
				continue;
			ok = what == WAIT_PAUSED ? gate_seen(&v[i],
			    "paused_note", note) : what == WAIT_QUIET ?
			    gate_seen(&v[i], "quiet_note", note) :
			    drained(&v[i], note);
			if (!ok)
				json_object_array_add(late,
				    json_object_new_string(v[i].name));
		}
		insts_free(v, n);
		if (json_object_array_length(late) == 0 || mono_ms() >= end)
			break;
		json_object_put(late);
		sleep_ms(POLL_MS);
	}
	ok = json_object_array_length(late) == 0;
	if (ctl_json) {
		json_object_object_add(o, "confirmed",
		    json_object_new_boolean(ok));
		json_object_object_add(o, "not_confirmed", late);
		ctl_print_json(o);
	} else {
		for (i = 0; i < json_object_array_length(late); i++)
			(void)ctl_error(CTL_FAIL, CTL_E_REFUSED, "instance %s did not "
			    "confirm within %u s", json_object_get_string(
			    json_object_array_get_idx(late, i)), secs);
		if (ok)
			printf("%s\n", what == WAIT_DRAINED ? "drained: it "
			    "holds no job" : "confirmed by every live "
			    "instance");
		json_object_put(late);
		json_object_put(o);
	}
	return ok ? CTL_OK : CTL_FAIL;
}

/* The note the quiet key holds, or NULL (malloc'ed). */
static char *
get_note(enum key which, const char *id)
{
	char *k = ctl_key(which, id), *v = NULL;
	redisReply *r = ctl_cmd("GET %s", k);

	if (r->type == REDIS_REPLY_STRING)
		v = xstrdup(r->str);
	freeReplyObject(r);
	free(k);
	return v;
}

/* Make an instance quiet (if it is not yet); its note, malloc'ed. */
static char *
quiet_set(const char *inst, const char *reason)
{
	char *k = ctl_key(KEY_QUIET, inst), *note = gate_note(reason);
	redisReply *r = ctl_cmd("SET %s %s NX EX %d", k, note, QUIET_TTL_S);

	if (r->type == REDIS_REPLY_NIL) {	/* already: keep its note */
		free(note);
		note = get_note(KEY_QUIET, inst);
	}
	freeReplyObject(r);
	free(k);
	return note;
}

/* quiet [--wait] [-t SECONDS] INSTANCE [REASON]; drain is quiet --wait
   for no job held. */
static int
quiet_cmd(int argc, char **argv, int drain)
{
	unsigned secs = GATE_WAIT_S;
	int wait = drain, rv = CTL_OK;
	json_object *o;
	char *note;

	argc = wait_opts(argc, argv, &wait, &secs);
	if (argc < 2 || argc > 3)
		return ctl_usage(argv[0]);
	if (!inst_live(argv[1])) {
		(void)ctl_error(CTL_FAIL, CTL_E_NOT_FOUND, "no live instance %s", argv[1]);
		return CTL_FAIL;
	}
	if ((note = quiet_set(argv[1], argc > 2 ? argv[2] : "quiet")) == NULL)
		return ctl_error(CTL_FAIL, CTL_E_REFUSED, "%s: unquieted "
		    "meanwhile", argv[1]);
	o = ctl_result(drain ? "drain" : "quiet");
	json_object_object_add(o, "instance", json_object_new_string(argv[1]));
	json_object_object_add(o, "note", json_object_new_string(note));
	if (!ctl_json)
		printf("quiet: %s: %s\n", argv[1], note);
	if (wait)
		rv = await_gate(drain ? WAIT_DRAINED : WAIT_QUIET, argv[1],
		    note, secs, o);
	else if (ctl_json)
		ctl_print_json(o);
	else
		json_object_put(o);
	free(note);
	return rv;
}

int
ctl_quiet(int argc, char **argv)
{
	return quiet_cmd(argc, argv, 0);
}

int
ctl_drain(int argc, char **argv)
{
	return quiet_cmd(argc, argv, 1);
}

/* rosterctl unquiet INSTANCE: it takes work again. */
int
ctl_unquiet(int argc, char **argv)
{
	json_object *o;
	char *k;
	redisReply *r;
	int rv;

	if (argc != 2)
		return ctl_usage(argv[0]);
	k = ctl_key(KEY_QUIET, argv[1]);
	r = ctl_cmd("DEL %s", k);
	rv = r->integer == 1 ? CTL_OK : CTL_FAIL;
	freeReplyObject(r);
	if (rv == CTL_FAIL)
		(void)ctl_error(CTL_FAIL, CTL_E_NOT_FOUND, "%s was not quiet",
		    argv[1]);
	else if (ctl_json) {
		o = ctl_result("unquiet");
		json_object_object_add(o, "instance",
		    json_object_new_string(argv[1]));
		ctl_print_json(o);
	} else
		printf("%s takes work again\n", argv[1]);
	free(k);
	return rv;
}

/*
 * rosterctl pause [--wait] [-t SECONDS] [REASON]: the pause (ctl_queue.c);
 * with --wait, until every live instance has seen it, which an instance
 * confirms once its reader's gate is shut (control.lua records the note
 * it applies).  Already paused is no failure then: it waits for that
 * pause.
 */
int
ctl_pause_wait(int argc, char **argv)
{
	unsigned secs = GATE_WAIT_S;
	int wait = 0, rv;
	json_object *o;
	char *note;

	if ((argc = wait_opts(argc, argv, &wait, &secs)) == -1)
		return ctl_usage(argv[0]);
	if (!wait)
		return ctl_pause(argc, argv);
	if (argc > 2)
		return ctl_usage(argv[0]);
	if ((note = ctl_pause_set(argc > 1 ? argv[1] : NULL)) == NULL)
		return ctl_error(CTL_FAIL, CTL_E_REFUSED, "resumed meanwhile");
	o = ctl_result("pause");
	json_object_object_add(o, "paused", json_object_new_boolean(1));
	json_object_object_add(o, "note", json_object_new_string(note));
	if (!ctl_json)
		printf("paused: %s\n", note);
	rv = await_gate(WAIT_PAUSED, NULL, note, secs, o);
	free(note);
	return rv;
}
