/*
 * Smoke test of the redis test helper: a real redis-server starts, answers
 * PING on its port, restarts on the same port, and is gone after stop.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "redis_helper.h"

static void
assert_ping(const struct test_redis *tr)
{
	redisContext	*c;
	redisReply	*r;

	c = redisConnect(test_redis_host(tr), test_redis_port(tr));
	assert_non_null(c);
	assert_int_equal(c->err, 0);
	r = redisCommand(c, "PING");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STATUS);
	assert_string_equal(r->str, "PONG");
	freeReplyObject(r);
	redisFree(c);
}

static int
port_accepts(int port)
{
	struct sockaddr_in	sin;
	int			fd, r;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return r == 0;
}

static void
test_start_ping_stop(void **state)
{
	struct test_redis	*tr;
	char			 dir[128];
	struct stat		 sb;
	int			 port;

	tr = test_redis_start(NULL);
	assert_non_null(tr);
	port = test_redis_port(tr);
	assert_true(port > 0);
	snprintf(dir, sizeof(dir), "%s", test_redis_dir(tr));
	assert_int_equal(stat(dir, &sb), 0);
	assert_ping(tr);

	test_redis_stop(tr);
	assert_false(port_accepts(port));
	assert_int_equal(stat(dir, &sb), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_extra_conf(void **state)
{
	struct test_redis	*tr;
	redisContext		*c;
	redisReply		*r;

	tr = test_redis_start("requirepass s3cret");
	assert_non_null(tr);
	c = redisConnect(test_redis_host(tr), test_redis_port(tr));
	assert_non_null(c);
	r = redisCommand(c, "PING");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
	r = redisCommand(c, "AUTH s3cret");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STATUS);
	freeReplyObject(r);
	redisFree(c);
	test_redis_stop(tr);
}

static void
test_restart_same_port(void **state)
{
	struct test_redis	*tr;
	int			 port;

	tr = test_redis_start(NULL);
	assert_non_null(tr);
	port = test_redis_port(tr);
	test_redis_kill(tr);
	assert_false(port_accepts(port));
	assert_int_equal(test_redis_resume(tr), 0);
	assert_int_equal(test_redis_port(tr), port);
	assert_ping(tr);
	assert_int_equal(test_redis_restart(tr), 0);
	assert_ping(tr);
	test_redis_stop(tr);
}

static void
test_two_servers(void **state)
{
	struct test_redis	*a, *b;

	a = test_redis_start(NULL);
	b = test_redis_start(NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_not_equal(test_redis_port(a), test_redis_port(b));
	assert_ping(a);
	assert_ping(b);
	test_redis_stop(a);
	test_redis_stop(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_ping_stop),
		cmocka_unit_test(test_extra_conf),
		cmocka_unit_test(test_restart_same_port),
		cmocka_unit_test(test_two_servers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
