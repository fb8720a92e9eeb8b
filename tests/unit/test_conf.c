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

/* Load text, which must be valid, into c (conf_free it after). */
static void
load_ok(struct conf *c, const char *text)
{
	char err[CONF_ERR_MAX];
	const char *path = write_conf(text);

	if (conf_load(c, path, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	unlink(path);
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
	assert_int_equal(a.redis_tls, b.redis_tls);
	assert_string_equal(a.redis_tls_ca_file, b.redis_tls_ca_file);
	assert_string_equal(a.redis_sentinels, b.redis_sentinels);
	assert_int_equal(a.redis_wait_replicas, b.redis_wait_replicas);
	assert_int_equal(a.redis_wait_timeout_ms, b.redis_wait_timeout_ms);
	conf_free(&a);
	conf_free(&b);
}

/* Plaintext, no client certificate, no Sentinel, no WAIT by default. */
static void
test_redis_production_defaults(void **state)
{
	struct conf c;

	conf_defaults(&c);
	assert_int_equal(c.redis_tls, 0);
	assert_string_equal(c.redis_tls_ca_file, "");
	assert_string_equal(c.redis_tls_server_name, "");
	assert_string_equal(c.redis_tls_cert_file, "");
	assert_string_equal(c.redis_tls_key_file, "");
	assert_string_equal(c.redis_sentinels, "");
	assert_string_equal(c.redis_master_name, "");
	assert_string_equal(c.redis_sentinel_username, "");
	assert_string_equal(c.redis_sentinel_password, "");
	assert_int_equal(c.redis_wait_replicas, 0);
	assert_int_equal(c.redis_wait_timeout_ms, 1000);
	conf_free(&c);
}

static void
test_redis_tls_values(void **state)
{
	struct conf c;

	load_ok(&c, "[redis]\nhost = 10.0.0.5\ntls = yes\n"
	    "tls_ca_file = /etc/ca.pem\ntls_server_name = redis.example.org\n"
	    "tls_cert_file = /etc/c.pem\ntls_key_file = /etc/k.pem\n"
	    "wait_replicas = 2\nwait_timeout_ms = 250\n");
	assert_int_equal(c.redis_tls, 1);
	assert_string_equal(c.redis_tls_ca_file, "/etc/ca.pem");
	assert_string_equal(c.redis_tls_server_name, "redis.example.org");
	assert_string_equal(c.redis_tls_cert_file, "/etc/c.pem");
	assert_string_equal(c.redis_tls_key_file, "/etc/k.pem");
	assert_int_equal(c.redis_wait_replicas, 2);
	assert_int_equal(c.redis_wait_timeout_ms, 250);
	conf_free(&c);
	/* TLS alone: the system's trust store and the host name */
	assert_int_equal(loads("[redis]\nhost = redis.example.org\n"
	    "tls = yes\n"), 0);
}

/* Nothing that looks like TLS runs in clear text, and TLS is for TCP. */
static void
test_redis_tls_errors(void **state)
{
	static const char *const keys[] = {
		"tls_ca_file", "tls_server_name", "tls_cert_file",
		"tls_key_file",
	};
	char text[256], want[CONF_ERR_MAX];
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(text, sizeof(text), "[redis]\n%s = x\n", keys[i]);
		snprintf(want, sizeof(want), "%%s: [redis] %s is set but tls "
		    "= no: Redis would be reached in clear text (set tls = yes,"
		    " or remove %s)", keys[i], keys[i]);
		expect_error(text, want);
	}
	expect_error("[redis]\ntls = no\ntls_ca_file = /etc/ca.pem\n",
	    "%s: [redis] tls_ca_file is set but tls = no: Redis would be "
	    "reached in clear text (set tls = yes, or remove tls_ca_file)");
	expect_error("[redis]\ntls = yes\ntls_cert_file = /etc/c.pem\n",
	    "%s: [redis] tls_cert_file is set without tls_key_file: a client "
	    "certificate needs both");
	expect_error("[redis]\ntls = yes\ntls_key_file = /etc/k.pem\n",
	    "%s: [redis] tls_key_file is set without tls_cert_file: a client "
	    "certificate needs both");
	expect_error("[redis]\ntls = yes\nunix_socket = /run/redis.sock\n",
	    "%s: [redis] tls = yes with unix_socket: TLS is for TCP "
	    "connections (remove unix_socket, or set tls = no)");
	expect_error("[redis]\ntls = yes\ntls_server_name = a b\n",
	    "%s: [redis] tls_server_name: expected a host name, got \"a b\"");
	expect_error("[redis]\ntls = maybe\n",
	    "%s:2: [redis] tls: expected yes or no, got \"maybe\"");
	expect_error("[redis]\nwait_replicas = 17\n",
	    "%s:2: [redis] wait_replicas: expected an integer from 0 to 16, "
	    "got \"17\"");
	expect_error("[redis]\nwait_timeout_ms = 0\n",
	    "%s:2: [redis] wait_timeout_ms: expected an integer from 1 to "
	    "60000, got \"0\"");
	expect_error("[redis]\nwait_timeout_ms = 60001\n",
	    "%s:2: [redis] wait_timeout_ms: expected an integer from 1 to "
	    "60000, got \"60001\"");
}

/* The TLS files must be readable (by the user rosterd runs as). */
static void
test_redis_tls_files_must_be_readable(void **state)
{
	static const char *const keys[] = {
		"tls_ca_file", "tls_cert_file", "tls_key_file",
	};
	struct conf c;
	char err[CONF_ERR_MAX], want[CONF_ERR_MAX], text[512];
	const char *path = write_conf("");
	char readable[64];
	size_t i, j;

	strcpy(readable, path);		/* any readable file */
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *files[3];

		for (j = 0; j < 3; j++)
			files[j] = j == i ? "/nonexistent/x.pem" : readable;
		snprintf(text, sizeof(text), "[redis]\ntls = yes\n"
		    "tls_ca_file = %s\ntls_cert_file = %s\ntls_key_file = %s\n",
		    files[0], files[1], files[2]);
		path = write_conf(text);
		assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
		assert_int_equal(conf_check_files(&c, path, err, sizeof(err)),
		    -1);
		snprintf(want, sizeof(want), "%s: [redis] %s: cannot read "
		    "\"/nonexistent/x.pem\": No such file or directory", path,
		    keys[i]);
		assert_string_equal(err, want);
		conf_free(&c);
		unlink(path);
	}
	snprintf(text, sizeof(text), "[redis]\ntls = yes\ntls_ca_file = /tmp\n");
	path = write_conf(text);
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(conf_check_files(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "[redis] tls_ca_file: cannot read \"/tmp\": "
	    "not a regular file"));
	conf_free(&c);
	unlink(path);
	snprintf(text, sizeof(text), "[redis]\ntls = yes\ntls_ca_file = %s\n"
	    "tls_cert_file = %s\ntls_key_file = %s\n", readable, readable,
	    readable);
	path = write_conf(text);
	assert_int_equal(conf_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(conf_check_files(&c, path, err, sizeof(err)), 0);
	conf_free(&c);
	unlink(path);
	unlink(readable);
}

static void
test_sentinels(void **state)
{
	static const char *const bad[] = {
		"s1", "s1:", ":26379", "s1:0", "s1:65536", "s1:x", "s1:1,",
		",s1:1", "s1:1,,s2:2", "s 1:26379", "[::1:26379",
	};
	struct conf c;
	struct conf_addr *a;
	char text[256], why[64];
	size_t i;

	load_ok(&c, "[redis]\nsentinels = s1.example:26379, "
	    "10.0.0.2:26380 ,[::1]:26381\nmaster_name = mymaster\n"
	    "sentinel_username = watcher\nsentinel_password = pw\n");
	assert_string_equal(c.redis_master_name, "mymaster");
	assert_string_equal(c.redis_sentinel_username, "watcher");
	assert_string_equal(c.redis_sentinel_password, "pw");
	assert_int_equal(conf_hostports(c.redis_sentinels, &a, NULL, 0), 3);
	assert_string_equal(a[0].host, "s1.example");
	assert_int_equal(a[0].port, 26379);
	assert_string_equal(a[1].host, "10.0.0.2");
	assert_int_equal(a[1].port, 26380);
	assert_string_equal(a[2].host, "::1");
	assert_int_equal(a[2].port, 26381);
	conf_addrs_free(a, 3);
	conf_free(&c);
	a = NULL;
	assert_int_equal(conf_hostports("", &a, NULL, 0), 0);
	assert_null(a);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[redis]\nsentinels = %s\n"
		    "master_name = m\n", bad[i]);
		if (loads(text) != -1)
			fail_msg("accepted sentinels %s", bad[i]);
		assert_int_equal(conf_hostports(bad[i], NULL, why,
		    sizeof(why)), -1);
	}
	assert_int_equal(conf_hostports("a:1, b:x ,c:3", NULL, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "b:x");
	expect_error("[redis]\nsentinels = a:1,b\nmaster_name = m\n",
	    "%s: [redis] sentinels: \"b\" is not HOST:PORT (expected a "
	    "comma-separated list such as sentinel-1:26379,sentinel-2:26379)");
	expect_error("[redis]\nsentinels = a:26379\n",
	    "%s: [redis] sentinels is set without master_name: the name the "
	    "Sentinels know the primary by");
	expect_error("[redis]\nmaster_name = mymaster\n",
	    "%s: [redis] master_name is set without sentinels");
	expect_error("[redis]\nsentinel_username = w\n",
	    "%s: [redis] sentinel_username is set without sentinels");
	expect_error("[redis]\nsentinels = a:1\nmaster_name = m\n"
	    "unix_socket = /run/redis.sock\n",
	    "%s: [redis] sentinels and unix_socket are both set: the "
	    "Sentinels name the primary's address");
	expect_error("[redis]\nsentinels = a:1\nmaster_name = m\n"
	    "sentinel_username = w\n",
	    "%s: [redis] sentinel_username \"w\" needs a sentinel_password");
}

/* Errors about the Sentinel password never show it. */
static void
test_sentinel_password_not_echoed(void **state)
{
	struct conf c;
	char err[CONF_ERR_MAX];
	const char *path = write_conf("[redis]\nsentinel_password = s3cret\n");

	assert_int_equal(conf_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sentinel_password is set without "
	    "sentinels"));
	assert_null(strstr(err, "s3cret"));
	unlink(path);
}

static void
test_values(void **state)
{
	struct conf c;

	load_ok(&c, "; comment\n[redis]\nport = 7000\nprefix = app1:\n"
	    "[sync]\nshrink_guard = off\nfields = district\n"
	    "[clever]\nmax_body_bytes = 1024\napi_version = v3.1\n"
	    "[log]\nlevel = debug\ntarget = stderr\n");
	assert_int_equal(c.redis_port, 7000);
	assert_string_equal(c.redis_prefix, "app1:");
	assert_int_equal(c.sync_shrink_guard, 0);
	assert_string_equal(c.sync_fields, "district");
	assert_int_equal(c.clever_max_body, 1024);
	assert_string_equal(c.clever_api_version, "v3.1");
	assert_int_equal(conf_log_level(&c), LOG_LVL_DEBUG);
	assert_int_equal(conf_log_target(&c), LOG_TARGET_STDERR);
	conf_free(&c);
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
		cmocka_unit_test(test_redis_production_defaults),
		cmocka_unit_test(test_redis_tls_values),
		cmocka_unit_test(test_redis_tls_errors),
		cmocka_unit_test(test_redis_tls_files_must_be_readable),
		cmocka_unit_test(test_sentinels),
		cmocka_unit_test(test_sentinel_password_not_echoed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
