/* randops: a seeded random sequence of operations on a blazy mount, checked against a model of
 * what every file must hold. For the VM tests (test/vm/tests/120-random-ops.sh, the reboot test).
 *
 *   randops --seed N --ops N --work DIR --mount DIR [--save] [--resume] [--no-final-umount]
 *
 * Without --resume it makes DIR/seed.img (mkseed --lazy of a few generated files), mounts it
 * on the mount point (`blazy mount SEED MNT --rw DIR/rw.img`) and runs the operations; with
 * --resume it loads the model DIR/model that an earlier run left with --save (e.g. before a
 * reboot), mounts again, verifies every file and goes on with the next operations. The last
 * step verifies every file and unmounts (unless --no-final-umount). `blazy` is run from PATH
 * with the environment given (BLAZY_STATE_DIR).
 *
 * The model is small: a file's bytes are a function of (seed, file id, generation) over a list
 * of at most MAXSEG segments, each [off, off + len) written at one generation (later segments
 * win; segment 0 is the file's first content). Operations, weighted so that the expensive ones
 * are rare: read a random range of a random file, overwrite or append a range, create a local
 * file, truncate, rename, delete, `map --clone` a new file, `map SEED FILE` + FICLONERANGE of
 * the printed range of /.blazy/virtual, fsync, drop the page cache, verify a whole file,
 * umount + mount, `blazy stop --force` of the server, kill -9 of the server.
 *
 * Output: the seed and the op count first, a summary per operation (count, milliseconds) last.
 * On a mismatch (or an error that today's behaviour does not allow) it prints the op index, the
 * file, the offset and the replay command, and exits 1. Exit 2: misuse or set-up failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXFILES 160   /* live files; creations delete one first when full */
#define MAXSEG 12      /* segments per file; a write that would need more rewrites the file */
#define NDIRS 4        /* files live in MNT/d0..d3 (seed files in MNT/s at first) */
#define CMD_TIMEOUT 180 /* seconds for one blazy command */

struct seg {
	uint64_t off, len, gen;
};

struct file {
	uint64_t id, size;
	char name[64]; /* relative to the mount point */
	int nseg;
	struct seg seg[MAXSEG];
};

static struct {
	uint64_t seed, ops, first_op, gen, next_id, rng;
	const char *work, *mnt;
	int save, resume, no_umount;
	struct file files[MAXFILES];
	int nfiles;
	uint64_t op; /* index of the running operation */
	const char *opname;
	char **argv;
	int argc;
} S;

/* ---- the model's bytes ---- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t rnd(void)
{
	S.rng = mix(S.rng);
	return S.rng;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* The bytes [off, off + len) of generation gen of file id: each 4 KiB block is an xorshift
 * stream started from a hash of (seed, id, gen, block). */
static void gen_bytes(uint64_t id, uint64_t gen, uint64_t off, uint8_t *buf, size_t len)
{
	uint64_t key = mix(S.seed ^ mix(id * 0x100000001b3ULL ^ mix(gen)));
	size_t i = 0;
	while (i < len) {
		uint64_t p = off + i, x = mix(key ^ (p >> 12)) | 1, w = 0;
		for (uint64_t k = 0; k <= ((p & 4095) >> 3); k++) { /* to p's word */
			x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
			w = x * 0x2545f4914f6cdd1dULL;
		}
		for (uint64_t q = p; i < len && (q >> 12) == (p >> 12); q++, i++) {
			if (q != p && (q & 7) == 0) {
				x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
				w = x * 0x2545f4914f6cdd1dULL;
			}
			buf[i] = (uint8_t)(w >> (8 * (q & 7)));
		}
	}
}

/* What [off, off + len) of f must hold (within its size). */
static void expect(const struct file *f, uint64_t off, uint8_t *buf, size_t len)
{
	for (int s = 0; s < f->nseg; s++) {
		const struct seg *g = &f->seg[s];
		uint64_t a = off > g->off ? off : g->off;
		uint64_t e = off + len < g->off + g->len ? off + len : g->off + g->len;
		if (a < e)
			gen_bytes(f->id, g->gen, a, buf + (a - off), (size_t)(e - a));
	}
}

/* ---- reporting ---- */

static void replay_hint(void)
{
	const char *sd = getenv("BLAZY_STATE_DIR");
	fprintf(stderr, "randops: replay (in a VM like this one):%s%s", sd ? " BLAZY_STATE_DIR=" : "",
		sd ? sd : "");
	for (int i = 0; i < S.argc; i++)
		fprintf(stderr, " %s", S.argv[i]);
	fprintf(stderr, "\n");
}

static void cleanup_mount(void);

static void __attribute__((noreturn, format(printf, 1, 2))) failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "randops: FAIL at op %" PRIu64 " (%s): ", S.op, S.opname ? S.opname : "-");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nrandops: seed %" PRIu64 ", ops %" PRIu64 "\n", S.seed, S.ops);
	replay_hint();
	cleanup_mount();
	exit(1);
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "randops: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- running blazy ---- */

/* Appends what the pipe fd holds now to out (up to outsz - 1 bytes); the rest is dropped. */
static void drain(int fd, char *out, size_t outsz, size_t *n)
{
	char tmp[4096];
	ssize_t r;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0)
		if (out && *n + 1 < outsz) {
			size_t c = (size_t)r < outsz - 1 - *n ? (size_t)r : outsz - 1 - *n;
			memcpy(out + *n, tmp, c);
			*n += c;
		}
}

/* Runs argv (NULL-terminated); its stdout goes to out (up to outsz - 1 bytes, NUL-terminated)
 * when out is given. Returns the exit status, or -1 when it did not end in CMD_TIMEOUT. */
static int run(char *out, size_t outsz, char *const *argv)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	size_t n = 0;
	uint64_t t0 = now_ms();
	int st = 0;
	for (;;) {
		drain(pfd[0], out, outsz, &n);
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		if (now_ms() - t0 > CMD_TIMEOUT * 1000ULL) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			close(pfd[0]);
			fprintf(stderr, "randops: %s %s did not end in %d s\n", argv[0], argv[1], CMD_TIMEOUT);
			return -1;
		}
		usleep(2000);
	}
	drain(pfd[0], out, outsz, &n);
	close(pfd[0]);
	if (out)
		out[n] = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *path_of(char *buf, size_t sz, const char *dir, const char *name)
{
	snprintf(buf, sz, "%s/%s", dir, name);
	return buf;
}

static char *wpath(const char *name)
{
	static char b[4][512];
	static int k;
	k = (k + 1) % 4;
	return path_of(b[k], sizeof(b[k]), S.work, name);
}

static char *mpath(const char *name)
{
	static char b[4][512];
	static int k;
	k = (k + 1) % 4;
	return path_of(b[k], sizeof(b[k]), S.mnt, name);
}

static int mounted(void)
{
	FILE *f = fopen("/proc/mounts", "r");
	char line[1024], pat[512];
	int yes = 0;
	snprintf(pat, sizeof(pat), " %s ", S.mnt);
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, pat))
			yes = 1;
	if (f)
		fclose(f);
	return yes;
}

static void do_mount(void)
{
	char *av[] = { "blazy", "mount", "-q", wpath("seed.img"), (char *)S.mnt, "--rw",
		       wpath("rw.img"), "--rw-size", "2G", NULL };
	int rc = run(NULL, 0, av);
	if (rc != 0)
		failf("blazy mount exited %d", rc);
}

static void do_umount(void)
{
	char *av[] = { "blazy", "umount", (char *)S.mnt, NULL };
	int rc = run(NULL, 0, av);
	if (rc != 0)
		failf("blazy umount exited %d", rc);
	if (mounted())
		failf("the mount is still there after blazy umount");
}

static void cleanup_mount(void)
{
	if (!S.mnt || !mounted())
		return;
	char *av[] = { "blazy", "umount", (char *)S.mnt, NULL };
	run(NULL, 0, av);
}

/* The server of the mount: the value of KEY= in the mount's state file, under BLAZY_STATE_DIR,
 * named after the mount point as lib/orch/state.c does (MNT's '/' as '-', the first dropped;
 * main() accepts only mount points of letters, digits, '.', '_' and '/'). */
static int state_value(const char *key, char *out, size_t outsz)
{
	const char *dir = getenv("BLAZY_STATE_DIR");
	char p[1024], line[512];
	int n = snprintf(p, sizeof(p), "%s/%s.state", dir ? dir : "/var/lib/blazy/mounts", S.mnt + 1);
	for (char *c = p + n - 6 - strlen(S.mnt + 1); *c; c++)
		if (*c == '/')
			*c = '-';
	FILE *f = fopen(p, "r");
	size_t kl = strlen(key);
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == '=') {
			line[strcspn(line, "\n")] = 0;
			snprintf(out, outsz, "%s", line + kl + 1);
			found = 1;
		}
	if (f)
		fclose(f);
	return found ? 0 : -ENOENT;
}

/* ---- the model's files ---- */

static struct file *pick(void)
{
	return S.nfiles ? &S.files[below((uint64_t)S.nfiles)] : NULL;
}

static uint64_t rand_size(void)
{
	uint64_t r = below(100);
	if (r < 5)
		return below(2);
	if (r < 35)
		return below(16384);
	if (r < 95)
		return below(262144);
	return below(1 << 20) + 1;
}

static void remove_model(struct file *f)
{
	*f = S.files[--S.nfiles];
}

static void unlink_or_fail(struct file *f)
{
	if (unlink(mpath(f->name)) < 0)
		failf("unlink %s: %s", f->name, strerror(errno));
	remove_model(f);
}

static struct file *new_file(uint64_t size)
{
	if (S.nfiles == MAXFILES)
		unlink_or_fail(pick());
	struct file *f = &S.files[S.nfiles++];
	memset(f, 0, sizeof(*f));
	f->id = S.next_id++;
	f->size = size;
	snprintf(f->name, sizeof(f->name), "d%d/f%" PRIu64, (int)below(NDIRS), f->id);
	f->nseg = 1;
	f->seg[0] = (struct seg){ 0, size, S.gen++ };
	return f;
}

/* Two buffers of at least len bytes (the model's bytes and the bytes read). */
static uint8_t *buf_a, *buf_b;
static void ensure_scratch(size_t len)
{
	static size_t cap;
	if (len <= cap)
		return;
	cap = len;
	if (!(buf_a = realloc(buf_a, cap)) || !(buf_b = realloc(buf_b, cap)))
		die("out of memory");
}

static uint8_t *scratch(size_t len)
{
	ensure_scratch(len);
	return buf_a;
}

/* Writes file f's model content to path (a new file). */
static void write_model(const struct file *f, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		failf("create %s: %s", path, strerror(errno));
	for (uint64_t o = 0; o < f->size;) {
		size_t n = f->size - o < (1 << 20) ? (size_t)(f->size - o) : (1 << 20);
		uint8_t *b = scratch(n);
		expect(f, o, b, n);
		if (pwrite(fd, b, n, (off_t)o) != (ssize_t)n)
			failf("write %s: %s", path, strerror(errno));
		o += n;
	}
	if (close(fd) < 0)
		failf("close %s: %s", path, strerror(errno));
}

/* Reads [off, off + len) of f and compares it with the model. With lost set (the server is
 * gone), EIO is an allowed answer; a wrong byte never is. Returns 0, or -EIO when allowed. */
static int check_range(const struct file *f, uint64_t off, size_t len, int lost)
{
	int fd = open(mpath(f->name), O_RDONLY);
	if (fd < 0) {
		if (lost && errno == EIO)
			return -EIO;
		failf("open %s: %s", f->name, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != f->size)
		failf("%s (id %" PRIu64 "): size %lld, the model says %" PRIu64, f->name, f->id,
		      (long long)st.st_size, f->size);
	if (off > f->size)
		off = f->size;
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	uint8_t *want = scratch(len + 1), *got = buf_b;
	expect(f, off, want, len);
	size_t n = 0;
	while (n < len) {
		ssize_t r = pread(fd, got + n, len - n, (off_t)(off + n));
		if (r < 0 && lost && errno == EIO) {
			close(fd);
			return -EIO;
		}
		if (r < 0)
			failf("read %s (id %" PRIu64 ") at offset %" PRIu64 ": %s", f->name, f->id,
			      off + n, strerror(errno));
		if (r == 0)
			failf("read %s (id %" PRIu64 ") at offset %" PRIu64 ": early end of file",
			      f->name, f->id, off + n);
		n += (size_t)r;
	}
	close(fd);
	if (memcmp(want, got, len)) {
		size_t i = 0;
		while (want[i] == got[i])
			i++;
		failf("%s (id %" PRIu64 ") at offset %" PRIu64 ": byte 0x%02x, the model says 0x%02x",
		      f->name, f->id, off + i, got[i], want[i]);
	}
	return 0;
}

static void verify_all(void)
{
	for (int i = 0; i < S.nfiles; i++)
		check_range(&S.files[i], 0, (size_t)S.files[i].size, 0);
}

/* ---- operations ---- */

static void op_read(void)
{
	struct file *f = pick();
	if (!f)
		return;
	uint64_t off = below(f->size + 1), len = below(below(8) ? 65536 : 1 << 20);
	ensure_scratch((size_t)len + 1);
	check_range(f, off, (size_t)len, 0);
}

static void op_verify(void)
{
	struct file *f = pick();
	if (!f)
		return;
	ensure_scratch((size_t)f->size + 1);
	check_range(f, 0, (size_t)f->size, 0);
}

/* Overwrites or appends [off, off + len) at a new generation (no holes: off <= size). */
static void op_write(void)
{
	struct file *f = pick();
	if (!f)
		return;
	uint64_t off = below(4) ? below(f->size + 1) : f->size, len = below(131072) + 1;
	if (f->nseg == MAXSEG) { /* rewrite it all: one segment */
		off = 0;
		len = f->size ? f->size : 1;
		f->nseg = 0;
	}
	uint64_t gen = S.gen++;
	ensure_scratch((size_t)len);
	uint8_t *b = scratch((size_t)len);
	gen_bytes(f->id, gen, off, b, (size_t)len);
	int fd = open(mpath(f->name), O_WRONLY);
	if (fd < 0 || pwrite(fd, b, (size_t)len, (off_t)off) != (ssize_t)len || close(fd) < 0)
		failf("write %s at %" PRIu64 " (%" PRIu64 " bytes): %s", f->name, off, len,
		      strerror(errno));
	f->seg[f->nseg++] = (struct seg){ off, len, gen };
	if (off + len > f->size)
		f->size = off + len;
}

static void op_truncate(void)
{
	struct file *f = pick();
	if (!f)
		return;
	uint64_t size = below(f->size + 1);
	if (truncate(mpath(f->name), (off_t)size) < 0)
		failf("truncate %s to %" PRIu64 ": %s", f->name, size, strerror(errno));
	f->size = size;
	int k = 0;
	for (int s = 0; s < f->nseg; s++) {
		struct seg g = f->seg[s];
		if (g.off >= size)
			continue;
		if (g.off + g.len > size)
			g.len = size - g.off;
		f->seg[k++] = g;
	}
	f->nseg = k;
}

static void op_create(void)
{
	struct file *f = new_file(rand_size());
	write_model(f, mpath(f->name));
}

static void op_rename(void)
{
	struct file *f = pick();
	if (!f)
		return;
	char name[64];
	snprintf(name, sizeof(name), "d%d/f%" PRIu64 "r%" PRIu64, (int)below(NDIRS), f->id, S.op);
	if (rename(mpath(f->name), mpath(name)) < 0)
		failf("rename %s to %s: %s", f->name, name, strerror(errno));
	snprintf(f->name, sizeof(f->name), "%s", name);
}

static void op_delete(void)
{
	struct file *f = pick();
	if (f)
		unlink_or_fail(f);
}

/* A new file made of mapped bytes: `blazy map --clone`, or (plain) `blazy map SEED FILE` and a
 * FICLONERANGE of the printed range of /.blazy/virtual. */
static void map_new(int plain)
{
	struct file *f = new_file(rand_size());
	char *src = wpath("mapsrc");
	write_model(f, src);
	char out[1024];
	if (!plain) {
		char *av[] = { "blazy", "map", "--clone", mpath(f->name), src, NULL };
		int rc = run(out, sizeof(out), av);
		if (rc != 0)
			failf("blazy map --clone %s exited %d", f->name, rc);
	} else {
		char *av[] = { "blazy", "map", wpath("seed.img"), src, NULL };
		int rc = run(out, sizeof(out), av);
		unsigned long long off, len;
		char *p = strstr(out, ": offset ");
		if (rc != 0 || !p || sscanf(p, ": offset %llu length %llu", &off, &len) != 2)
			failf("blazy map %s exited %d: '%s'", f->name, rc, out);
		if (len != f->size)
			failf("blazy map printed length %llu for %" PRIu64 " bytes", len, f->size);
		int s = open(mpath(".blazy/virtual"), O_RDONLY);
		int d = open(mpath(f->name), O_WRONLY | O_CREAT | O_EXCL, 0644);
		struct file_clone_range a = { .src_fd = s, .src_offset = off,
					      .src_length = (len + 4095) & ~4095ULL };
		if (s < 0 || d < 0 || (len && ioctl(d, FICLONERANGE, &a) < 0) ||
		    ftruncate(d, (off_t)len) < 0)
			failf("clone of [%llu, +%llu) into %s: %s", off, len, f->name, strerror(errno));
		close(s);
		close(d);
	}
	unlink(src);
}

static void op_map_clone(void)
{
	map_new(0);
}

static void op_map_plain(void)
{
	map_new(1);
}

static void op_fsync(void)
{
	sync();
}

static void op_drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "3\n", 2) < 0)
			fprintf(stderr, "randops: drop_caches: %s\n", strerror(errno));
		close(fd);
	}
}

static void op_remount(void)
{
	do_umount();
	do_mount();
}

/* After the server went away under a mount (kill -9, stop --force). Today's behaviour: a read
 * that needs the server fails with EIO (never wrong bytes, never a hang) and the way back is
 * blazy umount + blazy mount. The one place to change when the server comes back by itself. */
static void after_server_loss(void)
{
	op_drop_caches();
	struct file *f = pick();
	if (f) {
		ensure_scratch((size_t)f->size + 1);
		int r = check_range(f, 0, (size_t)f->size, 1);
		printf("randops: op %" PRIu64 ": read of %s with the server gone: %s\n", S.op,
		       f->name, r ? "EIO" : "ok (cached or local)");
	}
	op_remount();
	f = pick();
	if (f) {
		ensure_scratch((size_t)f->size + 1);
		check_range(f, 0, (size_t)f->size, 0);
	}
}

static pid_t server_pid(void)
{
	char v[64];
	if (state_value("server_pid", v, sizeof(v)) < 0)
		failf("no server_pid in the mount's state");
	return (pid_t)atoi(v);
}

static void op_kill9(void)
{
	sync(); /* written data is on the backing; the kill loses nothing acknowledged */
	pid_t pid = server_pid();
	if (kill(pid, SIGKILL) < 0)
		failf("kill -9 %d: %s", (int)pid, strerror(errno));
	for (int i = 0; i < 1000 && kill(pid, 0) == 0; i++) {
		char p[64], st[256] = "";
		snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
		FILE *fp = fopen(p, "r");
		if (fp && fgets(st, sizeof(st), fp) && strstr(st, ") Z")) {
			fclose(fp);
			break;
		}
		if (fp)
			fclose(fp);
		usleep(10000);
	}
	after_server_loss();
}

static void op_stop_force(void)
{
	sync();
	char dev[128];
	if (state_value("ublk", dev, sizeof(dev)) < 0)
		failf("no ublk device in the mount's state");
	char *av[] = { "blazy", "stop", "--force", dev, NULL };
	int rc = run(NULL, 0, av);
	if (rc != 0)
		failf("blazy stop --force %s exited %d", dev, rc);
	after_server_loss();
}

/* Weights in 1/10000: cheap operations often, mount-level ones rarely. */
static const struct op {
	const char *name;
	void (*fn)(void);
	unsigned weight;
	uint64_t count, ms;
} ops_init[] = {
	{ .name = "read", .fn = op_read, .weight = 5870 },
	{ .name = "verify-file", .fn = op_verify, .weight = 300 },
	{ .name = "write", .fn = op_write, .weight = 1500 },
	{ .name = "create", .fn = op_create, .weight = 450 },
	{ .name = "truncate", .fn = op_truncate, .weight = 250 },
	{ .name = "rename", .fn = op_rename, .weight = 800 },
	{ .name = "delete", .fn = op_delete, .weight = 400 },
	{ .name = "map-clone", .fn = op_map_clone, .weight = 150 },
	{ .name = "map-plain", .fn = op_map_plain, .weight = 60 },
	{ .name = "sync", .fn = op_fsync, .weight = 60 },
	{ .name = "drop-caches", .fn = op_drop_caches, .weight = 150 },
	{ .name = "umount-mount", .fn = op_remount, .weight = 4 },
	{ .name = "stop-force", .fn = op_stop_force, .weight = 2 },
	{ .name = "kill-9", .fn = op_kill9, .weight = 4 },
};
#define NOPS (sizeof(ops_init) / sizeof(ops_init[0]))
static struct op ops[NOPS];

static const struct op *choose(void)
{
	unsigned total = 0;
	for (size_t i = 0; i < NOPS; i++)
		total += ops[i].weight;
	uint64_t r = below(total);
	for (size_t i = 0; i < NOPS; i++) {
		if (r < ops[i].weight)
			return &ops[i];
		r -= ops[i].weight;
	}
	return &ops[0];
}

/* ---- set-up, model file ---- */

static void setup_seed(void)
{
	char *src = wpath("src");
	mkdir(S.work, 0755);
	mkdir(src, 0755);
	char sdir[600];
	snprintf(sdir, sizeof(sdir), "%s/s", src);
	mkdir(sdir, 0755);
	for (int i = 0; i < 24; i++) {
		struct file *f = new_file(rand_size());
		snprintf(f->name, sizeof(f->name), "s/f%" PRIu64, f->id);
		char p[700];
		write_model(f, path_of(p, sizeof(p), src, f->name));
	}
	char *av[] = { "blazy", "mkseed", "-q", "--lazy", "--virtual-size", "1T", "--rootdir", src,
		       wpath("seed.img"), NULL };
	if (run(NULL, 0, av) != 0)
		die("blazy mkseed failed");
	char *rm[] = { "rm", "-rf", src, NULL };
	run(NULL, 0, rm);
	do_mount();
	for (int d = 0; d < NDIRS; d++) {
		char p[32];
		snprintf(p, sizeof(p), "d%d", d);
		if (mkdir(mpath(p), 0755) < 0)
			failf("mkdir %s: %s", p, strerror(errno));
	}
}

static void save_model(void)
{
	char *p = wpath("model"), *tmp = wpath("model.tmp");
	FILE *f = fopen(tmp, "w");
	if (!f)
		die("cannot write %s: %s", tmp, strerror(errno));
	fprintf(f, "randops-model 1 seed %" PRIu64 " done %" PRIu64 " gen %" PRIu64 " next %" PRIu64
		   " rng %" PRIu64 " files %d\n", S.seed, S.first_op + S.ops, S.gen, S.next_id,
		S.rng, S.nfiles);
	for (int i = 0; i < S.nfiles; i++) {
		struct file *x = &S.files[i];
		fprintf(f, "%" PRIu64 " %s %" PRIu64 " %d", x->id, x->name, x->size, x->nseg);
		for (int s = 0; s < x->nseg; s++)
			fprintf(f, " %" PRIu64 ":%" PRIu64 ":%" PRIu64, x->seg[s].off, x->seg[s].len,
				x->seg[s].gen);
		fprintf(f, "\n");
	}
	if (fflush(f) || fsync(fileno(f)) || fclose(f) || rename(tmp, p))
		die("cannot write %s: %s", p, strerror(errno));
}

static void load_model(void)
{
	char *p = wpath("model");
	FILE *f = fopen(p, "r");
	if (!f)
		die("cannot read %s: %s", p, strerror(errno));
	uint64_t seed;
	if (fscanf(f, "randops-model 1 seed %" SCNu64 " done %" SCNu64 " gen %" SCNu64
		      " next %" SCNu64 " rng %" SCNu64 " files %d", &seed, &S.first_op, &S.gen,
		   &S.next_id, &S.rng, &S.nfiles) != 6 || S.nfiles < 0 || S.nfiles > MAXFILES)
		die("%s: bad header", p);
	if (seed != S.seed)
		die("%s: made with seed %" PRIu64 ", not %" PRIu64, p, seed, S.seed);
	for (int i = 0; i < S.nfiles; i++) {
		struct file *x = &S.files[i];
		if (fscanf(f, "%" SCNu64 " %63s %" SCNu64 " %d", &x->id, x->name, &x->size, &x->nseg) != 4 ||
		    x->nseg < 0 || x->nseg > MAXSEG)
			die("%s: bad file line %d", p, i);
		for (int s = 0; s < x->nseg; s++)
			if (fscanf(f, " %" SCNu64 ":%" SCNu64 ":%" SCNu64, &x->seg[s].off,
				   &x->seg[s].len, &x->seg[s].gen) != 3)
				die("%s: bad segment in line %d", p, i);
	}
	fclose(f);
}

static void usage(void)
{
	fprintf(stderr, "usage: randops --seed N --ops N --work DIR --mount DIR [--save] [--resume]"
			" [--no-final-umount]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	S.argc = argc;
	S.argv = argv;
	int have_seed = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--seed") && i + 1 < argc)
			S.seed = strtoull(argv[++i], NULL, 0), have_seed = 1;
		else if (!strcmp(a, "--ops") && i + 1 < argc)
			S.ops = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(a, "--work") && i + 1 < argc)
			S.work = argv[++i];
		else if (!strcmp(a, "--mount") && i + 1 < argc)
			S.mnt = argv[++i];
		else if (!strcmp(a, "--save"))
			S.save = 1;
		else if (!strcmp(a, "--resume"))
			S.resume = 1;
		else if (!strcmp(a, "--no-final-umount"))
			S.no_umount = 1;
		else
			usage();
	}
	if (!have_seed || !S.work || !S.mnt || S.mnt[0] != '/' ||
	    strspn(S.mnt, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/") !=
		    strlen(S.mnt) || strstr(S.mnt, "//") || S.mnt[strlen(S.mnt) - 1] == '/')
		usage();
	memcpy(ops, ops_init, sizeof(ops));
	setvbuf(stdout, NULL, _IOLBF, 0);
	S.rng = mix(S.seed);
	S.gen = 1;
	S.next_id = 1;
	uint64_t t0 = now_ms();
	if (S.resume) {
		load_model();
		printf("randops: seed %" PRIu64 ", ops %" PRIu64 " (resuming after op %" PRIu64
		       ", %d files)\n", S.seed, S.ops, S.first_op, S.nfiles);
		mkdir(S.mnt, 0755);
		S.opname = "mount after resume";
		do_mount();
		S.opname = "verify after resume";
		verify_all();
	} else {
		printf("randops: seed %" PRIu64 ", ops %" PRIu64 "\n", S.seed, S.ops);
		mkdir(S.mnt, 0755);
		S.opname = "set-up";
		setup_seed();
	}
	uint64_t t1 = now_ms(), last = t1;
	for (uint64_t i = 0; i < S.ops; i++) {
		S.op = S.first_op + i;
		struct op *o = (struct op *)choose();
		S.opname = o->name;
		uint64_t a = now_ms();
		o->fn();
		uint64_t b = now_ms();
		o->count++;
		o->ms += b - a;
		if (b - last >= 30000) {
			printf("randops: %" PRIu64 " ops done, %d files, %" PRIu64 " s\n", i + 1, S.nfiles,
			       (b - t1) / 1000);
			last = b;
		}
	}
	S.op = S.first_op + S.ops;
	S.opname = "final verify";
	verify_all();
	if (S.save)
		save_model();
	if (!S.no_umount) {
		S.opname = "final umount";
		sync();
		do_umount();
	}
	for (size_t i = 0; i < NOPS; i++)
		printf("randops: %-13s %6" PRIu64 " ops %8" PRIu64 " ms\n", ops[i].name, ops[i].count,
		       ops[i].ms);
	printf("randops: seed %" PRIu64 ": %" PRIu64 " ops, %d files, 0 mismatches, %" PRIu64
	       " s (set-up %" PRIu64 " s)\n", S.seed, S.ops, S.nfiles, (now_ms() - t0) / 1000,
	       (t1 - t0) / 1000);
	return 0;
}
