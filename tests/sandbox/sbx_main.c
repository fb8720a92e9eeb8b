/*
 * clever-sandbox: command line, listeners (plain or TLS), signals and the
 * "ready" line that tests and scripts wait for.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "xmalloc.h"
#include "log.h"
#include "sandbox.h"

/* --help: the text on stdout, exit 0; a usage error: stderr, exit 2. */
static void
usage(FILE *fp, int status)
{
	fprintf(fp,
"usage: clever-sandbox [--listen HOST:PORT] [--control HOST:PORT]\n"
"           [--teachers N] [--districts N] [--seed S] [--data FILE]\n"
"           [--section-size N]\n"
"           [--rate-limit N] [--rate-window-s S] [--rate-mode first|wall]\n"
"           [--two-buckets] [--app-rate-limit N] [--etag on|off|ignore]\n"
"           [--fault-seed S] [--fault KIND=P ...] [--latency-ms MS]\n"
"           [--tls-cert FILE --tls-key FILE]\n"
"fault kinds: 500 502 503 429 html404 malformed truncated reset stall\n");
	exit(status);
}

static long long
num(const char *s, long long min, long long max, const char *what)
{
	char		*ep;
	long long	 v;

	errno = 0;
	v = strtoll(s, &ep, 10);
	if (*s == '\0' || *ep != '\0' || errno != 0 || v < min || v > max)
		fatalx("bad %s: %s", what, s);
	return v;
}

static void
parse_fault(struct sbx *sbx, const char *s)
{
	char	*kind = xstrdup(s), *eq, *ep;
	double	 p;
	int	 k;

	if ((eq = strchr(kind, '=')) == NULL)
		fatalx("--fault wants KIND=PROBABILITY: %s", s);
	*eq++ = '\0';
	if ((k = fault_kind_parse(kind)) == -1)
		fatalx("unknown fault kind: %s", kind);
	p = strtod(eq, &ep);
	if (*eq == '\0' || *ep != '\0' || p < 0 || p > 1)
		fatalx("fault probability must be 0..1: %s", eq);
	sbx->rate0[k] = p;
	free(kind);
}

/* Bind HOST:PORT and return the port actually bound (for port 0). */
static int
bind_http(struct evhttp *http, const char *spec)
{
	struct evhttp_bound_socket	*bs;
	struct sockaddr_storage		 ss;
	socklen_t			 sl = sizeof ss;
	char				*host = xstrdup(spec), *colon;
	int				 port;

	if ((colon = strrchr(host, ':')) == NULL)
		fatalx("address must be HOST:PORT: %s", spec);
	*colon = '\0';
	port = (int)num(colon + 1, 0, 65535, "port");
	if ((bs = evhttp_bind_socket_with_handle(http, host, port)) == NULL)
		fatalx("cannot listen on %s", spec);
	free(host);
	if (getsockname(evhttp_bound_socket_get_fd(bs),
	    (struct sockaddr *)&ss, &sl) == -1)
		fatal("getsockname");
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static char *
host_of(const char *spec)
{
	char	*h = xstrdup(spec), *colon = strrchr(h, ':');

	if (colon != NULL)
		*colon = '\0';
	return h;
}

/* Every accepted API connection comes through here: count it, add TLS. */
static struct bufferevent *
api_bevcb(struct event_base *base, void *arg)
{
	struct sbx		*sbx = arg;
	struct bufferevent	*bev;
	SSL			*ssl;

	sbx->stats.connections++;
	if (sbx->ssl == NULL)
		return NULL;	/* evhttp makes a plain socket bufferevent */
	if ((ssl = SSL_new(sbx->ssl)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static struct ssl_ctx_st *
tls_setup(const char *cert, const char *key)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		fatalx("cannot load TLS certificate %s", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		fatalx("cannot load TLS key %s", key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		fatalx("TLS key does not match certificate");
	return ctx;
}

static void
on_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct sbx	*sbx = arg;

	(void)ev;
	log_info("signal %d, exiting", (int)sig);
	event_base_loopexit(sbx->base, NULL);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'c' },
		{ "teachers", required_argument, NULL, 't' },
		{ "districts", required_argument, NULL, 'D' },
		{ "seed", required_argument, NULL, 's' },
		{ "section-size", required_argument, NULL, 'S' },
		{ "data", required_argument, NULL, 'd' },
		{ "rate-limit", required_argument, NULL, 'r' },
		{ "rate-window-s", required_argument, NULL, 'w' },
		{ "rate-mode", required_argument, NULL, 'm' },
		{ "two-buckets", no_argument, NULL, '2' },
		{ "app-rate-limit", required_argument, NULL, 'a' },
		{ "etag", required_argument, NULL, 'e' },
		{ "fault-seed", required_argument, NULL, 'f' },
		{ "fault", required_argument, NULL, 'F' },
		{ "latency-ms", required_argument, NULL, 'L' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sbx	 sbx = { 0 };
	const char	*listen = "127.0.0.1:0", *control = "127.0.0.1:0";
	const char	*cert = NULL, *key = NULL;
	struct event	*sigterm, *sigint;
	char		*err = NULL, *ah, *ch;
	int		 ch_, em, aport, cport;

	log_init("clever-sandbox", LOG_LVL_INFO, LOG_TARGET_STDERR);
	sbx.gen.teachers = 10;
	sbx.gen.districts = 1;
	sbx.gen.seed = 1;
	sbx.rate_limit = 1200;
	sbx.rate_window_s = 60;
	sbx.fault_seed0 = 1;
	while ((ch_ = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch_) {
		case 'l':
			listen = optarg;
			break;
		case 'c':
			control = optarg;
			break;
		case 't':
			sbx.gen.teachers = (int)num(optarg, 0, 1000000,
			    "--teachers");
			break;
		case 'D':
			sbx.gen.districts = (int)num(optarg, 1, 1000,
			    "--districts");
			break;
		case 's':
			sbx.gen.seed = (uint64_t)num(optarg, 0, INT64_MAX,
			    "--seed");
			break;
		case 'S':
			sbx.gen.section_size = (int)num(optarg, 1, 1000,
			    "--section-size");
			break;
		case 'd':
			sbx.gen.datafile = optarg;
			break;
		case 'r':
			sbx.rate_limit = (uint32_t)num(optarg, 0, UINT32_MAX,
			    "--rate-limit");
			break;
		case 'w':
			sbx.rate_window_s = (uint32_t)num(optarg, 1, 86400,
			    "--rate-window-s");
			break;
		case 'm':
			if (strcmp(optarg, "wall") == 0)
				sbx.rate_wall = 1;
			else if (strcmp(optarg, "first") != 0)
				fatalx("--rate-mode is first or wall");
			break;
		case '2':
			sbx.two_buckets = 1;
			break;
		case 'a':
			sbx.app_limit = (uint32_t)num(optarg, 0, UINT32_MAX,
			    "--app-rate-limit");
			break;
		case 'e':
			if ((em = etag_mode_parse(optarg)) == -1)
				fatalx("--etag is on, off or ignore");
			sbx.etag0 = (enum etag_mode)em;
			break;
		case 'f':
			sbx.fault_seed0 = (uint64_t)num(optarg, 0, INT64_MAX,
			    "--fault-seed");
			break;
		case 'F':
			parse_fault(&sbx, optarg);
			break;
		case 'L':
			sbx.latency0 = (unsigned)num(optarg, 0, 3600000,
			    "--latency-ms");
			break;
		case 'C':
			cert = optarg;
			break;
		case 'K':
			key = optarg;
			break;
		case 'h':
			usage(stdout, 0);
			break;
		default:
			usage(stderr, 2);
		}
	}
	if (optind != argc || (cert == NULL) != (key == NULL))
		usage(stderr, 2);
	if (sbx.app_limit == 0)
		sbx.app_limit = sbx.rate_limit * 5;
	signal(SIGPIPE, SIG_IGN);

	memcpy(sbx.faults.rate, sbx.rate0, sizeof sbx.rate0);
	sbx.faults.latency_ms = sbx.latency0;
	sbx.etag = sbx.etag0;
	fault_reseed(&sbx.faults, sbx.fault_seed0);
	TAILQ_INIT(&sbx.pending);
	TAILQ_INIT(&sbx.hostile_conns);
	if ((sbx.world = world_create(&sbx.gen, &err)) == NULL)
		fatalx("%s", err);
	if (cert != NULL)
		sbx.ssl = tls_setup(cert, key);

	if ((sbx.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	sbx.api = evhttp_new(sbx.base);
	sbx.ctl = evhttp_new(sbx.base);
	if (sbx.api == NULL || sbx.ctl == NULL)
		fatalx("evhttp_new failed");
	evhttp_set_gencb(sbx.api, api_request, &sbx);
	evhttp_set_bevcb(sbx.api, api_bevcb, &sbx);
	evhttp_set_allowed_methods(sbx.api, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(sbx.ctl, control_request, &sbx);
	/* The API takes no bodies; control bodies are small JSON. */
	evhttp_set_max_body_size(sbx.api, 64 * 1024);
	evhttp_set_max_body_size(sbx.ctl, 1024 * 1024);
	aport = bind_http(sbx.api, listen);
	cport = bind_http(sbx.ctl, control);

	sigterm = evsignal_new(sbx.base, SIGTERM, on_signal, &sbx);
	sigint = evsignal_new(sbx.base, SIGINT, on_signal, &sbx);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);

	ah = host_of(listen);
	ch = host_of(control);
	printf("ready api=%s://%s:%d control=http://%s:%d\n",
	    sbx.ssl != NULL ? "https" : "http", ah, aport, ch, cport);
	fflush(stdout);
	free(ah);
	free(ch);

	event_base_dispatch(sbx.base);

	api_flush_pending(&sbx);
	hostile_flush(&sbx);
	evhttp_free(sbx.api);
	evhttp_free(sbx.ctl);
	event_free(sigterm);
	event_free(sigint);
	world_free(sbx.world);
	if (sbx.ssl != NULL)
		SSL_CTX_free(sbx.ssl);
	event_base_free(sbx.base);
	libevent_global_shutdown();
	return 0;
}
