/* Fetch accounting: lock-free per-range counters and their text wire format. */
#include "lazy/fetches.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_SHIFT 10
#define PAGE_ENTRIES (1u << PAGE_SHIFT)
#define WORDS (BLZ_FETCH_GRANULES / 64)
#define AREA_MASK 0xfffull /* offsets are multiples of 4 KiB: the area rides in the low bits */

/* One cache line. len != 0 once the entry is claimed; meta = off | area. */
struct ent {
	_Atomic uint64_t reads, bytes;
	_Atomic uint64_t meta;
	_Atomic uint32_t len, store;
	_Atomic uint64_t bits[WORDS];
};

_Static_assert(sizeof(struct ent) == 64, "one cache line per entry");

struct blz_fetch_table {
	uint64_t capacity;
	size_t npages;
	_Atomic(struct ent *) *pages;
	_Atomic uint64_t used, untracked;
};

struct blz_fetch_table *blz_fetch_table_new(uint64_t capacity)
{
	struct blz_fetch_table *t = blz_xcalloc(1, sizeof(*t));
	t->capacity = capacity;
	t->npages = (size_t)((capacity + PAGE_ENTRIES - 1) >> PAGE_SHIFT);
	t->pages = blz_xcalloc(t->npages ? t->npages : 1, sizeof(*t->pages));
	return t;
}

void blz_fetch_table_free(struct blz_fetch_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->npages; i++)
		free(atomic_load_explicit(&t->pages[i], memory_order_relaxed));
	free(t->pages);
	free(t);
}

/* The entry at idx, its page allocated on first use; NULL past the capacity. */
static struct ent *get(struct blz_fetch_table *t, uint64_t idx)
{
	if (idx >= t->capacity)
		return NULL;
	_Atomic(struct ent *) *slot = &t->pages[idx >> PAGE_SHIFT];
	struct ent *p = atomic_load_explicit(slot, memory_order_acquire);
	if (!p) {
		struct ent *fresh = blz_xcalloc(PAGE_ENTRIES, sizeof(*fresh));
		struct ent *expect = NULL;
		if (atomic_compare_exchange_strong_explicit(slot, &expect, fresh, memory_order_acq_rel,
							    memory_order_acquire)) {
			p = fresh;
		} else {
			free(fresh); /* another thread won */
			p = expect;
		}
	}
	return &p[idx & (PAGE_ENTRIES - 1)];
}

/* Records where the entry lies. Every counting thread either stores the same values or sees
 * them (acquire), so its later release on reads publishes them to a collector. */
static void claim(struct ent *e, int area, uint64_t off, uint32_t len)
{
	if (atomic_load_explicit(&e->len, memory_order_acquire))
		return;
	atomic_store_explicit(&e->meta, (off & ~AREA_MASK) | (uint64_t)area, memory_order_relaxed);
	atomic_store_explicit(&e->len, len, memory_order_release);
}

uint64_t blz_fetch_granule(uint64_t len)
{
	uint64_t g = 4096;
	while (len > (uint64_t)BLZ_FETCH_GRANULES * g)
		g <<= 1;
	return g;
}

void blz_fetch_count(struct blz_fetch_table *t, uint64_t idx, int area, uint64_t off,
		     uint32_t len, uint32_t rel, uint32_t n)
{
	if (!n || rel + (uint64_t)n > len)
		return; /* nothing read, or not of this range */
	struct ent *e = get(t, idx);
	if (!e) {
		atomic_fetch_add_explicit(&t->untracked, 1, memory_order_relaxed);
		return;
	}
	claim(e, area, off, len);
	uint64_t g = blz_fetch_granule(len);
	uint64_t first = rel / g, last = ((uint64_t)rel + n - 1) / g;
	if (last >= BLZ_FETCH_GRANULES)
		last = BLZ_FETCH_GRANULES - 1;
	for (uint64_t w = first / 64; w <= last / 64; w++) {
		uint64_t lo = w == first / 64 ? first % 64 : 0;
		uint64_t hi = w == last / 64 ? last % 64 : 63;
		uint64_t m = (hi == 63 ? ~0ull : (1ull << (hi + 1)) - 1) & ~((1ull << lo) - 1);
		/* Read first: granules already marked cost no write to a shared line. */
		if ((atomic_load_explicit(&e->bits[w], memory_order_relaxed) & m) != m)
			atomic_fetch_or_explicit(&e->bits[w], m, memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&e->bytes, n, memory_order_relaxed);
	if (atomic_fetch_add_explicit(&e->reads, 1, memory_order_release) == 0)
		atomic_fetch_add_explicit(&t->used, 1, memory_order_relaxed);
}

void blz_fetch_count_store(struct blz_fetch_table *t, uint64_t idx, int area, uint64_t off,
			   uint32_t len)
{
	struct ent *e = get(t, idx);
	if (!e || !len)
		return;
	claim(e, area, off, len);
	atomic_fetch_add_explicit(&e->store, 1, memory_order_relaxed);
}

uint64_t blz_fetch_table_used(const struct blz_fetch_table *t)
{
	return atomic_load_explicit(&t->used, memory_order_relaxed);
}

uint64_t blz_fetch_table_untracked(const struct blz_fetch_table *t)
{
	return atomic_load_explicit(&t->untracked, memory_order_relaxed);
}

void blz_fetch_table_collect(struct blz_fetch_table *t, struct blz_fetch_entries *out)
{
	for (size_t pi = 0; pi < t->npages; pi++) {
		struct ent *p = atomic_load_explicit(&t->pages[pi], memory_order_acquire);
		if (!p)
			continue;
		for (size_t i = 0; i < PAGE_ENTRIES; i++) {
			struct ent *e = &p[i];
			uint64_t reads = atomic_load_explicit(&e->reads, memory_order_acquire);
			if (!reads)
				continue;
			struct blz_fetch_entry c = { .reads = reads };
			c.len = atomic_load_explicit(&e->len, memory_order_acquire);
			uint64_t meta = atomic_load_explicit(&e->meta, memory_order_relaxed);
			c.off = meta & ~AREA_MASK;
			c.area = (int)(meta & AREA_MASK);
			c.bytes = atomic_load_explicit(&e->bytes, memory_order_relaxed);
			c.store = atomic_load_explicit(&e->store, memory_order_relaxed);
			for (int w = 0; w < WORDS; w++)
				c.bits[w] = atomic_load_explicit(&e->bits[w], memory_order_relaxed);
			vec_push(out, c);
		}
	}
}

/* ---- wire format ---- */

static const char *const area_names[] = { "local", "import", "virtual" };

const char *blz_fetch_area_name(int area)
{
	return area >= 0 && area <= BLZ_FETCH_VIRTUAL ? area_names[area] : "?";
}

void blz_fetch_format_header(struct blz_buf *b, uint64_t untracked)
{
	blz_buf_printf(b, "blazy-fetches %d %" PRIu64 "\n", BLZ_FETCH_WIRE_VERSION, untracked);
}

static bool bit(const uint64_t *bits, uint64_t i)
{
	return bits[i / 64] >> (i % 64) & 1;
}

void blz_fetch_format_entry(struct blz_buf *b, const struct blz_fetch_entry *e)
{
	blz_buf_printf(b, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " ",
		blz_fetch_area_name(e->area), e->off, e->len, e->reads, e->bytes, e->store);
	uint64_t g = blz_fetch_granule(e->len);
	uint64_t n = (e->len + g - 1) / g;
	bool any = false;
	for (uint64_t i = 0; i < n;) {
		if (!bit(e->bits, i)) {
			i++;
			continue;
		}
		uint64_t j = i;
		while (j < n && bit(e->bits, j))
			j++;
		uint64_t start = i * g, end = j * g < e->len ? j * g : e->len;
		blz_buf_printf(b, "%s%" PRIu64 "+%" PRIu64, any ? "," : "", start, end - start);
		any = true;
		i = j;
	}
	if (!any)
		blz_buf_append(b, "-", 1);
	blz_buf_append(b, "\n", 1);
}

/* A decimal u64 ending at one of the stop characters (or the end of the text when stops
 * holds '\n'); advances *p to the stop. */
static int num(const char **p, const char *stops, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s ? !strchr(stops, *s) : !strchr(stops, '\n'))
		return -1;
	*p = s;
	*ret = v;
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct blz_fetch_range *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* One range line (NUL- or newline-terminated at end). */
static int parse_line(const char *s, struct blz_fetch_list *l, const char **why)
{
	struct blz_fetch_range r = { .area = -1 };
	for (int a = 0; a <= BLZ_FETCH_VIRTUAL; a++) {
		size_t n = strlen(area_names[a]);
		if (!strncmp(s, area_names[a], n) && s[n] == ' ') {
			r.area = a;
			s += n + 1;
		}
	}
	if (r.area < 0)
		return *why = "unknown area", -1;
	uint64_t *f[5] = { &r.off, &r.len, &r.reads, &r.bytes, &r.store };
	for (int i = 0; i < 5; i++) {
		if (num(&s, " ", f[i]) < 0)
			return *why = "bad number", -1;
		s++;
	}
	if (!r.len || r.off + r.len < r.off)
		return *why = "bad range", -1;
	r.first_span = l->spans.len;
	if (*s == '-') {
		s++;
	} else {
		uint64_t prev_end = 0;
		for (;;) {
			uint64_t rel, len;
			if (num(&s, "+", &rel) < 0 || (s++, num(&s, ",\n", &len)) < 0)
				return *why = "bad touched piece", -1;
			if (!len || rel < prev_end || rel > r.len || len > r.len - rel)
				return *why = "touched piece outside the range or out of order", -1;
			prev_end = rel + len;
			struct blz_fetch_span sp = { r.off + rel, len };
			vec_push(&l->spans, sp);
			if (*s != ',')
				break;
			s++;
		}
	}
	if (*s && *s != '\n')
		return *why = "trailing text", -1;
	r.nr_spans = l->spans.len - r.first_span;
	vec_push(&l->ranges, r);
	return 0;
}

int blz_fetch_parse(const char *text, struct blz_fetch_list *ret, char *err, size_t errlen)
{
	struct blz_fetch_list l = { 0 };
	const char *why = NULL;
	int version = 0;
	unsigned long long untracked = 0;
	int used = 0;
	size_t lineno = 1;
	if (sscanf(text, "blazy-fetches %d %llu%n", &version, &untracked, &used) != 2 ||
	    (text[used] != '\n' && text[used] != 0))
		return blz_errf(err, errlen, -EBADMSG, "line 1: not a fetches reply");
	if (version != BLZ_FETCH_WIRE_VERSION)
		return blz_errf(err, errlen, -EBADMSG, "line 1: fetches format %d (this blazy reads %d)",
				version, BLZ_FETCH_WIRE_VERSION);
	l.untracked = untracked;
	for (const char *s = strchr(text, '\n'); s && s[1]; s = strchr(s, '\n')) {
		s++;
		lineno++;
		if (parse_line(s, &l, &why) < 0) {
			blz_fetch_list_release(&l);
			return blz_errf(err, errlen, -EBADMSG, "line %zu: %s", lineno, why);
		}
	}
	if (l.ranges.len > 1)
		qsort(l.ranges.v, l.ranges.len, sizeof(*l.ranges.v), range_cmp);
	*ret = l;
	return 0;
}

void blz_fetch_list_release(struct blz_fetch_list *l)
{
	vec_release(&l->ranges);
	vec_release(&l->spans);
	l->untracked = 0;
}
