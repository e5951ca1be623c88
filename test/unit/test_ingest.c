/* Unit tests for lib/ingest's path selection (mkseed --local / --local-list). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest/pathset.h"

static void test_globs(void **state)
{
	struct blz_pathset ps;
	blz_pathset_init(&ps);
	assert_true(blz_pathset_empty(&ps));
	assert_false(blz_pathset_match(&ps, "usr/bin/ls"));
	blz_pathset_add_glob(&ps, "/usr/bin/*");
	blz_pathset_add_glob(&ps, "*.so.*");
	blz_pathset_add_glob(&ps, "./etc/");
	blz_pathset_seal(&ps);
	assert_false(blz_pathset_empty(&ps));
	assert_true(blz_pathset_match(&ps, "usr/bin/ls"));
	assert_true(blz_pathset_match(&ps, "usr/bin/sub/dir/x")); /* '*' crosses '/' */
	assert_true(blz_pathset_match(&ps, "lib/x86_64-linux-gnu/libc.so.6"));
	assert_true(blz_pathset_match(&ps, "etc"));
	assert_true(blz_pathset_match(&ps, "etc/passwd"));     /* below a matching directory */
	assert_true(blz_pathset_match(&ps, "etc/a/b/c"));
	assert_false(blz_pathset_match(&ps, "etcetera"));
	assert_false(blz_pathset_match(&ps, "usr/binx/ls"));
	assert_false(blz_pathset_match(&ps, "usr/sbin/init"));
	assert_false(blz_pathset_match(&ps, "libc.so"));
	blz_pathset_release(&ps);
}

static char *write_list(const char *text, size_t len)
{
	char *path = strdup("/tmp/blz-test-list.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_list(void **state)
{
	static const char text[] = "# hot files\n"
				   "usr/bin/dpkg\n"
				   "/etc/passwd\r\n"
				   "\n"
				   "./var/lib/dpkg/status\n"
				   "name with spaces \n"
				   "last-without-newline";
	char *path = write_list(text, sizeof(text) - 1);
	struct blz_pathset ps;
	blz_pathset_init(&ps);
	size_t bad = 0;
	assert_int_equal(blz_pathset_read_list(&ps, path, &bad), 5);
	blz_pathset_seal(&ps);
	assert_true(blz_pathset_match(&ps, "usr/bin/dpkg"));
	assert_true(blz_pathset_match(&ps, "etc/passwd"));
	assert_true(blz_pathset_match(&ps, "var/lib/dpkg/status"));
	assert_true(blz_pathset_match(&ps, "name with spaces "));
	assert_true(blz_pathset_match(&ps, "last-without-newline"));
	assert_false(blz_pathset_match(&ps, "# hot files"));
	assert_false(blz_pathset_match(&ps, "usr/bin/dpkg-query"));
	assert_false(blz_pathset_match(&ps, "usr/bin"));
	assert_false(blz_pathset_match(&ps, "name with spaces"));
	blz_pathset_release(&ps);
	unlink(path);
	free(path);

	/* A NUL byte on line 2 cannot be a path. */
	path = write_list("ok\nbad\0byte\n", 12);
	blz_pathset_init(&ps);
	assert_int_equal(blz_pathset_read_list(&ps, path, &bad), -EINVAL);
	assert_int_equal(bad, 2);
	blz_pathset_release(&ps);
	unlink(path);
	free(path);

	blz_pathset_init(&ps);
	assert_int_equal(blz_pathset_read_list(&ps, "/nonexistent/list", &bad), -ENOENT);
	blz_pathset_release(&ps);
}

static void test_many_exact(void **state)
{
	struct blz_pathset ps;
	blz_pathset_init(&ps);
	char name[64];
	for (int i = 9999; i >= 0; i--) {
		snprintf(name, sizeof(name), "d%d/f%d", i % 7, i);
		blz_pathset_add_path(&ps, name);
	}
	blz_pathset_seal(&ps);
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "d%d/f%d", i % 7, i);
		assert_true(blz_pathset_match(&ps, name));
		snprintf(name, sizeof(name), "d%d/f%d", (i + 1) % 7, i);
		assert_false(blz_pathset_match(&ps, name));
	}
	blz_pathset_release(&ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_globs),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_many_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
