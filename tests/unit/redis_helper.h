/*
 * Test helper: a real redis-server on a free loopback port in a fresh
 * temporary directory, with no persistence.  Start waits for the server's
 * own "Ready to accept connections" log line, never a sleep.
 */
#ifndef ROSTERD_TEST_REDIS_HELPER_H
#define ROSTERD_TEST_REDIS_HELPER_H

#include <sys/types.h>

struct test_redis;

/*
 * Start redis-server.  extra_conf_lines (may be NULL) is written into the
 * server's configuration file, e.g. "requirepass s3cret\n".  Returns NULL
 * and prints why on failure.
 */
struct test_redis	*test_redis_start(const char *extra_conf_lines);
/* SIGTERM, wait for exit, remove the temporary directory, free. */
void			 test_redis_stop(struct test_redis *);
/* Stop the server and start it again on the same port. 0 or -1. */
int			 test_redis_restart(struct test_redis *);
/* Stop the server only (to test reconnects); test_redis_resume starts it. */
void			 test_redis_kill(struct test_redis *);
int			 test_redis_resume(struct test_redis *);

int			 test_redis_port(const struct test_redis *);
const char		*test_redis_host(const struct test_redis *);
const char		*test_redis_dir(const struct test_redis *);
pid_t			 test_redis_pid(const struct test_redis *);

#endif
