/*
 * One hiredis async connection on libevent: per-command timeouts, connect
 * timeout, AUTH/SELECT/CLIENT SETNAME handshake and reconnection with
 * exponential backoff.  See rconn.h for the contract.
 *
 * Ownership.  Every command sent to hiredis carries a struct rcmd as its
 * privdata; hiredis calls back exactly once per command, with the reply or,
 * when the context is freed, with NULL.  So an rcmd that was sent is freed
 * only in that hiredis callback (rcmd_on_reply), never earlier, even when
 * its user callback already ran (timeout, rconn_free).  rconn_destroy()
 * detaches any rcmd still held by a context whose free hiredis deferred.
 *
 * Re-entrancy.  User callbacks may call rconn_free().  Every entry point
 * from the event loop brackets its work with rconn_enter()/rconn_leave();
 * rconn_free() inside that only marks the rconn dead and tears down, and
 * the last rconn_leave() frees the memory.  Never call user code from the
 * hiredis connect callback while rc->ac still points at the context: on
 * hiredis 0.14 freeing the context there is a use after free.
 */

#include <sys/ioctl.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "clock.h"
#include "log.h"
#include "rconn.h"
#include "xmalloc.h"

#define RCONN_BACKOFF_MIN_MS		100
#define RCONN_BACKOFF_MAX_MS		5000
#define RCONN_DEF_CONNECT_TIMEOUT_MS	5000
#define RCONN_DEF_COMMAND_TIMEOUT_MS	5000

enum rcmd_kind {
	RCMD_USER,
	RCMD_HANDSHAKE,		/* AUTH, SELECT, CLIENT SETNAME, PING */
};

struct rconn;
struct rcmd;
TAILQ_HEAD(rcmd_list, rcmd);

struct rcmd {
	TAILQ_ENTRY(rcmd)	 entry;		/* on *list */
	TAILQ_ENTRY(rcmd)	 hentry;	/* rc->held */
	struct rcmd_list	*list;		/* rc->cmds or rc->deferred */
	struct rconn		*rc;		/* NULL once the rconn is gone */
	redisAsyncContext	*ac;		/* context it was sent on */
	enum rcmd_kind		 kind;
	int			 last;		/* handshake: the final PING */
	int			 held;		/* hiredis owns us as privdata */
	int			 done;		/* user callback has run */
	const char		*err;		/* why it failed, if decided */
	rconn_reply_cb		 cb;
	void			*arg;
	struct event		*timer;		/* timeout, or deferred failure */
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
	struct rconn_stats	 stats;
	char			 peer[300];	/* while connected */

	rconn_state_cb		 state_cb;
	void			*state_arg;
	enum rconn_state	 state;

	redisAsyncContext	*ac;		/* current context or NULL */
	struct event		*connect_timer;
	struct event		*retry_timer;
	uint64_t		 backoff_ms;

	struct rcmd_list	 cmds;		/* sent, not yet answered */
	struct rcmd_list	 deferred;	/* failing from the loop */
	struct rcmd_list	 held;		/* privdata held by hiredis */
	size_t			 npending;	/* cmds + deferred */

	struct rcmd		*timing_out;	/* reading before a timeout */
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

/* Run the user callback of a command once and unlink it. */
static void
rcmd_finish(struct rcmd *c, redisReply *reply, const char *err)
{
	struct rconn	*rc = c->rc;

	if (rc->timing_out == c)
		rc->timing_out = NULL;
	if (c->timer != NULL) {
		event_free(c->timer);
		c->timer = NULL;
	}
	TAILQ_REMOVE(c->list, c, entry);
	rc->npending--;
	c->done = 1;
	if (err != NULL)
		rc->stats.failures[strcmp(err, "timeout") == 0 ?
		    RCONN_FAIL_TIMEOUT : RCONN_FAIL_CONNECTION]++;
	else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		rc->stats.failures[RCONN_FAIL_REPLY]++;
	c->cb(rc, reply, err, c->arg);
	if (!c->held)
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

	if (rc->dead)
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
 * Forget the current context without freeing it: hiredis is freeing it
 * (connect failure, disconnect) or the caller is about to.
 */
static redisAsyncContext *
rconn_detach(struct rconn *rc)
{
	redisAsyncContext	*ac = rc->ac;

	rc->ac = NULL;
	rc->peer[0] = '\0';
	if (ac != NULL)
		ac->data = NULL;
	evtimer_del(rc->connect_timer);
	return ac;
}

/* The context went away under us: report, then try again later. */
static void
rconn_lost(struct rconn *rc)
{
	rconn_detach(rc);
	rconn_set_state(rc, RCONN_DISCONNECTED);
	rconn_schedule_retry(rc);
}

/*
 * Tear the current connection down ourselves.  hiredis answers every
 * pending command with NULL (now, or right after the hiredis callback we
 * are in returns); rcmd_on_reply() reports them.
 */
static void
rconn_drop(struct rconn *rc)
{
	redisAsyncContext	*ac;

	if ((ac = rconn_detach(rc)) != NULL)
		redisAsyncFree(ac);
	rconn_set_state(rc, RCONN_DISCONNECTED);
	rconn_schedule_retry(rc);
}

static void
rconn_handshake_reply(struct rconn *rc, struct rcmd *c, redisReply *reply)
{
	if (reply == NULL || c->ac != rc->ac)
		return;		/* stale: that context is gone */
	if (reply->type == REDIS_REPLY_ERROR) {
		/* Server error text never contains the password. */
		log_warnx("redis: connection setup failed: %s", reply->str);
		rconn_drop(rc);
		return;
	}
	if (!c->last)
		return;
	evtimer_del(rc->connect_timer);
	rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
	rc->stats.connects++;
	if (rc->unix_socket != NULL && *rc->unix_socket != '\0')
		xstrlcpy(rc->peer, rc->unix_socket, sizeof(rc->peer));
	else
		snprintf(rc->peer, sizeof(rc->peer), "%s:%d", rc->host,
		    rc->port);
	log_debug("redis: connected");
	rconn_set_state(rc, RCONN_READY);
}

/* hiredis reply callback for every command we send. */
static void
rcmd_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct rcmd	*c = privdata;
	struct rconn	*rc = c->rc;
	redisReply	*reply = r;

	if (rc == NULL) {
		free(c);	/* the rconn was freed before hiredis let go */
		return;
	}
	TAILQ_REMOVE(&rc->held, c, hentry);
	c->held = 0;
	if (c->done) {
		free(c);
		return;
	}

	rconn_enter(rc);
	/* A NULL reply means hiredis is freeing a context we still use. */
	if (reply == NULL && rc->ac == ac) {
		log_warnx("redis: disconnected: %s", ac->err && ac->errstr ?
		    ac->errstr : "connection lost");
		rconn_lost(rc);
	}
	if (c->kind == RCMD_HANDSHAKE) {
		rconn_handshake_reply(rc, c, reply);
		free(c);
	} else
		rcmd_finish(c, reply,
		    reply != NULL ? NULL : (c->err ? c->err : "disconnected"));
	rconn_leave(rc);
}

/*
 * After a pause (the process stopped, the loop held up) a command's timer
 * may fire while its reply already waits in the socket: the loop reads at
 * most one buffer per turn, and timers of the same turn run after it.  So
 * read all that the socket holds first.  1 when that answered c (c may be
 * freed), 0 when it is still unanswered.
 */
static int
rcmd_read_arrived(struct rconn *rc, struct rcmd *c)
{
	redisAsyncContext	*ac;
	int			 n;

	rc->timing_out = c;
	while (rc->timing_out == c && (ac = rc->ac) != NULL && c->ac == ac &&
	    ioctl(ac->c.fd, FIONREAD, &n) == 0 && n > 0)
		redisAsyncHandleRead(ac);
	if (rc->timing_out != c)
		return 1;
	rc->timing_out = NULL;
	return 0;
}

static void
rcmd_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rcmd	*c = arg;
	struct rconn	*rc = c->rc;

	rconn_enter(rc);
	if (c->ac == rc->ac && rc->ac != NULL && rcmd_read_arrived(rc, c)) {
		rconn_leave(rc);
		return;
	}
	c->err = "timeout";
	/*
	 * The reply may still come and would be taken for the next command's:
	 * drop the connection.  hiredis then fails this command ("timeout")
	 * and every other pending one ("disconnected").
	 */
	log_warnx("redis: command timed out, reconnecting");
	if (c->ac == rc->ac && rc->ac != NULL)
		rconn_drop(rc);
	else
		rcmd_finish(c, NULL, c->err);
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

/* The command has been queued in hiredis: hiredis now holds c. */
static void
rcmd_sent(struct rconn *rc, struct rcmd *c)
{
	c->ac = rc->ac;
	c->held = 1;
	TAILQ_INSERT_TAIL(&rc->held, c, hentry);
}

static void
rcmd_arm(struct rconn *rc, struct rcmd *c, uint64_t timeout_ms)
{
	struct timeval	tv;

	if (timeout_ms == 0)
		timeout_ms = rc->command_timeout_ms;
	tv = ms_to_tv(timeout_ms);
	c->timer = evtimer_new(rc->base, rcmd_timeout_cb, c);
	if (c->timer == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(c->timer, &tv);
	c->list = &rc->cmds;
	TAILQ_INSERT_TAIL(c->list, c, entry);
	rc->npending++;
}

static int
rconn_handshake_send(struct rconn *rc, int last, const char *fmt, ...)
{
	struct rcmd	*c;
	va_list		 ap;
	int		 r;

	c = rcmd_new(rc, RCMD_HANDSHAKE, NULL, NULL);
	c->last = last;
	va_start(ap, fmt);
	r = redisvAsyncCommand(rc->ac, rcmd_on_reply, c, fmt, ap);
	va_end(ap);
	if (r != REDIS_OK) {
		free(c);
		return -1;
	}
	rcmd_sent(rc, c);
	return 0;
}

/*
 * Pipeline the setup commands; the final PING's reply makes us READY.
 * Always sending PING keeps one path to READY, and that path runs inside a
 * reply callback, where hiredis tolerates the user freeing the context.
 */
static void
rconn_handshake(struct rconn *rc)
{
	int	r = 0;

	if (rc->password != NULL && *rc->password != '\0' &&
	    rc->username != NULL && *rc->username != '\0')
		r |= rconn_handshake_send(rc, 0, "AUTH %s %s", rc->username,
		    rc->password);
	else if (rc->password != NULL && *rc->password != '\0')
		r |= rconn_handshake_send(rc, 0, "AUTH %s", rc->password);
	if (rc->db != 0)
		r |= rconn_handshake_send(rc, 0, "SELECT %d", rc->db);
	if (rc->name != NULL && *rc->name != '\0')
		r |= rconn_handshake_send(rc, 0, "CLIENT SETNAME %s", rc->name);
	r |= rconn_handshake_send(rc, 1, "PING");
	/* On failure the connect timer tears the connection down. */
	if (r != 0)
		log_warnx("redis: cannot queue connection setup");
}

static void
rconn_on_connect(const redisAsyncContext *cac, int status)
{
	struct rconn	*rc = cac->data;

	if (rc == NULL)
		return;
	rconn_enter(rc);
	if (status != REDIS_OK) {
		/* hiredis frees the context when we return. */
		log_debug("redis: connect failed: %s",
		    cac->errstr != NULL ? cac->errstr : "unknown error");
		rconn_lost(rc);
	} else
		rconn_handshake(rc);
	rconn_leave(rc);
}

static void
rconn_on_disconnect(const redisAsyncContext *cac, int status)
{
	struct rconn	*rc = cac->data;

	if (rc == NULL)
		return;		/* we dropped it ourselves */
	rconn_enter(rc);
	log_warnx("redis: disconnected: %s",
	    cac->errstr != NULL && cac->err ? cac->errstr : "closed by server");
	rconn_lost(rc);
	rconn_leave(rc);
}

static redisAsyncContext *
rconn_open(struct rconn *rc)
{
	int	use_unix = rc->unix_socket != NULL && *rc->unix_socket != '\0';
#if HIREDIS_MAJOR >= 1
	redisOptions	 o;

	memset(&o, 0, sizeof(o));
	/* Braces: in hiredis 1.0 these macros are bare statement lists. */
	if (use_unix) {
		REDIS_OPTIONS_SET_UNIX(&o, rc->unix_socket);
	} else {
		REDIS_OPTIONS_SET_TCP(&o, rc->host, rc->port);
	}
	return redisAsyncConnectWithOptions(&o);
#else
	if (use_unix)
		return redisAsyncConnectUnix(rc->unix_socket);
	return redisAsyncConnect(rc->host, rc->port);
#endif
}

static void
rconn_start(struct rconn *rc)
{
	redisAsyncContext	*ac;
	struct timeval		 tv;

	ac = rconn_open(rc);
	if (ac == NULL || ac->err) {
		log_debug("redis: connect failed: %s",
		    ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		rconn_set_state(rc, RCONN_DISCONNECTED);
		rconn_schedule_retry(rc);
		return;
	}
	ac->data = rc;
	if (redisLibeventAttach(ac, rc->base) != REDIS_OK)
		fatalx("%s: redisLibeventAttach", __func__);
	redisAsyncSetConnectCallback(ac, rconn_on_connect);
	redisAsyncSetDisconnectCallback(ac, rconn_on_disconnect);
	rc->ac = ac;
	tv = ms_to_tv(rc->connect_timeout_ms);
	evtimer_add(rc->connect_timer, &tv);
	rconn_set_state(rc, RCONN_CONNECTING);
}

static void
rconn_connect_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rconn	*rc = arg;

	rconn_enter(rc);
	if (rc->ac != NULL && rc->state != RCONN_READY) {
		log_warnx("redis: connect timed out");
		rconn_drop(rc);
	}
	rconn_leave(rc);
}

static void
rconn_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rconn	*rc = arg;

	rconn_enter(rc);
	if (!rc->dead && rc->ac == NULL)
		rconn_start(rc);
	rconn_leave(rc);
}

static char *
xstrdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct rconn *
rconn_new(struct event_base *base, const struct rconn_conf *conf,
    rconn_state_cb state_cb, void *arg)
{
	struct rconn	*rc;

	rc = xcalloc(1, sizeof(*rc));
	rc->base = base;
	rc->host = xstrdup(conf->host != NULL ? conf->host : "127.0.0.1");
	rc->port = conf->port != 0 ? conf->port : 6379;
	rc->unix_socket = xstrdup_or_null(conf->unix_socket);
	rc->username = xstrdup_or_null(conf->username);
	rc->password = xstrdup_or_null(conf->password);
	rc->db = conf->db;
	rc->name = xstrdup_or_null(conf->name);
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
	TAILQ_INIT(&rc->held);
	rc->connect_timer = evtimer_new(base, rconn_connect_timeout_cb, rc);
	rc->retry_timer = evtimer_new(base, rconn_retry_cb, rc);
	if (rc->connect_timer == NULL || rc->retry_timer == NULL)
		fatalx("%s: evtimer_new", __func__);
	return rc;
}

void
rconn_connect(struct rconn *rc)
{
	if (rc->dead || rc->ac != NULL ||
	    evtimer_pending(rc->retry_timer, NULL))
		return;
	rconn_enter(rc);
	rconn_start(rc);
	rconn_leave(rc);
}

static void
rconn_destroy(struct rconn *rc)
{
	struct rcmd	*c;

	/* Commands a deferred hiredis free still holds: let them go alone. */
	while ((c = TAILQ_FIRST(&rc->held)) != NULL) {
		TAILQ_REMOVE(&rc->held, c, hentry);
		c->rc = NULL;
	}
	event_free(rc->connect_timer);
	event_free(rc->retry_timer);
	free(rc->host);
	free(rc->unix_socket);
	free(rc->username);
	if (rc->password != NULL) {
		explicit_bzero(rc->password, strlen(rc->password));
		free(rc->password);
	}
	free(rc->name);
	free(rc);
}

void
rconn_free(struct rconn *rc)
{
	struct rcmd		*c;
	redisAsyncContext	*ac;

	if (rc == NULL || rc->dead)
		return;
	rconn_enter(rc);
	rc->dead = 1;
	rc->state = RCONN_CLOSED;
	evtimer_del(rc->retry_timer);
	while ((c = TAILQ_FIRST(&rc->cmds)) != NULL)
		rcmd_finish(c, NULL, "closed");
	while ((c = TAILQ_FIRST(&rc->deferred)) != NULL)
		rcmd_finish(c, NULL, "closed");
	/* Inside a hiredis callback, hiredis defers this until it returns. */
	if ((ac = rconn_detach(rc)) != NULL)
		redisAsyncFree(ac);
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
	return rc->state == RCONN_READY && rc->ac != NULL && !rc->dead;
}

int
rconn_command(struct rconn *rc, uint64_t timeout_ms, rconn_reply_cb cb,
    void *arg, const char *fmt, ...)
{
	struct rcmd	*c;
	va_list		 ap;
	int		 r;

	if (rc->dead)
		return -1;
	c = rcmd_new(rc, RCMD_USER, cb, arg);
	if (!rconn_ready(rc)) {
		rcmd_defer_failure(rc, c, "not connected");
		return -1;
	}
	va_start(ap, fmt);
	r = redisvAsyncCommand(rc->ac, rcmd_on_reply, c, fmt, ap);
	va_end(ap);
	if (r != REDIS_OK) {
		rcmd_defer_failure(rc, c, "cannot send command");
		return -1;
	}
	rcmd_sent(rc, c);
	rcmd_arm(rc, c, timeout_ms);
	return 0;
}

int
rconn_commandargv(struct rconn *rc, uint64_t timeout_ms, rconn_reply_cb cb,
    void *arg, int argc, const char **argv, const size_t *argvlen)
{
	struct rcmd	*c;

	if (rc->dead)
		return -1;
	c = rcmd_new(rc, RCMD_USER, cb, arg);
	if (!rconn_ready(rc)) {
		rcmd_defer_failure(rc, c, "not connected");
		return -1;
	}
	if (redisAsyncCommandArgv(rc->ac, rcmd_on_reply, c, argc, argv,
	    argvlen) != REDIS_OK) {
		rcmd_defer_failure(rc, c, "cannot send command");
		return -1;
	}
	rcmd_sent(rc, c);
	rcmd_arm(rc, c, timeout_ms);
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

const char *
rconn_peer(const struct rconn *rc)
{
	return rc->peer;
}

int
rconn_tls(const struct rconn *rc)
{
	return 0;
}
