/*
 * Streaming gzip/DEFLATE decoder; see inflate.h for the contract.
 *
 * The decoder is a state machine that can stop wherever its input runs out and resume
 * with the next piece: bits are gathered in a 64-bit buffer, and a Huffman symbol (with
 * its extra bits, where they must be read together) is taken from the buffer only once
 * all its bits are there. Output goes to a window holding the last 32 KiB of history
 * followed by the new bytes; when the window fills up, the next call moves the history
 * back to its start.
 *
 * Huffman codes are decoded with one table lookup: a root table indexed by the next
 * LIT_ROOT (DIST_ROOT) bits of the stream, whose entries for longer codes point to a
 * second-level table indexed by the bits that follow. While at least 8 input bytes and a
 * maximal match's room in the window are left, a fast loop decodes whole symbols without
 * checking for the end of its input (one refill gives the 48 bits the longest
 * length/distance pair needs).
 */
#include "tar/inflate.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/strbuf.h"

#define WSIZE 32768                              /* farthest a distance reaches back */
#define MAX_MATCH 258
#define LIMIT (WSIZE + BLZ_INFLATE_CHUNK)        /* output stops here (or a chunk on)... */
#define SLIDE_AT (WSIZE + BLZ_INFLATE_CHUNK / 2) /* ...and slides back from here */
#define WIN_ALLOC (LIMIT + 64)                   /* the fast copy may write 7 bytes past a match */

/*
 * A table entry: bits 0-3 the code's length, 4-7 the number of extra bits (for E_SUB: the
 * index bits of the second-level table), 8-11 the kind, 16-31 the value (literal byte,
 * length or distance base, second-level table offset). No kind bit: an invalid code.
 */
#define E_LIT 0x100  /* a literal, or a code length symbol */
#define E_BASE 0x200 /* a length or a distance: value + extra bits */
#define E_EOB 0x400
#define E_SUB 0x800

#define LIT_ROOT 10
#define DIST_ROOT 8
#define CL_ROOT 7 /* = the longest code length code: no second level */
/*
 * Second-level tables have 2^(longest code - root) entries, and each serves at least two
 * codes (a complete code has no lone leaf below a root entry): at most 286/2 of them for
 * literal/length codes and 30/2 for distance codes.
 */
#define LIT_TABLE ((1 << LIT_ROOT) + 143 * (1 << (15 - LIT_ROOT)))
#define DIST_TABLE ((1 << DIST_ROOT) + 15 * (1 << (15 - DIST_ROOT)))

/* gzip header flags */
#define FHCRC 0x02
#define FEXTRA 0x04
#define FNAME 0x08
#define FCOMMENT 0x10
#define FRESERVED 0xe0

enum state {
	S_END,      /* before a member, or after one's trailer */
	S_HEADER,   /* the 10 fixed header bytes */
	S_XLEN,     /* FEXTRA length */
	S_EXTRA,
	S_NAME,
	S_COMMENT,
	S_HCRC,
	S_BLOCK,    /* BFINAL and BTYPE */
	S_STORED,   /* LEN and NLEN */
	S_COPY,     /* stored bytes */
	S_TABLE,    /* HLIT, HDIST, HCLEN */
	S_CLLENS,   /* code length code lengths */
	S_LENS,     /* literal/length and distance code lengths */
	S_LEN,      /* a literal/length symbol */
	S_LENEXT,
	S_DIST,
	S_DISTEXT,
	S_MATCH,    /* copying a match */
	S_CRC,      /* trailer: CRC-32 */
	S_ISIZE,    /* trailer: length mod 2^32 */
	S_ERROR,
};

enum kind { K_CL, K_LIT, K_DIST };
static const char *const kind_name[] = { "code length", "literal/length", "distance" };

struct blz_inflate {
	enum state state;
	uint64_t bitbuf;     /* unused input bits, least significant first; zero above bitcnt */
	unsigned bitcnt;
	uint64_t in_total;   /* bytes taken from the input so far */
	uint64_t err_off;

	uint8_t *win;
	size_t wpos;         /* end of output */
	size_t crc_pos;      /* output before this is in crc */
	uint64_t member_base; /* this member's output so far = member_base + wpos (mod 2^64) */
	uint32_t crc;        /* raw CRC-32 of this member's output */
	unsigned members;    /* members completed */

	unsigned hpos, hflags;
	uint32_t hcrc, xlen;
	bool final;
	unsigned stored_left;
	unsigned nlit, ndist, ncl, nlen;
	unsigned length, dist, extra;
	bool fixed_ready;    /* lit and dist hold the fixed codes */
	uint8_t lens[286 + 30];

	uint32_t cl[1 << CL_ROOT];
	uint32_t lit[LIT_TABLE];
	uint32_t dst[DIST_TABLE];

	const char *err;
	char errbuf[160];
};

static const uint16_t len_base[29] = {
	3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
	35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
};
static const uint8_t len_extra[29] = {
	0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
};
static const uint16_t dist_base[30] = {
	1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
	257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
};
static const uint8_t dist_extra[30] = {
	0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
	13, 13,
};
/* the order in which code length code lengths are sent */
static const uint8_t cl_order[19] = {
	16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
};

/* ---- Huffman tables ---- */

static uint32_t sym_entry(enum kind k, unsigned sym)
{
	switch (k) {
	case K_CL:
		return E_LIT | sym << 16;
	case K_LIT:
		if (sym < 256)
			return E_LIT | sym << 16;
		if (sym == 256)
			return E_EOB;
		if (sym < 286)
			return E_BASE | (uint32_t)len_base[sym - 257] << 16 |
			       (uint32_t)len_extra[sym - 257] << 4;
		return 0; /* 286 and 287 take part in the fixed code but never occur */
	case K_DIST:
		if (sym < 30)
			return E_BASE | (uint32_t)dist_base[sym] << 16 | (uint32_t)dist_extra[sym] << 4;
		return 0;
	}
	return 0;
}

static unsigned reverse(unsigned code, unsigned len)
{
	unsigned r = 0;

	while (len--) {
		r = r << 1 | (code & 1);
		code >>= 1;
	}
	return r;
}

/*
 * Builds the decoding table t (cap entries) of the canonical code with code lengths
 * lens[0..n) (0: symbol unused). Like zlib, only complete codes are accepted, except a
 * literal/length or distance code with a single one-bit code, and no distance code at all;
 * the unused bit patterns of those decode as invalid. Returns NULL or what is wrong.
 */
static const char *build(struct blz_inflate *z, uint32_t *t, size_t cap, unsigned root,
			 const uint8_t *lens, unsigned n, enum kind k)
{
	unsigned count[16] = { 0 }, offs[16], maxlen = 0;
	uint16_t sorted[288];
	int left = 1;

	for (unsigned i = 0; i < n; i++)
		count[lens[i]]++;
	count[0] = 0;
	for (unsigned len = 1; len < 16; len++) {
		left = left * 2 - (int)count[len];
		if (left < 0) {
			snprintf(z->errbuf, sizeof(z->errbuf), "over-subscribed %s code", kind_name[k]);
			return z->errbuf;
		}
		if (count[len])
			maxlen = len;
	}
	if (left > 0 && (k == K_CL || maxlen > 1)) {
		snprintf(z->errbuf, sizeof(z->errbuf), "incomplete %s code", kind_name[k]);
		return z->errbuf;
	}
	offs[1] = 0;
	for (unsigned len = 1; len < 15; len++)
		offs[len + 1] = offs[len] + count[len];
	for (unsigned i = 0; i < n; i++)
		if (lens[i])
			sorted[offs[lens[i]]++] = (uint16_t)i;

	unsigned rsize = 1u << root, sub_bits = maxlen > root ? maxlen - root : 0;
	unsigned sub_size = 1u << sub_bits, prefix = rsize, code = 0, idx = 0;
	size_t next = rsize, sub = 0;

	for (unsigned i = 0; i < rsize; i++)
		t[i] = root; /* invalid, once root bits are there */
	for (unsigned len = 1; len <= maxlen; len++, code <<= 1) {
		for (unsigned c = 0; c < count[len]; c++, code++) {
			uint32_t e = sym_entry(k, sorted[idx++]) | len;
			unsigned rev = reverse(code, len);
			if (len <= root) {
				for (unsigned i = rev; i < rsize; i += 1u << len)
					t[i] = e;
				continue;
			}
			if ((rev & (rsize - 1)) != prefix) {
				prefix = rev & (rsize - 1);
				if (next + sub_size > cap)
					return "code table overflow"; /* not for a complete code */
				sub = next;
				next += sub_size;
				t[prefix] = E_SUB | (uint32_t)sub << 16 | sub_bits << 4 | root;
				for (unsigned i = 0; i < sub_size; i++)
					t[sub + i] = maxlen;
			}
			for (unsigned i = rev >> root; i < sub_size; i += 1u << (len - root))
				t[sub + i] = e;
		}
	}
	return NULL;
}

static void build_fixed(struct blz_inflate *z)
{
	uint8_t l[288];

	memset(l, 8, 144);
	memset(l + 144, 9, 112);
	memset(l + 256, 7, 24);
	memset(l + 280, 8, 8);
	build(z, z->lit, LIT_TABLE, LIT_ROOT, l, 288, K_LIT);
	memset(l, 5, 32);
	build(z, z->dst, DIST_TABLE, DIST_ROOT, l, 32, K_DIST);
	z->fixed_ready = true;
}

static inline uint32_t lookup(const uint32_t *t, unsigned root, uint64_t bits)
{
	uint32_t e = t[bits & ((1u << root) - 1)];

	if (e & E_SUB)
		e = t[(e >> 16) + ((bits >> root) & ((1u << ((e >> 4) & 15)) - 1))];
	return e;
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* ---- the decoder ---- */

struct blz_inflate *blz_inflate_new(void)
{
	struct blz_inflate *z = blz_xcalloc(1, sizeof(*z));

	z->win = blz_xmalloc(WIN_ALLOC);
	z->state = S_END;
	return z;
}

void blz_inflate_free(struct blz_inflate *z)
{
	if (!z)
		return;
	free(z->win);
	free(z);
}

bool blz_inflate_done(const struct blz_inflate *z)
{
	return z->state == S_END && z->members && !z->bitcnt;
}

uint64_t blz_inflate_in_offset(const struct blz_inflate *z)
{
	return z->state == S_ERROR ? z->err_off : z->in_total - z->bitcnt / 8;
}

const char *blz_inflate_error(const struct blz_inflate *z)
{
	return z->err ? z->err : "no error";
}

/* Keeps the last WSIZE bytes of output as history at the window's start. */
static void slide(struct blz_inflate *z)
{
	size_t s = z->wpos - WSIZE;

	memmove(z->win, z->win + s, WSIZE);
	z->wpos = WSIZE;
	z->member_base += s;
}

/* Copies a match of len bytes from dist back; may write up to 7 bytes past its end. */
static inline void copy_match(uint8_t *d, unsigned dist, unsigned len)
{
	const uint8_t *s = d - dist;
	uint8_t *stop = d + len;

	if (dist >= 8) {
		do {
			memcpy(d, s, 8);
			d += 8;
			s += 8;
		} while (d < stop);
	} else if (dist == 1) {
		memset(d, *s, len);
	} else {
		while (d < stop)
			*d++ = *s++;
	}
}

#define PULL() do { \
	if (in == end) \
		goto leave; \
	bb |= (uint64_t)*in++ << bc; \
	bc += 8; \
} while (0)
#define NEED(n) do { while (bc < (unsigned)(n)) PULL(); } while (0)
#define BITS(n) ((unsigned)(bb & ((UINT64_C(1) << (n)) - 1)))
#define DROP(n) do { bb >>= (n); bc -= (n); } while (0)
#define FAIL(msg) do { z->err = (msg); goto fail; } while (0)

/* The next header byte, into b (byte-aligned: headers and trailers start on a byte). */
#define HEADER_BYTE(b) do { \
	NEED(8); \
	(b) = (uint8_t)BITS(8); \
	DROP(8); \
	z->hcrc = blz_crc32_raw(z->hcrc, &(b), 1); \
} while (0)

int blz_inflate_run(struct blz_inflate *z, const uint8_t **pin, size_t *pin_len,
		    const uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (z->state == S_ERROR)
		return -EBADMSG;
	if (z->wpos > SLIDE_AT)
		slide(z);

	/* No input may come as (NULL, 0): point at a real empty buffer instead, so no pointer
	 * arithmetic or copy ever starts from NULL. */
	static const uint8_t no_input[1];
	const uint8_t *first = *pin_len ? *pin : no_input;
	const uint8_t *in = first, *end = in + *pin_len;
	uint64_t bb = z->bitbuf;
	unsigned bc = z->bitcnt;
	uint8_t *win = z->win, b;
	size_t w = z->wpos, start = w;
	size_t limit = start + BLZ_INFLATE_CHUNK < LIMIT ? start + BLZ_INFLATE_CHUNK : LIMIT;
	uint32_t e;
	int ret = 0;

	z->crc_pos = w;
	for (;;) {
		switch (z->state) {
		case S_END:
			if (!bc && in == end)
				goto leave;
			z->state = S_HEADER;
			z->hpos = 0;
			z->hcrc = ~0u;
			z->xlen = 0;
			/* fall through */
		case S_HEADER:
			while (z->hpos < 10) {
				HEADER_BYTE(b);
				if ((z->hpos == 0 && b != 0x1f) || (z->hpos == 1 && b != 0x8b))
					FAIL(z->members ? "data after a member is not another gzip member"
							: "not a gzip stream");
				if (z->hpos == 2 && b != 8)
					FAIL("unknown compression method");
				if (z->hpos == 3) {
					if (b & FRESERVED)
						FAIL("reserved header flags set");
					z->hflags = b;
				}
				z->hpos++;
			}
			z->hpos = 0;
			z->state = S_XLEN;
			/* fall through */
		case S_XLEN:
			while ((z->hflags & FEXTRA) && z->hpos < 2) {
				HEADER_BYTE(b);
				z->xlen |= (uint32_t)b << (8 * z->hpos++);
			}
			z->state = S_EXTRA;
			/* fall through */
		case S_EXTRA:
			while (z->xlen) {
				HEADER_BYTE(b);
				z->xlen--;
			}
			z->state = S_NAME;
			/* fall through */
		case S_NAME:
			if (z->hflags & FNAME) {
				do
					HEADER_BYTE(b);
				while (b);
			}
			z->state = S_COMMENT;
			/* fall through */
		case S_COMMENT:
			if (z->hflags & FCOMMENT) {
				do
					HEADER_BYTE(b);
				while (b);
			}
			z->state = S_HCRC;
			/* fall through */
		case S_HCRC:
			if (z->hflags & FHCRC) {
				NEED(16);
				if (BITS(16) != (~z->hcrc & 0xffff))
					FAIL("header CRC mismatch");
				DROP(16);
			}
			z->crc = ~0u;
			z->crc_pos = w;
			z->member_base = -(uint64_t)w;
			z->state = S_BLOCK;
			/* fall through */
		case S_BLOCK:
			NEED(3);
			z->final = BITS(1);
			switch (BITS(3) >> 1) {
			case 0:
				z->state = S_STORED;
				break;
			case 1:
				if (!z->fixed_ready)
					build_fixed(z);
				z->state = S_LEN;
				break;
			case 2:
				z->state = S_TABLE;
				break;
			default:
				FAIL("invalid block type");
			}
			DROP(3);
			break;

		case S_STORED:
			DROP(bc & 7);
			NEED(32);
			if ((BITS(16) ^ 0xffff) != ((bb >> 16) & 0xffff))
				FAIL("stored block length does not match its complement");
			z->stored_left = BITS(16);
			DROP(32);
			z->state = S_COPY;
			/* fall through */
		case S_COPY:
			while (z->stored_left) {
				if (w == limit)
					goto leave;
				if (bc) { /* whole bytes left in the bit buffer */
					win[w++] = (uint8_t)BITS(8);
					DROP(8);
					z->stored_left--;
					continue;
				}
				size_t n = z->stored_left;
				if (n > (size_t)(end - in))
					n = (size_t)(end - in);
				if (n > limit - w)
					n = limit - w;
				if (!n)
					goto leave;
				memcpy(win + w, in, n);
				in += n;
				w += n;
				z->stored_left -= (unsigned)n;
			}
			z->state = z->final ? S_CRC : S_BLOCK;
			break;

		case S_TABLE:
			NEED(14);
			z->nlit = BITS(5) + 257;
			z->ndist = ((unsigned)(bb >> 5) & 31) + 1;
			z->ncl = ((unsigned)(bb >> 10) & 15) + 4;
			DROP(14);
			if (z->nlit > 286)
				FAIL("too many literal/length codes");
			if (z->ndist > 30)
				FAIL("too many distance codes");
			memset(z->lens, 0, 19);
			z->nlen = 0;
			z->state = S_CLLENS;
			/* fall through */
		case S_CLLENS:
			while (z->nlen < z->ncl) {
				NEED(3);
				z->lens[cl_order[z->nlen++]] = (uint8_t)BITS(3);
				DROP(3);
			}
			if ((z->err = build(z, z->cl, 1 << CL_ROOT, CL_ROOT, z->lens, 19, K_CL)))
				goto fail;
			z->nlen = 0;
			z->state = S_LENS;
			/* fall through */
		case S_LENS:
			while (z->nlen < z->nlit + z->ndist) {
				unsigned sym, len, x, rep, val = 0;
				for (;;) {
					e = z->cl[BITS(CL_ROOT)];
					sym = e >> 16;
					len = e & 15;
					x = sym < 16 ? 0 : sym == 16 ? 2 : sym == 17 ? 3 : 7;
					if (len + x <= bc)
						break;
					PULL();
				}
				DROP(len);
				if (sym < 16) {
					z->lens[z->nlen++] = (uint8_t)sym;
					continue;
				}
				if (sym == 16) {
					if (!z->nlen)
						FAIL("repeated code length without a first one");
					val = z->lens[z->nlen - 1];
				}
				rep = (sym == 18 ? 11 : 3) + BITS(x);
				DROP(x);
				if (z->nlen + rep > z->nlit + z->ndist)
					FAIL("code lengths repeated past their end");
				memset(z->lens + z->nlen, (int)val, rep);
				z->nlen += rep;
			}
			if (!z->lens[256])
				FAIL("no end-of-block code");
			if ((z->err = build(z, z->lit, LIT_TABLE, LIT_ROOT, z->lens, z->nlit, K_LIT)) ||
			    (z->err = build(z, z->dst, DIST_TABLE, DIST_ROOT, z->lens + z->nlit,
					    z->ndist, K_DIST)))
				goto fail;
			z->fixed_ready = false;
			z->state = S_LEN;
			/* fall through */
		case S_LEN:
			if (end - in >= 8 && w <= limit - MAX_MATCH) {
				/* the fast loop: whole symbols, input and room checked per symbol */
				const uint32_t *lt = z->lit, *dt = z->dst;
				uint64_t base = z->member_base;
				do {
					bb |= load_le64(in) << bc;
					in += (63 - bc) >> 3;
					bc |= 56;
					e = lookup(lt, LIT_ROOT, bb);
					DROP(e & 15);
					if (e & E_LIT) {
						win[w++] = (uint8_t)(e >> 16);
						e = lookup(lt, LIT_ROOT, bb); /* 41 bits left: one more */
						if (e & E_LIT) {
							DROP(e & 15);
							win[w++] = (uint8_t)(e >> 16);
						}
						continue;
					}
					if (!(e & E_BASE)) {
						if (e & E_EOB) {
							z->state = z->final ? S_CRC : S_BLOCK;
							break;
						}
						FAIL("invalid literal/length code");
					}
					unsigned x = (e >> 4) & 15, len = (e >> 16) + BITS(x);
					DROP(x);
					e = lookup(dt, DIST_ROOT, bb);
					DROP(e & 15);
					if (!(e & E_BASE))
						FAIL("invalid distance code");
					x = (e >> 4) & 15;
					unsigned dist = (e >> 16) + BITS(x);
					DROP(x);
					if (dist > base + w)
						FAIL("invalid distance too far back");
					copy_match(win + w, dist, len);
					w += len;
				} while (end - in >= 8 && w <= limit - MAX_MATCH);
				bb &= (UINT64_C(1) << bc) - 1; /* bits past bc were looked ahead */
				if (z->state != S_LEN)
					break;
			}
			if (w == limit)
				goto leave;
			for (;;) {
				e = lookup(z->lit, LIT_ROOT, bb);
				if ((e & 15) <= bc)
					break;
				PULL();
			}
			DROP(e & 15);
			if (e & E_LIT) {
				win[w++] = (uint8_t)(e >> 16);
				break;
			}
			if (!(e & E_BASE)) {
				if (!(e & E_EOB))
					FAIL("invalid literal/length code");
				z->state = z->final ? S_CRC : S_BLOCK;
				break;
			}
			z->length = e >> 16;
			z->extra = (e >> 4) & 15;
			z->state = S_LENEXT;
			/* fall through */
		case S_LENEXT:
			NEED(z->extra);
			z->length += BITS(z->extra);
			DROP(z->extra);
			z->state = S_DIST;
			/* fall through */
		case S_DIST:
			for (;;) {
				e = lookup(z->dst, DIST_ROOT, bb);
				if ((e & 15) <= bc)
					break;
				PULL();
			}
			DROP(e & 15);
			if (!(e & E_BASE))
				FAIL("invalid distance code");
			z->dist = e >> 16;
			z->extra = (e >> 4) & 15;
			z->state = S_DISTEXT;
			/* fall through */
		case S_DISTEXT:
			NEED(z->extra);
			z->dist += BITS(z->extra);
			DROP(z->extra);
			if (z->dist > z->member_base + w)
				FAIL("invalid distance too far back");
			z->state = S_MATCH;
			/* fall through */
		case S_MATCH:
			while (z->length) {
				if (w == limit)
					goto leave;
				unsigned n = z->length;
				if (n > limit - w)
					n = (unsigned)(limit - w);
				for (unsigned i = 0; i < n; i++, w++)
					win[w] = win[w - z->dist];
				z->length -= n;
			}
			z->state = S_LEN;
			break;

		case S_CRC:
			z->crc = blz_crc32_raw(z->crc, win + z->crc_pos, w - z->crc_pos);
			z->crc_pos = w;
			DROP(bc & 7);
			NEED(32);
			if (BITS(32) != ~z->crc) {
				snprintf(z->errbuf, sizeof(z->errbuf),
					 "CRC-32 mismatch (trailer %08x, data %08x)", BITS(32), ~z->crc);
				FAIL(z->errbuf);
			}
			DROP(32);
			z->state = S_ISIZE;
			/* fall through */
		case S_ISIZE:
			NEED(32);
			if (BITS(32) != (uint32_t)(z->member_base + w)) {
				snprintf(z->errbuf, sizeof(z->errbuf),
					 "length mismatch (trailer %u, data %u bytes mod 2^32)", BITS(32),
					 (uint32_t)(z->member_base + w));
				FAIL(z->errbuf);
			}
			DROP(32);
			z->members++;
			z->state = S_END;
			break;

		case S_ERROR:
			goto fail;
		}
	}

fail:
	z->state = S_ERROR;
	z->err_off = z->in_total + (uint64_t)(in - first) - bc / 8;
	ret = -EBADMSG;
leave:
	if (ret == 0) {
		z->crc = blz_crc32_raw(z->crc, win + z->crc_pos, w - z->crc_pos);
		*out = win + start;
		*out_len = w - start;
	}
	z->crc_pos = w;
	z->bitbuf = bb;
	z->bitcnt = bc;
	z->wpos = w;
	z->in_total += (uint64_t)(in - first);
	if (in != first)
		*pin = in;
	*pin_len = (size_t)(end - in);
	return ret;
}
