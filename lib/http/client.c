/* The HTTP client: connection pool, one exchange, redirects, proxies, status mapping. See
 * http.h for the contract. */
#include "http/http.h"
#include "http/internal.h"
#include "http/parse.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/strbuf.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A URL in a reason string, without its query (presigned URLs carry secrets there). */
#define NOQUERY(u) (int)strcspn((u), "?"), (u)

#define ERROR_BODY_MAX 65536 /* a non-2xx body larger than this is not read: the connection closes */
#define DIRECT_MAX (1u << 20)  /* body bytes received into the body at most per read */

struct conn {
	int fd;
	struct blz_http_tls *tls;
	size_t pos, len;
	uint8_t buf[16384];
};

struct slot {
	char *key;
	unsigned busy;
	VEC(struct conn *) idle;
};

struct blz_http_client {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	unsigned max_conns, max_redirects;
	bool no_redirects;
	char *ca_file;
	struct blz_http_tls_ctx *tls;
	bool has_auth;
	struct blz_http_auth auth;
	bool has_proxy[2];                /* [https] */
	struct blz_http_url proxy[2];
	char *no_proxy;
	VEC(struct slot) slots;
};

/* Where a URL's connection goes. */
struct route {
	const struct blz_http_url *u;
	const struct blz_http_url *proxy; /* NULL: direct */
	char key[600];
};

static void conn_close(struct conn *cn)
{
	if (!cn)
		return;
	blz_http_tls_free(cn->tls);
	if (cn->fd >= 0)
		close(cn->fd);
	free(cn);
}

static long conn_recv(struct conn *cn, void *buf, size_t len, int64_t deadline)
{
	return cn->tls ? blz_http_tls_recv(cn->tls, buf, len, deadline)
		       : blz_http_recv(cn->fd, buf, len, deadline);
}

static int conn_send(struct conn *cn, const void *buf, size_t len, int64_t deadline)
{
	return cn->tls ? blz_http_tls_send_all(cn->tls, buf, len, deadline)
		       : blz_http_send_all(cn->fd, buf, len, deadline);
}

/* An idle connection is usable if the peer has neither closed it nor sent anything. */
static bool conn_idle_ok(const struct conn *cn)
{
	struct pollfd p = { .fd = cn->fd, .events = POLLIN };
	return cn->pos == cn->len && poll(&p, 1, 0) == 0;
}

static int set_proxy(struct blz_http_client *c, int https, const char *url, char *err, size_t errlen)
{
	if (!url || !*url)
		return 0;
	int r = blz_http_url_parse(url, &c->proxy[https], err, errlen);
	if (r == 0 && c->proxy[https].https)
		r = blz_errf(err, errlen, -EINVAL, "proxy '%s': only http:// proxies are supported", url);
	if (r < 0)
		return r;
	c->has_proxy[https] = true;
	return 0;
}

static const char *env2(const char *lower, const char *upper)
{
	const char *v = getenv(lower);
	return v && *v ? v : getenv(upper);
}

int blz_http_client_new(const struct blz_http_opts *o, struct blz_http_client **ret, char *err,
			size_t errlen)
{
	struct blz_http_client *c = blz_xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->freed, &ca);
	pthread_condattr_destroy(&ca);
	c->max_conns = o->max_conns ? o->max_conns : 4;
	c->max_redirects = o->max_redirects ? o->max_redirects : 5;
	c->no_redirects = o->no_redirects;
	c->ca_file = o->ca_file ? blz_xstrdup(o->ca_file) : NULL;
	if (o->auth_file) {
		c->has_auth = true;
		c->auth.path = blz_xstrdup(o->auth_file);
	}
	const char *hp = o->http_proxy, *hsp = o->https_proxy, *np = o->no_proxy;
	if (o->env_proxy) {
		hp = hp ? hp : env2("http_proxy", "HTTP_PROXY");
		hsp = hsp ? hsp : env2("https_proxy", "HTTPS_PROXY");
		np = np ? np : env2("no_proxy", "NO_PROXY");
	}
	c->no_proxy = np ? blz_xstrdup(np) : NULL;
	int r = set_proxy(c, 0, hp, err, errlen);
	if (r == 0)
		r = set_proxy(c, 1, hsp, err, errlen);
	if (r < 0) {
		blz_http_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void blz_http_client_free(struct blz_http_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->slots.len; i++) {
		for (size_t j = 0; j < c->slots.v[i].idle.len; j++)
			conn_close(c->slots.v[i].idle.v[j]);
		vec_release(&c->slots.v[i].idle);
		free(c->slots.v[i].key);
	}
	vec_release(&c->slots);
	blz_http_tls_ctx_free(c->tls);
	blz_http_auth_release(&c->auth);
	for (int i = 0; i < 2; i++)
		blz_http_url_release(&c->proxy[i]);
	free(c->no_proxy);
	free(c->ca_file);
	pthread_cond_destroy(&c->freed);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

bool blz_http_retryable(int r)
{
	switch (-r) {
	case EAGAIN: case ETIMEDOUT: case EIO: case ECONNREFUSED: case ECONNRESET: case EPIPE:
	case EHOSTUNREACH: case ENETUNREACH: case ECONNABORTED:
		return true;
	default:
		return false;
	}
}

/* ---- the pool (c->lock held inside) ---- */

static struct slot *slot_of(struct blz_http_client *c, const char *key)
{
	for (size_t i = 0; i < c->slots.len; i++)
		if (!strcmp(c->slots.v[i].key, key))
			return &c->slots.v[i];
	vec_push(&c->slots, ((struct slot){ .key = blz_xstrdup(key) }));
	return &c->slots.v[c->slots.len - 1];
}

/* Takes a live idle connection (*ret) or a free place for a new one (*ret = NULL), waiting
 * for one until the deadline. fresh: close the idle ones (after a stale one failed). */
static int pool_get(struct blz_http_client *c, const char *key, bool fresh, int64_t deadline,
		    struct conn **ret)
{
	VEC(struct conn *) dead = { 0 };
	int r = 0;
	pthread_mutex_lock(&c->lock);
	struct slot *s = slot_of(c, key);
	for (;;) {
		while (s->idle.len) {
			struct conn *cn = s->idle.v[--s->idle.len];
			if (!fresh && conn_idle_ok(cn)) {
				s->busy++;
				*ret = cn;
				goto out;
			}
			vec_push(&dead, cn);
		}
		if (s->busy < c->max_conns) {
			s->busy++;
			*ret = NULL;
			goto out;
		}
		int64_t now = (int64_t)blz_now_ms();
		if (now >= deadline) {
			r = -ETIMEDOUT;
			goto out;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = ts.tv_nsec + (deadline - now) * 1000000;
		ts.tv_sec += ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&c->freed, &c->lock, &ts);
		s = slot_of(c, key); /* the vector may have moved */
	}
out:
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < dead.len; i++)
		conn_close(dead.v[i]);
	vec_release(&dead);
	return r;
}

/* Gives back the place taken by pool_get: cn kept idle when keep, else closed. */
static void pool_put(struct blz_http_client *c, const char *key, struct conn *cn, bool keep)
{
	pthread_mutex_lock(&c->lock);
	struct slot *s = slot_of(c, key);
	s->busy--;
	if (cn && keep) {
		vec_push(&s->idle, cn);
		cn = NULL;
	}
	pthread_cond_broadcast(&c->freed);
	pthread_mutex_unlock(&c->lock);
	conn_close(cn);
}

/* ---- one exchange ---- */

struct exchange {
	struct blz_http_parser p;
	struct blz_buf body;
	size_t max_body;
	bool keep;          /* the connection may be reused */
};

/* Sends req and reads the response into x. 0 or -errno (err says why). */
static int exchange(struct conn *cn, const struct blz_buf *req, struct exchange *x,
		    int64_t deadline, char *err, size_t errlen)
{
	x->keep = false;
	int r = conn_send(cn, req->data, req->len, deadline);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot send the request: %s", strerror(-r));
	size_t cap = x->max_body;
	for (;;) {
		struct blz_http_ev ev;
		long used = blz_http_parse(&x->p, cn->buf + cn->pos, cn->len - cn->pos, &ev);
		if (used < 0)
			return blz_errf(err, errlen, (int)used, "bad response: %s", x->p.err);
		cn->pos += (size_t)used;
		switch (ev.type) {
		case BLZ_HTTP_EV_HEADERS:
			if (x->p.status / 100 != 2)
				cap = ERROR_BODY_MAX;
			if (x->p.has_length && !x->p.no_body && x->p.content_length > cap) {
				if (x->p.status / 100 != 2)
					return 0; /* not worth reading: keep == false closes it */
				return blz_errf(err, errlen, -EFBIG,
						"body of %llu bytes is larger than %zu",
						(unsigned long long)x->p.content_length, cap);
			}
			if (x->p.has_length && !x->p.no_body)
				blz_buf_reserve(&x->body, (size_t)x->p.content_length);
			break;
		case BLZ_HTTP_EV_BODY:
			if (x->body.len + ev.len > cap) {
				if (x->p.status / 100 != 2)
					return 0;
				return blz_errf(err, errlen, -EFBIG, "body larger than %zu", cap);
			}
			if (ev.data == x->body.data + x->body.len)
				x->body.len += ev.len; /* received in place (recv_body) */
			else
				blz_buf_append(&x->body, ev.data, ev.len);
			break;
		case BLZ_HTTP_EV_DONE:
			x->keep = x->p.keep_alive && cn->pos == cn->len;
			return 0;
		case BLZ_HTTP_EV_NONE: {
			/* every byte consumed: read more (a large run of body bytes straight into
			 * the body: no copy, and fewer, larger reads) */
			uint8_t *dst = cn->buf;
			size_t want = sizeof(cn->buf);
			uint64_t run = blz_http_body_run(&x->p);
			bool direct = run >= sizeof(cn->buf) && x->p.status / 100 == 2 &&
				      x->body.len + run <= cap;
			if (direct) {
				want = run > DIRECT_MAX ? DIRECT_MAX : (size_t)run;
				blz_buf_reserve(&x->body, want);
				dst = x->body.data + x->body.len;
			}
			long n = conn_recv(cn, dst, want, deadline);
			if (n == -EPIPE && !x->p.until_close)
				n = 0; /* TLS without close_notify: the framing tells if it is short */
			if (n < 0)
				return blz_errf(err, errlen, (int)n, "%s %s",
						n == -ETIMEDOUT ? "deadline passed while" : "error",
						x->p.got_bytes ? "reading the response" :
								 "waiting for the response");
			cn->pos = 0;
			cn->len = direct ? 0 : (size_t)n;
			if (n == 0) {
				r = blz_http_parse_eof(&x->p);
				if (r < 0)
					return blz_errf(err, errlen, r, "%s", x->p.err);
				return 0;
			}
			if (direct) {
				/* all body (n <= run): one event, pointing where the bytes are */
				used = blz_http_parse(&x->p, dst, (size_t)n, &ev);
				if (used != n || ev.type != BLZ_HTTP_EV_BODY || ev.data != dst)
					return blz_errf(err, errlen, -EPROTO, "bad response: %s",
							x->p.err ? x->p.err : "body framing");
				x->body.len += (size_t)n;
			}
			break;
		}
		}
	}
}

static int tls_ctx(struct blz_http_client *c, struct blz_http_tls_ctx **ret, char *err,
		   size_t errlen)
{
	int r = 0;
	pthread_mutex_lock(&c->lock);
	if (!c->tls)
		r = blz_http_tls_ctx_new(c->ca_file, &c->tls, err, errlen);
	*ret = c->tls;
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* A CONNECT tunnel through the proxy to u. */
static int tunnel(struct conn *cn, const struct blz_http_url *u, int64_t deadline, char *err,
		  size_t errlen)
{
	char hostport[300];
	snprintf(hostport, sizeof(hostport), "%s%s%s:%u", strchr(u->host, ':') ? "[" : "",
		 u->host, strchr(u->host, ':') ? "]" : "", u->port);
	struct blz_http_request rq = { .method = "CONNECT", .target = hostport, .host = hostport };
	struct blz_buf req = { 0 };
	struct exchange x = { .max_body = ERROR_BODY_MAX };
	blz_http_parser_init(&x.p, BLZ_HTTP_PARSE_CONNECT);
	int r = blz_http_encode_request(&req, &rq);
	if (r == 0)
		r = exchange(cn, &req, &x, deadline, err, errlen);
	if (r == 0 && x.p.status / 100 != 2)
		r = blz_errf(err, errlen, x.p.status == 407 ? -EACCES : -ECONNREFUSED,
			     "the proxy refused CONNECT to %s (HTTP %d)", hostport, x.p.status);
	if (r == 0 && cn->pos != cn->len)
		r = blz_errf(err, errlen, -EPROTO, "the proxy sent bytes after its CONNECT reply");
	blz_buf_release(&req);
	blz_buf_release(&x.body);
	blz_http_parser_release(&x.p);
	return r;
}

static int conn_open(struct blz_http_client *c, const struct route *rt, int64_t deadline,
		     struct conn **ret, char *err, size_t errlen)
{
	const struct blz_http_url *to = rt->proxy ? rt->proxy : rt->u;
	struct conn *cn = blz_xcalloc(1, sizeof(*cn));
	int r = blz_http_connect(to->host, to->port, deadline, &cn->fd, err, errlen);
	if (r < 0)
		cn->fd = -1;
	if (r == 0 && rt->proxy && rt->u->https)
		r = tunnel(cn, rt->u, deadline, err, errlen);
	if (r == 0 && rt->u->https) {
		struct blz_http_tls_ctx *ctx;
		r = tls_ctx(c, &ctx, err, errlen);
		if (r == 0)
			r = blz_http_tls_start(ctx, cn->fd, rt->u->host, deadline, &cn->tls, err, errlen);
	}
	if (r < 0) {
		conn_close(cn);
		return r;
	}
	*ret = cn;
	return 0;
}

static void route_of(const struct blz_http_client *c, const struct blz_http_url *u, struct route *rt)
{
	rt->u = u;
	rt->proxy = c->has_proxy[u->https] && !blz_http_no_proxy(c->no_proxy, u->host)
			    ? &c->proxy[u->https] : NULL;
	snprintf(rt->key, sizeof(rt->key), "%s://%s:%u via %s:%u", u->https ? "https" : "http",
		 u->host, u->port, rt->proxy ? rt->proxy->host : "-", rt->proxy ? rt->proxy->port : 0);
}

/* Builds the GET request for the route, with auth when given. */
static int build_get(const struct route *rt, const char *auth, struct blz_buf *req)
{
	struct blz_buf abs = { 0 }, ah = { 0 };
	const char *target = rt->u->target;
	if (rt->proxy && !rt->u->https) {
		const char *parts[] = { "http://", rt->u->authority, rt->u->target, "" };
		for (int i = 0; i < 4; i++)
			blz_buf_append(&abs, parts[i], strlen(parts[i]) + (i == 3));
		target = (const char *)abs.data;
	}
	const char *extra[3] = { "User-Agent: blazy/" BLAZY_VERSION, NULL, NULL };
	if (auth) {
		blz_buf_append(&ah, "Authorization: ", 15);
		blz_buf_append(&ah, auth, strlen(auth) + 1);
		extra[1] = (const char *)ah.data;
	}
	struct blz_http_request rq = { .method = "GET", .target = target,
				       .host = rt->u->authority, .extra = extra };
	int r = blz_http_encode_request(req, &rq);
	if (ah.data)
		explicit_bzero(ah.data, ah.len);
	blz_buf_release(&ah);
	blz_buf_release(&abs);
	return r;
}

/* One GET of u (no redirects), retried once on a fresh connection when a reused one turns
 * out to have been closed by the server. x holds the response. */
static int get_once(struct blz_http_client *c, const struct blz_http_url *u, bool send_auth,
		    int64_t deadline, struct exchange *x, struct blz_http_result *res)
{
	struct route rt;
	route_of(c, u, &rt);
	struct blz_buf req = { 0 };
	int r = 0;
	if (send_auth) {
		const char *v;
		pthread_mutex_lock(&c->lock);
		r = blz_http_auth_get(&c->auth, &v, res->reason, sizeof(res->reason));
		if (r == 0)
			r = build_get(&rt, v, &req);
		pthread_mutex_unlock(&c->lock);
	} else {
		r = build_get(&rt, NULL, &req);
	}
	if (r == -EINVAL && !res->reason[0])
		blz_errf(res->reason, sizeof(res->reason), r, "cannot encode the request");
	for (int attempt = 0; r == 0 && attempt < 2; attempt++) {
		struct conn *cn = NULL;
		r = pool_get(c, rt.key, attempt > 0, deadline, &cn);
		if (r < 0) {
			blz_errf(res->reason, sizeof(res->reason), r, "no free connection to %s by the deadline",
				 u->authority);
			break;
		}
		res->reused = cn != NULL;
		if (!cn) {
			r = conn_open(c, &rt, deadline, &cn, res->reason, sizeof(res->reason));
			if (r < 0) {
				pool_put(c, rt.key, NULL, false);
				break;
			}
			res->connects++;
		}
		blz_http_parser_release(&x->p);
		blz_http_parser_init(&x->p, 0);
		x->body.len = 0;
		r = exchange(cn, &req, x, deadline, res->reason, sizeof(res->reason));
		pool_put(c, rt.key, cn, r == 0 && x->keep);
		bool stale = res->reused && !x->p.got_bytes &&
			     (r == -EPIPE || r == -ECONNRESET);
		if (!stale)
			break;
		r = 0;
		res->reason[0] = 0;
	}
	if (req.data)
		explicit_bzero(req.data, req.len);
	blz_buf_release(&req);
	return r;
}

static int status_error(struct blz_http_result *res, const char *url)
{
	int s = res->status, r;
	if (s == 404 || s == 410)
		r = -ENOENT;
	else if (s == 401 || s == 403 || s == 407)
		r = -EACCES;
	else if (s == 429 || s / 100 == 5)
		r = -EAGAIN;
	else
		r = -EPROTO;
	return blz_errf(res->reason, sizeof(res->reason), r, "HTTP %d from %.*s%s", s, NOQUERY(url),
			res->has_retry_after ? " (with Retry-After)" : "");
}

static bool is_redirect(int s)
{
	return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

int blz_http_get(struct blz_http_client *c, const char *url, int timeout_ms, size_t max_body,
		 struct blz_buf *body, struct blz_http_result *res)
{
	memset(res, 0, sizeof(*res));
	int64_t deadline = (int64_t)blz_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct blz_http_url first, u;
	int r = blz_http_url_parse(url, &first, res->reason, sizeof(res->reason));
	if (r < 0)
		return r;
	char *cur = blz_xstrdup(url);
	struct exchange x = { .max_body = max_body };
	/* An empty body's buffer is received into directly (a caller that reuses one buffer
	 * allocates, and faults in, its pages once) and handed back, filled or empty. */
	bool adopt = body->len == 0;
	if (adopt) {
		x.body = *body;
		*body = (struct blz_buf){ 0 };
	}
	blz_http_parser_init(&x.p, 0);
	for (;;) {
		r = blz_http_url_parse(cur, &u, res->reason, sizeof(res->reason));
		if (r < 0)
			break;
		r = get_once(c, &u, c->has_auth && blz_http_same_origin(&first, &u), deadline, &x, res);
		res->status = x.p.status;
		const char *ra = r == 0 ? blz_http_header(&x.p, "retry-after") : NULL;
		if (ra && blz_http_retry_after(ra, time(NULL), &res->retry_after_s) == 0)
			res->has_retry_after = true;
		const char *loc = r == 0 ? blz_http_header(&x.p, "location") : NULL;
		if (r == 0 && is_redirect(x.p.status) && loc && !c->no_redirects) {
			char *next = NULL;
			if (res->redirects >= c->max_redirects)
				r = blz_errf(res->reason, sizeof(res->reason), -ELOOP,
					     "more than %u redirects from %.*s", c->max_redirects,
					     NOQUERY(url));
			else if (blz_http_url_resolve(&u, loc, &next) < 0)
				r = blz_errf(res->reason, sizeof(res->reason), -EPROTO,
					     "bad redirect Location from %.*s", NOQUERY(cur));
			blz_http_url_release(&u);
			if (r < 0)
				break;
			free(cur);
			cur = next;
			res->redirects++;
			continue;
		}
		if (r == 0 && x.p.status / 100 != 2)
			r = status_error(res, cur);
		if (r == 0 && !adopt)
			blz_buf_append(body, x.body.data, x.body.len);
		blz_http_url_release(&u);
		break;
	}
	if (r < 0 && !res->reason[0])
		blz_errf(res->reason, sizeof(res->reason), r, "%s", strerror(-r));
	free(cur);
	if (adopt) {
		if (r < 0)
			x.body.len = 0;
		*body = x.body;
	} else {
		blz_buf_release(&x.body);
	}
	blz_http_parser_release(&x.p);
	blz_http_url_release(&first);
	return r;
}
