/*
 * A set of tree paths chosen by the user: shell globs (mkseed --local GLOB) and exact
 * paths from a list file (--local-list FILE, the format `blazy status --trace` writes).
 * Paths are relative to the filesystem root ("usr/bin/ls"); a leading "/" or "./" in a
 * pattern or list line is ignored. A path matches when it, or a directory above it, is in
 * the list or matches a glob (fnmatch without FNM_PATHNAME: '*' also crosses '/').
 * A file with several hard links is decided by the name it is first added under.
 */
#ifndef BLZ_INGEST_PATHSET_H
#define BLZ_INGEST_PATHSET_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

struct blz_pathset {
	VEC(char *) globs;
	VEC(char *) exact;  /* sorted after blz_pathset_seal() */
	bool sealed;
};

void blz_pathset_init(struct blz_pathset *ps);
void blz_pathset_release(struct blz_pathset *ps);
void blz_pathset_add_glob(struct blz_pathset *ps, const char *glob);
void blz_pathset_add_path(struct blz_pathset *ps, const char *path);
/*
 * Reads a list file: one path per line, '#' starts a comment line, empty lines and
 * trailing '\r' are ignored. Returns the number of paths added or -errno; on a line that
 * cannot be a path (over 4095 bytes, a NUL byte) -EINVAL with *bad_line set.
 */
int blz_pathset_read_list(struct blz_pathset *ps, const char *file, size_t *bad_line);
/* Sorts the exact paths; call once after adding. */
void blz_pathset_seal(struct blz_pathset *ps);
bool blz_pathset_empty(const struct blz_pathset *ps);
bool blz_pathset_match(const struct blz_pathset *ps, const char *path);

#endif
