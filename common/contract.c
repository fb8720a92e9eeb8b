/* The checks of the Redis contract that rosterd and rosterctl share. */
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
