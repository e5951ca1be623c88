#ifndef BLZ_UTIL_SIZE_H
#define BLZ_UTIL_SIZE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse a byte count: decimal digits with an optional binary suffix
 * K, M, G, T, P or E (powers of 1024; an optional trailing "iB" or "B" is accepted).
 * Returns 0, -EINVAL for malformed text, -ERANGE when the value overflows 64 bits.
 */
int blz_parse_size(const char *s, uint64_t *ret);

/*
 * Parse a duration: decimal digits with an optional unit "ms", "s" (the default), "m" or
 * "h", e.g. "30", "30s", "500ms", "2m". Into milliseconds. 0, -EINVAL for malformed text,
 * -ERANGE beyond 2^32 - 2 ms (about 49 days).
 */
int blz_parse_duration_ms(const char *s, uint32_t *ret);

/* Format a byte count as "4 EiB", "1.5 MiB", "512 B" into buf. Returns buf. */
char *blz_format_size(uint64_t v, char *buf, size_t len);

#endif
