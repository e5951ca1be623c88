/* TLS over a non-blocking socket with OpenSSL's libssl: verified certificates, host name
 * check, SNI, every wait bounded by the deadline. See internal.h. The socket is reached
 * through a small BIO of our own so that writes use MSG_NOSIGNAL (no SIGPIPE). */
#include "http/internal.h"
#include "util/strbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define SYSTEM_CA_DIR "/etc/ssl/certs"

struct blz_http_tls_ctx {
	SSL_CTX *ctx;
};

struct blz_http_tls {
	SSL *ssl;
	int fd;
};

static BIO_METHOD *sock_method;
static pthread_once_t sock_once = PTHREAD_ONCE_INIT;

static int sock_write(BIO *b, const char *buf, int len)
{
	BIO_clear_retry_flags(b);
	ssize_t n = send((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static int sock_read(BIO *b, char *buf, int len)
{
	BIO_clear_retry_flags(b);
	ssize_t n = recv((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int sock_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void sock_method_init(void)
{
	OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "blazy-socket");
	if (m && BIO_meth_set_write(m, sock_write) && BIO_meth_set_read(m, sock_read) &&
	    BIO_meth_set_ctrl(m, sock_ctrl) && BIO_meth_set_create(m, sock_create))
		sock_method = m;
}

/* The first queued OpenSSL error as text (the queue is cleared). */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
	return buf;
}

int blz_http_tls_ctx_new(const char *ca_file, struct blz_http_tls_ctx **ret, char *err,
			 size_t errlen)
{
	pthread_once(&sock_once, sock_method_init);
	if (!sock_method)
		return blz_errf(err, errlen, -ENOMEM, "cannot set up OpenSSL");
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return blz_errf(err, errlen, -ENOMEM, "cannot set up OpenSSL: %s",
				ssl_reason(why, sizeof(why)));
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int ok;
	if (ca_file) {
		ok = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
		if (ok != 1) {
			SSL_CTX_free(ctx);
			return blz_errf(err, errlen, -EINVAL, "cannot load the CA file '%s': %s",
					ca_file, ssl_reason(why, sizeof(why)));
		}
	} else {
		const char *f = access(SYSTEM_CA_FILE, R_OK) == 0 ? SYSTEM_CA_FILE : NULL;
		const char *d = access(SYSTEM_CA_DIR, R_OK | X_OK) == 0 ? SYSTEM_CA_DIR : NULL;
		ok = (f || d) && SSL_CTX_load_verify_locations(ctx, f, d) == 1;
		if (!ok) {
			SSL_CTX_free(ctx);
			ERR_clear_error();
			return blz_errf(err, errlen, -ENOENT,
					"no system certificate store in " SYSTEM_CA_DIR
					" (give a CA file)");
		}
	}
	struct blz_http_tls_ctx *c = blz_xcalloc(1, sizeof(*c));
	c->ctx = ctx;
	*ret = c;
	return 0;
}

void blz_http_tls_ctx_free(struct blz_http_tls_ctx *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ctx);
	free(c);
}

/* Waits as OpenSSL asks after a call that returned rc: 0 to call again, -ESHUTDOWN after the
 * peer's close_notify, -EPIPE when the peer closed without it, -ETIMEDOUT, or -errno. */
static int ssl_wait(struct blz_http_tls *t, int rc, int64_t deadline)
{
	switch (SSL_get_error(t->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return blz_http_wait(t->fd, POLLIN, deadline);
	case SSL_ERROR_WANT_WRITE:
		return blz_http_wait(t->fd, POLLOUT, deadline);
	case SSL_ERROR_ZERO_RETURN:
		return -ESHUTDOWN;
	case SSL_ERROR_SYSCALL:
		return errno && errno != EAGAIN ? -errno : -EPIPE;
	default:
		if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return -EPIPE;
		}
		return -ECONNABORTED;
	}
}

void blz_http_tls_free(struct blz_http_tls *t)
{
	if (!t)
		return;
	SSL_shutdown(t->ssl); /* one attempt at close_notify; never waits */
	SSL_free(t->ssl);
	ERR_clear_error();
	free(t);
}

int blz_http_tls_start(struct blz_http_tls_ctx *ctx, int fd, const char *host, int64_t deadline,
		       struct blz_http_tls **ret, char *err, size_t errlen)
{
	char why[256];
	struct blz_http_tls *t = blz_xcalloc(1, sizeof(*t));
	t->fd = fd;
	t->ssl = SSL_new(ctx->ctx);
	BIO *b = t->ssl ? BIO_new(sock_method) : NULL;
	if (!b) {
		blz_http_tls_free(t);
		return blz_errf(err, errlen, -ENOMEM, "cannot set up TLS: %s", ssl_reason(why, sizeof(why)));
	}
	BIO_set_data(b, (void *)(intptr_t)fd);
	SSL_set_bio(t->ssl, b, b);
	unsigned char ipbuf[16];
	bool ip = inet_pton(AF_INET, host, ipbuf) == 1 || inet_pton(AF_INET6, host, ipbuf) == 1;
	X509_VERIFY_PARAM *pm = SSL_get0_param(t->ssl);
	X509_VERIFY_PARAM_set_hostflags(pm, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(pm, host)
		    : SSL_set1_host(t->ssl, host) && SSL_set_tlsext_host_name(t->ssl, host);
	if (ok != 1) {
		blz_http_tls_free(t);
		return blz_errf(err, errlen, -EINVAL, "cannot check TLS for host '%s'", host);
	}
	SSL_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
	SSL_set_connect_state(t->ssl);
	int r;
	for (;;) {
		ERR_clear_error();
		int rc = SSL_connect(t->ssl);
		if (rc == 1) {
			r = 0;
			break;
		}
		r = ssl_wait(t, rc, deadline);
		if (r < 0)
			break;
	}
	long vr = SSL_get_verify_result(t->ssl);
	if (r == 0 && (vr != X509_V_OK || !SSL_get0_peer_certificate(t->ssl)))
		r = -EKEYREJECTED; /* never reached with SSL_VERIFY_PEER; checked anyway */
	if (r < 0 && vr != X509_V_OK)
		r = blz_errf(err, errlen, -EKEYREJECTED, "certificate of '%s' rejected: %s", host,
			     X509_verify_cert_error_string(vr));
	else if (r == -ETIMEDOUT)
		blz_errf(err, errlen, r, "deadline passed during the TLS handshake with '%s'", host);
	else if (r < 0)
		r = blz_errf(err, errlen, r == -EPIPE || r == -ECONNRESET ? r : -ECONNABORTED,
			     "TLS handshake with '%s' failed: %s", host, ssl_reason(why, sizeof(why)));
	if (r < 0) {
		blz_http_tls_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

long blz_http_tls_recv(struct blz_http_tls *t, void *buf, size_t len, int64_t deadline)
{
	int n = len > INT32_MAX ? INT32_MAX : (int)len;
	for (;;) {
		ERR_clear_error();
		int rc = SSL_read(t->ssl, buf, n);
		if (rc > 0)
			return rc;
		int r = ssl_wait(t, rc, deadline);
		if (r == -ESHUTDOWN)
			return 0;
		if (r < 0)
			return r;
	}
}

int blz_http_tls_send_all(struct blz_http_tls *t, const void *buf, size_t len, int64_t deadline)
{
	const uint8_t *p = buf;
	while (len) {
		int n = len > INT32_MAX ? INT32_MAX : (int)len;
		ERR_clear_error();
		int rc = SSL_write(t->ssl, p, n);
		if (rc > 0) {
			p += rc;
			len -= (size_t)rc;
			continue;
		}
		int r = ssl_wait(t, rc, deadline);
		if (r < 0)
			return r == -ESHUTDOWN ? -EPIPE : r;
	}
	return 0;
}
