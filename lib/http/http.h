/* lib/http: a hand-written HTTP/1.1 client for fetching store chunks (GET of http:// and
 * https:// URLs). Depends on lib/util and, for https, OpenSSL's libssl/libcrypto (linked
 * statically into the static blazy).
 *
 * Contract
 * - One client (struct blz_http_client) is shared by any number of threads; each call to
 *   blz_http_get() is a whole exchange on a connection it owns meanwhile.
 * - Connections: a bounded pool per origin (per proxy route), persistent (keep-alive). A
 *   request over a reused connection that fails before any response byte arrives (the server
 *   had closed it) is retried once on a new connection; nothing else is retried here: retries
 *   with back-off are the caller's (blz_http_retryable() says which errors may be retried).
 * - Deadline: timeout_ms covers everything (waiting for a pool slot, name lookup, connect, the
 *   proxy's CONNECT, the TLS handshake, sending, the headers and the whole body, redirects).
 *   Every socket is non-blocking and waited on with poll(), so no call blocks past it.
 * - Redirects: 301, 302, 303, 307, 308 are followed up to max_redirects, to the same or another
 *   origin; the Authorization header is sent only to the origin of the URL first asked for.
 * - Proxies: opts.http_proxy/https_proxy/no_proxy, or when opts.env_proxy the environment's
 *   http_proxy/HTTP_PROXY, https_proxy/HTTPS_PROXY, no_proxy/NO_PROXY (lowercase first).
 *   http:// goes through the proxy as an absolute-form request, https:// through a CONNECT
 *   tunnel (TLS end to end). NO_PROXY: comma-separated host names (a name matches itself and
 *   its subdomains; a leading '.' is ignored), IP literals, or "*". Proxy URLs are http://
 *   without credentials.
 * - Authorization: opts.auth_file holds the header's value on its first line (e.g. "Bearer
 *   TOKEN"); it is re-read whenever its inode, size or mtime changes, so credentials rotate
 *   without a restart. The value is never put in a reason string or any other output.
 * - TLS: certificates are verified against opts.ca_file, else the system store
 *   (/etc/ssl/certs/ca-certificates.crt and /etc/ssl/certs); the host name (or IP literal) is
 *   checked against the certificate; SNI is sent for names. TLS 1.2 at least. There is no way
 *   to turn verification off.
 * - Name resolution: numeric IPv4/IPv6, "localhost" and names in /etc/hosts. Other names are
 *   refused (-EHOSTUNREACH): blazy is a static binary and glibc's getaddrinfo() would need the
 *   host's NSS libraries of the same glibc version at run time, and it cannot honour a deadline.
 * - Errors: -errno plus res->reason (a short text; never credentials) and res->status:
 *     -ENOENT        404 or 410                  -EACCES      401, 403 or 407
 *     -EAGAIN        5xx or 429 (res->retry_after_s when the server sent Retry-After)
 *     -ETIMEDOUT     the deadline passed         -EIO         short body (peer closed early)
 *     -ECONNREFUSED, -ECONNRESET, -EPIPE, -EHOSTUNREACH, -ENETUNREACH: connection failures
 *     -EPROTO        malformed response, or an unexpected status (res->status)
 *     -EMSGSIZE      a response head over the parser's bounds
 *     -EKEYREJECTED  the server's certificate failed verification (never retried)
 *     -ECONNABORTED  the TLS handshake failed for another reason
 *     -ELOOP         too many redirects          -EFBIG       body larger than max_body
 *     -EINVAL        a bad URL or auth file      -ENOENT/-errno from reading the auth file
 */
#ifndef BLZ_HTTP_HTTP_H
#define BLZ_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

struct blz_http_client;

struct blz_http_opts {
	const char *ca_file;          /* NULL: the system store */
	const char *auth_file;        /* NULL: no Authorization header */
	unsigned max_conns;           /* per origin (idle + busy); 0: 4 */
	unsigned max_redirects;       /* 0: 5; */
	bool no_redirects;            /* do not follow redirects at all */
	bool env_proxy;               /* read the proxy variables from the environment */
	const char *http_proxy, *https_proxy, *no_proxy; /* override the environment */
};

struct blz_http_result {
	int status;                   /* the last HTTP status received, 0 if none */
	bool has_retry_after;
	uint32_t retry_after_s;
	unsigned redirects;           /* redirects followed */
	bool reused;                  /* the last response came over a reused connection */
	unsigned connects;            /* new connections opened by this call */
	char reason[256];             /* set when the call fails */
};

/* 0 or -errno (-EINVAL for a bad proxy URL; err says why). */
int blz_http_client_new(const struct blz_http_opts *opts, struct blz_http_client **ret,
			char *err, size_t errlen);
void blz_http_client_free(struct blz_http_client *c);

/* GET url; the body (at most max_body bytes) is appended to body only on success (2xx).
 * Returns 0 or -errno as listed above, res filled in either case. */
int blz_http_get(struct blz_http_client *c, const char *url, int timeout_ms, size_t max_body,
		 struct blz_buf *body, struct blz_http_result *res);

/* May a caller retry after this error (with back-off)? Transient network failures, short
 * bodies, 5xx/429 and timeouts: yes; 404, auth, protocol and certificate errors: no. */
bool blz_http_retryable(int r);

#endif
