/* Unit tests for lib/backend: spec parsing, the null and pattern backends. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "util/le.h"

static void test_spec_ok(void **state)
{
	struct blz_backend *b = NULL;
	char err[128];
	assert_int_equal(blz_backend_open_spec("null,size=1G", &b, err, sizeof(err)), 0);
	assert_non_null(b);
	assert_string_equal(b->ops->name, "null");
	assert_true(b->size == 1ULL << 30);
	blz_backend_close(b);
	assert_int_equal(blz_backend_open_spec("pattern,size=8192", &b, err, sizeof(err)), 0);
	assert_string_equal(b->ops->name, "pattern");
	assert_true(b->size == 8192);
	blz_backend_close(b);
	blz_backend_close(NULL);
}

static void test_spec_bad(void **state)
{
	static const char *bad[] = {
		"", "null", "nope,size=1G", "null,size=", "null,size=1Q", "null,size=0",
		"null,size=1000", "null,size=4096,size=8192", "null,bogus=1", "null,size",
		",size=1G", "pattern,size=18446744073709551616", "null,size=1M,stall=4096",
		"null,size=1M,async=65", "null,size=1M,async=x", "null,async=2",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct blz_backend *b = NULL;
		char err[128] = "";
		assert_int_equal(blz_backend_open_spec(bad[i], &b, err, sizeof(err)), -EINVAL);
		assert_null(b);
		assert_true(err[0] != 0);
	}
}

static void test_null_read(void **state)
{
	struct blz_backend *b;
	assert_int_equal(blz_backend_null_open(1 << 20, &b), 0);
	uint8_t buf[8192];
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(blz_backend_read(b, buf, sizeof(buf), 4096), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(blz_backend_read(b, buf, 4096, (1 << 20) - 2048), -EIO);
	assert_int_equal(blz_backend_read(b, buf, 1, 1 << 20), -EIO);
	blz_backend_close(b);
}

static void test_pattern_read(void **state)
{
	struct blz_backend *b;
	assert_int_equal(blz_backend_pattern_open(1ULL << 40, &b), 0);
	uint8_t buf[4096 + 16];
	/* aligned: every word is its offset */
	uint64_t base = (1ULL << 40) - 4096;
	assert_int_equal(blz_backend_read(b, buf, 4096, base), 0);
	for (size_t i = 0; i < 4096; i += 8)
		assert_true(get_le64(buf + i) == base + i);
	/* unaligned offsets and lengths agree byte for byte with the aligned words */
	for (uint64_t off = 1000; off < 1016; off++) {
		for (uint32_t len = 1; len < 40; len += 3) {
			assert_int_equal(blz_backend_read(b, buf + 1, len, off), 0);
			for (uint32_t i = 0; i < len; i++) {
				uint64_t o = off + i;
				uint8_t want = (uint8_t)((o & ~7ULL) >> (8 * (o & 7)));
				assert_int_equal(buf[1 + i], want);
				assert_int_equal(blz_pattern_byte(o), want);
			}
		}
	}
	blz_backend_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_ok),
		cmocka_unit_test(test_spec_bad),
		cmocka_unit_test(test_null_read),
		cmocka_unit_test(test_pattern_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
