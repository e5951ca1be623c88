/*
 * The exec: source: an external fetcher, a program blazy runs (by /bin/sh -c CMD) and asks
 * for chunk files over the line protocol of docs/fetchers.md on its stdin and stdout (one
 * AF_UNIX stream socket as both). Its stderr is blazy's (a server's log).
 *
 * Up to max_inflight helpers run at once, each answering one request at a time; a helper is
 * started when a request needs it and kept for the next. A helper that dies, writes something
 * that is not the protocol or does not answer by the request's deadline is killed (its whole
 * process group, SIGKILL) and reaped at once, so none is left as a zombie and no caller waits
 * past its deadline. Starts after a failure are spaced by an exponential back-off (shared by
 * the source, reset by any good answer); a request whose helper died before it answered is
 * asked again once of a fresh helper, when the back-off and the deadline allow.
 */
#include "fetch/source.h"
#include "fetch/execproto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/sha256.h"
#include "util/strbuf.h"

extern char **environ;

#define EXEC_DEFAULT_INFLIGHT 4
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 5000
#define QUIT_WAIT_MS 500	/* at close, how long a helper may take to exit on EOF */

struct helper {
	pid_t pid;		/* 0: not running */
	int fd;			/* our end of its stdin/stdout socket */
	bool busy;		/* a request holds it */
	char buf[4096];		/* bytes read past what was consumed */
	size_t off, len;
};

struct exec_source {
	struct blz_source base;
	char *cmd;
	pthread_mutex_t lock;	/* guards busy flags, failures and next_start_ms */
	pthread_cond_t cond;	/* a helper was released */
	struct helper *h;
	unsigned n;
	unsigned failures;	/* consecutive helper failures (deaths, garbage, stalls) */
	uint64_t next_start_ms;	/* no helper starts before this (back-off) */
};

/* ---- one helper's life ---- */

static void *reap_later(void *arg)
{
	pid_t pid = (pid_t)(intptr_t)arg;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return NULL;
}

/* Kills a helper's process group and reaps it. A helper that does not die at once (stuck in
 * the kernel, e.g. on a hung network filesystem, where SIGKILL waits for the I/O) is reaped
 * by a thread of its own, so that the caller is never held past its deadline. */
static void helper_kill(struct helper *h)
{
	if (h->pid > 0) {
		kill(-h->pid, SIGKILL);
		kill(h->pid, SIGKILL);
		bool reaped = false;
		for (int i = 0; i < 20 && !reaped; i++) {
			pid_t r = waitpid(h->pid, NULL, WNOHANG);
			reaped = r == h->pid || (r < 0 && errno != EINTR);
			if (!reaped)
				blz_sleep_ms(i < 10 ? 1 : 5);
		}
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (!reaped && pthread_create(&t, &a, reap_later, (void *)(intptr_t)h->pid) != 0)
			reap_later((void *)(intptr_t)h->pid); /* no thread: wait here after all */
		pthread_attr_destroy(&a);
	}
	if (h->fd >= 0)
		close(h->fd);
	h->pid = 0;
	h->fd = -1;
	h->off = h->len = 0;
}

static int helper_spawn(struct exec_source *x, struct helper *h)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
	/* nothing else of blazy's: a server's descriptors (its log, a readiness pipe, a device
	 * it might hold) are none of the fetcher's business, even those without O_CLOEXEC */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	/* its own process group, so that a kill reaches what it runs too */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					       POSIX_SPAWN_SETSIGDEF);
	char *argv[] = { "sh", "-c", x->cmd, NULL };
	pid_t pid;
	int r = -posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	h->pid = pid;
	h->fd = sv[0];
	h->off = h->len = 0;
	return 0;
}

/* Reads more bytes into h->buf (which must have room), waiting until deadline_ms.
 * -ETIMEDOUT, -EIO at end of file (the helper closed its output or died), -errno. */
static int helper_fill(struct helper *h, uint64_t deadline_ms)
{
	if (h->off && h->off == h->len)
		h->off = h->len = 0;
	for (;;) {
		uint64_t now = blz_now_ms();
		if (now >= deadline_ms)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = h->fd, .events = POLLIN };
		int n = poll(&p, 1, (int)(deadline_ms - now < 60000 ? deadline_ms - now : 60000));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		ssize_t got = read(h->fd, h->buf + h->len, sizeof(h->buf) - h->len);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0)
			return errno == ECONNRESET ? -EIO : -errno; /* it exited, our request unread */
		if (got == 0)
			return -EIO;
		h->len += (size_t)got;
		return 0;
	}
}

/* Feeds the decoder what the helper writes until its answer is complete: 1, the
 * decoder's error (-EPROTO, -EFBIG), or helper_fill's (-ETIMEDOUT, -EIO, -errno). */
static int helper_answer(struct helper *h, struct blz_xproto *p, struct blz_buf *out,
			 uint64_t deadline_ms)
{
	for (;;) {
		if (h->off < h->len) {
			size_t used;
			int r = blz_xproto_feed(p, (const uint8_t *)h->buf + h->off, h->len - h->off,
						&used, out);
			h->off += used;
			if (r != 0)
				return r;
		}
		int r = helper_fill(h, deadline_ms);
		if (r < 0)
			return r;
	}
}

static int helper_send(struct helper *h, const char *msg)
{
	size_t len = strlen(msg);
	while (len) {
		ssize_t n = send(h->fd, msg, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EPIPE || errno == ECONNRESET ? -EIO : -errno;
		msg += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Starts a helper and exchanges the version lines. */
static int helper_start(struct exec_source *x, struct helper *h, uint64_t deadline_ms,
			struct blz_source_err *err)
{
	char hello[32];
	int r = helper_spawn(x, h);
	if (r < 0) {
		snprintf(err->reason, sizeof(err->reason), "cannot start the fetcher: %s",
			 strerror(-r));
		return r;
	}
	struct blz_xproto p;
	blz_xproto_begin(&p, true, 0);
	snprintf(hello, sizeof(hello), "blazy-fetch %d\n", BLZ_XPROTO_VERSION);
	r = helper_send(h, hello);
	if (r == 0)
		r = helper_answer(h, &p, NULL, deadline_ms);
	if (r == 1)
		return 0;
	if (r == -EPROTO)
		snprintf(err->reason, sizeof(err->reason), "%s", p.reason);
	else
		snprintf(err->reason, sizeof(err->reason), "the fetcher %s at start",
			 r == -ETIMEDOUT ? "did not answer" : "died");
	return r;
}

enum outcome { ANSWERED, HELPER_BAD };

/* One request of a running helper. Returns the source's result, or -EPROTO for an answer
 * that is not the protocol; *how says whether the helper is still good for the next request. */
static int helper_ask(struct helper *h, const uint8_t *digest, size_t max_len,
		      uint64_t deadline_ms, struct blz_buf *out, struct blz_source_err *err,
		      enum outcome *how)
{
	char hex[BLZ_SHA256_HEX_LEN + 1], req[BLZ_SHA256_HEX_LEN + 8];
	blz_hex(digest, BLZ_STORE_DIGEST_LEN, hex);
	snprintf(req, sizeof(req), "get %s\n", hex);
	*how = HELPER_BAD;
	struct blz_xproto p;
	blz_xproto_begin(&p, false, max_len);
	size_t old = out->len;
	int r = helper_send(h, req);
	if (r == 0)
		r = helper_answer(h, &p, out, deadline_ms);
	if (r == 1 && p.result == 0 && h->off != h->len) {
		r = -EPROTO;
		snprintf(p.reason, sizeof(p.reason), "the fetcher wrote more than it announced");
	}
	if (r == 1) {
		*how = ANSWERED;
		if (p.result < 0)
			snprintf(err->reason, sizeof(err->reason), "%s", p.reason);
		return p.result;
	}
	out->len = old;
	if (r == -EPROTO || r == -EFBIG) {
		snprintf(err->reason, sizeof(err->reason), "%s", p.reason);
		return r;
	}
	if (blz_xproto_in_body(&p)) {
		snprintf(err->reason, sizeof(err->reason), "the fetcher %s in the middle of an answer",
			 r == -ETIMEDOUT ? "stalled" : "died");
		return r == -ETIMEDOUT ? r : -EIO;
	}
	snprintf(err->reason, sizeof(err->reason), "the fetcher %s",
		 r == -ETIMEDOUT ? "did not answer by the deadline" : "died");
	return r;
}

/* ---- the source ---- */

static struct helper *take_helper(struct exec_source *x, uint64_t deadline_ms)
{
	struct helper *h = NULL;
	pthread_mutex_lock(&x->lock);
	for (;;) {
		for (unsigned i = 0; i < x->n && !h; i++)
			if (!x->h[i].busy && x->h[i].pid > 0)
				h = &x->h[i];	/* a running one first */
		for (unsigned i = 0; i < x->n && !h; i++)
			if (!x->h[i].busy)
				h = &x->h[i];
		if (h)
			break;
		uint64_t now = blz_now_ms();
		if (now >= deadline_ms)
			break;
		uint64_t wait = deadline_ms - now;
		struct timespec ts;
		blz_deadline_ts(&ts, CLOCK_MONOTONIC, wait > UINT_MAX ? UINT_MAX : (unsigned)wait);
		pthread_cond_timedwait(&x->cond, &x->lock, &ts);
	}
	if (h)
		h->busy = true;
	pthread_mutex_unlock(&x->lock);
	return h;
}

static void give_helper(struct exec_source *x, struct helper *h, bool good)
{
	pthread_mutex_lock(&x->lock);
	if (good) {
		x->failures = 0;
	} else {
		x->failures++;
		unsigned shift = x->failures < 8 ? x->failures - 1 : 7;
		uint64_t backoff = (uint64_t)BACKOFF_MIN_MS << shift;
		if (backoff > BACKOFF_MAX_MS)
			backoff = BACKOFF_MAX_MS;
		x->next_start_ms = blz_now_ms() + backoff;
	}
	h->busy = false;
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

static int exec_get(struct blz_source *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		    size_t max_len, uint64_t deadline_ms, struct blz_buf *out,
		    struct blz_source_err *err)
{
	struct exec_source *x = (struct exec_source *)s;
	struct helper *h = take_helper(x, deadline_ms);
	if (!h) {
		snprintf(err->reason, sizeof(err->reason), "every fetcher busy until the deadline");
		return -ETIMEDOUT;
	}
	int r = -EIO;
	/* two tries: the helper a request finds may have died since its last answer */
	for (int attempt = 0; attempt < 2; attempt++) {
		enum outcome how = HELPER_BAD;
		bool fresh = false;
		if (h->pid <= 0) {
			pthread_mutex_lock(&x->lock);
			uint64_t start = x->next_start_ms;
			pthread_mutex_unlock(&x->lock);
			uint64_t now = blz_now_ms();
			if (start > now) {
				if (start >= deadline_ms) {
					if (attempt == 0)
						snprintf(err->reason, sizeof(err->reason),
							 "the fetcher failed, restart backing off");
					r = attempt == 0 ? -EAGAIN : r;
					break;
				}
				blz_sleep_ms((unsigned)(start - now));
			}
			r = helper_start(x, h, deadline_ms, err);
			fresh = true;
			if (r < 0) {
				helper_kill(h);
				give_helper(x, h, false);
				return r == -EPROTO ? -EIO : r;
			}
		}
		r = helper_ask(h, digest, max_len, deadline_ms, out, err, &how);
		if (how == ANSWERED) {
			give_helper(x, h, true);
			return r;
		}
		helper_kill(h);
		if (r != -EIO || fresh) {
			/* a stall, garbage or an oversized answer: not asked again now */
			give_helper(x, h, false);
			return r == -EPROTO ? -EIO : r;
		}
		/* an old helper that died: count it, then a fresh one */
		pthread_mutex_lock(&x->lock);
		x->failures++;
		pthread_mutex_unlock(&x->lock);
	}
	give_helper(x, h, false);
	return r;
}

static void exec_close(struct blz_source *s)
{
	struct exec_source *x = (struct exec_source *)s;
	/* EOF on their input asks them to exit; those that do not are killed */
	for (unsigned i = 0; i < x->n; i++)
		if (x->h[i].pid > 0)
			shutdown(x->h[i].fd, SHUT_WR);
	uint64_t until = blz_now_ms() + QUIT_WAIT_MS;
	for (unsigned i = 0; i < x->n; i++) {
		struct helper *h = &x->h[i];
		while (h->pid > 0 && blz_now_ms() < until) {
			if (waitpid(h->pid, NULL, WNOHANG) == h->pid) {
				kill(-h->pid, SIGKILL); /* what it left running */
				h->pid = 0;
				break;
			}
			blz_sleep_ms(5);
		}
		helper_kill(h);
	}
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	free(x->h);
	free(x->cmd);
	free(x);
}

static const struct blz_source_ops exec_ops = { .get = exec_get, .close = exec_close };

int blz_source_exec_open(const char *cmd, const struct blz_source_opts *opts,
			 struct blz_source **ret, char *err, size_t errlen)
{
	if (!cmd || cmd[strspn(cmd, " \t")] == '\0')
		return blz_errf(err, errlen, -EINVAL, "exec: needs a command");
	struct exec_source *x = blz_xcalloc(1, sizeof(*x));
	x->base.ops = &exec_ops;
	x->base.kind = BLZ_SOURCE_EXEC;
	snprintf(x->base.name, sizeof(x->base.name), "exec:%s", cmd);
	x->base.max_inflight = opts && opts->max_inflight ? opts->max_inflight
							   : EXEC_DEFAULT_INFLIGHT;
	x->cmd = blz_xstrdup(cmd);
	x->n = x->base.max_inflight;
	x->h = blz_xcalloc(x->n, sizeof(*x->h));
	for (unsigned i = 0; i < x->n; i++)
		x->h[i].fd = -1;
	pthread_mutex_init(&x->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cond, &ca);
	pthread_condattr_destroy(&ca);
	*ret = &x->base;
	return 0;
}
