/*
 * Observing the requests a server serves: one record per request, its text line in the
 * request log (docs/request-log.md), statistics (histograms of sizes, alignments and
 * latencies), and the recorder a server keeps per queue (recorder.c).
 *
 * The request log is text, one header line and then one line per request:
 *   # blazy request log 1 t0_unix_ns=T0
 *   TIME QUEUE TAG OP OFFSET LENGTH AREA OUTCOME LATENCY
 * fields separated by one space, lines ended by "\n", numbers decimal without leading zeros:
 *   TIME     ns from T0 (the recorder's start, CLOCK_REALTIME ns since 1970) to the request's
 *            arrival
 *   QUEUE    0..4095, TAG 0..4095
 *   OP       read write flush discard write-zeroes other
 *   OFFSET   byte offset, LENGTH bytes (< 2^32)
 *   AREA     - local import virtual gap   (enum blz_area; "-": the backend has no areas)
 *   OUTCOME  ok zero image cache fetch unmapped error   (enum blz_outcome)
 *   LATENCY  ns from arrival to completion
 * Lines are written in batches per queue: they are in time order within a queue, not
 * across queues. The decoder accepts exactly this and nothing else.
 */
#ifndef BLZ_BACKEND_REQLOG_H
#define BLZ_BACKEND_REQLOG_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "util/strbuf.h"

enum blz_req_op {
	BLZ_OP_READ,
	BLZ_OP_WRITE,
	BLZ_OP_FLUSH,
	BLZ_OP_DISCARD,
	BLZ_OP_WRITE_ZEROES,
	BLZ_OP_OTHER,
	BLZ_OP_N
};

struct blz_reqrec {
	uint64_t t_ns;   /* arrival, ns since the recorder's start */
	uint64_t off;    /* bytes */
	uint64_t lat_ns; /* arrival to completion */
	uint32_t len;    /* bytes */
	uint16_t queue, tag;
	uint8_t op, area, outcome;
};

#define BLZ_REQLOG_MAX_LINE 160 /* a line's length bound, newline included */

const char *blz_req_op_name(unsigned op);           /* "read", ...; "?" out of range */
const char *blz_area_name(unsigned area);           /* "-", "local", ... */
const char *blz_outcome_name(unsigned outcome);     /* "ok", "zero", ... */

/* Appends the header line. */
void blz_reqlog_header(struct blz_buf *out, uint64_t t0_unix_ns);
/* Appends rec's line (at most BLZ_REQLOG_MAX_LINE bytes). */
void blz_reqlog_encode(struct blz_buf *out, const struct blz_reqrec *rec);
/* Parses a header line (without its newline): 0 with *ret_t0, or -EINVAL. */
int blz_reqlog_parse_header(const char *line, size_t len, uint64_t *ret_t0);
/* Parses one record line (without its newline): 0 with *ret, or -EINVAL (ret untouched). */
int blz_reqlog_parse(const char *line, size_t len, struct blz_reqrec *ret);

/*
 * Statistics. Sizes and alignments are counted for reads; outcomes and latencies for
 * every request. Histograms are log-scale:
 *   size    bucket i: reads of [2^i, 2^(i+1)) bytes (bucket 0 also holds 0)
 *   align   bucket i: reads whose offset is a multiple of 2^i but not 2^(i+1); 64: offset 0
 *   latency per outcome, 8 sub-buckets per power of two of ns (values < 8 exact): a
 *           percentile is the upper bound of its bucket (at most 12.5% above), capped at
 *           the maximum seen
 * area_bytes: the bytes of successful reads by the area of their first byte.
 */
#define BLZ_REQ_SIZE_N 33
#define BLZ_REQ_ALIGN_N 65
#define BLZ_REQ_LAT_N 496

struct blz_reqstats {
	uint64_t size_hist[BLZ_REQ_SIZE_N], align_hist[BLZ_REQ_ALIGN_N];
	uint64_t area_bytes[BLZ_AREA_N];
	uint64_t count[BLZ_OUT_N], lat_max[BLZ_OUT_N];
	uint64_t lat[BLZ_OUT_N][BLZ_REQ_LAT_N];
};

/* Counts rec in s. Single writer: every store is a relaxed atomic one, so another thread
 * may read s (blz_reqstats_add_to) while it is updated. */
void blz_reqstats_count(struct blz_reqstats *s, const struct blz_reqrec *rec);
/* sum += s (relaxed atomic loads of s). */
void blz_reqstats_add_to(const struct blz_reqstats *s, struct blz_reqstats *sum);
/* The latency bucket of ns, and the largest value in bucket i. */
unsigned blz_reqstats_lat_bucket(uint64_t ns);
uint64_t blz_reqstats_lat_upper(unsigned i);
/* The p-th percentile (0 < p <= 100) of outcome's latencies, ns; 0 when there are none. */
uint64_t blz_reqstats_percentile(const struct blz_reqstats *s, unsigned outcome, double p);

#endif
