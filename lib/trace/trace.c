/* The request log's picture: see trace.h. */
#include "trace/trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fileio.h"
#include "util/size.h"

#define CELL 3       /* pixels per cell, both ways */
#define SEP 16       /* pixels between two bands */
#define M_LEFT 170
#define M_RIGHT 300
#define M_TOP 50
#define M_BOTTOM 100

static const char *const colours[BLZ_OUT_N] = {
	"#7f7f7f", "#c7c7c7", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#d62728",
};

void blz_trace_log_add(struct blz_trace_log *l, const struct blz_reqrec *r)
{
	if (l->len == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->v = blz_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->len++] = *r;
}

void blz_trace_log_release(struct blz_trace_log *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int blz_trace_log_parse(const char *text, size_t len, struct blz_trace_log *ret, char *err,
			size_t errlen)
{
	struct blz_trace_log l = { 0 };
	size_t lineno = 0;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		lineno++;
		if (!nl) {
			blz_trace_log_release(&l);
			return blz_errf(err, errlen, -EINVAL, "line %zu has no newline", lineno);
		}
		size_t n = (size_t)(nl - (text + pos));
		struct blz_reqrec r;
		int e = lineno == 1 ? blz_reqlog_parse_header(text + pos, n, &l.t0_unix_ns)
				    : blz_reqlog_parse(text + pos, n, &r);
		if (e < 0) {
			blz_trace_log_release(&l);
			return blz_errf(err, errlen, -EINVAL, "line %zu is not a request log %s",
					lineno, lineno == 1 ? "header" : "line");
		}
		if (lineno > 1)
			blz_trace_log_add(&l, &r);
		pos += n + 1;
	}
	if (!lineno)
		return blz_errf(err, errlen, -EINVAL, "the log is empty (no header)");
	*ret = l;
	return 0;
}

int blz_trace_text_load(const char *path, char **ret, size_t *ret_len, char *err,
			size_t errlen)
{
	struct stat st;
	int r = stat(path, &st) < 0 ? -errno : 0;
	/* read what is there (the reader allocates its bound at once) */
	if (r == 0)
		r = blz_read_text_file(path, (size_t)st.st_size + 1, ret, ret_len);
	return r < 0 ? blz_errf(err, errlen, r, "cannot read '%s': %s", path, strerror(-r)) : 0;
}

void blz_trace_names_add(struct blz_trace_names *n, uint64_t off, uint64_t len,
			 const char *name)
{
	if (n->len == n->cap) {
		n->cap = n->cap ? 2 * n->cap : 64;
		n->v = blz_xrealloc(n->v, n->cap * sizeof(*n->v));
	}
	n->v[n->len++] = (struct blz_trace_name){ off, len, blz_xstrdup(name) };
}

void blz_trace_names_release(struct blz_trace_names *n)
{
	for (size_t i = 0; i < n->len; i++)
		free(n->v[i].name);
	free(n->v);
	memset(n, 0, sizeof(*n));
}

/* ---- the address bands ---- */

struct run {
	uint64_t lo, hi;
};

static int cmp_run(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp_u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x > y ? -1 : x < y;
}

/* The bands: the merged runs of the touched ranges, cut at the large gaps. */
static size_t make_bands(const struct blz_trace_log *log, struct run *bands)
{
	struct run *r = blz_xmalloc((log->len ? log->len : 1) * sizeof(*r));
	size_t n = 0;
	for (size_t i = 0; i < log->len; i++)
		if (log->v[i].len)
			r[n++] = (struct run){ log->v[i].off, log->v[i].off + log->v[i].len };
	qsort(r, n, sizeof(*r), cmp_run);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m && r[i].lo <= r[m - 1].hi) {
			if (r[i].hi > r[m - 1].hi)
				r[m - 1].hi = r[i].hi;
		} else {
			r[m++] = r[i];
		}
	}
	/* the gaps, largest first: cut while a gap is larger than a quarter of what stays */
	uint64_t *gaps = blz_xmalloc((m ? m : 1) * sizeof(*gaps));
	for (size_t i = 0; i + 1 < m; i++)
		gaps[i] = r[i + 1].lo - r[i].hi;
	size_t ng = m ? m - 1 : 0;
	qsort(gaps, ng, sizeof(*gaps), cmp_u64_desc);
	uint64_t shown = m ? r[m - 1].hi - r[0].lo : 0, min_cut = UINT64_MAX;
	size_t cuts = 0;
	while (cuts < ng && cuts + 1 < BLZ_TRACE_MAX_BANDS &&
	       gaps[cuts] > (shown - gaps[cuts]) / 4) {
		shown -= gaps[cuts];
		min_cut = gaps[cuts];
		cuts++;
	}
	/* a cut at every gap at least min_cut, up to the count chosen (ties: the first) */
	size_t nb = 0;
	if (m)
		bands[nb++] = r[0];
	for (size_t i = 0; i + 1 < m; i++) {
		if (cuts && r[i + 1].lo - r[i].hi >= min_cut && nb < cuts + 1)
			bands[nb++] = r[i + 1];
		else
			bands[nb - 1].hi = r[i + 1].hi;
	}
	free(gaps);
	free(r);
	return nb;
}

/* ---- the drawing ---- */

struct grid {
	unsigned cols, rows;
	uint32_t *count;
	uint8_t *worst;
	unsigned band_rows[BLZ_TRACE_MAX_BANDS], band_row0[BLZ_TRACE_MAX_BANDS];
	unsigned band_y[BLZ_TRACE_MAX_BANDS]; /* pixel offset of each band in the plot */
};

static unsigned row_of(const struct grid *g, const struct run *b, unsigned k, uint64_t off)
{
	unsigned __int128 span = b[k].hi - b[k].lo;
	unsigned row = (unsigned)((unsigned __int128)(off - b[k].lo) * g->band_rows[k] / span);
	return g->band_row0[k] + (row < g->band_rows[k] ? row : g->band_rows[k] - 1);
}

static unsigned band_of(const struct run *b, size_t nb, uint64_t off)
{
	unsigned k = 0;
	while (k + 1 < nb && off >= b[k + 1].lo)
		k++;
	return k;
}

static unsigned level(uint32_t n)
{
	return n >= 16 ? 3 : n >= 4 ? 2 : n >= 2 ? 1 : 0;
}

static const char *const opacity[4] = { ".35", ".55", ".8", "1" };

/* XML text: markup characters escaped, control and non-ASCII bytes as '?'. */
static void put_text(struct blz_buf *o, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '&')
			blz_buf_append(o, "&amp;", 5);
		else if (c == '<')
			blz_buf_append(o, "&lt;", 4);
		else if (c == '>')
			blz_buf_append(o, "&gt;", 4);
		else if (c == '"')
			blz_buf_append(o, "&quot;", 6);
		else
			blz_buf_append(o, c < 0x20 || c >= 0x7f ? "?" : s, 1);
	}
}

/* A time in ns as text ("1.5 s", "20 ms"). */
static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	if (ns >= 1000000000u)
		snprintf(buf, len, "%g s", (double)ns / 1e9);
	else if (ns >= 1000000u)
		snprintf(buf, len, "%g ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%g us", (double)ns / 1e3);
}

/* Ticks at 1, 2 or 5 times a power of ten apart, at most ten over span. */
static uint64_t tick_step(uint64_t span)
{
	for (uint64_t p = 1;; p *= 10)
		for (uint64_t m = 1; m <= 5; m += m == 2 ? 3 : 1)
			if (span / (p * m) <= 10)
				return p * m;
}

static void draw_axes(struct blz_buf *o, const struct run *b, size_t nb, const struct grid *g,
		      unsigned pw, unsigned bh, uint64_t tmin, uint64_t tspan,
		      const struct blz_trace_log *log)
{
	char s1[32], s2[32];
	blz_buf_printf(o, "<g id=\"axes\" font-size=\"11\" fill=\"#333\">\n");
	for (size_t k = 0; k < nb; k++) {
		unsigned y = M_TOP + g->band_y[k];
		/* the areas in this band */
		uint64_t per_area[BLZ_AREA_N] = { 0 };
		for (size_t i = 0; i < log->len; i++)
			if (log->v[i].len && band_of(b, nb, log->v[i].off) == k &&
			    log->v[i].area < BLZ_AREA_N)
				per_area[log->v[i].area]++;
		blz_buf_printf(o, "<rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" fill=\"none\" "
			       "stroke=\"#999\"/>\n", M_LEFT, y, pw, bh);
		blz_buf_printf(o, "<text x=\"%u\" y=\"%u\" text-anchor=\"end\">%s</text>\n",
			       M_LEFT - 6, y + 10, blz_format_size(b[k].lo, s1, sizeof(s1)));
		blz_buf_printf(o, "<text x=\"%u\" y=\"%u\" text-anchor=\"end\">+ %s</text>\n",
			       M_LEFT - 6, y + bh, blz_format_size(b[k].hi - b[k].lo, s2, sizeof(s2)));
		blz_buf_printf(o, "<text x=\"%u\" y=\"%u\" text-anchor=\"end\" font-weight=\"bold\">",
			       M_LEFT - 6, y + bh / 2 + 4);
		bool any = false;
		for (unsigned a = 0; a < BLZ_AREA_N; a++)
			if (per_area[a]) {
				blz_buf_printf(o, "%s%s", any ? " + " : "",
					       a ? blz_area_name(a) : "device");
				any = true;
			}
		blz_buf_printf(o, "</text>\n");
		blz_buf_printf(o, "<text x=\"%u\" y=\"%u\" text-anchor=\"end\" fill=\"#777\">from "
			       "0x%" PRIx64 "</text>\n", M_LEFT - 6, y + bh / 2 + 17, b[k].lo);
		if (k + 1 < nb)
			blz_buf_printf(o, "<text x=\"%u\" y=\"%u\" text-anchor=\"middle\" "
				       "fill=\"#777\">~ %s not used, elided ~</text>\n",
				       M_LEFT + pw / 2, y + bh + SEP / 2 + 4,
				       blz_format_size(b[k + 1].lo - b[k].hi, s2, sizeof(s2)));
	}
	/* time: ticks at 1, 2 or 5 times a power of ten, at most ten */
	unsigned y = M_TOP + g->band_y[nb - 1] + bh;
	uint64_t step = tick_step(tspan);
	for (uint64_t t = 0; t <= tspan; t += step) {
		unsigned x = M_LEFT + (unsigned)((unsigned __int128)t * pw / (tspan ? tspan : 1));
		fmt_time(t, s1, sizeof(s1));
		blz_buf_printf(o, "<line x1=\"%u\" y1=\"%u\" x2=\"%u\" y2=\"%u\" stroke=\"#333\"/>"
			       "<text x=\"%u\" y=\"%u\" text-anchor=\"middle\">%s</text>\n",
			       x, y, x, y + 5, x, y + 18, s1);
		if (t + step < t)
			break;
	}
	fmt_time(tmin, s1, sizeof(s1));
	blz_buf_printf(o, "<text x=\"%u\" y=\"%u\" text-anchor=\"middle\">time since the "
		       "first request (which came %s after the server started); address space "
		       "down</text>\n</g>\n", M_LEFT + pw / 2, y + 34, s1);
}

static void draw_legend(struct blz_buf *o, const uint64_t *count, unsigned y)
{
	blz_buf_printf(o, "<g id=\"legend\" font-size=\"12\">\n");
	for (unsigned k = 0; k < BLZ_OUT_N; k++) {
		unsigned x = M_LEFT + k * 130;
		blz_buf_printf(o, "<rect x=\"%u\" y=\"%u\" width=\"12\" height=\"12\" fill=\"%s\"/>"
			       "<text x=\"%u\" y=\"%u\">%s %" PRIu64 "</text>\n", x, y, colours[k],
			       x + 16, y + 11, blz_outcome_name(k), count[k]);
	}
	blz_buf_printf(o, "</g>\n");
}

/* The name for [lo, hi): the named range overlapping it most, or NULL. */
static const char *name_for(const struct blz_trace_names *n, uint64_t lo, uint64_t hi)
{
	const char *best = NULL;
	uint64_t most = 0;
	for (size_t i = 0; n && i < n->len; i++) {
		const struct blz_trace_name *e = &n->v[i];
		uint64_t a = e->off > lo ? e->off : lo, z = e->off + e->len < hi ? e->off + e->len : hi;
		if (a < z && z - a > most) {
			most = z - a;
			best = e->name;
		}
	}
	return best;
}

static void draw_hot(struct blz_buf *o, const struct grid *g, const struct run *b, size_t nb,
		     unsigned pw, const struct blz_trace_names *names)
{
	uint64_t *per_row = blz_xcalloc(g->rows, sizeof(*per_row));
	for (unsigned r = 0; r < g->rows; r++)
		for (unsigned c = 0; c < g->cols; c++)
			per_row[r] += g->count[(size_t)r * g->cols + c];
	/* the hottest rows, most requests first */
	unsigned hot[BLZ_TRACE_HOT], nh = 0;
	for (unsigned r = 0; r < g->rows; r++) {
		if (!per_row[r] || (nh == BLZ_TRACE_HOT && per_row[r] <= per_row[hot[nh - 1]]))
			continue;
		unsigned i = nh < BLZ_TRACE_HOT ? nh++ : nh - 1;
		for (; i > 0 && per_row[hot[i - 1]] < per_row[r]; i--)
			hot[i] = hot[i - 1];
		hot[i] = r;
	}
	/* labels top-down, at least 13 px apart */
	for (unsigned i = 1; i < nh; i++)
		for (unsigned j = i; j > 0 && hot[j - 1] > hot[j]; j--) {
			unsigned t = hot[j];
			hot[j] = hot[j - 1];
			hot[j - 1] = t;
		}
	blz_buf_printf(o, "<g id=\"hottest\" font-size=\"11\" fill=\"#333\">\n"
		       "<text x=\"%u\" y=\"%u\" font-weight=\"bold\">hottest ranges</text>\n",
		       M_LEFT + pw + 12, M_TOP - 8);
	unsigned last_y = 0;
	for (unsigned i = 0; i < nh; i++) {
		unsigned r = hot[i], k = 0;
		while (k + 1 < nb && r >= g->band_row0[k + 1])
			k++;
		unsigned rr = r - g->band_row0[k];
		unsigned __int128 span = b[k].hi - b[k].lo;
		uint64_t lo = b[k].lo + (uint64_t)(span * rr / g->band_rows[k]);
		uint64_t hi = b[k].lo + (uint64_t)(span * (rr + 1) / g->band_rows[k]);
		unsigned y = M_TOP + g->band_y[k] + rr * CELL + CELL / 2;
		unsigned ly = y + 4 > last_y + 13 ? y + 4 : last_y + 13;
		last_y = ly;
		const char *nm = name_for(names, lo, hi);
		blz_buf_printf(o, "<line x1=\"%u\" y1=\"%u\" x2=\"%u\" y2=\"%u\" stroke=\"#bbb\"/>"
			       "<text x=\"%u\" y=\"%u\">", M_LEFT + pw, y, M_LEFT + pw + 10, ly - 4,
			       M_LEFT + pw + 12, ly);
		if (nm)
			put_text(o, nm);
		else
			blz_buf_printf(o, "@ 0x%" PRIx64, lo);
		blz_buf_printf(o, " (%" PRIu64 ")</text>\n", per_row[r]);
	}
	blz_buf_printf(o, "</g>\n");
	free(per_row);
}

int blz_trace_svg(const struct blz_trace_log *log, const struct blz_trace_opts *opts,
		  struct blz_buf *o, struct blz_trace_summary *sum)
{
	struct blz_trace_summary s = { 0 };
	unsigned W = opts && opts->width ? opts->width : 1200;
	unsigned H = opts && opts->height ? opts->height : 800;
	if (W < 400 || H < 300)
		return -EINVAL;
	struct run b[BLZ_TRACE_MAX_BANDS];
	size_t nb = make_bands(log, b);
	if (!nb)
		return -EINVAL;
	uint64_t tmin = UINT64_MAX, tmax = 0;
	for (size_t i = 0; i < log->len; i++) {
		tmin = log->v[i].t_ns < tmin ? log->v[i].t_ns : tmin;
		tmax = log->v[i].t_ns > tmax ? log->v[i].t_ns : tmax;
		s.count[log->v[i].outcome < BLZ_OUT_N ? log->v[i].outcome : BLZ_OUT_ERROR]++;
	}
	uint64_t tspan = tmax - tmin + 1;
	unsigned pw = W - M_LEFT - M_RIGHT, ph = H - M_TOP - M_BOTTOM;
	unsigned bh = (ph - SEP * (unsigned)(nb - 1)) / (unsigned)nb / CELL * CELL;
	if (bh < CELL * 4)
		return -EINVAL;
	struct grid g = { .cols = pw / CELL };
	pw = g.cols * CELL;
	for (size_t k = 0; k < nb; k++) {
		g.band_rows[k] = bh / CELL;
		g.band_row0[k] = g.rows;
		g.band_y[k] = (unsigned)k * (bh + SEP);
		g.rows += g.band_rows[k];
		s.shown_bytes += b[k].hi - b[k].lo;
		if (k)
			s.elided_bytes += b[k].lo - b[k - 1].hi;
	}
	s.bands = nb;
	g.count = blz_xcalloc((size_t)g.cols * g.rows, sizeof(*g.count));
	g.worst = blz_xcalloc((size_t)g.cols * g.rows, 1);
	for (size_t i = 0; i < log->len; i++) {
		const struct blz_reqrec *r = &log->v[i];
		if (!r->len)
			continue;
		unsigned c = (unsigned)((unsigned __int128)(r->t_ns - tmin) * g.cols / tspan);
		unsigned k = band_of(b, nb, r->off);
		unsigned r0 = row_of(&g, b, k, r->off), r1 = row_of(&g, b, k, r->off + r->len - 1);
		for (unsigned row = r0; row <= r1; row++) {
			size_t at = (size_t)row * g.cols + c;
			if (g.count[at] < UINT32_MAX)
				g.count[at]++;
			if (r->outcome >= g.worst[at])
				g.worst[at] = r->outcome < BLZ_OUT_N ? r->outcome : BLZ_OUT_ERROR;
		}
	}
	blz_buf_printf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\" "
		       "viewBox=\"0 0 %u %u\" font-family=\"sans-serif\">\n"
		       "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		       "<text x=\"%u\" y=\"28\" font-size=\"16\" font-weight=\"bold\">", W, H, W, H,
		       M_LEFT);
	put_text(o, opts && opts->title ? opts->title : "blazy request log");
	blz_buf_printf(o, " (%zu requests)</text>\n", log->len);
	/* the marks: one group per outcome, runs of equal cells as one rect */
	for (unsigned k = 0; k < BLZ_OUT_N; k++) {
		blz_buf_printf(o, "<g id=\"outcome-%s\" fill=\"%s\" transform=\"translate(%u %u)\">\n",
			       blz_outcome_name(k), colours[k], M_LEFT, M_TOP);
		for (size_t band = 0; band < nb; band++)
			for (unsigned rr = 0; rr < g.band_rows[band]; rr++) {
				unsigned row = g.band_row0[band] + rr, y = g.band_y[band] + rr * CELL;
				const uint32_t *cnt = g.count + (size_t)row * g.cols;
				const uint8_t *w = g.worst + (size_t)row * g.cols;
				for (unsigned c = 0; c < g.cols;) {
					if (!cnt[c] || w[c] != k) {
						c++;
						continue;
					}
					unsigned lv = level(cnt[c]), e = c + 1;
					while (e < g.cols && cnt[e] && w[e] == k && level(cnt[e]) == lv)
						e++;
					blz_buf_printf(o, "<rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" "
						       "fill-opacity=\"%s\"/>\n", c * CELL, y,
						       (e - c) * CELL, CELL, opacity[lv]);
					s.rects++;
					c = e;
				}
			}
		blz_buf_printf(o, "</g>\n");
	}
	draw_axes(o, b, nb, &g, pw, bh, tmin, tspan - 1, log);
	draw_hot(o, &g, b, nb, pw, opts ? opts->names : NULL);
	draw_legend(o, s.count, H - 30);
	blz_buf_printf(o, "</svg>\n");
	free(g.count);
	free(g.worst);
	if (sum)
		*sum = s;
	return 0;
}
