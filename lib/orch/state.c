/* lib/orch: the state files that tie a mount point to its seed, map, store, backing and
 * device (one key=value file per mount point), and the mount table. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mount/mountinfo.h"
#include "orch/internal.h"
#include "util/fileio.h"
#include "util/strbuf.h"

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

int orch_mkdir_p(const char *path)
{
	return blz_mkdir_p(path, 0755);
}

int orch_state_path(const char *dir, const char *mnt, char *buf, size_t len)
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
	return blz_read_text_file(path, 65536, ret, ret_len);
}

/* 0 loaded, -ENOENT none, other -errno with err. */

int blz_orch_state_read(const char *state_dir, const char *mountpoint, struct blz_orch_state *ret,
			char *err, size_t errlen)
{
	char path[BLZ_ORCH_PATH_MAX + 600];
	int r = orch_state_path(blz_orch_state_dir(state_dir), mountpoint, path, sizeof(path));
	if (r < 0)
		return blz_errf(err, errlen, r, "bad mount point '%s'", mountpoint);
	return orch_state_load(path, ret, err, errlen);
}

int orch_state_load(const char *path, struct blz_orch_state *s, char *err, size_t errlen)
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

int orch_state_save(const char *dir, const struct blz_orch_state *s, char *err, size_t errlen)
{
	char path[BLZ_ORCH_PATH_MAX + 600];
	int r = orch_mkdir_p(dir);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot create the state directory %s: %s", dir,
				strerror(-r));
	r = orch_state_path(dir, s->mountpoint, path, sizeof(path));
	if (r < 0)
		return blz_errf(err, errlen, r, "no state file name for %s: %s", s->mountpoint,
				strerror(-r));
	struct blz_buf b = { 0 };
	r = blz_orch_state_format(s, &b);
	if (r < 0) {
		blz_buf_release(&b);
		return blz_errf(err, errlen, r, "a path holds a newline");
	}
	r = blz_write_file_atomic(path, b.data, b.len);
	blz_buf_release(&b);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot write %s: %s", path, strerror(-r));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* A state (other than for skip_mnt) whose sprout has this fsid: 1 found, 0 none. */
int orch_state_find_sprout(const char *dir, const char *fsid_hex, const char *skip_mnt,
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
		if (orch_state_load(path, ret, e, sizeof(e)) < 0)
			continue;
		if (!strcmp(ret->sprout_fsid, fsid_hex) && strcmp(ret->mountpoint, skip_mnt))
			found = 1;
	}
	closedir(d);
	return found;
}

void orch_read_boot_id(char buf[40])
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

int blz_orch_is_mountpoint(const char *path)
{
	struct blz_mnt *m;
	size_t n;
	int r = blz_mountinfo_read(&m, &n);
	if (r < 0)
		return r;
	int found = 0;
	for (size_t i = 0; i < n && !found; i++)
		found = !strcmp(m[i].path, path);
	blz_mnt_free(m, n);
	return found;
}

