/* The run-time registry of seed servers in BLZ_RUN_DIR: see registry.h. */
#include "server/registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/strbuf.h"

void blz_reg_sock_path(uint32_t dev_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ublkb%u.sock", BLZ_RUN_DIR, dev_id);
}

static void info_path(uint32_t dev_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ublkb%u.info", BLZ_RUN_DIR, dev_id);
}

/* BLZ_RUN_DIR, searchable by everyone whatever the umask (owners of seeds talk to servers). */
int blz_reg_make_dir(void)
{
	if (mkdir(BLZ_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (chmod(BLZ_RUN_DIR, 0755) < 0)
		return -errno;
	return 0;
}

/* Calls fn(ctx, key, value) for each "key=value" line of path. 0 or -errno. */
static int read_kv(const char *path, void (*fn)(void *ctx, const char *key, const char *val),
		   void *ctx)
{
	char line[4200];
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq++ = 0;
		fn(ctx, line, eq);
	}
	fclose(f);
	return 0;
}

/* Replaces path with the text in b (BLZ_RUN_DIR made first) and releases b. */
static int commit_text(const char *path, struct blz_buf *b)
{
	int r = blz_reg_make_dir();
	if (r == 0)
		r = blz_write_file_atomic(path, b->data ? (const void *)b->data : "", b->len);
	blz_buf_release(b);
	return r;
}

int blz_reg_write(const struct blz_reg *reg)
{
	char path[128];
	info_path(reg->dev_id, path, sizeof(path));
	struct blz_buf b = { 0 };
	blz_buf_printf(&b, "pid=%d\nowner=%u\nseed=%s\nmap=%s\nstore=%s\n", (int)reg->pid,
		       (unsigned)reg->owner, reg->seed, reg->map, reg->store);
	if (reg->fsid[0])
		blz_buf_printf(&b, "fsid=%s\n", reg->fsid);
	return commit_text(path, &b);
}

static void reg_kv(void *ctx, const char *key, const char *val)
{
	struct blz_reg *r = ctx;
	if (!strcmp(key, "pid"))
		r->pid = (pid_t)atoi(val);
	else if (!strcmp(key, "owner"))
		r->owner = (uid_t)strtoul(val, NULL, 10);
	else if (!strcmp(key, "seed"))
		snprintf(r->seed, sizeof(r->seed), "%s", val);
	else if (!strcmp(key, "map"))
		snprintf(r->map, sizeof(r->map), "%s", val);
	else if (!strcmp(key, "store"))
		snprintf(r->store, sizeof(r->store), "%s", val);
	else if (!strcmp(key, "fsid"))
		snprintf(r->fsid, sizeof(r->fsid), "%s", val);
}

int blz_reg_read(uint32_t dev_id, struct blz_reg *ret)
{
	char path[128];
	info_path(dev_id, path, sizeof(path));
	memset(ret, 0, sizeof(*ret));
	ret->dev_id = dev_id;
	int r = read_kv(path, reg_kv, ret);
	if (r < 0)
		return r;
	return ret->pid > 0 ? 0 : -EBADMSG; /* seed "": a server of a test backend */
}

void blz_reg_remove(uint32_t dev_id)
{
	char path[128];
	info_path(dev_id, path, sizeof(path));
	unlink(path);
	blz_remove_stale_tmp(path);
	blz_reg_sock_path(dev_id, path, sizeof(path));
	unlink(path);
}

int blz_reg_find_seed(const char *seed, struct blz_reg *ret)
{
	struct stat want, st;
	if (stat(seed, &want) < 0)
		return -errno;
	DIR *d = opendir(BLZ_RUN_DIR);
	if (!d)
		return 0;
	struct dirent *de;
	int found = 0;
	while (!found && (de = readdir(d))) {
		unsigned id;
		char tail[16];
		if (sscanf(de->d_name, "ublkb%u.%15s", &id, tail) != 2 || strcmp(tail, "info"))
			continue;
		if (blz_reg_read(id, ret) < 0 || kill(ret->pid, 0) < 0)
			continue;
		if (stat(ret->seed, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
			found = 1;
	}
	closedir(d);
	return found;
}


static void super_path(uint32_t dev_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ublkb%u.super", BLZ_RUN_DIR, dev_id);
}

void blz_reg_upgrade_path(uint32_t dev_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ublkb%u.upgrade", BLZ_RUN_DIR, dev_id);
}

int blz_reg_super_write(uint32_t dev_id, const struct blz_super_state *st)
{
	char path[128];
	super_path(dev_id, path, sizeof(path));
	char cause[sizeof(st->cause)];
	snprintf(cause, sizeof(cause), "%s", st->cause);
	cause[strcspn(cause, "\n")] = 0;
	struct blz_buf b = { 0 };
	blz_buf_printf(&b, "supervisor=%d\nserver=%d\nstate=%s\nrestarts=%llu\ncause=%s\n",
		       (int)st->supervisor, (int)st->server, st->state,
		       (unsigned long long)st->restarts, cause);
	return commit_text(path, &b);
}

static void super_kv(void *ctx, const char *key, const char *val)
{
	struct blz_super_state *st = ctx;
	if (!strcmp(key, "supervisor"))
		st->supervisor = (pid_t)atoi(val);
	else if (!strcmp(key, "server"))
		st->server = (pid_t)atoi(val);
	else if (!strcmp(key, "state"))
		snprintf(st->state, sizeof(st->state), "%s", val);
	else if (!strcmp(key, "restarts"))
		st->restarts = strtoull(val, NULL, 10);
	else if (!strcmp(key, "cause"))
		snprintf(st->cause, sizeof(st->cause), "%s", val);
}

int blz_reg_super_read(uint32_t dev_id, struct blz_super_state *ret)
{
	char path[128];
	super_path(dev_id, path, sizeof(path));
	struct blz_super_state st;
	memset(&st, 0, sizeof(st));
	int r = read_kv(path, super_kv, &st);
	if (r < 0)
		return r;
	if (!st.state[0])
		return -EBADMSG;
	*ret = st;
	return 0;
}

void blz_reg_super_remove(uint32_t dev_id)
{
	char path[128];
	super_path(dev_id, path, sizeof(path));
	unlink(path);
	blz_remove_stale_tmp(path);
	blz_reg_upgrade_path(dev_id, path, sizeof(path));
	unlink(path);
}
