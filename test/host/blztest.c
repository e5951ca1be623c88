/* blztest: a test-only front-end to lib/mount (loop devices, btrfs ioctls, mounts) plus a few
 * file helpers for building test trees. Never shipped. Errors: "blztest: error: ..." and
 * exit 1; misuse: a usage line and exit 2. */
#include "btrfs/inspect.h"
#include "map/map.h"
#include "mount/btrfs_ioctl.h"
#include "store/store.h"
#include "mount/loop.h"
#include "orch/fetched.h"
#include "orch/orchestrate.h"
#include "seedset/seedset.h"
#include "tar/inflate.h"
#include "util/fileio.h"
#include "util/size.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define UNUSED __attribute__((unused))

static int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "blztest: error: <msg>: <strerror(-err)>" (err may be 0) and return 1. */
static int fail(int err, const char *fmt, ...)
{
	va_list ap;
	fputs("blztest: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err < 0 ? -err : err));
	fputc('\n', stderr);
	return 1;
}

static int parse_u64(const char *s, const char *what, uint64_t *ret)
{
	int r = blz_parse_size(s, ret);
	if (r < 0)
		return fail(r, "invalid %s '%s'", what, s);
	return 0;
}

static int cmd_loop_attach(int argc, char **argv)
{
	const char *file = NULL;
	unsigned flags = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ro"))
			flags |= BLZ_LOOP_RDONLY;
		else if (!strcmp(argv[i], "--direct-io"))
			flags |= BLZ_LOOP_DIRECT_IO;
		else if (!file && argv[i][0] != '-')
			file = argv[i];
		else
			return fail(0, "unexpected argument '%s'", argv[i]);
	}
	if (!file)
		return fail(0, "loop-attach needs a FILE");
	char *dev;
	int r = blz_loop_attach(file, flags, &dev, NULL);
	if (r < 0)
		return fail(r, "cannot attach '%s' to a loop device", file);
	printf("%s\n", dev);
	free(dev);
	return 0;
}

static int cmd_loop_detach(int argc UNUSED, char **argv)
{
	int r = blz_loop_detach(argv[1]);
	if (r < 0)
		return fail(r, "cannot detach '%s'", argv[1]);
	return 0;
}

static int cmd_loop_find(int argc UNUSED, char **argv)
{
	char *dev;
	int r = blz_loop_find(argv[1], &dev);
	if (r == -ENOENT)
		return fail(0, "no loop device is backed by '%s'", argv[1]);
	if (r < 0)
		return fail(r, "cannot look for the loop device of '%s'", argv[1]);
	printf("%s\n", dev);
	free(dev);
	return 0;
}

static int cmd_mount_ro(int argc UNUSED, char **argv)
{
	int r = blz_mount_btrfs(argv[1], argv[2], MS_RDONLY, NULL);
	if (r < 0)
		return fail(r, "cannot mount '%s' read-only on '%s'", argv[1], argv[2]);
	return 0;
}

static int cmd_mount(int argc, char **argv)
{
	const char *pos[3] = { 0 };
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--device")) {
			if (++i >= argc)
				return fail(0, "--device needs a DEV");
			continue;
		}
		if (npos >= 3)
			return fail(0, "unexpected argument '%s'", argv[i]);
		pos[npos++] = argv[i];
	}
	if (npos != 3)
		return fail(0, "mount needs DEV MNT OPTS");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--device"))
			continue;
		int r = blz_btrfs_scan_dev(argv[++i]);
		if (r < 0)
			return fail(r, "cannot register '%s' with btrfs", argv[i]);
	}
	int r = blz_mount_btrfs(pos[0], pos[1], 0, *pos[2] ? pos[2] : NULL);
	if (r < 0)
		return fail(r, "cannot mount '%s' on '%s' with '%s'", pos[0], pos[1], pos[2]);
	return 0;
}

static int cmd_remount(int argc UNUSED, char **argv)
{
	int r = blz_remount(argv[1], 0, *argv[2] ? argv[2] : NULL);
	if (r < 0)
		return fail(r, "cannot remount '%s' with '%s'", argv[1], argv[2]);
	return 0;
}

static int cmd_add_dev(int argc UNUSED, char **argv)
{
	_cleanup_close_ int fd = open(argv[2], O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, "cannot open '%s'", argv[2]);
	int r = blz_wipe_signatures(fd);
	if (r < 0)
		return fail(r, "cannot wipe '%s'", argv[2]);
	close(fd);
	fd = -1;
	r = blz_btrfs_add_dev(argv[1], argv[2]);
	if (r < 0)
		return fail(r, "cannot add '%s' to '%s'", argv[2], argv[1]);
	return 0;
}

static int cmd_scan_dev(int argc UNUSED, char **argv)
{
	int r = blz_btrfs_scan_dev(argv[1]);
	if (r < 0)
		return fail(r, "cannot register '%s' with btrfs", argv[1]);
	return 0;
}

static int cmd_forget_dev(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : NULL;
	int r = blz_btrfs_forget_dev(dev);
	if (r < 0)
		return fail(r, "cannot forget '%s'", dev ? dev : "(all unmounted devices)");
	return 0;
}

static int cmd_umount(int argc, char **argv)
{
	int flags = 0;
	const char *mnt = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--lazy"))
			flags |= MNT_DETACH;
		else if (!mnt)
			mnt = argv[i];
		else
			return fail(0, "unexpected argument '%s'", argv[i]);
	}
	if (!mnt)
		return fail(0, "umount needs MNT");
	int r = blz_umount(mnt, flags);
	if (r < 0)
		return fail(r, "cannot unmount '%s'", mnt);
	return 0;
}

static int cmd_clone(int argc UNUSED, char **argv)
{
	uint64_t src_off, len, dst_off;
	if (parse_u64(argv[2], "source offset", &src_off) || parse_u64(argv[3], "length", &len) ||
	    parse_u64(argv[5], "destination offset", &dst_off))
		return 1;
	_cleanup_close_ int src = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return fail(-errno, "cannot open '%s'", argv[1]);
	_cleanup_close_ int dst = open(argv[4], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (dst < 0)
		return fail(-errno, "cannot open '%s'", argv[4]);
	int r = blz_clone_range(src, src_off, len, dst, dst_off);
	if (r < 0)
		return fail(r, "cannot clone '%s' [%" PRIu64 ", +%" PRIu64 ") to '%s' at %" PRIu64,
			    argv[1], src_off, len, argv[4], dst_off);
	return 0;
}

static int cmd_fiemap(int argc UNUSED, char **argv)
{
	_cleanup_close_ int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, "cannot open '%s'", argv[1]);
	struct blz_extent *ext = NULL;
	size_t n = 0;
	int r = blz_fiemap(fd, &ext, &n);
	if (r < 0)
		return fail(r, "cannot map the extents of '%s'", argv[1]);
	for (size_t i = 0; i < n; i++)
		printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu32 "\n", ext[i].logical,
		       ext[i].physical, ext[i].length, ext[i].flags);
	free(ext);
	return 0;
}

static int cmd_chunks(int argc UNUSED, char **argv)
{
	_cleanup_close_ int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, "cannot open '%s'", argv[1]);
	struct blz_chunk *c = NULL;
	size_t n = 0;
	int r = blz_btrfs_list_chunks(fd, &c, &n);
	if (r < 0)
		return fail(r, "cannot list the chunks of '%s'", argv[1]);
	for (size_t i = 0; i < n; i++)
		printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", c[i].logical, c[i].length,
		       c[i].type, c[i].physical);
	free(c);
	return 0;
}

static int read_whole(const char *path, struct blz_buf *b)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		uint8_t *p = blz_buf_grow(b, 65536);
		ssize_t n = blz_read_full(fd, p, 65536);
		if (n < 0)
			return (int)n;
		b->len -= 65536 - (size_t)n;
		if (n < 65536)
			return 0;
	}
}

static int cmd_pwrite(int argc UNUSED, char **argv)
{
	uint64_t off;
	if (parse_u64(argv[2], "offset", &off))
		return 1;
	struct blz_buf data = { 0 };
	const char *arg = argv[3];
	if (arg[0] == '@') {
		int r = read_whole(arg + 1, &data);
		if (r < 0) {
			blz_buf_release(&data);
			return fail(r, "cannot read '%s'", arg + 1);
		}
	} else {
		blz_buf_append(&data, arg, strlen(arg));
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		blz_buf_release(&data);
		return fail(-errno, "cannot open '%s'", argv[1]);
	}
	int r = blz_pwrite_full(fd, data.data, data.len, off);
	blz_buf_release(&data);
	if (r == 0 && close(fd) < 0)
		r = -errno;
	else if (r < 0)
		close(fd);
	if (r < 0)
		return fail(r, "cannot write to '%s'", argv[1]);
	return 0;
}

static int cmd_mksock(int argc UNUSED, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(argv[1]) >= sizeof(sa.sun_path))
		return fail(-ENAMETOOLONG, "cannot bind '%s'", argv[1]);
	strcpy(sa.sun_path, argv[1]);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(-errno, "cannot create a socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail(-errno, "cannot bind '%s'", argv[1]);
	return 0;
}

/* splitmix64: a fixed, seedable byte stream for reproducible test files. */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Compares two possibly sparse files without reading their holes: exit 0 equal, 1 differ. */
static int cmd_cmp(int argc UNUSED, char **argv)
{
	int a = open(argv[1], O_RDONLY | O_CLOEXEC), b = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (a < 0 || b < 0)
		return fail(-errno, "cannot open '%s'", a < 0 ? argv[1] : argv[2]);
	struct stat sa, sb;
	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return fail(-errno, "cannot stat");
	if (sa.st_size != sb.st_size) {
		printf("sizes differ: %lld != %lld\n", (long long)sa.st_size, (long long)sb.st_size);
		return 1;
	}
	static char x[1 << 20], y[1 << 20];
	off_t pos = 0, end = sa.st_size;
	while (pos < end) {
		/* The next offset where either file has data; both read as zeros before it. */
		off_t da = lseek(a, pos, SEEK_DATA), db = lseek(b, pos, SEEK_DATA);
		if (da < 0)
			da = end;
		if (db < 0)
			db = end;
		off_t next = da < db ? da : db;
		if (next >= end)
			break;
		size_t n = (size_t)(end - next < (off_t)sizeof(x) ? end - next : (off_t)sizeof(x));
		if (pread(a, x, n, next) != (ssize_t)n || pread(b, y, n, next) != (ssize_t)n)
			return fail(-EIO, "read error at %lld", (long long)next);
		if (memcmp(x, y, n)) {
			size_t i = 0;
			while (x[i] == y[i])
				i++;
			printf("differ at byte %lld\n", (long long)next + (long long)i);
			return 1;
		}
		pos = next + (off_t)n;
	}
	return 0;
}

/* Writes every mapped range of SEED's lazy areas (SEED.map over SEED.store) into DEVFILE at
 * its device offset: a stand-in for the lazy server, so the host kernel can read a --lazy
 * seed (and verify its data checksums). */
static int cmd_materialize(int argc UNUSED, char **argv)
{
	const char *seed = argv[1], *dev = argv[2];
	char map_path[4096], store_path[4096], err[768];
	int r = blz_seedset_paths(seed, NULL, NULL, map_path, sizeof(map_path), store_path,
				  sizeof(store_path));
	if (r < 0)
		return fail(r, "'%s'", seed);
	/* The seed set's read mode would create a missing map or store: this wants them. */
	struct stat st;
	if (stat(map_path, &st) < 0 || stat(store_path, &st) < 0)
		return fail(-errno, "'%s' or '%s'", map_path, store_path);
	struct blz_seedset_opts so = { .seed = seed };
	struct blz_seedset *set;
	r = blz_seedset_open(&so, &set, err, sizeof(err));
	if (r < 0)
		return fail(r, "%s", err);
	const struct blz_seedset_layout *in = blz_seedset_layout(set);
	struct blz_map *map = blz_seedset_map(set);
	struct blz_store *store = blz_seedset_store(set);
	int dfd = open(dev, O_WRONLY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		blz_seedset_close(set);
		return fail(r, "cannot open '%s'", dev);
	}
	static uint8_t buf[BLZ_STORE_MAX_CHUNK];
	uint64_t written = 0, nrec = 0;
	struct { uint64_t off, size; } areas[2] = { { in->import_off, in->import_size },
						    { in->virtual_off, in->virtual_size } };
	for (int a = 0; a < 2 && r >= 0; a++) {
		uint64_t off = areas[a].off, end = areas[a].off + areas[a].size;
		while (off < end && r >= 0) {
			struct blz_map_seg segs[64];
			size_t n = 0;
			r = blz_map_lookup(map, off, end - off, segs, 64, &n);
			if (r < 0 || n == 0)
				break;
			for (size_t i = 0; i < n && r >= 0; i++) {
				off = segs[i].off + segs[i].len;
				if (!segs[i].mapped || segs[i].rec_off)
					continue;
				const struct blz_map_rec *rec = &segs[i].rec;
				r = blz_store_get(store, rec->digest, buf, rec->data_len);
				if (r < 0)
					fail(r, "chunk for %llu", (unsigned long long)rec->off);
				else
					r = blz_pwrite_full(dfd, buf, rec->data_len, rec->off);
				written += rec->data_len;
				nrec++;
			}
		}
	}
	close(dfd);
	blz_seedset_close(set);
	if (r < 0)
		return fail(r, "materialize failed");
	printf("%llu records, %llu bytes\n", (unsigned long long)nrec, (unsigned long long)written);
	return 0;
}

static int cmd_gen(int argc UNUSED, char **argv)
{
	uint64_t seed, size;
	if (parse_u64(argv[1], "seed", &seed) || parse_u64(argv[2], "size", &size))
		return 1;
	bool to_stdout = !strcmp(argv[3], "-");
	_cleanup_close_ int fd = to_stdout ? -1 :
		open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (!to_stdout && fd < 0)
		return fail(-errno, "cannot create '%s'", argv[3]);
	enum { BUF = 1 << 20 };
	uint8_t *buf = blz_xmalloc(BUF);
	uint64_t state = seed;
	int r = 0;
	while (size && r == 0) {
		size_t n = size < BUF ? (size_t)size : BUF;
		for (size_t i = 0; i < n; i += 8) {
			uint64_t v = splitmix64(&state);
			for (size_t j = 0; j < 8 && i + j < n; j++)
				buf[i + j] = (uint8_t)(v >> (8 * j));
		}
		r = blz_write_full(to_stdout ? STDOUT_FILENO : fd, buf, n);
		size -= n;
	}
	free(buf);
	if (r < 0)
		return fail(r, "cannot write '%s'", argv[3]);
	return 0;
}

/* gunzip IN|- OUT|-: lib/tar's gzip decoder alone, for tests and bench/gunzip. */
static int cmd_gunzip(int argc UNUSED, char **argv)
{
	_cleanup_close_ int ifd = strcmp(argv[1], "-") ? open(argv[1], O_RDONLY | O_CLOEXEC) : -1;
	_cleanup_close_ int ofd = strcmp(argv[2], "-") ?
		open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	if (strcmp(argv[1], "-") && ifd < 0)
		return fail(-errno, "cannot open '%s'", argv[1]);
	if (strcmp(argv[2], "-") && ofd < 0)
		return fail(-errno, "cannot create '%s'", argv[2]);
	enum { BUF = 128 << 10 };
	uint8_t *buf = blz_xmalloc(BUF);
	struct blz_inflate *z = blz_inflate_new();
	int r = 0;
	for (;;) {
		ssize_t n = blz_read_full(ifd < 0 ? STDIN_FILENO : ifd, buf, BUF);
		if (n < 0) {
			r = fail((int)n, "cannot read the input");
			break;
		}
		const uint8_t *in = buf, *out;
		size_t left = (size_t)n, olen;
		do {
			r = blz_inflate_run(z, &in, &left, &out, &olen);
			if (r < 0)
				break;
			r = blz_write_full(ofd < 0 ? STDOUT_FILENO : ofd, out, olen);
			if (r < 0)
				break;
		} while (left || olen);
		if (r == -EBADMSG) {
			r = fail(r, "corrupt gzip stream: %s at compressed offset %llu",
				 blz_inflate_error(z), (unsigned long long)blz_inflate_in_offset(z));
			break;
		}
		if (r < 0) {
			r = fail(r, "cannot write the output");
			break;
		}
		if (n == 0) {
			if (!blz_inflate_done(z))
				r = fail(-EIO, "gzip stream truncated");
			break;
		}
	}
	blz_inflate_free(z);
	free(buf);
	return r;
}

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	int min_args, max_args; /* operands after the name; -1 = any */
	const char *args, *help;
};

/* Resolves a "fetches" reply (read from FILE) to the files of the filesystem at MNT. */
static int cmd_fetched(int argc UNUSED, char **argv)
{
	struct blz_buf text = { 0 };
	int r = read_whole(argv[2], &text);
	if (r < 0)
		return fail(r, "cannot read '%s'", argv[2]);
	blz_buf_append(&text, "", 1);
	struct blz_fetch_list l;
	char err[512];
	r = blz_fetch_parse((char *)text.data, &l, err, sizeof(err));
	blz_buf_release(&text);
	if (r < 0)
		return fail(0, "'%s': %s", argv[2], err);
	struct blz_fetched f;
	r = blz_fetched_resolve(argv[1], &l, &f, err, sizeof(err));
	blz_fetch_list_release(&l);
	if (r < 0)
		return fail(0, "%s", err);
	for (size_t i = 0; i < f.nfiles; i++) {
		const struct blz_fetched_file *x = &f.files[i];
		printf("file %" PRIu64 " %" PRIu64 " touched=%" PRIu64 " bytes=%" PRIu64 " lazy=%" PRIu64
		       " reads=%" PRIu64 " store=%" PRIu64 " paths=", x->root, x->ino, x->touched,
		       x->bytes, x->lazy_bytes, x->reads, x->store);
		for (size_t k = 0; k < x->npaths; k++)
			printf("%s%s", k ? "|" : "", x->paths[k]);
		printf("\n");
	}
	printf("totals touched=%" PRIu64 " outside=%" PRIu64 " not_data=%" PRIu64 " queries=%" PRIu64
	       " missed=%" PRIu64 "\n", f.touched, f.outside, f.not_data, f.queries, f.refs_missed);
	struct blz_buf t = { 0 };
	size_t written, skipped, unnamed;
	blz_fetched_trace(&f, &t, &written, &skipped, &unnamed);
	printf("trace written=%zu skipped=%zu unnamed=%zu\n", written, skipped, unnamed);
	fwrite(t.data, 1, t.len, stdout);
	blz_buf_release(&t);
	blz_fetched_release(&f);
	return 0;
}

/* What blazy mount would find on BACKING for SEED: "blank", "sprout FSID", or the refusal. */
static int cmd_backing(int argc UNUSED, char **argv)
{
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, "cannot open '%s'", argv[1]);
	struct blz_seed_info si;
	char err[1024], fsid[33];
	int r = blz_seed_inspect(fd, &si, err, sizeof(err));
	close(fd);
	if (r < 0)
		return fail(0, "'%s': %s", argv[1], err);
	r = blz_orch_backing_check(argv[2], argv[1], &si, NULL, fsid, err, sizeof(err));
	blz_seed_info_release(&si);
	if (r < 0)
		return fail(0, "%s", err);
	if (r == BLZ_BACKING_SPROUT)
		printf("sprout %s\n", fsid);
	else
		printf("blank\n");
	return 0;
}

static const struct command commands[] = {
	{ "loop-attach", cmd_loop_attach, 1, 3, "FILE [--ro] [--direct-io]", "attach FILE, print /dev/loopN" },
	{ "loop-detach", cmd_loop_detach, 1, 1, "DEV", "detach a loop device" },
	{ "loop-find", cmd_loop_find, 1, 1, "FILE", "print the loop device backed by FILE" },
	{ "mount-ro", cmd_mount_ro, 2, 2, "DEV MNT", "mount btrfs read-only" },
	{ "mount", cmd_mount, 3, -1, "DEV MNT OPTS [--device DEV2]...", "register DEV2..., then mount ('' = no options)" },
	{ "remount", cmd_remount, 2, 2, "MNT OPTS", "remount (MS_REMOUNT without MS_RDONLY)" },
	{ "add-dev", cmd_add_dev, 2, 2, "MNT DEV", "wipe DEV's signatures, then BTRFS_IOC_ADD_DEV" },
	{ "scan-dev", cmd_scan_dev, 1, 1, "DEV", "BTRFS_IOC_SCAN_DEV" },
	{ "forget-dev", cmd_forget_dev, 0, 1, "[DEV]", "BTRFS_IOC_FORGET_DEV (no DEV: all unmounted)" },
	{ "umount", cmd_umount, 1, 2, "MNT [--lazy]", "unmount (--lazy: MNT_DETACH)" },
	{ "clone", cmd_clone, 5, 5, "SRC SRC_OFF LEN DST DST_OFF", "FICLONERANGE (LEN 0 = to EOF; DST created)" },
	{ "fiemap", cmd_fiemap, 1, 1, "FILE", "print 'file_off physical length flags' per extent" },
	{ "chunks", cmd_chunks, 1, 1, "MNT", "print 'logical length type physical' per chunk" },
	{ "backing", cmd_backing, 2, 2, "SEED BACKING", "what blazy mount finds on BACKING: blank, sprout FSID, or why it refuses" },
	{ "fetched", cmd_fetched, 2, 2, "MNT FETCHES", "resolve a 'fetches' reply to files" },
	{ "pwrite", cmd_pwrite, 3, 3, "FILE OFF STRING|@SRCFILE", "write at OFF without truncating" },
	{ "mksock", cmd_mksock, 1, 1, "PATH", "create a unix socket file" },
	{ "cmp", cmd_cmp, 2, 2, "A B", "compare two sparse files (holes read as zeros); exit 1 if they differ" },
	{ "materialize", cmd_materialize, 2, 2, "SEED DEVFILE", "write SEED.map's chunks from SEED.store into DEVFILE at their offsets" },
	{ "gen", cmd_gen, 3, 3, "SEED SIZE FILE|-", "write SIZE reproducible pseudo-random bytes" },
	{ "gunzip", cmd_gunzip, 2, 2, "IN|- OUT|-", "decompress gzip with lib/tar's decoder" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: blztest COMMAND ARGS...\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-11s %-32s %s\n", commands[i].name, commands[i].args, commands[i].help);
	fprintf(f, "Offsets and sizes are decimal with an optional K, M, G, T, P or E suffix.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *c = &commands[i];
		if (strcmp(argv[1], c->name))
			continue;
		int n = argc - 2;
		if (n < c->min_args || (c->max_args >= 0 && n > c->max_args)) {
			fprintf(stderr, "usage: blztest %s %s\n", c->name, c->args);
			return 2;
		}
		int r = c->fn(argc - 1, argv + 1);
		if (fflush(stdout) != 0 && r == 0)
			return fail(-errno, "cannot write the output");
		return r;
	}
	fprintf(stderr, "blztest: error: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
