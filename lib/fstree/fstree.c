#include "fstree/fstree.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t hash_name(const struct blz_inode *dir, const char *name, size_t len)
{
	/* FNV-1a over the directory pointer and the name. */
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)dir;
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

static void hash_grow(struct blz_fstree *t)
{
	size_t nsize = t->hash_size ? t->hash_size * 2 : 1024;
	struct blz_dirent **nh = blz_xcalloc(nsize, sizeof(*nh));
	for (size_t i = 0; i < t->hash_size; i++) {
		struct blz_dirent *d = t->hash[i], *next;
		for (; d; d = next) {
			next = d->hnext;
			size_t b = hash_name(d->parent, d->name, d->name_len) & (nsize - 1);
			d->hnext = nh[b];
			nh[b] = d;
		}
	}
	free(t->hash);
	t->hash = nh;
	t->hash_size = nsize;
}

void blz_fstree_init(struct blz_fstree *t)
{
	memset(t, 0, sizeof(*t));
	hash_grow(t);
	t->root = blz_fstree_new_inode(t, S_IFDIR | 0755);
	t->root->nlink = 1;
}

struct blz_inode *blz_fstree_new_inode(struct blz_fstree *t, uint32_t mode)
{
	struct blz_inode *ino = blz_xcalloc(1, sizeof(*ino));
	ino->mode = mode;
	vec_push(&t->inodes, ino);
	return ino;
}

static void xattrs_release(struct blz_inode *ino)
{
	for (size_t i = 0; i < ino->xattrs.len; i++) {
		free(ino->xattrs.v[i].name);
		free(ino->xattrs.v[i].value);
	}
	vec_release(&ino->xattrs);
}

void blz_inode_clear_data(struct blz_inode *ino)
{
	free(ino->inline_data);
	ino->inline_data = NULL;
	ino->inline_len = 0;
	vec_release(&ino->extents);
	free(ino->src_path);
	ino->src_path = NULL;
	xattrs_release(ino);
}

void blz_fstree_release(struct blz_fstree *t)
{
	/* Removed entries live only in their directory's children; live ones in the hash. */
	for (size_t i = 0; i < t->inodes.len; i++) {
		struct blz_inode *ino = t->inodes.v[i];
		for (size_t j = 0; j < ino->children.len; j++) {
			struct blz_dirent *d = ino->children.v[j];
			if (!d->inode) {
				free(d->name);
				free(d);
			}
		}
	}
	for (size_t i = 0; i < t->hash_size; i++) {
		struct blz_dirent *d = t->hash[i], *next;
		for (; d; d = next) {
			next = d->hnext;
			free(d->name);
			free(d);
		}
	}
	for (size_t i = 0; i < t->inodes.len; i++) {
		struct blz_inode *ino = t->inodes.v[i];
		blz_inode_clear_data(ino);
		vec_release(&ino->children);
		free(ino);
	}
	vec_release(&t->inodes);
	vec_release(&t->order);
	free(t->hash);
	memset(t, 0, sizeof(*t));
}

struct blz_dirent *blz_fstree_lookup(struct blz_fstree *t, struct blz_inode *dir,
				     const char *name, size_t len)
{
	size_t b = hash_name(dir, name, len) & (t->hash_size - 1);
	for (struct blz_dirent *d = t->hash[b]; d; d = d->hnext)
		if (d->parent == dir && d->name_len == len && memcmp(d->name, name, len) == 0)
			return d;
	return NULL;
}

static int check_name(const char *name, size_t len)
{
	if (len == 0 || (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return -EINVAL;
	if (len > 255)
		return -ENAMETOOLONG;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	return 0;
}

int blz_fstree_link(struct blz_fstree *t, struct blz_inode *dir, const char *name, size_t len,
		    struct blz_inode *inode)
{
	int r = check_name(name, len);
	if (r < 0)
		return r;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (blz_fstree_lookup(t, dir, name, len))
		return -EEXIST;
	if (t->hash_count * 2 >= t->hash_size)
		hash_grow(t);
	struct blz_dirent *d = blz_xcalloc(1, sizeof(*d));
	d->parent = dir;
	d->inode = inode;
	d->name = blz_xmalloc(len + 1);
	memcpy(d->name, name, len);
	d->name[len] = 0;
	d->name_len = (uint16_t)len;
	d->layer = t->cur_layer;
	size_t b = hash_name(dir, name, len) & (t->hash_size - 1);
	d->hnext = t->hash[b];
	t->hash[b] = d;
	t->hash_count++;
	vec_push(&dir->children, d);
	dir->live_children++;
	inode->nlink++;
	return 0;
}

static void unhash(struct blz_fstree *t, struct blz_dirent *d)
{
	size_t b = hash_name(d->parent, d->name, d->name_len) & (t->hash_size - 1);
	for (struct blz_dirent **pp = &t->hash[b]; *pp; pp = &(*pp)->hnext) {
		if (*pp == d) {
			*pp = d->hnext;
			t->hash_count--;
			return;
		}
	}
}

void blz_fstree_unlink(struct blz_fstree *t, struct blz_dirent *d)
{
	struct blz_inode *ino = d->inode;
	if (!ino)
		return;
	unhash(t, d);
	d->inode = NULL;
	d->parent->live_children--;
	ino->nlink--;
	if (S_ISDIR(ino->mode)) {
		for (size_t i = 0; i < ino->children.len; i++)
			if (ino->children.v[i]->inode)
				blz_fstree_unlink(t, ino->children.v[i]);
	}
}

static int next_component(const char **pp, const char **ret, size_t *ret_len)
{
	const char *p = *pp;
	while (*p == '/')
		p++;
	if (!*p)
		return 0;
	const char *s = p;
	while (*p && *p != '/')
		p++;
	*ret = s;
	*ret_len = (size_t)(p - s);
	*pp = p;
	return 1;
}

int blz_fstree_walk_parent(struct blz_fstree *t, const char *path, uint32_t dirmode,
			   const struct timespec *ts, struct blz_inode **ret_dir,
			   const char **ret_name, size_t *ret_len)
{
	struct blz_inode *dir = t->root;
	const char *p = path, *name, *next;
	size_t len, nlen;
	if (!next_component(&p, &name, &len))
		return -EINVAL;
	while (next_component(&p, &next, &nlen)) {
		struct blz_dirent *d = blz_fstree_lookup(t, dir, name, len);
		if (!d) {
			struct blz_inode *nd = blz_fstree_new_inode(t, S_IFDIR | (dirmode & 07777));
			if (ts)
				nd->atime = nd->mtime = nd->ctime = *ts;
			int r = blz_fstree_link(t, dir, name, len, nd);
			if (r < 0)
				return r;
			dir = nd;
		} else if (!S_ISDIR(d->inode->mode)) {
			return -ENOTDIR;
		} else {
			dir = d->inode;
		}
		name = next;
		len = nlen;
	}
	*ret_dir = dir;
	*ret_name = name;
	*ret_len = len;
	return 0;
}

int blz_fstree_resolve(struct blz_fstree *t, const char *path, struct blz_dirent **ret_dirent,
		       struct blz_inode **ret_inode)
{
	struct blz_inode *cur = t->root;
	struct blz_dirent *d = NULL;
	const char *p = path, *name;
	size_t len;
	while (next_component(&p, &name, &len)) {
		if (!S_ISDIR(cur->mode))
			return -ENOTDIR;
		d = blz_fstree_lookup(t, cur, name, len);
		if (!d)
			return -ENOENT;
		cur = d->inode;
	}
	if (ret_dirent)
		*ret_dirent = d;
	if (ret_inode)
		*ret_inode = cur;
	return 0;
}

void blz_inode_set_xattr(struct blz_inode *ino, const char *name, const void *value, size_t len)
{
	for (size_t i = 0; i < ino->xattrs.len; i++) {
		if (strcmp(ino->xattrs.v[i].name, name) == 0) {
			free(ino->xattrs.v[i].value);
			ino->xattrs.v[i].value = blz_xmemdup(value, len);
			ino->xattrs.v[i].len = len;
			return;
		}
	}
	struct blz_xattr x = { blz_xstrdup(name), blz_xmemdup(value, len), len };
	vec_push(&ino->xattrs, x);
}

static int dirent_cmp(const void *a, const void *b)
{
	const struct blz_dirent *x = *(struct blz_dirent *const *)a;
	const struct blz_dirent *y = *(struct blz_dirent *const *)b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);
	if (c)
		return c;
	return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

size_t blz_fstree_number(struct blz_fstree *t, uint64_t first_ino)
{
	for (size_t i = 0; i < t->inodes.len; i++)
		t->inodes.v[i]->visited = false;
	t->order.len = 0;
	uint64_t next = first_ino;
	/* Iterative depth-first walk; a stack of (dir, position). */
	VEC(struct blz_inode *) stack = { 0 };
	VEC(size_t) pos = { 0 };
	t->root->ino = next++;
	t->root->visited = true;
	vec_push(&t->order, t->root);
	vec_push(&stack, t->root);
	vec_push(&pos, (size_t)0);
	while (stack.len) {
		struct blz_inode *dir = stack.v[stack.len - 1];
		size_t *p = &pos.v[pos.len - 1];
		if (*p == 0) {
			/* Compact out removed entries and sort the rest by name. */
			size_t w = 0;
			for (size_t i = 0; i < dir->children.len; i++) {
				struct blz_dirent *d = dir->children.v[i];
				if (d->inode)
					dir->children.v[w++] = d;
				else {
					free(d->name);
					free(d);
				}
			}
			dir->children.len = w;
			blz_sort(dir->children.v, w, sizeof(struct blz_dirent *), dirent_cmp);
			for (size_t i = 0; i < w; i++)
				dir->children.v[i]->index = 2 + i;
		}
		if (*p >= dir->children.len) {
			stack.len--;
			pos.len--;
			continue;
		}
		struct blz_dirent *d = dir->children.v[(*p)++];
		struct blz_inode *ino = d->inode;
		if (ino->visited)
			continue;
		ino->visited = true;
		ino->ino = next++;
		vec_push(&t->order, ino);
		if (S_ISDIR(ino->mode)) {
			vec_push(&stack, ino);
			vec_push(&pos, (size_t)0);
		}
	}
	vec_release(&stack);
	vec_release(&pos);
	return t->order.len;
}
