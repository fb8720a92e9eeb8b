/*
 * rosterctl's connection to Redis, blocking (a command-line tool waits for
 * each answer anyway), with rosterd's settings and rosterd's TLS policy
 * (common/tls.c): TCP or a unix socket, TLS when [redis] tls is on, AUTH
 * and SELECT; with [redis] sentinels, the primary asked of the Sentinels
 * in turn first.  hiredis formats the commands and reads the replies, as
 * in rosterd; the bytes go over the socket or OpenSSL here.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/err.h>

#include "conf.h"
#include "ctl_conn.h"
#include "tls.h"
#include "xmalloc.h"

#define CONN_TIMEOUT_S	5

static int		 fd = -1;
static SSL_CTX		*ssl_ctx;
static SSL		*ssl;
static redisReader	*reader;
static char		 where[300];	/* host:port or the socket */
static char		 error[1024];	/* why the last call failed */

static void
set_timeout(int seconds)
{
	struct timeval tv = { seconds, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int
connect_unix(const char *path)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	xstrlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	set_timeout(CONN_TIMEOUT_S);
	return connect(fd, (struct sockaddr *)&sun, sizeof(sun));
}

/* Each address of host in turn, as resolved now. */
static int
connect_tcp(const char *host, int port)
{
	struct addrinfo hints, *res, *ai;
	char service[16];
	int r, saved = ECONNREFUSED;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%d", port);
	if ((r = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(error, sizeof(error), "cannot resolve %s: %s", host,
		    gai_strerror(r));
		return -2;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol)) == -1)
			continue;
		set_timeout(CONN_TIMEOUT_S);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	errno = saved;
	return fd == -1 ? -1 : 0;
}

static int
start_tls(const struct conf *c, const char *host)
{
	struct tls_conf tc = {
		.ca_file = c->redis_tls_ca_file,
		.server_name = c->redis_tls_server_name,
		.cert_file = c->redis_tls_cert_file,
		.key_file = c->redis_tls_key_file,
	};
	char err[256];

	if ((ssl_ctx == NULL &&
	    (ssl_ctx = tls_ctx_new(&tc, err, sizeof(err))) == NULL) ||
	    (ssl = tls_ssl_new(ssl_ctx, &tc, host, err, sizeof(err))) == NULL) {
		snprintf(error, sizeof(error), "TLS: %s", err);
		return -1;
	}
	ERR_clear_error();
	if (SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
		tls_describe(ssl, ERR_get_error(), "TLS", error,
		    sizeof(error));
		return -1;
	}
	return 0;
}

static ssize_t
conn_write(const char *p, size_t len)
{
	int n;

	if (ssl == NULL)
		return write(fd, p, len);
	ERR_clear_error();
	n = SSL_write(ssl, p, (int)len);
	if (n <= 0 && SSL_get_error(ssl, n) != SSL_ERROR_SYSCALL)
		errno = EPROTO;
	return n;
}

static ssize_t
conn_read(char *p, size_t len)
{
	int n;

	if (ssl == NULL)
		return read(fd, p, len);
	ERR_clear_error();
	n = SSL_read(ssl, p, (int)len);
	if (n < 0 && SSL_get_error(ssl, n) != SSL_ERROR_SYSCALL)
		errno = EPROTO;
	return n;
}

static int
send_all(const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = conn_write(p, len)) <= 0) {
			snprintf(error, sizeof(error), "%s",
			    errno == EAGAIN ? "timeout" : strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The next reply; NULL and error set on failure. */
redisReply *
ctl_conn_read(void)
{
	void *reply = NULL;
	char buf[16384];
	ssize_t n;

	for (;;) {
		if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
			snprintf(error, sizeof(error), "protocol error: %s",
			    reader->errstr);
			return NULL;
		}
		if (reply != NULL)
			return reply;
		if ((n = conn_read(buf, sizeof(buf))) <= 0) {
			snprintf(error, sizeof(error), "%s", n == 0 ?
			    "connection closed by the server" :
			    errno == EAGAIN ? "timeout" : strerror(errno));
			return NULL;
		}
		if (redisReaderFeed(reader, buf, (size_t)n) != REDIS_OK) {
			snprintf(error, sizeof(error), "cannot read the reply");
			return NULL;
		}
	}
}

/* Wait for replies without a time limit (rosterctl watch). */
void
ctl_conn_wait_forever(void)
{
	set_timeout(0);
}

static redisReply *
send_formatted(char *cmd, int len)
{
	redisReply *r;

	if (len < 0) {
		snprintf(error, sizeof(error), "cannot format a command");
		return NULL;
	}
	r = send_all(cmd, (size_t)len) == 0 ? ctl_conn_read() : NULL;
	redisFreeCommand(cmd);
	return r;
}

redisReply *
ctl_conn_vcommand(const char *fmt, va_list ap)
{
	char *cmd = NULL;
	int len = redisvFormatCommand(&cmd, fmt, ap);

	return send_formatted(cmd, len);
}

redisReply *
ctl_conn_argv(int argc, const char **argv, const size_t *lens)
{
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, lens);

	return send_formatted(cmd, len);
}

/* Why the last command got no reply. */
const char *
ctl_conn_error(void)
{
	return error;
}

/* A setup command of the connection, which must succeed. */
static int
setup(int argc, const char **argv)
{
	redisReply *r = ctl_conn_argv(argc, argv, NULL);
	int failed;

	if (r == NULL)
		return -1;
	if ((failed = r->type == REDIS_REPLY_ERROR))
		snprintf(error, sizeof(error), "%s failed: %s", argv[0], r->str);
	freeReplyObject(r);
	return failed ? -1 : 0;
}

/* The connection's end, so that another may follow. */
static void
conn_drop(void)
{
	if (ssl != NULL)
		SSL_free(ssl);
	if (reader != NULL)
		redisReaderFree(reader);
	if (fd != -1)
		close(fd);
	ssl = NULL;
	reader = NULL;
	fd = -1;
}

/*
 * Connect to host:port (or the socket), TLS as configured, AUTH as user
 * (none when pass is ""); -1 and why in error.
 */
static int
conn_open(const struct conf *c, const char *host, int port,
    const char *user, const char *pass)
{
	const char *argv[3];
	int r;

	conn_drop();
	if (host == NULL) {
		xstrlcpy(where, c->redis_socket, sizeof(where));
		r = connect_unix(c->redis_socket);
	} else {
		snprintf(where, sizeof(where), strchr(host, ':') ?
		    "[%s]:%d" : "%s:%d", host, port);
		r = connect_tcp(host, port);
	}
	if (r == -1)
		snprintf(error, sizeof(error), "%s", strerror(errno));
	if (r != 0)
		return -1;
	if ((reader = redisReaderCreate()) == NULL) {
		snprintf(error, sizeof(error), "out of memory");
		return -1;
	}
	if (c->redis_tls && start_tls(c, host) == -1)
		return -1;
	if (*pass == '\0')
		return 0;
	argv[0] = "AUTH";
	argv[1] = *user != '\0' ? user : pass;
	argv[2] = pass;
	return setup(*user != '\0' ? 3 : 2, argv);
}

/* The primary's address, asked of the Sentinels in turn; -1 and why. */
static int
sentinel_primary(const struct conf *c, char **host, int *port)
{
	struct conf_addr *s;
	const char *argv[3] = { "SENTINEL", "get-master-addr-by-name",
	    c->redis_master_name };
	redisReply *r;
	int n, i, unknown = 0;

	if ((n = conf_hostports(c->redis_sentinels, &s, NULL, 0)) <= 0) {
		snprintf(error, sizeof(error), "[redis] sentinels: nothing to "
		    "ask");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (conn_open(c, s[i].host, s[i].port,
		    c->redis_sentinel_username,
		    c->redis_sentinel_password) == -1 ||
		    (r = ctl_conn_argv(3, argv, NULL)) == NULL)
			continue;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    r->element[1]->type == REDIS_REPLY_STRING) {
			*host = xstrdup(r->element[0]->str);
			*port = atoi(r->element[1]->str);
			freeReplyObject(r);
			conf_addrs_free(s, n);
			return 0;
		}
		unknown += r->type == REDIS_REPLY_NIL;
		freeReplyObject(r);
	}
	conf_addrs_free(s, n);
	if (unknown > 0)
		snprintf(error, sizeof(error), "the Sentinels do not know a "
		    "master named %s", c->redis_master_name);
	else
		snprintf(error, sizeof(error), "no Sentinel reachable (%d "
		    "tried: [redis] sentinels)", n);
	return -1;
}

/* Connect as [redis] says; -1 and why in ctl_conn_error(). */
int
ctl_conn_open(const struct conf *c)
{
	const char *argv[2];
	char db[16], *host = NULL, why[512];
	int port = c->redis_port;

	if (c->redis_sentinels[0] != '\0') {
		if (sentinel_primary(c, &host, &port) == -1)
			return -1;
	} else if (c->redis_socket[0] == '\0')
		host = xstrdup(c->redis_host);
	if (conn_open(c, host, port, c->redis_username,
	    c->redis_password) == -1) {
		free(host);
		xstrlcpy(why, error, sizeof(why));
		snprintf(error, sizeof(error), "cannot connect to Redis at "
		    "%s: %s", where, why);
		return -1;
	}
	free(host);
	if (c->redis_db == 0)
		return 0;
	snprintf(db, sizeof(db), "%d", c->redis_db);
	argv[0] = "SELECT";
	argv[1] = db;
	return setup(2, argv);
}

void
ctl_conn_close(void)
{
	conn_drop();
	if (ssl_ctx != NULL)
		SSL_CTX_free(ssl_ctx);
	ssl_ctx = NULL;
}
