/* The map's in-memory index: a sorted array of records, bisection for lookups. */
#include "map/index.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

static inline uint64_t rec_end(const struct blz_map_rec *r)
{
	return r->off + r->len; /* cannot overflow: blz_map_rec_check() */
}

/* The first record whose offset is above off (ix->len if none). */
static size_t upper(const struct blz_map_index *ix, uint64_t off)
{
	size_t lo = 0, hi = ix->len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->keys[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A record of the index that overlaps [off, end), or NULL. */
static const struct blz_map_rec *find_overlap(const struct blz_map_index *ix, uint64_t off,
					      uint64_t end)
{
	if (!ix->len || off >= rec_end(&ix->v[ix->len - 1]))
		return NULL; /* the common case: above everything */
	size_t u = upper(ix, off);
	if (u > 0 && rec_end(&ix->v[u - 1]) > off)
		return &ix->v[u - 1];
	if (u < ix->len && ix->v[u].off < end)
		return &ix->v[u];
	return NULL;
}

struct span {
	uint64_t off, end;
	size_t i;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->i < y->i ? -1 : (x->i > y->i);
}

int blz_map_index_check(const struct blz_map_index *ix, const struct blz_map_rec *recs,
			size_t n, size_t *ret_bad, char *why, size_t whylen)
{
	uint64_t hwm[BLZ_MAP_AREA_MAX + 1];
	for (int a = 0; a <= BLZ_MAP_AREA_MAX; a++)
		hwm[a] = ix->area[a].records ? ix->area[a].end : 0;

	for (size_t i = 0; i < n; i++) {
		const struct blz_map_rec *r = &recs[i];
		const struct blz_map_rec *o = find_overlap(ix, r->off, rec_end(r));
		if (o) {
			snprintf(why, whylen, "[%" PRIu64 ", %" PRIu64 ") overlaps record %" PRIu64
				 " [%" PRIu64 ", %" PRIu64 ")", r->off, rec_end(r), o->seq, o->off,
				 rec_end(o));
			*ret_bad = i;
			return -EEXIST;
		}
		if (r->off < hwm[r->area]) {
			snprintf(why, whylen, "offset %" PRIu64 " is below the high-water mark %"
				 PRIu64 " of area %u (offsets are never reused)", r->off,
				 hwm[r->area], r->area);
			*ret_bad = i;
			return -EEXIST;
		}
		hwm[r->area] = rec_end(r);
	}
	if (n < 2)
		return 0;

	/* Records of different areas in one batch could still overlap each other. */
	struct span *s = blz_xmalloc(n * sizeof(*s));
	bool sorted = true;
	for (size_t i = 0; i < n; i++) {
		s[i] = (struct span){ recs[i].off, rec_end(&recs[i]), i };
		if (i && s[i].off < s[i - 1].off)
			sorted = false;
	}
	if (!sorted)
		qsort(s, n, sizeof(*s), span_cmp);
	int r = 0;
	for (size_t i = 1; i < n; i++) {
		if (s[i].off < s[i - 1].end) {
			size_t a = s[i - 1].i, b = s[i].i;
			if (a > b) {
				size_t t = a;
				a = b;
				b = t;
			}
			snprintf(why, whylen, "[%" PRIu64 ", %" PRIu64 ") overlaps record %zu of "
				 "the same batch [%" PRIu64 ", %" PRIu64 ")", recs[b].off,
				 rec_end(&recs[b]), a, recs[a].off, rec_end(&recs[a]));
			*ret_bad = b;
			r = -EEXIST;
			break;
		}
	}
	free(s);
	return r;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct blz_map_rec *x = a, *y = b;
	return x->off < y->off ? -1 : (x->off > y->off);
}

void blz_map_index_insert(struct blz_map_index *ix, const struct blz_map_rec *recs, size_t n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		struct blz_map_index_area *a = &ix->area[recs[i].area];
		if (!a->records || recs[i].off < a->first)
			a->first = recs[i].off;
		if (!a->records || rec_end(&recs[i]) > a->end)
			a->end = rec_end(&recs[i]);
		a->records++;
		a->mapped_bytes += recs[i].len;
		a->data_bytes += recs[i].data_len;
	}

	if (ix->len + n > ix->cap) {
		size_t nc = ix->cap ? ix->cap : 1024;
		while (nc < ix->len + n)
			nc *= 2;
		ix->v = blz_xrealloc(ix->v, nc * sizeof(*ix->v));
		ix->keys = blz_xrealloc(ix->keys, nc * sizeof(*ix->keys));
		ix->cap = nc;
	}

	/* Sort the batch (usually it already is). */
	const struct blz_map_rec *b = recs;
	struct blz_map_rec *copy = NULL;
	for (size_t i = 1; i < n; i++) {
		if (recs[i].off < recs[i - 1].off) {
			copy = blz_xmemdup(recs, n * sizeof(*recs));
			qsort(copy, n, sizeof(*copy), rec_cmp);
			b = copy;
			break;
		}
	}

	if (!ix->len || b[0].off > ix->v[ix->len - 1].off) {
		memcpy(ix->v + ix->len, b, n * sizeof(*b));
		for (size_t j = 0; j < n; j++)
			ix->keys[ix->len + j] = b[j].off;
	} else {
		/* Merge from the back: only the records above the batch's lowest move. */
		size_t i = ix->len, j = n, w = ix->len + n;
		while (j > 0) {
			--w;
			if (i > 0 && ix->v[i - 1].off > b[j - 1].off)
				ix->v[w] = ix->v[--i];
			else
				ix->v[w] = b[--j];
			ix->keys[w] = ix->v[w].off;
		}
	}
	ix->len += n;
	free(copy);
}

size_t blz_map_index_lookup(const struct blz_map_index *ix, uint64_t off, uint64_t len,
			    struct blz_map_seg *out, size_t max)
{
	uint64_t pos = off, end = off + len;
	size_t n = 0;
	size_t i = upper(ix, off);
	if (i > 0 && rec_end(&ix->v[i - 1]) > off)
		i--;
	/* Invariant: ix->v[i] covers pos, or starts above it. */
	while (pos < end && n < max) {
		struct blz_map_seg *s = &out[n++];
		if (i < ix->len && ix->v[i].off <= pos) {
			const struct blz_map_rec *r = &ix->v[i++];
			uint64_t e = rec_end(r) < end ? rec_end(r) : end;
			s->off = pos;
			s->len = e - pos;
			s->mapped = true;
			s->rec_off = (uint32_t)(pos - r->off);
			s->rec = *r;
			pos = e;
		} else {
			uint64_t e = i < ix->len && ix->v[i].off < end ? ix->v[i].off : end;
			memset(s, 0, sizeof(*s));
			s->off = pos;
			s->len = e - pos;
			s->mapped = false;
			pos = e;
		}
	}
	return n;
}

void blz_map_index_release(struct blz_map_index *ix)
{
	free(ix->v);
	free(ix->keys);
	memset(ix, 0, sizeof(*ix));
}
