/*
 * rosterd: keep web apps' class rosters in step with Clever.
 *
 * Runs in the foreground (systemd Type=notify), one libevent loop for
 * everything: Redis (hiredis async), Clever (curl multi) and signals.
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

#include "conf.h"
#include "log.h"
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

struct daemon_main {
	struct event_base	*base;
	struct conf		 conf;
	const char		*conf_path;
	struct event		*ev_sigterm, *ev_sigint, *ev_sighup;
};

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_main *m = arg;

	logf_info(LF(.event = "stopping"), "received %s, stopping",
	    strsignal(sig));
	sd_notify(0, "STOPPING=1");
	event_base_loopexit(m->base, NULL);
}

static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_main *m = arg;
	struct conf next;
	char err[CONF_ERR_MAX];

	sd_notify(0, "RELOADING=1");
	if (conf_load(&next, m->conf_path, err, sizeof(err)) == -1) {
		logf_err(LF(.event = "reload_failed"), "configuration not "
		    "reloaded, keeping the old one: %s", err);
	} else {
		conf_free(&m->conf);
		m->conf = next;
		log_setlevel(conf_log_level(&m->conf));
		logf_info(LF(.event = "reloaded"), "configuration reloaded "
		    "from %s", m->conf_path);
	}
	sd_notify(0, "READY=1");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct daemon_main m = { .conf_path = ROSTERD_CONF };
	char err[CONF_ERR_MAX];
	int ch, checkonly = 0, debug = 0, verbose = 0;
	enum log_level level;

	log_init("rosterd", LOG_LVL_INFO, LOG_TARGET_AUTO);
	while ((ch = getopt_long(argc, argv, "c:dnvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			m.conf_path = optarg;
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

	if (conf_load(&m.conf, m.conf_path, err, sizeof(err)) == -1) {
		fprintf(stderr, "rosterd: %s\n", err);
		return 1;
	}
	if (checkonly) {
		printf("configuration OK\n");
		conf_free(&m.conf);
		return 0;
	}

	level = debug ? LOG_LVL_DEBUG : conf_log_level(&m.conf);
	while (verbose-- > 0 && level < LOG_LVL_DEBUG)
		level++;
	log_init("rosterd", level,
	    debug ? LOG_TARGET_STDERR : conf_log_target(&m.conf));

	if ((m.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	m.ev_sigterm = evsignal_new(m.base, SIGTERM, on_stop, &m);
	m.ev_sigint = evsignal_new(m.base, SIGINT, on_stop, &m);
	m.ev_sighup = evsignal_new(m.base, SIGHUP, on_reload, &m);
	evsignal_add(m.ev_sigterm, NULL);
	evsignal_add(m.ev_sigint, NULL);
	evsignal_add(m.ev_sighup, NULL);
	signal(SIGPIPE, SIG_IGN);

	logf_info(LF(.event = "started"), "rosterd %s started",
	    ROSTERD_VERSION);
	sd_notify(0, "READY=1");
	event_base_dispatch(m.base);

	event_free(m.ev_sigterm);
	event_free(m.ev_sigint);
	event_free(m.ev_sighup);
	event_base_free(m.base);
	conf_free(&m.conf);
	logf_info(LF(.event = "stopped"), "rosterd stopped");
	return 0;
}
