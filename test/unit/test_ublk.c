/* Unit tests for lib/ublk: what can be checked without ublk_drv (the host has none; the
 * driver itself is exercised by the VM tests in test/vm/tests). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "ublk/pollwin.h"
#include "ublk/ublk.h"
#include "ublk/zc.h"

static void test_abi(void **state)
{
	/* opcode encodings as the kernel defines them */
	assert_int_equal(BLZ_UBLK_U_CMD_ADD_DEV, 0xc0207504u);
	assert_int_equal(BLZ_UBLK_U_CMD_GET_FEATURES, 0x80207513u);
	assert_int_equal(BLZ_UBLK_U_CMD_DEL_DEV_ASYNC, 0x80207514u);
	assert_int_equal(BLZ_UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0xc0107521u);
	assert_int_equal(sizeof(struct blz_ublk_dev_info), 64);
	assert_int_equal(offsetof(struct blz_ublk_dev_info, ublksrv_flags), 32);
	assert_int_equal(offsetof(struct blz_ublk_io_desc, start_sector), 8);
}

static void test_zero_copy_abi(void **state)
{
	assert_int_equal(BLZ_UBLK_U_CMD_TRY_STOP_DEV, 0xc0207517u);
	/* struct ublk_auto_buf_reg in an SQE's addr: index bits 0-15, flags 16-23 */
	assert_int_equal(blz_ublk_auto_buf_reg_addr(5, BLZ_UBLK_AUTO_BUF_REG_FALLBACK), 0x10005u);
	assert_int_equal(blz_ublk_auto_buf_reg_addr(4095, 0), 4095u);
	/* user copy: 0x80000000 + (q << 41) + (tag << 25) + offset */
	assert_true(blz_ublk_user_copy_pos(0, 0, 0) == 0x80000000ULL);
	assert_true(blz_ublk_user_copy_pos(1, 2, 512) ==
		    0x80000000ULL + (1ULL << 41) + (2ULL << 25) + 512);
	assert_int_equal(BLZ_UBLK_IO_F_NEED_REG_BUF, 1u << 17);
}

static int fr_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	return 0;
}

static int fr_range(struct blz_backend *b, uint64_t off, uint32_t len, int *fd, uint64_t *foff)
{
	return -ENOENT;
}

static void fr_close(struct blz_backend *b)
{
}

static void test_zero_copy_possible(void **state)
{
	static const struct blz_backend_ops with = { "f", fr_read, NULL, fr_close, fr_range };
	static const struct blz_backend_ops without = { "n", fr_read, NULL, fr_close, NULL };
	struct blz_backend bw = { &with, 1 << 20 }, bn = { &without, 1 << 20 };
	struct blz_ublk_dev_config cfg = { .backend = &bw, .zero_copy = true };
	uint64_t both = BLZ_UBLK_F_AUTO_BUF_REG | BLZ_UBLK_F_USER_COPY;
	assert_true(blz_ublk_zero_copy_possible(both, false, &cfg));
	/* the kernel must have both; encoded opcodes; the backend must have file_range */
	assert_false(blz_ublk_zero_copy_possible(BLZ_UBLK_F_USER_COPY, false, &cfg));
	assert_false(blz_ublk_zero_copy_possible(BLZ_UBLK_F_AUTO_BUF_REG, false, &cfg));
	assert_false(blz_ublk_zero_copy_possible(both, true, &cfg));
	cfg.zero_copy = false;
	assert_false(blz_ublk_zero_copy_possible(both, false, &cfg));
	cfg.zero_copy = true;
	cfg.backend = &bn;
	assert_false(blz_ublk_zero_copy_possible(both, false, &cfg));
	/* the environment switch */
	unsetenv("BLAZY_ZERO_COPY");
	assert_false(blz_ublk_zero_copy_env()); /* off unless asked for */
	setenv("BLAZY_ZERO_COPY", "off", 1);
	assert_false(blz_ublk_zero_copy_env());
	setenv("BLAZY_ZERO_COPY", "auto", 1);
	assert_true(blz_ublk_zero_copy_env());
	unsetenv("BLAZY_ZERO_COPY");
}

static void test_zc_pairing(void **state)
{
	struct blz_ublk_zc *z;
	assert_int_equal(blz_ublk_zc_new(0, &z), -EINVAL);
	assert_int_equal(blz_ublk_zc_new(4, &z), 0);
	int32_t res, commit = 12345;

	/* the whole length: the linked commit went out, nothing to do */
	blz_ublk_zc_read_begin(z, 0, 16384);
	assert_true(blz_ublk_zc_busy(z, 0));
	assert_false(blz_ublk_zc_read_cqe(z, 0, 16384, &res, &commit));
	assert_int_equal(res, 16384);
	assert_false(blz_ublk_zc_busy(z, 0));
	/* an ordinary commit completion is not the state machine's */
	assert_int_equal(blz_ublk_zc_commit_cqe(z, 0, 0, &commit), -1);
	assert_int_equal(blz_ublk_zc_commit_cqe(z, 0, -ECANCELED, &commit), -1);

	/* a short READ, then its severed commit: commit again with EIO, not the whole blocks
	 * read (with USER_COPY the kernel would end the whole request as done) */
	blz_ublk_zc_read_begin(z, 1, 16384);
	assert_false(blz_ublk_zc_read_cqe(z, 1, 10000, &res, &commit));
	assert_int_equal(res, -EIO);
	assert_true(blz_ublk_zc_busy(z, 1));
	assert_int_equal(blz_ublk_zc_commit_cqe(z, 1, -ECANCELED, &commit), 1);
	assert_int_equal(commit, -EIO);
	assert_false(blz_ublk_zc_busy(z, 1));
	/* whole blocks short, committed first: EIO too */
	blz_ublk_zc_read_begin(z, 1, 16384);
	assert_int_equal(blz_ublk_zc_commit_cqe(z, 1, -ECANCELED, &commit), 0);
	commit = 0;
	assert_true(blz_ublk_zc_read_cqe(z, 1, 12288, &res, &commit));
	assert_int_equal(commit, -EIO);
	assert_false(blz_ublk_zc_busy(z, 1));

	/* the severed commit first, then a failed READ: EIO */
	blz_ublk_zc_read_begin(z, 2, 4096);
	assert_int_equal(blz_ublk_zc_commit_cqe(z, 2, -ECANCELED, &commit), 0);
	assert_true(blz_ublk_zc_busy(z, 2));
	commit = 0;
	assert_true(blz_ublk_zc_read_cqe(z, 2, -EFAULT, &res, &commit));
	assert_int_equal(commit, -EIO);
	assert_int_equal(res, -EIO);
	assert_false(blz_ublk_zc_busy(z, 2));

	/* less than a block, and end of file: EIO */
	blz_ublk_zc_read_begin(z, 3, 8192);
	assert_false(blz_ublk_zc_read_cqe(z, 3, 100, &res, &commit));
	assert_int_equal(blz_ublk_zc_commit_cqe(z, 3, -ECANCELED, &commit), 1);
	assert_int_equal(commit, -EIO);
	blz_ublk_zc_read_begin(z, 3, 8192);
	assert_false(blz_ublk_zc_read_cqe(z, 3, 0, &res, &commit));
	assert_int_equal(res, -EIO);
	assert_int_equal(blz_ublk_zc_commit_cqe(z, 3, -ECANCELED, &commit), 1);
	assert_int_equal(commit, -EIO);
	/* tags out of range are refused, not written */
	assert_int_equal(blz_ublk_zc_commit_cqe(z, 4, -ECANCELED, &commit), -1);
	assert_false(blz_ublk_zc_busy(z, 9));
	blz_ublk_zc_free(z);
	blz_ublk_zc_free(NULL);

	/* user copy on something that is not /dev/ublkcN fails: EIO, results <= 0 untouched */
	char buf[4096] = { 0 };
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(blz_ublk_zc_copy(fds[1], 0, 0, buf, 4096), -EIO);
	assert_int_equal(blz_ublk_zc_copy(fds[1], 0, 0, buf, -EIO), -EIO);
	assert_int_equal(blz_ublk_zc_copy(fds[1], 0, 0, buf, 0), 0);
	close(fds[0]);
	close(fds[1]);
	/* a file takes every byte at the request's position: the result as it was */
	char path[] = "/tmp/blazy-zc-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	memset(buf, 0x7e, sizeof(buf));
	assert_int_equal(blz_ublk_zc_copy(fd, 1, 2, buf, 3072), 3072);
	char back[3072];
	assert_int_equal(pread(fd, back, sizeof(back), (off_t)blz_ublk_user_copy_pos(1, 2, 0)),
			 (ssize_t)sizeof(back));
	assert_memory_equal(back, buf, sizeof(back));
	close(fd);
}

static void test_desc_offset(void **state)
{
	/* the stride is a maximum-depth array (4096 x 24 bytes) rounded up to a page */
	assert_true(blz_ublk_desc_offset(0, 4096) == 0);
	assert_true(blz_ublk_desc_offset(1, 4096) == 98304);
	assert_true(blz_ublk_desc_offset(3, 4096) == 3 * 98304);
	assert_true(blz_ublk_desc_offset(1, 65536) == 131072);
}

static void test_parse_dev(void **state)
{
	uint32_t id = 99;
	assert_int_equal(blz_ublk_parse_dev("/dev/ublkb3", &id), 0);
	assert_int_equal(id, 3);
	assert_int_equal(blz_ublk_parse_dev("ublkb12", &id), 0);
	assert_int_equal(id, 12);
	assert_int_equal(blz_ublk_parse_dev("/dev/ublkc7", &id), 0);
	assert_int_equal(id, 7);
	assert_int_equal(blz_ublk_parse_dev("0", &id), 0);
	assert_int_equal(id, 0);
	static const char *bad[] = { "", "ublkb", "/dev/ublkb", "/dev/sda", "3x", "-1", "ublkb+1",
				     "99999999999", "/dev/ublkb1/" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(blz_ublk_parse_dev(bad[i], &id), -EINVAL);
	assert_int_equal(blz_ublk_parse_dev(NULL, &id), -EINVAL);
}

static void test_kernel_version(void **state)
{
	assert_int_equal(blz_ublk_parse_kernel_version("6.12.107+deb13-amd64"), 6012);
	assert_int_equal(blz_ublk_parse_kernel_version("6.1.0-37-amd64"), 6001);
	assert_int_equal(blz_ublk_parse_kernel_version("6.4"), 6004);
	assert_int_equal(blz_ublk_parse_kernel_version("10.0-rc1"), 10000);
	assert_int_equal(blz_ublk_parse_kernel_version("x"), -EINVAL);
	assert_int_equal(blz_ublk_parse_kernel_version("6"), -EINVAL);
	assert_int_equal(blz_ublk_parse_kernel_version(""), -EINVAL);
}

static void test_state_and_pid(void **state)
{
	assert_string_equal(blz_ublk_state_name(BLZ_UBLK_S_DEV_LIVE), "live");
	assert_string_equal(blz_ublk_state_name(BLZ_UBLK_S_DEV_DEAD), "dead");
	assert_string_equal(blz_ublk_state_name(BLZ_UBLK_S_DEV_QUIESCED), "quiesced");
	assert_string_equal(blz_ublk_state_name(42), "unknown");
	assert_true(blz_ublk_pid_alive(getpid()));
	assert_false(blz_ublk_pid_alive(0));
	assert_false(blz_ublk_pid_alive(-1));
}

static void test_no_control(void **state)
{
	/* Without ublk_drv (the host) opening the control device says so; with it, it works. */
	struct blz_ublk_ctrl *c = NULL;
	int r = blz_ublk_ctrl_open(&c);
	if (access(BLZ_UBLK_CONTROL_PATH, F_OK) != 0) {
		assert_int_equal(r, -ENOENT);
		assert_null(c);
	} else if (r == 0) {
		blz_ublk_ctrl_close(c);
	}
	struct blz_ublk_dev *d = NULL;
	struct blz_ublk_dev_config cfg = { .size = 1000 };
	assert_int_equal(blz_ublk_dev_create(&cfg, &d), -EINVAL); /* no read callback */
	blz_ublk_dev_free(NULL);
}

static void test_feature_table(void **state)
{
	size_t n;
	const struct blz_ublk_feature *t = blz_ublk_feature_table(&n);
	assert_true(n >= 19);
	/* every entry one distinct bit, ascending, named, with a release */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(__builtin_popcountll(t[i].flag), 1);
		if (i)
			assert_true(t[i].flag > t[i - 1].flag);
		assert_non_null(t[i].name);
		assert_non_null(t[i].since);
		assert_non_null(t[i].what);
		assert_null(strchr(t[i].name, ' '));
		assert_ptr_equal(blz_ublk_feature_find(t[i].flag), &t[i]);
	}
	/* the bits as include/uapi/linux/ublk_cmd.h defines them */
	static const struct { const char *name; unsigned bit; } kernel[] = {
		{ "SUPPORT_ZERO_COPY", 0 }, { "USER_RECOVERY", 3 }, { "USER_RECOVERY_REISSUE", 4 },
		{ "CMD_IOCTL_ENCODE", 6 }, { "USER_COPY", 7 }, { "USER_RECOVERY_FAIL_IO", 9 },
		{ "UPDATE_SIZE", 10 }, { "AUTO_BUF_REG", 11 }, { "QUIESCE", 12 },
		{ "PER_IO_DAEMON", 13 }, { "BUF_REG_OFF_DAEMON", 14 }, { "BATCH_IO", 15 },
		{ "INTEGRITY", 16 }, { "SAFE_STOP_DEV", 17 }, { "NO_AUTO_PART_SCAN", 18 },
		{ "SHMEM_ZC", 19 }, { "IO_DESC_SIZE", 20 },
	};
	for (size_t i = 0; i < sizeof(kernel) / sizeof(kernel[0]); i++) {
		const struct blz_ublk_feature *e = blz_ublk_feature_find(1ULL << kernel[i].bit);
		assert_non_null(e);
		assert_string_equal(e->name, kernel[i].name);
	}
	assert_null(blz_ublk_feature_find(1ULL << 40));
	assert_null(blz_ublk_feature_find(0));
	assert_null(blz_ublk_feature_find(3)); /* two bits */
}

static void test_features_request(void **state)
{
	uint64_t all = ~0ULL, k612 = 0x70fb; /* what 6.12's GET_FEATURES may answer */
	/* NO_AUTO_PART_SCAN only where offered; encoded opcodes unless legacy */
	assert_true(blz_ublk_features_request(all, false, false) ==
		    (BLZ_UBLK_F_CMD_IOCTL_ENCODE | BLZ_UBLK_F_NO_AUTO_PART_SCAN |
		     BLZ_UBLK_F_SAFE_STOP_DEV));
	assert_true(blz_ublk_features_request(k612, false, false) == BLZ_UBLK_F_CMD_IOCTL_ENCODE);
	assert_true(blz_ublk_features_request(0, false, false) == BLZ_UBLK_F_CMD_IOCTL_ENCODE);
	assert_true(blz_ublk_features_request(0, true, false) == 0);
	assert_true(blz_ublk_features_request(all, true, false) == BLZ_UBLK_F_NO_AUTO_PART_SCAN);
	/* the test hook keeps the partition scan */
	assert_true(blz_ublk_features_request(all, false, true) ==
		    (BLZ_UBLK_F_CMD_IOCTL_ENCODE | BLZ_UBLK_F_SAFE_STOP_DEV));
	/* SAFE_STOP_DEV only where offered, and not with legacy opcodes */
	assert_true(blz_ublk_features_request(BLZ_UBLK_F_SAFE_STOP_DEV, false, false) ==
		    (BLZ_UBLK_F_CMD_IOCTL_ENCODE | BLZ_UBLK_F_SAFE_STOP_DEV));
	/* nothing outside what blazy wants, whatever the kernel offers */
	assert_true((blz_ublk_features_request(all, false, false) & ~BLZ_UBLK_F_BLAZY_WANTS) == 0);
	setenv("BLAZY_UBLK_PART_SCAN", "1", 1);
	assert_true(blz_ublk_part_scan_forced());
	setenv("BLAZY_UBLK_PART_SCAN", "0", 1);
	assert_false(blz_ublk_part_scan_forced());
	unsetenv("BLAZY_UBLK_PART_SCAN");
	assert_false(blz_ublk_part_scan_forced());
}

static void test_batch_wanted(void **state)
{
	(void)state;
	uint64_t k73 = BLZ_UBLK_F_CMD_IOCTL_ENCODE | BLZ_UBLK_F_BATCH_IO, k612 = 0x70fb;
	unsetenv("BLAZY_UBLK_IO");
	assert_null(blz_ublk_io_forced());
	/* by default wherever the kernel offers it with encoded opcodes (recoverable devices
	 * too: they hand over by exiting, not QUIESCE_DEV), unless the device would use zero
	 * copy */
	assert_true(blz_ublk_batch_wanted(k73, false, false));
	assert_false(blz_ublk_batch_wanted(k73, false, true));
	assert_false(blz_ublk_batch_wanted(k73, true, false));
	assert_false(blz_ublk_batch_wanted(k612, false, false));
	assert_false(blz_ublk_batch_wanted(0, false, false));
	assert_true((BLZ_UBLK_F_BLAZY_WANTS & BLZ_UBLK_F_BATCH_IO) != 0);
	/* the switch keeps the per-tag commands or forces the batched ones where they exist,
	 * zero copy or not */
	setenv("BLAZY_UBLK_IO", "tag", 1);
	assert_string_equal(blz_ublk_io_forced(), "tag");
	assert_false(blz_ublk_batch_wanted(k73, false, false));
	setenv("BLAZY_UBLK_IO", "batch", 1);
	assert_string_equal(blz_ublk_io_forced(), "batch");
	assert_true(blz_ublk_batch_wanted(k73, false, true));
	assert_false(blz_ublk_batch_wanted(k612, false, true));
	assert_false(blz_ublk_batch_wanted(k73, true, true));
	setenv("BLAZY_UBLK_IO", "bogus", 1);
	assert_null(blz_ublk_io_forced());
	assert_true(blz_ublk_batch_wanted(k73, false, false));
	assert_false(blz_ublk_batch_wanted(k73, false, true));
	unsetenv("BLAZY_UBLK_IO");
}

static void test_recovery_flags(void **state)
{
	(void)state;
	const uint64_t rec = BLZ_UBLK_F_USER_RECOVERY, reissue = BLZ_UBLK_F_USER_RECOVERY_REISSUE,
		       fail = BLZ_UBLK_F_USER_RECOVERY_FAIL_IO, quiesce = BLZ_UBLK_F_QUIESCE;
	uint64_t k612 = 0xfb, k73 = k612 | fail | quiesce | BLZ_UBLK_F_BATCH_IO; /* 6.12: bits 0-7 */
	/* waiting: REISSUE, never FAIL_IO; QUIESCE where offered */
	assert_true(blz_ublk_recovery_flags(k612, false) == (rec | reissue));
	assert_true(blz_ublk_recovery_flags(k73, false) == (rec | reissue | quiesce));
	/* failing at once: FAIL_IO, never with REISSUE (the kernel refuses the pair) */
	assert_true(blz_ublk_recovery_flags(k73, true) == (rec | fail | quiesce));
	assert_true(blz_ublk_recovery_flags(rec | fail, true) == (rec | fail));
	/* no FAIL_IO (6.12): not recoverable, so that I/O still fails at once */
	assert_true(blz_ublk_recovery_flags(k612, true) == 0);
	/* no USER_RECOVERY: nothing either way */
	assert_true(blz_ublk_recovery_flags(reissue | fail | quiesce, false) == 0);
	assert_true(blz_ublk_recovery_flags(reissue | fail | quiesce, true) == 0);
	assert_true(blz_ublk_recovery_flags(0, false) == 0);
}

static void test_features_format(void **state)
{
	char buf[256];
	assert_int_equal(blz_ublk_features_format(0, ", ", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	uint64_t m = BLZ_UBLK_F_USER_COPY | BLZ_UBLK_F_NO_AUTO_PART_SCAN | (1ULL << 40) |
		     BLZ_UBLK_F_SUPPORT_ZERO_COPY;
	const char *want = "SUPPORT_ZERO_COPY, USER_COPY, NO_AUTO_PART_SCAN, bit 40";
	assert_int_equal(blz_ublk_features_format(m, ", ", buf, sizeof(buf)), strlen(want));
	assert_string_equal(buf, want);
	/* truncated like snprintf: the length needed, a NUL-terminated prefix */
	char small[12];
	assert_int_equal(blz_ublk_features_format(m, ", ", small, sizeof(small)), strlen(want));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, want, sizeof(small) - 1);
	assert_int_equal(blz_ublk_features_format(m, ", ", NULL, 0), strlen(want));
}

/* The poll window: full while gaps are short, halved by long ones and off below an eighth,
 * back at once after a short gap; fixed and 0 never move. */
static void test_pollwin(void **state)
{
	(void)state;
	struct blz_pollwin w;
	blz_pollwin_init(&w, 200000, false);
	assert_int_equal(blz_pollwin_window(&w), 200000);
	blz_pollwin_gap(&w, 150000);
	assert_int_equal(blz_pollwin_window(&w), 200000);
	uint64_t want[] = { 100000, 50000, 25000, 0, 0, 0 };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		blz_pollwin_gap(&w, 300000);
		assert_int_equal(blz_pollwin_window(&w), want[i]);
	}
	blz_pollwin_gap(&w, 200000); /* a sleeper's gap within max: poll again */
	assert_int_equal(blz_pollwin_window(&w), 200000);
	blz_pollwin_gap(&w, 200001);
	assert_int_equal(blz_pollwin_window(&w), 100000);
	blz_pollwin_gap(&w, 0);
	assert_int_equal(blz_pollwin_window(&w), 200000);

	blz_pollwin_init(&w, 200000, true);
	for (int i = 0; i < 10; i++)
		blz_pollwin_gap(&w, 1000000);
	assert_int_equal(blz_pollwin_window(&w), 200000);
	blz_pollwin_init(&w, 0, false);
	blz_pollwin_gap(&w, 10);
	assert_int_equal(blz_pollwin_window(&w), 0);

	unsetenv("BLAZY_UBLK_POLL");
	assert_false(blz_pollwin_fixed_forced());
	setenv("BLAZY_UBLK_POLL", "fixed", 1);
	assert_true(blz_pollwin_fixed_forced());
	unsetenv("BLAZY_UBLK_POLL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abi),
		cmocka_unit_test(test_desc_offset),
		cmocka_unit_test(test_zero_copy_abi),
		cmocka_unit_test(test_zero_copy_possible),
		cmocka_unit_test(test_zc_pairing),
		cmocka_unit_test(test_parse_dev),
		cmocka_unit_test(test_kernel_version),
		cmocka_unit_test(test_state_and_pid),
		cmocka_unit_test(test_no_control),
		cmocka_unit_test(test_feature_table),
		cmocka_unit_test(test_features_request),
		cmocka_unit_test(test_batch_wanted),
		cmocka_unit_test(test_recovery_flags),
		cmocka_unit_test(test_features_format),
		cmocka_unit_test(test_pollwin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
