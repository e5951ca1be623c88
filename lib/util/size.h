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

/* Parse a duration: decimal digits with an optional unit ms, s or m (none: milliseconds),
 * e.g. "250ms", "30s", "2m". Returns 0, -EINVAL, or -ERANGE past UINT32_MAX ms. */
int blz_parse_duration_ms(const char *s, uint32_t *ret);
/* Format a byte count as "4 EiB", "1.5 MiB", "512 B" into buf. Returns buf. */
char *blz_format_size(uint64_t v, char *buf, size_t len);

#endif
