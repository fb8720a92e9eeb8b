/*
 * Retention: every [retention] interval_ms the streams are trimmed behind
 * their readers (trim.lua; one run per interval for the deployment): the
 * job stream behind rosterd's acknowledgements, dead letters to a count
 * and an age, diffs behind the app's consumer groups with diff_stream_maxlen
 * as a safety cap, a group that the cap makes lose diffs being told.
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
		    "diff_stream_maxlen: %lld consumer groups lost unread diffs "
		    "(named in %sdiffs_lost; they resume from the snapshots)",
		    n[3], rd->conf.redis_prefix);
	if (n[0] + n[1] + n[2] > 0)
		logf_info(LF(.event = "trimmed"), "trimmed %lld acknowledged "
		    "jobs, %lld dead letters, %lld diffs", n[0], n[1], n[2]);
}

static void
trim_now(void)
{
	char *keys[5], *ch, interval[24], dead_max[24], dead_age[24];
	char diffs_max[24];
	const char *argv[11];
	int i;

	if (rconn_state(rd->rc) != RCONN_READY || rd->draining)
		return;
	keys[0] = key_jobs();
	keys[1] = key_dead();
	keys[2] = key_diffs();
	keys[3] = key_diffs_lost();
	keys[4] = key_trim_lock();
	ch = key_events();
	snprintf(interval, sizeof(interval), "%llu",
	    (unsigned long long)rd->conf.retention_interval_ms);
	snprintf(dead_max, sizeof(dead_max), "%d", rd->conf.retention_dead_max);
	snprintf(dead_age, sizeof(dead_age), "%llu", (unsigned long long)
	    rd->conf.retention_dead_max_age_days * 86400000ULL);
	snprintf(diffs_max, sizeof(diffs_max), "%d",
	    rd->conf.sync_diff_maxlen);
	for (i = 0; i < 5; i++)
		argv[i] = keys[i];
	argv[5] = CONSUMER_GROUP;
	argv[6] = interval;
	argv[7] = dead_max;
	argv[8] = dead_age;
	argv[9] = diffs_max;
	argv[10] = ch;
	store_eval(SCRIPT_TRIM, 5, 11, argv, NULL, on_trimmed, NULL);
	for (i = 0; i < 5; i++)
		free(keys[i]);
	free(ch);
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
