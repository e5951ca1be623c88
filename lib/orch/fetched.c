/* From fetched device ranges to the files of a mounted blazy filesystem (orch/fetched.h). */
#include "orch/fetched.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount/btrfs_ioctl.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/size.h"

/* An inode met as a reference, with its extent items. */
struct finode {
	uint64_t root, ino;
	bool is_virtual;
	uint64_t seen;  /* the query that last listed it */
	struct blz_file_extent_item *items; /* sorted by disk_bytenr (holes and inline left out) */
	size_t nitems;
	uint64_t reads, bytes, lazy_bytes, store, touched;
};

/* A piece of the current extent covered by one file. */
struct cover {
	uint64_t start, end;
	size_t file;
};

struct credit {
	size_t file;
	uint64_t bytes;
};

struct resolver {
	int fd;
	uint64_t mnt_root, virt_ino;
	VEC(struct finode) files;
	size_t *slots; /* open addressing: index + 1 into files, 0 empty */
	size_t nslots;
	VEC(struct blz_chunk) data; /* DATA chunks, by address */
	/* The extent being resolved: [xs, xe) and who covers what of it. */
	bool valid;
	uint64_t xs, xe;
	VEC(struct cover) cov;    /* by start */
	VEC(size_t) active;       /* indexes into cov that may overlap the next piece */
	size_t next;              /* cov[next..] start at or after the last piece's end */
	VEC(struct credit) acc;   /* the current range's bytes per file */
	VEC(struct cover) clip;   /* scratch */
	struct blz_fetched *out;
	char *err;
	size_t errlen;
};

static size_t hash(uint64_t root, uint64_t ino)
{
	uint64_t h = (ino * 0x9e3779b97f4a7c15ull) ^ (root * 0xc2b2ae3d27d4eb4full);
	return (size_t)(h ^ (h >> 29));
}

static void rehash(struct resolver *rs)
{
	free(rs->slots);
	rs->nslots = rs->nslots ? rs->nslots * 2 : 1024;
	rs->slots = blz_xcalloc(rs->nslots, sizeof(*rs->slots));
	for (size_t i = 0; i < rs->files.len; i++) {
		size_t s = hash(rs->files.v[i].root, rs->files.v[i].ino) & (rs->nslots - 1);
		while (rs->slots[s])
			s = (s + 1) & (rs->nslots - 1);
		rs->slots[s] = i + 1;
	}
}

static int item_cmp(const void *a, const void *b)
{
	const struct blz_file_extent_item *x = a, *y = b;
	if (x->disk_bytenr != y->disk_bytenr)
		return x->disk_bytenr < y->disk_bytenr ? -1 : 1;
	return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

/* The inode (root, ino), its extent items loaded on first use. */
static int get_file(struct resolver *rs, uint64_t root, uint64_t ino, size_t *ret)
{
	if (rs->files.len * 2 >= rs->nslots)
		rehash(rs);
	size_t s = hash(root, ino) & (rs->nslots - 1);
	for (; rs->slots[s]; s = (s + 1) & (rs->nslots - 1)) {
		struct finode *f = &rs->files.v[rs->slots[s] - 1];
		if (f->root == root && f->ino == ino) {
			*ret = rs->slots[s] - 1;
			return 0;
		}
	}
	struct finode f = { .root = root, .ino = ino };
	f.is_virtual = root == rs->mnt_root && ino == rs->virt_ino;
	struct blz_file_extent_item *items;
	size_t n;
	int r = blz_btrfs_file_extents(rs->fd, root, ino, &items, &n);
	if (r < 0)
		return blz_errf(rs->err, rs->errlen, r, "cannot read the extents of inode %llu of "
				"subvolume %llu: %s", (unsigned long long)ino,
				(unsigned long long)root, strerror(-r));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (items[i].type != BLZ_BTRFS_FILE_EXTENT_INLINE && items[i].disk_bytenr)
			items[k++] = items[i];
	qsort(items, k, sizeof(*items), item_cmp);
	f.items = items;
	f.nitems = k;
	vec_push(&rs->files, f);
	rs->slots[s] = rs->files.len;
	*ret = rs->files.len - 1;
	return 0;
}

/* The first item of f with disk_bytenr >= bytenr. */
static size_t lower_item(const struct finode *f, uint64_t bytenr)
{
	size_t lo = 0, hi = f->nitems;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->items[mid].disk_bytenr < bytenr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The extent of f's items holding address p: 1 with its bounds, 0 if none. */
static int extent_of(const struct finode *f, uint64_t p, uint64_t *xs, uint64_t *xe)
{
	size_t i = lower_item(f, p + 1);
	if (i == 0)
		return 0;
	const struct blz_file_extent_item *it = &f->items[i - 1];
	if (p - it->disk_bytenr >= it->disk_num_bytes)
		return 0;
	*xs = it->disk_bytenr;
	*xe = it->disk_bytenr + it->disk_num_bytes;
	return 1;
}

static int cover_cmp(const void *a, const void *b)
{
	const struct cover *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Makes the extent holding p the current one: 1, or 0 when no data extent holds p. */
static int load_extent(struct resolver *rs, uint64_t p)
{
	rs->valid = false;
	struct blz_btrfs_ino_ref *refs;
	size_t n;
	uint64_t missed;
	rs->out->queries++;
	int r = blz_btrfs_logical_ino(rs->fd, p, BLZ_BTRFS_LOGICAL_INO_IGNORE_OFFSET, &refs, &n,
				      &missed);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return blz_errf(rs->err, rs->errlen, r, "cannot resolve address %llu to files "
				"(LOGICAL_INO): %s", (unsigned long long)p, strerror(-r));
	rs->out->refs_missed += missed;
	VEC(size_t) who = { 0 };
	bool found = false;
	for (size_t i = 0; i < n && r >= 0; i++) {
		size_t fi = 0;
		r = get_file(rs, refs[i].root, refs[i].ino, &fi);
		if (r < 0)
			break;
		struct finode *f = &rs->files.v[fi];
		if (!found)
			found = extent_of(f, p, &rs->xs, &rs->xe);
		if (f->seen != rs->out->queries) { /* one entry per item: once per inode */
			f->seen = rs->out->queries;
			vec_push(&who, fi);
		}
	}
	free(refs);
	if (r < 0 || !found) {
		vec_release(&who);
		return r < 0 ? r : 0;
	}
	/* Every reference's items of this extent: the addresses each covers. */
	rs->cov.len = 0;
	for (size_t w = 0; w < who.len; w++) {
		size_t fi = who.v[w];
		const struct finode *f = &rs->files.v[fi];
		if (f->is_virtual)
			continue;
		for (size_t i = lower_item(f, rs->xs); i < f->nitems && f->items[i].disk_bytenr == rs->xs; i++) {
			const struct blz_file_extent_item *it = &f->items[i];
			struct cover c = { rs->xs, rs->xe, fi };
			if (!it->compression) { /* compressed: any byte reads the whole extent */
				c.start = rs->xs + it->offset;
				c.end = c.start + it->num_bytes < rs->xe ? c.start + it->num_bytes : rs->xe;
			}
			if (c.start < c.end)
				vec_push(&rs->cov, c);
		}
	}
	vec_release(&who);
	blz_sort(rs->cov.v, rs->cov.len, sizeof(*rs->cov.v), cover_cmp);
	rs->active.len = 0;
	rs->next = 0;
	rs->valid = true;
	return 1;
}

static int clip_cmp(const void *a, const void *b)
{
	return cover_cmp(a, b);
}

/* [p, q) lies in the current extent: credit each file covering some of it. */
static void attribute(struct resolver *rs, uint64_t p, uint64_t q)
{
	while (rs->next < rs->cov.len && rs->cov.v[rs->next].start < q) {
		vec_push(&rs->active, rs->next);
		rs->next++;
	}
	rs->clip.len = 0;
	for (size_t i = 0; i < rs->active.len;) {
		const struct cover *c = &rs->cov.v[rs->active.v[i]];
		if (c->end <= p) { /* pieces only move up: it is done with */
			rs->active.v[i] = rs->active.v[--rs->active.len];
			continue;
		}
		uint64_t lo = c->start > p ? c->start : p, hi = c->end < q ? c->end : q;
		if (lo < hi) {
			struct credit cr = { c->file, hi - lo };
			vec_push(&rs->acc, cr);
			struct cover piece = { lo, hi, c->file };
			vec_push(&rs->clip, piece);
		}
		i++;
	}
	/* What no file covers. */
	blz_sort(rs->clip.v, rs->clip.len, sizeof(*rs->clip.v), clip_cmp);
	uint64_t covered = 0, at = p;
	for (size_t i = 0; i < rs->clip.len; i++) {
		uint64_t lo = rs->clip.v[i].start > at ? rs->clip.v[i].start : at;
		if (rs->clip.v[i].end > lo) {
			covered += rs->clip.v[i].end - lo;
			at = rs->clip.v[i].end;
		}
	}
	rs->out->outside += (q - p) - covered;
}

/* A touched piece [p, e) of data. */
static int resolve_piece(struct resolver *rs, uint64_t p, uint64_t e)
{
	rs->out->touched += e - p;
	while (p < e) {
		if (rs->valid && p >= rs->xs && p < rs->xe) {
			uint64_t q = e < rs->xe ? e : rs->xe;
			attribute(rs, p, q);
			p = q;
			continue;
		}
		int r = load_extent(rs, p);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		/* No extent holds p: freed data. Skip to the next extent in the piece. */
		uint64_t ns, nl, q = e;
		r = blz_btrfs_next_extent(rs->fd, p + 1, e, &ns, &nl);
		if (r < 0)
			return blz_errf(rs->err, rs->errlen, r, "cannot search the extent tree: %s",
					strerror(-r));
		if (r > 0)
			q = ns;
		rs->out->outside += q - p;
		p = q;
	}
	return 0;
}

/* A touched span: its parts in DATA chunks are resolved, the rest is not file data. */
static int resolve_span(struct resolver *rs, uint64_t s, uint64_t t)
{
	size_t lo = 0, hi = rs->data.len;
	while (lo < hi) { /* the first chunk ending after s */
		size_t mid = lo + (hi - lo) / 2;
		if (rs->data.v[mid].logical + rs->data.v[mid].length <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t at = s;
	for (size_t i = lo; i < rs->data.len && at < t; i++) {
		const struct blz_chunk *c = &rs->data.v[i];
		if (c->logical >= t)
			break;
		uint64_t a = c->logical > at ? c->logical : at;
		uint64_t b = c->logical + c->length < t ? c->logical + c->length : t;
		rs->out->not_data += a - at;
		int r = resolve_piece(rs, a, b);
		if (r < 0)
			return r;
		at = b;
	}
	rs->out->not_data += t - at;
	return 0;
}

static int credit_cmp(const void *a, const void *b)
{
	const struct credit *x = a, *y = b;
	return x->file < y->file ? -1 : x->file > y->file;
}

/* The range's counters, to each file that covers some of its touched bytes. */
static void credit_range(struct resolver *rs, const struct blz_fetch_range *r, uint64_t touched)
{
	blz_sort(rs->acc.v, rs->acc.len, sizeof(*rs->acc.v), credit_cmp);
	for (size_t i = 0; i < rs->acc.len;) {
		size_t fi = rs->acc.v[i].file;
		uint64_t ov = 0;
		for (; i < rs->acc.len && rs->acc.v[i].file == fi; i++)
			ov += rs->acc.v[i].bytes;
		if (ov > touched) /* one file covering the same address twice */
			ov = touched;
		struct finode *f = &rs->files.v[fi];
		uint64_t share = touched ? (uint64_t)((unsigned __int128)r->bytes * ov / touched) : 0;
		f->touched += ov;
		f->reads += r->reads;
		f->store += r->store;
		f->bytes += share;
		if (r->area != BLZ_FETCH_LOCAL)
			f->lazy_bytes += share;
	}
	rs->acc.len = 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int file_cmp(const void *a, const void *b)
{
	const struct blz_fetched_file *x = a, *y = b;
	if (x->lazy_bytes != y->lazy_bytes)
		return x->lazy_bytes > y->lazy_bytes ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->npaths && y->npaths)
		return strcmp(x->paths[0], y->paths[0]);
	if (x->npaths != y->npaths)
		return x->npaths ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* The named results: files with touched bytes, other than /.blazy/virtual. */
static void collect(struct resolver *rs)
{
	VEC(struct blz_fetched_file) out = { 0 };
	for (size_t i = 0; i < rs->files.len; i++) {
		const struct finode *f = &rs->files.v[i];
		if (!f->touched || f->is_virtual)
			continue;
		struct blz_fetched_file ff = {
			.root = f->root, .ino = f->ino, .reads = f->reads, .bytes = f->bytes,
			.lazy_bytes = f->lazy_bytes, .store = f->store, .touched = f->touched,
		};
		/* Names only for the mounted subvolume; a deleted inode has none (-ENOENT). */
		if (f->root == rs->mnt_root &&
		    blz_btrfs_ino_paths(rs->fd, f->ino, &ff.paths, &ff.npaths, &ff.paths_missed) == 0) {
			for (size_t k = 0; k < ff.npaths; k++) {
				char *s = ff.paths[k];
				memmove(s, s + strspn(s, "/"), strlen(s + strspn(s, "/")) + 1);
			}
			qsort(ff.paths, ff.npaths, sizeof(*ff.paths), str_cmp);
		}
		vec_push(&out, ff);
	}
	if (out.len > 1)
		qsort(out.v, out.len, sizeof(*out.v), file_cmp);
	rs->out->files = out.v;
	rs->out->nfiles = out.len;
}

int blz_fetched_resolve(const char *mnt, const struct blz_fetch_list *list,
			struct blz_fetched *ret, char *err, size_t errlen)
{
	struct blz_fetched out = { 0 };
	struct resolver rs = { .out = &out, .err = err, .errlen = errlen };
	rs.fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rs.fd < 0)
		return blz_errf(err, errlen, -errno, "cannot open '%s': %s", mnt, strerror(errno));
	int r = blz_btrfs_subvol_id(rs.fd, &rs.mnt_root);
	if (r < 0) {
		blz_errf(err, errlen, r, "'%s' is not a btrfs filesystem: %s", mnt, strerror(-r));
		goto out;
	}
	/* /.blazy/virtual holds every address of the virtual area: not a file anyone read. */
	struct stat st;
	int vfd = openat(rs.fd, ".blazy/virtual", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (vfd >= 0) {
		if (fstat(vfd, &st) == 0)
			rs.virt_ino = st.st_ino;
		close(vfd);
	}
	struct blz_chunk *chunks;
	size_t nchunks;
	r = blz_btrfs_list_chunks(rs.fd, &chunks, &nchunks);
	if (r < 0) {
		blz_errf(err, errlen, r, "cannot list the chunks of '%s': %s", mnt, strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < nchunks; i++)
		if (chunks[i].type & BLZ_BTRFS_BLOCK_GROUP_DATA)
			vec_push(&rs.data, chunks[i]);
	free(chunks);

	for (size_t i = 0; i < list->ranges.len && r >= 0; i++) {
		const struct blz_fetch_range *rg = &list->ranges.v[i];
		uint64_t touched = 0;
		for (size_t k = 0; k < rg->nr_spans && r >= 0; k++) {
			const struct blz_fetch_span *sp = &list->spans.v[rg->first_span + k];
			touched += sp->len;
			r = resolve_span(&rs, sp->off, sp->off + sp->len);
		}
		if (r >= 0)
			credit_range(&rs, rg, touched);
	}
	if (r >= 0)
		collect(&rs);
out:
	close(rs.fd);
	for (size_t i = 0; i < rs.files.len; i++)
		free(rs.files.v[i].items);
	vec_release(&rs.files);
	free(rs.slots);
	vec_release(&rs.data);
	vec_release(&rs.cov);
	vec_release(&rs.active);
	vec_release(&rs.acc);
	vec_release(&rs.clip);
	if (r < 0) {
		blz_fetched_release(&out);
		return r;
	}
	*ret = out;
	return 0;
}

void blz_fetched_release(struct blz_fetched *f)
{
	for (size_t i = 0; i < f->nfiles; i++) {
		for (size_t k = 0; k < f->files[i].npaths; k++)
			free(f->files[i].paths[k]);
		free(f->files[i].paths);
	}
	free(f->files);
	memset(f, 0, sizeof(*f));
}

void blz_fetched_trace(const struct blz_fetched *f, struct blz_buf *out, size_t *ret_written,
		       size_t *ret_skipped, size_t *ret_unnamed)
{
	VEC(const char *) names = { 0 };
	size_t skipped = 0, unnamed = 0;
	for (size_t i = 0; i < f->nfiles; i++) {
		if (!f->files[i].npaths)
			unnamed++;
		for (size_t k = 0; k < f->files[i].npaths; k++) {
			const char *p = f->files[i].paths[k];
			if (strchr(p, '\n') || !*p)
				skipped++;
			else
				vec_push(&names, p);
		}
	}
	if (names.len > 1)
		qsort(names.v, names.len, sizeof(*names.v), str_cmp);
	size_t written = 0;
	for (size_t i = 0; i < names.len; i++) {
		if (i && !strcmp(names.v[i], names.v[i - 1]))
			continue;
		blz_buf_append(out, names.v[i], strlen(names.v[i]));
		blz_buf_append(out, "\n", 1);
		written++;
	}
	vec_release(&names);
	*ret_written = written;
	*ret_skipped = skipped;
	*ret_unnamed = unnamed;
}

/* printf into out */
void blz_fetched_json(const struct blz_fetched *f, struct blz_buf *out)
{
	blz_buf_printf(out, ",\"files\":[");
	for (size_t i = 0; i < f->nfiles; i++) {
		const struct blz_fetched_file *x = &f->files[i];
		blz_buf_printf(out, "%s{\"paths\":[", i ? "," : "");
		for (size_t k = 0; k < x->npaths; k++) {
			if (k)
				blz_buf_append(out, ",", 1);
			blz_json_append_str(out, x->paths[k]);
		}
		blz_buf_printf(out, "],\"paths_missed\":%" PRIu64 ",\"subvolume\":%" PRIu64 ",\"inode\":%"
			PRIu64 ",\"reads\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"lazy_bytes\":%" PRIu64
			",\"store_fetches\":%" PRIu64 ",\"touched_bytes\":%" PRIu64 "}",
			x->paths_missed, x->root, x->ino, x->reads, x->bytes, x->lazy_bytes, x->store,
			x->touched);
	}
	blz_buf_printf(out, "],\"fetch_touched_bytes\":%" PRIu64 ",\"fetch_outside_bytes\":%" PRIu64
		",\"fetch_metadata_bytes\":%" PRIu64 ",\"fetch_refs_missed\":%" PRIu64,
		f->touched, f->outside, f->not_data, f->refs_missed);
}

void blz_fetch_list_json(const struct blz_fetch_list *l, struct blz_buf *out)
{
	blz_buf_printf(out, ",\"ranges\":[");
	for (size_t i = 0; i < l->ranges.len; i++) {
		const struct blz_fetch_range *r = &l->ranges.v[i];
		blz_buf_printf(out, "%s{\"area\":\"%s\",\"offset\":%" PRIu64 ",\"length\":%" PRIu64
			",\"reads\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"store_fetches\":%" PRIu64
			",\"touched\":[", i ? "," : "", blz_fetch_area_name(r->area), r->off, r->len,
			r->reads, r->bytes, r->store);
		for (size_t k = 0; k < r->nr_spans; k++) {
			const struct blz_fetch_span *s = &l->spans.v[r->first_span + k];
			blz_buf_printf(out, "%s[%" PRIu64 ",%" PRIu64 "]", k ? "," : "", s->off, s->len);
		}
		blz_buf_printf(out, "]}");
	}
	blz_buf_printf(out, "],\"fetch_untracked\":%" PRIu64, l->untracked);
}
/* A name for a terminal: control bytes escaped (\n, \t, \xHH). */
static void put_name(struct blz_buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n')
			blz_buf_append(out, "\\n", 2);
		else if (*p == '\t')
			blz_buf_append(out, "\\t", 2);
		else if (*p == '\\')
			blz_buf_append(out, "\\\\", 2);
		else if (*p < 0x20 || *p == 0x7f)
			blz_buf_printf(out, "\\x%02x", *p);
		else
			blz_buf_append(out, p, 1);
	}
}

static const char *szf(uint64_t v, char *buf)
{
	return blz_format_size(v, buf, 32);
}

void blz_fetched_format(const struct blz_fetched *f, size_t top, struct blz_buf *out)
{
	char b[5][32];
	uint64_t lazy = 0, local = 0;
	for (size_t i = 0; i < f->nfiles; i++) {
		lazy += f->files[i].lazy_bytes;
		local += f->files[i].bytes - f->files[i].lazy_bytes;
	}
	blz_buf_printf(out, "files read:    %zu (%s of their data read: %s served from the lazy areas, %s from "
	       "the image)\n", f->nfiles, szf(f->touched - f->outside, b[0]), szf(lazy, b[1]),
	       szf(local, b[2]));
	blz_buf_printf(out, "               %s read outside any file, %s of metadata\n", szf(f->outside, b[3]),
	       szf(f->not_data, b[4]));
	if (f->refs_missed)
		blz_buf_printf(out, "               incomplete: %" PRIu64 " references to read extents did not fit "
		       "the kernel's answer\n", f->refs_missed);
	if (!f->nfiles)
		return;
	blz_buf_printf(out, "  %10s %10s %7s %6s  %s\n", "LAZY", "LOCAL", "READS", "CHUNKS", "FILE");
	size_t n = top && top < f->nfiles ? top : f->nfiles;
	for (size_t i = 0; i < n; i++) {
		const struct blz_fetched_file *x = &f->files[i];
		blz_buf_printf(out, "  %10s %10s %7" PRIu64 " %6" PRIu64 "  ", szf(x->lazy_bytes, b[0]),
		       szf(x->bytes - x->lazy_bytes, b[1]), x->reads, x->store);
		if (x->npaths) {
			put_name(out, x->paths[0]);
			if (x->npaths + x->paths_missed > 1)
				blz_buf_printf(out, " (+%" PRIu64 " more names)", x->npaths + x->paths_missed - 1);
		} else {
			blz_buf_printf(out, "<inode %" PRIu64 " of subvolume %" PRIu64 ", no name here>", x->ino, x->root);
		}
		blz_buf_append(out, "\n", 1);
	}
	if (n < f->nfiles)
		blz_buf_printf(out, "  (the first %zu of %zu by bytes fetched; --json or --top 0 lists all)\n", n,
		       f->nfiles);
}

static int range_by_bytes(const void *a, const void *b)
{
	const struct blz_fetch_range *x = *(const struct blz_fetch_range *const *)a;
	const struct blz_fetch_range *y = *(const struct blz_fetch_range *const *)b;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

static uint64_t range_touched(const struct blz_fetch_list *l, const struct blz_fetch_range *r)
{
	uint64_t t = 0;
	for (size_t k = 0; k < r->nr_spans; k++)
		t += l->spans.v[r->first_span + k].len;
	return t;
}

void blz_fetch_list_format(const struct blz_fetch_list *l, size_t top, struct blz_buf *out)
{
	char b[3][32];
	size_t lazy = 0;
	for (size_t i = 0; i < l->ranges.len; i++)
		lazy += l->ranges.v[i].area != BLZ_FETCH_LOCAL;
	blz_buf_printf(out, "ranges read:   %zu (%zu map records, %zu local 1 MiB regions)\n", l->ranges.len, lazy,
	       l->ranges.len - lazy);
	if (l->untracked)
		blz_buf_printf(out, "               %" PRIu64 " reads past the fetch table's capacity not shown\n",
		       l->untracked);
	if (!l->ranges.len)
		return;
	const struct blz_fetch_range **v = blz_xmalloc(l->ranges.len * sizeof(*v));
	for (size_t i = 0; i < l->ranges.len; i++)
		v[i] = &l->ranges.v[i];
	qsort(v, l->ranges.len, sizeof(*v), range_by_bytes);
	blz_buf_printf(out, "  %-7s %20s %10s %7s %10s %6s %10s\n", "AREA", "OFFSET", "LENGTH", "READS", "BYTES",
	       "CHUNKS", "TOUCHED");
	size_t n = top && top < l->ranges.len ? top : l->ranges.len;
	for (size_t i = 0; i < n; i++)
		blz_buf_printf(out, "  %-7s %20" PRIu64 " %10s %7" PRIu64 " %10s %6" PRIu64 " %10s\n",
		       blz_fetch_area_name(v[i]->area), v[i]->off, szf(v[i]->len, b[0]), v[i]->reads,
		       szf(v[i]->bytes, b[1]), v[i]->store, szf(range_touched(l, v[i]), b[2]));
	if (n < l->ranges.len)
		blz_buf_printf(out, "  (the first %zu of %zu by bytes; --json or --top 0 lists all)\n", n,
		       l->ranges.len);
	free(v);
}

