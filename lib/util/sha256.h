/* SHA-256 (FIPS 180-4) and hexadecimal helpers.
 *
 * The block function uses the x86 SHA extensions (SHA-NI) when the CPU has them and the
 * portable C code otherwise; both give identical results (test_store checks them against
 * each other). All functions are thread-safe; a context is owned by one thread at a time. */
#ifndef BLZ_UTIL_SHA256_H
#define BLZ_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define BLZ_SHA256_LEN 32
#define BLZ_SHA256_BLOCK 64
#define BLZ_SHA256_HEX_LEN 64 /* characters, without the terminating NUL */

struct blz_sha256 {
	uint32_t h[8];
	uint64_t total;			/* bytes hashed so far */
	uint8_t buf[BLZ_SHA256_BLOCK];	/* partial block */
	size_t buflen;
};

void blz_sha256_init(struct blz_sha256 *ctx);
void blz_sha256_update(struct blz_sha256 *ctx, const void *data, size_t len);
/* Writes the digest; the context must be initialised again before reuse. */
void blz_sha256_final(struct blz_sha256 *ctx, uint8_t out[BLZ_SHA256_LEN]);
/* One-shot: out = SHA-256(data[0..len)). data may be NULL when len is 0. */
void blz_sha256(const void *data, size_t len, uint8_t out[BLZ_SHA256_LEN]);

/* Lowercase hex of len bytes: writes 2*len characters and a terminating NUL to out
 * (so out needs 2*len+1 bytes). */
void blz_hex(const uint8_t *in, size_t len, char *out);
/* Parses exactly 2*len hex digits (either case) from hex into len bytes. Returns 0, or
 * -EINVAL if any of those characters is not a hex digit (out is then unspecified).
 * Characters after the first 2*len are not looked at. */
int blz_unhex(const char *hex, uint8_t *out, size_t len);
/* The value of one hex digit (either case), or -1. */
int blz_hexval(char c);

/* Exposed for tests: the block functions (nblocks 64-byte blocks into state h): portable,
 * portable compiled for BMI2, and SHA-NI; whether the CPU has what the last two need (the
 * fastest one it has is used). blz_sha256_blocks_hw must only be called when
 * blz_sha256_have_hw() is true, blz_sha256_blocks_bmi2 when blz_sha256_have_bmi2() is. */
void blz_sha256_blocks_sw(uint32_t h[8], const uint8_t *p, size_t nblocks);
void blz_sha256_blocks_bmi2(uint32_t h[8], const uint8_t *p, size_t nblocks);
void blz_sha256_blocks_hw(uint32_t h[8], const uint8_t *p, size_t nblocks);
int blz_sha256_have_hw(void);
int blz_sha256_have_bmi2(void);

#endif
