/*
 * Fetch accounting: which device ranges a workload read, how often and how much.
 *
 * A table of counters, one entry per range: per map record for the lazy areas (indexed by
 * the record's sequence number, which is dense from 0 and never reused) and per 1 MiB region
 * for the local region (indexed by offset / 1 MiB). Each entry counts the reads that touched
 * it, the bytes served from it, the times its chunk was loaded from the store (cache misses)
 * and which of its 256 granules were read: 4 KiB each for ranges up to 1 MiB, a larger power
 * of two times 4 KiB otherwise. The granule bitmap is what lets a client tell which files of
 * a range were read when several files share one record or region.
 *
 * Concurrency: counting is lock-free (relaxed atomics on the entry; a page of entries is
 * allocated on first use with compare-and-swap), so queue threads count concurrently and
 * the I/O path never waits. A collector may run at any time; it sees each entry's counters
 * as some recent value (not one instant across entries).
 *
 * Memory: 64 bytes per entry in pages of 1024 entries (64 KiB), allocated only for pages
 * with at least one counted entry, plus a directory of 8 bytes per 1024 possible entries.
 * Indexes at or above the table's capacity are not kept; their reads are counted as
 * untracked.
 *
 * WIRE FORMAT (the control socket's "fetches" reply; text, decimal, one range a line):
 *   blazy-fetches 1 UNTRACKED
 *   AREA OFF LEN READS BYTES STORE TOUCHED
 * AREA is local, import or virtual; OFF and LEN the range on the device (the record, or the
 * local region); READS the requests that touched it; BYTES the bytes served from it; STORE
 * the chunk loads from the store; TOUCHED the granules read, as comma-separated REL+LEN
 * pieces relative to OFF (coalesced, clipped to LEN). Only ranges with READS > 0 appear.
 */
#ifndef BLZ_LAZY_FETCHES_H
#define BLZ_LAZY_FETCHES_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

#define BLZ_FETCH_GRANULES 256
#define BLZ_FETCH_REGION (1u << 20) /* local-region entries cover this many bytes */
#define BLZ_FETCH_WIRE_VERSION 1

enum {
	BLZ_FETCH_LOCAL = 0,
	BLZ_FETCH_IMPORT = 1,  /* == BLZ_MAP_AREA_IMPORT */
	BLZ_FETCH_VIRTUAL = 2, /* == BLZ_MAP_AREA_VIRTUAL */
};

struct blz_fetch_table;

/* A table for indexes [0, capacity). */
struct blz_fetch_table *blz_fetch_table_new(uint64_t capacity);
void blz_fetch_table_free(struct blz_fetch_table *t); /* accepts NULL */

/* One read of [rel, rel + n) of the range [off, off + len) (n > 0, rel + n <= len) held at
 * index idx, of the given area. Lock-free; callable from any thread. */
void blz_fetch_count(struct blz_fetch_table *t, uint64_t idx, int area, uint64_t off,
		     uint32_t len, uint32_t rel, uint32_t n);
/* One load of the range's chunk from the store. */
void blz_fetch_count_store(struct blz_fetch_table *t, uint64_t idx, int area, uint64_t off,
			   uint32_t len);
/* Entries with reads; reads at indexes past the capacity. */
uint64_t blz_fetch_table_used(const struct blz_fetch_table *t);
uint64_t blz_fetch_table_untracked(const struct blz_fetch_table *t);

/* The granule size for a range of len bytes: 4 KiB << k, the least with
 * len <= BLZ_FETCH_GRANULES * granule. */
uint64_t blz_fetch_granule(uint64_t len);

/* A copy of one entry. */
struct blz_fetch_entry {
	int area;
	uint64_t off, len;
	uint64_t reads, bytes, store;
	uint64_t bits[BLZ_FETCH_GRANULES / 64];
};

struct blz_fetch_entries {
	struct blz_fetch_entry *v; /* a VEC (util/strbuf.h) */
	size_t len, cap;
};

/* Appends every entry with reads > 0, in index order, to *out. */
void blz_fetch_table_collect(struct blz_fetch_table *t, struct blz_fetch_entries *out);

/* ---- the wire format ---- */

const char *blz_fetch_area_name(int area);
/* The header line (with the untracked count) and one line per entry. */
void blz_fetch_format_header(struct blz_buf *b, uint64_t untracked);
void blz_fetch_format_entry(struct blz_buf *b, const struct blz_fetch_entry *e);

struct blz_fetch_span {
	uint64_t off, len; /* absolute device range */
};

/* One parsed range; its touched pieces are spans[first_span, first_span + nr_spans). */
struct blz_fetch_range {
	int area;
	uint64_t off, len;
	uint64_t reads, bytes, store;
	size_t first_span, nr_spans;
};

struct blz_fetch_list {
	VEC(struct blz_fetch_range) ranges;
	VEC(struct blz_fetch_span) spans;
	uint64_t untracked;
};

/* Parses a "fetches" reply; the ranges come out sorted by offset. -EBADMSG with the line
 * number and a reason in err. */
int blz_fetch_parse(const char *text, struct blz_fetch_list *ret, char *err, size_t errlen);
void blz_fetch_list_release(struct blz_fetch_list *l);

#endif
