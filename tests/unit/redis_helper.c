/*
 * Start and stop a real redis-server for tests.  See redis_helper.h.
 *
 * The port comes from binding 127.0.0.1:0 and closing the socket; another
 * process may take it before redis does, so a start that fails with a bind
 * error is retried on a new port.  Readiness is the server's log line on
 * its stdout (a pipe), read with poll() against a safety deadline.
 */

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "redis_helper.h"

#define TR_READY_LINE		"Ready to accept connections"
#define TR_START_TRIES		5
#define TR_START_DEADLINE_MS	15000
#define TR_LOG_MAX		8192

enum tr_start {
	TR_STARTED,
	TR_PORT_CLASH,		/* try again with another port */
	TR_FAILED,
};

struct test_redis {
	char	 dir[64];
	char	 conf[96];
	int	 port;
	pid_t	 pid;		/* -1 when not running */
	char	 log[TR_LOG_MAX];	/* output up to readiness */
	size_t	 loglen;
};

static long long
tr_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
tr_free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
tr_write_conf(struct test_redis *tr, const char *extra)
{
	FILE	*f;

	if ((f = fopen(tr->conf, "w")) == NULL)
		return -1;
	if (extra != NULL)
		fprintf(f, "%s\n", extra);
	return fclose(f);
}

static void
tr_exec(struct test_redis *tr, int outfd)
{
	char	 port[16];

	snprintf(port, sizeof(port), "%d", tr->port);
	/* Do not outlive the test if it crashes. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	dup2(outfd, STDOUT_FILENO);
	dup2(outfd, STDERR_FILENO);
	execlp("redis-server", "redis-server", tr->conf,
	    "--port", port, "--bind", "127.0.0.1", "--save", "",
	    "--appendonly", "no", "--dir", tr->dir, "--daemonize", "no",
	    "--logfile", "", (char *)NULL);
	_exit(127);
}

/* Read the server's output until it is ready, exits, or the deadline. */
static enum tr_start
tr_wait_ready(struct test_redis *tr, int fd)
{
	long long	 deadline = tr_now_ms() + TR_START_DEADLINE_MS;
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	ssize_t		 n;
	long long	 left;

	tr->loglen = 0;
	tr->log[0] = '\0';
	for (;;) {
		if (strstr(tr->log, TR_READY_LINE) != NULL)
			return TR_STARTED;
		if ((left = deadline - tr_now_ms()) <= 0) {
			fprintf(stderr, "redis-server not ready in time\n");
			return TR_FAILED;
		}
		if (poll(&pfd, 1, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			return TR_FAILED;
		}
		if (tr->loglen + 1 >= sizeof(tr->log))	/* keep the tail */
			tr->loglen = 0;
		n = read(fd, tr->log + tr->loglen,
		    sizeof(tr->log) - 1 - tr->loglen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;		/* exited before being ready */
		tr->loglen += (size_t)n;
		tr->log[tr->loglen] = '\0';
	}
	if (strstr(tr->log, "Address already in use") != NULL)
		return TR_PORT_CLASH;
	fprintf(stderr, "redis-server failed to start:\n%s\n", tr->log);
	return TR_FAILED;
}

static void
tr_reap(struct test_redis *tr, int sig)
{
	int	status;

	if (tr->pid == -1)
		return;
	if (sig != 0)
		kill(tr->pid, sig);
	while (waitpid(tr->pid, &status, 0) == -1 && errno == EINTR)
		;
	tr->pid = -1;
}

static enum tr_start
tr_spawn(struct test_redis *tr)
{
	enum tr_start	 r;
	int		 p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return TR_FAILED;
	switch (tr->pid = fork()) {
	case -1:
		close(p[0]);
		close(p[1]);
		return TR_FAILED;
	case 0:
		close(p[0]);
		tr_exec(tr, p[1]);
		/* NOTREACHED */
	}
	close(p[1]);
	r = tr_wait_ready(tr, p[0]);
	/*
	 * Nobody reads the log from now on; redis ignores SIGPIPE and its
	 * later log writes simply fail, so it can never block on a full pipe.
	 */
	close(p[0]);
	if (r != TR_STARTED)
		tr_reap(tr, SIGKILL);
	return r;
}

static int
tr_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

struct test_redis *
test_redis_start(const char *extra_conf_lines)
{
	struct test_redis	*tr;
	int			 try;

	if ((tr = calloc(1, sizeof(*tr))) == NULL)
		return NULL;
	tr->pid = -1;
	snprintf(tr->dir, sizeof(tr->dir), "/tmp/rosterd-test-redis-XXXXXX");
	if (mkdtemp(tr->dir) == NULL) {
		perror("mkdtemp");
		free(tr);
		return NULL;
	}
	snprintf(tr->conf, sizeof(tr->conf), "%s/redis.conf", tr->dir);
	if (tr_write_conf(tr, extra_conf_lines) == -1)
		goto fail;
	for (try = 0; try < TR_START_TRIES; try++) {
		if ((tr->port = tr_free_port()) == -1)
			goto fail;
		switch (tr_spawn(tr)) {
		case TR_STARTED:
			return tr;
		case TR_PORT_CLASH:
			continue;
		case TR_FAILED:
			goto fail;
		}
	}
fail:
	test_redis_stop(tr);
	return NULL;
}

void
test_redis_kill(struct test_redis *tr)
{
	tr_reap(tr, SIGTERM);
}

int
test_redis_resume(struct test_redis *tr)
{
	if (tr->pid != -1)
		return 0;
	/* SO_REUSEADDR lets redis bind its old port again at once. */
	return tr_spawn(tr) == TR_STARTED ? 0 : -1;
}

int
test_redis_restart(struct test_redis *tr)
{
	test_redis_kill(tr);
	return test_redis_resume(tr);
}

void
test_redis_stop(struct test_redis *tr)
{
	if (tr == NULL)
		return;
	tr_reap(tr, SIGTERM);
	nftw(tr->dir, tr_rm, 8, FTW_DEPTH | FTW_PHYS);
	free(tr);
}

int
test_redis_port(const struct test_redis *tr)
{
	return tr->port;
}

const char *
test_redis_host(const struct test_redis *tr)
{
	return "127.0.0.1";
}

const char *
test_redis_dir(const struct test_redis *tr)
{
	return tr->dir;
}

pid_t
test_redis_pid(const struct test_redis *tr)
{
	return tr->pid;
}
