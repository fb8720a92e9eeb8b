/*
 * The Redis contract's key names, exactly as the README's "The Redis
 * contract" writes them (ids in capitals): apps and operators spell them
 * too, so a change here is a change of the contract.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>

#include <cmocka.h>

#include "keys.h"

static const struct {
	enum key	 key;
	const char	*id;
	const char	*name;
} contract[] = {
	{ KEY_JOBS, NULL, "rosterd:jobs" },
	{ KEY_DIFFS, NULL, "rosterd:diffs" },
	{ KEY_DIFFS_PARTITIONS, NULL, "rosterd:diffs:partitions" },
	{ KEY_DIFFS_PART, "P", "rosterd:diffs:P" },
	{ KEY_DEAD, NULL, "rosterd:dead" },
	{ KEY_EVENTS, NULL, "rosterd:events" },
	{ KEY_ACCOUNTS, NULL, "rosterd:accounts" },
	{ KEY_CONTRACT, NULL, "rosterd:contract" },
	{ KEY_PAUSED, NULL, "rosterd:paused" },
	{ KEY_DIFFS_LOST, NULL, "rosterd:diffs_lost" },
	{ KEY_TRIM_LOCK, NULL, "rosterd:trim_lock" },
	{ KEY_SCHEDULE, NULL, "rosterd:schedule" },
	{ KEY_SCHEDULE_LEFT, NULL, "rosterd:schedule:left" },
	{ KEY_REAUTHORIZE, NULL, "rosterd:reauthorize" },
	{ KEY_SCHEDULE_ENROLLED, NULL, "rosterd:schedule:enrolled" },
	{ KEY_JOB, "JOB", "rosterd:job:JOB" },
	{ KEY_TOKEN, "TEACHER", "rosterd:token:TEACHER" },
	{ KEY_DISTRICT_TOKEN, "DISTRICT", "rosterd:district_token:DISTRICT" },
	{ KEY_INSTANCE, "CONSUMER", "rosterd:instance:CONSUMER" },
	{ KEY_QUIET, "CONSUMER", "rosterd:quiet:CONSUMER" },
	{ KEY_CONTROL, "CONSUMER", "rosterd:control:CONSUMER" },
	{ KEY_RATELIMIT, "OWNER", "rosterd:ratelimit:{rl}:OWNER" },
	{ KEY_RATELIMIT, "app", "rosterd:ratelimit:{rl}:app" },
	{ KEY_ME, "OWNER", "rosterd:me:OWNER" },
	{ KEY_SNAPSHOT, "TEACHER", "rosterd:snapshot:{TEACHER}" },
	{ KEY_LOCK, "TEACHER", "rosterd:lock:{TEACHER}" },
	{ KEY_STATE, "TEACHER", "rosterd:state:{TEACHER}" },
	{ KEY_SELECTION, "TEACHER", "rosterd:selection:{TEACHER}" },
	{ KEY_SECTIONS, "TEACHER", "rosterd:sections:{TEACHER}" },
	{ KEY_DISTRICTS, NULL, "rosterd:districts" },
	{ KEY_DISTRICT, "D", "rosterd:district:{D}" },
	{ KEY_DISTRICT_TEACHERS, "D", "rosterd:district_teachers:{D}" },
	{ KEY_EVENT_CURSOR, "D", "rosterd:event_cursor:{D}" },
	{ KEY_EVENT_LOCK, "D", "rosterd:event_lock:{D}" },
};
#define NCONTRACT	(sizeof(contract) / sizeof(contract[0]))

static void
test_contract_names(void **state)
{
	size_t i;
	char *k;

	for (i = 0; i < NCONTRACT; i++) {
		k = keys_name("rosterd:", contract[i].key, contract[i].id);
		assert_string_equal(k, contract[i].name);
		free(k);
	}
}

/* Every key is in the table above: none is left untested. */
static void
test_every_key_listed(void **state)
{
	int seen[KEY_COUNT] = { 0 };
	size_t i;

	for (i = 0; i < NCONTRACT; i++)
		seen[contract[i].key] = 1;
	for (i = 0; i < KEY_COUNT; i++)
		assert_true(seen[i]);
}

/* Another prefix ([redis] prefix), and the pattern SCAN uses. */
static void
test_prefix_and_pattern(void **state)
{
	char *k;

	k = keys_name("app1:", KEY_JOB, "1700000000000-0");
	assert_string_equal(k, "app1:job:1700000000000-0");
	free(k);
	k = keys_name("app1:", KEY_STATE, "58da8a43cc70ab00017a1a87");
	assert_string_equal(k, "app1:state:{58da8a43cc70ab00017a1a87}");
	free(k);
	k = keys_name("app1:", KEY_INSTANCE, "*");
	assert_string_equal(k, "app1:instance:*");
	free(k);
	k = keys_name("app1:", KEY_PAUSED, NULL);
	assert_string_equal(k, "app1:paused");
	free(k);
}

/* One stream as in version 1, or one per partition. */
static void
test_diff_streams(void **state)
{
	char *k;

	k = keys_diffs("rosterd:", 1, 0);
	assert_string_equal(k, "rosterd:diffs");
	free(k);
	k = keys_diffs("rosterd:", 4, 3);
	assert_string_equal(k, "rosterd:diffs:3");
	free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contract_names),
		cmocka_unit_test(test_every_key_listed),
		cmocka_unit_test(test_prefix_and_pattern),
		cmocka_unit_test(test_diff_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
