/* Configuration: the shipped file, defaults, and every kind of error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"

static char tmpl[] = "/tmp/rosterd-conf-XXXXXX";

/* Write text to a fresh temp file; returns its path (static buffer). */
static const char *
write_conf(const char *text)
{
	static char path[64];
	FILE *fp;
	int fd;

	strcpy(path, tmpl);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* Load text and expect failure with exactly want (path substituted for %s). */
static void
expect_error(const char *text, const char *want_fmt)
{
	struct conf c;
	char err[CONF_ERR_MAX], want[CONF_ERR_MAX];
	const char *path = write_conf(text);

	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), want_fmt, path);
	assert_string_equal(err, want);
	unlink(path);
}

static void
test_shipped_file(void **state)
{
	struct conf c;
	char err[CONF_ERR_MAX];

	assert_int_equal(conf_load(&c, "../../etc/rosterd.conf", err,
	    sizeof(err)), 0);
	assert_string_equal(c.redis_host, "127.0.0.1");
	assert_int_equal(c.redis_port, 6379);
	assert_string_equal(c.redis_prefix, "rosterd:");
	assert_string_equal(c.clever_api_base, "https://api.clever.com");
	assert_int_equal(c.clever_rate_limit, 1200);
	assert_int_equal(c.sync_shrink_guard, 1);
	assert_int_equal(conf_log_level(&c), LOG_LVL_INFO);
	conf_free(&c);
}

/* The shipped file documents every default: loading it equals defaults. */
static void
test_shipped_equals_defaults(void **state)
{
	struct conf a, b;
	char err[CONF_ERR_MAX];

	conf_defaults(&a);
	assert_int_equal(conf_load(&b, "../../etc/rosterd.conf", err,
	    sizeof(err)), 0);
	assert_int_equal(a.sync_concurrency, b.sync_concurrency);
	assert_int_equal(a.clever_max_body, b.clever_max_body);
	assert_string_equal(a.clever_api_version, b.clever_api_version);
	assert_string_equal(a.sync_fields, b.sync_fields);
	assert_int_equal(a.sync_status_ttl_s, b.sync_status_ttl_s);
	assert_int_equal(a.daemon_stop_timeout_ms, b.daemon_stop_timeout_ms);
	conf_free(&a);
	conf_free(&b);
}

static void
test_values(void **state)
{
	struct conf c;
	char err[CONF_ERR_MAX];
	const char *path = write_conf(
	    "; comment\n[redis]\nport = 7000\nprefix = app1:\n"
	    "[sync]\nshrink_guard = off\nfields = district\n"
	    "[clever]\nmax_body_bytes = 1024\napi_version = v3.1\n"
	    "[log]\nlevel = debug\ntarget = stderr\n");

	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.redis_port, 7000);
	assert_string_equal(c.redis_prefix, "app1:");
	assert_int_equal(c.sync_shrink_guard, 0);
	assert_string_equal(c.sync_fields, "district");
	assert_int_equal(c.clever_max_body, 1024);
	assert_string_equal(c.clever_api_version, "v3.1");
	assert_int_equal(conf_log_level(&c), LOG_LVL_DEBUG);
	assert_int_equal(conf_log_target(&c), LOG_TARGET_STDERR);
	conf_free(&c);
	unlink(path);
}

static void
test_errors(void **state)
{
	expect_error("[sync]\nconcurency = 3\n",
	    "%s:2: unknown key \"concurency\" in section [sync]");
	expect_error("\n[syncs]\nconcurrency = 3\n",
	    "%s:3: unknown section [syncs] (key \"concurrency\")");
	expect_error("[sync]\nconcurrency = abc\n",
	    "%s:2: [sync] concurrency: expected an integer from 1 to 100000,"
	    " got \"abc\"");
	expect_error("[sync]\nconcurrency = 0\n",
	    "%s:2: [sync] concurrency: expected an integer from 1 to 100000,"
	    " got \"0\"");
	expect_error("[redis]\nport = 65536\n",
	    "%s:2: [redis] port: expected an integer from 1 to 65535,"
	    " got \"65536\"");
	expect_error("[redis]\nport = -1\n",
	    "%s:2: [redis] port: expected an integer from 1 to 65535,"
	    " got \"-1\"");
	expect_error("[redis]\nport = 12x\n",
	    "%s:2: [redis] port: expected an integer from 1 to 65535,"
	    " got \"12x\"");
	expect_error("[sync]\nshrink_guard = maybe\n",
	    "%s:2: [sync] shrink_guard: expected yes or no, got \"maybe\"");
	expect_error("[log]\nlevel = loud\n",
	    "%s:2: [log] level: expected one of error|warning|info|debug,"
	    " got \"loud\"");
	expect_error("[clever]\napi_version = v2.0\n",
	    "%s:2: [clever] api_version: expected one of v3.0|v3.1,"
	    " got \"v2.0\"");
	expect_error("[clever]\napi_base = ftp://x\n",
	    "%s: [clever] api_base: expected an http:// or https:// URL, "
	    "got \"ftp://x\"");
	expect_error("[clever]\nretry_base_ms = 5000\nretry_max_ms = 10\n",
	    "%s: [clever] retry_base_ms (5000) is larger than retry_max_ms "
	    "(10)");
	expect_error("[redis]\nprefix = {x}\n",
	    "%s: [redis] prefix: expected a non-empty prefix without spaces "
	    "or braces, got \"{x}\"");
	expect_error("[redis]\nthis line is not ini\n",
	    "%s:2: syntax error (expected \"[section]\" or \"key = value\")");
	expect_error("[redis]\nport 6379\n",
	    "%s:2: syntax error (expected \"[section]\" or \"key = value\")");
}

/* A bad password value is reported without echoing the secret. */
static void
test_password_not_echoed(void **state)
{
	struct conf c;
	char err[CONF_ERR_MAX];
	const char *path = write_conf("[redis]\npassword = s3cret\nport = x\n");

	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_null(strstr(err, "s3cret"));
	unlink(path);
}

static void
test_missing_file(void **state)
{
	struct conf c;
	char err[CONF_ERR_MAX];

	assert_int_equal(conf_load(&c, "/nonexistent/rosterd.conf", err,
	    sizeof(err)), -1);
	assert_string_equal(err,
	    "/nonexistent/rosterd.conf: No such file or directory");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_file),
		cmocka_unit_test(test_shipped_equals_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_password_not_echoed),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
