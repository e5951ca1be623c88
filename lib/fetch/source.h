/*
 * A source: one store location a user names with --store, from which chunk files are
 * fetched. Sources know nothing of retries, deadlines beyond the one they are given, caching
 * or verification: lib/fetch's engine (fetch.h) does all of that on top of them.
 *
 *   DIR             a store directory (lib/store's layout), as today
 *   http://URL/     a store directory published on a web server, object store or CDN: the
 *   https://URL/    chunk named D is a GET of URL joined with "xx/<hex>" (xx: D's first byte
 *                   in hex), exactly the path it has in the directory
 *   exec:CMD        an external fetcher: CMD is run once (by /bin/sh -c) and asked for chunks
 *                   over the line protocol of docs/fetchers.md on its stdin/stdout; restarted
 *                   when it dies or stalls
 *
 * Every source hands out the chunk FILE image (the 56-byte header and the payload, the bytes
 * of DIR/xx/<hex>); the engine verifies it (blz_chunk_decode) before anything uses it.
 */
#ifndef BLZ_FETCH_SOURCE_H
#define BLZ_FETCH_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/strbuf.h"

enum blz_source_kind { BLZ_SOURCE_DIR, BLZ_SOURCE_HTTP, BLZ_SOURCE_EXEC };

/* Why a get failed: a short text for log lines (never credentials), and how long the source
 * asked the caller to wait before trying again (HTTP 429/503 Retry-After), 0 if it did not. */
struct blz_source_err {
	char reason[256];
	uint32_t retry_after_ms;
};

struct blz_source;

struct blz_source_ops {
	/* Appends the chunk file image named digest to out (nothing on failure). Returns 0;
	 * -ENOENT when the source does not have it (never retried at this source); a transient
	 * error (-EAGAIN, -ETIMEDOUT, -ECONNRESET, -ECONNREFUSED, -EPIPE, -EIO: a short body, a
	 * dead or stalled helper) for which the engine may retry; any other -errno is permanent
	 * for this chunk at this source. Never blocks past deadline_ms (blz_now_ms clock); returns
	 * -ETIMEDOUT then. Called concurrently from the engine's worker threads. max_len bounds
	 * the image (-EFBIG past it). */
	int (*get)(struct blz_source *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN], size_t max_len,
		   uint64_t deadline_ms, struct blz_buf *out, struct blz_source_err *err);
	/* Releases everything, s included (stops an exec helper). No get may be in progress. */
	void (*close)(struct blz_source *s);
};

struct blz_source {
	const struct blz_source_ops *ops;
	enum blz_source_kind kind;
	/* The location as given, for messages and status; for URLs without any userinfo. */
	char name[512];
	/* Fetches of one origin (one web server, one helper) the engine runs at once; the
	 * source's own pool is sized to match. */
	unsigned max_inflight;
	/* DIR only: the store itself, for the engine's inline path (blz_store_get: no copy of
	 * the file image, no thread hop). NULL for the others. */
	struct blz_store *store;
};

struct blz_source_opts {
	const char *ca_file;    /* https: CA bundle; NULL: the system store */
	const char *auth_file;  /* http(s): Authorization header value, re-read on change */
	unsigned max_inflight;  /* per origin; 0: a default (8) */
};

/* Opens the source a --store argument names (the kinds above; a spec that is neither a URL
 * nor exec: is a directory). -errno with the reason in err: a bad URL, a missing directory,
 * an exec: with an empty command. A directory source is opened read-only and is not created. */
int blz_source_open(const char *spec, const struct blz_source_opts *opts,
		    struct blz_source **ret, char *err, size_t errlen);
/* Accepts NULL. */
void blz_source_close(struct blz_source *s);

/* The constructors blz_source_open dispatches to. */
int blz_source_dir_open(const char *dir, const struct blz_source_opts *opts,
			struct blz_source **ret, char *err, size_t errlen);
int blz_source_http_open(const char *url, const struct blz_source_opts *opts,
			 struct blz_source **ret, char *err, size_t errlen);
int blz_source_exec_open(const char *cmd, const struct blz_source_opts *opts,
			 struct blz_source **ret, char *err, size_t errlen);

#endif
