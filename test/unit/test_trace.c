/* Unit tests for lib/trace: the log reader and the SVG picture, at a million requests over a
 * 4 EiB layout. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trace/trace.h"

#define GiB (1ull << 30)
#define TiB (1ull << 40)
#define EiB (1ull << 60)

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Checks the document is well nested (every element closed in order) and has each
 * outcome's group once. */
static void check_svg(const struct blz_buf *b)
{
	char *s = malloc(b->len + 1);
	memcpy(s, b->data, b->len);
	s[b->len] = 0;
	assert_int_equal(strncmp(s, "<?xml", 5), 0);
	const char *stack[16];
	size_t depth = 0;
	for (char *p = strchr(s, '<'); p; p = strchr(p + 1, '<')) {
		if (p[1] == '?')
			continue;
		char *end = strchr(p, '>');
		assert_non_null(end);
		if (p[1] == '/') {
			assert_true(depth > 0);
			size_t n = strcspn(p + 2, ">");
			assert_int_equal(strncmp(stack[depth - 1], p + 2, n), 0);
			depth--;
		} else if (end[-1] != '/') {
			assert_true(depth < 16);
			stack[depth++] = p + 1;
		}
	}
	assert_int_equal(depth, 0);
	for (unsigned k = 0; k < BLZ_OUT_N; k++) {
		char id[64];
		snprintf(id, sizeof(id), "<g id=\"outcome-%s\"", blz_outcome_name(k));
		assert_int_equal(count(s, id), 1);
	}
	assert_int_equal(count(s, "<svg "), 1);
	free(s);
}

/* A million requests: a local region of 256 MiB, an import area of 4 GiB at 1 TiB, and
 * 8 GiB used of a virtual area from 2 EiB to 4 EiB (one at its very end). */
static void test_million_4eib(void **state)
{
	struct blz_trace_log log = { 0 };
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < 1000000; i++) {
		uint64_t r = rnd(&x);
		struct blz_reqrec q = { .t_ns = i * 1000 + r % 1000, .op = BLZ_OP_READ, .len = 4096,
					.lat_ns = r % 100000, .tag = (uint16_t)(i % 64) };
		switch (r % 10) {
		case 0: case 1: case 2:
			q.area = BLZ_AREA_LOCAL, q.outcome = BLZ_OUT_IMAGE;
			q.off = (rnd(&x) % (256u << 20)) & ~4095ull;
			break;
		case 3: case 4: case 5: case 6:
			q.area = BLZ_AREA_IMPORT, q.outcome = r % 3 ? BLZ_OUT_CACHE : BLZ_OUT_FETCH;
			q.off = TiB + ((rnd(&x) % (4 * GiB)) & ~4095ull);
			break;
		default:
			q.area = BLZ_AREA_VIRTUAL, q.outcome = r % 50 ? BLZ_OUT_FETCH : BLZ_OUT_UNMAPPED;
			q.off = 2 * EiB + ((rnd(&x) % (8 * GiB)) & ~4095ull);
		}
		blz_trace_log_add(&log, &q);
	}
	struct blz_reqrec last = { .t_ns = 1000000000, .op = BLZ_OP_READ, .off = 4 * EiB - 4096,
				   .len = 4096, .area = BLZ_AREA_VIRTUAL, .outcome = BLZ_OUT_ERROR };
	blz_trace_log_add(&log, &last);
	struct blz_trace_names names = { 0 };
	blz_trace_names_add(&names, 0, 256u << 20, "boot");
	blz_trace_names_add(&names, TiB, 4 * GiB, "usr/lib/<libc> & co");
	struct blz_trace_opts o = { .names = &names };
	struct blz_buf b = { 0 };
	struct blz_trace_summary s;
	assert_int_equal(blz_trace_svg(&log, &o, &b, &s), 0);
	/* the local region, the import area, the used part of the virtual area, its last block */
	assert_int_equal(s.bands, 4);
	assert_true(s.elided_bytes > 4 * EiB - 16 * GiB);
	assert_true(s.shown_bytes < 13 * GiB);
	uint64_t total = 0;
	for (unsigned k = 0; k < BLZ_OUT_N; k++)
		total += s.count[k];
	assert_int_equal(total, 1000001);
	assert_int_equal(s.count[BLZ_OUT_ERROR], 1);
	/* bounded by the cells, not the requests */
	if (b.len > 4u << 20)
		fail_msg("the picture is %zu bytes", b.len);
	check_svg(&b);
	char *t = strndup((char *)b.data, b.len);
	assert_non_null(strstr(t, "not used, elided"));
	assert_non_null(strstr(t, "usr/lib/&lt;libc&gt; &amp; co")); /* the hottest, named */
	assert_non_null(strstr(t, "local"));
	assert_non_null(strstr(t, "import"));
	assert_non_null(strstr(t, "virtual"));
	free(t);
	blz_buf_release(&b);
	blz_trace_names_release(&names);
	blz_trace_log_release(&log);
}

/* Requests spread evenly over 4 EiB leave no gap worth eliding: one band. */
static void test_uniform(void **state)
{
	struct blz_trace_log log = { 0 };
	uint64_t x = 1;
	for (size_t i = 0; i < 100000; i++) {
		struct blz_reqrec q = { .t_ns = i, .op = BLZ_OP_READ, .len = 65536,
					.off = (rnd(&x) % (4 * EiB)) & ~4095ull };
		blz_trace_log_add(&log, &q);
	}
	struct blz_buf b = { 0 };
	struct blz_trace_summary s;
	assert_int_equal(blz_trace_svg(&log, NULL, &b, &s), 0);
	assert_int_equal(s.bands, 1);
	assert_true(s.rects > 0 && s.rects <= 100000);
	check_svg(&b);
	blz_buf_release(&b);
	/* nothing to draw */
	struct blz_trace_log empty = { 0 };
	assert_int_equal(blz_trace_svg(&empty, NULL, &b, &s), -EINVAL);
	blz_buf_release(&b);
	blz_trace_log_release(&log);
}

static void test_parse(void **state)
{
	const char *good = "# blazy request log 1 t0_unix_ns=5\n"
			   "10 0 1 read 4096 4096 local image 100\n"
			   "20 1 2 flush 0 0 - ok 5\n";
	struct blz_trace_log log;
	char err[128];
	assert_int_equal(blz_trace_log_parse(good, strlen(good), &log, err, sizeof(err)), 0);
	assert_int_equal(log.len, 2);
	assert_true(log.t0_unix_ns == 5);
	assert_int_equal(log.v[1].op, BLZ_OP_FLUSH);
	/* a log of a flush only has nothing to draw */
	struct blz_trace_log fl = { 0 };
	blz_trace_log_add(&fl, &log.v[1]);
	struct blz_buf b = { 0 };
	assert_int_equal(blz_trace_svg(&fl, NULL, &b, NULL), -EINVAL);
	blz_trace_log_release(&fl);
	blz_trace_log_release(&log);
	static const char *bad[] = {
		"", "10 0 1 read 4096 4096 local image 100\n",
		"# blazy request log 1 t0_unix_ns=5\n10 0 1 read 4096 4096 local image 100",
		"# blazy request log 1 t0_unix_ns=5\n10 0 1 read 4096 4096 local image\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(blz_trace_log_parse(bad[i], strlen(bad[i]), &log, err, sizeof(err)),
				 -EINVAL);
		assert_true(err[0]);
	}
	assert_non_null(strstr(err, "line 2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_million_4eib),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
