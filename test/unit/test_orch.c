/* Unit tests for lib/orch: the state file, its name, the fsid in hex, mount points. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "orch/orchestrate.h"

static void test_state_roundtrip(void **unused)
{
	struct blz_orch_state s = { .server_pid = 1234, .server_owned = true, .mounted = true };
	strcpy(s.mountpoint, "/mnt/x y");
	strcpy(s.seed, "/srv/seed.img");
	strcpy(s.map, "/srv/seed.img.map");
	strcpy(s.store, "/srv/seed.img.store");
	strcpy(s.backing, "/tmp/rw=1.img");
	strcpy(s.seed_fsid, "00112233445566778899aabbccddeeff");
	strcpy(s.sprout_fsid, "ffeeddccbbaa99887766554433221100");
	strcpy(s.boot_id, "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
	strcpy(s.loop, "/dev/loop3");
	strcpy(s.ublk, "/dev/ublkb0");
	struct blz_buf b = { 0 };
	assert_int_equal(blz_orch_state_format(&s, &b), 0);
	struct blz_orch_state t;
	char err[128];
	assert_int_equal(blz_orch_state_parse((char *)b.data, b.len, &t, err, sizeof(err)), 0);
	assert_memory_equal(&s, &t, sizeof(s));
	blz_buf_release(&b);

	/* Newlines cannot be written. */
	strcpy(s.backing, "/tmp/a\nb");
	assert_int_equal(blz_orch_state_format(&s, &b), -EINVAL);
	blz_buf_release(&b);
}

static void test_state_parse_errors(void **unused)
{
	struct blz_orch_state t;
	char err[128];
	const char *ok = "# comment\nseed=/s\n\nbacking=/b\nmountpoint=/m\nfuture_key=1\nmounted=0";
	assert_int_equal(blz_orch_state_parse(ok, strlen(ok), &t, err, sizeof(err)), 0);
	assert_string_equal(t.seed, "/s");
	assert_false(t.mounted);
	const char *missing = "seed=/s\nbacking=/b\n";
	assert_int_equal(blz_orch_state_parse(missing, strlen(missing), &t, err, sizeof(err)),
			 -EINVAL);
	const char *noeq = "seed=/s\nbacking\nmountpoint=/m\n";
	assert_int_equal(blz_orch_state_parse(noeq, strlen(noeq), &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2"));
	const char *badpid = "seed=/s\nbacking=/b\nmountpoint=/m\nserver_pid=12x\n";
	assert_int_equal(blz_orch_state_parse(badpid, strlen(badpid), &t, err, sizeof(err)),
			 -EINVAL);
	char longv[5000 + 32] = "seed=";
	memset(longv + 5, 'a', 5000);
	longv[5005] = 0;
	assert_int_equal(blz_orch_state_parse(longv, strlen(longv), &t, err, sizeof(err)),
			 -ENAMETOOLONG);
}

static void test_state_name(void **unused)
{
	char buf[300];
	assert_int_equal(blz_orch_state_name("/mnt/x", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "mnt-x.state");
	assert_int_equal(blz_orch_state_name("/", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "-.state");
	assert_int_equal(blz_orch_state_name("/a-b/c d", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a%2Db-c%20d.state");
	/* Distinct mount points get distinct names. */
	char other[300];
	assert_int_equal(blz_orch_state_name("/a/b-c-d", other, sizeof(other)), 0);
	assert_string_not_equal(buf, other);
	assert_int_equal(blz_orch_state_name("relative", buf, sizeof(buf)), -EINVAL);
	char longp[400] = "/";
	memset(longp + 1, 'x', 300);
	assert_int_equal(blz_orch_state_name(longp, buf, sizeof(buf)), -ENAMETOOLONG);
}

static void test_hex_fsid(void **unused)
{
	char h[33];
	uint8_t fsid[16] = { 0, 1, 0xab, 0xff };
	blz_orch_hex_fsid(fsid, h);
	assert_string_equal(h, "0001abff000000000000000000000000");
}

static void test_is_mountpoint(void **unused)
{
	assert_int_equal(blz_orch_is_mountpoint("/"), 1);
	assert_int_equal(blz_orch_is_mountpoint("/no/such/mount/point"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_state_parse_errors),
		cmocka_unit_test(test_state_name),
		cmocka_unit_test(test_hex_fsid),
		cmocka_unit_test(test_is_mountpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
