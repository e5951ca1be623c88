/*
 * Sources for mkseed: a host directory and tar streams, put into the seed through the
 * writer's entry API (btrfs/writer.h: blz_seed_put*, _link*, _whiteout, _opaque,
 * _next_layer, _defer_data); they never touch the tree itself. Tar entries are applied
 * over what is already in the tree (tar over dir, later layers over earlier ones). Errors
 * name the path; the text is in blz_seed_error().
 */
#ifndef BLZ_INGEST_INGEST_H
#define BLZ_INGEST_INGEST_H

#include "btrfs/writer.h"
#include "tar/tar.h"

/* Adds the tree under dir (metadata now; file data is read by blz_ingest_dir_data). */
int blz_ingest_dir(struct blz_seed *s, const char *dir);

/* Reads the data of every file blz_ingest_dir added and that is still in the tree. */
int blz_ingest_dir_data(struct blz_seed *s);

/*
 * One tar layer. Layers are applied in the order given, each over the tree so far, with
 * OCI whiteouts: an entry ".wh.NAME" removes NAME of a lower layer (or of the directory
 * given with --rootdir), ".wh..wh..opq" in a directory hides everything lower layers put
 * there; whiteouts never affect entries of their own layer and are not themselves added.
 */
struct blz_tar_layer {
	int fd;
	const char *name;                 /* for messages */
	struct blz_tar_observers obs;     /* optional: see every raw and every decompressed byte
					   * (the input is then read to its end, past the
					   * archive's end marker) */
};
int blz_ingest_tar_layer(struct blz_seed *s, const struct blz_tar_layer *layer);

/* Applies a tar stream (plain, zstd or gzip) read from fd; name is used in messages. */
int blz_ingest_tar(struct blz_seed *s, int fd, const char *name);

#endif
