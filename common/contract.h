/*
 * The Redis contract's fixed parts that rosterd and rosterctl share: its
 * version, the consumer group, the limits on what a job may carry and the
 * one check of an id.  Key layout: README, "The Redis contract".
 */
#ifndef ROSTERD_CONTRACT_H
#define ROSTERD_CONTRACT_H

#include <stddef.h>

/* Version of the Redis contract documented in the README. */
#define CONTRACT_VERSION	"1"
#define CONSUMER_GROUP		"rosterd"

/* Limits on what a job may carry. */
#define JOB_ID_MAX		64	/* stream entry id */
#define TEACHER_ID_MAX		64
#define JOB_REF_MAX		256
#define JOB_FIELD_MAX		1024
#define JOB_FIELDS_MAX		32

/*
 * Instances: every rosterd writes its heartbeat, a hash PREFIX "instance:"
 * CONSUMER, every [daemon] heartbeat_ms; it expires when the instance stops
 * beating.  While the key PREFIX "paused" exists no instance starts new
 * jobs.
 */
#define KEY_INSTANCE		"instance:"
#define KEY_PAUSED		"paused"

/*
 * The freshness schedule: sorted sets of teachers, scored by the time (ms,
 * Redis clock) each is due, left the schedule, or first failed
 * reauthorize (awaiting a new token).
 */
#define KEY_SCHEDULE		"schedule"
#define KEY_SCHEDULE_LEFT	"schedule:left"
#define KEY_REAUTHORIZE		"reauthorize"
/* How far the enrolment of teachers synced before the schedule is. */
#define KEY_SCHEDULE_ENROLLED	"schedule:enrolled"

/* A Clever-style id: 1..max letters, digits, '-' or '_'. */
int	contract_id_valid(const char *, size_t max);

#endif
