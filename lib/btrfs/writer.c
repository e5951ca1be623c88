#include "btrfs/writer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "btrfs/format.h"
#include "btrfs/items.h"
#include "btrfs/tree.h"
#include "util/crc32c.h"
#include "util/fileio.h"
#include "util/le.h"

#define GEN 1ull
#define MiB (1ull << 20)
#define WBUF_SIZE (4 * MiB)

struct chunk {
	uint64_t start, len, type, used;
};

/* Where file data goes: a cursor, the DATA chunks it has filled, and a write buffer of
 * contiguous blocks starting at disk. */
struct target {
	uint64_t cursor;
	VEC(struct chunk) chunks;
	uint8_t *buf;
	size_t len, cap;
	uint64_t disk;
	bool lazy;
};

struct live_extent {
	uint64_t disk, len, ino, file_off, csum_idx;
};

struct blz_seed {
	int fd;
	struct blz_seed_opts opts;
	uint32_t inline_max;     /* files up to this size are inline */
	struct blz_fstree tree;
	char err[1024];

	/* Data allocation: the local region (written into the image) and, with a lazy sink,
	 * the import area (handed to the sink in chunks). */
	struct target local, import;
	VEC(uint32_t) csums;

	/* The file being streamed. */
	struct blz_inode *cur;
	const char *cur_name;
	uint64_t cur_size, cur_fed;
	bool cur_inline;
	struct target *cur_target;
	uint8_t block[BTRFS_SECTORSIZE];
	size_t block_fill;
	bool ext_open;
	struct blz_file_extent ext;

	uint64_t files_done, bytes_done;
};

static const uint8_t zero_block[BTRFS_SECTORSIZE];

int blz_seed_fail(struct blz_seed *s, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return r;
}

const char *blz_seed_error(const struct blz_seed *s)
{
	return s->err[0] ? s->err : "unknown error";
}

struct blz_fstree *blz_seed_tree(struct blz_seed *s)
{
	return &s->tree;
}

bool blz_seed_keep_local(const struct blz_seed *s, const char *path)
{
	return s->opts.lazy_put && s->opts.keep_local &&
	       s->opts.keep_local(s->opts.keep_local_ctx, path);
}

int blz_seed_new(struct blz_seed **ret, int fd, const struct blz_seed_opts *opts)
{
	if (opts->virtual_size % BTRFS_SECTORSIZE)
		return -EINVAL;
	if (opts->virtual_chunk && (opts->virtual_chunk % BTRFS_SECTORSIZE ||
				    opts->virtual_chunk > BLZ_MAX_CHUNK_SIZE))
		return -EINVAL;
	if (opts->label && strlen(opts->label) >= BTRFS_LABEL_SIZE)
		return -ENAMETOOLONG;
	struct blz_seed *s = blz_xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->opts = *opts;
	s->inline_max = opts->inline_max_set && opts->inline_max < BLZ_MAX_INLINE ? opts->inline_max
										   : BLZ_MAX_INLINE;
	if (!s->opts.fsid_set) {
		uuid_generate(s->opts.fsid);
		s->opts.fsid_set = true;
	}
	blz_fstree_init(&s->tree);
	s->tree.root->atime = s->tree.root->mtime = s->tree.root->ctime = opts->timestamp;
	s->local.cursor = MiB;
	s->local.cap = WBUF_SIZE;
	s->local.buf = blz_xmalloc(WBUF_SIZE);
	if (opts->lazy_put) {
		s->import.cursor = BLZ_LAZY_START;
		s->import.cap = opts->lazy_chunk ? opts->lazy_chunk : MiB;
		s->import.buf = blz_xmalloc(s->import.cap);
		s->import.lazy = true;
	}
	*ret = s;
	return 0;
}

void blz_seed_free(struct blz_seed *s)
{
	if (!s)
		return;
	blz_fstree_release(&s->tree);
	vec_release(&s->local.chunks);
	vec_release(&s->import.chunks);
	vec_release(&s->csums);
	free(s->local.buf);
	free(s->import.buf);
	free(s);
}

/* ---- local data allocation ---------------------------------------------------- */

/* If [start, start + len) touches a superblock mirror stripe, the first aligned offset
 * after it; else start. Never place data or tree blocks on a mirror. */
static uint64_t skip_mirrors(uint64_t start, uint64_t len)
{
	for (int m = 1; m < BTRFS_SUPER_MIRROR_MAX; m++) {
		uint64_t sb = btrfs_sb_offset(m);
		if (start < sb + BTRFS_STRIPE_LEN && start + len > sb)
			start = sb + MiB;
	}
	return start;
}

static int flush_target(struct blz_seed *s, struct target *t)
{
	if (!t->len)
		return 0;
	int r;
	if (t->lazy) {
		r = s->opts.lazy_put(s->opts.lazy_ctx, t->disk, t->buf, t->len);
		if (r < 0)
			return blz_seed_fail(s, r, "cannot store the data of '%s': %s",
					     s->cur_name ? s->cur_name : "?", strerror(-r));
	} else {
		r = blz_pwrite_full(s->fd, t->buf, t->len, t->disk);
		if (r < 0)
			return blz_seed_fail(s, r, "cannot write the image: %s", strerror(-r));
	}
	t->disk += t->len;
	t->len = 0;
	return 0;
}

static int close_extent(struct blz_seed *s)
{
	if (!s->ext_open)
		return 0;
	vec_push(&s->cur->extents, s->ext);
	s->ext_open = false;
	/* Lazy chunks follow data runs, so equal files give equal (deduplicated) chunks. */
	if (s->cur_target->lazy)
		return flush_target(s, s->cur_target);
	return 0;
}

static int put_data_block(struct blz_seed *s, const uint8_t *blk)
{
	struct target *t = s->cur_target;
	uint64_t file_off = s->cur_fed - (s->cur_fed % BTRFS_SECTORSIZE);
	if (memcmp(blk, zero_block, BTRFS_SECTORSIZE) == 0)
		return close_extent(s); /* a hole: NO_HOLES needs no item */

	uint64_t at = t->lazy ? t->cursor : skip_mirrors(t->cursor, BTRFS_SECTORSIZE);
	struct chunk *last = t->chunks.len ? &t->chunks.v[t->chunks.len - 1] : NULL;
	/* A new chunk after a jump over a superblock mirror or when one is full. */
	bool new_chunk = !last || last->start + last->len != at || last->len >= BLZ_MAX_CHUNK_SIZE;
	if (s->ext_open && (new_chunk || s->ext.len >= BTRFS_MAX_EXTENT_SIZE ||
			    s->ext.file_off + s->ext.len != file_off)) {
		int r = close_extent(s);
		if (r < 0)
			return r;
	}
	if (t->len && (new_chunk || t->disk + t->len != at)) {
		int r = flush_target(s, t);
		if (r < 0)
			return r;
	}
	if (!t->len)
		t->disk = at;
	if (!s->ext_open) {
		s->ext = (struct blz_file_extent){
			.file_off = file_off, .disk = at, .len = 0, .csum_idx = s->csums.len,
		};
		s->ext_open = true;
	}
	if (new_chunk) {
		struct chunk c = { .start = at, .len = 0, .type = BTRFS_BLOCK_GROUP_DATA };
		vec_push(&t->chunks, c);
		last = &t->chunks.v[t->chunks.len - 1];
	}
	last->len += BTRFS_SECTORSIZE;

	memcpy(t->buf + t->len, blk, BTRFS_SECTORSIZE);
	t->len += BTRFS_SECTORSIZE;
	vec_push(&s->csums, blz_crc32c(blk, BTRFS_SECTORSIZE));
	s->ext.len += BTRFS_SECTORSIZE;
	t->cursor = at + BTRFS_SECTORSIZE;
	if (t->len == t->cap)
		return flush_target(s, t);
	return 0;
}

int blz_seed_data_begin(struct blz_seed *s, struct blz_inode *ino, uint64_t size,
			const char *name)
{
	s->cur = ino;
	s->cur_name = name;
	s->cur_size = size;
	s->cur_fed = 0;
	s->block_fill = 0;
	s->ext_open = false;
	s->cur_inline = size > 0 && size <= s->inline_max;
	s->cur_target = s->opts.lazy_put && !ino->keep_local ? &s->import : &s->local;
	free(ino->inline_data);
	ino->inline_data = NULL;
	ino->inline_len = 0;
	ino->extents.len = 0;
	ino->size = size;
	if (s->cur_inline)
		ino->inline_data = blz_xmalloc(size);
	return 0;
}

static int too_much(struct blz_seed *s)
{
	return blz_seed_fail(s, -EIO, "'%s' has more data than its declared size of %llu bytes",
			     s->cur_name, (unsigned long long)s->cur_size);
}

int blz_seed_data_write(struct blz_seed *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	if (len > s->cur_size - s->cur_fed)
		return too_much(s);
	if (s->cur_inline) {
		memcpy(s->cur->inline_data + s->cur_fed, p, len);
		s->cur_fed += len;
		s->bytes_done += len;
		return 0;
	}
	while (len) {
		size_t n = BTRFS_SECTORSIZE - s->block_fill;
		if (n > len)
			n = len;
		if (s->block_fill == 0 && n == BTRFS_SECTORSIZE) {
			int r = put_data_block(s, p); /* aligned fast path */
			if (r < 0)
				return r;
		} else {
			memcpy(s->block + s->block_fill, p, n);
			s->block_fill += n;
			if (s->block_fill == BTRFS_SECTORSIZE) {
				int r = put_data_block(s, s->block);
				if (r < 0)
					return r;
				s->block_fill = 0;
			}
		}
		/* put_data_block reads cur_fed to find the block's file offset */
		s->cur_fed += n;
		p += n;
		len -= n;
	}
	uint64_t before = s->bytes_done;
	s->bytes_done += (uint64_t)(p - (const uint8_t *)buf);
	/* Large files: progress every 64 MiB as well as every 256 files. */
	if (s->opts.progress && (before >> 26) != (s->bytes_done >> 26))
		s->opts.progress(s->opts.progress_ctx, s->files_done, s->bytes_done);
	return 0;
}

int blz_seed_data_hole(struct blz_seed *s, uint64_t len)
{
	if (len > s->cur_size - s->cur_fed)
		return too_much(s);
	if (s->cur_inline) {
		memset(s->cur->inline_data + s->cur_fed, 0, len);
		s->cur_fed += len;
		return 0;
	}
	/* Fill a partial block with zeros first, then skip whole blocks. */
	while (len && (s->block_fill || len < BTRFS_SECTORSIZE)) {
		size_t n = BTRFS_SECTORSIZE - s->block_fill;
		if (n > len)
			n = len;
		int r = blz_seed_data_write(s, zero_block, n);
		if (r < 0)
			return r;
		len -= n;
	}
	if (len) {
		uint64_t whole = len - len % BTRFS_SECTORSIZE;
		close_extent(s);
		s->cur_fed += whole;
		len -= whole;
		if (len)
			return blz_seed_data_write(s, zero_block, len);
	}
	return 0;
}

int blz_seed_data_end(struct blz_seed *s)
{
	if (s->cur_fed != s->cur_size)
		return blz_seed_fail(s, -EIO,
				     "'%s' ended after %llu of its declared %llu bytes", s->cur_name,
				     (unsigned long long)s->cur_fed, (unsigned long long)s->cur_size);
	if (!s->cur_inline && s->block_fill) {
		memset(s->block + s->block_fill, 0, BTRFS_SECTORSIZE - s->block_fill);
		/* the block starts at cur_fed rounded down; keep cur_fed inside it */
		int r = put_data_block(s, s->block);
		if (r < 0)
			return r;
		s->block_fill = 0;
	}
	int r = close_extent(s);
	if (r < 0)
		return r;
	if (s->cur_inline)
		s->cur->inline_len = s->cur_size;
	s->cur = NULL;
	s->files_done++;
	if (s->opts.progress && (s->files_done % 256) == 0)
		s->opts.progress(s->opts.progress_ctx, s->files_done, s->bytes_done);
	return 0;
}

/* ---- finishing: trees, chunks, superblocks ------------------------------------- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Deterministic secondary UUIDs derived from the fsid. */
static void derive_uuid(const uint8_t fsid[16], uint32_t tag, uint8_t out[16])
{
	uint8_t in[20];
	memcpy(in, fsid, 16);
	for (int i = 0; i < 4; i++) {
		put_le32(in + 16, tag * 4 + (uint32_t)i);
		put_le32(out + 4 * i, blz_crc32c(in, sizeof(in)));
	}
	out[6] = (out[6] & 0x0f) | 0x40;
	out[8] = (out[8] & 0x3f) | 0x80;
}

static uint8_t dir_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return BTRFS_FT_REG_FILE;
	case S_IFDIR: return BTRFS_FT_DIR;
	case S_IFCHR: return BTRFS_FT_CHRDEV;
	case S_IFBLK: return BTRFS_FT_BLKDEV;
	case S_IFIFO: return BTRFS_FT_FIFO;
	case S_IFSOCK: return BTRFS_FT_SOCK;
	case S_IFLNK: return BTRFS_FT_SYMLINK;
	}
	return 0;
}

/* Kernel dev_t encoding, as btrfs stores it in inode items. */
static uint64_t kernel_rdev(const struct blz_inode *ino)
{
	return ((uint64_t)ino->rdev_major << 20) | (ino->rdev_minor & 0xfffff);
}

/* Adds an item, or appends to an existing one with the same key (hash collisions). */
static void *add_or_append(struct blz_items *it, struct blz_key key, size_t len, bool *appended)
{
	if (it->v.len && blz_key_cmp(&it->v.v[it->v.len - 1].key, &key) == 0) {
		*appended = true;
		return blz_items_extend_last(it, len);
	}
	*appended = false;
	return blz_items_add(it, key.objectid, key.type, key.offset, len);
}

struct hashed {
	uint64_t hash;
	size_t idx;
};

static int hashed_cmp(const void *a, const void *b)
{
	const struct hashed *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

struct ref {
	uint64_t parent, index;
	const struct blz_dirent *d;
};

struct ref_list {
	struct ref *v;
	size_t len, cap;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

/* The fs tree (5): every inode's items. */
static int build_fs_tree(struct blz_seed *s, struct blz_items *it, struct ref_list *refs_by_ino,
			 uint64_t *ret_nbytes_data)
{
	struct blz_fstree *t = &s->tree;
	VEC(struct hashed) hs = { 0 };
	/* Reserve the item buffer once: growing it by doubling would hold two copies. */
	size_t est = 0, nitems = 0;
	for (size_t oi = 0; oi < t->order.len; oi++) {
		const struct blz_inode *ino = t->order.v[oi];
		est += INODE_ITEM_SIZE + ino->inline_len + FILE_EXTENT_INLINE_HDR +
		       ino->extents.len * FILE_EXTENT_REG_SIZE + refs_by_ino[oi].len * (INODE_REF_SIZE + 255);
		nitems += 3 + ino->extents.len + ino->xattrs.len + 2 * ino->children.len;
		for (size_t i = 0; i < ino->xattrs.len; i++)
			est += DIR_ITEM_SIZE + strlen(ino->xattrs.v[i].name) + ino->xattrs.v[i].len;
		for (size_t i = 0; i < ino->children.len; i++)
			est += 2 * (DIR_ITEM_SIZE + ino->children.v[i]->name_len);
	}
	blz_buf_reserve(&it->data, est);
	vec_reserve(&it->v, nitems);
	for (size_t oi = 0; oi < t->order.len; oi++) {
		struct blz_inode *ino = t->order.v[oi];
		uint64_t nr = ino->ino;
		bool is_dir = S_ISDIR(ino->mode);
		uint64_t size = ino->size, nbytes = 0;
		if (is_dir) {
			size = 0;
			for (size_t i = 0; i < ino->children.len; i++)
				size += 2ull * ino->children.v[i]->name_len;
		} else if (S_ISREG(ino->mode) || S_ISLNK(ino->mode)) {
			if (ino->inline_len)
				nbytes = ino->inline_len;
			for (size_t i = 0; i < ino->extents.len; i++)
				nbytes += ino->extents.v[i].len;
		} else {
			size = 0;
		}
		struct btrfs_inode_fields f = {
			.generation = GEN, .transid = GEN, .size = size, .nbytes = nbytes,
			.rdev = (S_ISCHR(ino->mode) || S_ISBLK(ino->mode)) ? kernel_rdev(ino) : 0,
			.flags = ino->btrfs_flags,
			.nlink = is_dir ? 1 : ino->nlink, .uid = ino->uid, .gid = ino->gid,
			.mode = ino->mode, .atime = ino->atime, .ctime = ino->ctime,
			.mtime = ino->mtime, .otime = ino->ctime,
		};
		btrfs_put_inode_item(blz_items_add(it, nr, BTRFS_INODE_ITEM_KEY, 0, INODE_ITEM_SIZE), &f);

		/* Back references: INODE_REF per parent, names concatenated; overflow to EXTREF. */
		if (ino == t->root) {
			btrfs_put_inode_ref(blz_items_add(it, nr, BTRFS_INODE_REF_KEY, nr,
							  INODE_REF_SIZE + 2), 0, "..", 2);
		} else if (refs_by_ino[oi].len) {
			struct ref *refs = refs_by_ino[oi].v;
			size_t nrefs = refs_by_ino[oi].len;
			blz_sort(refs, nrefs, sizeof(*refs), ref_cmp);
			size_t i = 0;
			VEC(struct hashed) ext = { 0 };
			while (i < nrefs) {
				uint64_t parent = refs[i].parent;
				size_t cur = 0;
				bool first = true;
				for (; i < nrefs && refs[i].parent == parent; i++) {
					const struct blz_dirent *d = refs[i].d;
					size_t need = INODE_REF_SIZE + d->name_len;
					if (cur + need > MAX_ITEM_SIZE) {
						struct hashed h = { btrfs_extref_hash(parent, d->name, d->name_len), i };
						vec_push(&ext, h);
						continue;
					}
					uint8_t *p = first ? blz_items_add(it, nr, BTRFS_INODE_REF_KEY, parent, need)
							   : blz_items_extend_last(it, need);
					btrfs_put_inode_ref(p, d->index, d->name, d->name_len);
					cur += need;
					first = false;
				}
			}
			if (ext.len) {
				blz_sort(ext.v, ext.len, sizeof(*ext.v), hashed_cmp);
				for (size_t k = 0; k < ext.len; k++) {
					const struct ref *rf = &refs[ext.v[k].idx];
					const struct blz_dirent *d = rf->d;
					bool app;
					struct blz_key key = { nr, BTRFS_INODE_EXTREF_KEY, ext.v[k].hash };
					uint8_t *p = add_or_append(it, key, INODE_EXTREF_SIZE + d->name_len, &app);
					btrfs_put_inode_extref(p, rf->parent, d->index, d->name, d->name_len);
				}
			}
			vec_release(&ext);
		}

		/* Xattrs, by name hash; collisions share one item. */
		hs.len = 0;
		for (size_t i = 0; i < ino->xattrs.len; i++) {
			const struct blz_xattr *x = &ino->xattrs.v[i];
			size_t nl = strlen(x->name);
			if (nl > 255 || nl + x->len > MAX_XATTR_SIZE)
				return blz_seed_fail(s, -E2BIG, "xattr '%s' is too large (%zu bytes of name and value; at most %u fit)",
						     x->name, nl + x->len, (unsigned)MAX_XATTR_SIZE);
			struct hashed h = { btrfs_name_hash(x->name, nl), i };
			vec_push(&hs, h);
		}
		blz_sort(hs.v, hs.len, sizeof(*hs.v), hashed_cmp);
		for (size_t k = 0; k < hs.len; k++) {
			const struct blz_xattr *x = &ino->xattrs.v[hs.v[k].idx];
			uint16_t nl = (uint16_t)strlen(x->name);
			bool app;
			struct blz_key key = { nr, BTRFS_XATTR_ITEM_KEY, hs.v[k].hash };
			uint8_t *p = add_or_append(it, key, DIR_ITEM_SIZE + nl + x->len, &app);
			btrfs_put_dir_item(p, 0, 0, 0, GEN, x->name, nl, x->value, (uint16_t)x->len,
					   BTRFS_FT_XATTR);
		}

		if (is_dir) {
			hs.len = 0;
			for (size_t i = 0; i < ino->children.len; i++) {
				const struct blz_dirent *d = ino->children.v[i];
				struct hashed h = { btrfs_name_hash(d->name, d->name_len), i };
				vec_push(&hs, h);
			}
			blz_sort(hs.v, hs.len, sizeof(*hs.v), hashed_cmp);
			for (size_t k = 0; k < hs.len; k++) {
				const struct blz_dirent *d = ino->children.v[hs.v[k].idx];
				bool app;
				struct blz_key key = { nr, BTRFS_DIR_ITEM_KEY, hs.v[k].hash };
				uint8_t *p = add_or_append(it, key, DIR_ITEM_SIZE + d->name_len, &app);
				btrfs_put_dir_item(p, d->inode->ino, BTRFS_INODE_ITEM_KEY, 0, GEN, d->name,
						   d->name_len, NULL, 0, dir_type(d->inode->mode));
			}
			for (size_t i = 0; i < ino->children.len; i++) {
				const struct blz_dirent *d = ino->children.v[i];
				uint8_t *p = blz_items_add(it, nr, BTRFS_DIR_INDEX_KEY, d->index,
							   DIR_ITEM_SIZE + d->name_len);
				btrfs_put_dir_item(p, d->inode->ino, BTRFS_INODE_ITEM_KEY, 0, GEN, d->name,
						   d->name_len, NULL, 0, dir_type(d->inode->mode));
				/* The child's back reference, when this is its only name. */
				if (d->inode->nlink < 2)
					btrfs_put_inode_ref(blz_items_add(it, d->inode->ino, BTRFS_INODE_REF_KEY, nr,
									  INODE_REF_SIZE + d->name_len),
							    d->index, d->name, d->name_len);
			}
		}

		if (ino->inline_len) {
			uint8_t *p = blz_items_add(it, nr, BTRFS_EXTENT_DATA_KEY, 0,
						   FILE_EXTENT_INLINE_HDR + ino->inline_len);
			btrfs_put_file_extent_inline(p, GEN, ino->inline_data, ino->inline_len);
			/* The item holds the only copy from now on. */
			free(ino->inline_data);
			ino->inline_data = NULL;
		}
		for (size_t i = 0; i < ino->extents.len; i++) {
			const struct blz_file_extent *e = &ino->extents.v[i];
			uint8_t *p = blz_items_add(it, nr, BTRFS_EXTENT_DATA_KEY, e->file_off,
						   FILE_EXTENT_REG_SIZE);
			btrfs_put_file_extent_reg(p, GEN, e->disk, e->len, 0, e->len);
			if (!(ino->btrfs_flags & BTRFS_INODE_NODATASUM))
				*ret_nbytes_data += e->len;
		}
	}
	vec_release(&hs);
	int r = blz_items_sort(it);
	if (r == -E2BIG)
		return blz_seed_fail(s, r, "a metadata item is larger than a btrfs leaf can hold");
	if (r < 0)
		return blz_seed_fail(s, r, "internal error: duplicate key in the fs tree");
	return 0;
}

static int live_cmp(const void *a, const void *b)
{
	const struct live_extent *x = a, *y = b;
	return (x->disk > y->disk) - (x->disk < y->disk);
}

/* The csum tree: one crc32c per sector of every referenced local extent. */
static void build_csum_tree(struct blz_seed *s, const struct live_extent *live, size_t n,
			    struct blz_items *it)
{
	size_t i = 0;
	while (i < n) {
		if (live[i].csum_idx == UINT64_MAX) {
			i++;
			continue;
		}
		/* A run of extents contiguous on disk. */
		uint64_t start = live[i].disk;
		VEC(uint32_t) run = { 0 };
		uint64_t end = start;
		for (; i < n && live[i].csum_idx != UINT64_MAX && live[i].disk == end; i++) {
			uint64_t cnt = live[i].len / BTRFS_SECTORSIZE;
			vec_reserve(&run, cnt);
			memcpy(run.v + run.len, s->csums.v + live[i].csum_idx, cnt * 4);
			run.len += cnt;
			end += live[i].len;
		}
		for (size_t k = 0; k < run.len; k += MAX_CSUMS_PER_ITEM) {
			size_t cnt = run.len - k < MAX_CSUMS_PER_ITEM ? run.len - k : MAX_CSUMS_PER_ITEM;
			uint8_t *p = blz_items_add(it, BTRFS_EXTENT_CSUM_OBJECTID, BTRFS_EXTENT_CSUM_KEY,
						   start + k * BTRFS_SECTORSIZE, cnt * 4);
			for (size_t j = 0; j < cnt; j++)
				put_le32(p + 4 * j, run.v[k + j]);
		}
		vec_release(&run);
	}
}

static void build_data_reloc_tree(struct blz_seed *s, struct blz_items *it)
{
	struct btrfs_inode_fields f = {
		.generation = GEN, .transid = GEN, .nlink = 1, .mode = S_IFDIR | 0755,
		.atime = s->opts.timestamp, .ctime = s->opts.timestamp,
		.mtime = s->opts.timestamp, .otime = s->opts.timestamp,
	};
	btrfs_put_inode_item(blz_items_add(it, 256, BTRFS_INODE_ITEM_KEY, 0, INODE_ITEM_SIZE), &f);
	btrfs_put_inode_ref(blz_items_add(it, 256, BTRFS_INODE_REF_KEY, 256, INODE_REF_SIZE + 2), 0,
			    "..", 2);
}

enum { T_ROOT, T_FS, T_CSUM, T_RELOC, T_DEV, T_FST, T_EXTENT, T_CHUNK, T_COUNT };

static const uint64_t tree_owner[T_COUNT] = {
	[T_ROOT] = BTRFS_ROOT_TREE_OBJECTID, [T_FS] = BTRFS_FS_TREE_OBJECTID,
	[T_CSUM] = BTRFS_CSUM_TREE_OBJECTID, [T_RELOC] = BTRFS_DATA_RELOC_TREE_OBJECTID,
	[T_DEV] = BTRFS_DEV_TREE_OBJECTID, [T_FST] = BTRFS_FREE_SPACE_TREE_OBJECTID,
	[T_EXTENT] = BTRFS_EXTENT_TREE_OBJECTID, [T_CHUNK] = BTRFS_CHUNK_TREE_OBJECTID,
};

struct build {
	struct blz_items items[T_COUNT];
	struct blz_tree_plan plan[T_COUNT];
	uint64_t *addrs[T_COUNT];
	VEC(struct chunk) chunks;      /* all chunks, sorted by start */
	VEC(struct live_extent) data;  /* all data extents (local and virtual), by disk */
	uint64_t sys_start, meta_start, meta_blocks;
	uint8_t chunk_uuid[16], dev_uuid[16], fs_uuid[16];
};

static int chunk_cmp(const void *a, const void *b)
{
	const struct chunk *x = a, *y = b;
	return (x->start > y->start) - (x->start < y->start);
}

static void assign_addrs(struct build *b, int t, uint64_t base)
{
	free(b->addrs[t]);
	b->addrs[t] = blz_xmalloc((b->plan[t].total + 1) * sizeof(uint64_t));
	for (size_t i = 0; i < b->plan[t].total; i++)
		b->addrs[t][i] = base + i * BTRFS_NODESIZE;
}

static uint64_t root_addr(const struct build *b, int t)
{
	return b->addrs[t][b->plan[t].total - 1];
}

/* The extent tree: block groups, data extents and one METADATA_ITEM per tree block. */
static void build_extent_tree(struct build *b, struct blz_items *it)
{
	it->v.len = 0;
	it->data.len = 0;
	for (size_t i = 0; i < b->chunks.len; i++)
		btrfs_put_block_group_item(blz_items_add(it, b->chunks.v[i].start,
							 BTRFS_BLOCK_GROUP_ITEM_KEY, b->chunks.v[i].len,
							 BLOCK_GROUP_ITEM_SIZE),
					   b->chunks.v[i].used, b->chunks.v[i].type);
	for (size_t i = 0; i < b->data.len; i++) {
		const struct live_extent *e = &b->data.v[i];
		btrfs_put_data_extent_item(blz_items_add(it, e->disk, BTRFS_EXTENT_ITEM_KEY, e->len,
							 DATA_EXTENT_ITEM_SIZE),
					   GEN, BTRFS_FS_TREE_OBJECTID, e->ino, e->file_off);
	}
	for (int t = 0; t < T_COUNT; t++) {
		const struct blz_tree_plan *p = &b->plan[t];
		size_t k = 0;
		for (int level = 0; level < p->levels; level++)
			for (size_t j = 0; j < p->nblocks[level]; j++, k++)
				btrfs_put_metadata_item(blz_items_add(it, b->addrs[t][k],
								      BTRFS_METADATA_ITEM_KEY,
								      (uint64_t)level, METADATA_ITEM_SIZE),
							GEN, tree_owner[t]);
	}
	blz_items_sort(it);
}

static int write_block_cb(void *opaque, uint64_t logical, const uint8_t *block)
{
	struct blz_seed *s = opaque;
	int r = blz_pwrite_full(s->fd, block, BTRFS_NODESIZE, logical);
	if (r < 0)
		return blz_seed_fail(s, r, "cannot write the image: %s", strerror(-r));
	return 0;
}

static void build_release(struct build *b)
{
	for (int t = 0; t < T_COUNT; t++) {
		blz_items_release(&b->items[t]);
		blz_tree_plan_release(&b->plan[t]);
		free(b->addrs[t]);
	}
	vec_release(&b->chunks);
	vec_release(&b->data);
}

static int plan_tree(struct blz_seed *s, struct build *b, int t)
{
	blz_tree_plan_release(&b->plan[t]);
	int r = blz_tree_plan(&b->items[t], &b->plan[t]);
	if (r < 0)
		return blz_seed_fail(s, r, "metadata does not fit in a btrfs tree");
	return 0;
}

/* Trees whose contents depend on the final layout: chunk, dev, free space, root. */
static void build_layout_trees(struct blz_seed *s, struct build *b, uint64_t device_size)
{
	struct blz_items *ch = &b->items[T_CHUNK], *dv = &b->items[T_DEV], *fs = &b->items[T_FST],
			 *rt = &b->items[T_ROOT];
	for (int t = 0; t < T_COUNT; t++)
		if (t == T_CHUNK || t == T_DEV || t == T_FST || t == T_ROOT)
			b->items[t].v.len = b->items[t].data.len = 0;

	uint64_t dev_used = 0;
	for (size_t i = 0; i < b->chunks.len; i++)
		dev_used += b->chunks.v[i].len;
	struct btrfs_dev_fields df = { .devid = 1, .total_bytes = device_size, .bytes_used = dev_used };
	memcpy(df.uuid, b->dev_uuid, 16);
	memcpy(df.fsid, s->opts.fsid, 16);
	btrfs_put_dev_item(blz_items_add(ch, BTRFS_DEV_ITEMS_OBJECTID, BTRFS_DEV_ITEM_KEY, 1,
					 DEV_ITEM_SIZE), &df);

	size_t di = 0; /* walks b->data (sorted) for free-space gaps */
	for (size_t i = 0; i < b->chunks.len; i++) {
		const struct chunk *c = &b->chunks.v[i];
		struct btrfs_chunk_fields cf = { .length = c->len, .type = c->type, .devid = 1,
						 .physical = c->start };
		memcpy(cf.dev_uuid, b->dev_uuid, 16);
		btrfs_put_chunk_item(blz_items_add(ch, BTRFS_FIRST_CHUNK_TREE_OBJECTID,
						   BTRFS_CHUNK_ITEM_KEY, c->start, CHUNK_ITEM_SIZE(1)), &cf);
		btrfs_put_dev_extent(blz_items_add(dv, 1, BTRFS_DEV_EXTENT_KEY, c->start,
						   DEV_EXTENT_SIZE), c->start, c->len, b->chunk_uuid);

		/* Free space: gaps between the data extents of a DATA chunk; tree chunks are full. */
		uint8_t *info = blz_items_add(fs, c->start, BTRFS_FREE_SPACE_INFO_KEY, c->len,
					      FREE_SPACE_INFO_SIZE);
		size_t info_idx = fs->v.len - 1;
		uint32_t nfree = 0;
		if (c->type & BTRFS_BLOCK_GROUP_DATA) {
			uint64_t pos = c->start, end = c->start + c->len;
			while (di < b->data.len && b->data.v[di].disk < c->start)
				di++;
			for (; di < b->data.len && b->data.v[di].disk < end; di++) {
				if (b->data.v[di].disk > pos) {
					blz_items_add(fs, pos, BTRFS_FREE_SPACE_EXTENT_KEY,
						      b->data.v[di].disk - pos, 0);
					nfree++;
				}
				pos = b->data.v[di].disk + b->data.v[di].len;
			}
			if (pos < end) {
				blz_items_add(fs, pos, BTRFS_FREE_SPACE_EXTENT_KEY, end - pos, 0);
				nfree++;
			}
		}
		info = blz_item_data(fs, &fs->v.v[info_idx]);
		btrfs_put_free_space_info(info, nfree, 0);
	}

	static const struct {
		int t;
		uint64_t id, dirid;
	} roots[] = {
		{ T_EXTENT, BTRFS_EXTENT_TREE_OBJECTID, 0 },
		{ T_DEV, BTRFS_DEV_TREE_OBJECTID, 0 },
		{ T_FS, BTRFS_FS_TREE_OBJECTID, 256 },
		{ T_CSUM, BTRFS_CSUM_TREE_OBJECTID, 0 },
		{ T_FST, BTRFS_FREE_SPACE_TREE_OBJECTID, 0 },
		{ T_RELOC, BTRFS_DATA_RELOC_TREE_OBJECTID, 256 },
	};
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		int t = roots[i].t;
		struct btrfs_root_fields rf = {
			.generation = GEN, .root_dirid = roots[i].dirid, .bytenr = b->addrs[t] ? root_addr(b, t) : 0,
			.bytes_used = b->plan[t].total * BTRFS_NODESIZE,
			.level = (uint8_t)(b->plan[t].levels - 1),
		};
		if (t == T_FS) {
			memcpy(rf.uuid, b->fs_uuid, 16);
			rf.ctime = rf.otime = s->opts.timestamp;
		}
		btrfs_put_root_item(blz_items_add(rt, roots[i].id, BTRFS_ROOT_ITEM_KEY, 0,
						  ROOT_ITEM_SIZE), &rf);
	}
	blz_items_sort(ch);
	blz_items_sort(dv);
	blz_items_sort(fs);
	blz_items_sort(rt);
}

static int write_super(struct blz_seed *s, struct build *b, uint64_t device_size,
		       uint64_t bytes_used)
{
	uint8_t sb[BTRFS_SUPER_INFO_SIZE];
	memset(sb, 0, sizeof(sb));
	memcpy(sb + SB_FSID, s->opts.fsid, 16);
	put_le64(sb + SB_FLAGS, BTRFS_SUPER_FLAG_WRITTEN | BTRFS_SUPER_FLAG_SEEDING);
	put_le64(sb + SB_MAGIC, BTRFS_MAGIC);
	put_le64(sb + SB_GENERATION, GEN);
	put_le64(sb + SB_ROOT, root_addr(b, T_ROOT));
	put_le64(sb + SB_CHUNK_ROOT, root_addr(b, T_CHUNK));
	put_le64(sb + SB_LOG_ROOT, 0);
	put_le64(sb + SB_TOTAL_BYTES, device_size);
	put_le64(sb + SB_BYTES_USED, bytes_used);
	put_le64(sb + SB_ROOT_DIR_OBJECTID, BTRFS_ROOT_TREE_DIR_OBJECTID);
	put_le64(sb + SB_NUM_DEVICES, 1);
	put_le32(sb + SB_SECTORSIZE, BTRFS_SECTORSIZE);
	put_le32(sb + SB_NODESIZE, BTRFS_NODESIZE);
	put_le32(sb + SB_LEAFSIZE, BTRFS_NODESIZE);
	put_le32(sb + SB_STRIPESIZE, BTRFS_SECTORSIZE);
	put_le64(sb + SB_CHUNK_ROOT_GENERATION, GEN);
	put_le64(sb + SB_COMPAT_FLAGS, 0);
	put_le64(sb + SB_COMPAT_RO_FLAGS, BTRFS_FEATURE_COMPAT_RO_FREE_SPACE_TREE |
					  BTRFS_FEATURE_COMPAT_RO_FREE_SPACE_TREE_VALID);
	put_le64(sb + SB_INCOMPAT_FLAGS,
		 BTRFS_FEATURE_INCOMPAT_MIXED_BACKREF | BTRFS_FEATURE_INCOMPAT_EXTENDED_IREF |
			 BTRFS_FEATURE_INCOMPAT_SKINNY_METADATA | BTRFS_FEATURE_INCOMPAT_NO_HOLES);
	put_le16(sb + SB_CSUM_TYPE, 0);
	sb[SB_ROOT_LEVEL] = (uint8_t)(b->plan[T_ROOT].levels - 1);
	sb[SB_CHUNK_ROOT_LEVEL] = (uint8_t)(b->plan[T_CHUNK].levels - 1);
	sb[SB_LOG_ROOT_LEVEL] = 0;
	/* The superblock's dev_item is the chunk tree's DEV_ITEM. */
	memcpy(sb + SB_DEV_ITEM, blz_item_data(&b->items[T_CHUNK], &b->items[T_CHUNK].v.v[0]),
	       DEV_ITEM_SIZE);
	if (s->opts.label)
		memcpy(sb + SB_LABEL, s->opts.label, strlen(s->opts.label));
	put_le64(sb + SB_CACHE_GENERATION, 0);
	put_le64(sb + SB_UUID_TREE_GENERATION, 0);

	/* sys_chunk_array: the SYSTEM chunk, whose item is also in the chunk tree. */
	uint32_t sys_len = 0;
	const struct blz_items *ch = &b->items[T_CHUNK];
	for (size_t i = 0; i < ch->v.len; i++) {
		const struct blz_item *item = &ch->v.v[i];
		if (item->key.type != BTRFS_CHUNK_ITEM_KEY ||
		    !(get_le64(blz_item_data(ch, item) + 24) & BTRFS_BLOCK_GROUP_SYSTEM))
			continue;
		uint8_t *p = sb + SB_SYS_CHUNK_ARRAY + sys_len;
		btrfs_put_key(p, item->key.objectid, item->key.type, item->key.offset);
		memcpy(p + DISK_KEY_SIZE, blz_item_data(ch, item), item->size);
		sys_len += DISK_KEY_SIZE + item->size;
	}
	put_le32(sb + SB_SYS_CHUNK_ARRAY_SIZE, sys_len);

	for (int m = 0; m < BTRFS_SUPER_MIRROR_MAX; m++) {
		uint64_t off = btrfs_sb_offset(m);
		if (off + BTRFS_SUPER_INFO_SIZE > device_size)
			break;
		put_le64(sb + SB_BYTENR, off);
		uint32_t c = blz_crc32c(sb + BTRFS_CSUM_SIZE, BTRFS_SUPER_INFO_SIZE - BTRFS_CSUM_SIZE);
		memset(sb, 0, BTRFS_CSUM_SIZE);
		put_le32(sb, c);
		int r = blz_pwrite_full(s->fd, sb, sizeof(sb), off);
		if (r < 0)
			return blz_seed_fail(s, r, "cannot write the superblock: %s", strerror(-r));
	}
	return 0;
}

static int add_virtual_file(struct blz_seed *s, struct blz_inode **ret)
{
	struct blz_fstree *t = &s->tree;
	*ret = NULL;
	if (!s->opts.virtual_size)
		return 0;
	if (blz_fstree_lookup(t, t->root, ".blazy", 6))
		return blz_seed_fail(s, -EEXIST,
				     "the source already has a top-level '.blazy', which blazy reserves");
	struct blz_inode *dir = blz_fstree_new_inode(t, S_IFDIR | 0700);
	struct blz_inode *v = blz_fstree_new_inode(t, S_IFREG | 0400);
	dir->atime = dir->mtime = dir->ctime = s->opts.timestamp;
	v->atime = v->mtime = v->ctime = s->opts.timestamp;
	v->size = s->opts.virtual_size;
	v->btrfs_flags = BTRFS_INODE_NODATASUM;
	blz_fstree_link(t, t->root, ".blazy", 6, dir);
	blz_fstree_link(t, dir, "virtual", 7, v);
	*ret = v;
	return 0;
}

int blz_seed_finish(struct blz_seed *s, struct blz_seed_layout *ret)
{
	struct blz_fstree *t = &s->tree;
	struct build b;
	memset(&b, 0, sizeof(b));
	struct ref_list *refs = NULL;
	size_t n = 0;
	struct blz_inode *vino;
	int r = flush_target(s, &s->local);
	if (r < 0)
		return r;
	r = flush_target(s, &s->import);
	if (r < 0)
		return r;
	r = add_virtual_file(s, &vino);
	if (r < 0)
		return r;
	derive_uuid(s->opts.fsid, 1, b.chunk_uuid);
	derive_uuid(s->opts.fsid, 2, b.dev_uuid);
	derive_uuid(s->opts.fsid, 3, b.fs_uuid);

	n = blz_fstree_number(t, BTRFS_FIRST_FREE_OBJECTID);
	refs = blz_xcalloc(n, sizeof(*refs));
	for (size_t i = 0; i < n; i++) {
		struct blz_inode *dir = t->order.v[i];
		if (!S_ISDIR(dir->mode))
			continue;
		for (size_t j = 0; j < dir->children.len; j++) {
			struct blz_dirent *d = dir->children.v[j];
			/* Single names are emitted straight from the directory (build_fs_tree). */
			if (d->inode->nlink < 2)
				continue;
			struct ref rf = { dir->ino, d->index, d };
			vec_push(&refs[d->inode->ino - BTRFS_FIRST_FREE_OBJECTID], rf);
		}
	}

	/* Local data extents that something still references, by address. */
	for (size_t i = 0; i < n; i++) {
		struct blz_inode *ino = t->order.v[i];
		for (size_t j = 0; j < ino->extents.len; j++) {
			struct blz_file_extent *e = &ino->extents.v[j];
			struct live_extent le = { e->disk, e->len, ino->ino, e->file_off, e->csum_idx };
			vec_push(&b.data, le);
		}
	}
	blz_sort(b.data.v, b.data.len, sizeof(*b.data.v), live_cmp);
	size_t nlocal = b.data.len;
	uint64_t local_data = 0;
	for (size_t i = 0; i < nlocal; i++)
		if (b.data.v[i].disk < BLZ_LAZY_START)
			local_data += b.data.v[i].len;

	/* Chunks: local and import DATA (with their used bytes), then SYSTEM, METADATA, virtual
	 * DATA. Both data lists are in address order, local ones first. */
	size_t di = 0;
	for (int k = 0; k < 2; k++) {
		const struct target *tg = k ? &s->import : &s->local;
		for (size_t i = 0; i < tg->chunks.len; i++) {
			struct chunk c = tg->chunks.v[i];
			c.used = 0;
			for (; di < nlocal && b.data.v[di].disk < c.start + c.len; di++)
				c.used += b.data.v[di].len;
			vec_push(&b.chunks, c);
		}
	}
	uint64_t data_end = s->local.cursor;
	uint64_t import_end = s->import.chunks.len ? s->import.cursor : 0;
	if (data_end > BLZ_LAZY_START) {
		r = blz_seed_fail(s, -EFBIG, "the local data reaches %llu bytes, past the start of the lazy areas",
				  (unsigned long long)data_end);
		goto out;
	}

	uint64_t voff = 0, vchunk = s->opts.virtual_chunk ? s->opts.virtual_chunk : BLZ_MAX_CHUNK_SIZE;
	uint64_t nvirt = 0;
	if (vino) {
		voff = BLZ_LAZY_START;
		if (import_end)
			voff = align_up(import_end, 1ull << 30);
		if (s->opts.virtual_size > UINT64_MAX / 2 - voff) {
			r = blz_seed_fail(s, -EFBIG, "the virtual area is too large");
			goto out;
		}
		for (uint64_t off = 0; off < s->opts.virtual_size; off += vchunk, nvirt++) {
			uint64_t len = s->opts.virtual_size - off < vchunk ? s->opts.virtual_size - off
									   : vchunk;
			struct blz_file_extent e = { off, voff + off, len, UINT64_MAX };
			vec_push(&vino->extents, e);
			struct live_extent le = { voff + off, len, vino->ino, off, UINT64_MAX };
			vec_push(&b.data, le);
			struct chunk c = { voff + off, len, BTRFS_BLOCK_GROUP_DATA, len };
			vec_push(&b.chunks, c);
		}
	}
	uint64_t device_size_virtual = vino ? voff + s->opts.virtual_size : 0;

	uint64_t local_data_csummed = 0;
	r = build_fs_tree(s, &b.items[T_FS], refs, &local_data_csummed);
	if (r < 0)
		goto out;
	build_csum_tree(s, b.data.v, nlocal, &b.items[T_CSUM]);
	build_data_reloc_tree(s, &b.items[T_RELOC]);
	blz_items_sort(&b.items[T_CSUM]);
	blz_items_sort(&b.items[T_RELOC]);

	/* Provisional SYSTEM and METADATA chunks so the layout trees can be sized. */
	struct chunk sys = { 0, BTRFS_NODESIZE, BTRFS_BLOCK_GROUP_SYSTEM, BTRFS_NODESIZE };
	struct chunk meta = { 1, BTRFS_NODESIZE, BTRFS_BLOCK_GROUP_METADATA, BTRFS_NODESIZE };
	vec_push(&b.chunks, sys);
	vec_push(&b.chunks, meta);
	size_t sys_idx = b.chunks.len - 2, meta_idx = b.chunks.len - 1;
	build_layout_trees(s, &b, 0);
	for (int tt = 0; tt < T_COUNT; tt++) {
		if (tt == T_EXTENT)
			continue;
		r = plan_tree(s, &b, tt);
		if (r < 0)
			goto out;
	}
	uint64_t sys_len = b.plan[T_CHUNK].total * BTRFS_NODESIZE;
	uint64_t sys_start = skip_mirrors(align_up(data_end, MiB), sys_len);
	assign_addrs(&b, T_CHUNK, sys_start);
	b.chunks.v[sys_idx].start = sys_start;
	b.chunks.v[sys_idx].len = b.chunks.v[sys_idx].used = sys_len;

	/* The extent tree describes every tree block, its own included: iterate to a fixed point. */
	size_t fixed = b.plan[T_ROOT].total + b.plan[T_FS].total + b.plan[T_CSUM].total +
		       b.plan[T_RELOC].total + b.plan[T_DEV].total + b.plan[T_FST].total;
	size_t eblocks = 1;
	uint64_t meta_start = 0, meta_len = 0;
	for (int iter = 0;; iter++) {
		meta_len = (fixed + eblocks) * BTRFS_NODESIZE;
		meta_start = skip_mirrors(align_up(sys_start + sys_len, MiB), meta_len);
		uint64_t a = meta_start;
		static const int order[] = { T_ROOT, T_FS, T_CSUM, T_RELOC, T_DEV, T_FST };
		for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
			assign_addrs(&b, order[k], a);
			a += b.plan[order[k]].total * BTRFS_NODESIZE;
		}
		b.plan[T_EXTENT].total = eblocks; /* provisional, for assign_addrs */
		assign_addrs(&b, T_EXTENT, a);
		b.chunks.v[meta_idx].start = meta_start;
		b.chunks.v[meta_idx].len = b.chunks.v[meta_idx].used = meta_len;
		/* Provisional extent plan: all blocks as leaves, so build_extent_tree lists them. */
		blz_tree_plan_release(&b.plan[T_EXTENT]);
		b.plan[T_EXTENT].levels = 1;
		b.plan[T_EXTENT].nblocks[0] = eblocks;
		b.plan[T_EXTENT].total = eblocks;
		build_extent_tree(&b, &b.items[T_EXTENT]);
		r = plan_tree(s, &b, T_EXTENT);
		if (r < 0)
			goto out;
		if (b.plan[T_EXTENT].total == eblocks) {
			/* Same count: rebuild with the real level assignment (same addresses). */
			build_extent_tree(&b, &b.items[T_EXTENT]);
			r = plan_tree(s, &b, T_EXTENT);
			if (r < 0)
				goto out;
			if (b.plan[T_EXTENT].total == eblocks)
				break;
		}
		if (iter > 64) {
			r = blz_seed_fail(s, -EDEADLK, "internal error: extent tree size does not converge");
			goto out;
		}
		eblocks = b.plan[T_EXTENT].total;
	}
	uint64_t meta_end = meta_start + meta_len;

	blz_sort(b.chunks.v, b.chunks.len, sizeof(*b.chunks.v), chunk_cmp);
	uint64_t local_end = align_up(meta_end, MiB);
	uint64_t device_size = local_end;
	if (meta_end > BLZ_LAZY_START) {
		r = blz_seed_fail(s, -EFBIG, "the local region (%llu bytes) reaches the lazy areas",
				  (unsigned long long)meta_end);
		goto out;
	}
	if (vino)
		device_size = device_size_virtual;
	else if (import_end)
		device_size = align_up(import_end, MiB);
	for (int m = 1; m < BTRFS_SUPER_MIRROR_MAX; m++) {
		uint64_t sb = btrfs_sb_offset(m);
		if (sb + BTRFS_SUPER_INFO_SIZE <= device_size && sb + BTRFS_STRIPE_LEN > local_end)
			local_end = sb + BTRFS_STRIPE_LEN;
	}
	if (!vino && !import_end)
		device_size = local_end;

	build_layout_trees(s, &b, device_size);
	for (int tt = 0; tt < T_COUNT; tt++) {
		size_t before = b.plan[tt].total;
		r = plan_tree(s, &b, tt);
		if (r < 0)
			goto out;
		if (b.plan[tt].total != before) {
			r = blz_seed_fail(s, -EDEADLK, "internal error: tree %d changed size", tt);
			goto out;
		}
	}

	if (ftruncate(s->fd, (off_t)local_end) < 0) {
		r = blz_seed_fail(s, -errno, "cannot size the image: %s", strerror(errno));
		goto out;
	}
	for (int tt = 0; tt < T_COUNT; tt++) {
		struct blz_tree_ctx ctx = { .generation = GEN, .owner = tree_owner[tt],
					    .write_block = write_block_cb, .opaque = s };
		memcpy(ctx.fsid, s->opts.fsid, 16);
		memcpy(ctx.chunk_tree_uuid, b.chunk_uuid, 16);
		r = blz_tree_write(&b.items[tt], &b.plan[tt], b.addrs[tt], &ctx);
		if (r < 0)
			goto out;
	}
	uint64_t bytes_used = 0;
	for (size_t i = 0; i < b.chunks.len; i++)
		bytes_used += b.chunks.v[i].used;
	if (fdatasync(s->fd) < 0 && errno != EINVAL) {
		r = blz_seed_fail(s, -errno, "cannot flush the image: %s", strerror(errno));
		goto out;
	}
	r = write_super(s, &b, device_size, bytes_used);
	if (r < 0)
		goto out;
	if (fsync(s->fd) < 0 && errno != EINVAL) {
		r = blz_seed_fail(s, -errno, "cannot flush the image: %s", strerror(errno));
		goto out;
	}
	if (s->opts.progress)
		s->opts.progress(s->opts.progress_ctx, s->files_done, s->bytes_done);

	if (ret) {
		memset(ret, 0, sizeof(*ret));
		memcpy(ret->fsid, s->opts.fsid, 16);
		ret->generation = GEN;
		ret->device_size = device_size;
		ret->local_end = local_end;
		ret->metadata_bytes = sys_len + meta_len;
		ret->local_data_bytes = local_data;
		ret->virtual_off = voff;
		ret->virtual_size = s->opts.virtual_size;
		ret->virtual_chunks = nvirt;
		ret->virtual_chunk_size = vino ? vchunk : 0;
		ret->import_off = import_end ? BLZ_LAZY_START : 0;
		ret->import_size = import_end ? import_end - BLZ_LAZY_START : 0;
		ret->import_chunks = s->import.chunks.len;
		ret->inodes = n;
		ret->files_written = s->files_done;
		ret->data_bytes = s->bytes_done;
		ret->nchunks = b.chunks.len;
	}
	r = 0;
out:
	if (refs) {
		for (size_t i = 0; i < n; i++)
			vec_release(&refs[i]);
		free(refs);
	}
	build_release(&b);
	return r;
}
