/* The Authorization value from a file, re-read when the file changes: see internal.h. */
#include "http/internal.h"
#include "util/fileio.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define AUTH_MAX 8192

void blz_http_auth_release(struct blz_http_auth *a)
{
	if (!a)
		return;
	if (a->value)
		explicit_bzero(a->value, strlen(a->value));
	free(a->value);
	free(a->path);
	memset(a, 0, sizeof(*a));
}

int blz_http_auth_get(struct blz_http_auth *a, const char **ret_value, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(a->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		return blz_errf(err, errlen, r, "cannot read the auth file '%s': %s", a->path,
				strerror(-r));
	}
	if (a->loaded && st.st_dev == a->dev && st.st_ino == a->ino && st.st_size == a->size &&
	    st.st_mtim.tv_sec == a->mtime.tv_sec && st.st_mtim.tv_nsec == a->mtime.tv_nsec) {
		close(fd);
		*ret_value = a->value;
		return 0;
	}
	char buf[AUTH_MAX + 2];
	ssize_t n = blz_read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return blz_errf(err, errlen, (int)n, "cannot read the auth file '%s'", a->path);
	buf[n] = 0;
	size_t len = strcspn(buf, "\r\n");
	bool bad = (size_t)n > AUTH_MAX || memchr(buf, 0, (size_t)n) != NULL;
	while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < len && !bad; i++)
		bad = (unsigned char)buf[i] < 0x20 && buf[i] != '\t';
	if (bad || len == 0) {
		explicit_bzero(buf, sizeof(buf));
		return blz_errf(err, errlen, -EINVAL,
				"the auth file '%s' must hold one line (the Authorization value, "
				"at most %d bytes, no control characters)", a->path, AUTH_MAX);
	}
	if (a->value)
		explicit_bzero(a->value, strlen(a->value));
	free(a->value);
	a->value = blz_xmemdup(buf, len + 1);
	a->value[len] = 0;
	explicit_bzero(buf, sizeof(buf));
	a->loaded = true;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->size = st.st_size;
	a->mtime = st.st_mtim;
	*ret_value = a->value;
	return 0;
}
