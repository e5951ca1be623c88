#include "util/crc32c.h"

#include <string.h>

#include "util/le.h"

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */
#define CRC32_POLY 0xEDB88320u  /* reflected IEEE 802.3 polynomial (gzip) */

/* Slicing-by-8 tables for one reflected polynomial, built on first use. */
struct crc_tables {
	uint32_t poly;
	int ready;
	uint32_t t[8][256];
};

static struct crc_tables tab_c = { .poly = CRC32C_POLY }, tab_ieee = { .poly = CRC32_POLY };
static int have_sse42 = -1;

static void build_table(struct crc_tables *ct)
{
	uint32_t (*table)[256] = ct->t;

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ ct->poly : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
	__atomic_store_n(&ct->ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc_slice8(struct crc_tables *ct, uint32_t crc, const uint8_t *p, size_t len)
{
	if (!__atomic_load_n(&ct->ready, __ATOMIC_ACQUIRE))
		build_table(ct);
	uint32_t (*table)[256] = ct->t;
	while (len >= 8) {
		uint64_t w = get_le64(p) ^ crc;
		crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
		      table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
		      table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
		      table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	return crc_slice8(&tab_c, crc, p, len);
}

uint32_t blz_crc32_raw(uint32_t crc, const void *buf, size_t len)
{
	return crc_slice8(&tab_ieee, crc, buf, len);
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}
#endif

/* Exposed for tests: force the portable path. */
uint32_t blz_crc32c_raw_sw(uint32_t crc, const void *buf, size_t len);
uint32_t blz_crc32c_raw_sw(uint32_t crc, const void *buf, size_t len)
{
	return crc_sw(crc, buf, len);
}

uint32_t blz_crc32c_raw(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (have_sse42 < 0)
		have_sse42 = __builtin_cpu_supports("sse4.2");
	if (have_sse42)
		return crc_hw(crc, buf, len);
#endif
	return crc_sw(crc, buf, len);
}
