/*
 * blazy doctor: what this system offers blazy, and whether blazy can serve here.
 *
 * Three steps, each usable alone:
 *   blz_doctor_probe()   gathers the facts (files under /proc, /sys, /lib/modules, /dev,
 *                        /run; an io_uring set up and closed; /dev/ublk-control opened and
 *                        asked GET_FEATURES). Changes nothing on the system.
 *   blz_doctor_assess()  turns facts into checks (ok, warn, fail), each failure with the
 *                        command or setting that fixes it; pure, no system access.
 *   blz_doctor_json()    encodes a report as one JSON object (format below); pure.
 *
 * "Can serve" means `blazy serve` can create and serve a device: ublk_drv loaded,
 * /dev/ublk-control usable, io_uring allowed, CAP_SYS_ADMIN, /run/blazy usable. btrfs and
 * loop are needed by `blazy mount` only: missing, they are warnings.
 *
 * JSON (keys in this order; integers exact):
 *   {"kernel":{"release":S,"version":"MAJ.MIN"},
 *    "can_serve":B,
 *    "checks":[{"name":S,"status":"ok"|"warn"|"fail","needed_to_serve":B,"detail":S,
 *               "fix":S|null}...],
 *    "ublk":{"module":"loaded"|"builtin"|"loadable"|"missing","control":B,
 *            "control_error":S|null,"opcodes":"encoded"|"legacy"|null,
 *            "features_known":B,"features":N,"requested":N,"zero_copy":B,
 *            "flags":[{"name":S,"bit":N,"since":S,"kernel":B,"blazy_uses":B,
 *                      "blazy_wants":B}...],   every flag this project knows
 *            "unknown_bits":[N...]},           bits the kernel offers that it does not
 *    "io_uring":{"disabled":N|null,"usable":B,"error":S|null},
 *    "btrfs":M,"loop":M,   M as "module" above
 *    "run_dir":{"path":S,"usable":B,"error":S|null},
 *    "cap_sys_admin":B}
 */
#ifndef BLZ_DOCTOR_DOCTOR_H
#define BLZ_DOCTOR_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ublk/ublk_abi.h"
#include "util/strbuf.h"

enum blz_doctor_module {
	BLZ_DOCTOR_MOD_MISSING,  /* neither built in nor a module file for this release */
	BLZ_DOCTOR_MOD_LOADABLE, /* a module file exists, not loaded */
	BLZ_DOCTOR_MOD_BUILTIN,  /* listed in modules.builtin */
	BLZ_DOCTOR_MOD_LOADED,   /* /sys/module/NAME exists (or, for btrfs, in /proc/filesystems) */
};

struct blz_doctor_facts {
	char release[65];            /* uname -r */
	enum blz_doctor_module ublk; /* ublk_drv */
	int control_error;           /* opening /dev/ublk-control: 0 or -errno */
	int features_error;          /* GET_FEATURES: 0 or -errno (-EOPNOTSUPP before 6.5) */
	uint64_t features;           /* the kernel's mask, when features_error == 0 */
	bool legacy_opcodes;         /* the opcode style blazy uses on this kernel */
	bool part_scan_forced;       /* BLAZY_UBLK_PART_SCAN=1 */
	bool zero_copy_off;          /* BLAZY_ZERO_COPY=off in the environment */
	int io_uring_disabled;       /* kernel.io_uring_disabled; -1 when the sysctl is absent */
	int io_uring_error;          /* setting up a ring (SQE128): 0 or -errno */
	enum blz_doctor_module btrfs, loop;
	int run_dir_error;           /* /run/blazy usable (or creatable): 0 or -errno */
	bool cap_sys_admin;          /* in the effective set */
};

/* Gathers the facts of the running system. Never fails: what cannot be found out is
 * recorded as an error in the facts. */
void blz_doctor_probe(struct blz_doctor_facts *ret);

enum blz_doctor_status { BLZ_DOCTOR_OK, BLZ_DOCTOR_WARN, BLZ_DOCTOR_FAIL };

struct blz_doctor_check {
	const char *name; /* "kernel", "ublk_drv", "ublk_control", "ublk_features", "io_uring",
			     "privileges", "run_dir", "btrfs", "loop" */
	enum blz_doctor_status status;
	bool needed_to_serve;
	char detail[512]; /* what was found */
	char fix[192];    /* what to do about it; "" when nothing */
};

#define BLZ_DOCTOR_MAX_CHECKS 12

struct blz_doctor_report {
	struct blz_doctor_facts facts;
	uint64_t requested; /* the flags blazy asks for at ADD_DEV here */
	/* A seed server here uses zero copy (AUTO_BUF_REG with USER_COPY, ublk.h): those two
	 * flags are then requested too, by seed servers (a test backend has no file to read
	 * from) */
	bool zero_copy;
	bool can_serve;
	size_t n_checks;
	struct blz_doctor_check checks[BLZ_DOCTOR_MAX_CHECKS];
};

void blz_doctor_assess(const struct blz_doctor_facts *f, struct blz_doctor_report *ret);

/* The flags blazy uses here: those it requests, and zero copy's for seed servers. */
static inline uint64_t blz_doctor_used(const struct blz_doctor_report *r)
{
	return r->requested |
	       (r->zero_copy ? BLZ_UBLK_F_AUTO_BUF_REG | BLZ_UBLK_F_USER_COPY : 0);
}

/* Appends the report as one JSON object (no newline) to b. */
void blz_doctor_json(const struct blz_doctor_report *r, struct blz_buf *b);

const char *blz_doctor_status_name(enum blz_doctor_status s); /* "ok", "warn", "fail" */
const char *blz_doctor_module_name(enum blz_doctor_module m); /* as in the JSON */

#endif
