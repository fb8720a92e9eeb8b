/*
 * rosterd configuration: an INI file parsed with inih.  Every key, its type,
 * range and default live in one table in conf.c; etc/rosterd.conf documents
 * them.  Errors name the file, the line, the key and what was expected.
 */
#ifndef ROSTERD_CONF_H
#define ROSTERD_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CONF_ERR_MAX	512

/* The systemd credential that holds the Redis password (LoadCredential=). */
#define CONF_CREDENTIAL	"redis-password"

struct conf {
	/* [redis] */
	char		*redis_host;
	int		 redis_port;
	char		*redis_socket;
	char		*redis_username;	/* ACL user; "": default */
	char		*redis_password;	/* or from password_file */
	char		*redis_password_file;
	int		 redis_db;
	char		*redis_prefix;
	uint64_t	 redis_connect_timeout_ms;
	uint64_t	 redis_command_timeout_ms;
	int		 redis_tls;
	char		*redis_tls_ca_file;	/* "": the system's trust store */
	char		*redis_tls_server_name;	/* "": the host name */
	char		*redis_tls_cert_file;	/* client certificate: both or */
	char		*redis_tls_key_file;	/* neither */
	char		*redis_sentinels;	/* "": none; else HOST:PORT,... */
	char		*redis_master_name;	/* with sentinels */
	char		*redis_sentinel_username;
	char		*redis_sentinel_password;
	int		 redis_wait_replicas;	/* 0: no WAIT */
	uint64_t	 redis_wait_timeout_ms;

	/* [clever] */
	char		*clever_api_base;
	char		*clever_api_version;
	char		*clever_ca_file;
	int		 clever_allow_insecure_http;
	uint64_t	 clever_connect_timeout_ms;
	uint64_t	 clever_request_timeout_ms;
	uint64_t	 clever_max_body;
	int		 clever_max_connections;
	int		 clever_page_size;
	int		 clever_rate_limit;
	int		 clever_rate_window_s;
	char		*clever_token_buckets;	/* per-token bucket names */
	int		 clever_me_revalidate_s;	/* a district's kept /me */
	int		 clever_request_retries;
	uint64_t	 clever_retry_base_ms;
	uint64_t	 clever_retry_max_ms;

	/* [sync] */
	int		 sync_concurrency;
	char		*sync_fields;
	int		 sync_max_attempts;
	uint64_t	 sync_retry_base_ms;
	uint64_t	 sync_retry_max_ms;
	uint64_t	 sync_lock_ttl_ms;
	uint64_t	 sync_claim_idle_ms;
	int		 sync_status_ttl_s;
	int		 sync_diff_maxlen;
	int		 sync_shrink_guard;
	int		 sync_shrink_min_students;
	int		 sync_shrink_max_loss_pct;
	int		 sync_shrink_all_sections;
	int		 sync_forget_deletes_token;
	uint64_t	 sync_forget_unrenewed_s;	/* 0: never */

	/* [schedule] */
	uint64_t	 schedule_interval_s;	/* 0: no schedule */
	int		 schedule_jitter_pct;
	int		 schedule_concurrency;	/* 0: half of [sync]'s */
	int		 schedule_rate_share_pct;
	int		 schedule_status_ttl_s;

	/* [events]: Clever's Events, polled per district (events.c) */
	uint64_t	 events_interval_ms;	/* between polls; 0: off */
	uint64_t	 events_lock_ttl_ms;	/* the poller lock's TTL */
	int		 events_page_size;	/* events per batch */
	int		 events_teacher_requests; /* a resync, weighed */

	/* [district]: bulk syncs of whole districts (district.c) */
	int		 district_page_size;	/* limit of the bulk lists */
	int		 district_concurrency;	/* teachers written at once */

	/* [diffs] */
	int		 diffs_partitions;	/* 1: one stream, as in v1 */

	/* [retention] */
	uint64_t	 retention_interval_ms;
	int		 retention_dead_max;
	int		 retention_dead_max_age_days;

	/* [daemon] */
	char		*daemon_consumer;
	uint64_t	 daemon_stop_timeout_ms;
	uint64_t	 daemon_heartbeat_ms;

	/* [metrics] */
	char		*metrics_listen;	/* "": off; else HOST:PORT */

	/* [log] */
	char		*log_level;
	char		*log_target;
};

/* Fill c with defaults (strings allocated). */
void	conf_defaults(struct conf *c);
/*
 * Load path over the defaults.  Returns 0, or -1 with a message in err
 * ("FILE:LINE: [section] key: expected ..., got ...").  On error c is left
 * freed (no need to call conf_free).
 */
int	conf_load(struct conf *c, const char *path, char *err, size_t errlen);
/*
 * What only the daemon's own environment can tell: the files the
 * configuration names can be read (by this user).  0, or -1 and err.
 */
int	conf_check_files(const struct conf *c, const char *path, char *err,
	    size_t errlen);
void	conf_free(struct conf *c);

enum log_level	conf_log_level(const struct conf *);
/* Split "HOST:PORT" ("[v6]:PORT" too); host is malloc'ed.  0 or -1. */
int		conf_hostport(const char *, char **host, int *port);

struct conf_addr {
	char	*host;
	int	 port;
};
/*
 * Split a list "HOST:PORT,HOST:PORT,..." ([redis] sentinels; white space
 * around an entry is allowed) into *addrs (malloc'ed, or NULL when the
 * list is empty; addrs NULL: only check).  Returns the number of entries,
 * or -1 when one is not HOST:PORT with a port from 1 to 65535: that entry
 * is then copied into bad (when not NULL) and *addrs is left alone.
 */
int		conf_hostports(const char *list, struct conf_addr **addrs,
		    char *bad, size_t badlen);
void		conf_addrs_free(struct conf_addr *, int n);
enum log_target	conf_log_target(const struct conf *);

/* The freshness schedule's times, ms (see conf.c). */
uint64_t	conf_schedule_plan_ms(const struct conf *);
uint64_t	conf_schedule_jitter_ms(const struct conf *);
uint64_t	conf_schedule_overdue_ms(const struct conf *);

#endif
