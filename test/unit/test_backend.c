/* Unit tests for lib/backend: spec parsing, the null and pattern backends, the request
 * filters (delay, error) and the notes a read leaves on its request. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "util/clock.h"
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

/* ---- request filters ---- */

static struct blz_backend *filtered(const char *spec)
{
	struct blz_backend *b = NULL;
	char err[128] = "";
	assert_int_equal(blz_backend_open_spec("pattern,size=1M", &b, err, sizeof(err)), 0);
	if (blz_backend_filter_spec(spec, &b, err, sizeof(err)) < 0)
		fail_msg("'%s': %s", spec, err);
	return b;
}

/* Reads one block through b with its notes: the result, the outcome in *outcome. */
static int read_noted(struct blz_backend *b, uint8_t *buf, unsigned *outcome)
{
	struct blz_backend_req req = { .buf = buf, .len = 4096, .off = 8192 };
	int r = blz_backend_read_req(b, &req);
	*outcome = req.outcome;
	return r;
}

static void test_filter_delay(void **state)
{
	struct blz_backend *b = filtered("delay:ms=30");
	assert_string_equal(b->ops->name, "delay");
	uint8_t buf[4096];
	unsigned o;
	uint64_t t = blz_now_ms();
	for (int i = 0; i < 3; i++)
		assert_int_equal(read_noted(b, buf, &o), 0);
	assert_true(blz_now_ms() - t >= 90);
	assert_int_equal(buf[0], blz_pattern_byte(8192)); /* the layer below's bytes */
	assert_int_equal(o, BLZ_OUT_OK);
	blz_backend_close(b);
	b = filtered("delay:ms=0");
	t = blz_now_ms();
	assert_int_equal(read_noted(b, buf, &o), 0);
	assert_true(blz_now_ms() - t < 30);
	blz_backend_close(b);
}

static void test_filter_error_rate(void **state)
{
	uint8_t buf[4096];
	unsigned o, fails = 0;
	struct blz_backend *b = filtered("error:rate=1");
	assert_int_equal(read_noted(b, buf, &o), -EIO);
	assert_int_equal(o, BLZ_OUT_ERROR);
	blz_backend_close(b);
	b = filtered("error:rate=0");
	assert_int_equal(read_noted(b, buf, &o), 0);
	blz_backend_close(b);
	b = filtered("error:rate=0.25");
	for (int i = 0; i < 20000; i++)
		fails += read_noted(b, buf, &o) == -EIO;
	if (fails < 4500 || fails > 5500)
		fail_msg("rate 0.25 failed %u of 20000 reads", fails);
	blz_backend_close(b);
	/* over an asynchronous layer: the submit path, the filter's note on the request */
	struct blz_backend *a = NULL;
	char err[128];
	assert_int_equal(blz_backend_open_spec("null,size=1M,async=2", &a, err, sizeof(err)), 0);
	assert_int_equal(blz_backend_filter_spec("error:rate=1", &a, err, sizeof(err)), 0);
	assert_true(blz_backend_is_async(a));
	blz_backend_close(a);
}

static void test_filter_trigger_file(void **state)
{
	char path[] = "/tmp/blazy-trigger-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	char spec[128];
	snprintf(spec, sizeof(spec), "error:rate=1,file=%s", path);
	struct blz_backend *b = filtered(spec);
	uint8_t buf[4096];
	unsigned o;
	assert_int_equal(read_noted(b, buf, &o), 0);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	blz_sleep_ms(30); /* the file is looked at every 10 ms at most */
	assert_int_equal(read_noted(b, buf, &o), -EIO);
	assert_int_equal(read_noted(b, buf, &o), -EIO);
	unlink(path);
	blz_sleep_ms(30);
	assert_int_equal(read_noted(b, buf, &o), 0);
	blz_backend_close(b);
	/* the path is the rest of the spec, commas included */
	assert_string_equal(blz_backend_filter_file("error:rate=0.5,file=/a,b"), "/a,b");
	assert_string_equal(blz_backend_filter_file("error:file=/x,rate=1"), "/x,rate=1");
	assert_null(blz_backend_filter_file("error:rate=1"));
	assert_null(blz_backend_filter_file("error:rate=1,profile=/x"));
}

static void test_filter_bad(void **state)
{
	static const char *bad[] = {
		"", "delay", "delay:", "delay:ms", "delay:ms=", "delay:ms=x", "delay:ms=60001",
		"delay:ms=-1", "delay:rate=1", "error:", "error:rate=", "error:rate=1.5",
		"error:rate=-0.1", "error:rate=x", "error:file=/x", "error:ms=1", "slow:ms=1",
		"delay:ms=1,ms=2x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct blz_backend *b = NULL, *orig;
		char err[128] = "";
		assert_int_equal(blz_backend_null_open(4096, &b), 0);
		orig = b;
		if (blz_backend_filter_spec(bad[i], &b, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted filter '%s'", bad[i]);
		assert_true(b == orig && err[0]);
		blz_backend_close(b);
	}
}

/* The notes: a backend without areas says nothing; the first area and the costliest
 * outcome win. */
static void test_notes(void **state)
{
	struct blz_backend *b = NULL;
	char err[128];
	uint8_t buf[4096];
	unsigned o;
	assert_int_equal(blz_backend_open_spec("null,size=1M", &b, err, sizeof(err)), 0);
	assert_int_equal(read_noted(b, buf, &o), 0);
	assert_int_equal(o, BLZ_OUT_OK);
	blz_backend_close(b);
	struct blz_backend_req req = { 0 };
	blz_backend_note(&req, BLZ_AREA_LOCAL, BLZ_OUT_IMAGE);
	blz_backend_note(&req, BLZ_AREA_IMPORT, BLZ_OUT_FETCH);
	blz_backend_note(&req, BLZ_AREA_GAP, BLZ_OUT_CACHE);
	assert_int_equal(req.area, BLZ_AREA_LOCAL);
	assert_int_equal(req.outcome, BLZ_OUT_FETCH);
	blz_backend_note(NULL, BLZ_AREA_GAP, BLZ_OUT_ERROR); /* no request on this thread */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_ok),
		cmocka_unit_test(test_spec_bad),
		cmocka_unit_test(test_null_read),
		cmocka_unit_test(test_pattern_read),
		cmocka_unit_test(test_filter_delay),
		cmocka_unit_test(test_filter_error_rate),
		cmocka_unit_test(test_filter_trigger_file),
		cmocka_unit_test(test_filter_bad),
		cmocka_unit_test(test_notes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
