/*
 * A server's status: what the control socket's "status" verb answers and `blazy status`
 * reads. The encoder and the parser sit side by side (as lazy/fetches.h).
 *
 * Format: one JSON object (RFC 8259) and a newline:
 *   {"device":"/dev/ublkbN","pid":P,"seed":"PATH","size":N,
 *    "reads":N,"read_bytes":N,...,"zero_copy":0|1,"zero_copy_reads":N,... (every counter of blz_server_status, by the names of
 *    the table in status.c),
 *    "queues":[{"reads":N,"read_bytes":N,"writes_refused":N,"errors":N,"batches":N,
 *               "sleeps":N,"poll_hits":N},...],
 *    "stores":[{"name":"LOCATION","fetches":N,"bytes":N,"retries":N,"errors":N,"bad":N,
 *               "inflight":N,"p50_us":N,"p99_us":N},...],
 *    "state":"live|recovering|failed","supervisor":N,"restarts":N,"last_cause":"TEXT",
 *    "io_commands":"batched|per-tag",
 *    "requests":{"size_hist":[33 counts],"align_hist":[65 counts],
 *                "area_bytes":{"none":N,"local":N,"import":N,"virtual":N,"gap":N},
 *                "latency":{"ok":{"count":N,"p50_ns":N,"p90_ns":N,"p99_ns":N,"max_ns":N},
 *                           ... one member per outcome of backend/reqlog.h},
 *                "log":{"active":0|1,"lines":N,"dropped":N}}}
 * ("stores": the fetch engine's sources, with --store; [] without. The histograms as
 * backend/reqlog.h defines them; the log's counts are the current or last request log's.)
 * Counters are integers in [0, 2^64). Strings are written with blz_json_append_str (bytes
 * that are not UTF-8 become U+FFFD). The parser requires every member listed here, each of
 * its type, and ignores members it does not know (a newer server may add some).
 */
#ifndef BLZ_SERVER_STATUS_H
#define BLZ_SERVER_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "backend/reqlog.h"
#include "util/strbuf.h"

#define BLZ_STATUS_MAX_QUEUES 4096

struct blz_server_qstatus {
	uint64_t reads, read_bytes, writes_refused, errors, batches, sleeps, poll_hits;
};

/* One store of the fetch engine (fetch/fetch.h struct blz_fetch_source_stats). */
struct blz_server_store_status {
	char name[512];
	uint64_t fetches, bytes, retries, errors, bad, inflight, p50_us, p99_us;
};

#define BLZ_STATUS_MAX_STORES 64

struct blz_server_status {
	char device[64];
	uint64_t pid;
	char seed[4096]; /* "" for a server without a seed */
	uint64_t size;
	/* The lazy device's counters (lazy/lazy.h struct blz_lazy_stats) */
	uint64_t reads, read_bytes, local_bytes, lazy_bytes, zero_bytes, unmapped, errors;
	uint64_t store_reads, store_bytes, cache_hits, bad_chunks, map_records, mapped_bytes;
	uint64_t fetch_ranges, fetch_untracked;
	/* The fetch engine's, with --store (fetch/fetch.h struct blz_fetch_stats): the persistent
	 * cache, requests that joined a running fetch or failed, prefetched chunks */
	uint64_t disk_cache_hits, disk_cache_misses, disk_cache_bytes, disk_cache_entries;
	uint64_t disk_cache_evictions, fetch_joined, fetch_failed, prefetched;
	struct blz_server_store_status *stores; /* malloc'ed */
	size_t nstores;
	/* The control socket's */
	uint64_t control_requests, control_rejected;
	/* Zero copy (ublk.h): 1 when the device uses it; reads served by it */
	uint64_t zero_copy, zero_copy_reads;
	struct blz_server_qstatus *queues; /* malloc'ed */
	size_t nqueues;
	/* Recovery (docs/recovery.md), from the supervisor's ublkbN.super: "live",
	 * "recovering", "failed" ("live" and zeros for an unsupervised server); the
	 * supervisor's pid, the restarts after crashes, the last crash ("" none). */
	char state[16];
	uint64_t supervisor, restarts;
	char last_cause[200];
	/* The ublk I/O commands the queues use (blz_ublk_dev_batch): "batched" or "per-tag"
	 * ("" from a server that does not say). */
	char io_commands[16];
	/* The requests observed (backend/reqlog.h) and the request log */
	struct blz_server_reqstatus {
		uint64_t size_hist[BLZ_REQ_SIZE_N], align_hist[BLZ_REQ_ALIGN_N];
		uint64_t area_bytes[BLZ_AREA_N];
		struct blz_server_latency {
			uint64_t count, p50_ns, p90_ns, p99_ns, max_ns;
		} latency[BLZ_OUT_N];
		uint64_t log_active, log_lines, log_dropped;
	} requests;
};

/* Fills r from summed statistics (the percentiles computed) and a log's counts. */
void blz_server_reqstatus_fill(struct blz_server_reqstatus *r, const struct blz_reqstats *st);

/* Appends the members of s's object, without its braces ("\"device\":...,\"queues\":[...]"),
 * for callers that add members of their own. */
void blz_server_status_encode_members(const struct blz_server_status *s, struct blz_buf *out);
/* Appends s as one JSON object and a newline. */
void blz_server_status_encode(const struct blz_server_status *s, struct blz_buf *out);
/* Parses text[0..len). 0, or -EINVAL / -ERANGE with a message in err (the first member
 * missing or of the wrong type, a string too long, a number too large). ret is untouched on
 * failure; release it with blz_server_status_release. */
int blz_server_status_parse(const char *text, size_t len, struct blz_server_status *ret,
			    char *err, size_t errlen);
void blz_server_status_release(struct blz_server_status *s);

/* The state `blazy list` shows for a device: the kernel's ("live", "quiesced", "dead",
 * "fail-io"), unless a supervisor's state file says more: "recovering" while it takes a
 * quiesced device over, "failed" once it gave up. super_state: NULL or "" when there is
 * none (or its supervisor is gone and it is not "failed"). */
const char *blz_server_state_name(int kernel_state, const char *super_state);

#endif
