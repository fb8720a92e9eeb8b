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
 * Instances: every rosterd writes a heartbeat (a JSON object, field = its
 * consumer name) into PREFIX "instances" every CONTRACT_HEARTBEAT_MS; one
 * not heard from for CONTRACT_LIVE_MS is gone.  While the key PREFIX
 * "paused" exists no instance starts new jobs.
 */
#define KEY_INSTANCES		"instances"
#define KEY_PAUSED		"paused"
#define CONTRACT_HEARTBEAT_MS	5000
#define CONTRACT_LIVE_MS	15000

/* A Clever-style id: 1..max letters, digits, '-' or '_'. */
int	contract_id_valid(const char *, size_t max);

#endif
