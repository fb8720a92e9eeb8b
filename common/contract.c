/* The checks of the Redis contract that rosterd and rosterctl share. */
#include <stdio.h>
#include <string.h>

#include "contract.h"

int
contract_id_valid(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n > 0 && n <= max && s[strspn(s, "0123456789abcdefghijklmnop"
	    "qrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")] == '\0';
}

/* Every error code, for rosterctl's -e CODE and its error message. */
const char *const contract_errors[] = {
	ERR_BAD_JOB, ERR_NO_TOKEN, ERR_REAUTHORIZE, ERR_NOT_SHARED,
	ERR_BAD_REQUEST, ERR_RATE_LIMITED, ERR_UNAVAILABLE, ERR_BAD_RESPONSE,
	ERR_TOO_LARGE, ERR_TOKEN_MISMATCH, ERR_SHRINK_GUARD, ERR_REDIS,
	ERR_TLS, ERR_LOCK_LOST, NULL
};

int
contract_error_known(const char *code)
{
	size_t i;

	for (i = 0; contract_errors[i] != NULL; i++)
		if (strcmp(contract_errors[i], code) == 0)
			return 1;
	return 0;
}

/* n lower-case hex digits at s, not all zero when nonzero is set. */
static int
hex_field(const char *s, size_t n, int nonzero)
{
	size_t i;
	int zero = 1;

	for (i = 0; i < n; i++) {
		if (strchr("0123456789abcdef", s[i]) == NULL || s[i] == '\0')
			return 0;
		if (s[i] != '0')
			zero = 0;
	}
	return !(nonzero && zero);
}

/*
 * Version 00 only, as the spec has a receiver of version 00 do; version
 * ff is invalid, and a later version's longer form is not parsed (the
 * spec lets a receiver try; rosterd keeps to what it can check).
 */
int
contract_traceparent(const char *s, char *trace_id)
{
	if (strlen(s) != TRACEPARENT_LEN || strncmp(s, "00-", 3) != 0 ||
	    !hex_field(s + 3, TRACE_ID_LEN, 1) || s[35] != '-' ||
	    !hex_field(s + 36, 16, 1) || s[52] != '-' ||
	    !hex_field(s + 53, 2, 0))
		return 0;
	snprintf(trace_id, TRACE_ID_LEN + 1, "%.*s", TRACE_ID_LEN, s + 3);
	return 1;
}
