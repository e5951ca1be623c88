/* Unit tests for lib/util: crc32c, crc32, JSON, little-endian codecs, size parsing, buffers,
 * atomic file writes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/crc32c.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/jsonw.h"
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

/* ---- JSON ---- */

static struct blz_json *json_ok(const char *text)
{
	struct blz_json *v = NULL;
	char err[256];
	int r = blz_json_parse(text, strlen(text), BLZ_JSON_MAX_DEPTH, &v, err, sizeof(err));

	if (r)
		print_error("'%s': %s\n", text, err);
	assert_int_equal(r, 0);
	assert_non_null(v);
	return v;
}

static void json_bad_n(const char *text, size_t len, const char *needle)
{
	struct blz_json *v = (struct blz_json *)1;
	char err[256];
	int r = blz_json_parse(text, len, BLZ_JSON_MAX_DEPTH, &v, err, sizeof(err));

	if (r != -EINVAL || !strstr(err, needle))
		print_error("'%.*s': got %d '%s', want '%s'\n", (int)len, text, r, err, needle);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(err, needle));
	assert_ptr_equal(v, (struct blz_json *)1); /* untouched */
}

static void json_bad(const char *text, const char *needle)
{
	json_bad_n(text, strlen(text), needle);
}

static void test_json_valid(void **state)
{
	struct blz_json *v = json_ok(" {\"schemaVersion\": 2, \"a\": [1, -0.5e+3, true, false, null,"
				     " {}, [], \"\"], \"s\": \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9"
				     "\\u20AC\\ud83d\\ude00\xc3\xa9\", \"big\": 18446744073709551615,"
				     " \"over\": 18446744073709551616, \"neg\": -1, \"frac\": 1.0}\r\n");
	uint64_t u;

	assert_int_equal(v->type, BLZ_JSON_OBJECT);
	assert_int_equal(v->n, 7);
	assert_int_equal(blz_json_u64(blz_json_get(v, "schemaVersion"), &u), 0);
	assert_int_equal(u, 2);
	const struct blz_json *a = blz_json_get(v, "a");
	assert_non_null(a);
	assert_int_equal(a->type, BLZ_JSON_ARRAY);
	assert_int_equal(a->n, 8);
	assert_string_equal(a->items[1].str, "-0.5e+3");
	assert_int_equal(a->items[2].type, BLZ_JSON_TRUE);
	assert_int_equal(a->items[3].type, BLZ_JSON_FALSE);
	assert_int_equal(a->items[4].type, BLZ_JSON_NULL);
	assert_int_equal(a->items[5].type, BLZ_JSON_OBJECT);
	assert_int_equal(a->items[5].n, 0);
	assert_int_equal(a->items[6].type, BLZ_JSON_ARRAY);
	assert_string_equal(blz_json_string(&a->items[7]), "");
	assert_null(a->items[0].key);
	/* escapes, a BMP character, a surrogate pair (U+1F600), raw UTF-8 */
	const char *want = "x\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9";
	assert_string_equal(blz_json_string(blz_json_get(v, "s")), want);
	assert_int_equal(blz_json_get(v, "s")->len, strlen(want));
	assert_int_equal(blz_json_u64(blz_json_get(v, "big"), &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(blz_json_u64(blz_json_get(v, "over"), &u), -ERANGE);
	assert_int_equal(blz_json_u64(blz_json_get(v, "neg"), &u), -EINVAL);
	assert_int_equal(blz_json_u64(blz_json_get(v, "frac"), &u), -EINVAL);
	assert_int_equal(blz_json_u64(blz_json_get(v, "s"), &u), -EINVAL);
	assert_int_equal(blz_json_u64(NULL, &u), -EINVAL);
	assert_null(blz_json_get(v, "missing"));
	assert_null(blz_json_get(a, "a")); /* not an object */
	assert_null(blz_json_string(a));
	assert_string_equal(blz_json_type_name(a->type), "array");
	blz_json_free(v);

	/* scalars at the top, names that differ only late, nesting up to the limit */
	blz_json_free(json_ok("0"));
	blz_json_free(json_ok("\"top\""));
	blz_json_free(json_ok("{\"ab\":1,\"ac\":2,\"a\":3,\"\":4}"));
	char deep[2 * BLZ_JSON_MAX_DEPTH + 1];
	memset(deep, '[', BLZ_JSON_MAX_DEPTH);
	memset(deep + BLZ_JSON_MAX_DEPTH, ']', BLZ_JSON_MAX_DEPTH);
	deep[2 * BLZ_JSON_MAX_DEPTH] = 0;
	blz_json_free(json_ok(deep));
	blz_json_free(NULL);
}

static void test_json_invalid(void **state)
{
	json_bad("", "expected a value, found the end of the text at line 1, column 1");
	json_bad("  \n ", "found the end of the text at line 2, column 2");
	json_bad("{\"a\":1,}", "expected a member name (a string), found '}' at line 1, column 8");
	json_bad("[1,]", "expected a value, found ']'");
	json_bad("[1 2]", "expected ',' or ']', found '2'");
	json_bad("{\"a\" 1}", "expected ':', found '1'");
	json_bad("{'a':1}", "expected a member name");
	json_bad("{a:1}", "expected a member name");
	json_bad("[1] [2]", "unexpected '[' after the value");
	json_bad("[1]x", "unexpected 'x' after the value");
	json_bad("// c\n1", "expected a value, found '/'");
	json_bad("\xef\xbb\xbf{}", "expected a value, found byte 0xef");
	json_bad("[01]", "leading zero");
	json_bad("[-]", "expected a digit, found ']'");
	json_bad("[1.]", "expected a digit after '.'");
	json_bad("[.5]", "expected a value, found '.'");
	json_bad("[1e]", "expected a digit in the exponent");
	json_bad("[+1]", "expected a value, found '+'");
	json_bad("[NaN]", "expected a value, found 'N'");
	json_bad("[tru]", "invalid literal (expected 'true')");
	json_bad("[nul", "invalid literal (expected 'null')");
	json_bad("[True]", "found 'T'");
	json_bad("[1", "expected ',' or ']', found the end of the text");
	json_bad("{\"a\":", "expected a value, found the end of the text");
	json_bad("\"abc", "unterminated string");
	json_bad("\"abc\\", "unterminated string");
	json_bad("\"a\tb\"", "control character byte 0x09 in a string");
	json_bad("\"a\nb\"", "control character");
	json_bad("\"\\x41\"", "invalid escape '\\x'");
	json_bad("\"\\u12x4\"", "invalid \\u escape");
	json_bad("\"\\u12", "truncated \\u escape");
	json_bad("\"\\ud800\"", "unpaired high surrogate \\ud800");
	json_bad("\"\\ud800\\u0041\"", "high surrogate \\ud800 followed by \\u0041");
	json_bad("\"\\udc00\"", "unpaired low surrogate \\udc00");
	json_bad("\"\\u0000\"", "\\u0000 in a string is not supported");
	json_bad_n("\"a\0b\"", 5, "control character byte 0x00");
	json_bad("\"\xc0\xaf\"", "invalid UTF-8");         /* overlong '/' */
	json_bad("\"\xe0\x80\xaf\"", "invalid UTF-8");     /* overlong, 3 bytes */
	json_bad("\"\xed\xa0\x80\"", "invalid UTF-8");     /* a surrogate in UTF-8 */
	json_bad("\"\xf4\x90\x80\x80\"", "invalid UTF-8"); /* beyond U+10FFFF */
	json_bad("\"\xf8\x88\x80\x80\x80\"", "invalid UTF-8");
	json_bad("\"\x80\"", "invalid UTF-8");
	json_bad("\"\xc3\"", "invalid UTF-8");             /* cut short */
	json_bad("\"\xe2\x82\"", "invalid UTF-8");
	json_bad("{\"a\":1,\"b\":2,\"a\":3}", "duplicate member name \"a\"");
	json_bad("{\"x\":{\"k\":1,\"k\":1}}", "duplicate member name \"k\"");
	json_bad("{\"\\u0061\":1,\"a\":2}", "duplicate member name \"a\""); /* after unescaping */

	char deep[2 * BLZ_JSON_MAX_DEPTH + 3];
	memset(deep, '[', BLZ_JSON_MAX_DEPTH + 1);
	memset(deep + BLZ_JSON_MAX_DEPTH + 1, ']', BLZ_JSON_MAX_DEPTH + 1);
	deep[2 * BLZ_JSON_MAX_DEPTH + 2] = 0;
	json_bad(deep, "nesting deeper than 64 levels");
	/* a million opening brackets: refused at the limit, no deep recursion */
	size_t n = 1000000;
	char *many = blz_xmalloc(n);
	memset(many, '[', n);
	json_bad_n(many, n, "nesting deeper than 64 levels");
	free(many);
	/* a small error buffer is filled without overflow */
	char err[8];
	struct blz_json *v;
	assert_int_equal(blz_json_parse("[", 1, 4, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), 7);
}

/* Random damage to a valid document: no crash, no leak (run under ASan) and either a
 * clean error or a tree. */
static void test_json_fuzz(void **state)
{
	static const char doc[] =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"digest\":\"sha256:0123\",\"size\":123},\"layers\":[{\"size\":1e3,"
		"\"annotations\":{\"k\\u00e9\":\"\\ud83d\\ude00\"}},[null,true,false,-0.0]]}";
	size_t n = sizeof(doc) - 1;
	char *m = blz_xmalloc(n), err[128];
	static const char alphabet[] = "{}[],:\"\\u0123456789.eE-+ntrufalse\x80\xc3\xed\xf4 \t\n";
	uint32_t x = 99;

	blz_json_free(json_ok(doc));
	for (int it = 0; it < 20000; it++) {
		memcpy(m, doc, n);
		for (int k = 0; k < 1 + it % 4; k++) {
			x = x * 1103515245u + 12345u;
			size_t pos = (x >> 8) % n;
			m[pos] = alphabet[(x >> 20) % (sizeof(alphabet) - 1)];
		}
		struct blz_json *v = NULL;
		size_t len = it % 5 ? n : (x >> 4) % n;
		int r = blz_json_parse(m, len, 8, &v, err, sizeof(err));
		assert_true(r == 0 || r == -EINVAL);
		if (r == 0)
			blz_json_free(v);
		else
			assert_true(strlen(err) > 0);
	}
	free(m);
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

static void test_duration_parse(void **state)
{
	uint32_t v = 7;
	assert_int_equal(blz_parse_duration_ms("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(blz_parse_duration_ms("30", &v), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(blz_parse_duration_ms("30s", &v), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(blz_parse_duration_ms("250ms", &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(blz_parse_duration_ms("2m", &v), 0);
	assert_int_equal(v, 120000);
	assert_int_equal(blz_parse_duration_ms("1h", &v), 0);
	assert_int_equal(v, 3600000);
	assert_int_equal(blz_parse_duration_ms("4294967294ms", &v), 0);
	assert_true(v == 4294967294u);
	v = 7;
	assert_int_equal(blz_parse_duration_ms("4294967295ms", &v), -ERANGE);
	assert_int_equal(blz_parse_duration_ms("2000h", &v), -ERANGE);
	assert_int_equal(blz_parse_duration_ms("99999999999", &v), -ERANGE);
	assert_int_equal(blz_parse_duration_ms("", &v), -EINVAL);
	assert_int_equal(blz_parse_duration_ms("-1", &v), -EINVAL);
	assert_int_equal(blz_parse_duration_ms("1.5s", &v), -EINVAL);
	assert_int_equal(blz_parse_duration_ms("5sec", &v), -EINVAL);
	assert_int_equal(blz_parse_duration_ms("s", &v), -EINVAL);
	assert_int_equal(blz_parse_duration_ms(NULL, &v), -EINVAL);
	assert_int_equal(v, 7); /* untouched on failure */
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

/* Entries of dir other than . and .. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void test_write_file_atomic(void **state)
{
	char dir[] = "/tmp/blazy-util-XXXXXX", path[64], sub[64], buf[32];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out", dir);
	assert_int_equal(blz_write_file_atomic(path, "one\n", 4), 0);
	assert_int_equal(blz_write_file_atomic(path, "two!\n", 5), 0); /* replaces */
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(blz_read_full(fd, buf, sizeof(buf)), 5);
	close(fd);
	assert_memory_equal(buf, "two!\n", 5);
	assert_int_equal(blz_write_file_atomic(path, "", 0), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* Failures leave the target and no temporary file behind. */
	snprintf(sub, sizeof(sub), "%s/d", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(blz_write_file_atomic(sub, "x", 1), -EISDIR);
	snprintf(sub, sizeof(sub), "%s/missing/out", dir);
	assert_int_equal(blz_write_file_atomic(sub, "x", 1), -ENOENT);
	assert_int_equal(entries(dir), 2);
	unlink(path);
	snprintf(sub, sizeof(sub), "%s/d", dir);
	rmdir(sub);
	assert_int_equal(rmdir(dir), 0);
}

/* A SIGTERM while a single-threaded process writes: it ends, and never with the temporary
 * file left (the signal waits until the file is in place). 200 writers killed at random
 * moments of their write loop; without the blocked signals most leave one. */
static void test_write_file_atomic_sigterm(void **state)
{
	char dir[] = "/tmp/blazy-util-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	char data[4096];
	memset(data, 'x', sizeof(data));
	assert_int_equal(blz_write_file_atomic(path, data, sizeof(data)), 0);
	srand(7);
	for (int i = 0; i < 200; i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			for (;;)
				blz_write_file_atomic(path, data, sizeof(data));
		}
		usleep(200 + rand() % 2000);
		assert_int_equal(kill(pid, SIGTERM), 0);
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
		assert_int_equal(entries(dir), 1); /* the file, no temporary one */
	}
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

/* The temporary files of writers killed with SIGKILL: removed by blz_remove_stale_tmp when
 * their writer is gone, kept while it runs; one of the caller's own pid is replaced by the
 * next write. */
static void test_remove_stale_tmp(void **state)
{
	char dir[] = "/tmp/blazy-util-XXXXXX", path[64], t[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	pid_t dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	const char *names[] = { "%s.tmp-%d", "%s.tmp-%d", "%s.tmp-%dx", "%s.tmpx-%d", "%s2.tmp-%d" };
	pid_t pids[] = { dead, getpid(), dead, dead, dead };
	for (int i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), names[i], path, (int)pids[i]);
		int fd = open(t, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
	assert_int_equal(entries(dir), 5);
	blz_remove_stale_tmp(path);
	assert_int_equal(entries(dir), 4); /* only the dead writer's, of this file */
	snprintf(t, sizeof(t), "%s.tmp-%d", path, (int)dead);
	assert_int_equal(access(t, F_OK), -1);
	/* our own (a process of our pid killed before us): taken over by the next write */
	assert_int_equal(blz_write_file_atomic(path, "x", 1), 0);
	assert_int_equal(entries(dir), 4); /* state in, our temporary one gone */
	snprintf(t, sizeof(t), "%s.tmp-%d", path, (int)getpid());
	assert_int_equal(access(t, F_OK), -1);
	for (int i = 2; i < 5; i++) {
		snprintf(t, sizeof(t), names[i], path, (int)pids[i]);
		assert_int_equal(unlink(t), 0);
	}
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

static void test_jsonw(void **state)
{
	struct blz_buf b = { 0 };
	blz_buf_printf(&b, "[");
	blz_jsonw_str(&b, "a\"b\\c\n\t\r\x01\x7f\xc3\xa9/");
	blz_buf_printf(&b, ",%d,", -42);
	blz_jsonw_str(&b, NULL);
	blz_buf_printf(&b, ",");
	blz_jsonw_bool(&b, 1);
	blz_buf_printf(&b, ",");
	blz_jsonw_bool(&b, 0);
	blz_buf_printf(&b, "%s", ""); /* nothing */
	blz_buf_printf(&b, "]");
	const char *want = "[\"a\\\"b\\\\c\\u000a\\u0009\\u000d\\u0001\x7f\xc3\xa9/\",-42,null,true,false]";
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	/* what it writes, the strict parser reads back */
	struct blz_json *j;
	char err[128];
	assert_int_equal(blz_json_parse((const char *)b.data, b.len, 4, &j, err, sizeof(err)), 0);
	assert_string_equal(blz_json_string(&j->items[0]), "a\"b\\c\n\t\r\x01\x7f\xc3\xa9/");
	blz_json_free(j);
	blz_buf_release(&b);
}

static void test_read_text_file(void **state)
{
	char path[] = "/tmp/blz-test-util-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(blz_write_full(fd, "hello\nworld\n", 12), 0);
	close(fd);
	char *t;
	size_t n;
	assert_int_equal(blz_read_text_file(path, 100, &t, &n), 0);
	assert_int_equal(n, 12);
	assert_string_equal(t, "hello\nworld\n");
	free(t);
	assert_int_equal(blz_read_text_file(path, 6, &t, &n), 0); /* the first max - 1 bytes */
	assert_int_equal(n, 5);
	assert_string_equal(t, "hello");
	free(t);
	assert_int_equal(blz_read_text_file(path, 0, &t, &n), -EINVAL);
	assert_int_equal(blz_read_text_file(path, 1, &t, &n), 0);
	assert_int_equal(n, 0);
	assert_string_equal(t, "");
	free(t);
	/* a file longer than its first guess: one that says size 0 (/proc) and grows past the
	 * first buffer, read whole under a large bound and cut at a small one */
	char *a, *b;
	size_t an, bn;
	assert_int_equal(blz_read_text_file("/proc/self/smaps", 1u << 30, &a, &an), 0);
	assert_true(an > 8192); /* (every mapping has a block of a dozen lines) */
	assert_int_equal(strlen(a), an);
	assert_int_equal(blz_read_text_file("/proc/self/smaps", 5000, &b, &bn), 0);
	assert_int_equal(bn, 4999);
	assert_memory_equal(a, b, 64); /* (the same start; later lines change between reads) */
	free(a);
	free(b);
	/* a regular file larger than the first read, exactly as long as the bound allows */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	char big[10000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(blz_write_full(fd, big, sizeof(big)), 0);
	close(fd);
	assert_int_equal(blz_read_text_file(path, 1u << 30, &t, &n), 0);
	assert_int_equal(n, sizeof(big));
	assert_memory_equal(t, big, sizeof(big));
	free(t);
	assert_int_equal(blz_read_text_file(path, sizeof(big) + 1, &t, &n), 0);
	assert_int_equal(n, sizeof(big));
	free(t);
	assert_int_equal(blz_read_text_file(path, sizeof(big), &t, &n), 0);
	assert_int_equal(n, sizeof(big) - 1);
	assert_memory_equal(t, big, sizeof(big) - 1);
	free(t);
	unlink(path);
	t = (char *)1;
	assert_int_equal(blz_read_text_file(path, 100, &t, &n), -ENOENT);
	assert_ptr_equal(t, (char *)1); /* untouched on failure */
}

static void json_enc(const char *in, const char *want)
{
	struct blz_buf b = { 0 };
	blz_json_append_str(&b, in);
	blz_buf_append(&b, "", 1);
	assert_string_equal((char *)b.data, want);
	/* what it writes is accepted by the strict parser */
	struct blz_json *v;
	char err[128];
	assert_int_equal(blz_json_parse((char *)b.data, b.len - 1, 4, &v, err, sizeof(err)), 0);
	assert_int_equal(v->type, BLZ_JSON_STRING);
	blz_json_free(v);
	blz_buf_release(&b);
}

static void test_json_append_str(void **unused)
{
	json_enc("", "\"\"");
	json_enc("plain /path", "\"plain /path\"");
	json_enc("q\"b\\", "\"q\\\"b\\\\\"");
	json_enc("\x01\n\x1f\x7f", "\"\\u0001\\u000a\\u001f\x7f\"");
	json_enc("caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
	/* not UTF-8: a stray continuation byte, a truncated sequence, an overlong form, a
	 * surrogate, beyond U+10FFFF: each byte becomes U+FFFD */
	json_enc("\x80", "\"\\ufffd\"");
	json_enc("a\xc3", "\"a\\ufffd\"");
	json_enc("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	json_enc("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	json_enc("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

/* blz_split_lines: non-empty lines in order, split in place; the last needs no newline. */
static void test_split_lines(void **state)
{
	char text[] = "usr/bin/ls\n\n\netc/a b\nlast";
	char **v;
	size_t n = blz_split_lines(text, strlen(text), &v);
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "usr/bin/ls");
	assert_string_equal(v[1], "etc/a b");
	assert_string_equal(v[2], "last");
	assert_ptr_equal(v[0], text);
	free(v);
	char empty[] = "\n\n";
	assert_int_equal(blz_split_lines(empty, 2, &v), 0);
	assert_null(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_known),
		cmocka_unit_test(test_crc32c_hw_matches_sw),
		cmocka_unit_test(test_crc32_ieee),
		cmocka_unit_test(test_json_valid),
		cmocka_unit_test(test_json_invalid),
		cmocka_unit_test(test_json_fuzz),
		cmocka_unit_test(test_le),
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_size_format),
		cmocka_unit_test(test_buf_vec),
		cmocka_unit_test(test_write_file_atomic),
		cmocka_unit_test(test_write_file_atomic_sigterm),
		cmocka_unit_test(test_remove_stale_tmp),
		cmocka_unit_test(test_jsonw),
		cmocka_unit_test(test_read_text_file),
		cmocka_unit_test(test_json_append_str),
		cmocka_unit_test(test_split_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
