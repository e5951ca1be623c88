#include "util/fileio.h"
#include "util/clock.h"
#include "util/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

int blz_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int blz_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t blz_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int blz_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

void blz_freep(void *p)
{
	free(*(void **)p);
}

ssize_t blz_read_deadline(int fd, char *buf, size_t len, int timeout_ms, int stop_at_newline)
{
	size_t n = 0;
	int64_t end = (int64_t)blz_now_ms() + timeout_ms;
	ssize_t r = 0;
	while (n + 1 < len) {
		int64_t left = end - (int64_t)blz_now_ms();
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (pr <= 0)
			continue;
		ssize_t k = read(fd, buf + n, len - 1 - n);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (stop_at_newline && memchr(buf + n - (size_t)k, '\n', (size_t)k))
			break;
	}
	if (len)
		buf[n] = 0;
	return r < 0 ? r : (ssize_t)n;
}

/* blz_write_file_atomic's temporary file is "<path>" TMP_SUFFIX "<pid>". */
#define TMP_SUFFIX ".tmp-"

static int open_tmp_excl(const char *tmp)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 && errno == EEXIST) {
		/* ours by name: left by an earlier process of this pid (killed mid-write) */
		if (unlink(tmp) < 0 && errno != ENOENT)
			return -errno;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	}
	return fd < 0 ? -errno : fd;
}

int blz_write_file_atomic(const char *path, const void *data, size_t len)
{
	size_t n = strlen(path) + 32;
	char *tmp = malloc(n);
	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, n, "%s" TMP_SUFFIX "%d", path, (int)getpid());
	/* A signal that would end the process (blazy stop's SIGTERM to a supervisor) waits
	 * until the file is in place or gone: no temporary file is left by it. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = open_tmp_excl(tmp), fd = r;
	if (fd >= 0) {
		r = blz_write_full(fd, data, len);
		if (r == 0 && fsync(fd) < 0)
			r = -errno;
		if (close(fd) < 0 && r == 0)
			r = -errno;
		if (r == 0 && rename(tmp, path) < 0)
			r = -errno;
		if (r < 0)
			unlink(tmp);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(tmp);
	return r < 0 ? r : 0;
}

void blz_remove_stale_tmp(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	size_t bl = strlen(base);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *t = de->d_name;
		if (strncmp(t, base, bl) || strncmp(t + bl, TMP_SUFFIX, strlen(TMP_SUFFIX)))
			continue;
		const char *num = t + bl + strlen(TMP_SUFFIX);
		char *end;
		errno = 0;
		long pid = strtol(num, &end, 10);
		if (*end || end == num || errno || pid <= 0 || pid > INT_MAX)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* its writer may still be at it */
		unlinkat(dirfd(d), t, 0);
	}
	closedir(d);
}

int blz_read_text_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	if (max == 0)
		return -EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* The buffer grows with what is read (from the file's size, when it has one), not to
	 * max at once: a large bound costs nothing then (under ASan a 1 GiB malloc took 0.4 s
	 * to poison and as long to free). */
	struct stat st;
	size_t want = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	struct blz_buf b = { 0 };
	for (;;) {
		size_t room = max - 1 - b.len < want ? max - 1 - b.len : want;
		blz_buf_reserve(&b, room + 1); /* (+ 1: the NUL) */
		ssize_t k = room ? blz_read_full(fd, b.data + b.len, room) : 0;
		if (k < 0) {
			close(fd);
			blz_buf_release(&b);
			return (int)k;
		}
		b.len += (size_t)k;
		if ((size_t)k < room || !room)
			break; /* the end of the file, or max - 1 bytes */
		want = b.len;
	}
	close(fd);
	b.data[b.len] = 0;
	*ret = (char *)b.data;
	*ret_len = b.len;
	return 0;
}

int blz_dir_set_nocow(int fd)
{
	int flags = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return -errno;
	if (flags & FS_NOCOW_FL)
		return 0;
	flags |= FS_NOCOW_FL;
	return ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0 ? -errno : 0;
}

int blz_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
