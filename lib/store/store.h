/* A content-addressed chunk store in a local directory.
 *
 * A chunk is at most BLZ_STORE_MAX_CHUNK bytes and is named by the SHA-256 of its
 * uncompressed bytes. It lives in DIR/xx/<64 lowercase hex digits>, where xx is the first
 * byte of the digest in hex, as one file: a 56-byte header (below) and the payload (the
 * bytes, raw or as one zstd frame). Files are written once, atomically (temporary file in
 * the same subdirectory, fsync, rename, fsync of the directory) and never modified; their
 * mode is 0444. Temporary files are named ".tmp-*" and are never looked up by name, so one
 * left behind by a crash is ignored (it can be deleted at any time no put is running).
 *
 * Every read checks the header (magic, version, crc32c, digest, lengths) and the SHA-256 of
 * the decompressed bytes: the store never hands out bytes that do not hash to the digest
 * they were asked for.
 *
 * Chunk file header, all integers little-endian:
 *   0  magic "BLZCHUNK"   8 bytes
 *   8  version u16        1
 *  10  codec u16          0 raw, 1 zstd
 *  12  length u32         uncompressed length
 *  16  stored length u32  payload length (= length for raw)
 *  20  digest             32 bytes, SHA-256 of the uncompressed bytes
 *  52  header crc u32     crc32c of bytes 0..51
 *  56  payload            stored length bytes; the file ends there
 *
 * Thread safety: blz_store_get, blz_store_has, blz_store_put and blz_store_path may be called
 * concurrently from any number of threads on one store. Each call opens its own file
 * descriptor (openat on the store's directory descriptor) and uses pread, so calls share no
 * file offset; zstd contexts come from a small pool guarded by a mutex (a context is taken
 * for one call and returned afterwards; when the pool is empty a new one is created, so a
 * call never waits for another call's decompression). Several processes may put into the
 * same store at once: the rename is atomic and a chunk's contents are fixed by its name. */
#ifndef BLZ_STORE_STORE_H
#define BLZ_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/sha256.h"

#define BLZ_STORE_MAX_CHUNK		(4u << 20)	/* 4 MiB */
#define BLZ_STORE_DIGEST_LEN		BLZ_SHA256_LEN
/* Enough for blz_store_path's output below a directory path of PATH_MAX. */
#define BLZ_STORE_PATH_EXTRA		(1 + 2 + 1 + BLZ_SHA256_HEX_LEN + 1)

#define BLZ_CHUNK_MAGIC			"BLZCHUNK"
#define BLZ_CHUNK_VERSION		1
#define BLZ_CHUNK_HEADER_LEN		56
#define BLZ_CHUNK_CODEC_RAW		0
#define BLZ_CHUNK_CODEC_ZSTD		1
#define BLZ_CHUNK_ZSTD_LEVEL		3

/* Flags for blz_store_open. */
#define BLZ_STORE_CREATE	(1u << 0)	/* create the directory (mode 0700) if missing */
#define BLZ_STORE_RDONLY	(1u << 1)	/* only read: put fails with -EROFS, and open only
						 * requires read and search permission */
#define BLZ_STORE_BATCH		(1u << 2)	/* bulk import: put writes chunks under temporary
						 * names without syncing; blz_store_sync() makes them
						 * durable and gives them their names (one syncfs
						 * instead of two fsyncs a chunk); close without sync
						 * removes them */
#define BLZ_STORE_NOSYNC	(1u << 3)	/* a cache whose every read is verified: put
						 * writes a temporary file and renames it, with
						 * no fsync; after a power loss an entry may be
						 * missing or damaged (a reader's verification
						 * finds it), never there under a temporary name */

struct blz_store;

/* Opens the store in dir. Fails with -ENOENT if dir does not exist (and BLZ_STORE_CREATE is
 * not given), -ENOTDIR if it is not a directory, -EACCES if the caller lacks read, search or
 * (without BLZ_STORE_RDONLY) write permission on it: checked here so that a server fails at
 * start rather than at its first read. */
int blz_store_open(const char *dir, unsigned flags, struct blz_store **ret);
/* Closes the store; accepts NULL. No other call on it may be in progress. */
void blz_store_close(struct blz_store *store);

/* Adds len bytes (len <= BLZ_STORE_MAX_CHUNK, else -EFBIG; data may be NULL if len is 0) and
 * stores their SHA-256 in ret_digest (which may be NULL). If the chunk is present already,
 * nothing is written. When 0 is returned the chunk is durable (file and directory entries
 * fsynced; with BLZ_STORE_NOSYNC only in place), or with BLZ_STORE_BATCH pending until blz_store_sync() (blz_store_has() sees it;
 * reading it fails with -ENOENT until then). On failure ret_digest is left untouched and no partial file remains. */
/* BLZ_STORE_BATCH: syncs the filesystem, renames the pending chunks to their names and
 * syncs again. After 0, every chunk put so far is durable under its name. */
int blz_store_sync(struct blz_store *store);

/* Counts the chunk files and their bytes on disk (a walk of the directory). */
int blz_store_usage(struct blz_store *store, uint64_t *ret_chunks, uint64_t *ret_bytes);

int blz_store_put(struct blz_store *store, const void *data, size_t len,
		  uint8_t ret_digest[BLZ_STORE_DIGEST_LEN]);

/* Writes a chunk file image (header + payload, as blz_chunk_decode accepts it) that the caller
 * has verified for digest, as is (no recompression), crash-safely like put (temporary file,
 * fsync, rename, directory fsync; -EINVAL on a BLZ_STORE_BATCH store). 0, also when the chunk is present already;
 * -EBADMSG if the image's header is not a valid header naming digest (the payload is not
 * checked: that is the caller's verification); -EROFS; other -errno. No partial file remains. */
int blz_store_put_image(struct blz_store *store, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
			const void *image, size_t image_len);

/* Removes the chunk file named digest (a bad chunk found by a reader, an evicted cache entry).
 * 0, -ENOENT if it is not there, -EROFS, or -errno. */
int blz_store_remove(struct blz_store *store, const uint8_t digest[BLZ_STORE_DIGEST_LEN]);

/* Reads the chunk named digest into buf, which has room for len bytes: len must be the
 * chunk's uncompressed length (the caller knows it from the map). Returns 0 with buf holding
 * exactly the len bytes whose SHA-256 is digest; -ENOENT if the chunk is not in the store;
 * -EBADMSG if the chunk file is corrupt, truncated, has trailing bytes, has a different
 * length than len or does not hash to digest; -EINVAL if len > BLZ_STORE_MAX_CHUNK (no chunk
 * can have that length); other -errno for I/O errors (e.g. -EIO). On any failure
 * the contents of buf are unspecified (possibly partly written) and must not be used. */
int blz_store_get(struct blz_store *store, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		  void *buf, size_t len);

/* Returns 1 if a chunk file named digest exists, 0 if not, or -errno. It does not verify the
 * file (only get does). */
int blz_store_has(struct blz_store *store, const uint8_t digest[BLZ_STORE_DIGEST_LEN]);

/* Writes "DIR/xx/<hex>" (the path of the chunk's file, whether it exists or not) to out, for
 * messages such as "chunk <path> is corrupt". Returns 0, or -ENAMETOOLONG if it does not fit
 * in size bytes (including the NUL). */
int blz_store_path(struct blz_store *store, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		   char *out, size_t size);

/* A short description of why the last failing store call in this thread failed (e.g.
 * "header crc mismatch", "digest mismatch"), for log lines; "" if none. Thread-local; valid
 * until the next store call in the same thread. */
const char *blz_store_error(void);

/* The header codec, exposed for tests and for other readers of chunk files. */
struct blz_chunk_header {
	uint16_t version;
	uint16_t codec;
	uint32_t length;		/* uncompressed */
	uint32_t stored_length;		/* payload */
	uint8_t digest[BLZ_STORE_DIGEST_LEN];
};

/* Writes the 56-byte header for h (magic, fields, crc) to out. */
void blz_chunk_encode_header(const struct blz_chunk_header *h, uint8_t out[BLZ_CHUNK_HEADER_LEN]);
/* Decodes and validates a header: -EBADMSG on a wrong magic or crc, an unknown version or
 * codec, a length above BLZ_STORE_MAX_CHUNK, or a stored length that the codec cannot
 * produce (raw: must equal length; zstd: at most the zstd bound of length). */
int blz_chunk_decode_header(const uint8_t in[BLZ_CHUNK_HEADER_LEN], struct blz_chunk_header *ret);

/* Verifies and decodes a whole chunk file image held in memory (header + payload, as read
 * from a store or fetched from elsewhere) into buf exactly as blz_store_get does, with the
 * same return values (except -ENOENT). */
int blz_chunk_decode(const void *file, size_t file_len, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		     void *buf, size_t len);

#endif
