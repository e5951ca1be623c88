/*
 * Unit tests for the gzip decoder (lib/tar/inflate.c): round trips of data compressed by
 * the gzip program (when it is installed) at several levels, fed whole and one byte at a
 * time; streams built bit by bit here (stored, fixed and dynamic blocks, every header
 * field); every way of being corrupt the decoder names; every truncation point; random
 * damage that must never crash it nor make it return wrong bytes as a complete stream.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tar/inflate.h"
#include "util/crc32c.h"
#include "util/le.h"
#include "util/strbuf.h"

/* ---- decoding ---- */

struct result {
	int ret;          /* 0 complete, -EIO truncated, -EBADMSG corrupt */
	struct blz_buf out;
	char msg[256];
};

/* Decodes p[0..n) fed in pieces of step bytes (0: random sizes), to the end of the input. */
static void decode(const uint8_t *p, size_t n, size_t step, struct result *res)
{
	struct blz_inflate *z = blz_inflate_new();
	size_t pos = 0, calls = 0;
	int r = 0;

	memset(res, 0, sizeof(*res));
	for (;;) {
		size_t k = step ? step : 1 + (size_t)rand() % 5000;
		if (k > n - pos)
			k = n - pos;
		const uint8_t *in = p + pos, *out;
		size_t left = k, olen;
		do {
			r = blz_inflate_run(z, &in, &left, &out, &olen);
			if (r < 0)
				goto done;
			assert_true(olen <= BLZ_INFLATE_CHUNK);
			blz_buf_append(&res->out, out, olen);
			/* every call uses input or gives output: bounded */
			assert_true(++calls < 4 * n + 1000 + res->out.len);
		} while (left || olen);
		assert_ptr_equal(in, p + pos + k);
		pos += k;
		if (!k)
			break;
	}
	r = blz_inflate_done(z) ? 0 : -EIO;
done:
	if (r == -EBADMSG) {
		snprintf(res->msg, sizeof(res->msg), "%s", blz_inflate_error(z));
		assert_true(blz_inflate_in_offset(z) <= n);
		/* errors are sticky */
		const uint8_t *in = p, *out;
		size_t left = n, olen;
		assert_int_equal(blz_inflate_run(z, &in, &left, &out, &olen), -EBADMSG);
	}
	res->ret = r;
	blz_inflate_free(z);
}

static void expect_ok(const uint8_t *gz, size_t n, const void *want, size_t wlen, size_t step)
{
	struct result res;

	decode(gz, n, step, &res);
	if (res.ret)
		print_error("decode: %d %s\n", res.ret, res.msg);
	assert_int_equal(res.ret, 0);
	assert_int_equal(res.out.len, wlen);
	if (wlen)
		assert_memory_equal(res.out.data, want, wlen);
	blz_buf_release(&res.out);
}

static void expect_bad(const uint8_t *gz, size_t n, const char *needle)
{
	struct result res;

	/* whole (the fast loop), then in pieces down to single bytes (the resumable path) */
	const size_t steps[] = { n, 1, 3, 8, 57 };

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t step = steps[i];
		decode(gz, n, step, &res);
		if (res.ret != -EBADMSG || !strstr(res.msg, needle))
			print_error("got %d '%s', want '%s' (step %zu)\n", res.ret, res.msg, needle,
				    step);
		assert_int_equal(res.ret, -EBADMSG);
		assert_non_null(strstr(res.msg, needle));
		blz_buf_release(&res.out);
	}
}

/* ---- test data ---- */

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

static void gen_random(struct blz_buf *b, size_t n)
{
	uint8_t *p = blz_buf_grow(b, n);

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng();
}

/* Words from a small vocabulary, with a skewed choice: compresses like prose or code. */
static void gen_text(struct blz_buf *b, size_t n)
{
	static const char *const words[] = {
		"the", "of", "and", "a", "to", "in", "is", "you", "that", "it", "he", "was",
		"for", "on", "are", "as", "with", "his", "they", "I", "at", "be", "this", "have",
		"from", "or", "one", "had", "by", "word", "but", "not", "what", "all", "were",
		"static", "int", "return", "struct", "blz_inflate", "{", "}", "(", ");", "\n\t",
	};
	size_t nw = sizeof(words) / sizeof(words[0]);

	while (b->len < n) {
		uint32_t r = rng();
		const char *w = words[(r % nw) * ((r >> 8) % nw) / nw];
		size_t l = strlen(w);
		if (l > n - b->len)
			l = n - b->len;
		blz_buf_append(b, w, l);
		if (b->len < n)
			blz_buf_append(b, (r >> 20) % 9 ? " " : ".\n", (r >> 20) % 9 ? 1 : 2);
		if (b->len > n)
			b->len = n;
	}
}

/* Runs of one byte, short periods (distances below 8), long repeats across the window. */
static void gen_repetitive(struct blz_buf *b, size_t n)
{
	struct blz_buf blk = { 0 };

	gen_random(&blk, 20000);
	while (b->len < n) {
		uint32_t r = rng(), k = 1 + r % 3000, period = 1 + (r >> 12) % 7;
		switch ((r >> 16) % 4) {
		case 0:
			memset(blz_buf_grow(b, k), (int)(r >> 24), k);
			break;
		case 1: {
			uint8_t *p = blz_buf_grow(b, k);
			for (uint32_t i = 0; i < k; i++)
				p[i] = (uint8_t)('a' + i % period);
			break;
		}
		case 2:
			blz_buf_append(b, blk.data, blk.len); /* 20000 bytes back */
			break;
		default:
			gen_random(b, k % 50);
		}
	}
	b->len = n;
	blz_buf_release(&blk);
}

/* ---- the gzip program ---- */

static bool have_gzip(void)
{
	static int have = -1;

	if (have < 0)
		have = system("command -v gzip >/dev/null 2>&1") == 0;
	return have;
}

/* Skips the calling test, saying why, when the gzip program is missing. */
static void need_gzip(void)
{
	if (!have_gzip()) {
		print_message("skip: the gzip program is not installed\n");
		skip();
	}
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void read_file(const char *path, struct blz_buf *b)
{
	FILE *f = fopen(path, "rb");
	uint8_t buf[65536];
	size_t n;

	assert_non_null(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		blz_buf_append(b, buf, n);
	fclose(f);
}

/*
 * gzip -LEVEL of p[0..n), appended to out. named: compress a file (gzip stores its name,
 * FNAME), else standard input (no name).
 */
static void gzip_prog(const void *p, size_t n, int level, bool named, struct blz_buf *out)
{
	char dir[] = "/tmp/test_inflate.XXXXXX", cmd[1024], in[300], gz[300];

	assert_non_null(mkdtemp(dir));
	snprintf(in, sizeof(in), "%s/data.bin", dir);
	snprintf(gz, sizeof(gz), "%s/data.gz", dir);
	write_file(in, p, n);
	snprintf(cmd, sizeof(cmd), "gzip -%d -c %s'%s' >'%s'", level, named ? "" : "< ", in, gz);
	assert_int_equal(system(cmd), 0);
	read_file(gz, out);
	unlink(in);
	unlink(gz);
	rmdir(dir);
}

/* ---- streams built by hand ---- */

struct bw {
	struct blz_buf b;
	uint64_t acc;
	unsigned n;
};

/* n bits of v, least significant first (how DEFLATE packs numbers) */
static void bw_bits(struct bw *w, uint32_t v, unsigned n)
{
	w->acc |= (uint64_t)v << w->n;
	w->n += n;
	while (w->n >= 8) {
		uint8_t c = (uint8_t)w->acc;
		blz_buf_append(&w->b, &c, 1);
		w->acc >>= 8;
		w->n -= 8;
	}
}

/* a Huffman code of len bits, most significant first */
static void bw_code(struct bw *w, uint32_t code, unsigned len)
{
	for (unsigned i = len; i-- > 0;)
		bw_bits(w, (code >> i) & 1, 1);
}

static void bw_align(struct bw *w)
{
	if (w->n)
		bw_bits(w, 0, 8 - w->n);
}

/* a symbol of the fixed literal/length code */
static void bw_fixed(struct bw *w, unsigned sym)
{
	if (sym < 144)
		bw_code(w, 0x30 + sym, 8);
	else if (sym < 256)
		bw_code(w, 0x190 + sym - 144, 9);
	else if (sym < 280)
		bw_code(w, sym - 256, 7);
	else
		bw_code(w, 0xc0 + sym - 280, 8);
}

static void bw_stored(struct bw *w, bool final, const void *p, uint16_t len)
{
	bw_bits(w, final, 1);
	bw_bits(w, 0, 2);
	bw_align(w);
	bw_bits(w, len, 16);
	bw_bits(w, (uint16_t)~len, 16);
	blz_buf_append(&w->b, p, len);
}

/* A gzip member around DEFLATE data: header (flags, with their fields), data, trailer. */
static void gz_member(struct blz_buf *out, unsigned flags, const struct blz_buf *deflate,
		      const void *orig, size_t olen)
{
	size_t start = out->len;
	uint8_t h[10] = { 0x1f, 0x8b, 8, (uint8_t)flags, 0x78, 0x56, 0x34, 0x12, 0, 3 };
	uint8_t t[8];

	blz_buf_append(out, h, sizeof(h));
	if (flags & 0x04) {
		static const uint8_t extra[] = { 9, 0, 'A', 'p', 5, 0, 1, 2, 3, 4, 5 };
		blz_buf_append(out, extra, sizeof(extra));
	}
	if (flags & 0x08)
		blz_buf_append(out, "name.txt", 9);
	if (flags & 0x10)
		blz_buf_append(out, "a comment\n", 11);
	if (flags & 0x02) {
		uint8_t c[2];
		put_le16(c, (uint16_t)blz_crc32(out->data + start, out->len - start));
		blz_buf_append(out, c, 2);
	}
	blz_buf_append(out, deflate->data, deflate->len);
	put_le32(t, blz_crc32(orig, olen));
	put_le32(t + 4, (uint32_t)olen);
	blz_buf_append(out, t, sizeof(t));
}

/* ---- round trips ---- */

static void roundtrip(const struct blz_buf *data, const char *what)
{
	static const int levels[] = { 1, 6, 9 };

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		struct blz_buf gz = { 0 };
		gzip_prog(data->data, data->len, levels[i], i == 1, &gz);
		expect_ok(gz.data, gz.len, data->data, data->len, gz.len);
		expect_ok(gz.data, gz.len, data->data, data->len, 0);
		expect_ok(gz.data, gz.len, data->data, data->len, 4096);
		if (data->len <= 300000)
			expect_ok(gz.data, gz.len, data->data, data->len, 1);
		print_message("%s, %zu bytes, gzip -%d: %zu bytes\n", what, data->len, levels[i],
			      gz.len);
		blz_buf_release(&gz);
	}
}

static void test_gzip_roundtrip(void **state)
{
	need_gzip();
	struct blz_buf d = { 0 };

	rng_state = 1;
	roundtrip(&d, "empty");
	gen_random(&d, 1);
	roundtrip(&d, "one byte");
	d.len = 0;
	gen_random(&d, 700000);
	roundtrip(&d, "random");
	d.len = 0;
	gen_text(&d, 1500000);
	roundtrip(&d, "text");
	d.len = 0;
	gen_repetitive(&d, 2000000);
	roundtrip(&d, "repetitive");
	d.len = 0;
	memset(blz_buf_grow(&d, 3000000), 'z', 3000000);
	roundtrip(&d, "one byte repeated");
	blz_buf_release(&d);
}

/* The end of input may be signalled with (NULL, 0), before and after a whole stream; the
 * pointer is left alone (the UBSan build checks no arithmetic starts from NULL). */
static void test_null_input(void **state)
{
	/* gzip of "hi": fixed Huffman block, CRC-32 and ISIZE. */
	static const uint8_t gz[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xcb, 0xc8, 4, 0,
				      0xac, 0x2a, 0x93, 0xd8, 2, 0, 0, 0 };
	struct blz_inflate *z = blz_inflate_new();
	const uint8_t *in = NULL, *out;
	size_t in_len = 0, out_len;
	assert_int_equal(blz_inflate_run(z, &in, &in_len, &out, &out_len), 0);
	assert_null(in);
	assert_int_equal(out_len, 0);
	assert_false(blz_inflate_done(z));
	in = gz;
	in_len = sizeof(gz);
	struct blz_buf got = { 0 };
	do {
		assert_int_equal(blz_inflate_run(z, &in, &in_len, &out, &out_len), 0);
		blz_buf_append(&got, out, out_len);
	} while (out_len);
	assert_int_equal(in_len, 0);
	in = NULL;
	assert_int_equal(blz_inflate_run(z, &in, &in_len, &out, &out_len), 0);
	assert_null(in);
	assert_int_equal(out_len, 0);
	assert_true(blz_inflate_done(z));
	assert_int_equal(got.len, 2);
	assert_memory_equal(got.data, "hi", 2);
	blz_buf_release(&got);
	blz_inflate_free(z);
}

static void test_multi_member(void **state)
{
	need_gzip();
	struct blz_buf a = { 0 }, b = { 0 }, gz = { 0 }, all = { 0 };

	rng_state = 2;
	gen_text(&a, 100000);
	gen_repetitive(&b, 400000);
	gzip_prog(a.data, a.len, 6, true, &gz);
	gzip_prog(b.data, b.len, 1, false, &gz);
	gzip_prog("", 0, 9, false, &gz); /* an empty member */
	gzip_prog(a.data, a.len, 9, false, &gz);
	blz_buf_append(&all, a.data, a.len);
	blz_buf_append(&all, b.data, b.len);
	blz_buf_append(&all, a.data, a.len);
	for (size_t step = 1; step < 100000; step *= 10)
		expect_ok(gz.data, gz.len, all.data, all.len, step);
	expect_ok(gz.data, gz.len, all.data, all.len, 0);

	/* trailing garbage after a member, and trailing zeros */
	blz_buf_append(&gz, "\x1f\x8c", 2);
	expect_bad(gz.data, gz.len, "data after a member is not another gzip member");
	gz.len -= 2;
	blz_buf_grow(&gz, 10);
	expect_bad(gz.data, gz.len, "not another gzip member");

	blz_buf_release(&a);
	blz_buf_release(&b);
	blz_buf_release(&gz);
	blz_buf_release(&all);
}

/* Stored blocks of sizes 0, 1, 65535 and a final one, under every header flag. */
static void test_stored_and_header(void **state)
{
	struct blz_buf d = { 0 };
	struct bw w = { 0 };

	rng_state = 3;
	gen_random(&d, 65535 + 1 + 100);
	bw_stored(&w, false, d.data, 0);
	bw_stored(&w, false, d.data, 1);
	bw_stored(&w, false, d.data + 1, 65535);
	bw_stored(&w, true, d.data + 65536, 100);
	for (unsigned flags = 0; flags < 32; flags++) {
		struct blz_buf gz = { 0 };
		if (flags & 1)
			continue; /* FTEXT: only a hint, tried below */
		gz_member(&gz, flags, &w.b, d.data, d.len);
		expect_ok(gz.data, gz.len, d.data, d.len, gz.len);
		expect_ok(gz.data, gz.len, d.data, d.len, 1);
		expect_ok(gz.data, gz.len, d.data, d.len, 0);
		blz_buf_release(&gz);
	}
	struct blz_buf gz = { 0 };
	gz_member(&gz, 0x01, &w.b, d.data, d.len);
	expect_ok(gz.data, gz.len, d.data, d.len, 3);
	blz_buf_release(&gz);

	/* a fixed block (literals and matches), then an empty stored block as the last */
	struct bw f = { 0 };
	bw_bits(&f, 0, 1);
	bw_bits(&f, 1, 2);
	bw_fixed(&f, 'a');
	bw_fixed(&f, 'b');
	bw_fixed(&f, 0xff);
	bw_fixed(&f, 259);  /* length 5 */
	bw_code(&f, 2, 5);  /* distance 3 */
	bw_fixed(&f, 285);  /* length 258 */
	bw_code(&f, 0, 5);  /* distance 1 */
	bw_fixed(&f, 256);
	bw_stored(&f, true, "", 0);
	uint8_t want[3 + 5 + 258];
	memcpy(want, "ab\xff" "ab\xff" "ab", 8);
	memset(want + 8, 'b', 258);
	gz_member(&gz, 0, &f.b, want, sizeof(want));
	expect_ok(gz.data, gz.len, want, sizeof(want), 1);
	expect_ok(gz.data, gz.len, want, sizeof(want), gz.len);
	blz_buf_release(&gz);
	blz_buf_release(&f.b);
	blz_buf_release(&w.b);
	blz_buf_release(&d);
}

/* ---- corrupt streams ---- */

/* A member around w's bits (aligned), claiming to hold orig. */
static void bad_member(struct bw *w, const void *orig, size_t olen, const char *needle)
{
	struct blz_buf gz = { 0 };

	bw_align(w);
	gz_member(&gz, 0, &w->b, orig, olen);
	expect_bad(gz.data, gz.len, needle);
	blz_buf_release(&gz);
	blz_buf_release(&w->b);
	memset(w, 0, sizeof(*w));
}

/* A final dynamic block's header up to its code length code lengths (in sending order). */
static void dyn_header(struct bw *w, unsigned nlit, unsigned ndist, const uint8_t *cllens,
		       unsigned ncl)
{
	bw_bits(w, 1, 1);
	bw_bits(w, 2, 2);
	bw_bits(w, nlit - 257, 5);
	bw_bits(w, ndist - 1, 5);
	bw_bits(w, ncl - 4, 4);
	for (unsigned i = 0; i < ncl; i++)
		bw_bits(w, cllens[i], 3);
}

/*
 * A final dynamic block's header and code lengths: literal/length lengths 'other' but for
 * 'A', 256 and 257, then ndist distance lengths, sent with a code length code that gives
 * each length 0..15 four bits (so the code of length s is s).
 */
static void dyn_lens(struct bw *w, unsigned nlit, unsigned ndist, unsigned other,
		     unsigned len_a, unsigned len_eob, unsigned len_257, const char *dlens)
{
	uint8_t cl4[19] = { 0 };

	for (unsigned i = 3; i < 19; i++)
		cl4[i] = 4; /* sent order 16, 17, 18, then 0, 8, 7, ... 15 */
	dyn_header(w, nlit, ndist, cl4, 19);
	for (unsigned i = 0; i < nlit; i++)
		bw_code(w, i == 'A' ? len_a : i == 256 ? len_eob : i == 257 ? len_257 : other, 4);
	for (unsigned i = 0; i < ndist; i++)
		bw_code(w, (uint8_t)dlens[i], 4);
}

static void test_corrupt(void **state)
{
	struct bw w = { 0 };
	struct blz_buf gz = { 0 };
	uint8_t hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };

	/* the header */
	expect_bad((const uint8_t *)"\x1f\x8c\x08\x00", 4, "not a gzip stream");
	hdr[2] = 9;
	expect_bad(hdr, sizeof(hdr), "unknown compression method");
	hdr[2] = 8;
	hdr[3] = 0x20;
	expect_bad(hdr, sizeof(hdr), "reserved header flags set");
	bw_stored(&w, true, "x", 1);
	gz_member(&gz, 0x02 | 0x08, &w.b, "x", 1);
	gz.data[12] ^= 1; /* in the name: the header CRC no longer matches */
	expect_bad(gz.data, gz.len, "header CRC mismatch");
	gz.data[12] ^= 1;
	expect_ok(gz.data, gz.len, "x", 1, 1);

	/* the trailer */
	gz.data[gz.len - 8] ^= 0x40;
	expect_bad(gz.data, gz.len, "CRC-32 mismatch");
	gz.data[gz.len - 8] ^= 0x40;
	gz.data[gz.len - 4] ^= 1;
	expect_bad(gz.data, gz.len, "length mismatch");
	blz_buf_release(&gz);
	blz_buf_release(&w.b);
	memset(&w, 0, sizeof(w));

	/* block types and stored lengths */
	bw_bits(&w, 1, 1);
	bw_bits(&w, 3, 2);
	bad_member(&w, "", 0, "invalid block type");
	bw_bits(&w, 1, 3);
	bw_align(&w);
	bw_bits(&w, 5, 16);
	bw_bits(&w, 0xfffb, 16);
	blz_buf_append(&w.b, "12345", 5);
	bad_member(&w, "12345", 5, "stored block length does not match its complement");

	/* fixed blocks: symbols that do not exist, distances before the start */
	bw_bits(&w, 1, 1);
	bw_bits(&w, 1, 2);
	bw_fixed(&w, 286);
	bad_member(&w, "", 0, "invalid literal/length code");
	bw_bits(&w, 1, 1);
	bw_bits(&w, 1, 2);
	bw_fixed(&w, 'q');
	bw_fixed(&w, 257);
	bw_code(&w, 30, 5);
	bad_member(&w, "qqqq", 4, "invalid distance code");
	bw_bits(&w, 1, 1);
	bw_bits(&w, 1, 2);
	bw_fixed(&w, 257);
	bw_code(&w, 0, 5);
	bad_member(&w, "", 0, "invalid distance too far back");
	bw_bits(&w, 1, 1);
	bw_bits(&w, 1, 2);
	bw_fixed(&w, 'q');
	bw_fixed(&w, 'r');
	bw_fixed(&w, 257);
	bw_code(&w, 2, 5); /* distance 3, with 2 bytes of history */
	bad_member(&w, "qrqrq", 5, "invalid distance too far back");

	/* a distance reaching into the previous member's output is too far back too */
	struct bw m1 = { 0 }, m2 = { 0 };
	bw_stored(&m1, true, "abcdef", 6);
	gz_member(&gz, 0, &m1.b, "abcdef", 6);
	bw_bits(&m2, 1, 1);
	bw_bits(&m2, 1, 2);
	bw_fixed(&m2, 'x');
	bw_fixed(&m2, 257);
	bw_code(&m2, 2, 5);
	bw_fixed(&m2, 256);
	bw_align(&m2);
	gz_member(&gz, 0, &m2.b, "xabcx", 5);
	expect_bad(gz.data, gz.len, "invalid distance too far back");
	blz_buf_release(&gz);
	blz_buf_release(&m1.b);
	blz_buf_release(&m2.b);

	/* dynamic block headers */
	static const uint8_t cl_ok[19] = { 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	dyn_header(&w, 287, 1, cl_ok, 19);
	bad_member(&w, "", 0, "too many literal/length codes");
	dyn_header(&w, 257, 31, cl_ok, 19);
	bad_member(&w, "", 0, "too many distance codes");
	static const uint8_t cl_over[4] = { 1, 1, 1, 0 }; /* 16, 17, 18 with one bit each */
	dyn_header(&w, 257, 1, cl_over, 4);
	bad_member(&w, "", 0, "over-subscribed code length code");
	static const uint8_t cl_incomplete[4] = { 1, 0, 0, 2 }; /* 16: 1 bit, 0: 2 bits */
	dyn_header(&w, 257, 1, cl_incomplete, 4);
	bad_member(&w, "", 0, "incomplete code length code");
	static const uint8_t cl_none[4] = { 0, 0, 0, 0 };
	dyn_header(&w, 257, 1, cl_none, 4);
	bad_member(&w, "", 0, "incomplete code length code");
	static const uint8_t cl_16_0[4] = { 1, 0, 0, 1 }; /* 0 -> '0', 16 -> '1' */
	dyn_header(&w, 257, 1, cl_16_0, 4);
	bw_code(&w, 1, 1); /* 16 first: nothing to repeat */
	bw_bits(&w, 0, 2);
	bad_member(&w, "", 0, "repeated code length without a first one");
	/* 18 -> '1', 0 -> '0' (sent order 16, 17, 18, 0): 258 lengths, 138 + 138 zeros */
	static const uint8_t cl_18_0[4] = { 0, 0, 1, 1 };
	dyn_header(&w, 257, 1, cl_18_0, 4);
	bw_code(&w, 1, 1);
	bw_bits(&w, 127, 7);
	bw_code(&w, 1, 1);
	bw_bits(&w, 127, 7);
	bad_member(&w, "", 0, "code lengths repeated past their end");
	/* all literal/length lengths zero: no end-of-block code */
	dyn_header(&w, 257, 1, cl_18_0, 4);
	bw_code(&w, 1, 1);
	bw_bits(&w, 127, 7);
	bw_code(&w, 1, 1);
	bw_bits(&w, 108, 7); /* 138 + 119 = 257 */
	bw_code(&w, 0, 1);   /* the distance length: 0 */
	bad_member(&w, "", 0, "no end-of-block code");
	/* over-subscribed literal/length code: 257 lengths of 1 */
	dyn_lens(&w, 257, 1, 1, 1, 1, 1, "\1");
	bad_member(&w, "", 0, "over-subscribed literal/length code");
	/* incomplete literal/length code: 'A' and end-of-block with 2 bits each */
	dyn_lens(&w, 257, 1, 0, 2, 2, 0, "\0");
	bad_member(&w, "", 0, "incomplete literal/length code");
	/* incomplete distance code (two codes, 1 and 2 bits) */
	dyn_lens(&w, 257, 2, 0, 1, 1, 0, "\1\2");
	bad_member(&w, "", 0, "incomplete distance code");
	/* valid: 'A' and end-of-block with one bit each, no distance code; "AAA" */
	dyn_lens(&w, 257, 1, 0, 1, 1, 0, "\0");
	bw_code(&w, 0, 1);
	bw_code(&w, 0, 1);
	bw_code(&w, 0, 1);
	bw_code(&w, 1, 1);
	bw_align(&w);
	gz_member(&gz, 0, &w.b, "AAA", 3);
	expect_ok(gz.data, gz.len, "AAA", 3, 1);
	blz_buf_release(&gz);
	blz_buf_release(&w.b);
	memset(&w, 0, sizeof(w));
	/* ...but a length code there has no distance to go with it ('A' 10, 257 11, 256 0) */
	dyn_lens(&w, 258, 1, 0, 2, 1, 2, "\0");
	bw_code(&w, 2, 2);
	bw_code(&w, 3, 2);
	bad_member(&w, "AAAA", 4, "invalid distance code");
	/* one distance code of one bit: the other bit pattern is invalid */
	dyn_lens(&w, 258, 1, 0, 2, 1, 2, "\1");
	bw_code(&w, 2, 2);
	bw_code(&w, 3, 2);
	bw_code(&w, 1, 1);
	bad_member(&w, "AAAA", 4, "invalid distance code");
}

/* Every truncation point gives "incomplete", and what was decoded is a prefix. */
static void test_truncated(void **state)
{
	struct blz_buf d = { 0 }, gz = { 0 };
	struct bw w = { 0 };
	size_t first = 0, first_out = 0; /* the end of a first member: a complete stream */

	rng_state = 4;
	gen_text(&d, 4000);
	if (have_gzip()) {
		gzip_prog(d.data, d.len, 6, true, &gz);
		first = gz.len;
		first_out = d.len;
		gzip_prog(d.data, 10, 1, false, &gz);
		blz_buf_append(&d, d.data, 10);
	} else {
		bw_stored(&w, true, d.data, (uint16_t)d.len);
		gz_member(&gz, 0x1e, &w.b, d.data, d.len);
	}
	for (size_t n = 0; n < gz.len; n++) {
		struct result res;
		decode(gz.data, n, n % 3 ? n : 1, &res);
		if (n == first) {
			assert_int_equal(res.ret, 0);
			assert_int_equal(res.out.len, first_out);
			res.ret = -EIO;
		}
		if (res.ret != -EIO)
			print_error("truncated at %zu of %zu: %d %s\n", n, gz.len, res.ret, res.msg);
		assert_int_equal(res.ret, -EIO);
		assert_true(res.out.len <= d.len);
		if (res.out.len)
			assert_memory_equal(res.out.data, d.data, res.out.len);
		blz_buf_release(&res.out);
	}
	expect_ok(gz.data, gz.len, d.data, d.len, 1);
	blz_buf_release(&w.b);
	blz_buf_release(&gz);
	blz_buf_release(&d);
}

/* Random damage: never a crash, never a complete stream with other bytes than the original. */
static void fuzz(const struct blz_buf *gz, const struct blz_buf *orig, int iterations)
{
	uint8_t *m = blz_xmalloc(gz->len);

	for (int it = 0; it < iterations; it++) {
		struct result res;
		memcpy(m, gz->data, gz->len);
		int k = 1 + (int)(rng() % 4);
		for (int j = 0; j < k; j++) {
			size_t pos = rng() % gz->len;
			switch (rng() % 3) {
			case 0: m[pos] ^= (uint8_t)(1u << (rng() % 8)); break;
			case 1: m[pos] = (uint8_t)rng(); break;
			default: m[pos] = 0; break;
			}
		}
		size_t n = rng() % 8 ? gz->len : rng() % gz->len;
		decode(m, n, rng() % 2 ? 0 : n, &res);
		if (res.ret == 0) {
			assert_int_equal(res.out.len, orig->len);
			assert_memory_equal(res.out.data, orig->data, orig->len);
		}
		blz_buf_release(&res.out);
	}
	free(m);
}

static void test_fuzz(void **state)
{
	struct blz_buf d = { 0 }, gz = { 0 };
	struct bw w = { 0 };

	rng_state = 5;
	gen_text(&d, 30000);
	gen_repetitive(&d, 60000);
	if (have_gzip()) {
		gzip_prog(d.data, d.len, 9, false, &gz);
		fuzz(&gz, &d, 3000);
		gz.len = 0;
		gzip_prog(d.data, 5000, 1, false, &gz);
		d.len = 5000;
		fuzz(&gz, &d, 3000);
		gz.len = 0;
	}
	/* fixed, stored and random bits after a valid header */
	bw_bits(&w, 0, 1);
	bw_bits(&w, 1, 2);
	for (int i = 0; i < 300; i++)
		bw_fixed(&w, "fuzz"[i % 4]);
	bw_fixed(&w, 256);
	bw_stored(&w, true, d.data, 1000);
	struct blz_buf orig = { 0 };
	for (int i = 0; i < 300; i++)
		blz_buf_append(&orig, &"fuzz"[i % 4], 1);
	blz_buf_append(&orig, d.data, 1000);
	gz_member(&gz, 0x1e, &w.b, orig.data, orig.len);
	fuzz(&gz, &orig, 3000);
	for (int it = 0; it < 3000; it++) {
		struct result res;
		struct blz_buf r = { 0 };
		uint8_t h[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
		blz_buf_append(&r, h, sizeof(h));
		gen_random(&r, 1 + rng() % 2000);
		/* BTYPE 2 (dynamic) mostly, else 1 (fixed) */
		r.data[10] = (uint8_t)((r.data[10] & ~6) | (it % 4 ? 4 : 2));
		decode(r.data, r.len, 0, &res);
		assert_int_not_equal(res.ret, 0);
		blz_buf_release(&res.out);
		blz_buf_release(&r);
	}
	blz_buf_release(&orig);
	blz_buf_release(&w.b);
	blz_buf_release(&gz);
	blz_buf_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gzip_roundtrip),
		cmocka_unit_test(test_null_input),
		cmocka_unit_test(test_multi_member),
		cmocka_unit_test(test_stored_and_header),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
