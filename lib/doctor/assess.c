/* blazy doctor: facts to checks, each problem with its fix (doctor.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "doctor/doctor.h"
#include "server/control.h"
#include "ublk/ublk.h"

const char *blz_doctor_status_name(enum blz_doctor_status s)
{
	switch (s) {
	case BLZ_DOCTOR_OK: return "ok";
	case BLZ_DOCTOR_WARN: return "warn";
	case BLZ_DOCTOR_FAIL: return "fail";
	}
	return "?";
}

const char *blz_doctor_module_name(enum blz_doctor_module m)
{
	switch (m) {
	case BLZ_DOCTOR_MOD_MISSING: return "missing";
	case BLZ_DOCTOR_MOD_LOADABLE: return "loadable";
	case BLZ_DOCTOR_MOD_BUILTIN: return "builtin";
	case BLZ_DOCTOR_MOD_LOADED: return "loaded";
	}
	return "?";
}

/* Appends a check; detail and fix are formatted by the caller into the returned entry. */
static struct blz_doctor_check *add(struct blz_doctor_report *r, const char *name,
				    enum blz_doctor_status st, bool needed)
{
	struct blz_doctor_check *c = &r->checks[r->n_checks++];
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->status = st;
	c->needed_to_serve = needed;
	return c;
}

static void set(char *dst, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, len, fmt, ap);
	va_end(ap);
}
#define DETAIL(c, ...) set((c)->detail, sizeof((c)->detail), __VA_ARGS__)
#define FIX(c, ...) set((c)->fix, sizeof((c)->fix), __VA_ARGS__)

static void check_kernel(const struct blz_doctor_facts *f, struct blz_doctor_report *r)
{
	int v = blz_ublk_parse_kernel_version(f->release);
	bool old = v > 0 && v < 6001;
	struct blz_doctor_check *c = add(r, "kernel", old ? BLZ_DOCTOR_FAIL : BLZ_DOCTOR_OK, true);
	DETAIL(c, "Linux %s", f->release[0] ? f->release : "(unknown release)");
	if (old) {
		DETAIL(c, "Linux %s is older than 6.1, the first kernel with a usable ublk",
		       f->release);
		FIX(c, "boot Linux 6.1 or later (Debian 12's or 13's kernel)");
	}
}

static void check_ublk_drv(const struct blz_doctor_facts *f, struct blz_doctor_report *r)
{
	bool ok = f->ublk >= BLZ_DOCTOR_MOD_BUILTIN || f->control_error == 0;
	struct blz_doctor_check *c = add(r, "ublk_drv", ok ? BLZ_DOCTOR_OK : BLZ_DOCTOR_FAIL, true);
	switch (f->ublk) {
	case BLZ_DOCTOR_MOD_LOADED: DETAIL(c, "ublk_drv is loaded"); break;
	case BLZ_DOCTOR_MOD_BUILTIN: DETAIL(c, "ublk_drv is built into the kernel"); break;
	case BLZ_DOCTOR_MOD_LOADABLE:
		DETAIL(c, "ublk_drv is not loaded (the module is installed; it is never loaded "
			  "automatically)");
		FIX(c, "modprobe ublk_drv (at every boot: echo ublk_drv >/etc/modules-load.d/ublk.conf)");
		break;
	case BLZ_DOCTOR_MOD_MISSING:
		if (ok) {
			DETAIL(c, "ublk_drv answers (not found under /lib/modules/%s)", f->release);
			break;
		}
		DETAIL(c, "this kernel has no ublk_drv: not loaded, not built in, no module "
			  "under /lib/modules/%s", f->release);
		FIX(c, "boot a kernel built with CONFIG_BLK_DEV_UBLK (Debian 12 and 13 kernels "
		       "have it as a module), then modprobe ublk_drv");
		break;
	}
}

static void check_control(const struct blz_doctor_facts *f, struct blz_doctor_report *r)
{
	int e = f->control_error;
	struct blz_doctor_check *c = add(r, "ublk_control", e ? BLZ_DOCTOR_FAIL : BLZ_DOCTOR_OK, true);
	if (!e) {
		DETAIL(c, "%s opens (%s opcodes)", BLZ_UBLK_CONTROL_PATH,
		       f->legacy_opcodes ? "legacy" : "ioctl-encoded");
		return;
	}
	DETAIL(c, "cannot use %s: %s", BLZ_UBLK_CONTROL_PATH, strerror(-e));
	if (e == -ENOENT && f->ublk == BLZ_DOCTOR_MOD_LOADABLE)
		FIX(c, "modprobe ublk_drv");
	else if (e == -ENOENT && f->ublk == BLZ_DOCTOR_MOD_MISSING)
		FIX(c, "a kernel with ublk_drv (see the ublk_drv check)");
	else if (e == -ENOENT)
		FIX(c, "mount devtmpfs on /dev, or create the node from /sys/class/misc/ublk-control/dev "
		       "with mknod");
	else if ((e == -EACCES || e == -EPERM) && !f->cap_sys_admin)
		FIX(c, "run blazy as root");
	else if (f->io_uring_error)
		FIX(c, "allow io_uring (see the io_uring check)");
}

static void check_features(const struct blz_doctor_facts *f, struct blz_doctor_report *r)
{
	char offered[512], used[256];
	if (f->features_error == -EOPNOTSUPP) {
		struct blz_doctor_check *c = add(r, "ublk_features", BLZ_DOCTOR_OK, false);
		DETAIL(c, "kernel before 6.5: no GET_FEATURES; blazy uses the base protocol and the "
			  "kernel scans the device for partitions when it starts (reads within "
			  "the first 16 KiB, all in the seed's local region)");
		return;
	}
	if (f->features_error) {
		struct blz_doctor_check *c = add(r, "ublk_features", BLZ_DOCTOR_WARN, false);
		if (f->control_error)
			DETAIL(c, "not known: %s cannot be used", BLZ_UBLK_CONTROL_PATH);
		else
			DETAIL(c, "GET_FEATURES failed: %s", strerror(-f->features_error));
		return;
	}
	struct blz_doctor_check *c = add(r, "ublk_features", BLZ_DOCTOR_OK, false);
	blz_ublk_features_format(f->features, " ", offered, sizeof(offered));
	blz_ublk_features_format(r->requested, " ", used, sizeof(used));
	const char *zc = r->zero_copy ? "; zero copy: on (seed servers: AUTO_BUF_REG USER_COPY)"
			 : f->zero_copy_off ? "; zero copy: off (not asked for: serve --zero-copy auto, BLAZY_ZERO_COPY=auto)"
					    : "; zero copy: off (no AUTO_BUF_REG)";
	if (r->requested & BLZ_UBLK_F_NO_AUTO_PART_SCAN)
		DETAIL(c, "kernel offers %s; blazy uses %s%s", offered[0] ? offered : "none", used,
		       zc);
	else
		DETAIL(c, "kernel offers %s; blazy uses %s; no NO_AUTO_PART_SCAN%s: the partition "
			  "scan at start reads within the first 16 KiB (the seed's local region)%s",
		       offered[0] ? offered : "none", used[0] ? used : "none",
		       f->part_scan_forced ? " (BLAZY_UBLK_PART_SCAN=1)" : "", zc);
}

static void check_io_uring(const struct blz_doctor_facts *f, struct blz_doctor_report *r)
{
	int e = f->io_uring_error, d = f->io_uring_disabled;
	struct blz_doctor_check *c = add(r, "io_uring", e ? BLZ_DOCTOR_FAIL : BLZ_DOCTOR_OK, true);
	if (!e) {
		if (d >= 0)
			DETAIL(c, "io_uring allowed (kernel.io_uring_disabled = %d)", d);
		else
			DETAIL(c, "io_uring allowed");
		return;
	}
	DETAIL(c, "cannot set up an io_uring: %s (kernel.io_uring_disabled = %d)", strerror(-e), d);
	if (d > 0)
		FIX(c, "sysctl kernel.io_uring_disabled=0");
	else if (e == -ENOSYS)
		FIX(c, "boot a kernel built with CONFIG_IO_URING");
	else if (e == -ENOMEM)
		FIX(c, "raise the locked-memory limit (ulimit -l)");
	else if (e == -EPERM)
		FIX(c, "allow the io_uring syscalls (seccomp profile of the container)");
}

static void check_privileges(const struct blz_doctor_facts *f, struct blz_doctor_report *r)
{
	struct blz_doctor_check *c =
		add(r, "privileges", f->cap_sys_admin ? BLZ_DOCTOR_OK : BLZ_DOCTOR_FAIL, true);
	if (f->cap_sys_admin) {
		DETAIL(c, "CAP_SYS_ADMIN is effective");
		return;
	}
	DETAIL(c, "no CAP_SYS_ADMIN: ublk devices, mounts and loop devices need it");
	FIX(c, "run blazy as root");
}

static void check_run_dir(const struct blz_doctor_facts *f, struct blz_doctor_report *r)
{
	int e = f->run_dir_error;
	struct blz_doctor_check *c = add(r, "run_dir", e ? BLZ_DOCTOR_FAIL : BLZ_DOCTOR_OK, true);
	if (!e) {
		DETAIL(c, "%s is usable (servers register their control sockets there)", BLZ_RUN_DIR);
		return;
	}
	DETAIL(c, "cannot use %s: %s", BLZ_RUN_DIR, strerror(-e));
	if (e == -ENOTDIR)
		FIX(c, "remove what is at %s (the first server makes the directory)", BLZ_RUN_DIR);
	else if (!f->cap_sys_admin)
		FIX(c, "run blazy as root");
	else
		FIX(c, "mkdir -p %s, on a writable file system (a tmpfs on /run)", BLZ_RUN_DIR);
}

static void check_module(struct blz_doctor_report *r, const char *name, enum blz_doctor_module m,
			 const char *why, const char *config)
{
	struct blz_doctor_check *c =
		add(r, name, m >= BLZ_DOCTOR_MOD_BUILTIN ? BLZ_DOCTOR_OK : BLZ_DOCTOR_WARN, false);
	switch (m) {
	case BLZ_DOCTOR_MOD_LOADED:
	case BLZ_DOCTOR_MOD_BUILTIN:
		DETAIL(c, "%s is available", name);
		break;
	case BLZ_DOCTOR_MOD_LOADABLE:
		DETAIL(c, "%s is not loaded (%s)", name, why);
		FIX(c, "modprobe %s", name);
		break;
	case BLZ_DOCTOR_MOD_MISSING:
		DETAIL(c, "this kernel has no %s (%s)", name, why);
		FIX(c, "boot a kernel built with %s", config);
		break;
	}
}

void blz_doctor_assess(const struct blz_doctor_facts *f, struct blz_doctor_report *ret)
{
	struct blz_doctor_report *r = ret;
	memset(r, 0, sizeof(*r));
	r->facts = *f;
	if (!f->features_error || f->features_error == -EOPNOTSUPP)
		r->requested = blz_ublk_features_request(f->features_error ? 0 : f->features,
							 f->legacy_opcodes, f->part_scan_forced);
	uint64_t zc = BLZ_UBLK_F_AUTO_BUF_REG | BLZ_UBLK_F_USER_COPY;
	r->zero_copy = !f->features_error && !f->legacy_opcodes && !f->zero_copy_off &&
		       (f->features & zc) == zc;
	/* the batched I/O commands, as blz_ublk_dev_create asks for them */
	if (!f->features_error &&
	    blz_ublk_batch_wanted(f->features, f->legacy_opcodes, r->zero_copy))
		r->requested |= BLZ_UBLK_F_BATCH_IO;
	check_kernel(f, r);
	check_ublk_drv(f, r);
	check_control(f, r);
	check_features(f, r);
	check_io_uring(f, r);
	check_privileges(f, r);
	check_run_dir(f, r);
	check_module(r, "btrfs", f->btrfs, "blazy mount needs it", "CONFIG_BTRFS_FS");
	check_module(r, "loop", f->loop, "blazy mount needs it for a backing file",
		     "CONFIG_BLK_DEV_LOOP");
	r->can_serve = true;
	for (size_t i = 0; i < r->n_checks; i++)
		if (r->checks[i].needed_to_serve && r->checks[i].status == BLZ_DOCTOR_FAIL)
			r->can_serve = false;
}
