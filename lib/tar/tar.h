/*
 * A streaming tar reader: ustar, pax (per-file 'x' and global 'g' headers, including
 * path, linkpath, size, uid, gid, atime, mtime, ctime with fractional seconds and
 * SCHILY.xattr.NAME), GNU long names ('L') and long link names ('K').
 * The stream may be plain, zstd- or gzip-compressed; compression is detected by magic
 * (28 b5 2f fd: zstd through libzstd; 1f 8b: gzip through the decoder in inflate.h).
 * The input is only read forward, so it works on pipes (stdin).
 *
 * Errors are returned as -errno (EBADMSG for a malformed archive, EIO for a truncated one,
 * or the errno of a failed read); blz_tar_error() then describes what was wrong and where.
 */
#ifndef BLZ_TAR_TAR_H
#define BLZ_TAR_TAR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum blz_tar_type {
	BLZ_TAR_REG = 1,  /* '0', '\0', '7' */
	BLZ_TAR_HARDLINK, /* '1': linkname = an earlier entry's path */
	BLZ_TAR_SYMLINK,  /* '2' */
	BLZ_TAR_CHR,      /* '3' */
	BLZ_TAR_BLK,      /* '4' */
	BLZ_TAR_DIR,      /* '5' */
	BLZ_TAR_FIFO,     /* '6' */
};

struct blz_tar_xattr {
	char *name;       /* NUL-terminated, e.g. "user.foo", "security.capability" */
	uint8_t *value;   /* raw bytes */
	size_t len;
};

struct blz_tar_entry {
	/*
	 * Normalised relative path: no leading "/" or "./", no trailing "/", no empty or "."
	 * components. "" never appears except for the archive root "./" itself (type DIR),
	 * which callers may use to set the root directory's metadata.
	 */
	char *path;
	char *linkname;          /* symlink target verbatim; hard-link target normalised like path */
	enum blz_tar_type type;
	uint32_t mode;           /* permission bits only, 07777 */
	uint32_t uid, gid;
	uint64_t size;           /* bytes of file data that follow (REG only, else 0) */
	uint32_t devmajor, devminor;
	struct timespec mtime, atime, ctime; /* atime/ctime equal mtime when the archive lacks them */
	struct blz_tar_xattr *xattrs;
	size_t nxattrs;
	uint64_t header_offset;  /* byte offset of this entry's first header in the (decompressed) stream */
};

struct blz_tar;

/* Start reading from fd (not closed by the reader). Returns 0 or -errno. */
int blz_tar_open(struct blz_tar **ret, int fd);

/* Observers of the stream, for digests: raw sees every byte read from fd (still compressed),
 * decoded every byte of the decompressed tar stream (the same bytes when plain), in order.
 * Either may be NULL. */
typedef void (*blz_tar_observe_fn)(void *ctx, const void *buf, size_t len);
struct blz_tar_observers {
	blz_tar_observe_fn raw, decoded;
	void *ctx;
};
int blz_tar_open_observed(struct blz_tar **ret, int fd, const struct blz_tar_observers *obs);

/*
 * After the archive's end marker: decompresses the rest of a compressed stream (so that
 * its checksums, gzip's CRC-32 and ISIZE or zstd's content checksum, are verified and an
 * early end is an error) and, when observed, reads the input to its end, so that the
 * observers have seen all of it. A plain stream without observers is left as it is.
 * Returns 0 or -errno (then blz_tar_error() says why).
 */
int blz_tar_drain(struct blz_tar *t);

/*
 * Advance to the next entry, skipping any unread data of the current one.
 * Returns 1 with *ret_entry set (owned by the reader, valid until the next call),
 * 0 at the end of the archive (two zero blocks, or a clean end of input on a block
 * boundary), or -errno.
 */
int blz_tar_next(struct blz_tar *t, const struct blz_tar_entry **ret_entry);

/*
 * Read up to len bytes of the current entry's data. Returns the number of bytes read,
 * 0 when the entry's data is exhausted, or -errno (-EIO when the stream ends early).
 */
ssize_t blz_tar_read(struct blz_tar *t, void *buf, size_t len);

/* A one-line description of the last error, e.g. "bad header checksum at offset 10240". */
const char *blz_tar_error(const struct blz_tar *t);

void blz_tar_close(struct blz_tar *t);

#endif
