/*
 * Runtime mapping: put a file's bytes into the content store and append map records for
 * them at fresh offsets of the virtual area (never reused), all-or-nothing per file. The
 * journal's lock serialises writers; a running server picks the records up on its next
 * read of the range (it refreshes on a miss), so the new range is readable at once. The bytes
 * become chunks and records through lazywrite/chunker.h, BLZ_MAP_CHUNK bytes per chunk.
 */
#ifndef BLZ_LAZYWRITE_MAPPER_H
#define BLZ_LAZYWRITE_MAPPER_H

#include <stddef.h>
#include <stdint.h>

#include "seedset/seedset.h"

#define BLZ_MAP_CHUNK (1u << 20) /* bytes per store chunk and map record */

struct blz_mapped {
	uint64_t virtual_off;  /* offset inside /.blazy/virtual (what FICLONERANGE takes) */
	uint64_t device_off;   /* offset on the served device */
	uint64_t size;         /* the file's bytes */
	uint64_t mapped;       /* bytes of address space used (size rounded up to 4 KiB) */
	uint64_t records;      /* map records (one per store chunk) */
};

struct blz_mapper;

/* Opens the seed set in write mode (seedset/seedset.h: opts->flags gains BLZ_SEEDSET_WRITE):
 * the seed must have a virtual area; its map and store are created if missing. */
int blz_mapper_open(const struct blz_seedset_opts *opts, struct blz_mapper **ret, char *err,
		    size_t errlen);
/* Maps the whole content of fd (read from its current position to EOF). */
int blz_mapper_add(struct blz_mapper *m, int fd, const char *name, struct blz_mapped *ret,
		   char *err, size_t errlen);
void blz_mapper_close(struct blz_mapper *m);

#endif
