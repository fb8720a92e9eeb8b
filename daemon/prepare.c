/*
 * Making Redis ready for work, on every connection and again when what it
 * made has gone (a DEL of the stream, FLUSHALL, a Redis restarted empty):
 *
 *	the permission check (probe.c)
 *	--> the server read (redisinfo.c): its maxmemory-policy must be
 *	    noeviction, or Redis may delete rosterd's keys: at start-up
 *	    rosterd refuses to work, later it is a refusal (health.c)
 *	--> the scripts loaded (store.c)
 *	--> the contract version: ours; the older one we know, upgraded
 *	    to ours; else refuse to work on these keys
 *	--> the number of diff partitions: recorded by the first start, the
 *	    configured one, or refuse to work (the apps read by partition)
 *	--> the consumer group of the job stream, created if absent
 *	--> rosterd is told (the reader starts, and the first time, work)
 *
 * A step that Redis refuses is tried again after a growing delay; a lost
 * connection starts over once it is back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

static prepared_cb	 prepared;	/* main.c's, from prepare_init */
static struct event	*ev_retry;	/* prepare again after a refusal */
static int		 failures;	/* refusals in a row */
/* Why the contract version could not be set. */
static char		 set_nx_error[256];

static void	prepare_group(void);
static void	prepare_contract(void);
static void	prepare_partitions(void);
static void	on_set_nx(struct rconn *, redisReply *, const char *, void *);

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	if (rconn_state(rd->rc) == RCONN_READY)
		prepare_redis();
}

/* Redis answered but refused a step: start again, later. */
static void
prepare_later(const char *what, const char *err)
{
	uint64_t ms = backoff_ms(++failures, REDIS_RETRY_MIN_MS,
	    REDIS_RETRY_MAX_MS);
	struct timeval tv = ms_to_tv(ms);

	health_redis_failed(what, err, 1);
	if (ev_retry == NULL)
		ev_retry = evtimer_new(rd->base, on_retry, NULL);
	evtimer_add(ev_retry, &tv);
}

/* Redis is set up so that rosterd cannot work: restarting will not help. */
static void
prepare_refuse(void)
{
	rd->exit_code = EXIT_CONFIG;
	event_base_loopexit(rd->base, NULL);
}

/* ---- the consumer group ---- */

static void
group_ready(void)
{
	failures = 0;
	prepared();
}

static void
on_group(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r != NULL && (r->type != REDIS_REPLY_ERROR ||
	    strncmp(r->str, "BUSYGROUP", 9) == 0)) {
		if (r->type != REDIS_REPLY_ERROR)
			logf_info(LF(.event = "group_created"), "created the "
			    "consumer group %s of %sjobs", CONSUMER_GROUP,
			    rd->conf.redis_prefix);
		group_ready();
		return;
	}
	if (r == NULL)	/* prepared again once reconnected */
		health_redis_failed("creating the consumer group", err, 0);
	else
		prepare_later("creating the consumer group", r->str);
}

/* An XINFO GROUPS reply: does it name our group? */
static int
names_our_group(redisReply *r)
{
	redisReply *name;
	size_t i;

	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if ((name = rconn_reply_field(r->element[i], "name")) != NULL &&
		    name->type == REDIS_REPLY_STRING &&
		    strcmp(name->str, CONSUMER_GROUP) == 0)
			return 1;
	return 0;
}

static void
on_groups(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	char *stream;

	if (r == NULL) {	/* prepared again once reconnected */
		health_redis_failed("looking for the consumer group", err, 0);
		return;
	}
	if (names_our_group(r)) {
		group_ready();
		return;
	}
	/* absent, no stream yet, or XINFO not allowed: create it */
	stream = key_jobs();
	rconn_command(rd->rc, 0, on_group, NULL,
	    "XGROUP CREATE %s %s 0 MKSTREAM", stream, CONSUMER_GROUP);
	free(stream);
}

/*
 * Look for the group first, and create it only when absent: XINFO only
 * reads, so it works when Redis refuses writes (maxmemory).
 */
static void
prepare_group(void)
{
	char *stream = key_jobs();

	rconn_command(rd->rc, 0, on_groups, NULL, "XINFO GROUPS %s", stream);
	free(stream);
}

/* ---- the number of diff partitions ---- */

/*
 * The apps assign partitions to their consumers, and a teacher's diffs
 * must all go to one stream: every instance must write with the number
 * the apps read with.  Changing it takes a drain, so it is never done
 * silently: refuse, and say how.
 */
static void
on_partitions(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	char want[16];

	if (r == NULL) {
		health_redis_failed("reading the diff partitions", err, 0);
		return;
	}
	/* absent is one stream, as before partitions were recorded: a Redis
	   at maxmemory (the SET NX refused) need not stop one from starting */
	if (r->type == REDIS_REPLY_NIL && rd->conf.diffs_partitions == 1) {
		prepare_group();
		return;
	}
	if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_NIL) {
		prepare_later("recording the diff partitions",
		    r->type == REDIS_REPLY_ERROR ? r->str : set_nx_error[0] ?
		    set_nx_error : "key absent");
		return;
	}
	snprintf(want, sizeof(want), "%d", rd->conf.diffs_partitions);
	if (r->type != REDIS_REPLY_STRING || strcmp(r->str, want) != 0) {
		logf_err(LF(.event = "partitions_mismatch"), "%sdiffs:"
		    "partitions holds %s, [diffs] partitions is %s: refusing "
		    "to write diffs where the apps do not read them.  To "
		    "change the number of partitions: pause (rosterctl pause "
		    "--wait), let the apps drain every diff stream, DEL "
		    "%sdiffs:partitions, then restart every instance with the "
		    "new number", rd->conf.redis_prefix,
		    r->type == REDIS_REPLY_STRING ? r->str : "(not a string)",
		    want, rd->conf.redis_prefix);
		sd_notifyf(0, "STATUS=%sdiffs:partitions holds %s, configured "
		    "%s", rd->conf.redis_prefix, r->type == REDIS_REPLY_STRING ?
		    r->str : "?", want);
		prepare_refuse();
		return;
	}
	prepare_group();
}

/* The first start records the number; every start checks it. */
static void
prepare_partitions(void)
{
	char *key = key_diffs_partitions();

	rconn_command(rd->rc, 0, on_set_nx, NULL, "SET %s %d NX", key,
	    rd->conf.diffs_partitions);
	rconn_command(rd->rc, 0, on_partitions, NULL, "GET %s", key);
	free(key);
}

/* ---- the contract version ---- */

/*
 * A SET NX of the contract version or the partitions: the GET right after
 * it sees the outcome; keep why it failed (OOM, ACL) for its message.
 */
static void
on_set_nx(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	xstrlcpy(set_nx_error, r != NULL && r->type == REDIS_REPLY_ERROR ?
	    r->str : "", sizeof(set_nx_error));
	/* a SET, even NX, is refused while Redis takes no writes */
	if (r != NULL && r->type != REDIS_REPLY_ERROR)
		health_redis_ok(1);
}

static void
on_upgrade(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL) {	/* prepared again once reconnected */
		health_redis_failed("upgrading the contract version", err, 0);
		return;
	}
	if (r->type != REDIS_REPLY_INTEGER) {
		prepare_later("upgrading the contract version",
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		return;
	}
	/* a warning: what every app reads changes, for good */
	if (r->integer == 1)
		logf_warn(LF(.event = "contract_upgraded"), "upgraded "
		    "%scontract from version %s to %s: diff entries are "
		    "written in version %s from now on (doc/contract.md, "
		    "\"Changes in version %s\")", rd->conf.redis_prefix,
		    CONTRACT_UPGRADES_FROM, CONTRACT_VERSION, CONTRACT_VERSION,
		    CONTRACT_VERSION);
	/* upgraded, by us or by another instance, or changed: read it again */
	prepare_contract();
}

/*
 * Keys of the older version that this rosterd knows are upgraded: one
 * compare-and-set (upgrade.lua), so that two instances starting together
 * upgrade once, and a key set meanwhile to another version is refused.
 */
static void
prepare_upgrade(void)
{
	struct script_call *sc = script_new(SCRIPT_UPGRADE);

	script_key(sc, key_contract());
	script_arg(sc, CONTRACT_UPGRADES_FROM);
	script_arg(sc, CONTRACT_VERSION);
	script_run(sc, on_upgrade, NULL);
}

/*
 * The contract version under our prefix must be ours: a rosterd must not
 * work on keys laid out by another version of the contract.  The older
 * version it knows it upgrades first.
 */
static void
on_contract(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	if (r == NULL) {
		/* the connection is being re-established: prepared again */
		health_redis_failed("reading the contract version", err, 0);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		prepare_later("reading the contract version", r->str);
		return;
	}
	if (r->type == REDIS_REPLY_NIL) {
		prepare_later("setting the contract version",
		    set_nx_error[0] ? set_nx_error : "key absent");
		return;
	}
	if (r->type == REDIS_REPLY_STRING &&
	    strcmp(r->str, CONTRACT_UPGRADES_FROM) == 0) {
		prepare_upgrade();
		return;
	}
	if (r->type != REDIS_REPLY_STRING ||
	    strcmp(r->str, CONTRACT_VERSION) != 0) {
		logf_err(LF(.event = "contract_mismatch"), "%scontract holds "
		    "version %s, this rosterd speaks version %s: refusing to "
		    "work on these keys", rd->conf.redis_prefix,
		    r->type == REDIS_REPLY_STRING ? r->str : "(not a string)",
		    CONTRACT_VERSION);
		prepare_refuse();
		return;
	}
	prepare_partitions();
}

static void
prepare_contract(void)
{
	char *key = key_contract();

	rconn_command(rd->rc, 0, on_set_nx, NULL, "SET %s %s NX",
	    key, CONTRACT_VERSION);
	rconn_command(rd->rc, 0, on_contract, NULL, "GET %s", key);
	free(key);
}

/* ---- the server, then the scripts ---- */

static void
on_server(int lost)
{
	const char *policy = redisinfo_policy();

	if (lost)
		return;		/* prepared again once reconnected */
	if (policy != NULL && strcmp(policy, "noeviction") != 0 &&
	    !rd->ready) {
		logf_err(LF(.event = "redis_evicting"), "Redis has "
		    "maxmemory-policy %s: under memory pressure it deletes "
		    "keys, rosterd's snapshots, jobs and tokens among them; "
		    "set maxmemory-policy noeviction (refusing to start)",
		    policy);
		sd_notifyf(0, "STATUS=Redis evicts keys: maxmemory-policy %s "
		    "(must be noeviction)", policy);
		prepare_refuse();
		return;
	}
	/* running: a refusal until it is noeviction again */
	health_redis_policy(policy);
	store_init();
	prepare_contract();
}

/* ---- the permissions ---- */

static void
on_probed(int denied, const char *what)
{
	if (denied == -1)
		return;		/* prepared again once reconnected */
	if (denied == 0 && rd->conf.redis_wait_replicas > 0 &&
	    !probe_allows(PROBE_WAIT)) {
		denied = 1;
		what = "WAIT (for [redis] wait_replicas)";
	}
	if (denied == 1 && !rd->ready) {
		logf_err(LF(.event = "redis_denied"), "the Redis user may not "
		    "do what rosterd needs: %s; grant it (see the minimal ACL "
		    "in doc/production.md)", what);
		sd_notifyf(0, "STATUS=Redis denies: %s", what);
		prepare_refuse();
		return;
	}
	if (denied == 1)	/* the ACL changed under a running rosterd */
		health_redis_failed("the permission check", what, 1);
	redisinfo_read(on_server);
}

/* Prepare Redis from the start (the command connection is ready). */
void
prepare_redis(void)
{
	probe_redis(on_probed);
}

void
prepare_init(prepared_cb cb)
{
	prepared = cb;
}

void
prepare_free(void)
{
	if (ev_retry != NULL)
		event_free(ev_retry);
	ev_retry = NULL;
}
