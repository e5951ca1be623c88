/* Unit tests for lib/backend's request observation: the request log's lines (reqlog.h),
 * the statistics and percentiles, and the recorder (recorder.h) with its writer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/recorder.h"
#include "backend/reqlog.h"
#include "util/fileio.h"

static bool same(const struct blz_reqrec *a, const struct blz_reqrec *b)
{
	return a->t_ns == b->t_ns && a->off == b->off && a->lat_ns == b->lat_ns &&
	       a->len == b->len && a->queue == b->queue && a->tag == b->tag && a->op == b->op &&
	       a->area == b->area && a->outcome == b->outcome;
}

static void test_line_roundtrip(void **state)
{
	struct blz_reqrec recs[] = {
		{ .t_ns = 0, .queue = 0, .tag = 0, .op = BLZ_OP_READ, .off = 0, .len = 4096,
		  .area = BLZ_AREA_LOCAL, .outcome = BLZ_OUT_IMAGE, .lat_ns = 1 },
		{ .t_ns = UINT64_MAX, .queue = 4095, .tag = 4095, .op = BLZ_OP_WRITE_ZEROES,
		  .off = UINT64_MAX, .len = UINT32_MAX, .area = BLZ_AREA_GAP,
		  .outcome = BLZ_OUT_ERROR, .lat_ns = UINT64_MAX },
		{ .t_ns = 123456789, .queue = 3, .tag = 17, .op = BLZ_OP_FLUSH, .off = 0, .len = 0,
		  .area = BLZ_AREA_NONE, .outcome = BLZ_OUT_OK, .lat_ns = 999 },
	};
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		struct blz_buf b = { 0 };
		blz_reqlog_encode(&b, &recs[i]);
		assert_true(b.len <= BLZ_REQLOG_MAX_LINE);
		assert_int_equal(b.data[b.len - 1], '\n');
		struct blz_reqrec got;
		assert_int_equal(blz_reqlog_parse((char *)b.data, b.len - 1, &got), 0);
		assert_true(same(&got, &recs[i]));
		blz_buf_release(&b);
	}
	/* every digit count, at both ends (the encoder counts digits from the bit length) */
	for (uint64_t p = 1;; p *= 10) {
		uint64_t vals[] = { p - 1, p, p + 1, p * 2 - 1 };
		for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			struct blz_reqrec r = { .t_ns = vals[i], .off = vals[i], .lat_ns = vals[i],
						.len = (uint32_t)vals[i], .op = BLZ_OP_READ };
			struct blz_buf b = { 0 }, want = { 0 };
			blz_reqlog_encode(&b, &r);
			blz_buf_printf(&want, "%" PRIu64 " 0 0 read %" PRIu64 " %" PRIu32 " - ok %" PRIu64 "\n",
				       vals[i], vals[i], (uint32_t)vals[i], vals[i]);
			assert_int_equal(b.len, want.len);
			assert_memory_equal(b.data, want.data, b.len);
			blz_buf_release(&b);
			blz_buf_release(&want);
		}
		if (p > UINT64_MAX / 10)
			break;
	}
	struct blz_buf b = { 0 };
	blz_reqlog_encode(&b, &recs[0]);
	blz_buf_append(&b, "", 1);
	assert_string_equal((char *)b.data, "0 0 0 read 0 4096 local image 1\n");
	blz_buf_release(&b);
	uint64_t t0;
	blz_reqlog_header(&b, 1700000000123456789ull);
	assert_int_equal(blz_reqlog_parse_header((char *)b.data, b.len - 1, &t0), 0);
	assert_true(t0 == 1700000000123456789ull);
	blz_buf_release(&b);
}

static void test_line_strict(void **state)
{
	static const char *bad[] = {
		"", "0 0 0 read 0 4096 local image", "0 0 0 read 0 4096 local image 1 2",
		"0 0 0 read 0 4096 local image 1 ", " 0 0 0 read 0 4096 local image 1",
		"0  0 0 read 0 4096 local image 1", "00 0 0 read 0 4096 local image 1",
		"0 4096 0 read 0 4096 local image 1", "0 0 4096 read 0 4096 local image 1",
		"0 0 0 READ 0 4096 local image 1", "0 0 0 read 0 4294967296 local image 1",
		"0 0 0 read 18446744073709551616 1 local image 1", "0 0 0 read 0 1 lokal image 1",
		"0 0 0 read 0 1 local imag 1", "0 0 0 read -1 1 local image 1",
		"0 0 0 read 0 1 local image 0x1", "0 0 0 read 0 1 local image\t1",
		"0 0 0 read 0 1 - ok 1\r",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct blz_reqrec got = { .off = 77 };
		if (blz_reqlog_parse(bad[i], strlen(bad[i]), &got) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(got.off, 77);
	}
	const char *ok = "5 1 2 discard 8192 4096 - error 7";
	struct blz_reqrec got;
	assert_int_equal(blz_reqlog_parse(ok, strlen(ok), &got), 0);
	assert_int_equal(got.op, BLZ_OP_DISCARD);
	assert_int_equal(got.area, BLZ_AREA_NONE);
	uint64_t t0;
	static const char *bad_headers[] = {
		"# blazy request log 1 t0_unix_ns=", "# blazy request log 2 t0_unix_ns=1",
		"# blazy request log 1 t0_unix_ns=01", "# blazy request log 1 t0_unix_ns=1 ",
		"blazy request log 1 t0_unix_ns=1",
	};
	for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++)
		assert_int_equal(blz_reqlog_parse_header(bad_headers[i], strlen(bad_headers[i]), &t0),
				 -EINVAL);
}

static void test_lat_buckets(void **state)
{
	/* every value lies within its bucket, buckets ascend, and stay within 12.5% */
	uint64_t prev_upper = 0;
	for (unsigned i = 0; i < BLZ_REQ_LAT_N; i++) {
		uint64_t up = blz_reqstats_lat_upper(i);
		assert_int_equal(blz_reqstats_lat_bucket(up), i);
		if (i)
			assert_int_equal(blz_reqstats_lat_bucket(prev_upper + 1), i);
		assert_true(i == 0 || up > prev_upper);
		prev_upper = up;
	}
	assert_int_equal(blz_reqstats_lat_bucket(UINT64_MAX), BLZ_REQ_LAT_N - 1);
	for (uint64_t v = 8; v < (1ull << 40); v = v * 3 + 1) {
		uint64_t up = blz_reqstats_lat_upper(blz_reqstats_lat_bucket(v));
		assert_true(up >= v && (double)up <= (double)v * 1.125 + 1);
	}
}

static void test_stats(void **state)
{
	struct blz_reqstats *s = calloc(1, sizeof(*s)), *sum = calloc(1, sizeof(*sum));
	/* 1000 image reads of 1..1000 us, one slow fetch, a write */
	for (unsigned i = 1; i <= 1000; i++) {
		struct blz_reqrec r = { .op = BLZ_OP_READ, .off = (uint64_t)i * 4096, .len = 4096,
					.area = BLZ_AREA_LOCAL, .outcome = BLZ_OUT_IMAGE,
					.lat_ns = i * 1000ull };
		blz_reqstats_count(s, &r);
	}
	struct blz_reqrec f = { .op = BLZ_OP_READ, .off = 0, .len = 131072, .area = BLZ_AREA_IMPORT,
				.outcome = BLZ_OUT_FETCH, .lat_ns = 5000000 };
	blz_reqstats_count(s, &f);
	struct blz_reqrec w = { .op = BLZ_OP_WRITE, .off = 512, .len = 512, .outcome = BLZ_OUT_ERROR,
				.lat_ns = 10 };
	blz_reqstats_count(s, &w);
	blz_reqstats_add_to(s, sum);
	blz_reqstats_add_to(s, sum); /* twice: sums double, maxima stay */
	assert_int_equal(sum->count[BLZ_OUT_IMAGE], 2000);
	assert_int_equal(sum->count[BLZ_OUT_ERROR], 2);
	assert_int_equal(sum->size_hist[12], 2000);
	assert_int_equal(sum->size_hist[17], 2);
	assert_int_equal(sum->size_hist[9], 0); /* the write is no read */
	assert_int_equal(sum->align_hist[64], 2); /* offset 0 */
	assert_int_equal(sum->align_hist[12], 1000); /* odd multiples of 4096 */
	assert_int_equal(sum->align_hist[13], 500);
	assert_true(sum->area_bytes[BLZ_AREA_LOCAL] == 2000ull * 4096);
	assert_true(sum->area_bytes[BLZ_AREA_IMPORT] == 2ull * 131072);
	assert_true(sum->lat_max[BLZ_OUT_IMAGE] == 1000000);
	struct { double p; uint64_t want; } pc[] = { { 50, 500000 }, { 90, 900000 },
						       { 99, 990000 }, { 100, 1000000 } };
	for (size_t i = 0; i < 4; i++) {
		uint64_t got = blz_reqstats_percentile(sum, BLZ_OUT_IMAGE, pc[i].p);
		if (got < pc[i].want || (double)got > (double)pc[i].want * 1.125)
			fail_msg("p%g = %llu, want ~%llu", pc[i].p, (unsigned long long)got,
				 (unsigned long long)pc[i].want);
	}
	assert_true(blz_reqstats_percentile(sum, BLZ_OUT_FETCH, 50) == 5000000);
	assert_true(blz_reqstats_percentile(sum, BLZ_OUT_CACHE, 50) == 0);
	free(s);
	free(sum);
}

/* ---- the recorder ---- */

struct producer {
	struct blz_recq *q;
	unsigned n;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (unsigned i = 0; i < p->n; i++) {
		struct blz_reqrec r = { .t_ns = blz_recq_now(p->q), .op = BLZ_OP_READ,
					.off = (uint64_t)i * 4096, .len = 4096, .tag = (uint16_t)(i % 64),
					.area = BLZ_AREA_VIRTUAL, .outcome = BLZ_OUT_CACHE,
					.lat_ns = i };
		blz_recq_record(p->q, &r);
	}
	return NULL;
}

/* Parses the log at path: its line count per queue, checking every line. */
static size_t check_log(const char *path, size_t *per_queue, size_t nq)
{
	char *text;
	size_t len, n = 0;
	assert_int_equal(blz_read_text_file(path, 1ull << 30, &text, &len), 0);
	char *nl = memchr(text, '\n', len);
	assert_non_null(nl);
	uint64_t t0;
	assert_int_equal(blz_reqlog_parse_header(text, (size_t)(nl - text), &t0), 0);
	uint64_t last[8] = { 0 };
	for (char *p = nl + 1; p < text + len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(text + len - p));
		assert_non_null(nl);
		struct blz_reqrec r;
		if (blz_reqlog_parse(p, (size_t)(nl - p), &r) < 0)
			fail_msg("bad line '%.*s'", (int)(nl - p), p);
		assert_true(r.queue < nq);
		/* in order within a queue, none lost */
		assert_true(r.off == per_queue[r.queue] * 4096);
		assert_true(r.t_ns >= last[r.queue]);
		last[r.queue] = r.t_ns;
		per_queue[r.queue]++;
		n++;
	}
	free(text);
	return n;
}

/* Threads of this process named BLZ_RECORDER_WRITER_NAME (/proc/self/task/TID/comm). */
static int writer_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char path[300], comm[32] = "";
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* a thread that just ended */
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, BLZ_RECORDER_WRITER_NAME "\n"))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static void test_recorder(void **state)
{
	char path[] = "/tmp/blazy-reqlog-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	struct blz_recorder *rec;
	assert_int_equal(blz_recorder_new(4, &rec), 0);
	assert_null(blz_recorder_queue(rec, 4));
	assert_int_equal(blz_recorder_log_stop(rec), -ENOENT);
	/* counted before the log starts, not logged */
	struct blz_recq *q0 = blz_recorder_queue(rec, 0);
	struct blz_reqrec r = { .op = BLZ_OP_FLUSH, .outcome = BLZ_OUT_OK };
	blz_recq_record(q0, &r);
	assert_int_equal(blz_recorder_log_start(rec, fd), 0);
	assert_int_equal(writer_threads(), 1); /* named, while the log is on */
	int fd2 = dup(1);
	assert_int_equal(blz_recorder_log_start(rec, fd2), -EBUSY);
	struct producer p[3];
	pthread_t th[3];
	for (unsigned i = 0; i < 3; i++) {
		/* fewer than a ring holds: none can be dropped, however late the writer runs */
		p[i] = (struct producer){ blz_recorder_queue(rec, i), 10000 };
		assert_int_equal(pthread_create(&th[i], NULL, produce, &p[i]), 0);
	}
	for (unsigned i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	struct blz_recorder_log_info li;
	blz_recorder_log_info(rec, &li);
	assert_true(li.active);
	assert_int_equal(blz_recorder_log_stop(rec), 0);
	assert_int_equal(writer_threads(), 0);
	blz_recorder_log_info(rec, &li);
	assert_false(li.active);
	assert_int_equal(li.dropped, 0);
	assert_int_equal(li.lines, 30000);
	size_t per_queue[4] = { 0 };
	assert_int_equal(check_log(path, per_queue, 4), 30000);
	assert_int_equal(per_queue[0], 10000);
	assert_int_equal(per_queue[3], 0);
	struct blz_reqstats *st = malloc(sizeof(*st));
	blz_recorder_stats(rec, st);
	assert_int_equal(st->count[BLZ_OUT_CACHE], 30000);
	assert_int_equal(st->count[BLZ_OUT_OK], 1);
	assert_true(st->area_bytes[BLZ_AREA_VIRTUAL] == 30000ull * 4096);
	free(st);
	/* a record after the stop is not logged; a second log starts clean */
	blz_recq_record(q0, &r);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(blz_recorder_log_start(rec, fd), 0);
	struct producer one = { q0, 10 };
	produce(&one);
	blz_recorder_free(rec); /* stops the log */
	memset(per_queue, 0, sizeof(per_queue));
	assert_int_equal(check_log(path, per_queue, 4), 10);
	unlink(path);
}

/* A writer that cannot keep up: records beyond a ring are dropped and counted. */
static void test_recorder_drops(void **state)
{
	char path[] = "/tmp/blazy-reqlog-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	struct blz_recorder *rec;
	assert_int_equal(blz_recorder_new(1, &rec), 0);
	struct blz_recq *q = blz_recorder_queue(rec, 0);
	assert_int_equal(blz_recorder_log_start(rec, fd), 0);
	unsigned n = 1000000; /* far more than a ring, faster than any writer */
	for (unsigned i = 0; i < n; i++) {
		struct blz_reqrec r = { .op = BLZ_OP_READ, .len = 4096, .outcome = BLZ_OUT_OK };
		blz_recq_record(q, &r);
	}
	assert_int_equal(blz_recorder_log_stop(rec), 0);
	struct blz_recorder_log_info li;
	blz_recorder_log_info(rec, &li);
	assert_true(li.dropped > 0);
	assert_int_equal(li.lines + li.dropped, n);
	blz_recorder_free(rec);
	unlink(path);
}

/* The writer's period is long (500 ms): a ring that reaches half full wakes it at once, and
 * nothing less does. Rings are smaller with many queues. */
static void test_recorder_kick(void **state)
{
	struct blz_recorder *rec;
	assert_int_equal(blz_recorder_new(64, &rec), 0);
	assert_int_equal(blz_recorder_ring_len(rec), 8192);
	blz_recorder_free(rec);
	assert_int_equal(blz_recorder_new(8, &rec), 0);
	uint32_t eight = blz_recorder_ring_len(rec);
	blz_recorder_free(rec);
	assert_int_equal(blz_recorder_new(1, &rec), 0);
	uint32_t len = blz_recorder_ring_len(rec);
	assert_int_equal(len, 65536);
	assert_true(eight >= 8192 && eight <= len && (eight & (eight - 1)) == 0);
	char path[] = "/tmp/blazy-reqlog-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	blz_recorder_set_period_ms(rec, 60000); /* only a kick can wake it within the test */
	struct blz_recq *q = blz_recorder_queue(rec, 0);
	assert_int_equal(blz_recorder_log_start(rec, fd), 0);
	struct producer p = { q, len / 2 - 1 };
	produce(&p);
	usleep(200 * 1000);
	struct blz_recorder_log_info li;
	blz_recorder_log_info(rec, &li);
	assert_int_equal(li.lines, 0); /* below half: the writer sleeps on */
	p.n = 1;
	produce(&p);
	for (int i = 0; i < 500; i++) { /* up to 5 s */
		blz_recorder_log_info(rec, &li);
		if (li.lines == len / 2)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(li.lines, len / 2);
	assert_int_equal(li.dropped, 0);
	assert_int_equal(blz_recorder_log_stop(rec), 0);
	blz_recorder_free(rec);
	unlink(path);
}

/* A log continued by a second recorder (a server that took the device over): appended
 * without a header, its times counted from the first log's t0, so they follow its lines. */
static void test_recorder_append(void **state)
{
	(void)state;
	char path[] = "/tmp/blazy-reqlog-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	struct blz_recorder *a, *b;
	assert_int_equal(blz_recorder_new(1, &a), 0);
	assert_int_equal(blz_recorder_log_start(a, fd), 0);
	struct blz_reqrec r = { .op = BLZ_OP_READ, .len = 4096, .outcome = BLZ_OUT_OK };
	struct blz_recq *q = blz_recorder_queue(a, 0);
	r.t_ns = blz_recq_now(q);
	blz_recq_record(q, &r);
	blz_recorder_free(a);
	usleep(20000);
	char line[BLZ_REQLOG_MAX_LINE + 1] = "";
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	uint64_t t0;
	assert_int_equal(blz_reqlog_parse_header(line, strlen(line) - 1, &t0), 0);
	assert_int_equal(blz_recorder_new(1, &b), 0);
	assert_int_equal(blz_recorder_set_t0(b, UINT64_MAX), -EINVAL); /* later than b */
	assert_int_equal(blz_recorder_set_t0(b, t0), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(blz_recorder_log_append(b, fd), 0);
	q = blz_recorder_queue(b, 0);
	r.t_ns = blz_recq_now(q);
	r.off = 4096; /* check_log wants each queue's offsets in steps of 4 KiB */
	assert_true(r.t_ns >= 20000000); /* counted from a's start */
	blz_recq_record(q, &r);
	blz_recorder_free(b);
	size_t per_queue[1] = { 0 };
	assert_int_equal(check_log(path, per_queue, 1), 2); /* one header, times in order */
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_roundtrip),
		cmocka_unit_test(test_line_strict),
		cmocka_unit_test(test_lat_buckets),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_recorder),
		cmocka_unit_test(test_recorder_drops),
		cmocka_unit_test(test_recorder_kick),
		cmocka_unit_test(test_recorder_append),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
