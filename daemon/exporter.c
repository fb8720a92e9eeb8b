/*
 * The Prometheus exporter ([metrics] listen, libevent's evhttp): /metrics
 * renders the counters (metrics.c), the jobs in memory (jobs.c), the
 * state of Redis (health.c, the connections), the server it is on
 * (redisinfo.c), the process (/proc) and, asked of Redis at each scrape,
 * the queue, the dead letters and the diff stream's groups
 * (queue_stats.lua, which rosterctl stats runs too), the schedule's
 * figures and the live instances, so it answers once Redis has.  Every
 * metric is in doc/metrics.md.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "rosterd.h"
#include "rosterd_commit.h"
#include "rosterd_version.h"
#include "xmalloc.h"

/* after rosterd.h: libevent's HTTP_OK macro would clash with http.h's */
#include <event2/buffer.h>
#include <event2/http.h>

static struct evhttp	*http;
static const struct metrics *m;	/* the counters, read */
static uint64_t		 started_ms;	/* monotonic */

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
	/* 15 digits: a time since the epoch, a count, stay exact */
	evbuffer_add_printf(b, "%s %.15g\n", name, v);
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
	int k, o, t;

	head(b, "rosterd_jobs_received_total", "counter", "Jobs this instance "
	    "read from the queue (taken over ones included), by kind and "
	    "trigger.");
	for (k = 0; k < JOB_KIND_COUNT; k++)
		for (t = 0; t < TRIGGER_COUNT; t++)
			evbuffer_add_printf(b, "rosterd_jobs_received_total{kind="
			    "\"%s\",trigger=\"%s\"} %" PRIu64 "\n",
			    job_kind_names[k], job_trigger_names[t],
			    m->received[k][t]);
	head(b, "rosterd_jobs_total", "counter", "Jobs finished, by kind, "
	    "outcome and trigger.");
	for (k = 0; k < JOB_KIND_COUNT; k++)
		for (o = 0; o < OUT_COUNT; o++)
			for (t = 0; t < TRIGGER_COUNT; t++)
				evbuffer_add_printf(b, "rosterd_jobs_total{kind="
				    "\"%s\",outcome=\"%s\",trigger=\"%s\"} %"
				    PRIu64 "\n", job_kind_names[k],
				    metrics_outcome_name(o),
				    job_trigger_names[t], m->outcomes[k][o][t]);
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
	counter(b, "rosterd_events_polled_total", "Clever events this "
	    "instance read and committed ([events]).", m->events_polled);
	counter(b, "rosterd_events_jobs_total", "Jobs this instance added "
	    "for Clever events (per teacher, and district fallbacks).",
	    m->events_jobs);
	counter(b, "rosterd_events_fallbacks_total", "District jobs this "
	    "instance added because events could not be used (30-day "
	    "window, an event it cannot map).", m->events_fallbacks);
	counter(b, "rosterd_locks_lost_total", "Syncs stopped because their "
	    "teacher lock expired (the instance stalled).", m->locks_lost);
	counter(b, "rosterd_jobs_taken_over_total", "Jobs this instance "
	    "claimed from an instance that stopped or stalled.",
	    m->taken_over);
	counter(b, "rosterd_jobs_handed_back_total", "Jobs this instance gave "
	    "back to the queue as it stopped or paused.", m->handed_back);
}

static void
render_clever(struct evbuffer *b)
{
	char labels[48];
	size_t i;

	head(b, "rosterd_clever_requests_total", "counter", "Clever "
	    "responses, by endpoint and HTTP status (or connect, timeout, "
	    "too_large, transport when there was none).");
	for (i = 0; i < m->nclever; i++)
		evbuffer_add_printf(b, "rosterd_clever_requests_total{endpoint="
		    "\"%s\",status=\"%s\"} %" PRIu64 "\n", m->clever[i].endpoint,
		    m->clever[i].status, m->clever[i].n);
	head(b, "rosterd_clever_request_duration_seconds", "histogram",
	    "From a Clever request's start to its response (or failure), by "
	    "endpoint.");
	for (i = 0; i < m->nlatency; i++) {
		snprintf(labels, sizeof(labels), "endpoint=\"%s\"",
		    m->latency[i].endpoint);
		hist_render(b, "rosterd_clever_request_duration_seconds", labels,
		    &m->latency[i].latency);
	}
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
	    "delay of the last minute.", (double)metrics_loop_lag_max_ms() /
	    1000);
	gauge(b, "rosterd_heartbeat_age_seconds", "Since Redis took this "
	    "instance's last heartbeat (or since start: none yet).",
	    (double)(mono_ms() - (m->beat_ms != 0 ? m->beat_ms : started_ms)) /
	    1000);
	head(b, "rosterd_build_info", "gauge", "The running version and the "
	    "git commit it was built from.");
	evbuffer_add_printf(b, "rosterd_build_info{version=\"%s\",commit="
	    "\"%s\"} 1\n", ROSTERD_VERSION, ROSTERD_COMMIT);
}

/* ---- the process, as Prometheus's client libraries tell it ---- */

/*
 * /proc/self/stat after the command's ")": utime, stime (ticks), starttime
 * (ticks after boot), vsize (bytes), rss (pages).  -1 when unreadable.
 */
static int
proc_stat(unsigned long long *utime, unsigned long long *stime,
    unsigned long long *start, unsigned long long *vsize, long long *rss)
{
	char buf[1024], *p;
	size_t n;
	FILE *f;

	if ((f = fopen("/proc/self/stat", "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* fields 3 on: state ppid pgrp session tty tpgid flags minflt
	   cminflt majflt cmajflt utime stime cutime cstime priority nice
	   threads itrealvalue starttime vsize rss */
	return sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld", utime, stime,
	    start, vsize, rss) == 5 ? 0 : -1;
}

/* The boot time, epoch seconds (/proc/stat btime); 0 when unknown. */
static unsigned long long
boot_time(void)
{
	unsigned long long bt = 0;
	char line[256];
	FILE *f;

	if ((f = fopen("/proc/stat", "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "btime %llu", &bt) == 1)
			break;
	fclose(f);
	return bt;
}

static unsigned
open_fds(void)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;	/* not the directory's own */
}

static void
render_process(struct evbuffer *b)
{
	unsigned long long ut, st, start, vsize;
	long long rss;
	double tck = (double)sysconf(_SC_CLK_TCK);
	struct rlimit rl;

	if (proc_stat(&ut, &st, &start, &vsize, &rss) == 0) {
		gauge(b, "process_start_time_seconds", "Start time of the "
		    "process since the epoch, s.", (double)boot_time() +
		    (double)start / tck);
		head(b, "process_cpu_seconds_total", "counter", "User and "
		    "system CPU time spent, s.");
		evbuffer_add_printf(b, "process_cpu_seconds_total %.2f\n",
		    (double)(ut + st) / tck);
		gauge_u64(b, "process_resident_memory_bytes", "Resident memory "
		    "size, bytes.", (uint64_t)rss * (uint64_t)sysconf(
		    _SC_PAGESIZE));
		gauge_u64(b, "process_virtual_memory_bytes", "Virtual memory "
		    "size, bytes.", vsize);
	}
	gauge_u64(b, "process_open_fds", "Open file descriptors.", open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		gauge_u64(b, "process_max_fds", "The limit of open file "
		    "descriptors.", rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX :
		    (uint64_t)rl.rlim_cur);
}

/*
 * A scrape in flight: what Redis is asked (queue_stats.lua, then the
 * schedule's figures, then which heartbeats exist) is rendered as it
 * answers, in order on one connection; the rest when the reply goes out.
 */
struct scrape {
	struct evhttp_request	*req;
	struct evbuffer		*redis;
};

static void	scrape_reply(struct scrape *);

static long long
int_elem(const redisReply *r, size_t i)
{
	return r->element[i]->type == REDIS_REPLY_INTEGER ?
	    r->element[i]->integer : 0;
}

static void
render_dead(struct evbuffer *b, const redisReply *r)
{
	static const char *const states[] = { "failed", "dead", "held" };
	size_t i;

	head(b, "rosterd_dead_letters", "gauge", "Dead letters by state: "
	    "failed, dead (attempts used up), held (shrink guard).");
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && i < 3;
	    i++)
		evbuffer_add_printf(b, "rosterd_dead_letters{state=\"%s\"} "
		    "%lld\n", states[i], int_elem(r, i));
}

static void
render_diffs(struct evbuffer *b, const redisReply *r)
{
	static const char *const names[] = { "rosterd_diffs_lag",
	    "rosterd_diffs_pending" };
	static const char *const helps[] = { "Diffs an app's consumer group "
	    "has not read yet (per partition with [diffs] partitions > 1).",
	    "Diffs an app's consumer group read and has not acknowledged "
	    "(per partition with [diffs] partitions > 1)." };
	const redisReply *g;
	size_t f, i;
	int parts = rd->conf.diffs_partitions > 1;

	for (f = 0; f < 2; f++) {
		head(b, names[f], "gauge", helps[f]);
		for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements;
		    i++) {
			g = r->element[i];
			if (g->type != REDIS_REPLY_ARRAY || g->elements != 4 ||
			    g->element[0]->type != REDIS_REPLY_STRING)
				continue;
			evbuffer_add_printf(b, "%s{group=\"", names[f]);
			label_value(b, g->element[0]->str);
			if (parts)
				evbuffer_add_printf(b, "\",partition=\"%lld",
				    int_elem(g, 3));
			evbuffer_add_printf(b, "\"} %lld\n", int_elem(g, f + 1));
		}
	}
}

/* queue_stats.lua's answer: {length, waiting, pending, oldest waiting age
   ms, consumers, dead letters by state, diffs groups, diffs lengths}. */
static void
render_queue(struct evbuffer *b, const redisReply *r)
{
	gauge(b, "rosterd_queue_waiting_jobs", "Jobs in the stream no "
	    "instance has read yet.", (double)int_elem(r, 1));
	gauge(b, "rosterd_queue_pending_jobs", "Jobs read by an instance and "
	    "not finished.", (double)int_elem(r, 2));
	gauge(b, "rosterd_queue_oldest_waiting_seconds", "Age of the oldest "
	    "job no instance has read (Redis clock); 0: none.",
	    (double)int_elem(r, 3) / 1000);
	render_dead(b, r->element[5]);
	render_diffs(b, r->element[6]);
}

static void
on_instances(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct scrape *sc = arg;

	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		gauge(sc->redis, "rosterd_instances", "Live instances of the "
		    "deployment (their heartbeats exist).", (double)r->integer);
	scrape_reply(sc);
}

/*
 * How many of the group's consumers, and this instance, have a heartbeat:
 * one EXISTS of their keys (an instance that has read nothing yet is no
 * consumer: it counts once it reads).
 */
static void
ask_instances(struct scrape *sc, const redisReply *names)
{
	size_t i, n = 2, cap = 2 + (names != NULL ? names->elements : 0);
	const char **argv = xcalloc(cap, sizeof(*argv));
	size_t *lens = xcalloc(cap, sizeof(*lens));

	argv[0] = "EXISTS";
	argv[1] = key_instance(rd->consumer);
	for (i = 0; names != NULL && i < names->elements; i++)
		if (names->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(names->element[i]->str, rd->consumer) != 0)
			argv[n++] = key_instance(names->element[i]->str);
	for (i = 0; i < n; i++)
		lens[i] = strlen(argv[i]);
	rconn_commandargv(rd->rc, 0, on_instances, sc, (int)n, argv, lens);
	for (i = 1; i < n; i++)
		free((char *)argv[i]);
	free(argv);
	free(lens);
}

static void
on_queue_stats(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct scrape *sc = arg;
	const redisReply *names = NULL;

	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 8) {
		render_queue(sc->redis, r);
		if (r->element[4]->type == REDIS_REPLY_ARRAY)
			names = r->element[4];
	}
	ask_instances(sc, names);
}

static const char *const schedule_states[] = {
	"scheduled", "due", "overdue", "left", "awaiting_token",
};

static void
on_schedule(struct rconn *c, redisReply *r, const char *err, void *arg)
{
	struct scrape *sc = arg;
	size_t i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
		return;
	head(sc->redis, "rosterd_schedule_teachers", "gauge", "Teachers in "
	    "the freshness schedule (scheduled), due now, overdue (past their "
	    "slot), that left it, and awaiting a new token.");
	for (i = 0; i < 5; i++)
		evbuffer_add_printf(sc->redis, "rosterd_schedule_teachers"
		    "{state=\"%s\"} %lld\n", schedule_states[i], int_elem(r, i));
}

/* The deployment's figures, read from Redis: no error on missing keys. */
static void
scrape_redis(struct scrape *sc)
{
	struct script_call *call = script_new(SCRIPT_QUEUE_STATS);
	unsigned p;

	script_key(call, key_jobs());
	script_key(call, key_dead());
	for (p = 0; p < (unsigned)rd->conf.diffs_partitions; p++)
		script_key(call, key_diffs_part(p));
	script_arg(call, CONSUMER_GROUP);
	script_num(call, rd->conf.retention_dead_max);
	script_run(call, on_queue_stats, sc);
	call = script_new(SCRIPT_SCHEDULE_STATS);
	script_key_schedule_sets(call);
	script_num(call, (long long)conf_schedule_overdue_ms(&rd->conf));
	script_run(call, on_schedule, sc);
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
	render_process(b);
	evbuffer_add_buffer(b, sc->redis);
	evhttp_add_header(evhttp_request_get_output_headers(sc->req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(sc->req, 200, "OK", b);
	evbuffer_free(b);
	evbuffer_free(sc->redis);
	free(sc);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct scrape *sc;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->req = req;
	if ((sc->redis = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	if (rconn_state(rd->rc) != RCONN_READY) {
		scrape_reply(sc);	/* no deployment figures without Redis */
		return;
	}
	scrape_redis(sc);
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
	started_ms = mono_ms();
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
