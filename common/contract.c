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
