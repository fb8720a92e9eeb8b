/*
 * TLS to Redis, one policy for rosterd and rosterctl (OpenSSL): the server
 * is always verified (the system's trust store, or a CA file) and its
 * certificate must name the host (or [redis] tls_server_name, also sent
 * as SNI); TLS 1.2 at least; an optional client certificate for mutual
 * TLS.  Nothing here can be turned insecure.
 */
#ifndef ROSTERD_TLS_H
#define ROSTERD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct tls_conf {
	const char	*ca_file;	/* NULL/"": the system's trust store */
	const char	*server_name;	/* NULL/"": the host connected to */
	const char	*cert_file;	/* NULL/"": no client certificate */
	const char	*key_file;
};

/* A client context for these settings, or NULL and why in err. */
SSL_CTX		*tls_ctx_new(const struct tls_conf *, char *err, size_t errlen);
/*
 * A connection's SSL: SNI and the name its certificate must carry are
 * server_name, else host (an address is checked as an IP address and sent
 * without SNI).  NULL and why in err.
 */
SSL		*tls_ssl_new(SSL_CTX *, const struct tls_conf *, const char *host,
		    char *err, size_t errlen);
/*
 * Why a TLS connection failed, for a person, prefixed by what: the
 * certificate check's verdict when there is one ("certificate verify
 * failed: hostname mismatch"), else the OpenSSL error err, else the one
 * last queued.  Empties OpenSSL's queue.
 */
void		 tls_describe(SSL *, unsigned long err, const char *what,
		    char *buf, size_t len);

#endif
