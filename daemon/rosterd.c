/*
 * The daemon's environment, shared by every module through rosterd.h: rd,
 * with the configuration in force, and how the configuration becomes the
 * connections' settings, at start and at a reload.  main.c runs the
 * program on it.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "rosterd.h"
#include "rosterd_version.h"
#include "xmalloc.h"

struct rosterd	*rd;

static void	(*on_status)(void);

void
rosterd_on_status(void (*cb)(void))
{
	on_status = cb;
}

void
rosterd_status_changed(void)
{
	if (on_status != NULL)
		on_status();
}

/*
 * Load and check the configuration as this process will use it, files
 * included: -n, the start and every reload go through here.
 */
int
rosterd_conf_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	if (conf_load(c, path, err, errlen) == -1)
		return -1;
	if (conf_check_files(c, path, err, errlen) == -1) {
		conf_free(c);
		return -1;
	}
	return 0;
}

/*
 * A reload's configuration (loaded), checked for what only a restart may
 * change: the number of diff partitions, which the deployment records
 * and every instance must share (prepare.c).  Freed when refused.
 */
int
rosterd_conf_reloadable(struct conf *next, char *err, size_t errlen)
{
	if (next->diffs_partitions == rd->conf.diffs_partitions)
		return 0;
	snprintf(err, errlen, "[diffs] partitions changed from %d to %d: "
	    "only a restart of every instance changes it (doc/contract.md)",
	    rd->conf.diffs_partitions, next->diffs_partitions);
	conf_free(next);
	return -1;
}

/* The name of this instance in the consumer group: [daemon] consumer, or
   host-pid (malloc'ed). */
char *
rosterd_consumer(void)
{
	char host[256], *c;

	if (rd->conf.daemon_consumer[0] != '\0')
		return xstrdup(rd->conf.daemon_consumer);
	if (gethostname(host, sizeof(host)) == -1)
		xstrlcpy(host, "rosterd", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	xasprintf(&c, "%s-%ld", host, (long)getpid());
	return c;
}

/* Where Redis is, as configured, for people: the log, STATUS. */
void
rosterd_redis_where(char *buf, size_t len)
{
	const struct conf *c = &rd->conf;

	if (c->redis_sentinels[0] != '\0')
		snprintf(buf, len, "master %s via Sentinels %s%s",
		    c->redis_master_name, c->redis_sentinels,
		    c->redis_tls ? ", TLS" : "");
	else if (c->redis_socket[0] != '\0')
		snprintf(buf, len, "%s", c->redis_socket);
	else
		snprintf(buf, len, "%s:%d%s", c->redis_host, c->redis_port,
		    c->redis_tls ? ", TLS" : "");
}

/* A Redis connection's settings; name is its CLIENT SETNAME. */
void
rosterd_rconn_conf(struct rconn_conf *rc, const char *name)
{
	const struct conf *c = &rd->conf;

	memset(rc, 0, sizeof(*rc));
	rc->host = c->redis_host;
	rc->port = c->redis_port;
	rc->unix_socket = c->redis_socket;
	rc->username = c->redis_username;
	rc->password = c->redis_password;
	rc->db = c->redis_db;
	rc->connect_timeout_ms = c->redis_connect_timeout_ms;
	rc->command_timeout_ms = c->redis_command_timeout_ms;
	rc->name = name;
	rc->tls = c->redis_tls;
	rc->tls_ca_file = c->redis_tls_ca_file;
	rc->tls_server_name = c->redis_tls_server_name;
	rc->tls_cert_file = c->redis_tls_cert_file;
	rc->tls_key_file = c->redis_tls_key_file;
}

/* The Clever client's settings. */
void
rosterd_http_conf(struct http_conf *hc)
{
	const struct conf *c = &rd->conf;

	memset(hc, 0, sizeof(*hc));
	hc->ca_file = c->clever_ca_file[0] ? c->clever_ca_file : NULL;
	hc->connect_timeout_ms = (long)c->clever_connect_timeout_ms;
	hc->request_timeout_ms = (long)c->clever_request_timeout_ms;
	hc->max_body = c->clever_max_body;
	hc->max_connections = c->clever_max_connections;
	hc->user_agent = "rosterd/" ROSTERD_VERSION;
}

static void
keep_str(char **next, const char *now)
{
	free(*next);
	*next = xstrdup(now);
}

/* Whether any of n string fields (offsets into struct conf) differ. */
static int
strs_differ(const struct conf *a, const struct conf *b, const size_t *off,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(*(char *const *)((const char *)a + off[i]),
		    *(char *const *)((const char *)b + off[i])) != 0)
			return 1;
	return 0;
}

static void
keep_strs(struct conf *next, const struct conf *now, const size_t *off,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		keep_str((char **)((char *)next + off[i]),
		    *(char *const *)((const char *)now + off[i]));
}

#define CONF_OFF(f)	offsetof(struct conf, f)
#define NOFF(a)		(sizeof(a) / sizeof((a)[0]))

/*
 * A reloaded configuration takes the place of the one in force, but for
 * what needs a restart (the metrics listener, the Redis address, db,
 * prefix and credentials, TLS, Sentinel and WAIT): those are kept, and a
 * change to them told.  The Clever client takes its new settings at once.
 */
void
rosterd_conf_adopt(struct conf *next)
{
	static const size_t address[] = {
		CONF_OFF(redis_host), CONF_OFF(redis_socket),
		CONF_OFF(redis_prefix),
	}, credentials[] = {
		CONF_OFF(redis_username), CONF_OFF(redis_password),
	}, tls[] = {
		CONF_OFF(redis_tls_ca_file), CONF_OFF(redis_tls_server_name),
		CONF_OFF(redis_tls_cert_file), CONF_OFF(redis_tls_key_file),
	}, sentinel[] = {
		CONF_OFF(redis_sentinels), CONF_OFF(redis_master_name),
		CONF_OFF(redis_sentinel_username),
		CONF_OFF(redis_sentinel_password),
	};
	struct conf *now = &rd->conf;
	struct http_conf hc;

	if (strcmp(next->metrics_listen, now->metrics_listen) != 0)
		logf_warn(LF(.event = "reload_partial"), "[metrics] listen "
		    "changes take effect at the next restart");
	if (strs_differ(next, now, address, NOFF(address)) ||
	    next->redis_port != now->redis_port ||
	    next->redis_db != now->redis_db)
		logf_warn(LF(.event = "reload_partial"), "Redis address, db "
		    "and prefix changes take effect at the next restart");
	if (next->redis_tls != now->redis_tls ||
	    strs_differ(next, now, tls, NOFF(tls)))
		logf_warn(LF(.event = "reload_partial"), "Redis TLS changes "
		    "([redis] tls, tls_*) take effect at the next restart");
	if (strs_differ(next, now, sentinel, NOFF(sentinel)))
		logf_warn(LF(.event = "reload_partial"), "Sentinel changes "
		    "([redis] sentinels, master_name, sentinel_*) take effect "
		    "at the next restart");
	if (next->redis_wait_replicas != now->redis_wait_replicas ||
	    next->redis_wait_timeout_ms != now->redis_wait_timeout_ms)
		logf_warn(LF(.event = "reload_partial"), "[redis] "
		    "wait_replicas and wait_timeout_ms changes take effect at "
		    "the next restart");
	keep_str(&next->metrics_listen, now->metrics_listen);
	keep_strs(next, now, address, NOFF(address));
	keep_strs(next, now, credentials, NOFF(credentials));
	keep_strs(next, now, tls, NOFF(tls));
	keep_strs(next, now, sentinel, NOFF(sentinel));
	next->redis_port = now->redis_port;
	next->redis_db = now->redis_db;
	next->redis_tls = now->redis_tls;
	next->redis_wait_replicas = now->redis_wait_replicas;
	next->redis_wait_timeout_ms = now->redis_wait_timeout_ms;
	conf_free(now);
	*now = *next;
	rosterd_http_conf(&hc);
	http_client_reconfigure(rd->http, &hc);
}
