/* The local content-addressed chunk store; the format and the guarantees are in store.h. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "util/crc32c.h"
#include "util/fileio.h"
#include "util/le.h"
#include "util/strbuf.h"

#define POOL_MAX 16	/* idle zstd contexts kept per kind */

/* "xx/" + 64 hex digits + NUL */
#define NAME_LEN (3 + BLZ_SHA256_HEX_LEN + 1)

struct blz_store {
	int dirfd;
	unsigned flags;
	char *path;
	pthread_mutex_t lock;		/* guards the pools */
	ZSTD_DCtx *dctx[POOL_MAX];
	size_t ndctx;
	ZSTD_CCtx *cctx[POOL_MAX];
	size_t ncctx;
	uint64_t tmp_seq;		/* atomic: makes temporary names unique in the process */
	uint8_t subdir_synced[256];	/* atomic flags: the top directory was fsynced after
					 * the subdirectory was seen by this store */
	/* BLZ_STORE_BATCH: chunks written under temporary names, awaiting blz_store_sync(),
	 * and an open-addressing index of them by digest (slots hold index + 1). */
	VEC(struct pending { uint8_t digest[BLZ_STORE_DIGEST_LEN]; uint64_t seq; }) pending;
	uint32_t *pindex;
	size_t pindex_size;
};

static __thread const char *last_error = "";

const char *blz_store_error(void)
{
	return last_error;
}

static int fail(int r, const char *why)
{
	last_error = why;
	return r;
}

/* ---- header codec ---- */

void blz_chunk_encode_header(const struct blz_chunk_header *h, uint8_t out[BLZ_CHUNK_HEADER_LEN])
{
	memcpy(out, BLZ_CHUNK_MAGIC, 8);
	put_le16(out + 8, h->version);
	put_le16(out + 10, h->codec);
	put_le32(out + 12, h->length);
	put_le32(out + 16, h->stored_length);
	memcpy(out + 20, h->digest, BLZ_STORE_DIGEST_LEN);
	put_le32(out + 52, blz_crc32c(out, 52));
}

int blz_chunk_decode_header(const uint8_t in[BLZ_CHUNK_HEADER_LEN], struct blz_chunk_header *ret)
{
	struct blz_chunk_header h;

	if (memcmp(in, BLZ_CHUNK_MAGIC, 8))
		return fail(-EBADMSG, "bad chunk magic");
	if (get_le32(in + 52) != blz_crc32c(in, 52))
		return fail(-EBADMSG, "chunk header crc mismatch");
	h.version = get_le16(in + 8);
	h.codec = get_le16(in + 10);
	h.length = get_le32(in + 12);
	h.stored_length = get_le32(in + 16);
	memcpy(h.digest, in + 20, BLZ_STORE_DIGEST_LEN);
	if (h.version != BLZ_CHUNK_VERSION)
		return fail(-EBADMSG, "unknown chunk version");
	if (h.length > BLZ_STORE_MAX_CHUNK)
		return fail(-EBADMSG, "chunk length above the maximum");
	switch (h.codec) {
	case BLZ_CHUNK_CODEC_RAW:
		if (h.stored_length != h.length)
			return fail(-EBADMSG, "raw chunk with stored length != length");
		break;
	case BLZ_CHUNK_CODEC_ZSTD:
		if (h.stored_length > ZSTD_COMPRESSBOUND(h.length))
			return fail(-EBADMSG, "zstd chunk stored length above the bound");
		break;
	default:
		return fail(-EBADMSG, "unknown chunk codec");
	}
	*ret = h;
	return 0;
}

/* ---- zstd context pools ---- */

static ZSTD_DCtx *take_dctx(struct blz_store *s)
{
	ZSTD_DCtx *c = NULL;
	if (s) {
		pthread_mutex_lock(&s->lock);
		if (s->ndctx)
			c = s->dctx[--s->ndctx];
		pthread_mutex_unlock(&s->lock);
	}
	return c ? c : ZSTD_createDCtx();
}

static void give_dctx(struct blz_store *s, ZSTD_DCtx *c)
{
	if (s) {
		pthread_mutex_lock(&s->lock);
		if (s->ndctx < POOL_MAX) {
			s->dctx[s->ndctx++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&s->lock);
	}
	ZSTD_freeDCtx(c);
}

static ZSTD_CCtx *take_cctx(struct blz_store *s)
{
	ZSTD_CCtx *c = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->ncctx)
		c = s->cctx[--s->ncctx];
	pthread_mutex_unlock(&s->lock);
	return c ? c : ZSTD_createCCtx();
}

static void give_cctx(struct blz_store *s, ZSTD_CCtx *c)
{
	pthread_mutex_lock(&s->lock);
	if (s->ncctx < POOL_MAX) {
		s->cctx[s->ncctx++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	ZSTD_freeCCtx(c);
}

/* ---- verification, shared by get and decode ---- */

static int check_header(const uint8_t *raw, const uint8_t digest[BLZ_STORE_DIGEST_LEN], size_t len,
			struct blz_chunk_header *h)
{
	int r = blz_chunk_decode_header(raw, h);
	if (r < 0)
		return r;
	if (memcmp(h->digest, digest, BLZ_STORE_DIGEST_LEN))
		return fail(-EBADMSG, "chunk header names another digest");
	if (h->length != len)
		return fail(-EBADMSG, "chunk length differs from the expected length");
	return 0;
}

/* Decodes the payload into buf (for raw, payload may already be buf). */
static int decode_payload(struct blz_store *s, const struct blz_chunk_header *h,
			  const uint8_t *payload, void *buf, size_t len)
{
	if (h->codec == BLZ_CHUNK_CODEC_RAW) {
		if (payload != buf && len)
			memcpy(buf, payload, len);
		return 0;
	}
	ZSTD_DCtx *dctx = take_dctx(s);
	if (!dctx)
		return fail(-ENOMEM, "out of memory");
	size_t n = ZSTD_decompressDCtx(dctx, buf, len, payload, h->stored_length);
	give_dctx(s, dctx);
	if (ZSTD_isError(n) || n != len)
		return fail(-EBADMSG, "chunk payload does not decompress");
	return 0;
}

static int verify_digest(const uint8_t digest[BLZ_STORE_DIGEST_LEN], const void *buf, size_t len)
{
	uint8_t d[BLZ_STORE_DIGEST_LEN];
	blz_sha256(buf, len, d);
	if (memcmp(d, digest, BLZ_STORE_DIGEST_LEN))
		return fail(-EBADMSG, "chunk contents do not match the digest");
	return 0;
}

int blz_chunk_decode(const void *file, size_t file_len, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		     void *buf, size_t len)
{
	struct blz_chunk_header h;
	const uint8_t *f = file;
	int r;

	last_error = "";
	if (len > BLZ_STORE_MAX_CHUNK)
		return fail(-EINVAL, "requested length above the maximum chunk size");
	if (file_len < BLZ_CHUNK_HEADER_LEN)
		return fail(-EBADMSG, "chunk shorter than its header");
	r = check_header(f, digest, len, &h);
	if (r < 0)
		return r;
	if (file_len < BLZ_CHUNK_HEADER_LEN + (size_t)h.stored_length)
		return fail(-EBADMSG, "chunk payload truncated");
	if (file_len > BLZ_CHUNK_HEADER_LEN + (size_t)h.stored_length)
		return fail(-EBADMSG, "trailing bytes after the chunk payload");
	r = decode_payload(NULL, &h, f + BLZ_CHUNK_HEADER_LEN, buf, len);
	if (r < 0)
		return r;
	return verify_digest(digest, buf, len);
}

/* ---- the store ---- */

static void chunk_name(const uint8_t digest[BLZ_STORE_DIGEST_LEN], char out[NAME_LEN])
{
	blz_hex(digest, 1, out);
	out[2] = '/';
	blz_hex(digest, BLZ_STORE_DIGEST_LEN, out + 3);
}

static void tmp_name(const char *hexname, uint64_t seq, char out[NAME_MAX + 1])
{
	snprintf(out, NAME_MAX + 1, ".tmp-%.16s-%ld-%llu", hexname, (long)getpid(),
		 (unsigned long long)seq);
}

static size_t pending_slot(const struct blz_store *s, const uint8_t *digest)
{
	return (size_t)get_le64(digest) & (s->pindex_size - 1);
}

static bool pending_has(const struct blz_store *s, const uint8_t *digest)
{
	if (!s->pindex_size)
		return false;
	for (size_t i = pending_slot(s, digest);; i = (i + 1) & (s->pindex_size - 1)) {
		uint32_t v = s->pindex[i];
		if (!v)
			return false;
		if (!memcmp(s->pending.v[v - 1].digest, digest, BLZ_STORE_DIGEST_LEN))
			return true;
	}
}

static void pending_index(struct blz_store *s, size_t idx)
{
	for (size_t i = pending_slot(s, s->pending.v[idx].digest);; i = (i + 1) & (s->pindex_size - 1))
		if (!s->pindex[i]) {
			s->pindex[i] = (uint32_t)idx + 1;
			return;
		}
}

static void pending_add(struct blz_store *s, const uint8_t *digest, uint64_t seq)
{
	struct pending p = { .seq = seq };
	memcpy(p.digest, digest, BLZ_STORE_DIGEST_LEN);
	vec_push(&s->pending, p);
	if (s->pending.len * 2 > s->pindex_size) {
		free(s->pindex);
		s->pindex_size = s->pindex_size ? s->pindex_size * 2 : 1024;
		s->pindex = blz_xcalloc(s->pindex_size, sizeof(*s->pindex));
		for (size_t i = 0; i < s->pending.len; i++)
			pending_index(s, i);
	} else {
		pending_index(s, s->pending.len - 1);
	}
}

/* Renames (or with discard, removes) every pending chunk; returns the first error. */
static int pending_finish(struct blz_store *s, bool discard)
{
	int r = 0;
	for (size_t i = 0; i < s->pending.len; i++) {
		char name[NAME_LEN], tmp[NAME_MAX + 1];
		chunk_name(s->pending.v[i].digest, name);
		name[2] = '\0';
		tmp_name(name + 3, s->pending.v[i].seq, tmp);
		int subfd = openat(s->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (subfd < 0) {
			if (!r)
				r = -errno;
			continue;
		}
		if (discard)
			unlinkat(subfd, tmp, 0);
		else if (renameat(subfd, tmp, subfd, name + 3) < 0 && !r)
			r = -errno;
		close(subfd);
	}
	s->pending.len = 0;
	if (s->pindex)
		memset(s->pindex, 0, s->pindex_size * sizeof(*s->pindex));
	return r;
}

static int fsync_parent(const char *dir)
{
	char *copy = blz_xstrdup(dir);
	for (size_t n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
		copy[n - 1] = '\0';
	char *slash = strrchr(copy, '/');
	const char *parent = ".";
	if (slash) {
		*slash = '\0';
		parent = slash == copy ? "/" : copy;
	}
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd < 0 || fsync(fd) < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

int blz_store_open(const char *dir, unsigned flags, struct blz_store **ret)
{
	bool created = false;
	int r;

	last_error = "";
	if (!dir || !*dir ||
	    (flags & ~(BLZ_STORE_CREATE | BLZ_STORE_RDONLY | BLZ_STORE_BATCH | BLZ_STORE_NOSYNC)))
		return fail(-EINVAL, "invalid arguments");
	if (flags & BLZ_STORE_CREATE) {
		if (mkdir(dir, 0700) == 0)
			created = true;
		else if (errno != EEXIST)
			return fail(-errno, "cannot create the store directory");
	}

	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, "cannot open the store directory");
	int mode = R_OK | X_OK | ((flags & BLZ_STORE_RDONLY) ? 0 : W_OK);
	if (faccessat(AT_FDCWD, dir, mode, AT_EACCESS) < 0) {
		r = -errno;
		close(fd);
		return fail(r, "no permission on the store directory");
	}
	if (created && (r = fsync_parent(dir)) < 0) {
		close(fd);
		return fail(r, "cannot sync the store's parent directory");
	}

	struct blz_store *s = blz_xcalloc(1, sizeof(*s));
	s->dirfd = fd;
	s->flags = flags;
	s->path = blz_xstrdup(dir);
	/* "dir/" would give "dir//xx/..." in messages */
	for (size_t n = strlen(s->path); n > 1 && s->path[n - 1] == '/'; n--)
		s->path[n - 1] = '\0';
	pthread_mutex_init(&s->lock, NULL);
	*ret = s;
	return 0;
}

void blz_store_close(struct blz_store *s)
{
	if (!s)
		return;
	pending_finish(s, true);
	vec_release(&s->pending);
	free(s->pindex);
	for (size_t i = 0; i < s->ndctx; i++)
		ZSTD_freeDCtx(s->dctx[i]);
	for (size_t i = 0; i < s->ncctx; i++)
		ZSTD_freeCCtx(s->cctx[i]);
	pthread_mutex_destroy(&s->lock);
	close(s->dirfd);
	free(s->path);
	free(s);
}

int blz_store_path(struct blz_store *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN], char *out,
		   size_t size)
{
	char name[NAME_LEN];
	chunk_name(digest, name);
	int n = snprintf(out, size, "%s/%s", s->path, name);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int blz_store_usage(struct blz_store *s, uint64_t *ret_chunks, uint64_t *ret_bytes)
{
	uint64_t chunks = 0, bytes = 0;
	for (unsigned b = 0; b < 256; b++) {
		char sub[3];
		snprintf(sub, sizeof(sub), "%02x", b);
		int fd = openat(s->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return fail(-errno, "cannot open a chunk directory");
		}
		DIR *d = fdopendir(fd);
		if (!d) {
			close(fd);
			return fail(-errno, "cannot read a chunk directory");
		}
		struct dirent *de;
		struct stat st;
		while ((de = readdir(d)))
			if (strlen(de->d_name) == BLZ_SHA256_HEX_LEN &&
			    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
				chunks++;
				bytes += (uint64_t)st.st_size;
			}
		closedir(d);
	}
	*ret_chunks = chunks;
	*ret_bytes = bytes;
	return 0;
}

int blz_store_has(struct blz_store *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN])
{
	char name[NAME_LEN];
	struct stat st;

	last_error = "";
	chunk_name(digest, name);
	if (pending_has(s, digest))
		return 1;
	if (fstatat(s->dirfd, name, &st, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail(-errno, "cannot stat the chunk file");
	}
	return S_ISREG(st.st_mode) ? 1 : 0;
}

int blz_store_get(struct blz_store *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN], void *buf,
		  size_t len)
{
	char name[NAME_LEN];
	uint8_t raw[BLZ_CHUNK_HEADER_LEN];
	struct blz_chunk_header h;
	struct stat st;
	int r;

	last_error = "";
	if (len > BLZ_STORE_MAX_CHUNK)
		return fail(-EINVAL, "requested length above the maximum chunk size");
	chunk_name(digest, name);
	/* O_NONBLOCK: a FIFO under a chunk's name must not hold the reader (it is refused
	 * below); reads of a regular file ignore the flag */
	_cleanup_close_ int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(-errno, errno == ENOENT ? "chunk not in the store"
						    : "cannot open the chunk file");
	if (fstat(fd, &st) < 0)
		return fail(-errno, "cannot stat the chunk file");
	if (!S_ISREG(st.st_mode))
		return fail(-EBADMSG, "chunk is not a regular file");
	if (st.st_size < BLZ_CHUNK_HEADER_LEN)
		return fail(-EBADMSG, "chunk shorter than its header");
	r = blz_pread_full(fd, raw, sizeof(raw), 0);
	if (r < 0)
		return fail(r, "cannot read the chunk header");
	r = check_header(raw, digest, len, &h);
	if (r < 0)
		return r;
	uint64_t want = BLZ_CHUNK_HEADER_LEN + (uint64_t)h.stored_length;
	if ((uint64_t)st.st_size < want)
		return fail(-EBADMSG, "chunk payload truncated");
	if ((uint64_t)st.st_size > want)
		return fail(-EBADMSG, "trailing bytes after the chunk payload");

	if (h.codec == BLZ_CHUNK_CODEC_RAW) {
		/* straight into the caller's buffer */
		r = blz_pread_full(fd, buf, len, BLZ_CHUNK_HEADER_LEN);
		if (r < 0)
			return fail(r, "cannot read the chunk payload");
	} else {
		uint8_t *payload = blz_xmalloc(h.stored_length);
		r = blz_pread_full(fd, payload, h.stored_length, BLZ_CHUNK_HEADER_LEN);
		if (r < 0) {
			free(payload);
			return fail(r, "cannot read the chunk payload");
		}
		r = decode_payload(s, &h, payload, buf, len);
		free(payload);
		if (r < 0)
			return r;
	}
	return verify_digest(digest, buf, len);
}

int blz_store_sync(struct blz_store *s)
{
	last_error = "";
	if (syncfs(s->dirfd) < 0)
		return fail(-errno, "cannot sync the store's filesystem");
	int r = pending_finish(s, false);
	if (r < 0)
		return fail(r, "cannot rename a chunk file into place");
	if (syncfs(s->dirfd) < 0)
		return fail(-errno, "cannot sync the store's filesystem");
	return 0;
}

/* Makes sure the entry of subdirectory xx in the top directory is durable: once per store
 * and subdirectory, since the directory may have been created by a put that has not synced
 * it yet (another thread or a process that crashed). */
static int sync_subdir_entry(struct blz_store *s, uint8_t xx)
{
	if (__atomic_load_n(&s->subdir_synced[xx], __ATOMIC_ACQUIRE))
		return 0;
	if (fsync(s->dirfd) < 0)
		return -errno;
	__atomic_store_n(&s->subdir_synced[xx], 1, __ATOMIC_RELEASE);
	return 0;
}

/* Writes header + payload to a temporary file in subdir, syncs it and renames it to hexname. */
static int write_chunk(struct blz_store *s, int subfd, const char *hexname, const uint8_t *header,
		       const void *payload, size_t plen)
{
	char tmp[NAME_MAX + 1];
	uint64_t seq = __atomic_fetch_add(&s->tmp_seq, 1, __ATOMIC_RELAXED);
	bool batch = s->flags & BLZ_STORE_BATCH, nosync = s->flags & BLZ_STORE_NOSYNC;
	int r;

	tmp_name(hexname, seq, tmp);
	int fd = openat(subfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return fail(-errno, "cannot create a temporary chunk file");
	r = blz_pwrite_full(fd, header, BLZ_CHUNK_HEADER_LEN, 0);
	if (r == 0 && plen)
		r = blz_pwrite_full(fd, payload, plen, BLZ_CHUNK_HEADER_LEN);
	if (r < 0)
		fail(r, "cannot write the chunk file");
	else if (!batch && !nosync && fsync(fd) < 0)
		r = fail(-errno, "cannot sync the chunk file");
	if (close(fd) < 0 && r == 0)
		r = fail(-errno, "cannot close the chunk file");
	if (r == 0 && batch) {
		uint8_t digest[BLZ_STORE_DIGEST_LEN];
		blz_unhex(hexname, digest, sizeof(digest));
		pending_add(s, digest, seq);
		return 0;
	}
	if (r == 0 && renameat(subfd, tmp, subfd, hexname) < 0)
		r = fail(-errno, "cannot rename the chunk file");
	if (r < 0) {
		unlinkat(subfd, tmp, 0);
		return r;
	}
	if (!nosync && fsync(subfd) < 0)
		return fail(-errno, "cannot sync the chunk directory");
	return 0;
}

/* Writes header + payload as the chunk named digest, whose "xx/<hex>" is name (modified):
 * the subdirectory, the file (write_chunk), the subdirectory's entry. */
static int write_named(struct blz_store *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN], char *name,
		       const uint8_t *header, const void *payload, size_t plen)
{
	name[2] = '\0';
	if (mkdirat(s->dirfd, name, 0700) < 0 && errno != EEXIST)
		return fail(-errno, "cannot create the chunk directory");
	_cleanup_close_ int subfd = openat(s->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (subfd < 0)
		return fail(-errno, "cannot open the chunk directory");
	int r = write_chunk(s, subfd, name + 3, header, payload, plen);
	if (r < 0 || (s->flags & BLZ_STORE_BATCH))
		return r;
	r = sync_subdir_entry(s, digest[0]);
	if (r < 0)
		return fail(r, "cannot sync the store directory");
	return 0;
}

/* Compresses len bytes (kept raw if that does not make them smaller) and writes them as the
 * chunk named digest; name is its "xx/<hex>" (modified). */
static int put_new(struct blz_store *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN], char *name,
		   const void *data, size_t len)
{
	uint8_t header[BLZ_CHUNK_HEADER_LEN];
	struct blz_chunk_header h = {
		.version = BLZ_CHUNK_VERSION,
		.codec = BLZ_CHUNK_CODEC_RAW,
		.length = (uint32_t)len,
		.stored_length = (uint32_t)len,
	};
	memcpy(h.digest, digest, BLZ_STORE_DIGEST_LEN);

	const void *payload = data;
	_cleanup_free_ uint8_t *zbuf = NULL;
	if (len) {
		size_t cap = ZSTD_compressBound(len);
		ZSTD_CCtx *cctx = take_cctx(s);
		if (!cctx)
			return fail(-ENOMEM, "out of memory");
		zbuf = blz_xmalloc(cap);
		size_t n = ZSTD_compressCCtx(cctx, zbuf, cap, data, len, BLZ_CHUNK_ZSTD_LEVEL);
		give_cctx(s, cctx);
		if (!ZSTD_isError(n) && n < len) {
			h.codec = BLZ_CHUNK_CODEC_ZSTD;
			h.stored_length = (uint32_t)n;
			payload = zbuf;
		}
	}
	blz_chunk_encode_header(&h, header);

	return write_named(s, digest, name, header, payload, h.stored_length);
}

int blz_store_put(struct blz_store *s, const void *data, size_t len,
		  uint8_t ret_digest[BLZ_STORE_DIGEST_LEN])
{
	uint8_t digest[BLZ_STORE_DIGEST_LEN];
	char name[NAME_LEN];
	struct stat st;

	last_error = "";
	if (s->flags & BLZ_STORE_RDONLY)
		return fail(-EROFS, "store opened read-only");
	if (len > BLZ_STORE_MAX_CHUNK)
		return fail(-EFBIG, "chunk larger than the maximum chunk size");
	if (len && !data)
		return fail(-EINVAL, "invalid arguments");

	blz_sha256(data, len, digest);
	chunk_name(digest, name);
	if (pending_has(s, digest))
		; /* written in this batch */
	else if (fstatat(s->dirfd, name, &st, 0) < 0) {
		if (errno != ENOENT)
			return fail(-errno, "cannot stat the chunk file");
		int r = put_new(s, digest, name, data, len);
		if (r < 0)
			return r;
	}
	/* else dedup: a chunk file's contents are fixed by its name */
	if (ret_digest)
		memcpy(ret_digest, digest, sizeof(digest));
	return 0;
}

int blz_store_put_image(struct blz_store *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
			const void *image, size_t image_len)
{
	struct blz_chunk_header h;
	char name[NAME_LEN];
	struct stat st;

	last_error = "";
	if (s->flags & BLZ_STORE_RDONLY)
		return fail(-EROFS, "store opened read-only");
	if (s->flags & BLZ_STORE_BATCH)
		return fail(-EINVAL, "put_image on a batch store");
	if (image_len < BLZ_CHUNK_HEADER_LEN)
		return fail(-EBADMSG, "chunk shorter than its header");
	int r = blz_chunk_decode_header(image, &h);
	if (r < 0)
		return r;
	if (memcmp(h.digest, digest, BLZ_STORE_DIGEST_LEN))
		return fail(-EBADMSG, "chunk header names another digest");
	if (image_len != BLZ_CHUNK_HEADER_LEN + (size_t)h.stored_length)
		return fail(-EBADMSG, "chunk image length differs from its header's");
	chunk_name(digest, name);
	if (fstatat(s->dirfd, name, &st, 0) == 0)
		return 0;
	if (errno != ENOENT)
		return fail(-errno, "cannot stat the chunk file");
	return write_named(s, digest, name, image, (const uint8_t *)image + BLZ_CHUNK_HEADER_LEN,
			   h.stored_length);
}

int blz_store_remove(struct blz_store *s, const uint8_t digest[BLZ_STORE_DIGEST_LEN])
{
	char name[NAME_LEN];

	last_error = "";
	if (s->flags & BLZ_STORE_RDONLY)
		return fail(-EROFS, "store opened read-only");
	chunk_name(digest, name);
	if (unlinkat(s->dirfd, name, 0) < 0)
		return fail(-errno, errno == ENOENT ? "chunk not in the store"
						    : "cannot remove the chunk file");
	return 0;
}
