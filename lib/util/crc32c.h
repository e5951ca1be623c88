/* CRC-32C (Castagnoli), as btrfs uses it for tree blocks, superblocks, data and name hashes;
 * and CRC-32 (IEEE 802.3, the one of gzip and zip), for the gzip decoder. */
#ifndef BLZ_UTIL_CRC32C_H
#define BLZ_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Raw update: no pre- or post-inversion. crc32c("...") = ~blz_crc32c_raw(~0u, ...). */
uint32_t blz_crc32c_raw(uint32_t crc, const void *buf, size_t len);

/* The standard CRC-32C value (seed ~0, final xor ~0). */
static inline uint32_t blz_crc32c(const void *buf, size_t len)
{
	return ~blz_crc32c_raw(~0u, buf, len);
}

/* Raw CRC-32 (IEEE) update; crc32("...") = ~blz_crc32_raw(~0u, ...). Portable slicing-by-8. */
uint32_t blz_crc32_raw(uint32_t crc, const void *buf, size_t len);

static inline uint32_t blz_crc32(const void *buf, size_t len)
{
	return ~blz_crc32_raw(~0u, buf, len);
}

#endif
