/*
 * The Redis contract's fixed parts that rosterd and rosterctl share: its
 * version, the consumer group, the error codes, the limits on what a job may
 * carry and the one check of an id.  Key names: keys.h.
 */
#ifndef ROSTERD_CONTRACT_H
#define ROSTERD_CONTRACT_H

#include <stddef.h>

/*
 * Version of the Redis contract documented in doc/contract.md (the Lua
 * scripts write it into diff entries: CONTRACT_VERSION in
 * daemon/lua/include/common.lua, which the contract tests hold to this).
 * Keys laid out by version CONTRACT_UPGRADES_FROM are upgraded in place at
 * start-up (doc/contract.md, "Changes in version 2"); any other version
 * is refused.
 */
#define CONTRACT_VERSION	"2"
#define CONTRACT_UPGRADES_FROM	"1"
#define CONSUMER_GROUP		"rosterd"

/* Limits on what a job may carry. */
#define JOB_ID_MAX		64	/* stream entry id */
#define TEACHER_ID_MAX		64
#define JOB_REF_MAX		256
#define JOB_FIELD_MAX		1024
#define JOB_FIELDS_MAX		32

/*
 * Machine-readable error codes of the job status, the dead letters and the
 * events (doc/contract.md); contract_errors lists them all.
 */
#define ERR_BAD_JOB		"bad_job"
#define ERR_NO_TOKEN		"no_token"
#define ERR_REAUTHORIZE		"reauthorize"
#define ERR_NOT_SHARED		"not_shared"
#define ERR_BAD_REQUEST		"bad_request"
#define ERR_RATE_LIMITED	"rate_limited"
#define ERR_UNAVAILABLE		"clever_unavailable"
#define ERR_BAD_RESPONSE	"bad_response"
#define ERR_TOO_LARGE		"response_too_large"
#define ERR_TOKEN_MISMATCH	"token_mismatch"
#define ERR_SHRINK_GUARD	"shrink_guard"
#define ERR_REDIS		"redis_unavailable"
#define ERR_TLS			"tls_failed"
#define ERR_LOCK_LOST		"lock_lost"
extern const char *const contract_errors[];
int	contract_error_known(const char *);

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
