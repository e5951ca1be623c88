/* blazy doctor: the facts of the running system (doctor.h). */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "doctor/doctor.h"
#include "server/control.h"
#include "ublk/ublk.h"
#include "util/fileio.h"

#define CAP_SYS_ADMIN_BIT 21

/* Whether text (NUL-terminated) has a line ending in "/" key (e.g. "/ublk_drv.ko"), with
 * or without a compression suffix. */
static bool has_line_ending(const char *text, const char *key)
{
	size_t klen = strlen(key);
	for (const char *p = strstr(text, key); p; p = strstr(p + 1, key)) {
		if (p == text || p[-1] != '/')
			continue;
		const char *e = p + klen;
		if (*e == '\n' || *e == '\0' || *e == '.' || *e == ':')
			return true;
	}
	return false;
}

static bool file_has_module(const char *path, const char *ko)
{
	char *text;
	size_t n;
	if (blz_read_text_file(path, 4 << 20, &text, &n) < 0)
		return false;
	bool found = has_line_ending(text, ko);
	free(text);
	return found;
}

/* name: the module's name (ublk_drv); rel: its path under kernel/ without ".ko". */
static enum blz_doctor_module module_state(const char *release, const char *name,
					   const char *rel)
{
	char path[512], ko[64];
	snprintf(path, sizeof(path), "/sys/module/%s", name);
	if (access(path, F_OK) == 0)
		return BLZ_DOCTOR_MOD_LOADED;
	snprintf(ko, sizeof(ko), "%s.ko", strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel);
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.builtin", release);
	if (file_has_module(path, ko))
		return BLZ_DOCTOR_MOD_BUILTIN;
	static const char *const suffixes[] = { "", ".xz", ".zst", ".gz" };
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "/lib/modules/%s/kernel/%s.ko%s", release, rel,
			 suffixes[i]);
		if (access(path, F_OK) == 0)
			return BLZ_DOCTOR_MOD_LOADABLE;
	}
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.dep", release);
	return file_has_module(path, ko) ? BLZ_DOCTOR_MOD_LOADABLE : BLZ_DOCTOR_MOD_MISSING;
}

static bool filesystem_registered(const char *fs)
{
	char *text;
	size_t n;
	if (blz_read_text_file("/proc/filesystems", 65536, &text, &n) < 0)
		return false;
	bool found = false;
	for (char *line = strtok(text, "\n"); line && !found; line = strtok(NULL, "\n")) {
		char *tab = strrchr(line, '\t');
		found = !strcmp(tab ? tab + 1 : line, fs);
	}
	free(text);
	return found;
}

static int read_sysctl_int(const char *path)
{
	char *text;
	size_t n;
	if (blz_read_text_file(path, 64, &text, &n) < 0)
		return -1;
	char *end;
	long v = strtol(text, &end, 10);
	bool ok = end != text && v >= 0 && v < 1000;
	free(text);
	return ok ? (int)v : -1;
}

static bool has_cap_sys_admin(void)
{
	char *text;
	size_t n;
	if (blz_read_text_file("/proc/self/status", 65536, &text, &n) < 0)
		return geteuid() == 0;
	const char *p = strstr(text, "\nCapEff:");
	unsigned long long caps = p ? strtoull(p + 8, NULL, 16) : 0;
	free(text);
	return caps >> CAP_SYS_ADMIN_BIT & 1;
}

static int io_uring_try(void)
{
	struct io_uring ring;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQE128; /* what the ublk control ring needs */
	int r = io_uring_queue_init_params(2, &ring, &p);
	if (r < 0)
		return r;
	io_uring_queue_exit(&ring);
	return 0;
}

static int run_dir_usable(void)
{
	struct stat st;
	if (stat(BLZ_RUN_DIR, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		return access(BLZ_RUN_DIR, W_OK | X_OK) == 0 ? 0 : -errno;
	}
	if (errno != ENOENT)
		return -errno;
	/* created by the first server: its parent must let us */
	char parent[sizeof(BLZ_RUN_DIR)];
	snprintf(parent, sizeof(parent), "%s", BLZ_RUN_DIR);
	*strrchr(parent, '/') = '\0';
	return access(parent[0] ? parent : "/", W_OK | X_OK) == 0 ? 0 : -errno;
}

static void probe_ublk(struct blz_doctor_facts *f)
{
	f->features_error = -ENODEV;
	f->legacy_opcodes = blz_ublk_parse_kernel_version(f->release) > 0 &&
			    blz_ublk_parse_kernel_version(f->release) < 6004;
	struct blz_ublk_ctrl *c;
	f->control_error = blz_ublk_ctrl_open(&c);
	if (f->control_error < 0)
		return;
	blz_ublk_ctrl_set_timeout(c, 5000);
	f->legacy_opcodes = blz_ublk_ctrl_legacy(c);
	f->features_error = blz_ublk_ctrl_get_features(c, &f->features);
	blz_ublk_ctrl_close(c);
}

void blz_doctor_probe(struct blz_doctor_facts *ret)
{
	struct blz_doctor_facts f;
	memset(&f, 0, sizeof(f));
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(f.release, sizeof(f.release), "%s", u.release);
	f.ublk = module_state(f.release, "ublk_drv", "drivers/block/ublk_drv");
	probe_ublk(&f);
	f.part_scan_forced = blz_ublk_part_scan_forced();
	f.zero_copy_off = !blz_ublk_zero_copy_env();
	f.io_uring_disabled = read_sysctl_int("/proc/sys/kernel/io_uring_disabled");
	f.io_uring_error = io_uring_try();
	f.btrfs = filesystem_registered("btrfs") ? BLZ_DOCTOR_MOD_LOADED
						: module_state(f.release, "btrfs", "fs/btrfs/btrfs");
	f.loop = access("/dev/loop-control", F_OK) == 0
			 ? BLZ_DOCTOR_MOD_LOADED
			 : module_state(f.release, "loop", "drivers/block/loop");
	f.run_dir_error = run_dir_usable();
	f.cap_sys_admin = has_cap_sys_admin();
	*ret = f;
}
