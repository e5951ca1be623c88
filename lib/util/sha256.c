/* SHA-256 as specified in FIPS 180-4. On x86-64 the block function is picked at run time:
 * SHA-NI where the CPU has it, else the portable code compiled for BMI2 (rorx and andn, which
 * set no flags: 1.5x faster where x86 is emulated, as under qemu's TCG, whose CPUs have BMI2
 * but no SHA-NI), else the portable code. */
#include "util/sha256.h"

#include <errno.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* The block functions, slowest first (cpu_level picks one). */
enum { LEVEL_PORTABLE, LEVEL_BMI2, LEVEL_SHA_NI };

static inline uint32_t get_be32(const uint8_t *b)
{
	return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static inline void put_be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static inline uint32_t ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

/* FIPS 180-4 section 4.1.2 */
/* (CH and MAJ in their forms with fewest operations) */
#define CH(x, y, z)	((z) ^ ((x) & ((y) ^ (z))))
#define MAJ(x, y, z)	(((x) & (y)) | ((z) & ((x) | (y))))
#define BSIG0(x)	(ror(x, 2) ^ ror(x, 13) ^ ror(x, 22))
#define BSIG1(x)	(ror(x, 6) ^ ror(x, 11) ^ ror(x, 25))
#define SSIG0(x)	(ror(x, 7) ^ ror(x, 18) ^ ((x) >> 3))
#define SSIG1(x)	(ror(x, 17) ^ ror(x, 19) ^ ((x) >> 10))

/* Message schedule in a 16-word ring: W[t] for t >= 16 overwrites W[t-16]. */
#define SCHED(t) \
	(W[(t) & 15] += SSIG1(W[((t) - 2) & 15]) + W[((t) - 7) & 15] + SSIG0(W[((t) - 15) & 15]))

/* One round with the working variables renamed instead of rotated: the round that would
 * assign h = d + T1 and d = T1 + T2 writes them in place. */
#define ROUND(a, b, c, d, e, f, g, h, t, w) do { \
	uint32_t t1_ = h + BSIG1(e) + CH(e, f, g) + K[t] + (w); \
	d += t1_; \
	h = t1_ + BSIG0(a) + MAJ(a, b, c); \
} while (0)

#define ROUND8(t, w) do { \
	ROUND(a, b, c, d, e, f, g, h, (t) + 0, w((t) + 0)); \
	ROUND(h, a, b, c, d, e, f, g, (t) + 1, w((t) + 1)); \
	ROUND(g, h, a, b, c, d, e, f, (t) + 2, w((t) + 2)); \
	ROUND(f, g, h, a, b, c, d, e, (t) + 3, w((t) + 3)); \
	ROUND(e, f, g, h, a, b, c, d, (t) + 4, w((t) + 4)); \
	ROUND(d, e, f, g, h, a, b, c, (t) + 5, w((t) + 5)); \
	ROUND(c, d, e, f, g, h, a, b, (t) + 6, w((t) + 6)); \
	ROUND(b, c, d, e, f, g, h, a, (t) + 7, w((t) + 7)); \
} while (0)

#define W_LOAD(t) W[(t)]
#define W_SCHED(t) SCHED(t)

/* The portable block function, inlined into each compiled variant. */
static inline __attribute__((always_inline)) void blocks_portable(uint32_t hs[8], const uint8_t *p,
								  size_t nblocks)
{
	uint32_t W[16];

	while (nblocks--) {
		uint32_t a = hs[0], b = hs[1], c = hs[2], d = hs[3];
		uint32_t e = hs[4], f = hs[5], g = hs[6], h = hs[7];

		for (int i = 0; i < 16; i++)
			W[i] = get_be32(p + 4 * i);
		ROUND8(0, W_LOAD);
		ROUND8(8, W_LOAD);
		ROUND8(16, W_SCHED);
		ROUND8(24, W_SCHED);
		ROUND8(32, W_SCHED);
		ROUND8(40, W_SCHED);
		ROUND8(48, W_SCHED);
		ROUND8(56, W_SCHED);

		hs[0] += a;
		hs[1] += b;
		hs[2] += c;
		hs[3] += d;
		hs[4] += e;
		hs[5] += f;
		hs[6] += g;
		hs[7] += h;
		p += BLZ_SHA256_BLOCK;
	}
}

void blz_sha256_blocks_sw(uint32_t hs[8], const uint8_t *p, size_t nblocks)
{
	blocks_portable(hs, p, nblocks);
}

#if defined(__x86_64__)
__attribute__((target("bmi2")))
static void sha256_blocks_bmi2(uint32_t hs[8], const uint8_t *p, size_t nblocks)
{
	blocks_portable(hs, p, nblocks);
}
#endif

#if defined(__x86_64__)
/* The SHA extensions keep the state as two vectors, ABEF and CDGH (most significant lane
 * first). sha256rnds2 does two rounds with the two low lanes of its message+constant
 * argument; msg1/msg2 compute the message schedule four words at a time:
 *   X[g] = msg2(msg1(X[g-4], X[g-3]) + alignr(X[g-1], X[g-2], 4), X[g-1])
 * where X[g] holds W[4g..4g+3]. X[g] lives in M[g % 4]. */
#define QROUND(g, Mcur, Mprev, Mnext) do { \
	__m128i m_ = _mm_add_epi32(Mcur, _mm_loadu_si128((const __m128i *)&K[4 * (g)])); \
	s1 = _mm_sha256rnds2_epu32(s1, s0, m_); \
	if ((g) >= 3 && (g) <= 14) { \
		Mnext = _mm_add_epi32(Mnext, _mm_alignr_epi8(Mcur, Mprev, 4)); \
		Mnext = _mm_sha256msg2_epu32(Mnext, Mcur); \
	} \
	m_ = _mm_shuffle_epi32(m_, 0x0e); \
	s0 = _mm_sha256rnds2_epu32(s0, s1, m_); \
	if ((g) >= 1 && (g) <= 12) \
		Mprev = _mm_sha256msg1_epu32(Mprev, Mcur); \
} while (0)

__attribute__((target("sha,sse4.1")))
static void sha256_blocks_ni(uint32_t hs[8], const uint8_t *p, size_t nblocks)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i t = _mm_loadu_si128((const __m128i *)&hs[0]);	/* DCBA */
	__m128i s1 = _mm_loadu_si128((const __m128i *)&hs[4]);	/* HGFE */
	__m128i s0;

	t = _mm_shuffle_epi32(t, 0xb1);			/* CDAB */
	s1 = _mm_shuffle_epi32(s1, 0x1b);		/* EFGH */
	s0 = _mm_alignr_epi8(t, s1, 8);			/* ABEF */
	s1 = _mm_blend_epi16(s1, t, 0xf0);		/* CDGH */

	while (nblocks--) {
		__m128i save0 = s0, save1 = s1;
		__m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
		__m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
		__m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
		__m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);

		QROUND(0, m0, m3, m1);
		QROUND(1, m1, m0, m2);
		QROUND(2, m2, m1, m3);
		QROUND(3, m3, m2, m0);
		QROUND(4, m0, m3, m1);
		QROUND(5, m1, m0, m2);
		QROUND(6, m2, m1, m3);
		QROUND(7, m3, m2, m0);
		QROUND(8, m0, m3, m1);
		QROUND(9, m1, m0, m2);
		QROUND(10, m2, m1, m3);
		QROUND(11, m3, m2, m0);
		QROUND(12, m0, m3, m1);
		QROUND(13, m1, m0, m2);
		QROUND(14, m2, m1, m3);
		QROUND(15, m3, m2, m0);

		s0 = _mm_add_epi32(s0, save0);
		s1 = _mm_add_epi32(s1, save1);
		p += BLZ_SHA256_BLOCK;
	}

	t = _mm_shuffle_epi32(s0, 0x1b);		/* FEBA */
	s1 = _mm_shuffle_epi32(s1, 0xb1);		/* DCHG */
	s0 = _mm_blend_epi16(t, s1, 0xf0);		/* DCBA */
	s1 = _mm_alignr_epi8(s1, t, 8);			/* HGFE */
	_mm_storeu_si128((__m128i *)&hs[0], s0);
	_mm_storeu_si128((__m128i *)&hs[4], s1);
}

/* The block function this CPU gets: -1 unknown, else an enum level; racing first callers
 * compute the same value. */
static int level = -1;

static int detect_level(void)
{
	unsigned a, b, c, d, b7 = 0;
	if (__get_cpuid_max(0, NULL) >= 7)
		__cpuid_count(7, 0, a, b7, c, d);
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3) && (b7 & bit_SHA))
		return LEVEL_SHA_NI;
	return (b7 & bit_BMI2) ? LEVEL_BMI2 : LEVEL_PORTABLE;
}
#endif

static int cpu_level(void)
{
#if defined(__x86_64__)
	int v = __atomic_load_n(&level, __ATOMIC_RELAXED);
	if (v < 0) {
		v = detect_level();
		__atomic_store_n(&level, v, __ATOMIC_RELAXED);
	}
	return v;
#else
	return LEVEL_PORTABLE;
#endif
}

int blz_sha256_have_hw(void)
{
	return cpu_level() == LEVEL_SHA_NI;
}

int blz_sha256_have_bmi2(void)
{
	return cpu_level() >= LEVEL_BMI2;
}

void blz_sha256_blocks_bmi2(uint32_t hs[8], const uint8_t *p, size_t nblocks)
{
#if defined(__x86_64__)
	sha256_blocks_bmi2(hs, p, nblocks);
#else
	blz_sha256_blocks_sw(hs, p, nblocks);
#endif
}

void blz_sha256_blocks_hw(uint32_t hs[8], const uint8_t *p, size_t nblocks)
{
#if defined(__x86_64__)
	sha256_blocks_ni(hs, p, nblocks);
#else
	blz_sha256_blocks_sw(hs, p, nblocks);
#endif
}

static void blocks(uint32_t hs[8], const uint8_t *p, size_t nblocks)
{
	int v = cpu_level();
	if (v == LEVEL_SHA_NI)
		blz_sha256_blocks_hw(hs, p, nblocks);
	else if (v == LEVEL_BMI2)
		blz_sha256_blocks_bmi2(hs, p, nblocks);
	else
		blz_sha256_blocks_sw(hs, p, nblocks);
}

void blz_sha256_init(struct blz_sha256 *ctx)
{
	static const uint32_t H0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	memcpy(ctx->h, H0, sizeof(H0));
	ctx->total = 0;
	ctx->buflen = 0;
}

void blz_sha256_update(struct blz_sha256 *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!len)
		return;
	ctx->total += len;
	if (ctx->buflen) {
		size_t n = BLZ_SHA256_BLOCK - ctx->buflen;
		if (n > len)
			n = len;
		memcpy(ctx->buf + ctx->buflen, p, n);
		ctx->buflen += n;
		p += n;
		len -= n;
		if (ctx->buflen < BLZ_SHA256_BLOCK)
			return;
		blocks(ctx->h, ctx->buf, 1);
		ctx->buflen = 0;
	}
	if (len >= BLZ_SHA256_BLOCK) {
		size_t nb = len / BLZ_SHA256_BLOCK;
		blocks(ctx->h, p, nb);
		p += nb * BLZ_SHA256_BLOCK;
		len -= nb * BLZ_SHA256_BLOCK;
	}
	if (len) {
		memcpy(ctx->buf, p, len);
		ctx->buflen = len;
	}
}

void blz_sha256_final(struct blz_sha256 *ctx, uint8_t out[BLZ_SHA256_LEN])
{
	uint64_t bits = ctx->total * 8;
	size_t n = ctx->buflen;

	/* Padding (5.1.1): a 1 bit, zeros, then the 64-bit big-endian message length. */
	ctx->buf[n++] = 0x80;
	if (n > BLZ_SHA256_BLOCK - 8) {
		memset(ctx->buf + n, 0, BLZ_SHA256_BLOCK - n);
		blocks(ctx->h, ctx->buf, 1);
		n = 0;
	}
	memset(ctx->buf + n, 0, BLZ_SHA256_BLOCK - 8 - n);
	put_be32(ctx->buf + 56, (uint32_t)(bits >> 32));
	put_be32(ctx->buf + 60, (uint32_t)bits);
	blocks(ctx->h, ctx->buf, 1);
	for (int i = 0; i < 8; i++)
		put_be32(out + 4 * i, ctx->h[i]);
	memset(ctx, 0, sizeof(*ctx));
}

void blz_sha256(const void *data, size_t len, uint8_t out[BLZ_SHA256_LEN])
{
	struct blz_sha256 ctx;
	blz_sha256_init(&ctx);
	blz_sha256_update(&ctx, data, len);
	blz_sha256_final(&ctx, out);
}

void blz_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int blz_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int blz_unhex(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi = blz_hexval(hex[2 * i]);
		if (hi < 0)
			return -EINVAL;
		int lo = blz_hexval(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
