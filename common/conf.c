/*
 * Configuration: one table describes every key (section, name, type, range,
 * default).  Defaults, parsing and validation all come from it.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "conf.h"
#include "partition.h"
#include "xmalloc.h"

enum conf_type {
	CT_STR,		/* any string, may be empty */
	CT_INT,		/* int in [min, max] */
	CT_U64,		/* uint64_t in [min, max]: ms, bytes */
	CT_BOOL,	/* yes/no, true/false, on/off, 1/0 */
	CT_ENUM,	/* string, one of choices ('|' separated) */
};

struct conf_key {
	const char	*section;
	const char	*name;
	enum conf_type	 type;
	size_t		 off;
	uint64_t	 min, max;
	const char	*def;
	const char	*choices;
};

#define O(f)	offsetof(struct conf, f)
static const struct conf_key conf_keys[] = {
	{ "redis", "host", CT_STR, O(redis_host), 0, 0, "127.0.0.1", NULL },
	{ "redis", "port", CT_INT, O(redis_port), 1, 65535, "6379", NULL },
	{ "redis", "unix_socket", CT_STR, O(redis_socket), 0, 0, "", NULL },
	{ "redis", "username", CT_STR, O(redis_username), 0, 0, "", NULL },
	{ "redis", "password", CT_STR, O(redis_password), 0, 0, "", NULL },
	{ "redis", "password_file", CT_STR, O(redis_password_file), 0, 0, "",
	    NULL },
	{ "redis", "db", CT_INT, O(redis_db), 0, 15, "0", NULL },
	{ "redis", "prefix", CT_STR, O(redis_prefix), 0, 0, "rosterd:", NULL },
	{ "redis", "connect_timeout_ms", CT_U64, O(redis_connect_timeout_ms),
	    10, 600000, "2000", NULL },
	{ "redis", "command_timeout_ms", CT_U64, O(redis_command_timeout_ms),
	    10, 600000, "5000", NULL },
	{ "redis", "tls", CT_BOOL, O(redis_tls), 0, 1, "no", NULL },
	{ "redis", "tls_ca_file", CT_STR, O(redis_tls_ca_file), 0, 0, "", NULL },
	{ "redis", "tls_server_name", CT_STR, O(redis_tls_server_name), 0, 0,
	    "", NULL },
	{ "redis", "tls_cert_file", CT_STR, O(redis_tls_cert_file), 0, 0, "",
	    NULL },
	{ "redis", "tls_key_file", CT_STR, O(redis_tls_key_file), 0, 0, "",
	    NULL },
	{ "redis", "sentinels", CT_STR, O(redis_sentinels), 0, 0, "", NULL },
	{ "redis", "master_name", CT_STR, O(redis_master_name), 0, 0, "",
	    NULL },
	{ "redis", "sentinel_username", CT_STR, O(redis_sentinel_username),
	    0, 0, "", NULL },
	{ "redis", "sentinel_password", CT_STR, O(redis_sentinel_password),
	    0, 0, "", NULL },
	{ "redis", "wait_replicas", CT_INT, O(redis_wait_replicas), 0, 16, "0",
	    NULL },
	{ "redis", "wait_timeout_ms", CT_U64, O(redis_wait_timeout_ms), 1,
	    60000, "1000", NULL },

	{ "clever", "api_base", CT_STR, O(clever_api_base), 0, 0,
	    "https://api.clever.com", NULL },
	{ "clever", "api_version", CT_ENUM, O(clever_api_version), 0, 0,
	    "v3.0", "v3.0|v3.1" },
	{ "clever", "ca_file", CT_STR, O(clever_ca_file), 0, 0, "", NULL },
	{ "clever", "allow_insecure_http", CT_BOOL,
	    O(clever_allow_insecure_http), 0, 1, "no", NULL },
	{ "clever", "connect_timeout_ms", CT_U64,
	    O(clever_connect_timeout_ms), 10, 600000, "5000", NULL },
	{ "clever", "request_timeout_ms", CT_U64,
	    O(clever_request_timeout_ms), 100, 3600000, "30000", NULL },
	{ "clever", "max_body_bytes", CT_U64, O(clever_max_body),
	    1024, 1024ULL * 1024 * 1024, "67108864", NULL },
	{ "clever", "max_connections", CT_INT, O(clever_max_connections),
	    1, 10000, "256", NULL },
	{ "clever", "page_size", CT_INT, O(clever_page_size),
	    1, 10000, "1000", NULL },
	{ "clever", "rate_limit", CT_INT, O(clever_rate_limit),
	    1, 1000000, "1200", NULL },
	{ "clever", "rate_window_s", CT_INT, O(clever_rate_window_s),
	    1, 3600, "60", NULL },
	{ "clever", "token_buckets", CT_STR, O(clever_token_buckets), 0, 0,
	    "bearer", NULL },
	{ "clever", "me_revalidate_s", CT_INT, O(clever_me_revalidate_s),
	    0, 86400, "600", NULL },
	{ "clever", "request_retries", CT_INT, O(clever_request_retries),
	    0, 20, "3", NULL },
	{ "clever", "retry_base_ms", CT_U64, O(clever_retry_base_ms),
	    1, 3600000, "500", NULL },
	{ "clever", "retry_max_ms", CT_U64, O(clever_retry_max_ms),
	    1, 3600000, "30000", NULL },

	{ "sync", "concurrency", CT_INT, O(sync_concurrency), 1, 100000,
	    "64", NULL },
	{ "sync", "fields", CT_ENUM, O(sync_fields), 0, 0, "library",
	    "library|district" },
	{ "sync", "max_attempts", CT_INT, O(sync_max_attempts), 1, 100,
	    "5", NULL },
	{ "sync", "retry_base_ms", CT_U64, O(sync_retry_base_ms), 1,
	    86400000, "5000", NULL },
	{ "sync", "retry_max_ms", CT_U64, O(sync_retry_max_ms), 1,
	    86400000, "300000", NULL },
	{ "sync", "lock_ttl_ms", CT_U64, O(sync_lock_ttl_ms), 1000,
	    86400000, "120000", NULL },
	{ "sync", "claim_idle_ms", CT_U64, O(sync_claim_idle_ms), 1000,
	    86400000, "300000", NULL },
	{ "sync", "status_ttl_s", CT_INT, O(sync_status_ttl_s), 1,
	    365 * 86400, "604800", NULL },
	{ "sync", "diff_stream_maxlen", CT_INT, O(sync_diff_maxlen), 0,
	    100000000, "1000000", NULL },
	{ "sync", "shrink_guard", CT_BOOL, O(sync_shrink_guard), 0, 1,
	    "yes", NULL },
	{ "sync", "shrink_min_students", CT_INT, O(sync_shrink_min_students),
	    1, 100000, "5", NULL },
	{ "sync", "shrink_max_loss_pct", CT_INT, O(sync_shrink_max_loss_pct),
	    1, 100, "50", NULL },
	{ "sync", "shrink_all_sections", CT_BOOL, O(sync_shrink_all_sections),
	    0, 1, "yes", NULL },
	{ "sync", "forget_deletes_token", CT_BOOL,
	    O(sync_forget_deletes_token), 0, 1, "no", NULL },
	{ "sync", "forget_unrenewed_s", CT_U64, O(sync_forget_unrenewed_s),
	    0, 3650ULL * 86400, "0", NULL },

	{ "schedule", "interval_s", CT_U64, O(schedule_interval_s), 0,
	    365ULL * 86400, "86400", NULL },
	{ "schedule", "jitter_pct", CT_INT, O(schedule_jitter_pct), 0, 50,
	    "10", NULL },
	{ "schedule", "concurrency", CT_INT, O(schedule_concurrency), 0,
	    100000, "0", NULL },
	{ "schedule", "rate_share_pct", CT_INT, O(schedule_rate_share_pct),
	    1, 100, "50", NULL },
	{ "schedule", "status_ttl_s", CT_INT, O(schedule_status_ttl_s),
	    1, 365 * 86400, "86400", NULL },

	{ "events", "interval_ms", CT_U64, O(events_interval_ms), 0,
	    86400000, "60000", NULL },
	{ "events", "lock_ttl_ms", CT_U64, O(events_lock_ttl_ms), 1000,
	    3600000, "30000", NULL },
	{ "events", "page_size", CT_INT, O(events_page_size), 1, 10000,
	    "1000", NULL },
	{ "events", "teacher_requests", CT_INT, O(events_teacher_requests),
	    0, 1000, "3", NULL },

	{ "district", "page_size", CT_INT, O(district_page_size), 1, 10000,
	    "10000", NULL },
	{ "district", "concurrency", CT_INT, O(district_concurrency), 1,
	    1000, "32", NULL },

	{ "diffs", "partitions", CT_INT, O(diffs_partitions), 1,
	    PARTITIONS_MAX, "1", NULL },

	{ "retention", "interval_ms", CT_U64, O(retention_interval_ms),
	    100, 86400000, "60000", NULL },
	{ "retention", "dead_max", CT_INT, O(retention_dead_max), 1,
	    100000000, "10000", NULL },
	{ "retention", "dead_max_age_days", CT_INT,
	    O(retention_dead_max_age_days), 1, 36500, "180", NULL },

	{ "daemon", "consumer", CT_STR, O(daemon_consumer), 0, 0, "", NULL },
	{ "daemon", "stop_timeout_ms", CT_U64, O(daemon_stop_timeout_ms),
	    0, 3600000, "20000", NULL },
	{ "daemon", "heartbeat_ms", CT_U64, O(daemon_heartbeat_ms),
	    100, 600000, "5000", NULL },

	{ "metrics", "listen", CT_STR, O(metrics_listen), 0, 0, "", NULL },

	{ "log", "level", CT_ENUM, O(log_level), 0, 0, "info",
	    "error|warning|info|debug" },
	{ "log", "target", CT_ENUM, O(log_target), 0, 0, "auto",
	    "auto|journal|stderr" },
};
#undef O
#define NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))

struct conf_parse {
	struct conf	*c;
	const char	*path;
	FILE		*fp;
	int		 lineno;	/* line last handed to inih */
	char		*err;
	size_t		 errlen;
	int		 failed;
};

/*
 * Debian's libinih is built without INI_HANDLER_LINENO, so count lines in
 * our own reader: inih calls the handler right after reading the line.
 */
static char *
conf_reader(char *str, int num, void *arg)
{
	struct conf_parse *cp = arg;

	if (fgets(str, num, cp->fp) == NULL)
		return NULL;
	cp->lineno++;
	return str;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
parse_u64(const char *v, uint64_t *out)
{
	unsigned long long n;
	char *end;

	if (*v == '\0' || *v == '-' || *v == '+')
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

static int
in_choices(const char *choices, const char *v)
{
	size_t len = strlen(v);
	const char *p = choices, *bar;

	for (;;) {
		bar = strchr(p, '|');
		if ((bar ? (size_t)(bar - p) : strlen(p)) == len &&
		    strncmp(p, v, len) == 0)
			return 1;
		if (bar == NULL)
			return 0;
		p = bar + 1;
	}
}

/* Describe what a key accepts, for error messages. */
static void
expected(const struct conf_key *k, char *buf, size_t len)
{
	switch (k->type) {
	case CT_INT:
	case CT_U64:
		snprintf(buf, len, "an integer from %llu to %llu",
		    (unsigned long long)k->min, (unsigned long long)k->max);
		break;
	case CT_BOOL:
		snprintf(buf, len, "yes or no");
		break;
	case CT_ENUM:
		snprintf(buf, len, "one of %s", k->choices);
		break;
	case CT_STR:
		snprintf(buf, len, "a string");
		break;
	}
}

/* Store v into the field of k; 0 or -1 when v is not acceptable. */
static int
conf_set(struct conf *c, const struct conf_key *k, const char *v)
{
	char *field = (char *)c + k->off;
	uint64_t n;
	int b;

	switch (k->type) {
	case CT_STR:
	case CT_ENUM:
		if (k->type == CT_ENUM && !in_choices(k->choices, v))
			return -1;
		free(*(char **)field);
		*(char **)field = xstrdup(v);
		return 0;
	case CT_INT:
	case CT_U64:
		if (parse_u64(v, &n) == -1 || n < k->min || n > k->max)
			return -1;
		if (k->type == CT_INT)
			*(int *)field = (int)n;
		else
			*(uint64_t *)field = n;
		return 0;
	case CT_BOOL:
		if (parse_bool(v, &b) == -1)
			return -1;
		*(int *)field = b;
		return 0;
	}
	return -1;
}

static const struct conf_key *
conf_lookup(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(conf_keys[i].section, section) == 0 &&
		    strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

static int
section_known(const char *section)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(conf_keys[i].section, section) == 0)
			return 1;
	return 0;
}

static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_parse *cp = user;
	const struct conf_key *k;
	int lineno = cp->lineno;
	char exp[128];

	if (cp->failed)
		return 0;
	if (name == NULL)	/* section start (INI_CALL_HANDLER_ON_NEW_SECTION) */
		return 1;
	cp->failed = 1;
	if (!section_known(section)) {
		snprintf(cp->err, cp->errlen,
		    "%s:%d: unknown section [%s] (key \"%s\")",
		    cp->path, lineno, section, name);
		return 0;
	}
	if ((k = conf_lookup(section, name)) == NULL) {
		snprintf(cp->err, cp->errlen,
		    "%s:%d: unknown key \"%s\" in section [%s]",
		    cp->path, lineno, name, section);
		return 0;
	}
	if (conf_set(cp->c, k, value) == -1) {
		expected(k, exp, sizeof(exp));
		/* never echo a password back */
		snprintf(cp->err, cp->errlen,
		    "%s:%d: [%s] %s: expected %s, got \"%s\"",
		    cp->path, lineno, section, name, exp,
		    strcmp(name, "password") == 0 ||
		    strcmp(name, "sentinel_password") == 0 ? "[redacted]" :
		    value);
		return 0;
	}
	cp->failed = 0;
	return 1;
}

/*
 * Split an http(s) URL into its scheme's security and its host; -1 when it
 * is not one: scheme, a host of name, IPv4 or [IPv6] characters, an
 * optional port, an optional path; no credentials, query, fragment or
 * white space (paths are appended to it).
 */
static int
parse_base_url(const char *url, int *https, char *host, size_t hostlen)
{
	const char *p, *end;
	size_t n;
	long port;

	if (strncmp(url, "https://", 8) == 0) {
		*https = 1;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		*https = 0;
		p = url + 7;
	} else
		return -1;
	for (end = url; *end != '\0'; end++)
		if (isspace((unsigned char)*end) || iscntrl((unsigned char)*end) ||
		    *end == '?' || *end == '#' || *end == '@')
			return -1;
	if (*p == '[') {
		n = strspn(p + 1, "0123456789abcdefABCDEF:.");
		if (n == 0 || p[1 + n] != ']')
			return -1;
		n += 2;
	} else
		n = strspn(p, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	p += n;
	if (*p == ':') {
		char *e;

		errno = 0;
		port = strtol(p + 1, &e, 10);
		if (e == p + 1 || errno != 0 || port < 1 || port > 65535)
			return -1;
		p = e;
	}
	return *p == '\0' || *p == '/' ? 0 : -1;
}

/* Traffic to these never leaves the machine. */
static int
host_is_loopback(const char *host)
{
	return strcasecmp(host, "localhost") == 0 ||
	    strcmp(host, "[::1]") == 0 || strncmp(host, "127.", 4) == 0;
}

static int
check_api_base(const struct conf *c, const char *path, char *err,
    size_t errlen)
{
	char host[256];
	int https;

	if (parse_base_url(c->clever_api_base, &https, host,
	    sizeof(host)) == -1) {
		snprintf(err, errlen, "%s: [clever] api_base: expected a URL "
		    "such as https://api.clever.com, got \"%s\"", path,
		    c->clever_api_base);
		return -1;
	}
	if (!https && !host_is_loopback(host) &&
	    !c->clever_allow_insecure_http) {
		snprintf(err, errlen, "%s: [clever] api_base: http:// to %s "
		    "would send bearer tokens in clear text; use https:// "
		    "(http:// is accepted for loopback addresses, or with "
		    "[clever] allow_insecure_http = yes, for tests only)", path,
		    host);
		return -1;
	}
	return 0;
}

/* A file the configuration names must be a regular file we can read. */
static int
check_file(const char *path, const char *section, const char *key,
    const char *file, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (file[0] == '\0')
		return 0;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: [%s] %s: cannot read \"%s\": %s",
		    path, section, key, file, fd == -1 ? strerror(errno) :
		    "not a regular file");
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
conf_check_files(const struct conf *c, const char *path, char *err,
    size_t errlen)
{
	if (check_file(path, "clever", "ca_file", c->clever_ca_file, err,
	    errlen) == -1 ||
	    check_file(path, "redis", "tls_ca_file", c->redis_tls_ca_file,
	    err, errlen) == -1 ||
	    check_file(path, "redis", "tls_cert_file", c->redis_tls_cert_file,
	    err, errlen) == -1 ||
	    check_file(path, "redis", "tls_key_file", c->redis_tls_key_file,
	    err, errlen) == -1)
		return -1;
	return 0;
}

/*
 * TLS to Redis: nothing that looks like TLS without it (a file or name
 * given while tls = no would leave Redis in clear text unnoticed), a
 * client certificate with its key, and TCP to carry it.
 */
static int
check_redis_tls(const struct conf *c, const char *path, char *err,
    size_t errlen)
{
	const struct {
		const char	*key;
		const char	*value;
	} tls_keys[] = {
		{ "tls_ca_file", c->redis_tls_ca_file },
		{ "tls_server_name", c->redis_tls_server_name },
		{ "tls_cert_file", c->redis_tls_cert_file },
		{ "tls_key_file", c->redis_tls_key_file },
	};
	const char *name = c->redis_tls_server_name;
	size_t i;

	for (i = 0; !c->redis_tls && i < sizeof(tls_keys) /
	    sizeof(tls_keys[0]); i++)
		if (tls_keys[i].value[0] != '\0') {
			snprintf(err, errlen, "%s: [redis] %s is set but tls = "
			    "no: Redis would be reached in clear text (set tls ="
			    " yes, or remove %s)", path, tls_keys[i].key,
			    tls_keys[i].key);
			return -1;
		}
	if ((c->redis_tls_cert_file[0] == '\0') !=
	    (c->redis_tls_key_file[0] == '\0')) {
		snprintf(err, errlen, "%s: [redis] %s is set without %s: a "
		    "client certificate needs both", path,
		    c->redis_tls_cert_file[0] ? "tls_cert_file" : "tls_key_file",
		    c->redis_tls_cert_file[0] ? "tls_key_file" : "tls_cert_file");
		return -1;
	}
	if (c->redis_tls && c->redis_socket[0] != '\0') {
		snprintf(err, errlen, "%s: [redis] tls = yes with unix_socket: "
		    "TLS is for TCP connections (remove unix_socket, or set tls "
		    "= no)", path);
		return -1;
	}
	if (strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(name)) {
		snprintf(err, errlen, "%s: [redis] tls_server_name: expected a "
		    "host name, got \"%s\"", path, name);
		return -1;
	}
	return 0;
}

/*
 * Sentinel: a list of HOST:PORT and the master's name go together, and
 * the Sentinel credentials only with them.
 */
static int
check_redis_sentinel(const struct conf *c, const char *path, char *err,
    size_t errlen)
{
	char bad[256];
	int sentinels = c->redis_sentinels[0] != '\0';

	if (conf_hostports(c->redis_sentinels, NULL, bad, sizeof(bad)) == -1) {
		snprintf(err, errlen, "%s: [redis] sentinels: \"%s\" is not "
		    "HOST:PORT (expected a comma-separated list such as "
		    "sentinel-1:26379,sentinel-2:26379)", path, bad);
		return -1;
	}
	if (sentinels && c->redis_master_name[0] == '\0') {
		snprintf(err, errlen, "%s: [redis] sentinels is set without "
		    "master_name: the name the Sentinels know the primary by",
		    path);
		return -1;
	}
	if (!sentinels && (c->redis_master_name[0] != '\0' ||
	    c->redis_sentinel_username[0] != '\0' ||
	    c->redis_sentinel_password[0] != '\0')) {
		snprintf(err, errlen, "%s: [redis] %s is set without sentinels",
		    path, c->redis_master_name[0] ? "master_name" :
		    c->redis_sentinel_username[0] ? "sentinel_username" :
		    "sentinel_password");
		return -1;
	}
	if (sentinels && c->redis_socket[0] != '\0') {
		snprintf(err, errlen, "%s: [redis] sentinels and unix_socket "
		    "are both set: the Sentinels name the primary's address",
		    path);
		return -1;
	}
	if (c->redis_sentinel_username[0] != '\0' &&
	    c->redis_sentinel_password[0] == '\0') {
		snprintf(err, errlen, "%s: [redis] sentinel_username \"%s\" "
		    "needs a sentinel_password", path,
		    c->redis_sentinel_username);
		return -1;
	}
	return 0;
}

/* Checks that involve more than one key. */
static int
conf_check(struct conf *c, const char *path, char *err, size_t errlen)
{
	if (c->clever_retry_base_ms > c->clever_retry_max_ms) {
		snprintf(err, errlen, "%s: [clever] retry_base_ms (%llu) is "
		    "larger than retry_max_ms (%llu)", path,
		    (unsigned long long)c->clever_retry_base_ms,
		    (unsigned long long)c->clever_retry_max_ms);
		return -1;
	}
	if (c->sync_retry_base_ms > c->sync_retry_max_ms) {
		snprintf(err, errlen, "%s: [sync] retry_base_ms (%llu) is "
		    "larger than retry_max_ms (%llu)", path,
		    (unsigned long long)c->sync_retry_base_ms,
		    (unsigned long long)c->sync_retry_max_ms);
		return -1;
	}
	if (check_api_base(c, path, err, errlen) == -1)
		return -1;
	if (c->metrics_listen[0] != '\0' && conf_hostport(c->metrics_listen,
	    NULL, NULL) == -1) {
		snprintf(err, errlen, "%s: [metrics] listen: expected HOST:PORT "
		    "(e.g. 127.0.0.1:9187), got \"%s\"", path,
		    c->metrics_listen);
		return -1;
	}
	if (c->redis_prefix[0] == '\0' ||
	    strpbrk(c->redis_prefix, " \t{}") != NULL) {
		snprintf(err, errlen, "%s: [redis] prefix: expected a non-empty"
		    " prefix without spaces or braces, got \"%s\"", path,
		    c->redis_prefix);
		return -1;
	}
	if (check_redis_tls(c, path, err, errlen) == -1 ||
	    check_redis_sentinel(c, path, err, errlen) == -1)
		return -1;
	return 0;
}

/* The first line of a password file, without its newline. */
static int
read_password(struct conf *c, const char *file, char *err, size_t errlen)
{
	char buf[1024];
	FILE *fp;
	size_t n;

	if ((fp = fopen(file, "r")) == NULL) {
		snprintf(err, errlen, "[redis] password: cannot read %s: %s",
		    file, strerror(errno));
		return -1;
	}
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "[redis] password: %s is empty", file);
		return -1;
	}
	free(c->redis_password);
	c->redis_password = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/*
 * The Redis password: [redis] password, or the file password_file names,
 * or else the systemd credential CONF_CREDENTIAL when systemd passed one
 * ($CREDENTIALS_DIRECTORY), so that the password need not be in this file.
 */
static int
conf_password(struct conf *c, const char *path, char *err, size_t errlen)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char *cred;
	int rv;

	if (c->redis_password_file[0] != '\0') {
		if (c->redis_password[0] != '\0') {
			snprintf(err, errlen, "%s: [redis] password and "
			    "password_file are both set", path);
			return -1;
		}
		return read_password(c, c->redis_password_file, err, errlen);
	}
	if (c->redis_password[0] == '\0' && dir != NULL && *dir != '\0') {
		xasprintf(&cred, "%s/%s", dir, CONF_CREDENTIAL);
		rv = access(cred, F_OK) == 0 ? read_password(c, cred, err,
		    errlen) : 0;
		free(cred);
		if (rv == -1)
			return -1;
	}
	if (c->redis_username[0] != '\0' && c->redis_password[0] == '\0') {
		snprintf(err, errlen, "%s: [redis] username \"%s\" needs a "
		    "password (password, password_file or the %s "
		    "credential)", path, c->redis_username, CONF_CREDENTIAL);
		return -1;
	}
	return 0;
}

void
conf_defaults(struct conf *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NKEYS; i++)
		if (conf_set(c, &conf_keys[i], conf_keys[i].def) == -1)
			fatalx("conf: bad default for %s.%s",
			    conf_keys[i].section, conf_keys[i].name);
}

int
conf_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	struct conf_parse cp = { c, path, NULL, 0, err, errlen, 0 };
	int rc;

	conf_defaults(c);
	if ((cp.fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		conf_free(c);
		return -1;
	}
	rc = ini_parse_stream(conf_reader, &cp, conf_handler, &cp);
	fclose(cp.fp);
	if (rc > 0 && !cp.failed)
		snprintf(err, errlen, "%s:%d: syntax error (expected "
		    "\"[section]\" or \"key = value\")", path, rc);
	if (rc != 0 || conf_check(c, path, err, errlen) == -1 ||
	    conf_password(c, path, err, errlen) == -1) {
		conf_free(c);
		return -1;
	}
	return 0;
}

void
conf_free(struct conf *c)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (conf_keys[i].type == CT_STR || conf_keys[i].type == CT_ENUM) {
			free(*(char **)((char *)c + conf_keys[i].off));
			*(char **)((char *)c + conf_keys[i].off) = NULL;
		}
	}
}

int
conf_hostport(const char *s, char **host, int *port)
{
	const char *colon = strrchr(s, ':');
	size_t hl;
	uint64_t n;

	if (colon == NULL || colon == s || parse_u64(colon + 1, &n) == -1 ||
	    n > 65535)
		return -1;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {	/* [v6]:port */
		if (hl < 3 || s[hl - 1] != ']')
			return -1;
		s++;
		hl -= 2;
	}
	if (host != NULL)
		*host = xstrndup(s, hl);
	if (port != NULL)
		*port = (int)n;
	return 0;
}

int
conf_hostports(const char *list, struct conf_addr **addrs, char *bad,
    size_t badlen)
{
	struct conf_addr *a = NULL;
	const char *p = list, *end;
	char *entry, *host;
	int n = 0, port;
	size_t len;

	for (;;) {
		p += strspn(p, " \t");
		if (*p == '\0' && n == 0)
			break;		/* the empty list */
		end = p + strcspn(p, ",");
		len = (size_t)(end - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		entry = xstrndup(p, len);
		host = NULL;
		if (len == 0 || strpbrk(entry, " \t") != NULL ||
		    conf_hostport(entry, &host, &port) == -1 || port == 0) {
			if (bad != NULL)
				xstrlcpy(bad, entry, badlen);
			free(host);
			free(entry);
			conf_addrs_free(a, n);
			return -1;
		}
		free(entry);
		a = xreallocarray(a, (size_t)n + 1, sizeof(*a));
		a[n].host = host;
		a[n++].port = port;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	if (addrs != NULL)
		*addrs = a;
	else
		conf_addrs_free(a, n);
	return n;
}

void
conf_addrs_free(struct conf_addr *a, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(a[i].host);
	free(a);
}

enum log_level
conf_log_level(const struct conf *c)
{
	return log_level_parse(c->log_level);
}

enum log_target
conf_log_target(const struct conf *c)
{
	if (strcmp(c->log_target, "journal") == 0)
		return LOG_TARGET_JOURNAL;
	if (strcmp(c->log_target, "stderr") == 0)
		return LOG_TARGET_STDERR;
	return LOG_TARGET_AUTO;
}

/*
 * The freshness schedule's times, for rosterd and rosterctl alike: the
 * interval teachers are planned with (a day while the schedule is off,
 * so that teachers synced meanwhile are in the plan when it is turned
 * on), the jitter, and when a due teacher counts as overdue: due longer
 * ago than the jitter (at least a second), past its slot, so its last
 * scheduled sync is older than the interval.
 */
uint64_t
conf_schedule_plan_ms(const struct conf *c)
{
	return c->schedule_interval_s > 0 ? c->schedule_interval_s * 1000 :
	    86400000;
}

uint64_t
conf_schedule_jitter_ms(const struct conf *c)
{
	return conf_schedule_plan_ms(c) * (uint64_t)c->schedule_jitter_pct /
	    100;
}

uint64_t
conf_schedule_overdue_ms(const struct conf *c)
{
	uint64_t j = c->schedule_interval_s * 1000 *
	    (uint64_t)c->schedule_jitter_pct / 100;

	return j > 1000 ? j : 1000;
}
