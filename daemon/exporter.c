/*
 * The Prometheus exporter ([metrics] listen, libevent's evhttp): /metrics
 * renders the counters (metrics.c), the jobs in memory (jobs.c), the
 * state of Redis (health.c, the connections), the server it is on
 * (redisinfo.c) and, asked of Redis at each scrape, the queue's and the
 * diff stream's consumer groups (XINFO GROUPS) and the schedule's
 * figures, so it answers once Redis has.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rosterd.h"
#include "rosterd_version.h"
#include "xmalloc.h"

/* after rosterd.h: libevent's HTTP_OK macro would clash with http.h's */
#include <event2/buffer.h>
#include <event2/http.h>

static struct evhttp	*http;
static const struct metrics *m;	/* the counters, read */

/* ---- the Prometheus text format ---- */

static void
head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static void
hist_render(struct evbuffer *b, const char *name, const char *labels,
    const struct metrics_hist *h)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < h->n; i++) {
		cum += h->counts[i];
		evbuffer_add_printf(b, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n",
		    name, labels, *labels ? "," : "", h->bounds[i], cum);
	}
	evbuffer_add_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n",
	    name, labels, *labels ? "," : "", h->count);
	evbuffer_add_printf(b, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "",
	    labels, *labels ? "}" : "", h->sum);
	evbuffer_add_printf(b, "%s_count%s%s%s %" PRIu64 "\n", name,
	    *labels ? "{" : "", labels, *labels ? "}" : "", h->count);
}

static void
counter(struct evbuffer *b, const char *name, const char *help, uint64_t v)
{
	head(b, name, "counter", help);
	evbuffer_add_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void
gauge(struct evbuffer *b, const char *name, const char *help, double v)
{
	head(b, name, "gauge", help);
	evbuffer_add_printf(b, "%s %g\n", name, v);
}

/* A gauge of whole bytes, counts: exact where %g would round. */
static void
gauge_u64(struct evbuffer *b, const char *name, const char *help,
    uint64_t v)
{
	head(b, name, "gauge", help);
	evbuffer_add_printf(b, "%s %" PRIu64 "\n", name, v);
}

/* A label value: Prometheus escapes backslash, quote and newline. */
static void
label_value(struct evbuffer *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(b, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
}

static void
render_jobs(struct evbuffer *b)
{
	char labels[32];
	int k, o;

	head(b, "rosterd_jobs_total", "counter", "Jobs finished, by kind and "
	    "outcome.");
	for (k = 0; k < JOB_KIND_COUNT; k++)
		for (o = 0; o < OUT_COUNT; o++)
			evbuffer_add_printf(b, "rosterd_jobs_total{kind=\"%s\","
			    "outcome=\"%s\"} %" PRIu64 "\n", job_kind_names[k],
			    metrics_outcome_name(o), m->outcomes[k][o]);
	head(b, "rosterd_job_duration_seconds", "histogram", "From a job's "
	    "first start to its outcome (retries included).");
	for (k = 0; k < JOB_KIND_COUNT; k++) {
		snprintf(labels, sizeof(labels), "kind=\"%s\"", job_kind_names[k]);
		hist_render(b, "rosterd_job_duration_seconds", labels,
		    &m->duration[k]);
	}
	head(b, "rosterd_job_queue_wait_seconds", "histogram", "From a "
	    "request to its job's first start (Redis clock).");
	hist_render(b, "rosterd_job_queue_wait_seconds", "", &m->queue_wait);
	counter(b, "rosterd_job_retries_total", "Job attempts that failed "
	    "transiently and were scheduled again.", m->job_retries);
	counter(b, "rosterd_scheduled_syncs_total", "Sync jobs this instance "
	    "added for the freshness schedule.", m->scheduled);
}

static void
render_clever(struct evbuffer *b)
{
	size_t i;

	head(b, "rosterd_clever_requests_total", "counter", "Clever "
	    "responses, by endpoint and HTTP status (or connect, timeout, "
	    "too_large, transport when there was none).");
	for (i = 0; i < m->nclever; i++)
		evbuffer_add_printf(b, "rosterd_clever_requests_total{endpoint="
		    "\"%s\",status=\"%s\"} %" PRIu64 "\n", m->clever[i].endpoint,
		    m->clever[i].status, m->clever[i].n);
	counter(b, "rosterd_clever_rate_limited_total", "Clever answers 429.",
	    m->clever_429);
	counter(b, "rosterd_clever_request_retries_total", "Clever requests "
	    "retried after a transient failure.", m->clever_retries);
	head(b, "rosterd_rate_limit_wait_seconds_total", "counter", "Time "
	    "syncs waited for a token's rate-limit window.");
	evbuffer_add_printf(b, "rosterd_rate_limit_wait_seconds_total %.3f\n",
	    (double)m->rate_wait_ms / 1000);
}

static void
render_redis(struct evbuffer *b)
{
	static const char *const kinds[] = { "reply", "timeout",
	    "connection" };
	const struct rconn_stats *st[2] = { rconn_stats(rd->rc),
	    rconn_stats(rd->rq) };
	uint64_t connects = st[0]->connects + st[1]->connects;
	int k;

	head(b, "rosterd_redis_errors_total", "counter", "Redis commands that "
	    "failed: an error reply, a timeout, or no connection.");
	for (k = 0; k < RCONN_FAIL_COUNT; k++)
		evbuffer_add_printf(b, "rosterd_redis_errors_total{kind=\"%s\"} "
		    "%" PRIu64 "\n", kinds[k], st[0]->failures[k] +
		    st[1]->failures[k]);
	/* two connections come up at start; more are reconnects */
	counter(b, "rosterd_redis_reconnects_total", "Redis connections "
	    "established again after a loss.", connects > 2 ? connects - 2 : 0);
	gauge(b, "rosterd_redis_up", "1 when the command connection to Redis "
	    "is ready.", rconn_state(rd->rc) == RCONN_READY);
	head(b, "rosterd_redis_failures_total", "counter", "Failed Redis work "
	    "told apart: unreachable (it passes) or refused (ACL, maxmemory, "
	    "read-only: until someone acts).");
	evbuffer_add_printf(b, "rosterd_redis_failures_total{health="
	    "\"unreachable\"} %" PRIu64 "\n",
	    health_redis_failures(RH_UNREACHABLE));
	evbuffer_add_printf(b, "rosterd_redis_failures_total{health="
	    "\"refused\"} %" PRIu64 "\n", health_redis_failures(RH_REFUSED));
	gauge(b, "rosterd_redis_healthy", "1 while Redis does what rosterd "
	    "asks.", health_redis() == RH_OK);
}

/* The server rosterd is on (redisinfo.c), as last read. */
static void
render_redis_server(struct evbuffer *b)
{
	struct redis_server sv;

	redisinfo_get(&sv);
	counter(b, "rosterd_redis_failovers_total", "Redis connections "
	    "dropped because the server was, or became, a replica: "
	    "failovers followed.", sv.failovers);
	if (sv.memory_known) {
		gauge_u64(b, "rosterd_redis_used_memory_bytes", "Memory Redis "
		    "uses (INFO used_memory), as last read.", sv.used_memory);
		gauge_u64(b, "rosterd_redis_maxmemory_bytes", "Redis's "
		    "maxmemory, as last read; 0: no limit.", sv.maxmemory);
	}
	head(b, "rosterd_redis_server_info", "gauge", "The Redis server "
	    "rosterd is on: address, role, TLS, maxmemory-policy.");
	if (sv.address[0] == '\0')
		return;		/* none while disconnected */
	evbuffer_add_printf(b, "rosterd_redis_server_info{address=\"");
	label_value(b, sv.address);
	evbuffer_add_printf(b, "\",role=\"");
	label_value(b, sv.role);
	evbuffer_add_printf(b, "\",tls=\"%s\",maxmemory_policy=\"",
	    sv.tls ? "on" : "off");
	label_value(b, sv.policy);
	evbuffer_add_printf(b, "\"} 1\n");
}

static void
render_state(struct evbuffer *b)
{
	struct jobs_census jc;

	jobs_census(&jc);
	gauge(b, "rosterd_jobs_in_flight", "Jobs this instance holds.",
	    jc.jobs);
	gauge(b, "rosterd_jobs_fetching", "Jobs fetching from Clever.",
	    jc.fetching);
	gauge(b, "rosterd_jobs_retrying", "Jobs waiting for their next "
	    "attempt.", jc.retrying);
	gauge(b, "rosterd_jobs_waiting_teacher", "Jobs waiting for another "
	    "sync of their teacher.", jc.waiting_teacher);
	gauge(b, "rosterd_jobs_waiting_rate_limit", "Jobs waiting for a "
	    "token's rate-limit window.", jc.waiting_rate);
	gauge(b, "rosterd_paused", "1 while the queue is paused.",
	    reader_paused() != NULL);
	gauge(b, "rosterd_event_loop_lag_seconds", "How late the last "
	    "one-second tick fired.", (double)m->loop_lag_ms / 1000);
	gauge(b, "rosterd_event_loop_lag_max_seconds", "The largest tick "
	    "delay since start.", (double)m->loop_lag_max_ms / 1000);
	head(b, "rosterd_build_info", "gauge", "The running version.");
	evbuffer_add_printf(b, "rosterd_build_info{version=\"%s\"} 1\n",
	    ROSTERD_VERSION);
}

static long long
xinfo_int(const redisReply *g, const char *name, int *found)
{
	const redisReply *v = rconn_reply_field(g, name);

	*found = v != NULL && v->type == REDIS_REPLY_INTEGER;
	return *found ? v->integer : 0;
}

static const char *
xinfo_name(const redisReply *g)
{
	const redisReply *v = rconn_reply_field(g, "name");

	return v != NULL && v->type == REDIS_REPLY_STRING ? v->str : "";
}

/* One line per consumer group of an XINFO GROUPS reply. */
static void
render_groups(struct evbuffer *b, const redisReply *r, const char *name,
    const char *field, const char *only)
{
	const redisReply *g;
	long long v;
	size_t i;
	int found;

	for (i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    i < r->elements; i++) {
		g = r->element[i];
		if (g->type != REDIS_REPLY_ARRAY || (only != NULL &&
		    strcmp(xinfo_name(g), only) != 0))
			continue;
		v = xinfo_int(g, field, &found);
		if (!found)
			continue;	/* lag: Redis 7 only, nil when unknown */
		evbuffer_add_printf(b, "%s", name);
		if (only == NULL) {
			evbuffer_add_printf(b, "{group=\"");
			label_value(b, xinfo_name(g));
			evbuffer_add_printf(b, "\"}");
		}
		evbuffer_add_printf(b, " %lld\n", v);
	}
}

/*
 * A scrape in flight: the queue's and the diff stream's figures are
 * rendered as Redis answers (the two XINFO GROUPS, in order on one
 * connection), the rest when the reply goes out.
 */
struct scrape {
	struct evhttp_request	*req;
	struct evbuffer		*queue;
	int			 answered;
};

static void
render_jobs_groups(struct evbuffer *b, const redisReply *r)
{
	head(b, "rosterd_queue_waiting_jobs", "gauge", "Jobs in the stream no "
	    "instance has read yet (the group's lag).");
	render_groups(b, r, "rosterd_queue_waiting_jobs", "lag",
	    CONSUMER_GROUP);
	head(b, "rosterd_queue_pending_jobs", "gauge", "Jobs read by an "
	    "instance and not finished.");
	render_groups(b, r, "rosterd_queue_pending_jobs", "pending",
	    CONSUMER_GROUP);
}

static void
render_diffs_groups(struct evbuffer *b, const redisReply *r)
{
	head(b, "rosterd_diffs_lag", "gauge", "Diffs an app's consumer group "
	    "has not read yet.");
	render_groups(b, r, "rosterd_diffs_lag", "lag", NULL);
	head(b, "rosterd_diffs_pending", "gauge", "Diffs an app's consumer "
	    "group read and has not acknowledged.");
	render_groups(b, r, "rosterd_diffs_pending", "pending", NULL);
}

static void
scrape_reply(struct scrape *sc)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		fatalx("evbuffer_new failed");
	render_jobs(b);
	render_clever(b);
	render_redis(b);
	render_redis_server(b);
	render_state(b);
	evbuffer_add_buffer(b, sc->queue);
	evhttp_add_header(evhttp_request_get_output_headers(sc->req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(sc->req, 200, "OK", b);
	evbuffer_free(b);
	evbuffer_free(sc->queue);
	free(sc);
}

static const char *const schedule_states[] = {
	"scheduled", "due", "overdue", "left", "awaiting_token",
};

static void
render_schedule(struct evbuffer *b, const redisReply *r)
{
	size_t i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
		return;
	head(b, "rosterd_schedule_teachers", "gauge", "Teachers in the "
	    "freshness schedule (scheduled), due now, overdue (past their "
	    "slot), that left it, and awaiting a new token.");
	for (i = 0; i < 5; i++)
		if (r->element[i]->type == REDIS_REPLY_INTEGER)
			evbuffer_add_printf(b, "rosterd_schedule_teachers"
			    "{state=\"%s\"} %lld\n", schedule_states[i],
			    r->element[i]->integer);
}

static void
on_groups(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct scrape *sc = arg;

	switch (sc->answered++) {
	case 0:
		render_jobs_groups(sc->queue, r);
		break;
	case 1:
		render_diffs_groups(sc->queue, r);
		break;
	default:
		render_schedule(sc->queue, r);
		scrape_reply(sc);
	}
}

/* The schedule's figures, last of the three answers of a scrape. */
static void
scrape_schedule(struct scrape *sc)
{
	struct script_call *call = script_new(SCRIPT_SCHEDULE_STATS);

	script_key_schedule_sets(call);
	script_num(call, (long long)conf_schedule_overdue_ms(&rd->conf));
	script_run(call, on_groups, sc);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct scrape *sc;
	char *jobs, *diffs;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->req = req;
	if ((sc->queue = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	if (rconn_state(rd->rc) != RCONN_READY) {
		scrape_reply(sc);	/* no queue figures without Redis */
		return;
	}
	jobs = key_jobs();
	diffs = key_diffs();
	rconn_command(rd->rc, 0, on_groups, sc, "XINFO GROUPS %s", jobs);
	rconn_command(rd->rc, 0, on_groups, sc, "XINFO GROUPS %s", diffs);
	scrape_schedule(sc);
	free(jobs);
	free(diffs);
}

static void
on_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, HTTP_NOTFOUND, "the metrics are at /metrics");
}

/* [metrics] listen: serve /metrics; a bind failure is fatal at start. */
void
exporter_start(void)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char *host;
	int port, bound = 0;

	m = metrics_read();
	if (rd->conf.metrics_listen[0] == '\0')
		return;
	if (conf_hostport(rd->conf.metrics_listen, &host, &port) == -1)
		fatalx_status(EXIT_CONFIG, "[metrics] listen: bad address %s",
		    rd->conf.metrics_listen);
	if ((http = evhttp_new(rd->base)) == NULL)
		fatalx("evhttp_new failed");
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(http, "/metrics", on_request, NULL);
	evhttp_set_gencb(http, on_other, NULL);
	if ((bs = evhttp_bind_socket_with_handle(http, host, (uint16_t)port)) ==
	    NULL)
		fatal_status(EXIT_CONFIG, "[metrics] listen: cannot listen on %s",
		    rd->conf.metrics_listen);
	if (getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&ss, &len) == 0)
		bound = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	logf_info(LF(.event = "metrics_listening"), "metrics at http://%s%s%s"
	    ":%d/metrics", strchr(host, ':') ? "[" : "", host,
	    strchr(host, ':') ? "]" : "", bound);
	free(host);
}

void
exporter_stop(void)
{
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
}
