/*
 * blazy map --clone: runtime mapping into a mounted blazy filesystem. A file's bytes go to
 * the store and the map at a fresh offset of the virtual area (lazywrite/mapper.h), then the
 * range of /.blazy/virtual is cloned (FICLONERANGE) into a new file of the mount, sized
 * exactly and given the source's mode and times. The file is usable at once; its bytes are
 * fetched from the store when read.
 *
 * Crash safety: the chunks are durable before the records, the records (one all-or-nothing
 * batch per file, lib/map) before the clone, and the clone is made in an unnamed file
 * (O_TMPFILE) that is synced before it is linked at its name. A crash at any point leaves no
 * file or the whole file; records whose clone never got a name stay in the journal as mapped
 * ranges nothing references (harmless: offsets are never reused). Crash points for tests
 * (util/crash.h): map-stored, map-torn, map-written, map-synced, clone-cloned, clone-synced,
 * clone-linked (test/host/045-map-crash.sh).
 */
#ifndef BLZ_ORCH_CLONE_H
#define BLZ_ORCH_CLONE_H

#include "lazywrite/mapper.h"

struct blz_cloner;

/* Finds the blazy mount holding dir (an existing directory) and opens its seed's map and
 * store. -ENOENT with a message when dir is not inside a blazy mount. */
int blz_cloner_open(const char *state_dir, const char *dir, struct blz_cloner **ret, char *err,
		    size_t errlen);
/* Maps src and creates dest (which must not exist, inside the same mount). */
int blz_cloner_add(struct blz_cloner *c, const char *dest, const char *src, struct blz_mapped *ret,
		   char *err, size_t errlen);
/* The mount point found by blz_cloner_open. */
const char *blz_cloner_mountpoint(const struct blz_cloner *c);
/* Tells the seed's server about the new records (it would also find them on a miss). */
void blz_cloner_close(struct blz_cloner *c);

#endif
