/*
 * The Redis server rosterd works with, for the operator's signals (STATUS,
 * heartbeats, metrics) and for one check: its address and whether TLS
 * carries the connection (rconn), its role (ROLE), and from INFO memory
 * its maxmemory-policy and its used memory against maxmemory.
 *
 * Read when Redis is prepared (prepare.c refuses an evicting Redis) and on
 * every heartbeat (redisinfo_poll: a policy changed under a running
 * rosterd is a refusal, health.c).  Used memory past MEMORY_HIGH_PCT of
 * maxmemory is warned of at most every MEMORY_LOG_INTERVAL_MS, and told
 * when it is back under.  What the ACL does not allow (probe.c) is never
 * sent, and said once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

#define MEMORY_HIGH_PCT		90
#define MEMORY_LOG_INTERVAL_MS	300000

static struct {
	char		 role[16];	/* "": unknown */
	char		 policy[32];	/* maxmemory-policy; "": unknown */
	uint64_t	 used_memory;
	uint64_t	 maxmemory;	/* 0: no limit */
	int		 memory_known;
	int		 unread_told;	/* what cannot be read: said */
	int		 high_told;	/* the last memory news: "high" */
	uint64_t	 high_told_ms;	/* then; 0: never */
	int		 polling;
} s;

/* One read: ROLE and INFO memory, in flight. */
struct info_read {
	redisinfo_cb	 cb;
	unsigned	 pending;
	int		 lost;		/* the connection went meanwhile */
	int		 unread;	/* something could not be read */
};

static void
unread(struct info_read *ir, const char *what, const char *why)
{
	ir->unread = 1;
	if (s.unread_told)
		return;
	s.unread_told = 1;
	logf_warn(LF(.event = "redis_info_unread"), "cannot read %s of the "
	    "Redis server: %s; its maxmemory-policy (which must be "
	    "noeviction), memory and role go unchecked", what, why);
}

static void
read_done(struct info_read *ir)
{
	if (--ir->pending > 0)
		return;
	if (!ir->lost && !ir->unread)
		s.unread_told = 0;	/* a later failure is news */
	if (ir->cb != NULL)
		ir->cb(ir->lost);
	free(ir);
}

/*
 * The value of the line "name:value" of an INFO reply, into buf; -1 when
 * there is none.
 */
static int
info_field(const char *info, const char *name, char *buf, size_t len)
{
	size_t n = strlen(name), v;
	const char *p = info, *nl;

	for (;;) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			v = strcspn(p, "\r\n");
			if (v >= len)
				v = len - 1;
			memcpy(buf, p, v);
			buf[v] = '\0';
			return 0;
		}
		if ((nl = strchr(p, '\n')) == NULL)
			return -1;
		p = nl + 1;
	}
}

static int
info_u64(const char *info, const char *name, uint64_t *v)
{
	char buf[32], *end;

	if (info_field(info, name, buf, sizeof(buf)) == -1)
		return -1;
	*v = strtoull(buf, &end, 10);
	return end == buf || *end != '\0' ? -1 : 0;
}

/* Warn when Redis is nearly full, at a bounded rate; tell the end. */
static void
memory_check(void)
{
	uint64_t now = mono_ms();
	int high = s.maxmemory > 0 &&
	    s.used_memory * 100 >= s.maxmemory * MEMORY_HIGH_PCT;

	if (high && (s.high_told_ms == 0 ||
	    now - s.high_told_ms >= MEMORY_LOG_INTERVAL_MS)) {
		logf_warn(LF(.event = "redis_memory_high"), "Redis uses %llu%% "
		    "of its maxmemory (%llu of %llu bytes): once full it "
		    "refuses rosterd's writes; raise maxmemory or free memory",
		    (unsigned long long)(s.used_memory * 100 / s.maxmemory),
		    (unsigned long long)s.used_memory,
		    (unsigned long long)s.maxmemory);
		s.high_told = 1;
		s.high_told_ms = now;
	} else if (!high && s.high_told) {
		logf_info(LF(.event = "redis_memory_ok"), "Redis uses less "
		    "than %d%% of its maxmemory again (%llu of %llu bytes)",
		    MEMORY_HIGH_PCT, (unsigned long long)s.used_memory,
		    (unsigned long long)s.maxmemory);
		s.high_told = 0;
	}
}

static void
on_info(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct info_read *ir = arg;
	char policy[sizeof(s.policy)];

	if (r == NULL)
		ir->lost = 1;
	else if (r->type == REDIS_REPLY_STRING && info_field(r->str,
	    "maxmemory_policy", policy, sizeof(policy)) == 0) {
		xstrlcpy(s.policy, policy, sizeof(s.policy));
		s.memory_known = info_u64(r->str, "used_memory",
		    &s.used_memory) == 0 && info_u64(r->str, "maxmemory",
		    &s.maxmemory) == 0;
		if (s.memory_known)
			memory_check();
	} else {
		s.policy[0] = '\0';
		s.memory_known = 0;
		unread(ir, "INFO memory", r->type == REDIS_REPLY_ERROR ?
		    r->str : "no maxmemory_policy in its reply");
	}
	read_done(ir);
}

static void
on_role(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct info_read *ir = arg;

	if (r == NULL)
		ir->lost = 1;
	else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_STRING)
		xstrlcpy(s.role, r->element[0]->str, sizeof(s.role));
	else {
		s.role[0] = '\0';
		unread(ir, "ROLE", r->type == REDIS_REPLY_ERROR ? r->str :
		    "an unexpected reply");
	}
	read_done(ir);
}

/*
 * Read the server's role and memory (what the ACL allows of them); cb, if
 * any, runs once both have answered, lost if the connection went first.
 */
void
redisinfo_read(redisinfo_cb cb)
{
	struct info_read *ir = xcalloc(1, sizeof(*ir));
	int role = probe_allows(PROBE_ROLE), info = probe_allows(PROBE_INFO);

	ir->cb = cb;
	ir->pending = 1;	/* until both are sent */
	if (role) {
		ir->pending++;
		rconn_command(rd->rc, 0, on_role, ir, "ROLE");
	} else
		s.role[0] = '\0';
	if (info) {
		ir->pending++;
		rconn_command(rd->rc, 0, on_info, ir, "INFO memory");
	} else {
		s.policy[0] = '\0';
		s.memory_known = 0;
	}
	if (!role || !info)
		unread(ir, !role && !info ? "INFO and ROLE" : !info ? "INFO" :
		    "ROLE", "the Redis user may not run it (grant +info "
		    "+role)");
	read_done(ir);
}

/* A poll's answer: a policy changed under a running rosterd is told. */
static void
on_polled(int lost)
{
	s.polling = 0;
	if (!lost)
		health_redis_policy(redisinfo_policy());
}

/* Read again (the heartbeat's timer), unless a read is under way. */
void
redisinfo_poll(void)
{
	if (s.polling || rconn_state(rd->rc) != RCONN_READY)
		return;
	s.polling = 1;
	redisinfo_read(on_polled);
}

/* The maxmemory-policy last read, NULL when unknown. */
const char *
redisinfo_policy(void)
{
	return s.policy[0] != '\0' ? s.policy : NULL;
}

void
redisinfo_get(struct redis_server *sv)
{
	sv->address = rconn_peer(rd->rc);
	sv->tls = rconn_tls(rd->rc);
	sv->role = s.role[0] != '\0' ? s.role : "unknown";
	sv->policy = s.policy[0] != '\0' ? s.policy : "unknown";
	sv->memory_known = s.memory_known;
	sv->used_memory = s.used_memory;
	sv->maxmemory = s.maxmemory;
	sv->failovers = rconn_stats(rd->rc)->failovers;
}

/*
 * "127.0.0.1:6379 (master, tls off, noeviction)", with the failovers
 * followed if any; "" while there is no connection.
 */
void
redisinfo_describe(char *buf, size_t len)
{
	struct redis_server sv;

	redisinfo_get(&sv);
	if (sv.address[0] == '\0') {
		if (len > 0)
			buf[0] = '\0';
		return;
	}
	if (sv.failovers > 0)
		snprintf(buf, len, "%s (%s, tls %s, %s; %llu failovers "
		    "followed)", sv.address, sv.role, sv.tls ? "on" : "off",
		    sv.policy, (unsigned long long)sv.failovers);
	else
		snprintf(buf, len, "%s (%s, tls %s, %s)", sv.address, sv.role,
		    sv.tls ? "on" : "off", sv.policy);
}
