/* The http(s) source: a store directory published on a web server; chunk D is a GET of the
 * base URL joined with "xx/<hex>" (lib/http does the connections, TLS, redirects, auth). */
#include "fetch/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/internal.h"
#include "http/http.h"
#include "util/clock.h"
#include "util/strbuf.h"

struct http_source {
	struct blz_source base;
	struct blz_http_client *client;
	char *base_url; /* ends with '/' */
};

/* The transient errors of the source contract; lib/http's other retryable ones (an
 * unreachable host or network) are passed on as -EAGAIN. */
static int map_error(int r)
{
	switch (r) {
	case -ENOENT:
	case -EAGAIN:
	case -ETIMEDOUT:
	case -ECONNRESET:
	case -ECONNREFUSED:
	case -EPIPE:
	case -EIO:
		return r;
	default:
		return blz_http_retryable(r) ? -EAGAIN : r;
	}
}

static int http_get(struct blz_source *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		    size_t max_len, uint64_t deadline_ms, struct blz_buf *out,
		    struct blz_source_err *err)
{
	struct http_source *h = (struct http_source *)s;
	uint64_t now = blz_now_ms();
	if (now >= deadline_ms) {
		snprintf(err->reason, sizeof(err->reason), "deadline passed");
		return -ETIMEDOUT;
	}
	char rel[BLZ_FETCH_REL_LEN];
	blz_fetch_rel_path(digest, rel);
	struct blz_buf url = { 0 };
	blz_buf_printf(&url, "%s%s", h->base_url, rel);
	blz_buf_append(&url, "", 1);
	uint64_t left = deadline_ms - now;
	struct blz_http_result res;
	int r = blz_http_get(h->client, (const char *)url.data, left > INT32_MAX ? INT32_MAX : (int)left,
			     max_len, out, &res);
	blz_buf_release(&url);
	if (r == 0)
		return 0;
	snprintf(err->reason, sizeof(err->reason), "%s", res.reason[0] ? res.reason : strerror(-r));
	if (res.has_retry_after)
		err->retry_after_ms = res.retry_after_s > UINT32_MAX / 1000 ? UINT32_MAX
									    : res.retry_after_s * 1000;
	return map_error(r);
}

static void http_close(struct blz_source *s)
{
	struct http_source *h = (struct http_source *)s;
	blz_http_client_free(h->client);
	free(h->base_url);
	free(h);
}

static const struct blz_source_ops http_ops = { .get = http_get, .close = http_close };

/* url without any "user:password@" (for messages and status). */
static void strip_userinfo(const char *url, char *out, size_t size)
{
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	size_t hostlen = strcspn(host, "/?#");
	const char *at = memchr(host, '@', hostlen);
	if (!at) {
		snprintf(out, size, "%s", url);
		return;
	}
	snprintf(out, size, "%.*s%s", (int)(host - url), url, at + 1);
}

int blz_source_http_open(const char *url, const struct blz_source_opts *opts,
			 struct blz_source **ret, char *err, size_t errlen)
{
	struct http_source *h = blz_xcalloc(1, sizeof(*h));
	h->base.ops = &http_ops;
	h->base.kind = BLZ_SOURCE_HTTP;
	h->base.max_inflight = opts->max_inflight ? opts->max_inflight : 8;
	strip_userinfo(url, h->base.name, sizeof(h->base.name));
	const char *host = strstr(url, "://") + 3;
	size_t hostlen = strcspn(host, "/?#");
	if (memchr(host, '@', hostlen) || hostlen == 0) {
		int r = blz_errf(err, errlen, -EINVAL, "store '%s': %s", h->base.name,
				 hostlen ? "credentials in a URL are not supported (use --auth-file)"
					 : "no host in the URL");
		http_close(&h->base);
		return r;
	}
	size_t n = strlen(url);
	h->base_url = blz_xmalloc(n + 2);
	memcpy(h->base_url, url, n + 1);
	if (n == 0 || url[n - 1] != '/')
		strcpy(h->base_url + n, "/");
	struct blz_http_opts ho = { .ca_file = opts->ca_file, .auth_file = opts->auth_file,
				    .max_conns = h->base.max_inflight, .env_proxy = true };
	char why[256] = "";
	int r = blz_http_client_new(&ho, &h->client, why, sizeof(why));
	if (r < 0) {
		http_close(&h->base);
		return blz_errf(err, errlen, r, "store '%s': %s", url, why[0] ? why : strerror(-r));
	}
	*ret = &h->base;
	return 0;
}
