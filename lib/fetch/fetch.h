/*
 * lib/fetch: verified chunks from the stores a user names (source.h), in order, through a
 * persistent local cache (store/diskcache.h), by a pool of worker threads, with deadlines,
 * bounded retries, fault injection and background prefetch. The read side (lib/lazy) asks it
 * for a chunk it does not hold in memory; `blazy store verify|prefetch` use it without ublk.
 *
 * Contract
 * - Nothing unverified leaves the engine: every image a source hands out is checked with
 *   blz_chunk_decode against the digest and length asked for; a wrong one counts as an error
 *   of that source (logged, naming chunk, source and cause) and the next source is tried.
 * - Order: the persistent cache, then the sources in the order given. -ENOENT at a source
 *   moves on to the next at once; a transient error is retried at the same source with
 *   exponential back-off and jitter (honouring retry_after_ms), at most `retries` times, then
 *   the next source is tried. When every source fails the request ends with -EIO and one log
 *   line naming the chunk and, per source, the cause.
 * - Deadline: a request ends (successfully or with -EIO) at most timeout_ms after it was
 *   submitted, retries and back-off included: no reader waits longer, whatever the sources do.
 *   One attempt at a source gets at most half of timeout_ms (at least 500 ms), so a stalled
 *   connection is retried within the deadline.
 *   A source that failed is asked again by the next request (no circuit stays open for ever).
 * - Concurrency: concurrent requests for one digest share one fetch (the later ones join the
 *   first); at most max_inflight fetches run per source; demand requests always go before
 *   ahead requests (at most 4 of them run at once, so demand keeps most of a source's
 *   slots), which go before prefetch requests, and prefetch runs at most at prefetch_rate
 *   bytes/s. A demand request for a chunk queued ahead or for prefetch promotes it.
 * - Fetched chunks enter the persistent cache (when there is one) after verification.
 * - Local sources (directories) and the cache are read inline by blz_fetch_get_local, so
 *   serving from them costs what reading a store costs today; only the rest goes to workers.
 */
#ifndef BLZ_FETCH_FETCH_H
#define BLZ_FETCH_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define BLZ_FETCH_MAX_STORES 16

struct blz_source;

struct blz_fetch_opts {
	const char *const *stores;   /* --store specs (source.h), tried in order */
	size_t n_stores;             /* 1..BLZ_FETCH_MAX_STORES (of stores, or of sources) */
	/* Instead of stores: sources the caller opened (tests' fakes, embedders), taken over by
	 * the engine (closed by blz_fetch_close, or by blz_fetch_open when it fails). */
	struct blz_source *const *sources;
	const char *cache_dir;       /* persistent cache; NULL: none */
	uint64_t cache_size;         /* its bound in bytes; 0: the default (store/diskcache.h) */
	unsigned workers;            /* fetch threads; 0: a default */
	unsigned max_inflight;       /* per source; 0: a default */
	uint32_t timeout_ms;         /* per request, retries included; 0: a default */
	unsigned retries;            /* per source, after the first try; default if ~0u */
	const char *inject;          /* fault injection spec, or NULL (see blz_fetch_inject_parse) */
	uint64_t prefetch_rate;      /* bytes/s for prefetch; 0: a default */
	/* For the read side (lib/lazy), not the engine: with each chunk a read has to fetch from
	 * a remote store, also fetch the next `ahead` chunks of the map in device order
	 * (BLZ_FETCH_AHEAD) into the caches; 0: off. Front-ends default to BLZ_FETCH_AHEAD_DEFAULT. */
	unsigned ahead;
	const char *ca_file, *auth_file; /* passed to http(s) sources */
	/* A log line (a chunk that failed, a source that came back); may be NULL. Called from
	 * worker threads. Never given credentials. */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
};

/* DEMAND: a reader waits, deadline from submission. AHEAD: a neighbour of a demand miss,
 * after demand, not rate-limited; PREFETCH: after both, at prefetch_rate. The deadline of an
 * AHEAD or PREFETCH request counts from when its fetch starts. */
enum blz_fetch_prio { BLZ_FETCH_DEMAND = 0, BLZ_FETCH_PREFETCH = 1, BLZ_FETCH_AHEAD = 2 };
#define BLZ_FETCH_AHEAD_MAX 64
/* Off: at 3 MB/s with 20 ms round trips neighbours cost more in bytes than they save in
 * round trips (bench/README.md, bench/remote-rootfs). */
#define BLZ_FETCH_AHEAD_DEFAULT 0

/*
 * One asynchronous request. The submitter fills digest, len (the chunk's uncompressed
 * length, from the map), prio and done (and may use priv). done is called exactly once, from
 * a worker thread or inline within submit: result 0 with bytes holding the len verified bytes
 * (valid only during the call: copy what you need), or -EIO (every source failed or the
 * deadline passed), -ECANCELED (the engine is closing). After done the engine does not touch
 * req again.
 */
struct blz_fetch_req {
	uint8_t digest[BLZ_STORE_DIGEST_LEN];
	uint32_t len;
	enum blz_fetch_prio prio;
	void (*done)(struct blz_fetch_req *req, int result, const uint8_t *bytes);
	void *priv;
	/* The engine's (do not touch). */
	struct blz_fetch_req *next_waiter;
	uint64_t deadline_ms;
};

/* Per source counters, for `blazy status`. */
struct blz_fetch_source_stats {
	char name[512];               /* source.h's name (no credentials) */
	uint64_t fetches, bytes;      /* successful fetches and the chunk bytes they brought */
	uint64_t retries, errors;     /* attempts retried; attempts that failed (any cause) */
	uint64_t bad;                 /* images that failed verification */
	uint32_t inflight;
	uint32_t p50_us, p99_us;      /* latency of successful fetches */
};

struct blz_fetch_stats {
	size_t n_sources;
	struct blz_fetch_source_stats source[BLZ_FETCH_MAX_STORES];
	/* The persistent cache (all 0 without one). */
	uint64_t cache_hits, cache_misses, cache_bytes, cache_entries, cache_evictions;
	uint64_t joined;              /* requests that joined a fetch already running */
	uint64_t failed;              /* requests that ended in -EIO */
	uint64_t prefetched, prefetch_queued;
	uint64_t ahead_queued, fetched_ahead; /* neighbours asked for (new jobs), fetched */
};

struct blz_fetcher;

/* Opens the sources and the cache. -errno with a message in err (a bad spec, an unusable
 * cache directory, a bad inject spec). */
int blz_fetch_open(const struct blz_fetch_opts *opts, struct blz_fetcher **ret, char *err,
		   size_t errlen);
/* Completes every outstanding request with -ECANCELED, stops the workers and helpers,
 * closes everything. Accepts NULL. */
void blz_fetch_close(struct blz_fetcher *f);

/* Whether any source is remote (http(s) or exec): if not, blz_fetch_get_local answers every
 * request and no worker is ever needed. */
bool blz_fetch_has_remote(const struct blz_fetcher *f);

/* The inline path: the persistent cache, then the directory sources in order, into buf (len
 * bytes, verified). 0; -EAGAIN when only a remote source can answer (submit it); -EIO when
 * no source can (every source is a directory and none has a good copy; logged). */
int blz_fetch_get_local(struct blz_fetcher *f, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
			void *buf, size_t len);

/* Asynchronous fetch (see struct blz_fetch_req). */
void blz_fetch_submit(struct blz_fetcher *f, struct blz_fetch_req *req);

/* Synchronous: the inline path, else submit and wait. 0 or -EIO/-ECANCELED. For tools
 * (`blazy store`), not for a server's queue threads. */
int blz_fetch_get(struct blz_fetcher *f, const uint8_t digest[BLZ_STORE_DIGEST_LEN], void *buf,
		  size_t len, enum blz_fetch_prio prio);

/* The same for warming (`blazy store prefetch`): makes sure the chunk is where a server
 * finds it without a fetch (the persistent cache or a directory source), fetching it if
 * not, without handing its bytes back: scratch (len bytes) only holds a copy the inline
 * path verifies. Results as blz_fetch_get. */
int blz_fetch_warm(struct blz_fetcher *f, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		   void *scratch, size_t len, enum blz_fetch_prio prio);

void blz_fetch_get_stats(struct blz_fetcher *f, struct blz_fetch_stats *ret);

/*
 * Fault injection on store fetches (--inject), for users who test how their stack behaves
 * when data is slow or missing: "delay=DURATION,error-rate=P,error-file=PATH", any subset:
 * every source get first sleeps DURATION (bounded by the request's deadline), then fails with
 * -EIO with probability P (0..1) and while PATH exists. -EINVAL with a reason for a bad spec.
 */
struct blz_fetch_inject {
	uint32_t delay_ms;
	double error_rate;
	char error_file[4096];
};
int blz_fetch_inject_parse(const char *spec, struct blz_fetch_inject *ret, char *err,
			   size_t errlen);

#endif
