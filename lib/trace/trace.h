/*
 * The picture of a request log (backend/reqlog.h): the device's address space (vertical)
 * against time (horizontal), as SVG.
 *
 * Address bands. The ranges the requests touched are merged into runs; the empty space
 * between runs is elided where it is large (each cut removes a gap larger than a quarter
 * of what stays shown; at most BLZ_TRACE_MAX_BANDS bands), so a 4 EiB device with a few
 * gigabytes read shows those gigabytes, with the elided sizes written on the cuts. Each
 * band (the local region, the import area, the used part of the virtual area, as they
 * fall) gets its own linear scale and an equal share of the height, labelled with its
 * first and last address and the areas it holds.
 *
 * Marks. Requests are binned into cells (about 3 x 3 pixels): a cell is drawn in the
 * colour of the costliest outcome among its requests (enum blz_outcome) and more opaque
 * with more requests (four steps, log-scale); runs of equal cells in a row make one <rect>.
 * Every outcome has its <g id="outcome-NAME"> group, present even when empty. So the
 * picture's size is bounded by its cell count, whatever the number of requests.
 *
 * Labels. The hottest address rows (the most requests) are named on the right: by the
 * names given (ranges of file extents on the device), else by their addresses.
 */
#ifndef BLZ_TRACE_TRACE_H
#define BLZ_TRACE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/reqlog.h"
#include "util/strbuf.h"

#define BLZ_TRACE_MAX_BANDS 8
#define BLZ_TRACE_HOT 8 /* hottest rows labelled */

/* A request log, read whole. */
struct blz_trace_log {
	uint64_t t0_unix_ns;
	struct blz_reqrec *v;
	size_t len, cap;
};

/* Parses a request log's text[0..len) (strict, reqlog.h) into ret. -EINVAL with the line
 * number and reason in err. Release with blz_trace_log_release. */
int blz_trace_log_parse(const char *text, size_t len, struct blz_trace_log *ret, char *err,
			size_t errlen);
void blz_trace_log_release(struct blz_trace_log *l);
/* The whole text of the file at path (a log, a file list), NUL-terminated, malloc'ed.
 * -errno with err. */
int blz_trace_text_load(const char *path, char **ret, size_t *ret_len, char *err,
			size_t errlen);
/* Appends one record (for callers that build a log in memory). */
void blz_trace_log_add(struct blz_trace_log *l, const struct blz_reqrec *r);

/* A named range of the device (a file's extent). */
struct blz_trace_name {
	uint64_t off, len;
	char *name;
};
struct blz_trace_names {
	struct blz_trace_name *v;
	size_t len, cap;
};
void blz_trace_names_add(struct blz_trace_names *n, uint64_t off, uint64_t len,
			 const char *name);
void blz_trace_names_release(struct blz_trace_names *n);
/* The device ranges of the files listed in list_path (one path a line, relative to mnt,
 * as `blazy status --trace` writes) on the btrfs filesystem mounted at mnt (FIEMAP; on a
 * blazy seed a btrfs logical address is the device offset). Files that cannot be opened
 * are skipped and counted in *ret_skipped. -errno with err when the list cannot be read. */
int blz_trace_names_from_files(const char *mnt, const char *list_path,
			       struct blz_trace_names *ret, size_t *ret_skipped, char *err,
			       size_t errlen);

struct blz_trace_opts {
	unsigned width, height; /* pixels; 0: 1200 x 800 */
	const char *title;      /* NULL: "blazy request log" */
	const struct blz_trace_names *names; /* may be NULL */
};

/* What the picture shows, for callers and tests. */
struct blz_trace_summary {
	size_t bands;
	uint64_t shown_bytes, elided_bytes; /* address space shown and cut out */
	size_t rects;                       /* <rect> marks drawn */
	uint64_t count[BLZ_OUT_N];          /* requests per outcome */
};

/* Draws log into out as one SVG document. 0, or -EINVAL for a log without requests. */
int blz_trace_svg(const struct blz_trace_log *log, const struct blz_trace_opts *opts,
		  struct blz_buf *out, struct blz_trace_summary *ret_summary);

#endif
