/* Names for the picture's ranges: the extents of the files a workload read (trace.h). */
#include "trace/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mount/btrfs_ioctl.h"

int blz_trace_names_from_files(const char *mnt, const char *list_path,
			       struct blz_trace_names *ret, size_t *ret_skipped, char *err,
			       size_t errlen)
{
	char *text;
	size_t len, skipped = 0;
	int r = blz_trace_text_load(list_path, &text, &len, err, errlen);
	if (r < 0)
		return r;
	int dfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		free(text);
		return blz_errf(err, errlen, r, "cannot open '%s': %s", mnt, strerror(-r));
	}
	for (char *line = text, *nl; line < text + len; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(text + len - line));
		if (!nl)
			nl = text + len;
		*nl = 0;
		if (!*line || *line == '#')
			continue;
		int fd = openat(dfd, line, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct blz_extent *e = NULL;
		size_t n = 0;
		if (fd < 0 || blz_fiemap(fd, &e, &n) < 0) {
			skipped++;
		} else {
			for (size_t i = 0; i < n; i++)
				if (e[i].physical)
					blz_trace_names_add(ret, e[i].physical, e[i].length, line);
		}
		free(e);
		if (fd >= 0)
			close(fd);
	}
	close(dfd);
	free(text);
	*ret_skipped = skipped;
	return 0;
}
