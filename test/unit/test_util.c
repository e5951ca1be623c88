/* Unit tests for lib/util: crc32c, crc32, little-endian codecs, size parsing, buffers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/crc32c.h"
#include "util/le.h"
#include "util/size.h"
#include "util/strbuf.h"

uint32_t blz_crc32c_raw_sw(uint32_t crc, const void *buf, size_t len);

static void test_crc32c_known(void **state)
{
	/* The CRC-32C check value and RFC 3720 (iSCSI) vectors. */
	assert_int_equal(blz_crc32c("123456789", 9), 0xE3069283u);
	uint8_t zeros[32] = { 0 }, ones[32], inc[32];
	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	assert_int_equal(blz_crc32c(zeros, 32), 0x8A9136AAu);
	assert_int_equal(blz_crc32c(ones, 32), 0x62A8AB43u);
	assert_int_equal(blz_crc32c(inc, 32), 0x46DD794Eu);
	assert_int_equal(blz_crc32c("", 0), 0);
}

static void test_crc32c_hw_matches_sw(void **state)
{
	uint8_t buf[4099];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (size_t len = 0; len < sizeof(buf); len += 97) {
		for (size_t off = 0; off < 9; off++) {
			if (off + len > sizeof(buf))
				break;
			assert_int_equal(blz_crc32c_raw(~0u, buf + off, len),
					 blz_crc32c_raw_sw(~0u, buf + off, len));
		}
	}
}

static void test_crc32_ieee(void **state)
{
	/* the CRC-32 check value; gzip's trailer of "a\n" (echo a | gzip | tail -c 8) */
	assert_int_equal(blz_crc32("123456789", 9), 0xCBF43926u);
	assert_int_equal(blz_crc32("a\n", 2), 0xddeaa107u);
	assert_int_equal(blz_crc32("", 0), 0);
	/* any split of the input gives the same value */
	uint8_t buf[1000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	uint32_t whole = blz_crc32(buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf); cut += 37)
		assert_int_equal(~blz_crc32_raw(blz_crc32_raw(~0u, buf, cut), buf + cut,
						 sizeof(buf) - cut), whole);
}

static void test_le(void **state)
{
	uint8_t b[8];
	put_le16(b, 0x1234);
	assert_int_equal(b[0], 0x34);
	assert_int_equal(b[1], 0x12);
	assert_int_equal(get_le16(b), 0x1234);
	put_le32(b, 0xA1B2C3D4u);
	assert_memory_equal(b, "\xD4\xC3\xB2\xA1", 4);
	assert_int_equal(get_le32(b), 0xA1B2C3D4u);
	put_le64(b, 0x0102030405060708ull);
	assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	assert_true(get_le64(b) == 0x0102030405060708ull);
	put_le64(b, UINT64_MAX);
	assert_true(get_le64(b) == UINT64_MAX);
	put_le64(b, 0x4D5F53665248425Full);
	assert_memory_equal(b, "_BHRfS_M", 8);
}

static void test_size_parse(void **state)
{
	uint64_t v;
	assert_int_equal(blz_parse_size("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(blz_parse_size("4096", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(blz_parse_size("1K", &v), 0);
	assert_true(v == 1024);
	assert_int_equal(blz_parse_size("1k", &v), 0);
	assert_true(v == 1024);
	assert_int_equal(blz_parse_size("3M", &v), 0);
	assert_true(v == 3ull << 20);
	assert_int_equal(blz_parse_size("2GiB", &v), 0);
	assert_true(v == 2ull << 30);
	assert_int_equal(blz_parse_size("1TB", &v), 0);
	assert_true(v == 1ull << 40);
	assert_int_equal(blz_parse_size("1P", &v), 0);
	assert_true(v == 1ull << 50);
	assert_int_equal(blz_parse_size("4E", &v), 0);
	assert_true(v == 4ull << 60);
	assert_int_equal(blz_parse_size("15E", &v), 0);
	assert_true(v == 15ull << 60);
	assert_int_equal(blz_parse_size("512B", &v), 0);
	assert_true(v == 512);
	assert_int_equal(blz_parse_size("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	/* Errors leave the output alone. */
	v = 77;
	assert_int_equal(blz_parse_size("16E", &v), -ERANGE);
	assert_int_equal(blz_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(blz_parse_size("", &v), -EINVAL);
	assert_int_equal(blz_parse_size(NULL, &v), -EINVAL);
	assert_int_equal(blz_parse_size("-1", &v), -EINVAL);
	assert_int_equal(blz_parse_size("1X", &v), -EINVAL);
	assert_int_equal(blz_parse_size("1KK", &v), -EINVAL);
	assert_int_equal(blz_parse_size("K", &v), -EINVAL);
	assert_int_equal(blz_parse_size("1.5G", &v), -EINVAL);
	assert_int_equal(blz_parse_size(" 1", &v), -EINVAL);
	assert_true(v == 77);
}

static void test_size_format(void **state)
{
	char b[32];
	assert_string_equal(blz_format_size(0, b, sizeof(b)), "0 B");
	assert_string_equal(blz_format_size(1023, b, sizeof(b)), "1023 B");
	assert_string_equal(blz_format_size(1024, b, sizeof(b)), "1 KiB");
	assert_string_equal(blz_format_size(1536, b, sizeof(b)), "1.5 KiB");
	assert_string_equal(blz_format_size(4ull << 60, b, sizeof(b)), "4 EiB");
}

static void test_buf_vec(void **state)
{
	struct blz_buf b = { 0 };
	for (int i = 0; i < 1000; i++)
		blz_buf_append(&b, "abc", 3);
	assert_int_equal(b.len, 3000);
	assert_memory_equal(b.data + 2997, "abc", 3);
	uint8_t *z = blz_buf_grow(&b, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(z[i], 0);
	blz_buf_release(&b);
	VEC(int) v = { 0 };
	for (int i = 0; i < 100000; i++)
		vec_push(&v, i);
	assert_int_equal(v.len, 100000);
	assert_int_equal(v.v[99999], 99999);
	vec_release(&v);
	assert_null(v.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_known),
		cmocka_unit_test(test_crc32c_hw_matches_sw),
		cmocka_unit_test(test_crc32_ieee),
		cmocka_unit_test(test_le),
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_size_format),
		cmocka_unit_test(test_buf_vec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
