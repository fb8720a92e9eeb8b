/*
 * The Redis contract's key names: the one place they are spelled, for
 * rosterd and rosterctl alike.  Every key starts with [redis] prefix;
 * doc/contract.md says what each holds and who writes it, and
 * tests/unit/test_keys.c holds the names to it.
 */
#ifndef ROSTERD_KEYS_H
#define ROSTERD_KEYS_H

enum key {
	/* one each: PREFIX NAME */
	KEY_JOBS,		/* the request stream (group CONSUMER_GROUP) */
	KEY_DIFFS,		/* roster diffs ([diffs] partitions = 1) */
	KEY_DIFFS_PARTITIONS,	/* the number of diff partitions in use */
	KEY_DEAD,		/* dead letters */
	KEY_EVENTS,		/* the pub/sub channel of status changes */
	KEY_ACCOUNTS,		/* lower-cased email -> the app's account */
	KEY_CONTRACT,		/* the contract version */
	KEY_PAUSED,		/* while it exists no instance starts a job */
	KEY_DIFFS_LOST,		/* consumer group (GROUP:P per partition) ->
				   what it lost, JSON */
	KEY_TRIM_LOCK,		/* one trim per interval for the deployment */
	/* the freshness schedule: sorted sets of teachers, scored in ms */
	KEY_SCHEDULE,		/* when each is next due */
	KEY_SCHEDULE_LEFT,	/* when each left the schedule */
	KEY_REAUTHORIZE,	/* the first refusal of each one's token */
	KEY_SCHEDULE_ENROLLED,	/* how far enrolling earlier teachers has got */

	/* one per id: PREFIX NAME:ID */
	KEY_DIFFS_PART,		/* ID: a diff partition, 0..N-1 (N > 1) */
	KEY_JOB,		/* a job's status; ID: its stream entry id */
	KEY_TOKEN,		/* ID: a teacher */
	KEY_DISTRICT_TOKEN,	/* ID: a district */
	KEY_INSTANCE,		/* ID: an instance's consumer; its heartbeat,
				   every [daemon] heartbeat_ms, expires when
				   it stops beating */
	KEY_QUIET,		/* ID: an instance's consumer; while it exists
				   that instance starts no new job */
	KEY_CONTROL,		/* ID: an instance's consumer; the operator's
				   commands to it (a list it drains) */
	KEY_RATELIMIT,		/* ID: the window's owner; one hash tag {rl},
				   as a permit draws from a token's and the
				   app's windows at once */
	KEY_ME,			/* ID: a token's owner (district:ID); its
				   kept /me answer, never the token */

	/* one per teacher: PREFIX NAME:{TEACHER}, the hash tag keeping a
	   teacher's keys together */
	KEY_SNAPSHOT,
	KEY_LOCK,
	KEY_STATE,
	KEY_SELECTION,
	KEY_SECTIONS,

	/* one per district: PREFIX NAME:{DISTRICT} (Secure Sync) */
	KEY_DISTRICTS,		/* not per district: the SET of them */
	KEY_DISTRICT,		/* the app's choices: follow, events */
	KEY_DISTRICT_TEACHERS,	/* the teachers followed (follow = set) */
	KEY_EVENT_CURSOR,	/* the events poller's cursor, a hash */
	KEY_EVENT_LOCK,		/* one events poller for the deployment */

	KEY_COUNT		/* not a key: how many there are */
};

/*
 * The name of a key (malloc'ed).  id is NULL for the keys of which there
 * is one, else the id (or a SCAN pattern such as "*"); a key given
 * the wrong kind of id is a bug, and fatal.
 */
char	*keys_name(const char *prefix, enum key, const char *id);

/*
 * The diff stream of partition p of n (malloc'ed): PREFIX diffs when n is
 * 1, else PREFIX diffs:P.
 */
char	*keys_diffs(const char *prefix, unsigned n, unsigned p);

#endif
