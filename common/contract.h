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

/*
 * A job's W3C traceparent (Trace Context, version 00): "00-" 32 lower-case
 * hex digits of trace-id (not all zero) "-" 16 of parent-id (not all zero)
 * "-" 2 of flags.  Valid: 1, and trace_id (TRACE_ID_LEN + 1 bytes) gets
 * the trace-id; else 0.
 */
#define TRACEPARENT_LEN		55
#define TRACE_ID_LEN		32
int	contract_traceparent(const char *, char *trace_id);

#endif
