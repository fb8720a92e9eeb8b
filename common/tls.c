/* TLS to Redis (tls.h). */
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

static int
set(const char *s)
{
	return s != NULL && *s != '\0';
}

/* OpenSSL's queued errors, the last one first, into buf. */
static void
queued_error(char *buf, size_t len, const char *what)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last != 0)
		snprintf(buf, len, "%s: %s", what,
		    ERR_reason_error_string(last) != NULL ?
		    ERR_reason_error_string(last) : "unknown TLS error");
	else
		snprintf(buf, len, "%s", what);
}

SSL_CTX *
tls_ctx_new(const struct tls_conf *tc, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		queued_error(err, errlen, "TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((set(tc->ca_file) ? SSL_CTX_load_verify_locations(ctx,
	    tc->ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		queued_error(err, errlen, set(tc->ca_file) ?
		    "tls_ca_file" : "the system's trust store");
		goto fail;
	}
	if (set(tc->cert_file) &&
	    (SSL_CTX_use_certificate_chain_file(ctx, tc->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, tc->key_file,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)) {
		queued_error(err, errlen, "tls_cert_file/tls_key_file");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int
is_address(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 ||
	    inet_pton(AF_INET6, name, buf) == 1;
}

SSL *
tls_ssl_new(SSL_CTX *ctx, const struct tls_conf *tc, const char *host,
    char *err, size_t errlen)
{
	const char *name = set(tc->server_name) ? tc->server_name : host;
	X509_VERIFY_PARAM *vp;
	SSL *ssl;
	int ok;

	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL) {
		queued_error(err, errlen, "TLS connection");
		return NULL;
	}
	vp = SSL_get0_param(ssl);
	if (is_address(name))
		ok = X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1;
	else {
		X509_VERIFY_PARAM_set_hostflags(vp,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set1_host(ssl, name) == 1 &&
		    SSL_set_tlsext_host_name(ssl, name) == 1;
	}
	if (!ok) {
		queued_error(err, errlen, "the server name to check");
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

void
tls_describe(SSL *ssl, unsigned long err, const char *what, char *buf,
    size_t len)
{
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (v != X509_V_OK) {
		ERR_clear_error();
		snprintf(buf, len, "%s: certificate verify failed: %s", what,
		    X509_verify_cert_error_string(v));
	} else if (err != 0) {
		ERR_clear_error();
		snprintf(buf, len, "%s: %s", what,
		    ERR_reason_error_string(err) != NULL ?
		    ERR_reason_error_string(err) : "unknown TLS error");
	} else
		queued_error(buf, len, what);
}
