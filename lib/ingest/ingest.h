/*
 * Sources for mkseed: a host directory and tar streams, turned into the writer's file
 * tree. Tar entries are applied over what is already in the tree (tar over dir, later
 * layers over earlier ones). Errors name the path; the text is in blz_seed_error().
 */
#ifndef BLZ_INGEST_INGEST_H
#define BLZ_INGEST_INGEST_H

#include "btrfs/writer.h"

/* Adds the tree under dir (metadata now; file data is read by blz_ingest_dir_data). */
int blz_ingest_dir(struct blz_seed *s, const char *dir);

/* Reads the data of every file blz_ingest_dir added and that is still in the tree. */
int blz_ingest_dir_data(struct blz_seed *s);

/* Applies a tar stream (plain or zstd) read from fd; name is used in messages. */
int blz_ingest_tar(struct blz_seed *s, int fd, const char *name);

#endif
