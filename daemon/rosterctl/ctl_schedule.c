/*
 * rosterctl schedule [TEACHER]: the freshness schedule ([schedule]) at a
 * glance: how many teachers it keeps fresh, how many are due now, in the
 * next hour, and overdue; how many left it (their token gone, refused or
 * not shared) and how many await a new token.  With a teacher: where that
 * teacher stands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "contract.h"
#include "ctl.h"

#define HOUR_MS		3600000ULL

static long long
zcount(enum key set, const char *min, const char *max)
{
	char *key = ctl_key(set, NULL);
	redisReply *r = ctl_cmd("ZCOUNT %s %s %s", key, min, max);
	long long n = r->integer;

	freeReplyObject(r);
	free(key);
	return n;
}

/* A teacher's score in one of the sets, or -1 when not in it. */
static long long
zscore(enum key set, const char *teacher)
{
	char *key = ctl_key(set, NULL);
	redisReply *r = ctl_cmd("ZSCORE %s %s", key, teacher);
	long long ms = r->type == REDIS_REPLY_STRING ?
	    strtoll(r->str, NULL, 10) : -1;

	freeReplyObject(r);
	free(key);
	return ms;
}

static void
add_int(json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

/* The schedule's figures, added to o (rosterctl schedule, stats). */
json_object *
ctl_schedule_stats(json_object *o, const struct conf *c,
    unsigned long long now)
{
	char a[32], b[32];
	char *key = ctl_key(KEY_SCHEDULE, NULL);
	redisReply *r;

	snprintf(a, sizeof(a), "%llu", now);
	add_int(o, "interval_s", (long long)c->schedule_interval_s);
	add_int(o, "jitter_pct", c->schedule_jitter_pct);
	r = ctl_cmd("ZCARD %s", key);
	add_int(o, "scheduled", r->integer);
	freeReplyObject(r);
	add_int(o, "due_now", zcount(KEY_SCHEDULE, "-inf", a));
	snprintf(a, sizeof(a), "(%llu", now);
	snprintf(b, sizeof(b), "%llu", now + HOUR_MS);
	add_int(o, "due_next_hour", zcount(KEY_SCHEDULE, a, b));
	snprintf(a, sizeof(a), "(%llu", now - conf_schedule_overdue_ms(c));
	add_int(o, "overdue", zcount(KEY_SCHEDULE, "-inf", a));
	add_int(o, "left", zcount(KEY_SCHEDULE_LEFT, "-inf", "+inf"));
	add_int(o, "awaiting_token", zcount(KEY_REAUTHORIZE, "-inf", "+inf"));
	r = ctl_cmd("ZRANGE %s 0 0 WITHSCORES", key);
	add_int(o, "next_due_ms", r->elements == 2 ?
	    strtoll(r->element[1]->str, NULL, 10) : 0);
	freeReplyObject(r);
	free(key);
	return o;
}

static int
schedule_summary(const struct conf *c)
{
	json_object *o = ctl_schedule_stats(ctl_object(), c,
	    ctl_redis_now_ms());

	if (ctl_json) {
		ctl_print_json(o);
		return CTL_OK;
	}
#define F(k)	((long long)json_object_get_int64(json_object_object_get(o, k)))
	if (c->schedule_interval_s == 0)
		printf("the schedule is off ([schedule] interval_s = 0)\n");
	else
		printf("every teacher synced at least every %lld s (jitter "
		    "%lld%%)\n", F("interval_s"), F("jitter_pct"));
	printf("scheduled:       %lld teachers\n", F("scheduled"));
	printf("due now:         %lld\n", F("due_now"));
	printf("due next hour:   %lld\n", F("due_next_hour"));
	printf("overdue:         %lld (due for more than %llu ms)\n",
	    F("overdue"), (unsigned long long)conf_schedule_overdue_ms(c));
	printf("left:            %lld (token gone, refused or not shared; "
	    "back with the app's next sync)\n", F("left"));
	printf("awaiting token:  %lld (refused: reauthorize)\n",
	    F("awaiting_token"));
	if (F("next_due_ms") > 0)
		ctl_print_ms("next due", (unsigned long long)F("next_due_ms"));
#undef F
	json_object_put(o);
	return CTL_OK;
}

static int
schedule_teacher(const char *teacher)
{
	long long due = zscore(KEY_SCHEDULE, teacher);
	long long left = zscore(KEY_SCHEDULE_LEFT, teacher);
	long long since = zscore(KEY_REAUTHORIZE, teacher);
	char *sk = ctl_key(KEY_STATE, teacher);
	redisReply *r;
	json_object *o = ctl_object();
	const char *why = NULL;
	int rv = due >= 0 || left >= 0 ? CTL_OK : CTL_FAIL;

	/* why points into r: r lives until the teacher is printed */
	r = ctl_cmd("HGET %s schedule_left", sk);
	if (r->type == REDIS_REPLY_STRING)
		why = r->str;
	json_object_object_add(o, "teacher", json_object_new_string(teacher));
	json_object_object_add(o, "state", json_object_new_string(due >= 0 ?
	    "scheduled" : left >= 0 ? "left" : "not scheduled"));
	add_int(o, "due_ms", due >= 0 ? due : 0);
	add_int(o, "left_ms", left >= 0 ? left : 0);
	json_object_object_add(o, "left_because", json_object_new_string(
	    left >= 0 && why ? why : ""));
	add_int(o, "awaiting_token_since_ms", since >= 0 ? since : 0);
	free(sk);
	if (ctl_json)
		ctl_print_json(o);
	else {
		printf("teacher %s: %s\n", teacher, json_object_get_string(
		    json_object_object_get(o, "state")));
		if (due >= 0)
			ctl_print_ms("due", (unsigned long long)due);
		if (left >= 0) {
			ctl_print_ms("left", (unsigned long long)left);
			printf("  %-22s %s\n", "because", why ? why : "?");
		}
		if (since >= 0)
			ctl_print_ms("awaiting token since",
			    (unsigned long long)since);
		json_object_put(o);
	}
	freeReplyObject(r);
	return rv;
}

int
ctl_schedule(int argc, char **argv)
{
	if (argc == 1)
		return schedule_summary(ctl_conf());
	if (argc == 2 && contract_id_valid(argv[1], TEACHER_ID_MAX))
		return schedule_teacher(argv[1]);
	return ctl_usage(argv[0]);
}
