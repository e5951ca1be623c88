/* Whole-buffer I/O that retries on EINTR and short transfers. Return 0 or -errno. */
#ifndef BLZ_UTIL_FILEIO_H
#define BLZ_UTIL_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

int blz_write_full(int fd, const void *buf, size_t len);
int blz_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
/* Reads up to len bytes; returns the count read (< len only at end of file) or -errno. */
ssize_t blz_read_full(int fd, void *buf, size_t len);
int blz_pread_full(int fd, void *buf, size_t len, uint64_t off); /* -EIO on short read */
/* Reads from fd (a pipe, a socket) into buf until end of file, a full buffer (len - 1 bytes),
 * a newline if stop_at_newline, or timeout_ms; buf is NUL-terminated. Returns the bytes read,
 * -ETIMEDOUT (buf holds what arrived) or -errno. */
ssize_t blz_read_deadline(int fd, char *buf, size_t len, int timeout_ms, int stop_at_newline);

/* Replaces path with data all at once: written and synced as "<path>.tmp-<pid>" (mode 0666
 * less the umask) beside it, then renamed over path; the temporary file is removed on
 * failure. The calling thread's signals are blocked meanwhile (a SIGTERM to a
 * single-threaded process ends it after the file is in place, not with the temporary one
 * left). 0 or -errno. */
int blz_write_file_atomic(const char *path, const void *data, size_t len);
/* Removes the temporary files of blz_write_file_atomic(path) whose writer no longer runs
 * (killed with SIGKILL mid-write). */
void blz_remove_stale_tmp(const char *path);

/* Reads the first max - 1 bytes (at most) of a small file (/proc, /sys, state files) into a
 * malloc'ed NUL-terminated *ret of *ret_len bytes. 0 or -errno. */
int blz_read_text_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* mkdir -p: creates path and its missing parents with mode (less the umask); 0 also when it
 * exists already (as a directory or not: the caller's open says), -ENAMETOOLONG, -errno. */
int blz_mkdir_p(const char *path, mode_t mode);
/* Sets FS_NOCOW_FL on the directory fd, so that files created in it afterwards inherit it:
 * on btrfs they are then written without data checksums (for data verified otherwise).
 * 0, or -errno (-ENOTTY, -EOPNOTSUPP, -EINVAL where the filesystem has no such flag). */
int blz_dir_set_nocow(int fd);

/* Close-on-scope helpers (see style.md). */
static inline void blz_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ __attribute__((cleanup(blz_closep)))

void blz_freep(void *p);
#define _cleanup_free_ __attribute__((cleanup(blz_freep)))

#endif
