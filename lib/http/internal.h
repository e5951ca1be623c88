/* lib/http internals shared by its files: URLs and proxy routes (url.c), sockets with
 * deadlines (conn.c), TLS (tls.c), the auth file (auth.c). Not for use outside lib/http. */
#ifndef BLZ_HTTP_INTERNAL_H
#define BLZ_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* ---- url.c ---- */
struct blz_http_url {
	bool https;
	char host[256];       /* without brackets */
	uint16_t port;
	char authority[272];  /* as in a Host header: brackets for IPv6, port if not default */
	char *target;         /* origin-form: "/path?query" (allocated) */
};
/* Parses an absolute http(s) URL (no credentials, no fragment kept). 0 or -EINVAL. */
int blz_http_url_parse(const char *s, struct blz_http_url *u, char *err, size_t errlen);
void blz_http_url_release(struct blz_http_url *u);
/* The absolute URL a Location value (absolute, scheme-relative, absolute-path or relative)
 * names, against base; allocated in *ret. 0 or -EINVAL. */
int blz_http_url_resolve(const struct blz_http_url *base, const char *loc, char **ret);
/* Same scheme, host and port? */
bool blz_http_same_origin(const struct blz_http_url *a, const struct blz_http_url *b);
/* Does the NO_PROXY list exclude host? */
bool blz_http_no_proxy(const char *list, const char *host);

/* ---- conn.c ---- */
/* Resolves host (numeric, localhost, /etc/hosts) and connects a non-blocking TCP socket by
 * the deadline ((int64_t)blz_now_ms() time). 0 or -errno, err says why. */
int blz_http_connect(const char *host, uint16_t port, int64_t deadline, int *ret_fd,
		     char *err, size_t errlen);
/* Waits for events on fd until the deadline: 0, -ETIMEDOUT or -errno. */
int blz_http_wait(int fd, short events, int64_t deadline);
/* Non-blocking socket I/O by the deadline: recv returns > 0, 0 at end of stream, or -errno;
 * send_all 0 or -errno. Never raises SIGPIPE. */
long blz_http_recv(int fd, void *buf, size_t len, int64_t deadline);
int blz_http_send_all(int fd, const void *buf, size_t len, int64_t deadline);

/* ---- tls.c ---- */
struct blz_http_tls_ctx;
struct blz_http_tls;
int blz_http_tls_ctx_new(const char *ca_file, struct blz_http_tls_ctx **ret, char *err,
			 size_t errlen);
void blz_http_tls_ctx_free(struct blz_http_tls_ctx *ctx);
/* Handshake on the connected socket fd for host by the deadline; the certificate and host
 * name are verified. 0, -EKEYREJECTED (verification), -ETIMEDOUT or -ECONNABORTED. */
int blz_http_tls_start(struct blz_http_tls_ctx *ctx, int fd, const char *host, int64_t deadline,
		       struct blz_http_tls **ret, char *err, size_t errlen);
long blz_http_tls_recv(struct blz_http_tls *t, void *buf, size_t len, int64_t deadline);
int blz_http_tls_send_all(struct blz_http_tls *t, const void *buf, size_t len, int64_t deadline);
void blz_http_tls_free(struct blz_http_tls *t);

/* ---- auth.c ---- */
struct blz_http_auth {
	char *path;
	bool loaded;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char *value;          /* the header value */
};
/* Re-reads the file if it changed since the last call; *ret_value points into a (the
 * caller holds the client's lock while using it). 0 or -errno (err never holds the value). */
int blz_http_auth_get(struct blz_http_auth *a, const char **ret_value, char *err, size_t errlen);
void blz_http_auth_release(struct blz_http_auth *a);

#endif
