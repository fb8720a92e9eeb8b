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

/* Loads text; 0 or -1 (any error). */
static int
loads(const char *text)
{
	struct conf c;
	char err[CONF_ERR_MAX];
	const char *path = write_conf(text);
	int rc = conf_load(&c, path, err, sizeof(err));

	unlink(path);
	if (rc == 0)
		conf_free(&c);
	return rc;
}

/* api_base must be a URL that paths can be appended to. */
static void
test_api_base_is_a_url(void **state)
{
	static const char *const bad[] = {
		"ftp://x", "api.clever.com", "https://", "https:///v3",
		"https://api.clever.com:0", "https://api.clever.com:99999",
		"https://api.clever.com:x", "https://api clever.com",
		"https://user:pw@api.clever.com", "https://api.clever.com/?a=1",
		"https://api.clever.com/#x", "https://[::1", "https://a_b.com",
	};
	static const char *const good[] = {
		"https://api.clever.com", "https://api.clever.com/",
		"https://api.clever.com:8443/prefix", "https://10.0.0.1",
		"https://[2001:db8::1]:443", "http://127.0.0.1:8080",
		"http://localhost", "http://[::1]:9",
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[clever]\napi_base = %s\n", bad[i]);
		if (loads(text) != -1)
			fail_msg("accepted api_base %s", bad[i]);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "[clever]\napi_base = %s\n", good[i]);
		if (loads(text) != 0)
			fail_msg("refused api_base %s", good[i]);
	}
	expect_error("[clever]\napi_base = ftp://x\n",
	    "%s: [clever] api_base: expected a URL such as "
	    "https://api.clever.com, got \"ftp://x\"");
}

/* Bearer tokens never go in clear text unless the file says it is a test. */
static void
test_http_only_for_loopback_or_when_allowed(void **state)
{
	expect_error("[clever]\napi_base = http://api.clever.com\n",
	    "%s: [clever] api_base: http:// to api.clever.com would send "
	    "bearer tokens in clear text; use https:// (http:// is accepted "
	    "for loopback addresses, or with [clever] allow_insecure_http = "
	    "yes, for tests only)");
	assert_int_equal(loads("[clever]\napi_base = http://10.1.2.3:80\n"),
	    -1);
	assert_int_equal(loads("[clever]\napi_base = http://api.clever.com\n"
	    "allow_insecure_http = yes\n"), 0);
	assert_int_equal(loads("[clever]\napi_base = http://127.0.0.2:1\n"), 0);
}

/* A CA file that cannot be read fails the check, naming it. */
static void
test_ca_file_must_be_readable(void **state)
{
	struct conf c;
	char err[CONF_ERR_MAX], want[CONF_ERR_MAX];
	const char *path = write_conf("[clever]\nca_file = /nonexistent/ca.pem\n");

	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(conf_check_files(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: [clever] ca_file: cannot read "
	    "\"/nonexistent/ca.pem\": No such file or directory", path);
	assert_string_equal(err, want);
	free(c.clever_ca_file);
	c.clever_ca_file = strdup("/tmp");
	assert_int_equal(conf_check_files(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	free(c.clever_ca_file);
	c.clever_ca_file = strdup(path);	/* any readable file */
	assert_int_equal(conf_check_files(&c, path, err, sizeof(err)), 0);
	conf_free(&c);
	unlink(path);
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
		cmocka_unit_test(test_api_base_is_a_url),
		cmocka_unit_test(test_http_only_for_loopback_or_when_allowed),
		cmocka_unit_test(test_ca_file_must_be_readable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
