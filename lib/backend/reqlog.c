/* The request log's lines and the request statistics: see reqlog.h. */
#include "backend/reqlog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The names of ops, areas and outcomes, with their lengths (the encoder copies them). */
struct name {
	const char *s;
	size_t n;
};
#define NAME(x) { x, sizeof(x) - 1 }
static const struct name op_names[BLZ_OP_N] = {
	NAME("read"), NAME("write"), NAME("flush"), NAME("discard"), NAME("write-zeroes"),
	NAME("other"),
};
static const struct name area_names[BLZ_AREA_N] = {
	NAME("-"), NAME("local"), NAME("import"), NAME("virtual"), NAME("gap"),
};
static const struct name outcome_names[BLZ_OUT_N] = {
	NAME("ok"), NAME("zero"), NAME("image"), NAME("cache"), NAME("fetch"), NAME("unmapped"),
	NAME("error"),
};
static const struct name unknown = NAME("?");

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct name *op_name(unsigned op)
{
	return op < NELEM(op_names) ? &op_names[op] : &unknown;
}

static const struct name *area_name(unsigned area)
{
	return area < NELEM(area_names) ? &area_names[area] : &unknown;
}

static const struct name *outcome_name(unsigned outcome)
{
	return outcome < NELEM(outcome_names) ? &outcome_names[outcome] : &unknown;
}

const char *blz_req_op_name(unsigned op)
{
	return op_name(op)->s;
}

const char *blz_area_name(unsigned area)
{
	return area_name(area)->s;
}

const char *blz_outcome_name(unsigned outcome)
{
	return outcome_name(outcome)->s;
}

#define HEADER "# blazy request log 1 t0_unix_ns="

void blz_reqlog_header(struct blz_buf *out, uint64_t t0_unix_ns)
{
	blz_buf_printf(out, HEADER "%" PRIu64 "\n", t0_unix_ns);
}

/* "00".."99": put_u64 writes two digits per division */
static const char digits2[201] = "0001020304050607080910111213141516171819"
				 "2021222324252627282930313233343536373839"
				 "4041424344454647484950515253545556575859"
				 "6061626364656667686970717273747576777879"
				 "8081828384858687888990919293949596979899";

/* The number of decimal digits of v (1 for 0), without dividing: from its bit length,
 * corrected by one comparison. */
static unsigned ndigits(uint64_t v)
{
	static const uint64_t pow10[20] = {
		1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
		100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
		10000000000000ull, 100000000000000ull, 1000000000000000ull,
		10000000000000000ull, 100000000000000000ull, 1000000000000000000ull,
		10000000000000000000ull,
	};
	unsigned bits = 64u - (unsigned)__builtin_clzll(v | 1);
	unsigned n = (bits * 1233u) >> 12; /* floor(bits * log10(2)), one low at most */
	return n + (n < 20 && (v | 1) >= pow10[n]); /* (v | 1: 0 has one digit) */
}

/* v in decimal and then c, at p; returns the end. Writes from the last digit back, two at
 * a time, in 32-bit arithmetic once v fits (the writer formats a line per request: under
 * TCG every instruction counts). */
static char *put_u64(char *p, uint64_t v, char c)
{
	unsigned n = ndigits(v);
	char *e = p + n;
	while (v > UINT32_MAX) {
		unsigned d = (unsigned)(v % 100) * 2;
		v /= 100;
		e -= 2;
		memcpy(e, digits2 + d, 2);
	}
	uint32_t w = (uint32_t)v;
	while (w >= 100) {
		unsigned d = (w % 100) * 2;
		w /= 100;
		e -= 2;
		memcpy(e, digits2 + d, 2);
	}
	if (w >= 10)
		memcpy(e - 2, digits2 + w * 2, 2);
	else
		e[-1] = (char)('0' + w);
	p[n] = c;
	return p + n + 1;
}

static char *put_name(char *p, const struct name *nm, char c)
{
	memcpy(p, nm->s, nm->n);
	p[nm->n] = c;
	return p + nm->n + 1;
}

/* By hand rather than printf: the writer formats every request the server serves. */
void blz_reqlog_encode(struct blz_buf *out, const struct blz_reqrec *r)
{
	blz_buf_reserve(out, BLZ_REQLOG_MAX_LINE);
	char *start = (char *)out->data + out->len, *p = start;
	p = put_u64(p, r->t_ns, ' ');
	p = put_u64(p, r->queue, ' ');
	p = put_u64(p, r->tag, ' ');
	p = put_name(p, op_name(r->op), ' ');
	p = put_u64(p, r->off, ' ');
	p = put_u64(p, r->len, ' ');
	p = put_name(p, area_name(r->area), ' ');
	p = put_name(p, outcome_name(r->outcome), ' ');
	p = put_u64(p, r->lat_ns, '\n');
	out->len += (size_t)(p - start);
}

/* A decimal number without leading zeros, at most max, ending at *p's next space or at end
 * (then *p moves past the space). */
static int num(const char **p, const char *end, uint64_t max, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	if (s == end || *s < '0' || *s > '9' || (*s == '0' && s + 1 < end && s[1] != ' '))
		return -EINVAL;
	for (; s < end && *s != ' '; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*p = s < end ? s + 1 : s;
	*ret = v;
	return 0;
}

/* One of names[0..n), followed by a space or the end. */
static int name(const char **p, const char *end, const struct name *names, size_t n,
		uint8_t *ret)
{
	const char *s = *p, *e = memchr(s, ' ', (size_t)(end - s));
	if (!e)
		e = end;
	for (size_t i = 0; i < n; i++) {
		if (names[i].n == (size_t)(e - s) && !memcmp(names[i].s, s, names[i].n)) {
			*ret = (uint8_t)i;
			*p = e < end ? e + 1 : e;
			return 0;
		}
	}
	return -EINVAL;
}

int blz_reqlog_parse_header(const char *line, size_t len, uint64_t *ret_t0)
{
	size_t h = strlen(HEADER);
	const char *p = line + h;
	uint64_t t0;
	if (len <= h || memcmp(line, HEADER, h) || num(&p, line + len, UINT64_MAX, &t0) < 0 ||
	    p != line + len || p[-1] == ' ')
		return -EINVAL;
	*ret_t0 = t0;
	return 0;
}

int blz_reqlog_parse(const char *line, size_t len, struct blz_reqrec *ret)
{
	const char *p = line, *end = line + len;
	uint64_t t, q, tag, off, l, lat;
	struct blz_reqrec r = { 0 };
	if (len == 0 || line[len - 1] == ' ' ||
	    num(&p, end, UINT64_MAX, &t) < 0 || num(&p, end, 4095, &q) < 0 ||
	    num(&p, end, 4095, &tag) < 0 || name(&p, end, op_names, BLZ_OP_N, &r.op) < 0 ||
	    num(&p, end, UINT64_MAX, &off) < 0 || num(&p, end, UINT32_MAX, &l) < 0 ||
	    name(&p, end, area_names, BLZ_AREA_N, &r.area) < 0 ||
	    name(&p, end, outcome_names, BLZ_OUT_N, &r.outcome) < 0 ||
	    num(&p, end, UINT64_MAX, &lat) < 0 || p != end)
		return -EINVAL;
	r.t_ns = t;
	r.queue = (uint16_t)q;
	r.tag = (uint16_t)tag;
	r.off = off;
	r.len = (uint32_t)l;
	r.lat_ns = lat;
	*ret = r;
	return 0;
}

/* ---- statistics ---- */

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define BUMP(x, v) __atomic_store_n(&(x), LOAD(x) + (v), __ATOMIC_RELAXED)

unsigned blz_reqstats_lat_bucket(uint64_t ns)
{
	if (ns < 8)
		return (unsigned)ns;
	unsigned e = 63 - (unsigned)__builtin_clzll(ns);
	return (e - 2) * 8 + (unsigned)((ns >> (e - 3)) & 7);
}

uint64_t blz_reqstats_lat_upper(unsigned i)
{
	if (i < 8)
		return i;
	unsigned e = i / 8 + 2, sub = i % 8;
	uint64_t low = (uint64_t)(8 + sub) << (e - 3);
	return low + (((uint64_t)1 << (e - 3)) - 1);
}

void blz_reqstats_count(struct blz_reqstats *s, const struct blz_reqrec *r)
{
	unsigned o = r->outcome < BLZ_OUT_N ? r->outcome : BLZ_OUT_ERROR;
	BUMP(s->count[o], 1);
	BUMP(s->lat[o][blz_reqstats_lat_bucket(r->lat_ns)], 1);
	if (r->lat_ns > LOAD(s->lat_max[o]))
		__atomic_store_n(&s->lat_max[o], r->lat_ns, __ATOMIC_RELAXED);
	if (r->op != BLZ_OP_READ)
		return;
	BUMP(s->size_hist[r->len ? 31 - __builtin_clz(r->len) : 0], 1);
	BUMP(s->align_hist[r->off ? __builtin_ctzll(r->off) : 64], 1);
	if (o < BLZ_OUT_UNMAPPED && r->area < BLZ_AREA_N)
		BUMP(s->area_bytes[r->area], r->len);
}

static void add_n(const uint64_t *a, uint64_t *sum, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sum[i] += LOAD(a[i]);
}

void blz_reqstats_add_to(const struct blz_reqstats *s, struct blz_reqstats *sum)
{
	add_n(s->size_hist, sum->size_hist, BLZ_REQ_SIZE_N);
	add_n(s->align_hist, sum->align_hist, BLZ_REQ_ALIGN_N);
	add_n(s->area_bytes, sum->area_bytes, BLZ_AREA_N);
	add_n(s->count, sum->count, BLZ_OUT_N);
	add_n(&s->lat[0][0], &sum->lat[0][0], (size_t)BLZ_OUT_N * BLZ_REQ_LAT_N);
	for (unsigned o = 0; o < BLZ_OUT_N; o++)
		if (LOAD(s->lat_max[o]) > sum->lat_max[o])
			sum->lat_max[o] = LOAD(s->lat_max[o]);
}

uint64_t blz_reqstats_percentile(const struct blz_reqstats *s, unsigned o, double p)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < BLZ_REQ_LAT_N; i++)
		n += s->lat[o][i];
	if (!n)
		return 0;
	/* the smallest bucket by which at least p% of the values are counted */
	double want = p / 100.0 * (double)n;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BLZ_REQ_LAT_N; i++) {
		seen += s->lat[o][i];
		if (seen && (double)seen >= want) {
			uint64_t up = blz_reqstats_lat_upper(i);
			return up < s->lat_max[o] ? up : s->lat_max[o];
		}
	}
	return s->lat_max[o];
}
