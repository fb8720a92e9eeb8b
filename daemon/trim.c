/*
 * Retention: every [retention] interval_ms the streams are trimmed behind
 * their readers (trim.lua; one run per interval for the deployment): the
 * job stream behind rosterd's acknowledgements, dead letters to a count
 * and an age, diffs (every partition) behind the app's consumer groups with
 * diff_stream_maxlen as a safety cap, a group that the cap makes lose
 * diffs being told.
 */
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

static struct event	*ev_trim;

static void
on_trimmed(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	long long n[4];
	size_t i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 4)
		return;		/* failures: health.c; -1: another instance */
	for (i = 0; i < 4; i++)
		n[i] = r->element[i]->type == REDIS_REPLY_INTEGER ?
		    r->element[i]->integer : 0;
	if (n[3] > 0)
		logf_warn(LF(.event = "diffs_lost"), "the diff stream reached "
		    "diff_stream_maxlen: %lld consumer groups (per partition) "
		    "lost unread diffs (named in %sdiffs_lost, with where to "
		    "resume: they recover from the snapshots)",
		    n[3], rd->conf.redis_prefix);
	if (n[0] + n[1] + n[2] > 0)
		logf_info(LF(.event = "trimmed"), "trimmed %lld acknowledged "
		    "jobs, %lld dead letters, %lld diffs", n[0], n[1], n[2]);
}

static void
trim_now(void)
{
	struct script_call *sc;
	unsigned p;

	if (rconn_state(rd->rc) != RCONN_READY || rd->draining)
		return;
	sc = script_new(SCRIPT_TRIM);
	script_key(sc, key_jobs());
	script_key(sc, key_dead());
	script_key(sc, key_diffs_lost());
	script_key(sc, key_trim_lock());
	for (p = 0; p < (unsigned)rd->conf.diffs_partitions; p++)
		script_key(sc, key_diffs_part(p));
	script_arg(sc, CONSUMER_GROUP);
	script_num(sc, (long long)rd->conf.retention_interval_ms);
	script_num(sc, rd->conf.retention_dead_max);
	script_num(sc, rd->conf.retention_dead_max_age_days * 86400000LL);
	script_num(sc, rd->conf.sync_diff_maxlen);
	script_arg_own(sc, key_events());
	script_run(sc, on_trimmed, NULL);
}

static void
on_trim_timer(evutil_socket_t fd, short what, void *arg)
{
	trim_now();
}

/* Ready for work: trim now and every interval. */
void
trim_start(void)
{
	struct timeval tv = ms_to_tv(rd->conf.retention_interval_ms);

	if (ev_trim == NULL)
		ev_trim = event_new(rd->base, -1, EV_PERSIST,
		    on_trim_timer, NULL);
	evtimer_add(ev_trim, &tv);
	trim_now();
}

void
trim_free(void)
{
	if (ev_trim != NULL)
		event_free(ev_trim);
	ev_trim = NULL;
}
