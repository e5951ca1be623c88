/*
 * Request filters over any backend (backend.h): "delay" holds every read for a fixed time,
 * "error" fails reads with EIO at a given rate, optionally only while a trigger file
 * exists (a device that starts failing on cue). Both keep the layer below's asynchronous
 * submit when it has one, so they can sit over a remote store.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "util/clock.h"
#include "util/strbuf.h"

#define FILE_CHECK_NS 10000000u /* the trigger file is looked at most every 10 ms */

struct rfilter {
	struct blz_backend b; /* first */
	struct blz_backend_ops ops;
	struct blz_backend *next;
	unsigned delay_ms;
	uint64_t threshold; /* error: a read fails when its random draw is below this */
	char *file;         /* error: only while this exists; NULL: always */
	_Atomic uint64_t file_checked_ns;
	_Atomic bool file_there;
};

/* Whether the read about to be served fails (the error filter). */
static bool should_fail(struct rfilter *f)
{
	if (!f->threshold)
		return false;
	if (f->file) {
		uint64_t now = blz_now_ns();
		if (now - atomic_load_explicit(&f->file_checked_ns, memory_order_relaxed) >
		    FILE_CHECK_NS) {
			atomic_store(&f->file_there, access(f->file, F_OK) == 0);
			atomic_store(&f->file_checked_ns, now);
		}
		if (!atomic_load(&f->file_there))
			return false;
	}
	/* xorshift64*, one state per thread */
	static __thread uint64_t x;
	if (!x)
		x = blz_now_ns() ^ ((uint64_t)(uintptr_t)&x << 16) ^ 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return x * 0x2545f4914f6cdd1dull < f->threshold;
}

/* The filter's work before a read goes down: the delay, or a failure (-EIO), or 0. */
static int before(struct rfilter *f)
{
	if (f->delay_ms)
		blz_sleep_ms(f->delay_ms);
	if (should_fail(f)) {
		blz_backend_note(NULL, BLZ_AREA_NONE, BLZ_OUT_ERROR);
		return -EIO;
	}
	return 0;
}

static int filter_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	struct rfilter *f = (struct rfilter *)b;
	int r = before(f);
	return r < 0 ? r : blz_backend_read(f->next, buf, len, off);
}

static void filter_submit(struct blz_backend *b, struct blz_backend_req *req)
{
	struct rfilter *f = (struct rfilter *)b;
	if (f->delay_ms)
		blz_sleep_ms(f->delay_ms);
	if (should_fail(f)) {
		blz_backend_note(req, BLZ_AREA_NONE, BLZ_OUT_ERROR);
		req->done(req, -EIO);
		return;
	}
	blz_backend_submit(f->next, req);
}

static void filter_close(struct blz_backend *b)
{
	struct rfilter *f = (struct rfilter *)b;
	blz_backend_close(f->next);
	free(f->file);
	free(f);
}

/* Parses "KEY=VALUE,..." of a filter into f. 0 or -EINVAL with err. */
static int parse_opts(char *opts, bool is_delay, struct rfilter *f, char *err, size_t errlen)
{
	bool have = false;
	char *save = NULL;
	const char *path = blz_backend_filter_file(opts);
	if (path) {
		/* the rest of the spec, commas included */
		f->file = blz_xstrdup(path);
		opts[path - opts - 5 > 0 ? path - opts - 6 : 0] = 0;
	}
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(o, '='), *end;
		if (!eq)
			return blz_errf(err, errlen, -EINVAL, "filter option '%s' has no value", o);
		*eq++ = 0;
		if (is_delay && !strcmp(o, "ms")) {
			unsigned long v = strtoul(eq, &end, 10);
			if (*eq < '0' || *eq > '9' || *end || v > 60000)
				return blz_errf(err, errlen, -EINVAL, "bad ms '%s' (0 to 60000)", eq);
			f->delay_ms = (unsigned)v;
			have = true;
		} else if (!is_delay && !strcmp(o, "rate")) {
			double p = strtod(eq, &end);
			if (*eq < '0' || *eq > '9' || *end || !(p >= 0 && p <= 1))
				return blz_errf(err, errlen, -EINVAL, "bad rate '%s' (0 to 1)", eq);
			f->threshold = p >= 1 ? UINT64_MAX : (uint64_t)(p * 18446744073709551616.0);
			have = true;
		} else {
			return blz_errf(err, errlen, -EINVAL, "unknown or repeated filter option '%s'",
					o);
		}
	}
	if (!have)
		return blz_errf(err, errlen, -EINVAL, "filter %s needs %s", is_delay ? "delay" : "error",
				is_delay ? "ms=N" : "rate=P");
	return 0;
}

const char *blz_backend_filter_file(const char *spec)
{
	const char *p = strstr(spec, "file=");
	while (p && p != spec && p[-1] != ',' && p[-1] != ':')
		p = strstr(p + 1, "file=");
	return p && p[5] ? p + 5 : NULL;
}

int blz_backend_filter_spec(const char *spec, struct blz_backend **b, char *err, size_t errlen)
{
	bool is_delay = !strncmp(spec, "delay:", 6);
	if (!is_delay && strncmp(spec, "error:", 6))
		return blz_errf(err, errlen, -EINVAL, "unknown filter '%s' (known: delay:ms=N, "
				"error:rate=P[,file=PATH])", spec);
	struct rfilter *f = calloc(1, sizeof(*f));
	char *opts = strdup(spec + 6);
	if (!f || !opts) {
		free(f);
		free(opts);
		return -ENOMEM;
	}
	int r = parse_opts(opts, is_delay, f, err, errlen);
	free(opts);
	if (r < 0) {
		free(f->file);
		free(f);
		return r;
	}
	struct blz_backend *next = *b;
	f->ops = (struct blz_backend_ops){
		.name = is_delay ? "delay" : "error",
		.read = filter_read,
		.submit = next->ops->submit ? filter_submit : NULL,
		.close = filter_close,
	};
	f->b.ops = &f->ops;
	f->b.size = next->size;
	f->next = next;
	*b = &f->b;
	return 0;
}
