/* Unit tests for lib/doctor: facts to checks (each failure with its fix) and the JSON
 * encoder, read back with the project's strict JSON parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "doctor/doctor.h"
#include "ublk/ublk.h"
#include "util/json.h"

/* A system where everything blazy needs is there (6.12-like: no NO_AUTO_PART_SCAN). */
static struct blz_doctor_facts good(void)
{
	struct blz_doctor_facts f;
	memset(&f, 0, sizeof(f));
	strcpy(f.release, "6.12.117+deb13-amd64");
	f.ublk = BLZ_DOCTOR_MOD_LOADED;
	f.features = BLZ_UBLK_F_CMD_IOCTL_ENCODE | BLZ_UBLK_F_USER_COPY |
		     BLZ_UBLK_F_USER_RECOVERY | BLZ_UBLK_F_UNPRIVILEGED_DEV;
	f.btrfs = BLZ_DOCTOR_MOD_LOADED;
	f.loop = BLZ_DOCTOR_MOD_BUILTIN;
	f.cap_sys_admin = true;
	return f;
}

static const struct blz_doctor_check *find(const struct blz_doctor_report *r, const char *name)
{
	for (size_t i = 0; i < r->n_checks; i++)
		if (!strcmp(r->checks[i].name, name))
			return &r->checks[i];
	fail_msg("no check '%s'", name);
	return NULL;
}

static void test_all_good(void **state)
{
	struct blz_doctor_facts f = good();
	struct blz_doctor_report r;
	blz_doctor_assess(&f, &r);
	assert_true(r.can_serve);
	assert_int_equal(r.n_checks, 9);
	for (size_t i = 0; i < r.n_checks; i++) {
		assert_int_equal(r.checks[i].status, BLZ_DOCTOR_OK);
		assert_string_equal(r.checks[i].fix, "");
		assert_true(r.checks[i].detail[0]);
	}
	assert_true(r.requested == BLZ_UBLK_F_CMD_IOCTL_ENCODE);
	/* the features check names what the kernel offers, what blazy uses, and the fallback */
	const char *d = find(&r, "ublk_features")->detail;
	assert_non_null(strstr(d, "USER_COPY"));
	assert_non_null(strstr(d, "blazy uses CMD_IOCTL_ENCODE"));
	assert_non_null(strstr(d, "16 KiB"));

	f.features |= BLZ_UBLK_F_NO_AUTO_PART_SCAN | BLZ_UBLK_F_QUIESCE;
	blz_doctor_assess(&f, &r);
	assert_true(r.requested == (BLZ_UBLK_F_CMD_IOCTL_ENCODE | BLZ_UBLK_F_NO_AUTO_PART_SCAN));
	assert_null(strstr(find(&r, "ublk_features")->detail, "16 KiB"));
	f.part_scan_forced = true;
	blz_doctor_assess(&f, &r);
	assert_true(r.requested == BLZ_UBLK_F_CMD_IOCTL_ENCODE);
	assert_non_null(strstr(find(&r, "ublk_features")->detail, "BLAZY_UBLK_PART_SCAN"));
	/* the batched I/O commands where offered, but not with zero copy */
	f.features |= BLZ_UBLK_F_BATCH_IO;
	blz_doctor_assess(&f, &r);
	assert_false(r.zero_copy);
	assert_true(r.requested == (BLZ_UBLK_F_CMD_IOCTL_ENCODE | BLZ_UBLK_F_BATCH_IO));
	f.features |= BLZ_UBLK_F_AUTO_BUF_REG | BLZ_UBLK_F_USER_COPY;
	blz_doctor_assess(&f, &r);
	assert_int_equal(r.zero_copy, !f.zero_copy_off);
	assert_int_equal(!!(r.requested & BLZ_UBLK_F_BATCH_IO), f.zero_copy_off);
}

/* This project's build host: a kernel without ublk_drv. */
static void test_no_ublk(void **state)
{
	struct blz_doctor_facts f = good();
	f.ublk = BLZ_DOCTOR_MOD_MISSING;
	f.control_error = -ENOENT;
	f.features_error = -ENODEV;
	f.features = 0;
	struct blz_doctor_report r;
	blz_doctor_assess(&f, &r);
	assert_false(r.can_serve);
	assert_int_equal(find(&r, "ublk_drv")->status, BLZ_DOCTOR_FAIL);
	assert_non_null(strstr(find(&r, "ublk_drv")->fix, "CONFIG_BLK_DEV_UBLK"));
	assert_int_equal(find(&r, "ublk_control")->status, BLZ_DOCTOR_FAIL);
	assert_int_equal(find(&r, "ublk_features")->status, BLZ_DOCTOR_WARN);
	assert_int_equal(find(&r, "io_uring")->status, BLZ_DOCTOR_OK);
	assert_true(r.requested == 0);

	f.ublk = BLZ_DOCTOR_MOD_LOADABLE; /* installed, not loaded */
	blz_doctor_assess(&f, &r);
	assert_false(r.can_serve);
	assert_non_null(strstr(find(&r, "ublk_drv")->fix, "modprobe ublk_drv"));
	assert_string_equal(find(&r, "ublk_control")->fix, "modprobe ublk_drv");
}

static void test_problems_and_fixes(void **state)
{
	struct blz_doctor_report r;
	struct blz_doctor_facts f = good();
	f.io_uring_disabled = 2;
	f.io_uring_error = -EPERM;
	blz_doctor_assess(&f, &r);
	assert_false(r.can_serve);
	assert_int_equal(find(&r, "io_uring")->status, BLZ_DOCTOR_FAIL);
	assert_string_equal(find(&r, "io_uring")->fix, "sysctl kernel.io_uring_disabled=0");

	f = good();
	f.cap_sys_admin = false;
	f.control_error = -EACCES;
	f.run_dir_error = -EACCES;
	blz_doctor_assess(&f, &r);
	assert_false(r.can_serve);
	assert_string_equal(find(&r, "privileges")->fix, "run blazy as root");
	assert_string_equal(find(&r, "ublk_control")->fix, "run blazy as root");
	assert_string_equal(find(&r, "run_dir")->fix, "run blazy as root");

	/* btrfs and loop are for blazy mount: warnings, serving still possible */
	f = good();
	f.btrfs = BLZ_DOCTOR_MOD_LOADABLE;
	f.loop = BLZ_DOCTOR_MOD_MISSING;
	blz_doctor_assess(&f, &r);
	assert_true(r.can_serve);
	assert_int_equal(find(&r, "btrfs")->status, BLZ_DOCTOR_WARN);
	assert_string_equal(find(&r, "btrfs")->fix, "modprobe btrfs");
	assert_int_equal(find(&r, "loop")->status, BLZ_DOCTOR_WARN);
	assert_non_null(strstr(find(&r, "loop")->fix, "CONFIG_BLK_DEV_LOOP"));

	/* a kernel without GET_FEATURES (6.1-6.4) still serves */
	f = good();
	strcpy(f.release, "6.1.0-37-amd64");
	f.features_error = -EOPNOTSUPP;
	blz_doctor_assess(&f, &r);
	assert_true(r.can_serve);
	assert_int_equal(find(&r, "ublk_features")->status, BLZ_DOCTOR_OK);
	assert_true(r.requested == BLZ_UBLK_F_CMD_IOCTL_ENCODE);

	f = good();
	strcpy(f.release, "5.15.0-1-amd64");
	blz_doctor_assess(&f, &r);
	assert_false(r.can_serve);
	assert_int_equal(find(&r, "kernel")->status, BLZ_DOCTOR_FAIL);
}

static struct blz_json *encode(const struct blz_doctor_report *r)
{
	struct blz_buf b = { 0 };
	blz_doctor_json(r, &b);
	struct blz_json *j = NULL;
	char err[128];
	int rc = blz_json_parse((const char *)b.data, b.len, 16, &j, err, sizeof(err));
	if (rc)
		fail_msg("invalid JSON (%s): %.*s", err, (int)b.len, (const char *)b.data);
	blz_buf_release(&b);
	return j;
}

static bool is_true(const struct blz_json *v)
{
	assert_non_null(v);
	assert_true(v->type == BLZ_JSON_TRUE || v->type == BLZ_JSON_FALSE);
	return v->type == BLZ_JSON_TRUE;
}

static void test_json(void **state)
{
	struct blz_doctor_facts f = good();
	f.features |= BLZ_UBLK_F_NO_AUTO_PART_SCAN | (1ULL << 45);
	f.io_uring_disabled = -1;
	strcpy(f.release, "6.99.0-\"odd\\name\n");
	struct blz_doctor_report r;
	blz_doctor_assess(&f, &r);
	struct blz_json *j = encode(&r);
	const struct blz_json *k = blz_json_get(j, "kernel");
	assert_string_equal(blz_json_string(blz_json_get(k, "release")), f.release);
	assert_string_equal(blz_json_string(blz_json_get(k, "version")), "6.99");
	assert_true(is_true(blz_json_get(j, "can_serve")));
	const struct blz_json *checks = blz_json_get(j, "checks");
	assert_int_equal(checks->n, r.n_checks);
	for (size_t i = 0; i < checks->n; i++) {
		const struct blz_json *c = &checks->items[i];
		assert_string_equal(blz_json_string(blz_json_get(c, "name")), r.checks[i].name);
		assert_string_equal(blz_json_string(blz_json_get(c, "status")), "ok");
		assert_string_equal(blz_json_string(blz_json_get(c, "detail")), r.checks[i].detail);
		assert_int_equal(blz_json_get(c, "fix")->type, BLZ_JSON_NULL);
		assert_int_equal(is_true(blz_json_get(c, "needed_to_serve")),
				 r.checks[i].needed_to_serve);
	}
	const struct blz_json *u = blz_json_get(j, "ublk");
	assert_string_equal(blz_json_string(blz_json_get(u, "module")), "loaded");
	assert_string_equal(blz_json_string(blz_json_get(u, "opcodes")), "encoded");
	uint64_t v;
	assert_int_equal(blz_json_u64(blz_json_get(u, "features"), &v), 0);
	assert_true(v == f.features);
	assert_int_equal(blz_json_u64(blz_json_get(u, "requested"), &v), 0);
	assert_true(v == (BLZ_UBLK_F_CMD_IOCTL_ENCODE | BLZ_UBLK_F_NO_AUTO_PART_SCAN));
	const struct blz_json *flags = blz_json_get(u, "flags");
	size_t n;
	blz_ublk_feature_table(&n);
	assert_int_equal(flags->n, n);
	for (size_t i = 0; i < flags->n; i++) {
		const struct blz_json *e = &flags->items[i];
		uint64_t bit;
		assert_int_equal(blz_json_u64(blz_json_get(e, "bit"), &bit), 0);
		const struct blz_ublk_feature *t = blz_ublk_feature_find(1ULL << bit);
		assert_non_null(t);
		assert_string_equal(blz_json_string(blz_json_get(e, "name")), t->name);
		assert_int_equal(is_true(blz_json_get(e, "kernel")), !!(f.features & t->flag));
		assert_int_equal(is_true(blz_json_get(e, "blazy_uses")), !!(r.requested & t->flag));
	}
	const struct blz_json *unk = blz_json_get(u, "unknown_bits");
	assert_int_equal(unk->n, 1);
	assert_int_equal(blz_json_u64(&unk->items[0], &v), 0);
	assert_int_equal(v, 45);
	const struct blz_json *io = blz_json_get(j, "io_uring");
	assert_int_equal(blz_json_get(io, "disabled")->type, BLZ_JSON_NULL);
	assert_true(is_true(blz_json_get(io, "usable")));
	assert_string_equal(blz_json_string(blz_json_get(j, "btrfs")), "loaded");
	assert_string_equal(blz_json_string(blz_json_get(j, "loop")), "builtin");
	assert_string_equal(blz_json_string(blz_json_get(blz_json_get(j, "run_dir"), "path")),
			    "/run/blazy");
	assert_true(is_true(blz_json_get(j, "cap_sys_admin")));
	blz_json_free(j);

	/* failures: fixes as strings, errors named, features unknown */
	f = good();
	f.ublk = BLZ_DOCTOR_MOD_MISSING;
	f.control_error = -ENOENT;
	f.features_error = -ENODEV;
	f.io_uring_disabled = 2;
	f.io_uring_error = -EPERM;
	blz_doctor_assess(&f, &r);
	j = encode(&r);
	assert_false(is_true(blz_json_get(j, "can_serve")));
	u = blz_json_get(j, "ublk");
	assert_false(is_true(blz_json_get(u, "control")));
	assert_string_equal(blz_json_string(blz_json_get(u, "control_error")), strerror(ENOENT));
	assert_int_equal(blz_json_get(u, "opcodes")->type, BLZ_JSON_NULL);
	assert_false(is_true(blz_json_get(u, "features_known")));
	io = blz_json_get(j, "io_uring");
	assert_int_equal(blz_json_u64(blz_json_get(io, "disabled"), &v), 0);
	assert_int_equal(v, 2);
	assert_string_equal(blz_json_string(blz_json_get(io, "error")), strerror(EPERM));
	checks = blz_json_get(j, "checks");
	bool saw_fix = false;
	for (size_t i = 0; i < checks->n; i++) {
		const char *name = blz_json_string(blz_json_get(&checks->items[i], "name"));
		if (!strcmp(name, "io_uring")) {
			assert_string_equal(blz_json_string(blz_json_get(&checks->items[i], "fix")),
					    "sysctl kernel.io_uring_disabled=0");
			saw_fix = true;
		}
	}
	assert_true(saw_fix);
	blz_json_free(j);
}

/* The probe runs anywhere (here without ublk) and fills what it can. */
static void test_probe(void **state)
{
	struct blz_doctor_facts f;
	memset(&f, 0x55, sizeof(f));
	blz_doctor_probe(&f);
	assert_true(f.release[0]);
	assert_true(blz_ublk_parse_kernel_version(f.release) > 0);
	if (f.control_error)
		assert_int_not_equal(f.features_error, 0);
	assert_true(f.io_uring_disabled >= -1 && f.io_uring_disabled <= 2);
	struct blz_doctor_report r;
	blz_doctor_assess(&f, &r);
	assert_int_equal(r.can_serve, f.control_error == 0 && f.io_uring_error == 0 &&
					      f.cap_sys_admin && f.run_dir_error == 0 &&
					      find(&r, "kernel")->status == BLZ_DOCTOR_OK &&
					      find(&r, "ublk_drv")->status == BLZ_DOCTOR_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_good),
		cmocka_unit_test(test_no_ublk),
		cmocka_unit_test(test_problems_and_fixes),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_probe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
