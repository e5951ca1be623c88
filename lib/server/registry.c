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

int blz_reg_write(const struct blz_reg *reg)
{
	int r = blz_reg_make_dir();
	if (r < 0)
		return r;
	char path[128], tmp[160];
	info_path(reg->dev_id, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "pid=%d\nowner=%u\nseed=%s\nmap=%s\nstore=%s\n", (int)reg->pid,
		(unsigned)reg->owner, reg->seed, reg->map, reg->store);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

int blz_reg_read(uint32_t dev_id, struct blz_reg *ret)
{
	char path[128], line[4200];
	info_path(dev_id, path, sizeof(path));
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	memset(ret, 0, sizeof(*ret));
	ret->dev_id = dev_id;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq++ = 0;
		if (!strcmp(line, "pid"))
			ret->pid = (pid_t)atoi(eq);
		else if (!strcmp(line, "owner"))
			ret->owner = (uid_t)strtoul(eq, NULL, 10);
		else if (!strcmp(line, "seed"))
			snprintf(ret->seed, sizeof(ret->seed), "%s", eq);
		else if (!strcmp(line, "map"))
			snprintf(ret->map, sizeof(ret->map), "%s", eq);
		else if (!strcmp(line, "store"))
			snprintf(ret->store, sizeof(ret->store), "%s", eq);
	}
	fclose(f);
	return ret->pid > 0 && ret->seed[0] ? 0 : -EBADMSG;
}

void blz_reg_remove(uint32_t dev_id)
{
	char path[128];
	info_path(dev_id, path, sizeof(path));
	unlink(path);
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

