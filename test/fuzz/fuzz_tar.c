/* The tar reader (lib/tar/tar.h) on any stream: plain, gzip or zstd; ustar, pax, GNU. Reads
 * every entry's data and drains the stream, with both observers attached. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"
#include "tar/tar.h"

static void observe(void *ctx, const void *buf, size_t len)
{
	size_t *total = ctx;
	*total += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	if (fd < 0)
		fd = fuzz_memfd(data, size);
	else
		fuzz_refill(fd, data, size);
	size_t seen = 0;
	struct blz_tar_observers obs = { observe, observe, &seen };
	struct blz_tar *t;
	if (blz_tar_open_observed(&t, fd, &obs) < 0)
		return 0;
	const struct blz_tar_entry *e;
	static uint8_t buf[65536];
	int r;
	while ((r = blz_tar_next(t, &e)) > 0) {
		/* Every field is read, so that ASan sees any that point outside their memory. */
		size_t n = 0;
		for (const char *p = e->path; *p; p++)
			n++;
		if (e->linkname)
			for (const char *p = e->linkname; *p; p++)
				n++;
		for (size_t i = 0; i < e->nxattrs; i++) {
			for (const char *p = e->xattrs[i].name; *p; p++)
				n++;
			for (size_t j = 0; j < e->xattrs[i].len; j++)
				n += e->xattrs[i].value[j];
		}
		ssize_t got;
		uint64_t left = e->size;
		while ((got = blz_tar_read(t, buf, sizeof(buf))) > 0) {
			if ((uint64_t)got > left)
				abort(); /* more data than the header said */
			left -= (uint64_t)got;
		}
		if (got < 0)
			break;
		(void)n;
	}
	if (r == 0)
		blz_tar_drain(t);
	(void)blz_tar_error(t);
	blz_tar_close(t);
	return 0;
}
