/*
 * One Redis connection on libevent: per-command timeouts, connect timeout,
 * AUTH/SELECT/CLIENT SETNAME and the primary check in the handshake,
 * reconnection with exponential backoff, TLS.  See rconn.h for the
 * contract.
 *
 * hiredis does the protocol only: its command formatter writes requests,
 * its reply reader parses replies (both stable from 0.14 to 1.x).  The
 * bytes travel on a libevent bufferevent: a socket one, or an OpenSSL one
 * when [redis] tls is on, which hiredis 0.14 cannot do.  Host names are
 * resolved with evdns, again on every reconnect, so that a name moved to
 * a new primary is followed and the event loop never blocks on DNS.
 *
 * Redis answers in order: the commands sent and not yet answered wait in
 * rc->cmds, and each reply answers the first of them.  A command that
 * times out drops the connection, since a late reply would be taken for
 * the next command's.
 *
 * Never a replica.  The handshake asks ROLE and accepts only a master;
 * a READONLY error, or a blocked command woken because the server became
 * a replica, drops the connection, which then looks for the primary again
 * (the name resolved anew).
 *
 * Re-entrancy.  User callbacks may call rconn_free().  Every entry point
 * from the event loop brackets its work with rconn_enter()/rconn_leave();
 * rconn_free() inside that only marks the rconn dead and tears down, and
 * the last rconn_leave() frees the memory.  Callbacks never run inside an
 * rconn call: failures found there are deferred to the loop.
 */

#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <openssl/err.h>

#include "clock.h"
#include "log.h"
#include "rconn.h"
#include "tls.h"
#include "xmalloc.h"

#define RCONN_BACKOFF_MIN_MS		100
#define RCONN_BACKOFF_MAX_MS		5000
#define RCONN_DEF_CONNECT_TIMEOUT_MS	5000
#define RCONN_DEF_COMMAND_TIMEOUT_MS	5000

enum rcmd_kind {
	RCMD_USER,
	RCMD_SETUP,		/* AUTH, SELECT, CLIENT SETNAME */
	RCMD_ROLE,		/* the primary check */
	RCMD_READY,		/* the final PING: the connection is ready */
};

struct rconn;
struct rcmd;
TAILQ_HEAD(rcmd_list, rcmd);

struct rcmd {
	TAILQ_ENTRY(rcmd)	 entry;		/* on *list */
	struct rcmd_list	*list;		/* rc->cmds or rc->deferred */
	struct rconn		*rc;
	enum rcmd_kind		 kind;
	const char		*err;		/* why it failed, if decided */
	rconn_reply_cb		 cb;
	void			*arg;
	struct event		*timer;		/* timeout, or deferred failure */
};

/* A search for where to connect; outlives the rconn if freed meanwhile. */
struct rconn_locating {
	struct rconn		*rc;		/* NULL once the rconn is gone */
};

struct rconn {
	struct event_base	*base;
	char			*host;
	int			 port;
	char			*unix_socket;
	char			*username;
	char			*password;
	int			 db;
	char			*name;
	uint64_t		 connect_timeout_ms;
	uint64_t		 command_timeout_ms;
	int			 check_role;
	int			 once;
	rconn_locate_fn		 locate;
	void			*locate_arg;
	struct rconn_locating	*locating;	/* a search in progress */
	int			 tls;
	struct tls_conf		 tlsc;		/* strings owned */
	SSL_CTX			*ssl_ctx;
	struct evdns_base	*dns;
	struct rconn_stats	 stats;
	char			 peer[300];	/* while connected */
	char			 told[512];	/* last failure to connect logged */
	char			 error[512];	/* why the last connection ended */
	enum rconn_error	 error_kind;

	rconn_state_cb		 state_cb;
	void			*state_arg;
	enum rconn_state	 state;

	struct bufferevent	*bev;		/* current connection or NULL */
	SSL			*ssl;		/* its SSL, owned by bev */
	redisReader		*reader;	/* its replies */
	struct event		*connect_timer;
	struct event		*retry_timer;
	uint64_t		 backoff_ms;

	struct rcmd_list	 cmds;		/* sent, not yet answered */
	struct rcmd_list	 deferred;	/* failing from the loop */
	size_t			 npending;	/* user commands of both */

	int			 busy;		/* entry points on the stack */
	int			 dead;		/* rconn_free() called */
};

static void	rconn_destroy(struct rconn *);
static void	rconn_start(struct rconn *);

static void
rconn_enter(struct rconn *rc)
{
	rc->busy++;
}

static void
rconn_leave(struct rconn *rc)
{
	if (--rc->busy == 0 && rc->dead)
		rconn_destroy(rc);
}

static void
rconn_set_state(struct rconn *rc, enum rconn_state state)
{
	if (rc->state == state || rc->dead)
		return;
	rc->state = state;
	if (rc->state_cb != NULL)
		rc->state_cb(rc, state, rc->state_arg);
}

/* Unlink a command and stop its timer. */
static void
rcmd_unlink(struct rcmd *c)
{
	if (c->timer != NULL) {
		event_free(c->timer);
		c->timer = NULL;
	}
	TAILQ_REMOVE(c->list, c, entry);
	if (c->kind == RCMD_USER)
		c->rc->npending--;
}

/* Run the user callback of a command once, then free it. */
static void
rcmd_finish(struct rcmd *c, redisReply *reply, const char *err)
{
	struct rconn	*rc = c->rc;

	rcmd_unlink(c);
	if (c->kind == RCMD_USER) {
		if (err != NULL)
			rc->stats.failures[strcmp(err, "timeout") == 0 ?
			    RCONN_FAIL_TIMEOUT : RCONN_FAIL_CONNECTION]++;
		else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
			rc->stats.failures[RCONN_FAIL_REPLY]++;
		c->cb(rc, reply, err, c->arg);
	}
	free(c);
}

static void
rcmd_deferred_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rcmd	*c = arg;
	struct rconn	*rc = c->rc;

	rconn_enter(rc);
	rcmd_finish(c, NULL, c->err);
	rconn_leave(rc);
}

/* Fail a command that was never sent, from the event loop. */
static void
rcmd_defer_failure(struct rconn *rc, struct rcmd *c, const char *err)
{
	struct timeval	tv = { 0, 0 };

	c->err = err;
	c->timer = evtimer_new(rc->base, rcmd_deferred_cb, c);
	if (c->timer == NULL)
		fatalx("%s: evtimer_new", __func__);
	c->list = &rc->deferred;
	TAILQ_INSERT_TAIL(c->list, c, entry);
	rc->npending++;
	evtimer_add(c->timer, &tv);
}

static void
rconn_schedule_retry(struct rconn *rc)
{
	struct timeval	tv;
	uint64_t	half, delay;

	if (rc->dead || rc->once)
		return;
	/* Equal jitter: half the backoff plus a random part of the rest. */
	half = rc->backoff_ms / 2;
	delay = half + arc4random_uniform((uint32_t)(rc->backoff_ms - half + 1));
	tv = ms_to_tv(delay);
	evtimer_add(rc->retry_timer, &tv);
	rc->backoff_ms *= 2;
	if (rc->backoff_ms > RCONN_BACKOFF_MAX_MS)
		rc->backoff_ms = RCONN_BACKOFF_MAX_MS;
}

/*
 * Close the current connection: every command sent on it fails, first
 * the one that decided it (why), then the others ("disconnected").
 */
static void
rconn_close_bev(struct rconn *rc, const char *first_err)
{
	struct rcmd	*c;

	if (rc->bev != NULL) {
		bufferevent_free(rc->bev);	/* closes the socket, frees ssl */
		rc->bev = NULL;
		rc->ssl = NULL;
	}
	if (rc->reader != NULL) {
		redisReaderFree(rc->reader);
		rc->reader = NULL;
	}
	rc->peer[0] = '\0';
	evtimer_del(rc->connect_timer);
	while ((c = TAILQ_FIRST(&rc->cmds)) != NULL) {
		rcmd_finish(c, NULL, first_err != NULL ? first_err :
		    "disconnected");
		first_err = NULL;
	}
}

/* Drop the connection and try again after the backoff. */
static void
rconn_drop(struct rconn *rc, const char *first_err)
{
	rconn_close_bev(rc, first_err);
	if (rc->dead)
		return;
	rconn_set_state(rc, RCONN_DISCONNECTED);
	rconn_schedule_retry(rc);
}

/* The server is, or became, a replica: look for the primary again. */
static void
rconn_failover(struct rconn *rc, const char *why)
{
	rc->stats.failovers++;
	log_warnx("redis: %s is %s: reconnecting to find the primary",
	    rc->peer[0] ? rc->peer : rc->host, why);
	rconn_drop(rc, NULL);
}

/* Errors that say this server stopped being the primary. */
static int
reply_is_replica(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && (strncmp(r->str, "READONLY",
	    8) == 0 || (strncmp(r->str, "UNBLOCKED", 9) == 0 &&
	    strstr(r->str, "replica") != NULL));
}

/* Where rc connects: "host:port" or the socket's path. */
static void
rconn_target(const struct rconn *rc, char *buf, size_t len)
{
	if (rc->unix_socket != NULL)
		xstrlcpy(buf, rc->unix_socket, len);
	else
		snprintf(buf, len, strchr(rc->host, ':') ? "[%s]:%d" : "%s:%d",
		    rc->host, rc->port);
}

static void
rconn_set_peer(struct rconn *rc)
{
	rconn_target(rc, rc->peer, sizeof(rc->peer));
}

/* A handshake reply; 0 when the connection goes on, -1 once dropped. */
static int
rconn_handshake_reply(struct rconn *rc, enum rcmd_kind kind,
    redisReply *reply)
{
	if (kind == RCMD_ROLE && reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "NOPERM", 6) == 0)
		return 0;	/* the user's permission check will say so */
	if (reply->type == REDIS_REPLY_ERROR) {
		/* Server error text never contains the password. */
		log_warnx("redis: connection setup failed: %s", reply->str);
		rconn_drop(rc, NULL);
		return -1;
	}
	if (kind == RCMD_ROLE && (reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements == 0 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[0]->str, "master") != 0)) {
		rconn_set_peer(rc);
		rconn_failover(rc, "not the primary (ROLE)");
		return -1;
	}
	if (kind != RCMD_READY)
		return 0;
	evtimer_del(rc->connect_timer);
	rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
	rc->stats.connects++;
	rc->told[0] = rc->error[0] = '\0';
	rc->error_kind = RCONN_ERR_NONE;
	rconn_set_peer(rc);
	log_debug("redis: connected to %s%s", rc->peer, rc->tls ? " (TLS)" :
	    "");
	rconn_set_state(rc, RCONN_READY);
	return 0;
}

/* One reply: it answers the first command sent. 0, or -1 once dropped. */
static int
rconn_reply(struct rconn *rc, redisReply *reply)
{
	struct rcmd	*c = TAILQ_FIRST(&rc->cmds);
	enum rcmd_kind	 kind;
	int		 replica;

	if (c == NULL) {
		freeReplyObject(reply);
		log_warnx("redis: a reply to no command: reconnecting");
		rconn_drop(rc, NULL);
		return -1;
	}
	kind = c->kind;
	if (kind != RCMD_USER) {
		rcmd_finish(c, NULL, NULL);
		if (rconn_handshake_reply(rc, kind, reply) == -1) {
			freeReplyObject(reply);
			return -1;
		}
		freeReplyObject(reply);
		return 0;
	}
	replica = reply_is_replica(reply);
	rcmd_finish(c, reply, NULL);
	freeReplyObject(reply);
	if (rc->dead)
		return -1;
	if (replica) {
		rconn_failover(rc, "a replica now");
		return -1;
	}
	return 0;
}

/* What the connection has read: feed the reader, answer commands. */
static void
rconn_on_read(struct bufferevent *bev, void *arg)
{
	struct rconn	*rc = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[8];
	void		*reply;
	int		 i, n;

	rconn_enter(rc);
	while (rc->bev == bev && evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 8);
		if (n > 8)
			n = 8;
		for (i = 0; i < n; i++) {
			if (redisReaderFeed(rc->reader, v[i].iov_base,
			    v[i].iov_len) != REDIS_OK)
				fatalx("redis: reader feed failed");
			evbuffer_drain(in, v[i].iov_len);
		}
		for (;;) {
			reply = NULL;
			if (redisReaderGetReply(rc->reader, &reply) !=
			    REDIS_OK) {
				log_warnx("redis: protocol error: %s",
				    rc->reader->errstr);
				rconn_drop(rc, NULL);
				goto out;
			}
			if (reply == NULL)
				break;
			if (rconn_reply(rc, reply) == -1 || rc->bev != bev)
				goto out;
		}
	}
out:
	rconn_leave(rc);
}

/* Why the connection failed: DNS, TLS, or the socket. */
static enum rconn_error
rconn_describe_error(struct rconn *rc, short what, char *buf, size_t len)
{
	int		 dns_err = bufferevent_socket_get_dns_error(rc->bev);
	int		 sock_err = EVUTIL_SOCKET_ERROR();
	unsigned long	 e, tls_err = 0;
	int		 tls_code = 0;

	/*
	 * libevent keeps SSL_get_error()'s code (a small number) and
	 * OpenSSL's queued errors; this pops the last one first.
	 */
	while (rc->ssl != NULL &&
	    (e = bufferevent_get_openssl_error(rc->bev)) != 0)
		if (e > 0xff && tls_err == 0)
			tls_err = e;
		else if (e <= 0xff)
			tls_code = (int)e;
	if (dns_err != 0) {
		snprintf(buf, len, "cannot resolve %s: %s", rc->host,
		    evutil_gai_strerror(dns_err));
		return RCONN_ERR_NAME;
	}
	if (rc->ssl != NULL && (tls_err != 0 ||
	    SSL_get_verify_result(rc->ssl) != X509_V_OK)) {
		tls_describe(rc->ssl, tls_err, "TLS", buf, len);
		/* once established, a TLS connection is lost as any other */
		return rc->state == RCONN_READY ? RCONN_ERR_NETWORK :
		    RCONN_ERR_TLS;
	}
	if (tls_code != 0 && sock_err == 0 && rc->state != RCONN_READY) {
		snprintf(buf, len, "TLS: the server ended the TLS handshake "
		    "(does it want a client certificate?)");
		return RCONN_ERR_TLS;
	}
	if (what & BEV_EVENT_EOF)
		snprintf(buf, len, "closed by the server%s", rc->ssl != NULL &&
		    rc->state != RCONN_READY ? " (during the TLS handshake: "
		    "a client certificate required?)" : "");
	else
		snprintf(buf, len, "%s", sock_err != 0 ?
		    evutil_socket_error_to_string(sock_err) :
		    "connection lost");
	return RCONN_ERR_NETWORK;
}

static void
rconn_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct rconn	*rc = arg;
	char		 target[300];
	int		 one = 1;

	if (rc->bev != bev)
		return;
	rconn_enter(rc);
	if (what & BEV_EVENT_CONNECTED) {
		if (rc->unix_socket == NULL)
			(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
			    TCP_NODELAY, &one, sizeof(one));
	} else if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		rc->error_kind = rconn_describe_error(rc, what, rc->error,
		    sizeof(rc->error));
		rconn_target(rc, target, sizeof(target));
		if (rc->state == RCONN_READY)
			log_warnx("redis: disconnected from %s: %s", target,
			    rc->error);
		else if (rc->error_kind != RCONN_ERR_NETWORK &&
		    strcmp(rc->error, rc->told) != 0) {
			/* someone must act: once per cause */
			log_warnx("redis: cannot connect to %s: %s", target,
			    rc->error);
			xstrlcpy(rc->told, rc->error, sizeof(rc->told));
		} else
			log_debug("redis: cannot connect to %s: %s", target,
			    rc->error);
		rconn_drop(rc, NULL);
	}
	rconn_leave(rc);
}

static struct rcmd *
rcmd_new(struct rconn *rc, enum rcmd_kind kind, rconn_reply_cb cb, void *arg)
{
	struct rcmd	*c;

	c = xcalloc(1, sizeof(*c));
	c->rc = rc;
	c->kind = kind;
	c->cb = cb;
	c->arg = arg;
	return c;
}

/*
 * After a pause (the process stopped, the loop held up) a command's timer
 * may fire while its reply already waits, in the socket or read and not
 * yet parsed.  Then look again on the next turn of the loop, which runs
 * reads before timers; else the command timed out, and the connection is
 * dropped: a late reply would be taken for the next command's.
 */
static void
rcmd_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rcmd	*c = arg;
	struct rconn	*rc = c->rc;
	struct timeval	 now = { 0, 0 };
	int		 n = 0;

	rconn_enter(rc);
	if (rc->bev != NULL &&
	    (evbuffer_get_length(bufferevent_get_input(rc->bev)) > 0 ||
	    (ioctl(bufferevent_getfd(rc->bev), FIONREAD, &n) == 0 && n > 0))) {
		evtimer_add(c->timer, &now);
		rconn_leave(rc);
		return;
	}
	log_warnx("redis: command timed out, reconnecting");
	rcmd_finish(c, NULL, "timeout");
	rconn_drop(rc, NULL);
	rconn_leave(rc);
}

/* Queue a formatted command on the current connection; a user command's
   timer starts now (the connect timer covers the handshake's). */
static void
rconn_queue(struct rconn *rc, struct rcmd *c, const char *cmd, size_t len,
    uint64_t timeout_ms)
{
	struct timeval	tv;

	if (bufferevent_write(rc->bev, cmd, len) == -1)
		fatalx("%s: bufferevent_write", __func__);
	c->list = &rc->cmds;
	TAILQ_INSERT_TAIL(c->list, c, entry);
	if (c->kind != RCMD_USER)
		return;
	rc->npending++;
	tv = ms_to_tv(timeout_ms != 0 ? timeout_ms : rc->command_timeout_ms);
	if ((c->timer = evtimer_new(rc->base, rcmd_timeout_cb, c)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(c->timer, &tv);
}

static void
rconn_vsend(struct rconn *rc, struct rcmd *c, uint64_t timeout_ms,
    const char *fmt, va_list ap)
{
	char	*cmd;
	int	 len;

	if ((len = redisvFormatCommand(&cmd, fmt, ap)) < 0)
		fatalx("%s: cannot format a command", __func__);
	rconn_queue(rc, c, cmd, (size_t)len, timeout_ms);
	redisFreeCommand(cmd);
}

static void
rconn_handshake_send(struct rconn *rc, enum rcmd_kind kind,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	rconn_vsend(rc, rcmd_new(rc, kind, NULL, NULL), 0, fmt, ap);
	va_end(ap);
}

/*
 * Pipeline the setup behind the connect: AUTH, SELECT, CLIENT SETNAME,
 * ROLE (only a primary will do), then PING, whose reply makes us READY.
 */
static void
rconn_handshake(struct rconn *rc)
{
	if (rc->password != NULL && *rc->password != '\0' &&
	    rc->username != NULL && *rc->username != '\0')
		rconn_handshake_send(rc, RCMD_SETUP, "AUTH %s %s",
		    rc->username, rc->password);
	else if (rc->password != NULL && *rc->password != '\0')
		rconn_handshake_send(rc, RCMD_SETUP, "AUTH %s", rc->password);
	if (rc->db != 0)
		rconn_handshake_send(rc, RCMD_SETUP, "SELECT %d", rc->db);
	if (rc->name != NULL && *rc->name != '\0')
		rconn_handshake_send(rc, RCMD_SETUP, "CLIENT SETNAME %s",
		    rc->name);
	if (rc->check_role)
		rconn_handshake_send(rc, RCMD_ROLE, "ROLE");
	rconn_handshake_send(rc, RCMD_READY, "PING");
}

/* A new bufferevent for a connection: plain, or TLS to host. */
static struct bufferevent *
rconn_bev_new(struct rconn *rc)
{
	char	err[256];

	rc->ssl = NULL;
	if (!rc->tls)
		return bufferevent_socket_new(rc->base, -1,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if ((rc->ssl = tls_ssl_new(rc->ssl_ctx, &rc->tlsc, rc->host, err,
	    sizeof(err))) == NULL) {
		log_warnx("redis: %s", err);
		return NULL;
	}
	return bufferevent_openssl_socket_new(rc->base, -1, rc->ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
}

/* Start a connection to host:port: resolve (evdns), connect, TLS,
   handshake. */
static void
rconn_open(struct rconn *rc)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv;
	int			 r;

	if ((rc->bev = rconn_bev_new(rc)) == NULL) {
		if (rc->ssl != NULL)
			SSL_free(rc->ssl);
		rc->ssl = NULL;
		rconn_set_state(rc, RCONN_DISCONNECTED);
		rconn_schedule_retry(rc);
		return;
	}
	if ((rc->reader = redisReaderCreate()) == NULL)
		fatalx("%s: redisReaderCreate", __func__);
	bufferevent_setcb(rc->bev, rconn_on_read, NULL, rconn_on_event, rc);
	bufferevent_enable(rc->bev, EV_READ | EV_WRITE);
	if (rc->unix_socket != NULL) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		xstrlcpy(sun.sun_path, rc->unix_socket, sizeof(sun.sun_path));
		r = bufferevent_socket_connect(rc->bev,
		    (struct sockaddr *)&sun, sizeof(sun));
	} else
		r = bufferevent_socket_connect_hostname(rc->bev, rc->dns,
		    AF_UNSPEC, rc->host, rc->port);
	if (r == -1) {
		/* the event callback, deferred, reports it */
		log_debug("redis: connect to %s failed at once", rc->host);
	}
	rconn_handshake(rc);
	tv = ms_to_tv(rc->connect_timeout_ms);
	evtimer_add(rc->connect_timer, &tv);
	rconn_set_state(rc, RCONN_CONNECTING);
}

void
rconn_located(struct rconn_locating *l, const char *host, int port,
    const char *err)
{
	struct rconn	*rc = l->rc;

	free(l);
	if (rc == NULL)
		return;		/* freed meanwhile */
	rconn_enter(rc);
	rc->locating = NULL;
	if (host == NULL) {
		/* told once per cause, and to the state callback */
		xstrlcpy(rc->error, err != NULL ? err : "no address",
		    sizeof(rc->error));
		rc->error_kind = RCONN_ERR_NAME;
		if (strcmp(rc->error, rc->told) != 0) {
			log_warnx("redis: %s", rc->error);
			xstrlcpy(rc->told, rc->error, sizeof(rc->told));
		} else
			log_debug("redis: %s", rc->error);
		rconn_set_state(rc, RCONN_DISCONNECTED);
		rconn_schedule_retry(rc);
	} else {
		free(rc->host);
		rc->host = xstrdup(host);
		rc->port = port;
		rconn_open(rc);
	}
	rconn_leave(rc);
}

/* Start a connection: where to (rconn_conf locate), then there. */
static void
rconn_start(struct rconn *rc)
{
	if (rc->locate == NULL) {
		rconn_open(rc);
		return;
	}
	if (rc->locating != NULL)
		return;
	rc->locating = xcalloc(1, sizeof(*rc->locating));
	rc->locating->rc = rc;
	rconn_set_state(rc, RCONN_CONNECTING);
	rc->locate(rc->locating, rc->locate_arg);
}

static void
rconn_connect_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rconn	*rc = arg;

	rconn_enter(rc);
	if (rc->bev != NULL && rc->state != RCONN_READY) {
		log_warnx("redis: connect to %s timed out", rc->host);
		rconn_drop(rc, NULL);
	}
	rconn_leave(rc);
}

static void
rconn_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rconn	*rc = arg;

	rconn_enter(rc);
	if (!rc->dead && rc->bev == NULL && rc->locating == NULL)
		rconn_start(rc);
	rconn_leave(rc);
}

static char *
xstrdup_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? xstrdup(s) : NULL;
}

/* The TLS context, the resolver: what every connection of rc shares. */
static void
rconn_init_transport(struct rconn *rc, const struct rconn_conf *conf)
{
	char	err[512];

	if (conf->tls) {
		rc->tls = 1;
		rc->tlsc.ca_file = xstrdup_or_null(conf->tls_ca_file);
		rc->tlsc.server_name = xstrdup_or_null(conf->tls_server_name);
		rc->tlsc.cert_file = xstrdup_or_null(conf->tls_cert_file);
		rc->tlsc.key_file = xstrdup_or_null(conf->tls_key_file);
		if ((rc->ssl_ctx = tls_ctx_new(&rc->tlsc, err,
		    sizeof(err))) == NULL)
			/* files the configuration names: EX_CONFIG */
			fatalx_status(EX_CONFIG, "redis: TLS: %s", err);
	}
	if (rc->unix_socket == NULL &&
	    (rc->dns = evdns_base_new(rc->base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL)
		fatalx("%s: evdns_base_new", __func__);
}

struct rconn *
rconn_new(struct event_base *base, const struct rconn_conf *conf,
    rconn_state_cb state_cb, void *arg)
{
	struct rconn	*rc;

	rc = xcalloc(1, sizeof(*rc));
	rc->base = base;
	rc->host = xstrdup(conf->host != NULL && *conf->host != '\0' ?
	    conf->host : "127.0.0.1");
	rc->port = conf->port != 0 ? conf->port : 6379;
	rc->unix_socket = xstrdup_or_null(conf->unix_socket);
	rc->username = xstrdup_or_null(conf->username);
	rc->password = xstrdup_or_null(conf->password);
	rc->db = conf->db;
	rc->name = xstrdup_or_null(conf->name);
	rc->check_role = !conf->any_role;
	rc->once = conf->once;
	rc->locate = conf->locate;
	rc->locate_arg = conf->locate_arg;
	rc->connect_timeout_ms = conf->connect_timeout_ms != 0 ?
	    conf->connect_timeout_ms : RCONN_DEF_CONNECT_TIMEOUT_MS;
	rc->command_timeout_ms = conf->command_timeout_ms != 0 ?
	    conf->command_timeout_ms : RCONN_DEF_COMMAND_TIMEOUT_MS;
	rc->state_cb = state_cb;
	rc->state_arg = arg;
	rc->state = RCONN_DISCONNECTED;
	rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
	TAILQ_INIT(&rc->cmds);
	TAILQ_INIT(&rc->deferred);
	rc->connect_timer = evtimer_new(base, rconn_connect_timeout_cb, rc);
	rc->retry_timer = evtimer_new(base, rconn_retry_cb, rc);
	if (rc->connect_timer == NULL || rc->retry_timer == NULL)
		fatalx("%s: evtimer_new", __func__);
	rconn_init_transport(rc, conf);
	return rc;
}

void
rconn_connect(struct rconn *rc)
{
	if (rc->dead || rc->bev != NULL || rc->locating != NULL ||
	    evtimer_pending(rc->retry_timer, NULL))
		return;
	rconn_enter(rc);
	rconn_start(rc);
	rconn_leave(rc);
}

static void
free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void
rconn_destroy(struct rconn *rc)
{
	event_free(rc->connect_timer);
	event_free(rc->retry_timer);
	if (rc->dns != NULL)
		evdns_base_free(rc->dns, 1);
	if (rc->ssl_ctx != NULL)
		SSL_CTX_free(rc->ssl_ctx);
	free((char *)rc->tlsc.ca_file);
	free((char *)rc->tlsc.server_name);
	free((char *)rc->tlsc.cert_file);
	free((char *)rc->tlsc.key_file);
	free(rc->host);
	free(rc->unix_socket);
	free(rc->username);
	free_secret(rc->password);
	free(rc->name);
	free(rc);
}

void
rconn_free(struct rconn *rc)
{
	struct rcmd	*c;

	if (rc == NULL || rc->dead)
		return;
	rconn_enter(rc);
	rc->dead = 1;
	rc->state = RCONN_CLOSED;
	evtimer_del(rc->retry_timer);
	if (rc->locating != NULL)
		rc->locating->rc = NULL;	/* rconn_located frees it */
	rc->locating = NULL;
	while ((c = TAILQ_FIRST(&rc->cmds)) != NULL)
		rcmd_finish(c, NULL, "closed");
	rconn_close_bev(rc, NULL);
	while ((c = TAILQ_FIRST(&rc->deferred)) != NULL)
		rcmd_finish(c, NULL, "closed");
	rconn_leave(rc);
}

enum rconn_state
rconn_state(const struct rconn *rc)
{
	return rc->state;
}

const struct rconn_stats *
rconn_stats(const struct rconn *rc)
{
	return &rc->stats;
}

size_t
rconn_pending(const struct rconn *rc)
{
	return rc->npending;
}

static int
rconn_ready(const struct rconn *rc)
{
	return rc->state == RCONN_READY && rc->bev != NULL && !rc->dead;
}

int
rconn_command(struct rconn *rc, uint64_t timeout_ms, rconn_reply_cb cb,
    void *arg, const char *fmt, ...)
{
	struct rcmd	*c;
	va_list		 ap;

	if (rc->dead)
		return -1;
	c = rcmd_new(rc, RCMD_USER, cb, arg);
	if (!rconn_ready(rc)) {
		rcmd_defer_failure(rc, c, "not connected");
		return -1;
	}
	va_start(ap, fmt);
	rconn_vsend(rc, c, timeout_ms, fmt, ap);
	va_end(ap);
	return 0;
}

int
rconn_commandargv(struct rconn *rc, uint64_t timeout_ms, rconn_reply_cb cb,
    void *arg, int argc, const char **argv, const size_t *argvlen)
{
	struct rcmd	*c;
	char		*cmd;
	int		 len;

	if (rc->dead)
		return -1;
	c = rcmd_new(rc, RCMD_USER, cb, arg);
	if (!rconn_ready(rc)) {
		rcmd_defer_failure(rc, c, "not connected");
		return -1;
	}
	if ((len = redisFormatCommandArgv(&cmd, argc, argv, argvlen)) < 0)
		fatalx("%s: cannot format a command", __func__);
	rconn_queue(rc, c, cmd, (size_t)len, timeout_ms);
	redisFreeCommand(cmd);
	return 0;
}

redisReply *
rconn_reply_field(const redisReply *r, const char *name)
{
	size_t k;

	for (k = 0; r->type == REDIS_REPLY_ARRAY && k + 1 < r->elements;
	    k += 2)
		if (r->element[k]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[k]->str, name) == 0)
			return r->element[k + 1];
	return NULL;
}

enum rconn_error
rconn_error(const struct rconn *rc, const char **why)
{
	*why = rc->error;
	return rc->error_kind;
}

const char *
rconn_peer(const struct rconn *rc)
{
	return rc->peer;
}

int
rconn_tls(const struct rconn *rc)
{
	return rc->tls;
}
