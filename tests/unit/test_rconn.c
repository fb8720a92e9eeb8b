/*
 * rconn against a real redis-server (tests/unit/redis_helper.c): replies,
 * AUTH/SELECT/SETNAME, per-command timeouts, reconnects, failures while
 * disconnected and rconn_free() from inside callbacks.  The event loop is
 * driven until the awaited event happens, with a safety deadline.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "rconn.h"
#include "redis_helper.h"
#include "test_loop.h"
#include "xmalloc.h"

#define DEADLINE_MS	10000

struct fixture {
	struct event_base	*base;
	struct test_redis	*tr;
	struct rconn		*rc;
	enum rconn_state	 state;
	int			 nready;
	int			 ndown;
	int			 free_on_ready;
};

struct result {
	int		 called;
	int		 ncalls;
	int		 type;		/* reply type, -1 if no reply */
	long long	 integer;
	char		 str[128];
	char		 err[64];	/* "" when err was NULL */
	struct rconn	*free_rc;	/* rconn_free() this from the callback */
	int		*order;		/* append our id here when called */
	int		*norder;
	int		 id;
};

/* Set while inside an rconn call: callbacks must never run then. */
static int in_api;

static void
on_state(struct rconn *rc, enum rconn_state st, void *arg)
{
	struct fixture	*f = arg;

	assert_false(in_api);
	f->state = st;
	if (st == RCONN_READY)
		f->nready++;
	if (st == RCONN_DISCONNECTED)
		f->ndown++;
	if (st == RCONN_READY && f->free_on_ready) {
		rconn_free(rc);
		f->rc = NULL;
	}
}

static void
on_reply(struct rconn *rc, redisReply *reply, const char *err, void *arg)
{
	struct result	*r = arg;

	assert_false(in_api);
	r->called = 1;
	r->ncalls++;
	r->type = reply != NULL ? reply->type : -1;
	snprintf(r->err, sizeof(r->err), "%s", err != NULL ? err : "");
	if (reply != NULL) {
		assert_null(err);
		r->integer = reply->integer;
		if (reply->str != NULL)
			snprintf(r->str, sizeof(r->str), "%s", reply->str);
	} else
		assert_non_null(err);
	if (r->order != NULL)
		r->order[(*r->norder)++] = r->id;
	if (r->free_rc != NULL) {
		rconn_free(r->free_rc);
		r->free_rc = NULL;
	}
}

static int
run_until(struct event_base *base, const int *flag)
{
	return run_until_ms(base, flag, DEADLINE_MS);
}

static int
run_until_state(struct fixture *f, enum rconn_state st)
{
	uint64_t	deadline = mono_ms() + DEADLINE_MS;
	int		flag;

	while (f->state != st && mono_ms() < deadline) {
		flag = 0;
		run_until_ms(f->base, &flag, 50);
	}
	return f->state == st;
}

static struct rconn_conf
conf_for(const struct test_redis *tr)
{
	struct rconn_conf	c;

	memset(&c, 0, sizeof(c));
	c.host = test_redis_host(tr);
	c.port = test_redis_port(tr);
	c.connect_timeout_ms = 2000;
	c.command_timeout_ms = 2000;
	return c;
}

static void
fixture_connect(struct fixture *f, const struct rconn_conf *c)
{
	f->rc = rconn_new(f->base, c, on_state, f);
	assert_int_equal(rconn_state(f->rc), RCONN_DISCONNECTED);
	rconn_connect(f->rc);
	assert_true(run_until_state(f, RCONN_READY));
}

static int
setup(void **state)
{
	struct fixture	*f;

	f = xcalloc(1, sizeof(*f));
	f->base = event_base_new();
	f->tr = test_redis_start(NULL);
	if (f->base == NULL || f->tr == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	if (f->rc != NULL)
		rconn_free(f->rc);
	test_redis_stop(f->tr);
	event_base_free(f->base);
	free(f);
	return 0;
}

static redisContext *
sync_client(const struct test_redis *tr, const char *password)
{
	redisContext	*c;
	redisReply	*r;

	c = redisConnect(test_redis_host(tr), test_redis_port(tr));
	assert_non_null(c);
	assert_int_equal(c->err, 0);
	if (password != NULL) {
		r = redisCommand(c, "AUTH %s", password);
		assert_non_null(r);
		assert_int_equal(r->type, REDIS_REPLY_STATUS);
		freeReplyObject(r);
	}
	return c;
}

static void
sync_ok(redisContext *c, const char *cmd)
{
	redisReply	*r;

	r = redisCommand(c, cmd);
	assert_non_null(r);
	assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
}

static int
command(struct rconn *rc, uint64_t timeout, struct result *r, const char *fmt,
    const char *a1, const char *a2)
{
	int	ret;

	memset(r, 0, sizeof(*r));
	in_api = 1;
	ret = rconn_command(rc, timeout, on_reply, r, fmt, a1, a2);
	in_api = 0;
	return ret;
}

static void
test_commands(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c = conf_for(f->tr);
	struct result		 r1, r2, r3, r4;
	const char		*argv[] = { "SET", "bin", "a\0b" };
	size_t			 argvlen[] = { 3, 3, 3 };

	fixture_connect(f, &c);
	assert_int_equal(f->nready, 1);

	assert_int_equal(command(f->rc, 0, &r1, "SET %s %s", "k", "v1"), 0);
	assert_int_equal(command(f->rc, 0, &r2, "GET %s", "k", NULL), 0);
	assert_int_equal(command(f->rc, 0, &r3, "INCR %s", "k", NULL), 0);
	assert_int_equal(rconn_pending(f->rc), 3);
	assert_true(run_until(f->base, &r3.called));
	assert_int_equal(rconn_pending(f->rc), 0);
	assert_int_equal(r1.type, REDIS_REPLY_STATUS);
	assert_string_equal(r1.str, "OK");
	assert_int_equal(r2.type, REDIS_REPLY_STRING);
	assert_string_equal(r2.str, "v1");
	/* A Redis error reply is a reply: err stays NULL. */
	assert_int_equal(r3.type, REDIS_REPLY_ERROR);
	assert_string_equal(r3.err, "");

	memset(&r4, 0, sizeof(r4));
	in_api = 1;
	assert_int_equal(rconn_commandargv(f->rc, 0, on_reply, &r4, 3, argv,
	    argvlen), 0);
	in_api = 0;
	assert_true(run_until(f->base, &r4.called));
	assert_int_equal(r4.type, REDIS_REPLY_STATUS);
	assert_int_equal(command(f->rc, 0, &r1, "STRLEN %s", "bin", NULL), 0);
	assert_true(run_until(f->base, &r1.called));
	assert_int_equal(r1.integer, 3);
	assert_int_equal(r1.ncalls, 1);
}

static void
test_auth_select_name(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c;
	struct result		 r;
	redisContext		*sc;
	redisReply		*rep;

	test_redis_stop(f->tr);
	f->tr = test_redis_start("requirepass s3cret");
	assert_non_null(f->tr);
	c = conf_for(f->tr);
	c.password = "s3cret";
	c.db = 3;
	c.name = "rosterd-test";
	fixture_connect(f, &c);

	assert_int_equal(command(f->rc, 0, &r, "SET %s %s", "in3", "yes"), 0);
	assert_true(run_until(f->base, &r.called));
	assert_string_equal(r.err, "");
	assert_int_equal(command(f->rc, 0, &r, "CLIENT GETNAME", NULL, NULL),
	    0);
	assert_true(run_until(f->base, &r.called));
	assert_string_equal(r.str, "rosterd-test");

	sc = sync_client(f->tr, "s3cret");
	rep = redisCommand(sc, "GET in3");
	assert_int_equal(rep->type, REDIS_REPLY_NIL);	/* not in db 0 */
	freeReplyObject(rep);
	sync_ok(sc, "SELECT 3");
	rep = redisCommand(sc, "GET in3");
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	assert_string_equal(rep->str, "yes");
	freeReplyObject(rep);
	redisFree(sc);
}

static void
test_wrong_password(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c;
	int			 never = 0;

	test_redis_stop(f->tr);
	f->tr = test_redis_start("requirepass s3cret");
	assert_non_null(f->tr);
	c = conf_for(f->tr);
	c.password = "wrong";
	f->rc = rconn_new(f->base, &c, on_state, f);
	rconn_connect(f->rc);
	/* Give it time for a few attempts (backoff 100, 200 ms ...). */
	run_until_ms(f->base, &never, 600);
	assert_int_equal(f->nready, 0);
	assert_true(f->ndown >= 2);
	assert_int_not_equal(rconn_state(f->rc), RCONN_READY);
}

static void
test_timeout_recovers(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c = conf_for(f->tr);
	struct result		 slow, other, after;
	redisContext		*sc;
	uint64_t		 t0;

	fixture_connect(f, &c);
	sc = sync_client(f->tr, NULL);
	/* Every other client's commands wait for 700 ms. */
	sync_ok(sc, "CLIENT PAUSE 700");

	t0 = mono_ms();
	assert_int_equal(command(f->rc, 100, &slow, "GET %s", "a", NULL), 0);
	assert_int_equal(command(f->rc, 5000, &other, "GET %s", "b", NULL), 0);
	assert_true(run_until(f->base, &slow.called));
	assert_true(mono_ms() - t0 >= 90);	/* not early */
	assert_string_equal(slow.err, "timeout");
	assert_int_equal(slow.type, -1);
	/* The connection was dropped: the other pending command fails too. */
	assert_true(other.called);
	assert_string_equal(other.err, "disconnected");
	assert_int_equal(rconn_pending(f->rc), 0);
	assert_int_not_equal(rconn_state(f->rc), RCONN_READY);

	/* It reconnects once redis serves clients again. */
	assert_true(run_until_state(f, RCONN_READY));
	assert_int_equal(f->nready, 2);
	assert_int_equal(command(f->rc, 0, &after, "PING", NULL, NULL), 0);
	assert_true(run_until(f->base, &after.called));
	assert_string_equal(after.str, "PONG");
	assert_int_equal(slow.ncalls, 1);
	assert_int_equal(other.ncalls, 1);
	redisFree(sc);
}

/*
 * A process frozen (SIGSTOP, a blocked loop) past its command timeout:
 * the replies arrived meanwhile and are read before any command is
 * declared timed out; the connection is kept.  The replies (64 x 4 KB)
 * need many reads, which the loop does one per turn.
 */
static void
test_pause_reads_arrived_replies_first(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c = conf_for(f->tr);
	struct result		 r[64];
	redisContext		*sc;
	redisReply		*rep;
	char			 big[4097];
	int			 i;

	c.command_timeout_ms = 200;
	fixture_connect(f, &c);
	sc = sync_client(f->tr, NULL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rep = redisCommand(sc, "SET big %s", big);
	freeReplyObject(rep);
	for (i = 0; i < 64; i++)
		assert_int_equal(command(f->rc, 0, &r[i], "GET %s", "big",
		    NULL), 0);
	/* the commands are out and the first reply is in ... */
	assert_true(run_until(f->base, &r[0].called));
	/* ... then the process stops for longer than the timeout (the
	   condition under test, not a synchronisation) */
	usleep(400 * 1000);
	/* replies come in order: the last one called means all were */
	assert_true(run_until(f->base, &r[63].called));
	for (i = 0; i < 64; i++) {
		assert_true(r[i].called);
		assert_string_equal(r[i].err, "");
		assert_int_equal(r[i].type, REDIS_REPLY_STRING);
	}
	assert_int_equal(f->nready, 1);		/* never reconnected */
	assert_int_equal(f->ndown, 0);
	redisFree(sc);
}

static void
test_reconnect_after_restart(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c = conf_for(f->tr);
	struct result		 r;

	fixture_connect(f, &c);
	test_redis_kill(f->tr);
	assert_true(run_until_state(f, RCONN_DISCONNECTED));

	/* Not READY: fails from the loop, not from inside the call. */
	assert_int_equal(command(f->rc, 0, &r, "PING", NULL, NULL), -1);
	assert_false(r.called);
	assert_int_equal(rconn_pending(f->rc), 1);
	assert_true(run_until(f->base, &r.called));
	assert_string_equal(r.err, "not connected");
	assert_int_equal(rconn_pending(f->rc), 0);

	assert_int_equal(test_redis_resume(f->tr), 0);
	assert_true(run_until_state(f, RCONN_READY));
	assert_int_equal(f->nready, 2);
	assert_int_equal(command(f->rc, 0, &r, "PING", NULL, NULL), 0);
	assert_true(run_until(f->base, &r.called));
	assert_string_equal(r.str, "PONG");
}

static void
test_server_closes_pending(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c = conf_for(f->tr);
	struct result		 blocked, r;
	redisContext		*sc;

	c.name = "victim";
	fixture_connect(f, &c);
	assert_int_equal(command(f->rc, 30000, &blocked, "BLPOP %s %s",
	    "nothing", "0"), 0);
	/* Make sure BLPOP reached the server before killing the client. */
	assert_int_equal(command(f->rc, 0, &r, "PING", NULL, NULL), 0);
	sc = sync_client(f->tr, NULL);
	while (!blocked.called) {
		redisReply *rep = redisCommand(sc, "CLIENT KILL TYPE normal "
		    "SKIPME yes");
		assert_non_null(rep);
		freeReplyObject(rep);
		run_until_ms(f->base, &blocked.called, 50);
	}
	assert_string_equal(blocked.err, "disconnected");
	assert_true(run_until(f->base, &r.called));
	assert_string_equal(r.err, "disconnected");
	assert_true(run_until_state(f, RCONN_READY));
	assert_int_equal(command(f->rc, 0, &r, "CLIENT GETNAME", NULL, NULL),
	    0);
	assert_true(run_until(f->base, &r.called));
	assert_string_equal(r.str, "victim");
	redisFree(sc);
}

static void
test_free_in_reply_callback(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c = conf_for(f->tr);
	struct result		 r[3];
	int			 order[3], norder = 0, i;

	fixture_connect(f, &c);
	for (i = 0; i < 3; i++) {
		assert_int_equal(command(f->rc, 0, &r[i], "PING", NULL, NULL),
		    0);
		r[i].order = order;
		r[i].norder = &norder;
		r[i].id = i;
	}
	r[0].free_rc = f->rc;
	f->rc = NULL;
	assert_true(run_until(f->base, &r[0].called));
	/* rconn_free() failed the others before returning. */
	assert_int_equal(norder, 3);
	assert_int_equal(order[0], 0);
	assert_string_equal(r[0].str, "PONG");
	assert_string_equal(r[1].err, "closed");
	assert_string_equal(r[2].err, "closed");
	/* Nothing else arrives later. */
	for (i = 0; i < 5; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	for (i = 0; i < 3; i++)
		assert_int_equal(r[i].ncalls, 1);
}

static void
test_free_in_timeout_callback(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c = conf_for(f->tr);
	struct result		 slow, other;
	redisContext		*sc;

	fixture_connect(f, &c);
	sc = sync_client(f->tr, NULL);
	sync_ok(sc, "CLIENT PAUSE 500");
	assert_int_equal(command(f->rc, 50, &slow, "PING", NULL, NULL), 0);
	assert_int_equal(command(f->rc, 0, &other, "PING", NULL, NULL), 0);
	slow.free_rc = f->rc;
	f->rc = NULL;
	assert_true(run_until(f->base, &slow.called));
	assert_string_equal(slow.err, "timeout");
	assert_true(other.called);
	assert_int_equal(other.ncalls, 1);
	redisFree(sc);
}

static void
test_free_in_state_callback(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c = conf_for(f->tr);
	int			 never = 0;

	f->free_on_ready = 1;
	f->rc = rconn_new(f->base, &c, on_state, f);
	rconn_connect(f->rc);
	assert_true(run_until(f->base, &f->nready));
	assert_null(f->rc);
	run_until_ms(f->base, &never, 50);
	assert_int_equal(f->nready, 1);
}

static void
test_free_with_pending(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c = conf_for(f->tr);
	struct result		 sent, deferred;

	fixture_connect(f, &c);
	assert_int_equal(command(f->rc, 0, &sent, "PING", NULL, NULL), 0);
	rconn_free(f->rc);
	f->rc = NULL;
	assert_true(sent.called);
	assert_string_equal(sent.err, "closed");

	/* A command failed for "not connected" is also answered by free. */
	f->rc = rconn_new(f->base, &c, on_state, f);
	assert_int_equal(command(f->rc, 0, &deferred, "PING", NULL, NULL), -1);
	assert_false(deferred.called);
	rconn_free(f->rc);
	f->rc = NULL;
	assert_int_equal(deferred.ncalls, 1);
	assert_non_null(deferred.err);
}

static void
test_connect_refused_retries(void **state)
{
	struct fixture		*f = *state;
	struct rconn_conf	 c = conf_for(f->tr);
	uint64_t		 t0;

	test_redis_kill(f->tr);
	f->rc = rconn_new(f->base, &c, on_state, f);
	rconn_connect(f->rc);
	t0 = mono_ms();
	while (f->ndown < 3 && mono_ms() - t0 < DEADLINE_MS) {
		int never = 0;
		run_until_ms(f->base, &never, 20);
	}
	assert_true(f->ndown >= 3);
	assert_int_equal(test_redis_resume(f->tr), 0);
	assert_true(run_until_state(f, RCONN_READY));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_select_name, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_password, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timeout_recovers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_pause_reads_arrived_replies_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_after_restart,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_closes_pending,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_reply_callback,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_timeout_callback,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_state_callback,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_pending, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused_retries,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
