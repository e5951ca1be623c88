/* Unit tests for lib/ublk: what can be checked without ublk_drv (the host has none; the
 * driver itself is exercised by the VM tests in test/vm/tests). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ublk/ublk.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abi),
		cmocka_unit_test(test_desc_offset),
		cmocka_unit_test(test_parse_dev),
		cmocka_unit_test(test_kernel_version),
		cmocka_unit_test(test_state_and_pid),
		cmocka_unit_test(test_no_control),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
