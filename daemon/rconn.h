/*
 * One Redis connection on libevent with what hiredis 0.14 lacks: TLS, host
 * names resolved without blocking (evdns), a timeout on every command (a
 * libevent timer per command, as h2o's lib/common/redis.c), connect
 * timeout, AUTH, SELECT and the primary check (ROLE) on connect, and
 * automatic reconnection with exponential backoff.  hiredis does the
 * protocol only (its formatter and reply reader), so this builds against
 * hiredis 0.14 and 1.x.
 *
 * A command's callback runs exactly once: with the reply, or with reply NULL
 * and err set ("timeout", "disconnected", "not connected", ...).  When a
 * command times out the connection is dropped and re-established, since the
 * reply stream can no longer be trusted to line up.
 */
#ifndef ROSTERD_RCONN_H
#define ROSTERD_RCONN_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

struct rconn;
struct rconn_locating;
/*
 * Where to connect, found anew before each connection (Sentinel): the
 * function starts the search and, from the event loop, ends it with
 * rconn_located() once (after rconn_free() that only frees the ticket).
 */
typedef void (*rconn_locate_fn)(struct rconn_locating *, void *arg);

struct rconn_conf {
	const char	*host;		/* used when unix_socket is NULL/"" */
	int		 port;
	const char	*unix_socket;
	const char	*username;	/* ACL user; NULL/"": "default" */
	const char	*password;	/* NULL/"": no AUTH */
	int		 db;
	uint64_t	 connect_timeout_ms;
	uint64_t	 command_timeout_ms;	/* default per command */
	const char	*name;		/* CLIENT SETNAME, may be NULL */
	int		 any_role;	/* accept a replica (a Sentinel) */
	int		 tls;		/* over TLS, the server verified */
	const char	*tls_ca_file;	/* NULL/"": the system's trust store */
	const char	*tls_server_name; /* NULL/"": host, also SNI */
	const char	*tls_cert_file;	/* client certificate, or NULL/"" */
	const char	*tls_key_file;
	rconn_locate_fn	 locate;	/* NULL: host and port */
	void		*locate_arg;
	int		 once;		/* no reconnection: a lost or failed
					   connection stays DISCONNECTED */
};

enum rconn_state {
	RCONN_DISCONNECTED = 0,
	RCONN_CONNECTING,
	RCONN_READY,		/* connected, AUTH/SELECT done */
	RCONN_CLOSED,		/* rconn_close() called */
};

/* What went wrong with commands, and how often the connection came up. */
enum rconn_failure {
	RCONN_FAIL_REPLY = 0,	/* Redis answered an error */
	RCONN_FAIL_TIMEOUT,	/* no answer in time */
	RCONN_FAIL_CONNECTION,	/* not connected, lost, closed */
	RCONN_FAIL_COUNT
};
struct rconn_stats {
	uint64_t	 failures[RCONN_FAIL_COUNT];
	uint64_t	 connects;	/* handshakes completed */
	uint64_t	 failovers;	/* dropped: the server was, or became,
					   a replica (READONLY, ROLE) */
};

/*
 * reply is NULL on error; err is NULL on success. reply freed after cb.
 * A Redis error reply is a reply: type REDIS_REPLY_ERROR with err NULL.
 * One reply per command: no SUBSCRIBE/MONITOR on an rconn.
 */
typedef void (*rconn_reply_cb)(struct rconn *, redisReply *reply,
		    const char *err, void *arg);
typedef void (*rconn_state_cb)(struct rconn *, enum rconn_state, void *arg);

struct rconn	*rconn_new(struct event_base *, const struct rconn_conf *,
		    rconn_state_cb, void *arg);
/* Start connecting (and keep reconnecting until rconn_free). */
void		 rconn_connect(struct rconn *);
/*
 * Fail pending commands with "closed", disconnect, free.  Safe from inside
 * any callback of this rconn; the state callback is not called again.
 */
void		 rconn_free(struct rconn *);
enum rconn_state rconn_state(const struct rconn *);

/*
 * Send a command.  timeout_ms 0 means the configured default; use a larger
 * one for blocking commands (XREADGROUP BLOCK).  Returns 0, or -1 when not
 * READY, in which case cb has been scheduled to run with err "not connected"
 * from the event loop.
 */
int		 rconn_command(struct rconn *, uint64_t timeout_ms,
		    rconn_reply_cb, void *arg, const char *fmt, ...);
int		 rconn_commandargv(struct rconn *, uint64_t timeout_ms,
		    rconn_reply_cb, void *arg, int argc, const char **argv,
		    const size_t *argvlen);
size_t		 rconn_pending(const struct rconn *);
/* The end of a search (rconn_locate_fn): host and port, or why not. */
void		 rconn_located(struct rconn_locating *, const char *host,
		    int port, const char *err);
/*
 * The value of field name in a flat field/value array reply (XINFO
 * GROUPS and CONSUMERS entries, HGETALL), or NULL.
 */
redisReply	*rconn_reply_field(const redisReply *, const char *name);
const struct rconn_stats *rconn_stats(const struct rconn *);
/*
 * The server of the current connection, "host:port" or the socket path
 * ("" while there is none), and whether TLS carries it.
 */
const char	*rconn_peer(const struct rconn *);
/* Why the last connection failed or was lost, and of what kind. */
enum rconn_error {
	RCONN_ERR_NONE = 0,
	RCONN_ERR_NETWORK,	/* refused, reset, closed: it may pass */
	RCONN_ERR_NAME,		/* the host name does not resolve */
	RCONN_ERR_TLS,		/* the TLS handshake failed: someone acts */
};
enum rconn_error rconn_error(const struct rconn *, const char **why);
int		 rconn_tls(const struct rconn *);

#endif
