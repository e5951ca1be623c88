/* lib/fetch's private helpers, shared by the engine and the sources. */
#ifndef BLZ_FETCH_INTERNAL_H
#define BLZ_FETCH_INTERNAL_H

#include <stdint.h>

#include "fetch/fetch.h"

/* "xx/<64 hex>": a chunk's path below a store directory or a store URL. */
#define BLZ_FETCH_REL_LEN (2 + 1 + 64 + 1)
void blz_fetch_rel_path(const uint8_t digest[BLZ_STORE_DIGEST_LEN], char out[BLZ_FETCH_REL_LEN]);

/* Applies fault injection to one source get: sleeps delay_ms (never past deadline_ms), then
 * returns -EIO with probability error_rate or while error_file exists, else 0. rnd is a
 * uniform random number in [0, 1). */
int blz_fetch_inject_apply(const struct blz_fetch_inject *inj, uint64_t deadline_ms, double rnd);

#endif
