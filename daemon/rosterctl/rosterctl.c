/*
 * rosterctl: look at rosterd's queue, jobs, instances and dead letters,
 * retry or drop dead letters, pause the queue, enqueue syncs, watch status
 * changes, show snapshots and diffs, and work on snapshot and diff files
 * offline.  A command-line tool, so plain synchronous hiredis.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "partition.h"
#include "rosterd_version.h"
#include "xmalloc.h"

int			 ctl_json;
static struct conf	 conf;

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
	int		 redis;
	const char	*usage;
} commands[] = {
	{ "queue", ctl_queue, 1, "queue                      "
	    "jobs waiting, pending, consumers, pause" },
	{ "stats", ctl_stats, 1, "stats                      "
	    "throughput, waiting, retries, dead, instances" },
	{ "enqueue", ctl_enqueue, 1, "enqueue TEACHER [sync|discover|forget] [force]"
	    "\n                             queue a job" },
	{ "forget", ctl_forget, 1, "forget TEACHER             "
	    "erase the teacher: a final diff, then\n"
	    "                             every key of the teacher goes" },
	{ "status", ctl_status, 1, "status JOB                 a job's status" },
	{ "find", ctl_find, 1, "find TEACHER | find --ref REF\n"
	    "                             a teacher's or a ref's jobs, "
	    "newest first" },
	{ "watch", ctl_watch, 1, "watch [-n COUNT] [TEACHER] "
	    "status changes as they happen" },
	{ "dead", ctl_dead, 1, "dead [-s STATE] [-e CODE] [COUNT]\n"
	    "                             dead letters (failed, dead, held)" },
	{ "failures", ctl_dead, 1, NULL },
	{ "retry", ctl_retry, 1, "retry [-s STATE] [-e CODE] ID...|all [force]"
	    "\n                             re-queue dead letters and drop "
	    "them\n                             (failed ones only with force)" },
	{ "delete", ctl_delete, 1, "delete ID...               "
	    "drop dead letters" },
	{ "purge", ctl_purge, 1, "purge [-s STATE] [-e CODE] all\n"
	    "                             drop every (matching) dead letter" },
	{ "held", ctl_held, 1, "held [confirm TEACHER]     "
	    "changes held by the shrink guard;\n"
	    "                             confirm: apply the teacher's" },
	{ "schedule", ctl_schedule, 1, "schedule [TEACHER]         "
	    "the freshness schedule: due now, next\n"
	    "                             hour, overdue; or one teacher's" },
	{ "running", ctl_running, 1, "running [INSTANCE]         "
	    "jobs in flight per live instance: attempt,\n"
	    "                             what each waits on, next attempt" },
	{ "jobs", ctl_running, 1, NULL },
	{ "retry-now", ctl_retry_now, 1, "retry-now JOB              "
	    "a retrying job's next attempt starts now" },
	{ "cancel", ctl_cancel, 1, "cancel JOB [REASON]        "
	    "end a queued or retrying job: cancelled\n"
	    "                             (a running one is refused)" },
	{ "quiet", ctl_quiet, 1, "quiet [--wait] [-t SECONDS] INSTANCE [REASON]"
	    "\n                             that instance starts no new job; "
	    "--wait:\n                             until it has seen it" },
	{ "unquiet", ctl_unquiet, 1, "unquiet INSTANCE           "
	    "undo quiet" },
	{ "drain", ctl_drain, 1, "drain [-t SECONDS] INSTANCE [REASON]\n"
	    "                             quiet, then wait until it holds no "
	    "job" },
	{ "pause", ctl_pause_wait, 1, "pause [--wait] [-t SECONDS] [REASON]\n"
	    "                             all instances: start no new job; "
	    "--wait:\n                             until every live one has "
	    "seen it" },
	{ "resume", ctl_resume, 1, "resume                     "
	    "undo pause" },
	{ "snapshot", ctl_snapshot, 1, "snapshot TEACHER           "
	    "the teacher's last synced roster" },
	{ "diffs", ctl_diffs, 1, "diffs [TEACHER|-] [COUNT]  "
	    "the last COUNT (100) roster diffs" },
	{ "diff", ctl_diff, 0, "diff [-s] OLD NEW          "
	    "offline: diff of two snapshot files" },
	{ "apply", ctl_apply, 0, "apply BASE DIFF            "
	    "offline: apply a diff file to a snapshot" },
};
#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *fp)
{
	size_t i;

	fprintf(fp,
	    "usage: rosterctl [-c file] [--json] command [args]\n"
	    "  -c file    configuration file (default " ROSTERD_CONF ";\n"
	    "             built-in defaults when that file is absent)\n"
	    "  --json     JSON output, errors included (\"schema\": 1; see "
	    "rosterctl(8))\n"
	    "  --version, --help\n"
	    "commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		if (commands[i].usage != NULL)
			fprintf(fp, "  %s\n", commands[i].usage);
	fprintf(fp, "exit status: 0 done, 1 not found or refused, 2 usage, "
	    "3 Redis or configuration error\n");
}

/* One command's usage line on stderr; the status for a usage error. */
int
ctl_usage(const char *cmd)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, cmd) == 0 &&
		    commands[i].usage != NULL) {
			if (ctl_json)
				return ctl_error(CTL_USAGE, CTL_E_USAGE,
				    "usage: rosterctl %s", commands[i].usage);
			fprintf(stderr, "usage: rosterctl %s\n",
			    commands[i].usage);
		}
	return CTL_USAGE;
}

void
ctl_fatal(const char *fmt, ...)
{
	va_list ap;
	int rv;

	va_start(ap, fmt);
	rv = ctl_verror(CTL_ERROR, CTL_E_REDIS, fmt, ap);
	va_end(ap);
	exit(rv);
}

static redisReply *
vcmd(int fail_on_error, const char *fmt, va_list ap)
{
	redisReply *r;

	if ((r = ctl_conn_vcommand(fmt, ap)) == NULL)
		ctl_fatal("Redis: %s", ctl_conn_error());
	if (fail_on_error && r->type == REDIS_REPLY_ERROR)
		ctl_fatal("Redis: %s", r->str);
	return r;
}

/* A command whose error reply is fatal. */
redisReply *
ctl_cmd(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = vcmd(1, fmt, ap);
	va_end(ap);
	return r;
}

/* A command whose error reply the caller looks at. */
redisReply *
ctl_cmd_try(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = vcmd(0, fmt, ap);
	va_end(ap);
	return r;
}

redisReply *
ctl_cmd_argv(int argc, const char **argv)
{
	redisReply *r = ctl_conn_argv(argc, argv, NULL);

	if (r == NULL)
		ctl_fatal("Redis: %s", ctl_conn_error());
	if (r->type == REDIS_REPLY_ERROR)
		ctl_fatal("Redis: %s", r->str);
	return r;
}

/* A key of the contract under [redis] prefix. */
char *
ctl_key(enum key which, const char *id)
{
	return keys_name(conf.redis_prefix, which, id);
}

/*
 * The number of diff partitions the deployment recorded (rosterd's first
 * start), else the configured one: where the diffs are, whatever this
 * host's configuration says.
 */
unsigned
ctl_partitions(void)
{
	static unsigned n;
	redisReply *r;
	char *k;
	long v;

	if (n > 0)
		return n;
	k = ctl_key(KEY_DIFFS_PARTITIONS, NULL);
	r = ctl_cmd("GET %s", k);
	/* absent: one stream (no rosterd recorded more) */
	v = r->type == REDIS_REPLY_STRING ? strtol(r->str, NULL, 10) : 1;
	n = v >= 1 && v <= PARTITIONS_MAX ? (unsigned)v :
	    (unsigned)conf.diffs_partitions;
	freeReplyObject(r);
	free(k);
	return n;
}

/* The diff stream of partition p (ctl_partitions()). */
char *
ctl_diffs_key(unsigned p)
{
	return keys_diffs(conf.redis_prefix, ctl_partitions(), p);
}

/* Redis's clock: ages are measured against it, not ours. */
const struct conf *
ctl_conf(void)
{
	return &conf;
}

unsigned long long
ctl_redis_now_ms(void)
{
	redisReply *r = ctl_cmd("TIME");
	unsigned long long ms;

	ms = strtoull(r->element[0]->str, NULL, 10) * 1000 +
	    strtoull(r->element[1]->str, NULL, 10) / 1000;
	freeReplyObject(r);
	return ms;
}

/* --json may also come after the command: take it out of argv. */
static int
take_json(int argc, char **argv)
{
	int i, n = 0;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			ctl_json = 1;
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	return n;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL;
	char err[CONF_ERR_MAX];
	size_t i;
	int ch, rv;

	log_init("rosterctl", LOG_LVL_WARN, LOG_TARGET_STDERR);
	while ((ch = getopt_long(argc, argv, "+c:hj", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'j':
			ctl_json = 1;
			break;
		case 'V':
			printf("rosterctl %s\n", ROSTERD_VERSION);
			return CTL_OK;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}
	argc = take_json(argc - optind, argv + optind);
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return CTL_USAGE;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i == NCOMMANDS) {
		ctl_error(CTL_USAGE, CTL_E_USAGE, "unknown command %s", argv[0]);
		if (!ctl_json)
			usage(stderr);
		return CTL_USAGE;
	}
	if (!commands[i].redis)
		return commands[i].fn(argc, argv);

	/* the default file is optional: without it, the defaults apply */
	if (path == NULL && access(ROSTERD_CONF, R_OK) == -1)
		conf_defaults(&conf);
	else if (conf_load(&conf, path ? path : ROSTERD_CONF, err,
	    sizeof(err)) == -1)
		return ctl_error(CTL_ERROR, CTL_E_CONFIG, "%s", err);
	if (ctl_conn_open(&conf) == -1)
		ctl_fatal("%s", ctl_conn_error());
	rv = commands[i].fn(argc, argv);
	ctl_conn_close();
	conf_free(&conf);
	return rv;
}
