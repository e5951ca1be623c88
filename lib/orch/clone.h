/*
 * blazy map --clone: runtime mapping into a mounted blazy filesystem. A file's bytes go to
 * the store and the map at a fresh offset of the virtual area (lazywrite/mapper.h), then the
 * range of /.blazy/virtual is cloned (FICLONERANGE) into a new file of the mount, sized
 * exactly and given the source's mode and times. The file is usable at once; its bytes are
 * fetched from the store when read.
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
