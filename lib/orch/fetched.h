/*
 * Which files a workload read: the server's per-range fetch counters (lazy/fetches.h)
 * resolved to the files of a mounted blazy filesystem. Device offsets on the seed device are
 * btrfs logical addresses, so each touched piece of a range is looked up in the filesystem:
 *
 *   - pieces outside DATA chunks (metadata, superblocks) are not file data: skipped;
 *   - for the first touched address of a data extent, BTRFS_IOC_LOGICAL_INO_V2 with
 *     IGNORE_OFFSET lists every file extent item that references the extent, and each
 *     referencing inode's EXTENT_DATA items (TREE_SEARCH) say exactly which addresses of the
 *     extent it covers (an item may reference only part of an extent: clones of
 *     /.blazy/virtual, partial reflinks). So a touched address counts for a file only when
 *     one of the file's extents covers that very address. One query per data extent
 *     touched, whatever the number of ranges in it;
 *   - addresses no extent holds (data freed since) and those only /.blazy/virtual covers
 *     count as read outside any file;
 *   - names: BTRFS_IOC_INO_PATHS (all hard links), relative to the mounted subvolume's root.
 *     Files of other subvolumes keep no name (root and inode only).
 *
 * Counts per file: touched = bytes of the file's data that were read at least once (in
 * granules: 4 KiB for map records and local regions up to 1 MiB); bytes = bytes served for
 * it; reads and store (chunk loads from the store) of every range it has touched bytes in.
 * A range shared by several files (small local files in one 1 MiB region, or reflinks of one
 * record) credits its reads and store loads to each of them and splits its bytes in
 * proportion to the touched bytes each covers, so per-file sums may exceed the server's totals.
 *
 * Needs CAP_SYS_ADMIN (the ioctls). Functions return 0 or -errno with a message in err.
 */
#ifndef BLZ_ORCH_FETCHED_H
#define BLZ_ORCH_FETCHED_H

#include <stddef.h>
#include <stdint.h>

#include "lazy/fetches.h"
#include "util/strbuf.h"

struct blz_fetched_file {
	uint64_t root, ino;
	char **paths;           /* sorted; relative to the mount's root, no leading '/' */
	size_t npaths;
	uint64_t paths_missed;  /* names INO_PATHS could not return */
	uint64_t reads, bytes, lazy_bytes, store, touched;
};

struct blz_fetched {
	struct blz_fetched_file *files; /* touched > 0; by lazy_bytes, then bytes, descending */
	size_t nfiles;
	uint64_t touched;           /* touched bytes of DATA chunks */
	uint64_t outside;           /* of those, in no file (freed, or only /.blazy/virtual) */
	uint64_t not_data;          /* touched bytes outside DATA chunks (metadata) */
	uint64_t refs_missed;       /* references LOGICAL_INO could not return: counts incomplete */
	uint64_t queries;           /* LOGICAL_INO calls made */
};

/* Resolves list (a parsed "fetches" reply of the server under mnt) to the files of the
 * filesystem mounted at mnt. */
int blz_fetched_resolve(const char *mnt, const struct blz_fetch_list *list,
			struct blz_fetched *ret, char *err, size_t errlen);
void blz_fetched_release(struct blz_fetched *f);

/* The trace: every name of every file read, sorted bytewise, deduplicated, one a line,
 * for `blazy mkseed --local-list`. Names holding a newline cannot be written that way: they
 * are skipped and counted in *ret_skipped; files without a name (other subvolumes, deleted)
 * in *ret_unnamed. */
void blz_fetched_trace(const struct blz_fetched *f, struct blz_buf *out, size_t *ret_written,
		       size_t *ret_skipped, size_t *ret_unnamed);

/* JSON members for `blazy status --json`, each appended with a leading comma:
 * blz_fetched_json: "files":[{"paths":[...],"paths_missed":N,"subvolume":N,"inode":N,
 *   "reads":N,"bytes":N,"lazy_bytes":N,"store_fetches":N,"touched_bytes":N},...],
 *   "fetch_touched_bytes":N,"fetch_outside_bytes":N,"fetch_metadata_bytes":N,
 *   "fetch_refs_missed":N;
 * blz_fetch_list_json: "ranges":[{"area":"local|import|virtual","offset":N,"length":N,
 *   "reads":N,"bytes":N,"store_fetches":N,"touched":[[OFF,LEN],...]},...],
 *   "fetch_untracked":N. */
void blz_fetched_json(const struct blz_fetched *f, struct blz_buf *out);

/* The text sections of `blazy status`: the files read (for a mount point), or the ranges
 * read (for a bare device), the top ones by bytes (0: all); names with control bytes
 * escaped (\n, \t, \xHH). */
void blz_fetched_format(const struct blz_fetched *f, size_t top, struct blz_buf *out);
void blz_fetch_list_format(const struct blz_fetch_list *l, size_t top, struct blz_buf *out);
void blz_fetch_list_json(const struct blz_fetch_list *l, struct blz_buf *out);

#endif
