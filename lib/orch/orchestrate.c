/* Mount orchestration (see orchestrate.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "orch/orchestrate.h"

#include "btrfs/inspect.h"
#include "mount/btrfs_ioctl.h"
#include "mount/loop.h"
#include "server/control.h"
#include "ublk/ublk.h"
#include "util/fileio.h"
#include "util/le.h"

#define SUPER_OFF 65536
#define SUPER_SIZE 4096
#define SB_FSID_OFF 0x20
#define SB_MAGIC_OFF 0x40
#define SB_GEN_OFF 0x48
#define SB_MAGIC 0x4D5F53665248425FULL /* "_BHRfS_M" */

/* BTRFS_IOC_FS_INFO: _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args), 1024 bytes; the fsid
 * follows max_id and num_devices. */
#define BLZ_BTRFS_IOC_FS_INFO 0x8400941fu
#define FS_INFO_FSID_OFF 16

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- state files ---- */

void blz_orch_hex_fsid(const uint8_t fsid[16], char buf[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(buf + 2 * i, 3, "%02x", fsid[i]);
}

static int put_kv(struct blz_buf *out, const char *key, const char *val)
{
	if (strchr(val, '\n'))
		return -EINVAL;
	blz_buf_append(out, key, strlen(key));
	blz_buf_append(out, "=", 1);
	blz_buf_append(out, val, strlen(val));
	blz_buf_append(out, "\n", 1);
	return 0;
}

int blz_orch_state_format(const struct blz_orch_state *s, struct blz_buf *out)
{
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)s->server_pid);
	int r = 0;
	r |= put_kv(out, "mountpoint", s->mountpoint);
	r |= put_kv(out, "seed", s->seed);
	r |= put_kv(out, "map", s->map);
	r |= put_kv(out, "store", s->store);
	r |= put_kv(out, "backing", s->backing);
	r |= put_kv(out, "seed_fsid", s->seed_fsid);
	r |= put_kv(out, "sprout_fsid", s->sprout_fsid);
	r |= put_kv(out, "boot_id", s->boot_id);
	r |= put_kv(out, "loop", s->loop);
	r |= put_kv(out, "ublk", s->ublk);
	r |= put_kv(out, "server_pid", pid);
	r |= put_kv(out, "server_owned", s->server_owned ? "1" : "0");
	r |= put_kv(out, "mounted", s->mounted ? "1" : "0");
	return r ? -EINVAL : 0;
}

static int set_str(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(dst, v, n);
	dst[n] = 0;
	return 0;
}

int blz_orch_state_parse(const char *text, size_t len, struct blz_orch_state *ret, char *err,
			 size_t errlen)
{
	memset(ret, 0, sizeof(*ret));
	size_t pos = 0;
	unsigned line = 0;
	while (pos < len) {
		line++;
		const char *l = text + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n == 0 || l[0] == '#')
			continue;
		const char *eq = memchr(l, '=', n);
		if (!eq)
			return blz_errf(err, errlen, -EINVAL, "line %u: no '='", line);
		size_t kl = (size_t)(eq - l);
		const char *v = eq + 1;
		size_t vl = n - kl - 1;
		char key[32];
		if (kl == 0 || kl >= sizeof(key))
			continue;
		memcpy(key, l, kl);
		key[kl] = 0;
		int r = 0;
#define STR(k, f) else if (!strcmp(key, k)) r = set_str(ret->f, sizeof(ret->f), v, vl)
		if (0)
			;
		STR("mountpoint", mountpoint);
		STR("seed", seed);
		STR("map", map);
		STR("store", store);
		STR("backing", backing);
		STR("seed_fsid", seed_fsid);
		STR("sprout_fsid", sprout_fsid);
		STR("boot_id", boot_id);
		STR("loop", loop);
		STR("ublk", ublk);
#undef STR
		else if (!strcmp(key, "server_pid") || !strcmp(key, "server_owned") ||
			 !strcmp(key, "mounted")) {
			char num[24];
			char *end;
			if (vl == 0 || vl >= sizeof(num))
				return blz_errf(err, errlen, -EINVAL, "line %u: bad %s", line, key);
			memcpy(num, v, vl);
			num[vl] = 0;
			errno = 0;
			long x = strtol(num, &end, 10);
			if (errno || *end || x < 0 || x > 0x7fffffff)
				return blz_errf(err, errlen, -EINVAL, "line %u: bad %s", line, key);
			if (key[0] == 'm')
				ret->mounted = x != 0;
			else if (!strcmp(key, "server_owned"))
				ret->server_owned = x != 0;
			else
				ret->server_pid = (pid_t)x;
		}
		if (r < 0)
			return blz_errf(err, errlen, r, "line %u: %s is too long", line, key);
	}
	if (!ret->mountpoint[0] || !ret->seed[0] || !ret->backing[0])
		return blz_errf(err, errlen, -EINVAL, "mountpoint, seed or backing missing");
	return 0;
}

int blz_orch_state_name(const char *mountpoint, char *buf, size_t len)
{
	size_t o = 0;
	const char *p = mountpoint;
	if (*p != '/')
		return -EINVAL;
	if (!strcmp(p, "/"))
		p = "-";
	else
		p++;
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		char tmp[4];
		size_t n;
		if (c == '/')
			tmp[0] = '-', n = 1;
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '.' || c == '_' || (c == '-' && !strcmp(mountpoint, "/")))
			tmp[0] = (char)c, n = 1;
		else
			n = (size_t)snprintf(tmp, sizeof(tmp), "%%%02X", c);
		if (o + n >= len)
			return -ENAMETOOLONG;
		memcpy(buf + o, tmp, n);
		o += n;
	}
	if (o + 7 > len || o + 6 > 255)
		return -ENAMETOOLONG;
	memcpy(buf + o, ".state", 7);
	return 0;
}

const char *blz_orch_state_dir(const char *state_dir)
{
	if (state_dir && *state_dir)
		return state_dir;
	const char *e = getenv("BLAZY_STATE_DIR");
	return e && *e ? e : BLZ_ORCH_STATE_DIR;
}

static int mkdir_p(const char *path)
{
	char tmp[BLZ_ORCH_PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int state_path(const char *dir, const char *mnt, char *buf, size_t len)
{
	char name[512];
	int r = blz_orch_state_name(mnt, name, sizeof(name));
	if (r < 0)
		return r;
	if (snprintf(buf, len, "%s/%s", dir, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static int read_small_file(const char *path, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 65536;
	char *buf = blz_xmalloc(cap);
	ssize_t n = blz_read_full(fd, buf, cap - 1);
	close(fd);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	buf[n] = 0;
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

/* 0 loaded, -ENOENT none, other -errno with err. */
static int state_load(const char *path, struct blz_orch_state *s, char *err, size_t errlen);

int blz_orch_state_read(const char *state_dir, const char *mountpoint, struct blz_orch_state *ret,
			char *err, size_t errlen)
{
	char path[BLZ_ORCH_PATH_MAX + 600];
	int r = state_path(blz_orch_state_dir(state_dir), mountpoint, path, sizeof(path));
	if (r < 0)
		return blz_errf(err, errlen, r, "bad mount point '%s'", mountpoint);
	return state_load(path, ret, err, errlen);
}

static int state_load(const char *path, struct blz_orch_state *s, char *err, size_t errlen)
{
	char *text = NULL;
	size_t n = 0;
	int r = read_small_file(path, &text, &n);
	if (r == -ENOENT)
		return r;
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot read the state file %s: %s", path,
				strerror(-r));
	char e[256];
	r = blz_orch_state_parse(text, n, s, e, sizeof(e));
	free(text);
	if (r < 0)
		return blz_errf(err, errlen, r, "bad state file %s: %s", path, e);
	return 0;
}

static int state_save(const char *dir, const struct blz_orch_state *s, char *err, size_t errlen)
{
	char path[BLZ_ORCH_PATH_MAX + 600], tmp[BLZ_ORCH_PATH_MAX + 700];
	int r = mkdir_p(dir);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot create the state directory %s: %s", dir,
				strerror(-r));
	r = state_path(dir, s->mountpoint, path, sizeof(path));
	if (r < 0)
		return blz_errf(err, errlen, r, "no state file name for %s: %s", s->mountpoint,
				strerror(-r));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	struct blz_buf b = { 0 };
	r = blz_orch_state_format(s, &b);
	if (r < 0) {
		blz_buf_release(&b);
		return blz_errf(err, errlen, r, "a path holds a newline");
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		blz_buf_release(&b);
		return blz_errf(err, errlen, r, "cannot write %s: %s", tmp, strerror(-r));
	}
	r = blz_write_full(fd, b.data, b.len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	blz_buf_release(&b);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return blz_errf(err, errlen, r, "cannot write %s: %s", path, strerror(-r));
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* A state (other than for skip_mnt) whose sprout has this fsid: 1 found, 0 none. */
static int state_find_sprout(const char *dir, const char *fsid_hex, const char *skip_mnt,
			     struct blz_orch_state *ret)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *de;
	int found = 0;
	while (!found && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 7 || strcmp(de->d_name + n - 6, ".state"))
			continue;
		char path[BLZ_ORCH_PATH_MAX + 600], e[8];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (state_load(path, ret, e, sizeof(e)) < 0)
			continue;
		if (!strcmp(ret->sprout_fsid, fsid_hex) && strcmp(ret->mountpoint, skip_mnt))
			found = 1;
	}
	closedir(d);
	return found;
}

static void read_boot_id(char buf[40])
{
	buf[0] = 0;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, 39);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
}

/* ---- mount table ---- */

void blz_orch_unescape_mountinfo(char *s)
{
	char *o = s;
	for (char *p = s; *p;) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
			p += 4;
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
}

int blz_orch_is_mountpoint(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (!found && getline(&line, &cap, f) > 0) {
		/* id parent maj:min root mountpoint ... */
		char *save, *tok = strtok_r(line, " ", &save);
		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		if (!tok)
			continue;
		blz_orch_unescape_mountinfo(tok);
		if (!strcmp(tok, path))
			found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

/* ---- devices ---- */

/* Reads the primary superblock of a device or file (O_DIRECT where it works, so that no
 * stale page cache is seen). Returns 1 when it has the btrfs magic, 0 when not, -errno. */
static int read_super(const char *path, uint8_t fsid[16], uint64_t *gen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	void *buf;
	if (posix_memalign(&buf, 4096, SUPER_SIZE)) {
		close(fd);
		return -ENOMEM;
	}
	ssize_t n = pread(fd, buf, SUPER_SIZE, SUPER_OFF);
	int r = n < 0 ? -errno : 0;
	if (r == -EINVAL) { /* O_DIRECT refused (alignment): plain read */
		close(fd);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : pread(fd, buf, SUPER_SIZE, SUPER_OFF);
		r = n < 0 ? -errno : 0;
	}
	if (fd >= 0)
		close(fd);
	if (r == 0) {
		const uint8_t *b = buf;
		if (n < SUPER_SIZE || get_le64(b + SB_MAGIC_OFF) != SB_MAGIC) {
			r = 0;
		} else {
			memcpy(fsid, b + SB_FSID_OFF, 16);
			*gen = get_le64(b + SB_GEN_OFF);
			r = 1;
		}
	}
	free(buf);
	return r;
}

static int dev_size(const char *path, uint64_t *ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = ioctl(fd, BLKGETSIZE64, ret) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int wait_for_path(const char *path, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (access(path, F_OK) < 0) {
		if (now_ms() >= end)
			return -ENOENT;
		usleep(20 * 1000);
	}
	return 0;
}

/* ---- the server ---- */

/* Runs `exe serve SEED` (which daemonises and prints the device), waits for its answer. */
static int start_server(const char *exe, const char *seed, const char *log, unsigned timeout_ms,
			char *dev, size_t devlen, char *err, size_t errlen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return blz_errf(err, errlen, -errno, "cannot create a pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return blz_errf(err, errlen, r, "cannot fork: %s", strerror(-r));
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		if (log)
			execl(exe, "blazy", "serve", "--log", log, seed, (char *)NULL);
		else
			execl(exe, "blazy", "serve", seed, (char *)NULL);
		dprintf(STDERR_FILENO, "cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	char buf[1024];
	ssize_t got = blz_read_deadline(p[0], buf, sizeof(buf), (int)timeout_ms, 0);
	close(p[0]);
	size_t n = got > 0 ? (size_t)got : strlen(buf);
	bool timed_out = got == -ETIMEDOUT;
	if (timed_out) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return blz_errf(err, errlen, -ETIMEDOUT,
				"the server did not report its device within %u s", timeout_ms / 1000);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	/* Trim the output to one line for the message. */
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	unsigned id;
	char tail;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
	    sscanf(buf, "/dev/ublkb%u%c", &id, &tail) == 1) {
		snprintf(dev, devlen, "/dev/ublkb%u", id);
		return 0;
	}
	const char *msg = buf;
	if (!strncmp(msg, "blazy: error: ", 14))
		msg += 14;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
	return blz_errf(err, errlen, -EIO, "the server did not start: %s",
			*msg ? msg : "no output");
}

/* Waits up to ms for the ublk device id to be gone. 1 gone, 0 still there. */
static int ublk_wait_gone(struct blz_ublk_ctrl *ctrl, uint32_t id, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	for (;;) {
		struct blz_ublk_dev_info info;
		if (blz_ublk_ctrl_get_info(ctrl, id, &info) == -ENODEV)
			return 1;
		char path[64];
		snprintf(path, sizeof(path), "/dev/ublkc%u", id);
		if (now_ms() >= end)
			return access(path, F_OK) < 0; /* deleted, number held by a last opener */
		usleep(50 * 1000);
	}
}

/*
 * Stops the device id: through its server's control socket when it runs (bounded wait),
 * then SIGTERM, SIGKILL, and finally STOP_DEV + DEL_DEV directly (a dead server's device).
 * 0 when the device is gone (or was not there), -errno otherwise.
 */
static int stop_server(uint32_t id, char *err, size_t errlen)
{
	struct blz_ublk_ctrl *ctrl;
	int r = blz_ublk_ctrl_open(&ctrl);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot open %s: %s", BLZ_UBLK_CONTROL_PATH,
				strerror(-r));
	blz_ublk_ctrl_set_timeout(ctrl, 10000);
	struct blz_ublk_status s;
	r = blz_ublk_status(ctrl, id, &s);
	if (r == -ENODEV) {
		blz_ublk_ctrl_close(ctrl);
		return 0;
	}
	if (r < 0) {
		blz_ublk_ctrl_close(ctrl);
		return blz_errf(err, errlen, r, "cannot query /dev/ublkb%u: %s", id, strerror(-r));
	}
	if (blz_ublk_server_alive(&s)) {
		char sock[128];
		char *reply = NULL;
		blz_reg_sock_path(id, sock, sizeof(sock));
		if (blz_ctl_request(sock, "stop", &reply, BLZ_CTL_TIMEOUT_MS) == 0 &&
		    ublk_wait_gone(ctrl, id, 10000)) {
			free(reply);
			blz_ublk_ctrl_close(ctrl);
			return 0;
		}
		free(reply);
		if (blz_ublk_server_alive(&s) && kill(s.server_pid, SIGTERM) == 0 &&
		    ublk_wait_gone(ctrl, id, 10000)) {
			blz_ublk_ctrl_close(ctrl);
			return 0;
		}
		if (blz_ublk_server_alive(&s)) {
			kill(s.server_pid, SIGKILL);
			uint64_t end = now_ms() + 5000;
			while (blz_ublk_pid_alive(s.server_pid) && now_ms() < end)
				usleep(50 * 1000);
		}
		if (ublk_wait_gone(ctrl, id, 1000)) {
			blz_ublk_ctrl_close(ctrl);
			return 0;
		}
	}
	r = blz_ublk_ctrl_stop_dev(ctrl, id);
	if (r < 0 && r != -ENODEV) {
		blz_ublk_ctrl_close(ctrl);
		return blz_errf(err, errlen, r, "cannot stop /dev/ublkb%u: %s", id, strerror(-r));
	}
	r = blz_ublk_ctrl_del_dev(ctrl, id);
	if (r == -ETIMEDOUT && ublk_wait_gone(ctrl, id, 0))
		r = 0;
	blz_ublk_ctrl_close(ctrl);
	if (r < 0 && r != -ENODEV)
		return blz_errf(err, errlen, r, "cannot delete /dev/ublkb%u: %s", id, strerror(-r));
	/* A dead server left its registry entry behind. */
	struct blz_reg reg;
	if (blz_reg_read(id, &reg) == 0 && !blz_ublk_pid_alive(reg.pid))
		blz_reg_remove(id);
	return 0;
}

/* ---- checks ---- */

static int check_served(const char *dev, const struct blz_seed_info *si, char *err,
			size_t errlen)
{
	uint8_t fsid[16];
	uint64_t gen = 0;
	int r = read_super(dev, fsid, &gen);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot read the superblock of %s: %s", dev,
				strerror(-r));
	if (r == 0)
		return blz_errf(err, errlen, -EIO, "%s has no btrfs superblock", dev);
	char a[33], b[33];
	blz_orch_hex_fsid(fsid, a);
	blz_orch_hex_fsid(si->fsid, b);
	if (memcmp(fsid, si->fsid, 16))
		return blz_errf(err, errlen, -EIO, "%s serves fsid %s, the seed has %s", dev, a, b);
	if (gen != si->generation)
		return blz_errf(err, errlen, -EIO,
				"%s serves generation %llu, the seed has %llu", dev,
				(unsigned long long)gen, (unsigned long long)si->generation);
	return 0;
}

/* /.blazy/virtual must cover [virtual_off, virtual_off + virtual_size) contiguously. */
static int check_virtual(const char *mnt, const struct blz_seed_info *si, char *err,
			 size_t errlen)
{
	if (si->virtual_size == 0)
		return 0;
	char path[BLZ_ORCH_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/.blazy/virtual", strcmp(mnt, "/") ? mnt : "");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return blz_errf(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	struct blz_extent *ext = NULL;
	size_t n = 0;
	int r = blz_fiemap(fd, &ext, &n);
	close(fd);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot map the extents of %s: %s", path,
				strerror(-r));
	uint64_t at = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (ext[i].logical != at || ext[i].physical != si->virtual_off + at)
			r = blz_errf(err, errlen, -EIO,
				     "%s: extent at %llu maps to %llu, want %llu + %llu", path,
				     (unsigned long long)ext[i].logical,
				     (unsigned long long)ext[i].physical,
				     (unsigned long long)si->virtual_off, (unsigned long long)at);
		at += ext[i].length;
	}
	free(ext);
	if (r == 0 && at != si->virtual_size)
		r = blz_errf(err, errlen, -EIO, "%s covers %llu bytes, the seed's virtual area %llu",
			     path, (unsigned long long)at, (unsigned long long)si->virtual_size);
	return r;
}

static int fs_fsid(const char *mnt, char hex[33])
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint8_t args[1024] = { 0 };
	int r = ioctl(fd, BLZ_BTRFS_IOC_FS_INFO, args) < 0 ? -errno : 0;
	close(fd);
	if (r == 0)
		blz_orch_hex_fsid(args + FS_INFO_FSID_OFF, hex);
	return r;
}

/* ---- mount ---- */

struct undo {
	bool created_file, attached_loop, started_server, mounted, wiped;
	char loop[64], ublk[64];
};

static void rollback(const struct blz_orch_mount_opts *o, const char *mnt, const char *backing,
		     const char *bdev, struct undo *u)
{
	char e[256];
	if (u->mounted)
		blz_umount(mnt, 0);
	if (u->wiped) {
		/* A half-made sprout must not look like one next time. */
		int fd = open(bdev, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			blz_wipe_signatures(fd);
			close(fd);
		}
	}
	if (u->attached_loop)
		blz_loop_detach(u->loop);
	if (u->started_server) {
		uint32_t id;
		if (blz_ublk_parse_dev(u->ublk, &id) == 0)
			stop_server(id, e, sizeof(e));
	}
	if (u->created_file)
		unlink(backing);
}

int blz_orch_mount(const struct blz_orch_mount_opts *o, struct blz_orch_mount_result *res,
		   char *err, size_t errlen)
{
	memset(res, 0, sizeof(*res));
	const char *dir = blz_orch_state_dir(o->state_dir);
	struct blz_orch_state st = { 0 };
	struct undo u = { 0 };
	struct blz_seed_info si;
	int r;

	/* The seed. */
	if (!realpath(o->seed, st.seed))
		return blz_errf(err, errlen, -errno, "cannot open the seed '%s': %s", o->seed,
				strerror(errno));
	int sfd = open(st.seed, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		return blz_errf(err, errlen, -errno, "cannot open the seed '%s': %s", o->seed,
				strerror(errno));
	char e[512];
	r = blz_seed_inspect(sfd, &si, e, sizeof(e));
	close(sfd);
	if (r < 0)
		return blz_errf(err, errlen, r, "'%s' is not a usable seed: %s", o->seed, e);
	blz_orch_hex_fsid(si.fsid, st.seed_fsid);
	snprintf(st.map, sizeof(st.map), "%.4091s.map", st.seed);
	snprintf(st.store, sizeof(st.store), "%.4089s.store", st.seed);

	/* The mount point. */
	struct stat mst;
	if (!realpath(o->mountpoint, st.mountpoint) || stat(st.mountpoint, &mst) < 0) {
		r = blz_errf(err, errlen, -errno, "mount point '%s': %s", o->mountpoint,
			     strerror(errno));
		goto out_info;
	}
	if (!S_ISDIR(mst.st_mode)) {
		r = blz_errf(err, errlen, -ENOTDIR, "mount point '%s' is not a directory",
			     o->mountpoint);
		goto out_info;
	}
	r = blz_orch_is_mountpoint(st.mountpoint);
	if (r < 0) {
		r = blz_errf(err, errlen, r, "cannot read the mount table: %s", strerror(-r));
		goto out_info;
	}
	if (r == 1) {
		r = blz_errf(err, errlen, -EBUSY, "%s is already a mount point", st.mountpoint);
		goto out_info;
	}

	/* The backing: a file (created when missing) or a block device. */
	struct stat bst;
	uint64_t rw_size = o->rw_size ? o->rw_size : BLZ_ORCH_DEFAULT_RW_SIZE;
	if (stat(o->backing, &bst) < 0) {
		if (errno != ENOENT) {
			r = blz_errf(err, errlen, -errno, "backing '%s': %s", o->backing,
				     strerror(errno));
			goto out_info;
		}
		if (rw_size < BLZ_ORCH_MIN_RW_SIZE) {
			r = blz_errf(err, errlen, -EINVAL, "--rw-size must be at least %llu MiB",
				     BLZ_ORCH_MIN_RW_SIZE >> 20);
			goto out_info;
		}
		int fd = open(o->backing, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = blz_errf(err, errlen, -errno, "cannot create the backing '%s': %s",
				     o->backing, strerror(errno));
			goto out_info;
		}
		u.created_file = true;
		r = ftruncate(fd, (off_t)rw_size) < 0 ? -errno : 0;
		if (r == 0 && fstat(fd, &bst) < 0)
			r = -errno;
		close(fd);
		if (r < 0) {
			unlink(o->backing);
			r = blz_errf(err, errlen, r, "cannot size the backing '%s': %s", o->backing,
				     strerror(-r));
			goto out_info;
		}
	}
	if (!realpath(o->backing, st.backing)) {
		r = blz_errf(err, errlen, -errno, "backing '%s': %s", o->backing, strerror(errno));
		goto fail;
	}
	uint64_t bsize = 0;
	if (S_ISREG(bst.st_mode)) {
		bsize = (uint64_t)bst.st_size;
	} else if (S_ISBLK(bst.st_mode)) {
		r = dev_size(st.backing, &bsize);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot size the backing %s: %s", st.backing,
				     strerror(-r));
			goto fail;
		}
	} else {
		r = blz_errf(err, errlen, -EINVAL, "backing '%s' is neither a file nor a block device",
			     o->backing);
		goto fail;
	}
	if (bsize < BLZ_ORCH_MIN_RW_SIZE) {
		r = blz_errf(err, errlen, -ENOSPC, "backing '%s' is too small (%llu bytes; at least %llu MiB)",
			     o->backing, (unsigned long long)bsize, BLZ_ORCH_MIN_RW_SIZE >> 20);
		goto fail;
	}

	/* Which filesystem does it hold? Decide before anything is attached or started. */
	uint8_t bfsid[16];
	uint64_t bgen;
	r = read_super(st.backing, bfsid, &bgen);
	if (r < 0) {
		r = blz_errf(err, errlen, r, "cannot read the backing %s: %s", st.backing,
			     strerror(-r));
		goto fail;
	}
	bool first = r == 0;
	if (!first) {
		char hex[33];
		blz_orch_hex_fsid(bfsid, hex);
		struct blz_orch_state old;
		char sp[BLZ_ORCH_PATH_MAX + 600];
		int have = 0;
		if (state_path(dir, st.mountpoint, sp, sizeof(sp)) == 0 &&
		    state_load(sp, &old, e, sizeof(e)) == 0 && !strcmp(old.sprout_fsid, hex))
			have = 1;
		if (!have)
			have = state_find_sprout(dir, hex, "", &old);
		if (!have) {
			r = blz_errf(err, errlen, -EEXIST,
				     "backing %s holds a btrfs filesystem (fsid %s) that blazy did not "
				     "sprout (no state in %s); refusing to overwrite it",
				     st.backing, hex, dir);
			goto fail;
		}
		if (strcmp(old.seed_fsid, st.seed_fsid)) {
			r = blz_errf(err, errlen, -EXDEV,
				     "backing %s was sprouted from another seed (%s, fsid %s), not "
				     "from %s (fsid %s)", st.backing, old.seed, old.seed_fsid,
				     st.seed, st.seed_fsid);
			goto fail;
		}
		snprintf(st.sprout_fsid, sizeof(st.sprout_fsid), "%s", hex);
	}

	/* The server. */
	struct blz_reg reg;
	if (blz_reg_find_seed(st.seed, &reg) == 1) {
		snprintf(u.ublk, sizeof(u.ublk), "/dev/ublkb%u", reg.dev_id);
		st.server_pid = reg.pid;
		snprintf(st.map, sizeof(st.map), "%s", reg.map);
		snprintf(st.store, sizeof(st.store), "%s", reg.store);
	} else {
		char log[BLZ_ORCH_PATH_MAX + 600];
		const char *logp = NULL;
		if (mkdir_p(dir) == 0 && state_path(dir, st.mountpoint, log, sizeof(log)) == 0) {
			size_t l = strlen(log);
			snprintf(log + l - 6, sizeof(log) - l + 6, ".serve.log");
			logp = log;
		}
		r = start_server(o->exe ? o->exe : "/proc/self/exe", st.seed, logp,
				 o->server_timeout_ms ? o->server_timeout_ms : 120000, u.ublk,
				 sizeof(u.ublk), err, errlen);
		if (r < 0)
			goto fail;
		u.started_server = true;
		st.server_owned = true;
		uint32_t id;
		if (blz_ublk_parse_dev(u.ublk, &id) == 0 && blz_reg_read(id, &reg) == 0)
			st.server_pid = reg.pid;
	}
	if (wait_for_path(u.ublk, 10000) < 0) {
		r = blz_errf(err, errlen, -ENOENT, "%s did not appear", u.ublk);
		goto fail;
	}
	r = check_served(u.ublk, &si, err, errlen);
	if (r < 0)
		goto fail;

	/* The backing's block device. */
	const char *bdev = st.backing;
	if (S_ISREG(bst.st_mode)) {
		char *ld = NULL;
		r = blz_loop_find(st.backing, &ld);
		if (r == 0) {
			/* Left by a crash (umount detaches ours): take it over. */
			u.attached_loop = true;
		} else {
			r = blz_loop_attach(st.backing, 0, &ld, NULL);
			if (r < 0) {
				r = blz_errf(err, errlen, r, "cannot attach %s to a loop device: %s",
					     st.backing, strerror(-r));
				goto fail;
			}
			u.attached_loop = true;
		}
		snprintf(u.loop, sizeof(u.loop), "%s", ld);
		free(ld);
		bdev = u.loop;
	}
	snprintf(res->backing_dev, sizeof(res->backing_dev), "%s", bdev);

	r = blz_btrfs_scan_dev(u.ublk);
	if (r < 0) {
		r = blz_errf(err, errlen, r, "cannot register %s with btrfs: %s", u.ublk,
			     strerror(-r));
		goto fail;
	}
	if (first) {
		r = blz_mount_btrfs(u.ublk, st.mountpoint, MS_RDONLY, NULL);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot mount the seed %s on %s: %s", u.ublk,
				     st.mountpoint, strerror(-r));
			goto fail;
		}
		u.mounted = true;
		int fd = open(bdev, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			r = blz_errf(err, errlen, -errno, "cannot open %s: %s", bdev, strerror(errno));
			goto fail;
		}
		u.wiped = true;
		r = blz_wipe_signatures(fd);
		close(fd);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot wipe %s: %s", bdev, strerror(-r));
			goto fail;
		}
		r = blz_btrfs_add_dev(st.mountpoint, bdev);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot add %s to the seed (sprout): %s", bdev,
				     strerror(-r));
			goto fail;
		}
		r = blz_remount(st.mountpoint, 0, "nodatasum");
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot remount %s read-write: %s",
				     st.mountpoint, strerror(-r));
			goto fail;
		}
		r = fs_fsid(st.mountpoint, st.sprout_fsid);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot read the sprout's fsid: %s",
				     strerror(-r));
			goto fail;
		}
		if (!strcmp(st.sprout_fsid, st.seed_fsid)) {
			r = blz_errf(err, errlen, -EIO, "the sprout kept the seed's fsid");
			goto fail;
		}
	} else {
		r = blz_btrfs_scan_dev(bdev);
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot register %s with btrfs: %s", bdev,
				     strerror(-r));
			goto fail;
		}
		r = blz_mount_btrfs(bdev, st.mountpoint, 0, "nodatasum");
		if (r < 0) {
			r = blz_errf(err, errlen, r, "cannot mount %s on %s: %s%s", bdev,
				     st.mountpoint, strerror(-r),
				     r == -ENOENT ? " (the seed device was not found)" : "");
			goto fail;
		}
		u.mounted = true;
		char hex[33];
		r = fs_fsid(st.mountpoint, hex);
		if (r == 0 && strcmp(hex, st.sprout_fsid))
			r = -EIO;
		if (r < 0) {
			r = blz_errf(err, errlen, r, "%s mounted a filesystem other than the sprout",
				     st.mountpoint);
			goto fail;
		}
	}
	u.wiped = false; /* a complete sprout from here on */
	r = check_virtual(st.mountpoint, &si, err, errlen);
	if (r < 0) {
		if (first)
			u.wiped = true;
		goto fail;
	}

	read_boot_id(st.boot_id);
	snprintf(st.loop, sizeof(st.loop), "%s", u.attached_loop ? u.loop : "");
	snprintf(st.ublk, sizeof(st.ublk), "%s", u.ublk);
	st.mounted = true;
	r = state_save(dir, &st, err, errlen);
	if (r < 0) {
		if (first)
			u.wiped = true;
		goto fail;
	}
	res->first = first;
	res->started_server = u.started_server;
	snprintf(res->ublk, sizeof(res->ublk), "%s", u.ublk);
	snprintf(res->loop, sizeof(res->loop), "%s", st.loop);
	snprintf(res->sprout_fsid, sizeof(res->sprout_fsid), "%s", st.sprout_fsid);
	blz_seed_info_release(&si);
	return 0;

fail:
	rollback(o, st.mountpoint, o->backing, res->backing_dev[0] ? res->backing_dev : st.backing,
		 &u);
out_info:
	blz_seed_info_release(&si);
	return r;
}

/* ---- umount ---- */

static void note(struct blz_orch_umount_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct blz_orch_umount_result *res, const char *fmt, ...)
{
	size_t l = strlen(res->notes);
	if (l >= sizeof(res->notes) - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->notes + l, sizeof(res->notes) - l, fmt, ap);
	va_end(ap);
	l = strlen(res->notes);
	if (l < sizeof(res->notes) - 1) {
		res->notes[l] = '\n';
		res->notes[l + 1] = 0;
	}
}

int blz_orch_umount(const char *mountpoint, bool lazy, const char *state_dir,
		    struct blz_orch_umount_result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof(*res));
	const char *dir = blz_orch_state_dir(state_dir);
	char mnt[BLZ_ORCH_PATH_MAX];
	if (!realpath(mountpoint, mnt)) {
		/* A missing directory: the state may still name it. */
		if (mountpoint[0] != '/' || strlen(mountpoint) >= sizeof(mnt))
			return blz_errf(err, errlen, -errno, "mount point '%s': %s", mountpoint,
					strerror(errno));
		snprintf(mnt, sizeof(mnt), "%s", mountpoint);
	}
	char sp[BLZ_ORCH_PATH_MAX + 600];
	struct blz_orch_state st;
	int r = state_path(dir, mnt, sp, sizeof(sp));
	if (r < 0)
		return blz_errf(err, errlen, r, "no state file name for %s", mnt);
	r = state_load(sp, &st, err, errlen);
	if (r == -ENOENT)
		return blz_errf(err, errlen, r, "%s was not mounted by blazy mount (no state in %s)",
				mnt, dir);
	if (r < 0)
		return r;

	/* 1. Unmount. */
	r = blz_orch_is_mountpoint(mnt);
	if (r == 1) {
		r = blz_umount(mnt, lazy ? MNT_DETACH : 0);
		if (r < 0)
			return blz_errf(err, errlen, r, "cannot unmount %s: %s%s", mnt, strerror(-r),
					r == -EBUSY ? " (in use; --lazy detaches it now)" : "");
		res->unmounted = true;
	} else {
		note(res, "%s was not mounted", mnt);
	}

	char boot[40];
	read_boot_id(boot);
	bool same_boot = st.boot_id[0] && !strcmp(boot, st.boot_id);

	/* 2. Detach the loop device(s) over the backing file. */
	struct stat bst;
	if (stat(st.backing, &bst) == 0 && S_ISREG(bst.st_mode)) {
		for (int i = 0; i < 8; i++) {
			char *ld = NULL;
			if (blz_loop_find(st.backing, &ld) < 0)
				break;
			r = blz_loop_detach(ld);
			if (r < 0 && r != -ENXIO) {
				note(res, "cannot detach %s: %s", ld, strerror(-r));
				free(ld);
				break;
			}
			res->loop_detached = true;
			free(ld);
			if (lazy)
				break; /* autoclear: freed on the last close */
		}
	}

	/* 3. Stop the server (only one this mount started, or one left dead). */
	uint32_t id;
	bool have_id = same_boot && st.ublk[0] && blz_ublk_parse_dev(st.ublk, &id) == 0;
	struct blz_reg reg;
	if (blz_reg_find_seed(st.seed, &reg) == 1) {
		have_id = true;
		id = reg.dev_id;
		if (!st.server_owned) {
			note(res, "left the server of /dev/ublkb%u running (this mount did not start it)",
			     id);
			have_id = false;
		}
	}
	if (have_id && !lazy) {
		struct blz_ublk_ctrl *ctrl;
		struct blz_ublk_status s;
		bool ours = false;
		if (blz_ublk_ctrl_open(&ctrl) == 0) {
			if (blz_ublk_status(ctrl, id, &s) == 0) {
				struct blz_reg rr;
				/* A live server of our seed, or a dead device we recorded this boot */
				ours = (blz_reg_read(id, &rr) == 0 && !strcmp(rr.seed, st.seed)) ||
				       (!blz_ublk_server_alive(&s) && st.server_owned);
			}
			blz_ublk_ctrl_close(ctrl);
		}
		if (ours) {
			r = stop_server(id, err, errlen);
			if (r < 0)
				return r;
			res->server_stopped = true;
		}
	} else if (have_id && lazy) {
		note(res, "left /dev/ublkb%u running: a lazily detached filesystem may still use it",
		     id);
	}

	st.mounted = false;
	st.loop[0] = 0;
	if (res->server_stopped || !same_boot) {
		st.ublk[0] = 0;
		st.server_pid = 0;
	}
	return state_save(dir, &st, err, errlen);
}
