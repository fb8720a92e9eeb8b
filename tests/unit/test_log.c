/* Logging: stderr line format with fields, levels, redaction, target. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char	*buf;
static size_t	 buflen;
static FILE	*mem;

static int
setup(void **state)
{
	mem = open_memstream(&buf, &buflen);
	log_init("test", LOG_LVL_INFO, LOG_TARGET_STDERR);
	log_setstream(mem);
	return 0;
}

static int
teardown(void **state)
{
	log_setstream(NULL);
	fclose(mem);
	free(buf);
	buf = NULL;
	return 0;
}

static const char *
output(void)
{
	fflush(mem);
	return buf;
}

static void
test_fields(void **state)
{
	logf_info(LF(.event = "sync_done", .job = "1-0", .teacher = "abc"),
	    "synced %d sections", 3);
	assert_non_null(strstr(output(), " test level=info event=sync_done "
	    "job=1-0 teacher=abc msg=\"synced 3 sections\"\n"));
}

/* Lines written while a job's work runs carry its fields, then no more. */
static void
test_context(void **state)
{
	log_setcontext("7-0", "t1", NULL);
	log_warnx("dropped %d", 2);
	logf_info(LF(.event = "x"), "with an event");
	logf_info(LF(.job = "8-0", .teacher = "t2"), "its own");
	log_setcontext(NULL, NULL, NULL);
	log_warnx("after");
	assert_non_null(strstr(output(), "level=warning job=7-0 teacher=t1 "
	    "msg=\"dropped 2\"\n"));
	assert_non_null(strstr(output(), "level=info event=x job=7-0 "
	    "teacher=t1 msg=\"with an event\"\n"));
	assert_non_null(strstr(output(), "level=info job=8-0 teacher=t2 "
	    "msg=\"its own\"\n"));
	assert_non_null(strstr(output(), "level=warning msg=after\n"));
}

/* A job's outcome: ref, error, result and counts; absent fields left out. */
static void
test_outcome_fields(void **state)
{
	logf_warn(LF(.event = "failed", .job = "2-0", .teacher = "t",
	    .ref = "user 42", .error = "no_token", .result = "failed"),
	    "no token");
	assert_non_null(strstr(output(), " event=failed job=2-0 teacher=t "
	    "ref=\"user 42\" error=no_token result=failed msg=\"no token\"\n"));
	logf_info(LF(.event = "synced", .result = "changed", .counts = 1,
	    .added = 3, .removed = 1), "ok");
	assert_non_null(strstr(output(), " event=synced result=changed "
	    "added=3 updated=0 removed=1 msg=ok\n"));
	assert_null(strstr(output(), "job=\"\""));
}

/* A job's story: attempt, Clever's answer, times, diff, instance, trace. */
static void
test_story_fields(void **state)
{
	logf_info(LF(.event = "received", .job = "3-0", .attempt = 2,
	    .waited = 1, .queue_wait_ms = 0, .consumer = "host-1",
	    .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"), "in");
	assert_non_null(strstr(output(), " event=received job=3-0 attempt=2 "
	    "queue_wait_ms=0 consumer=host-1 "
	    "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 msg=in\n"));
	logf_info(LF(.event = "response", .endpoint = "sections",
	    .http_status = 304, .requests = 4, .timed = 1, .duration_ms = 12,
	    .diff_id = "5-1"), "r");
	assert_non_null(strstr(output(), " event=response endpoint=sections "
	    "http_status=304 requests=4 duration_ms=12 diff_id=5-1 msg=r\n"));
	/* unset: left out, never empty or zero */
	logf_info(LF(.event = "bare", .diff_id = "", .trace_id = ""), "b");
	assert_non_null(strstr(output(), " event=bare msg=b\n"));
	/* the context's trace goes with its job */
	log_setcontext("9-0", "t9", "0af7651916cd43dd8448eb211c80319c");
	log_warnx("parsing");
	log_setcontext(NULL, NULL, NULL);
	assert_non_null(strstr(output(), "level=warning job=9-0 teacher=t9 "
	    "trace_id=0af7651916cd43dd8448eb211c80319c msg=parsing\n"));
}

static void
test_plain_and_quoting(void **state)
{
	log_warnx("bad=\"x\"");
	assert_non_null(strstr(output(),
	    "level=warning msg=\"bad=\\\"x\\\"\"\n"));
}

static void
test_levels(void **state)
{
	log_debug("hidden");
	assert_true(output() == NULL || strstr(output(), "hidden") == NULL);
	log_setlevel(LOG_LVL_DEBUG);
	log_debug("shown");
	assert_non_null(strstr(output(), "level=debug msg=shown"));
	assert_int_equal(log_level_parse("warning"), LOG_LVL_WARN);
	assert_int_equal((int)log_level_parse("nope"), -1);
}

static void
test_redact(void **state)
{
	char b[LOG_REDACT_LEN];

	assert_string_equal(log_redact("ilc_SECRET", b, sizeof(b)),
	    "[redacted, 10 bytes]");
}

/* A token formatted by mistake never reaches the output. */
static void
test_scrub(void **state)
{
	char m[256];

	log_warnx("request failed: Authorization: Bearer ilc_SECRET123");
	log_warnx("url https://x/?access_token=SECRET456&a=b token=SECRET789");
	assert_null(strstr(output(), "SECRET"));
	assert_non_null(strstr(output(), "Bearer [redacted]"));

	strcpy(m, "{\"token\":\"SECRETJSON\"}");
	log_scrub(m, sizeof(m));
	assert_string_equal(m, "{\"token\":\"[redacted]\"}");
}

static void
test_target(void **state)
{
	struct stat st;
	char env[64];

	unsetenv("JOURNAL_STREAM");
	assert_int_equal(log_resolve_target(LOG_TARGET_AUTO),
	    LOG_TARGET_STDERR);
	assert_int_equal(log_resolve_target(LOG_TARGET_JOURNAL),
	    LOG_TARGET_JOURNAL);
	/* JOURNAL_STREAM naming our stderr selects journald */
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu",
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	assert_int_equal(log_resolve_target(LOG_TARGET_AUTO),
	    LOG_TARGET_JOURNAL);
	/* inherited but stale (stderr redirected): stay on stderr */
	setenv("JOURNAL_STREAM", "1:1", 1);
	assert_int_equal(log_resolve_target(LOG_TARGET_AUTO),
	    LOG_TARGET_STDERR);
	assert_int_equal(log_resolve_target(LOG_TARGET_STDERR),
	    LOG_TARGET_STDERR);
	unsetenv("JOURNAL_STREAM");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outcome_fields, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_story_fields, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_plain_and_quoting, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
		cmocka_unit_test(test_redact),
		cmocka_unit_test_setup_teardown(test_scrub, setup, teardown),
		cmocka_unit_test(test_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
