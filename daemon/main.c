/*
 * rosterd: keep web apps' class rosters in step with Clever.  The program:
 * options, start, signals, reload, watchdog, stop.
 *
 * Runs in the foreground (systemd Type=notify), one libevent loop for
 * everything: Redis (rconn.c), Clever (curl multi) and signals.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "rosterd.h"
#include "rosterd_version.h"
#include "xmalloc.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: rosterd [-dnv] [-c file]\n"
	    "  -c file    configuration file (default " ROSTERD_CONF ")\n"
	    "  -n         check the configuration and exit\n"
	    "  -d         debug: log to stderr, level debug\n"
	    "  -v         more verbose (repeatable)\n"
	    "  --version  print the version and exit\n"
	    "  --help     this text\n");
}

/* Signals, timers and what systemd is told: main's own. */
static const char	*conf_path = ROSTERD_CONF;
static struct event	*ev_signals[3];
static struct event	*ev_watchdog;	/* keep-alive and STATUS */
static struct event	*ev_status;	/* STATUS after a change */
static uint64_t		 status_sent_ms;	/* monotonic */
static struct event	*ev_stop;	/* stop timeout */
static int		 watchdog;	/* WatchdogSec= is set */
static char		*reload_error;	/* last reload refused, why */

/* STATUS after a change: at most once a second, whatever the changes. */
#define STATUS_MIN_INTERVAL_MS	1000

/* What a stop may take beyond stop_timeout_ms: the teardown. */
#define STOP_MARGIN_MS	5000

/* -d and -v, which outlive a reload of the configuration. */
static int	cmdline_debug, cmdline_verbose;

static enum log_level
log_level_for(const struct conf *c)
{
	enum log_level level = cmdline_debug ? LOG_LVL_DEBUG :
	    conf_log_level(c);
	int v;

	for (v = cmdline_verbose; v > 0 && level < LOG_LVL_DEBUG; v--)
		level++;
	return level;
}

/*
 * The STATUS line systemctl shows: what rosterd does, the Redis server it
 * is on, and what is wrong.
 */
static void
notify_status(void)
{
	char health[512], state[512], server[512];
	uint64_t done, coalesced, failed;
	struct jobs_census jc;
	const char *pause_note = reader_paused();

	health_describe(health, sizeof(health));
	redisinfo_describe(server, sizeof(server));
	metrics_totals(&done, &coalesced, &failed);
	jobs_census(&jc);
	if (rd->draining)
		snprintf(state, sizeof(state), "stopping: ");
	else if (pause_note != NULL)
		snprintf(state, sizeof(state), "paused (%s): ", pause_note);
	else if (reader_quiet() != NULL)
		snprintf(state, sizeof(state), "quiet (%s): ", reader_quiet());
	else
		state[0] = '\0';
	status_sent_ms = mono_ms();
	sd_notifyf(0, "STATUS=%s%s%s%s%u jobs (%u fetching), %llu synced, %llu "
	    "coalesced, %llu failed; redis %s%s%s", reload_error ?
	    "reload refused (old configuration in force): " : "",
	    reload_error ? reload_error : "", reload_error ?
	    "; " : "", state, jc.jobs, jc.fetching,
	    (unsigned long long)done, (unsigned long long)coalesced,
	    (unsigned long long)failed, server, server[0] ? ": " : "",
	    health_redis() != RH_OK ? health :
	    rconn_state(rd->rc) == RCONN_READY ? "ok" : "connecting");
}

static void
on_status_timer(evutil_socket_t fd, short what, void *arg)
{
	notify_status();
}

/*
 * What STATUS shows changed (a job started or ended, Redis's health, the
 * pause): send it from the loop, a second after the last one at the
 * earliest, so that a burst of changes makes one message.  The watchdog's
 * tick sends it too.
 */
static void
on_status_changed(void)
{
	uint64_t now = mono_ms(), due = status_sent_ms +
	    STATUS_MIN_INTERVAL_MS;
	struct timeval tv;

	if (!rd->ready || evtimer_pending(ev_status, NULL))
		return;
	tv = ms_to_tv(due > now ? due - now : 0);
	evtimer_add(ev_status, &tv);
}

/* Redis is prepared (prepare.c): read; the first time, ready for work. */
static void
on_prepared(void)
{
	reader_start();
	if (rd->ready)
		return;
	rd->ready = 1;
	logf_info(LF(.event = "ready"), "ready for work: permissions checked, "
	    "contract version %s, consumer group %s", CONTRACT_VERSION,
	    CONSUMER_GROUP);
	sd_notify(0, "READY=1");
	instance_start();
	trim_start();
	schedule_start();
	schedule_enroll();
	events_start();
	notify_status();
}

static void
on_rc_state(struct rconn *c, enum rconn_state st, void *arg)
{
	on_status_changed();	/* "connecting" or not */
	if (st == RCONN_READY) {
		logf_info(LF(.event = "redis_ready"), "connected to Redis");
		store_forget();		/* maybe a new Redis: no script known */
		prepare_redis();
	} else if (st == RCONN_DISCONNECTED && !rd->draining) {
		const char *why;
		enum rconn_error e = rconn_error(c, &why);

		/* a certificate refused lasts until someone acts */
		health_redis_failed("the connection", e != RCONN_ERR_NONE ?
		    why : "lost or refused; reconnecting", e == RCONN_ERR_TLS);
	}
}

static void
on_rq_state(struct rconn *c, enum rconn_state st, void *arg)
{
	reader_conn_state(st);
}

/* Exit the loop once draining is complete. */
static void
rosterd_maybe_exit(void)
{
	static int stopping;

	if (rd->draining && jobs_count() == 0 && !stopping) {
		stopping = 1;
		instance_stop();	/* then the loop ends */
	}
}

/* A job has left the table: its slot may be free; a drain may be over. */
static void
on_job_removed(void)
{
	reader_kick();
	rosterd_maybe_exit();
}

/*
 * Stopping has two deadlines.  At three quarters of stop_timeout_ms what
 * still runs is handed back to the queue; at stop_timeout_ms rosterd exits
 * whatever Redis answers (or does not): what is left stays pending and is
 * taken over by another instance after claim_idle_ms.
 */
static void
on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	static int handed_back;
	struct timeval tv = ms_to_tv(rd->conf.daemon_stop_timeout_ms -
	    rd->conf.daemon_stop_timeout_ms * 3 / 4);

	if (!handed_back) {
		handed_back = 1;
		/* late: what still loads or fetches goes back too */
		jobs_each_in(JOB_LOADING, JOB_FETCHING, job_handback);
		evtimer_add(ev_stop, &tv);
		rosterd_maybe_exit();
		return;
	}
	logf_warn(LF(.event = "stop_timeout"), "stop timeout (%llu ms): "
	    "exiting with %u jobs unfinished; they stay pending and are taken "
	    "over after claim_idle_ms", (unsigned long long)
	    rd->conf.daemon_stop_timeout_ms, jobs_count());
	event_base_loopexit(rd->base, NULL);
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = ms_to_tv(rd->conf.daemon_stop_timeout_ms * 3 / 4);

	if (rd->draining) {
		logf_warn(LF(.event = "stop_forced"), "second %s: exiting now",
		    strsignal(sig));
		event_base_loopexit(rd->base, NULL);
		return;
	}
	logf_info(LF(.event = "stopping"), "received %s: taking no more "
	    "work, finishing %u jobs", strsignal(sig), jobs_count());
	/*
	 * Ask systemd for the time the stop may take, whatever the unit's
	 * TimeoutStopSec= says, with a margin for the teardown.
	 */
	sd_notifyf(0, "STOPPING=1\nEXTEND_TIMEOUT_USEC=%llu",
	    (unsigned long long)(rd->conf.daemon_stop_timeout_ms +
	    STOP_MARGIN_MS) * 1000);
	rd->draining = 1;
	notify_status();
	instance_beat();
	reader_stop();
	events_stop();
	/* jobs that are only waiting go back to the stream at once */
	jobs_each_in(JOB_WAITING, JOB_BACKOFF, job_handback);
	ev_stop = evtimer_new(rd->base, on_stop_timeout, NULL);
	evtimer_add(ev_stop, &tv);
	rosterd_maybe_exit();
}

static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct conf next;
	char err[CONF_ERR_MAX];

	sd_notify(0, "RELOADING=1");
	if (rosterd_conf_load(&next, conf_path, err, sizeof(err)) == -1 ||
	    rosterd_conf_reloadable(&next, err, sizeof(err)) == -1) {
		logf_err(LF(.event = "reload_failed"), "configuration not "
		    "reloaded, keeping the old one: %s", err);
		/* STATUS says so until a reload succeeds */
		free(reload_error);
		reload_error = xstrdup(err);
		sd_notify(0, "READY=1");
		notify_status();
		return;
	}
	free(reload_error);
	reload_error = NULL;
	rosterd_conf_adopt(&next);
	log_setlevel(log_level_for(&rd->conf));
	logf_info(LF(.event = "reloaded"), "configuration reloaded from %s",
	    conf_path);
	if (rd->ready) {	/* new intervals */
		instance_start();
		trim_start();
		schedule_start();
		events_start();
	}
	sd_notify(0, "READY=1");
	notify_status();
	reader_kick();
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	if (watchdog)
		sd_notify(0, "WATCHDOG=1");
	health_tick();
	notify_status();
}

static void
rosterd_setup(void)
{
	struct rconn_conf rcc;
	struct http_conf hc;
	struct timeval tv;
	uint64_t usec;
	int sigs[3] = { SIGTERM, SIGINT, SIGHUP }, i;

	rd->consumer = rosterd_consumer();
	if ((rd->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	for (i = 0; i < 3; i++) {
		ev_signals[i] = evsignal_new(rd->base, sigs[i],
		    sigs[i] == SIGHUP ? on_reload : on_stop, NULL);
		evsignal_add(ev_signals[i], NULL);
	}
	signal(SIGPIPE, SIG_IGN);

	prepare_init(on_prepared);
	jobs_init(on_job_removed);
	ev_status = evtimer_new(rd->base, on_status_timer, NULL);
	rosterd_on_status(on_status_changed);
	exporter_start();
	rosterd_http_conf(&hc);
	rd->http = http_client_new(rd->base, &hc);
	sentinel_init();
	rosterd_rconn_conf(&rcc, "rosterd");
	sentinel_conf(&rcc);
	rd->rc = rconn_new(rd->base, &rcc, on_rc_state, NULL);
	rosterd_rconn_conf(&rcc, "rosterd-reader");
	sentinel_conf(&rcc);
	rd->rq = rconn_new(rd->base, &rcc, on_rq_state, NULL);
	rconn_connect(rd->rc);
	rconn_connect(rd->rq);

	/*
	 * One timer for the watchdog keep-alive (at half its period) and the
	 * STATUS line systemctl shows (every 5 s without a watchdog).
	 */
	watchdog = sd_watchdog_enabled(0, &usec) > 0;
	if (!watchdog || usec / 2 > 5000000)
		usec = 10000000;
	tv.tv_sec = (time_t)(usec / 2 / 1000000);
	tv.tv_usec = (suseconds_t)(usec / 2 % 1000000);
	ev_watchdog = event_new(rd->base, -1, EV_PERSIST, on_watchdog,
	    NULL);
	evtimer_add(ev_watchdog, &tv);
}

static void
rosterd_teardown(void)
{
	int i;

	/* what is left (forced stop) stays pending and will be taken over */
	jobs_each(job_free);
	reader_free();
	rconn_free(rd->rq);
	rconn_free(rd->rc);
	sentinel_free();
	exporter_stop();	/* after: scrapes waiting on Redis answered */
	http_client_free(rd->http);
	/* callbacks of commands failed by rconn_free may have run */
	jobs_each(job_free);
	rosterd_on_status(NULL);
	event_free(ev_status);
	for (i = 0; i < 3; i++)
		event_free(ev_signals[i]);
	if (ev_watchdog != NULL)
		event_free(ev_watchdog);
	if (ev_stop != NULL)
		event_free(ev_stop);
	prepare_free();
	instance_free();
	trim_free();
	schedule_free();
	events_free();
	store_free();
	event_base_free(rd->base);
	free(rd->consumer);
	free(reload_error);
	conf_free(&rd->conf);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static struct rosterd daemon;
	uint64_t done, coalesced, failed;
	char err[CONF_ERR_MAX], where[512];
	int ch, checkonly = 0, debug = 0, verbose = 0;

	rd = &daemon;
	log_init("rosterd", LOG_LVL_INFO, LOG_TARGET_AUTO);
	while ((ch = getopt_long(argc, argv, "c:dnvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("rosterd %s\n", ROSTERD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}

	if (rosterd_conf_load(&rd->conf, conf_path, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "rosterd: %s\n", err);
		return EXIT_CONFIG;	/* -n too: ExecStartPre= fails for good */
	}
	if (checkonly) {
		printf("configuration OK\n");
		conf_free(&rd->conf);
		return 0;
	}

	cmdline_debug = debug;
	cmdline_verbose = verbose;
	log_init("rosterd", log_level_for(&rd->conf),
	    debug ? LOG_TARGET_STDERR : conf_log_target(&rd->conf));

	rosterd_setup();
	rosterd_redis_where(where, sizeof(where));
	logf_info(LF(.event = "started"), "rosterd %s started as consumer %s "
	    "(redis %s, prefix %s, clever %s/%s)", ROSTERD_VERSION,
	    rd->consumer, where, rd->conf.redis_prefix,
	    rd->conf.clever_api_base, rd->conf.clever_api_version);
	sd_notifyf(0, "STATUS=connecting to Redis at %s", where);
	event_base_dispatch(rd->base);
	metrics_totals(&done, &coalesced, &failed);
	logf_info(LF(.event = "stopped"), "rosterd stopped: %llu synced, %llu "
	    "coalesced, %llu failed", (unsigned long long)done,
	    (unsigned long long)coalesced, (unsigned long long)failed);
	rosterd_teardown();
	return rd->exit_code;
}
