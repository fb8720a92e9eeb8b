/*
 * The Redis contract's fixed parts that rosterd and rosterctl share: its
 * version, the consumer group, the limits on what a job may carry and the
 * one check of an id.  Key names: keys.h.
 */
#ifndef ROSTERD_CONTRACT_H
#define ROSTERD_CONTRACT_H

#include <stddef.h>

/* Version of the Redis contract documented in doc/contract.md. */
#define CONTRACT_VERSION	"1"
#define CONSUMER_GROUP		"rosterd"

/* Limits on what a job may carry. */
#define JOB_ID_MAX		64	/* stream entry id */
#define TEACHER_ID_MAX		64
#define JOB_REF_MAX		256
#define JOB_FIELD_MAX		1024
#define JOB_FIELDS_MAX		32

/* A Clever-style id: 1..max letters, digits, '-' or '_'. */
int	contract_id_valid(const char *, size_t max);

#endif
