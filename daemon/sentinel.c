/*
 * Redis Sentinel, as Redis documents its client protocol: before every
 * connection to the primary, ask the Sentinels in turn for
 * SENTINEL get-master-addr-by-name, move the one that answered to the
 * front of the list, and connect there; the connection then checks ROLE
 * (rconn.c), so a Sentinel's stale answer is never trusted blindly.  A
 * lost connection, READONLY or a ROLE that is not master asks again.
 *
 * Each question is a short connection of its own (rconn, once), with
 * [redis] sentinel_username/_password and the TLS settings of [redis].
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "xmalloc.h"

/* One search: the Sentinels asked in turn. */
struct search {
	LIST_ENTRY(search)	 entry;
	struct rconn_locating	*locating;
	struct rconn		*conn;		/* to the Sentinel asked now */
	int			 next;		/* index of the next to ask */
	int			 asking;	/* index of the one asked */
	int			 unknown;	/* Sentinels that did not know */
	int			 answered;	/* a reply came (no resend) */
};

static struct conf_addr	*sentinels;	/* the one that answered first */
static int		 nsentinels;
static char		 last_primary[300];	/* to tell a change */
static LIST_HEAD(, search) searches = LIST_HEAD_INITIALIZER(searches);
static int		 stopping;	/* sentinel_free: end every search */
static unsigned		 ended;		/* searches ended, ever */

static void	search_next(struct search *);

static void
search_end(struct search *s, const char *host, int port, const char *err)
{
	LIST_REMOVE(s, entry);
	ended++;
	rconn_located(s->locating, host, port, err);
	free(s);
}

/* The Sentinel at i answered: it goes to the front of the list. */
static void
sentinel_first(int i)
{
	struct conf_addr a = sentinels[i];

	memmove(sentinels + 1, sentinels, (size_t)i * sizeof(*sentinels));
	sentinels[0] = a;
}

static void
on_master_addr(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct search	*s = arg;
	char		 where[300];
	int		 port;

	s->answered = 1;
	rconn_free(c);
	s->conn = NULL;
	if (stopping) {
		search_end(s, NULL, 0, "stopping");
		return;
	}
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[1]->type == REDIS_REPLY_STRING &&
	    (port = atoi(r->element[1]->str)) > 0 && port < 65536) {
		snprintf(where, sizeof(where), "%s:%d", r->element[0]->str,
		    port);
		if (strcmp(where, last_primary) != 0)
			logf_info(LF(.event = "redis_primary"), "Sentinel "
			    "%s:%d: the primary of %s is %s", sentinels[
			    s->asking].host, sentinels[s->asking].port,
			    rd->conf.redis_master_name, where);
		xstrlcpy(last_primary, where, sizeof(last_primary));
		sentinel_first(s->asking);
		search_end(s, r->element[0]->str, port, NULL);
		return;
	}
	if (r != NULL && r->type == REDIS_REPLY_NIL)
		s->unknown++;
	else
		log_debug("Sentinel %s:%d: %s", sentinels[s->asking].host,
		    sentinels[s->asking].port, err != NULL ? err :
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	search_next(s);
}

static void
on_sentinel_state(struct rconn *c, enum rconn_state st, void *arg)
{
	struct search	*s = arg;

	if (st == RCONN_READY) {
		rconn_command(c, 0, on_master_addr, s,
		    "SENTINEL get-master-addr-by-name %s",
		    rd->conf.redis_master_name);
		return;
	}
	if (st == RCONN_DISCONNECTED && !s->answered) {
		/* not reachable, or the setup refused: the next one */
		rconn_free(c);
		s->conn = NULL;
		if (stopping)
			search_end(s, NULL, 0, "stopping");
		else
			search_next(s);
	}
}

/* Ask the next Sentinel, or end the search with why none answered. */
static void
search_next(struct search *s)
{
	struct rconn_conf rcc;
	char why[256];

	if (s->next == nsentinels) {
		if (s->unknown > 0)
			snprintf(why, sizeof(why), "the Sentinels do not know "
			    "a master named %s ([redis] master_name)",
			    rd->conf.redis_master_name);
		else
			snprintf(why, sizeof(why), "no Sentinel reachable "
			    "(%d tried: [redis] sentinels)", nsentinels);
		search_end(s, NULL, 0, why);
		return;
	}
	s->asking = s->next++;
	s->answered = 0;
	rosterd_rconn_conf(&rcc, NULL);
	rcc.host = sentinels[s->asking].host;
	rcc.port = sentinels[s->asking].port;
	rcc.unix_socket = NULL;
	rcc.username = rd->conf.redis_sentinel_username;
	rcc.password = rd->conf.redis_sentinel_password;
	rcc.db = 0;
	rcc.any_role = 1;
	rcc.once = 1;
	rcc.locate = NULL;
	s->conn = rconn_new(rd->base, &rcc, on_sentinel_state, s);
	rconn_connect(s->conn);
}

/* rconn_locate_fn: where the primary is now. */
static void
sentinel_locate(struct rconn_locating *l, void *arg)
{
	struct search *s = xcalloc(1, sizeof(*s));

	s->locating = l;
	LIST_INSERT_HEAD(&searches, s, entry);
	search_next(s);
}

/* With [redis] sentinels, a connection asks them where the primary is. */
void
sentinel_conf(struct rconn_conf *rcc)
{
	if (nsentinels > 0)
		rcc->locate = sentinel_locate;
}

/* [redis] sentinels, in the order given to begin with. */
void
sentinel_init(void)
{
	char bad[256];

	sentinel_free();
	if ((nsentinels = conf_hostports(rd->conf.redis_sentinels, &sentinels,
	    bad, sizeof(bad))) == -1)
		fatalx_status(EXIT_CONFIG, "[redis] sentinels: bad entry %s",
		    bad);
}

void
sentinel_free(void)
{
	struct search	*s;
	struct rconn	*c;
	unsigned	 before;

	stopping = 1;
	while ((s = LIST_FIRST(&searches)) != NULL) {
		/*
		 * A command in flight fails into on_master_addr, which ends
		 * s; a connection still being made has none, and no callback
		 * comes: s is ended here (never its freed connection again).
		 */
		c = s->conn;
		s->conn = NULL;
		before = ended;
		rconn_free(c);
		if (ended == before)
			search_end(s, NULL, 0, "stopping");
	}
	stopping = 0;
	if (sentinels != NULL)
		conf_addrs_free(sentinels, nsentinels);
	sentinels = NULL;
	nsentinels = 0;
}
