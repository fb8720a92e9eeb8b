/*
 * rosterctl: look at rosterd's queue, jobs, failures and dead letters, retry
 * dead letters, enqueue syncs, show snapshots and diffs, and work on snapshot
 * and diff files offline.  A command-line tool, so plain synchronous hiredis.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "roster.h"
#include "rosterd_version.h"
#include "xmalloc.h"

static struct conf	 conf;
static redisContext	*rc;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: rosterctl [-c file] command [args]\n"
	    "commands on the Redis of rosterd (address and prefix from the\n"
	    "configuration file, default " ROSTERD_CONF "):\n"
	    "  queue                      jobs waiting, pending, consumers\n"
	    "  enqueue TEACHER [sync|discover] [force]   queue a job\n"
	    "  status JOB                 a job's status\n"
	    "  dead [COUNT]               dead letters (failed, dead, held)\n"
	    "  retry ID|all [force]       re-queue dead letters and drop them\n"
	    "  snapshot TEACHER           the teacher's last synced roster\n"
	    "  diffs [TEACHER|-] [COUNT]  the last COUNT (100) roster diffs, readable\n"
	    "offline, on files:\n"
	    "  diff [-s] OLD NEW          diff of two snapshot files\n"
	    "  apply BASE DIFF            apply a diff file to a snapshot\n");
}

static void
redis_open(void)
{
	struct timeval tv = { 5, 0 };
	redisReply *r;

	if (conf.redis_socket[0] != '\0')
		rc = redisConnectUnixWithTimeout(conf.redis_socket, tv);
	else
		rc = redisConnectWithTimeout(conf.redis_host, conf.redis_port,
		    tv);
	if (rc == NULL || rc->err)
		fatalx("cannot connect to Redis at %s:%d: %s", conf.redis_host,
		    conf.redis_port, rc ? rc->errstr : "out of memory");
	redisSetTimeout(rc, tv);
	if (conf.redis_password[0] != '\0') {
		r = redisCommand(rc, "AUTH %s", conf.redis_password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR)
			fatalx("Redis AUTH failed");
		freeReplyObject(r);
	}
	if (conf.redis_db != 0) {
		r = redisCommand(rc, "SELECT %d", conf.redis_db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR)
			fatalx("Redis SELECT failed");
		freeReplyObject(r);
	}
}

static redisReply *
cmd(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	if (r == NULL)
		fatalx("Redis: %s", rc->errstr);
	if (r->type == REDIS_REPLY_ERROR)
		fatalx("Redis: %s", r->str);
	return r;
}

static char *
key(const char *fmt, const char *arg)
{
	char *k, *tail;

	xasprintf(&tail, fmt, arg);
	xasprintf(&k, "%s%s", conf.redis_prefix, tail);
	free(tail);
	return k;
}

static void
print_time_ms(const char *label, const char *ms)
{
	time_t t = (time_t)(strtoull(ms, NULL, 10) / 1000);
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
	printf("  %-22s %s (%s)\n", label, ms, buf);
}

/* Print a flat field/value array; *_ms fields also as dates. */
static void
print_fields(redisReply *f)
{
	size_t i;

	for (i = 0; i + 1 < f->elements; i += 2) {
		const char *k = f->element[i]->str, *v = f->element[i + 1]->str;
		size_t kl = strlen(k);

		if (kl > 3 && strcmp(k + kl - 3, "_ms") == 0 && *v != '\0')
			print_time_ms(k, v);
		else
			printf("  %-22s %s\n", k, v);
	}
}

/* One line per entry of an XINFO reply: label: key=value ... */
static void
print_xinfo(const char *label, redisReply *r)
{
	redisReply *g, *v;
	size_t i, k;

	for (i = 0; i < r->elements; i++) {
		g = r->element[i];
		printf("%s:", label);
		for (k = 0; k + 1 < g->elements; k += 2) {
			v = g->element[k + 1];
			if (v->type == REDIS_REPLY_INTEGER)
				printf(" %s=%lld", g->element[k]->str,
				    v->integer);
			else if (v->type == REDIS_REPLY_STRING)
				printf(" %s=%s", g->element[k]->str, v->str);
		}
		printf("\n");
	}
}

static int
ctl_queue(int argc, char **argv)
{
	char *stream = key("jobs", ""), *dead = key("dead", "");
	char *diffs = key("diffs", "");
	redisReply *r;

	r = cmd("XLEN %s", stream);
	printf("jobs stream %s: %lld entries\n", stream, r->integer);
	freeReplyObject(r);
	r = redisCommand(rc, "XINFO GROUPS %s", stream);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY)
		print_xinfo("group", r);
	else
		printf("no consumer group yet (rosterd has not started)\n");
	if (r != NULL)
		freeReplyObject(r);
	r = redisCommand(rc, "XINFO CONSUMERS %s rosterd", stream);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY)
		print_xinfo("consumer", r);
	if (r != NULL)
		freeReplyObject(r);
	r = cmd("XLEN %s", dead);
	printf("dead letters %s: %lld\n", dead, r->integer);
	freeReplyObject(r);
	r = cmd("XLEN %s", diffs);
	printf("diffs %s: %lld\n", diffs, r->integer);
	freeReplyObject(r);
	free(stream);
	free(dead);
	free(diffs);
	return 0;
}

static int
ctl_enqueue(int argc, char **argv)
{
	char *stream;
	const char *kind = "sync";
	int i, force = 0;
	redisReply *r;

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	/* after the teacher: a kind and/or "force", in any order */
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "force") == 0)
			force = 1;
		else if (strcmp(argv[i], "sync") == 0 ||
		    strcmp(argv[i], "discover") == 0)
			kind = argv[i];
		else {
			fprintf(stderr, "rosterctl enqueue: %s is neither sync, "
			    "discover nor force\n", argv[i]);
			return 1;
		}
	}
	stream = key("jobs", "");
	if (force)
		r = cmd("XADD %s * teacher %s kind %s force 1", stream,
		    argv[1], kind);
	else
		r = cmd("XADD %s * teacher %s kind %s", stream, argv[1], kind);
	printf("%s\n", r->str);
	freeReplyObject(r);
	free(stream);
	return 0;
}

static int
ctl_status(int argc, char **argv)
{
	char *k;
	redisReply *r;

	if (argc != 2) {
		usage(stderr);
		return 1;
	}
	k = key("job:%s", argv[1]);
	r = cmd("HGETALL %s", k);
	if (r->elements == 0) {
		printf("job %s: no status (not seen yet, or expired)\n",
		    argv[1]);
		freeReplyObject(r);
		free(k);
		return 1;
	}
	printf("job %s\n", argv[1]);
	print_fields(r);
	freeReplyObject(r);
	free(k);
	return 0;
}

static int
ctl_dead(int argc, char **argv)
{
	char *k = key("dead", "");
	const char *count = argc > 1 ? argv[1] : "50";
	redisReply *r;
	size_t i;

	r = cmd("XREVRANGE %s + - COUNT %s", k, count);
	if (r->elements == 0)
		printf("no dead letters\n");
	for (i = 0; i < r->elements; i++) {
		printf("%s\n", r->element[i]->element[0]->str);
		print_fields(r->element[i]->element[1]);
	}
	freeReplyObject(r);
	free(k);
	return 0;
}

static const char *
field(redisReply *f, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < f->elements; i += 2)
		if (strcmp(f->element[i]->str, name) == 0)
			return f->element[i + 1]->str;
	return "";
}

/* Re-queue one dead letter (a fresh job) and remove it. */
static void
retry_one(const char *dead, const char *jobs, redisReply *e, int force)
{
	redisReply *f = e->element[1], *r;
	const char *district = field(f, "district");
	const char *kind = *field(f, "kind") ? field(f, "kind") : "sync";

	if (*field(f, "teacher") == '\0') {
		printf("%s: no teacher (a malformed job): dropped\n",
		    e->element[0]->str);
	} else {
		if (*district != '\0')
			r = cmd("XADD %s * teacher %s kind %s ref %s "
			    "district %s force %s retry_of %s", jobs,
			    field(f, "teacher"), kind, field(f, "ref"),
			    district, force ? "1" : field(f, "force"),
			    field(f, "job"));
		else
			r = cmd("XADD %s * teacher %s kind %s ref %s force %s "
			    "retry_of %s", jobs, field(f, "teacher"), kind,
			    field(f, "ref"), force ? "1" : field(f, "force"),
			    field(f, "job"));
		printf("%s: re-queued as job %s\n", e->element[0]->str, r->str);
		freeReplyObject(r);
	}
	freeReplyObject(cmd("XDEL %s %s", dead, e->element[0]->str));
}

static int
ctl_retry(int argc, char **argv)
{
	char *dead = key("dead", ""), *jobs = key("jobs", "");
	int force = argc > 2 && strcmp(argv[2], "force") == 0;
	redisReply *r;
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (strcmp(argv[1], "all") == 0)
		r = cmd("XRANGE %s - +", dead);
	else
		r = cmd("XRANGE %s %s %s", dead, argv[1], argv[1]);
	if (r->elements == 0)
		printf("no such dead letter\n");
	for (i = 0; i < r->elements; i++)
		retry_one(dead, jobs, r->element[i], force);
	freeReplyObject(r);
	free(dead);
	free(jobs);
	return 0;
}

static int
ctl_snapshot(int argc, char **argv)
{
	char *k;
	redisReply *r;

	if (argc != 2) {
		usage(stderr);
		return 1;
	}
	k = key("snapshot:{%s}", argv[1]);
	r = cmd("HGET %s roster", k);
	if (r->type != REDIS_REPLY_STRING) {
		printf("no snapshot for teacher %s\n", argv[1]);
		freeReplyObject(r);
		free(k);
		return 1;
	}
	printf("%s\n", r->str);
	freeReplyObject(r);
	free(k);
	return 0;
}

static void
print_diff_entry(redisReply *e)
{
	redisReply *f = e->element[1];
	json_object *diff;

	printf("diff %s: teacher %s, version %s -> %s, job %s (+%s ~%s -%s)\n",
	    e->element[0]->str, field(f, "teacher"), field(f, "base_version"),
	    field(f, "version"), field(f, "job"), field(f, "added"),
	    field(f, "updated"), field(f, "removed"));
	diff = json_tokener_parse(field(f, "diff"));
	if (diff == NULL)
		printf("  (unreadable diff)\n");
	else
		ctl_print_diff(stdout, diff);
	json_object_put(diff);
}

/*
 * The last COUNT diffs (of one teacher), oldest first.  The stream is read
 * backwards in chunks, so a long stream is not read whole.
 */
static int
ctl_diffs(int argc, char **argv)
{
	char *k = key("diffs", ""), end[64] = "+";
	const char *teacher = argc > 1 && strcmp(argv[1], "-") != 0 ?
	    argv[1] : NULL;
	long count = argc > 2 ? strtol(argv[2], NULL, 10) : 100;
	redisReply **keep, *r;
	size_t i, n = 0, nr = 0;
	redisReply **chunks = NULL;

	if (count <= 0)
		count = 100;
	keep = xcalloc((size_t)count, sizeof(*keep));
	while (n < (size_t)count) {
		r = cmd("XREVRANGE %s %s - COUNT 1000", k, end);
		chunks = xreallocarray(chunks, nr + 1, sizeof(*chunks));
		chunks[nr++] = r;
		for (i = 0; i < r->elements && n < (size_t)count; i++)
			if (teacher == NULL || strcmp(field(
			    r->element[i]->element[1], "teacher"), teacher) == 0)
				keep[n++] = r->element[i];
		if (r->elements < 1000)
			break;
		/* next chunk: strictly before the last id seen */
		snprintf(end, sizeof(end), "(%s",
		    r->element[r->elements - 1]->element[0]->str);
	}
	while (n > 0)
		print_diff_entry(keep[--n]);
	for (i = 0; i < nr; i++)
		freeReplyObject(chunks[i]);
	free(chunks);
	free(keep);
	free(k);
	return 0;
}

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
	int		 redis;
} commands[] = {
	{ "queue", ctl_queue, 1 },
	{ "enqueue", ctl_enqueue, 1 },
	{ "status", ctl_status, 1 },
	{ "dead", ctl_dead, 1 },
	{ "failures", ctl_dead, 1 },
	{ "retry", ctl_retry, 1 },
	{ "snapshot", ctl_snapshot, 1 },
	{ "diffs", ctl_diffs, 1 },
	{ "diff", ctl_diff, 0 },
	{ "apply", ctl_apply, 0 },
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL;
	char err[CONF_ERR_MAX];
	size_t i;
	int ch, rv;

	log_init("rosterctl", LOG_LVL_WARN, LOG_TARGET_STDERR);
	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'V':
			printf("rosterctl %s\n", ROSTERD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 1;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		fprintf(stderr, "rosterctl: unknown command %s\n", argv[0]);
		usage(stderr);
		return 1;
	}
	if (!commands[i].redis)
		return commands[i].fn(argc, argv);

	/* the default file is optional: without it, the defaults apply */
	if (path == NULL && access(ROSTERD_CONF, R_OK) == -1)
		conf_defaults(&conf);
	else if (conf_load(&conf, path ? path : ROSTERD_CONF, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "rosterctl: %s\n", err);
		return 1;
	}
	redis_open();
	rv = commands[i].fn(argc, argv);
	redisFree(rc);
	conf_free(&conf);
	return rv;
}
