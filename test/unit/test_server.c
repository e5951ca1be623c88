/* Unit tests for lib/server: the control protocol and the run-time registry. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/control.h"

static char sock[108];

static int handler(void *ctx, const char *verb, struct blz_buf *reply, char *msg, size_t len)
{
	int *calls = ctx;
	(*calls)++;
	if (!strcmp(verb, "status")) {
		blz_buf_append(reply, "{\"x\":1}\n", 8);
		return 0;
	}
	snprintf(msg, len, "unknown request '%s'", verb);
	return -EINVAL;
}

/* The parent's handle on the server serve_n() started, closed (and the socket removed) at
 * the end of each test. */
static struct blz_ctl_server *parent_srv;

/* Runs the server side for n connections in a child process. */
static pid_t serve_n(int n, uint64_t want_ok, uint64_t want_rejected)
{
	struct blz_ctl_server *s;
	assert_int_equal(blz_ctl_listen(sock, 12345, &s), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int calls = 0;
		for (int i = 0; i < n;) {
			fd_set fds;
			FD_ZERO(&fds);
			FD_SET(blz_ctl_fd(s), &fds);
			if (select(blz_ctl_fd(s) + 1, &fds, NULL, NULL, NULL) > 0) {
				blz_ctl_serve_one(s, handler, &calls);
				i++;
			}
		}
		uint64_t ok, rej;
		blz_ctl_counts(s, &ok, &rej);
		_exit(ok == want_ok && rej == want_rejected ? 0 : 1);
	}
	/* The parent only needed the socket to exist (it never accepts on it). */
	parent_srv = s;
	return pid;
}

static char *raw(const void *req, size_t len, bool shut)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (len)
		assert_int_equal(write(fd, req, len), (ssize_t)len);
	if (shut)
		shutdown(fd, SHUT_WR);
	static char buf[4096];
	ssize_t n, got = 0;
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = 0;
	close(fd);
	return buf;
}

static void test_protocol(void **state)
{
	snprintf(sock, sizeof(sock), "/tmp/blazy-ctl-%d.sock", getpid());
	pid_t pid = serve_n(6, 2, 4); /* 2 status; frob, too long, binary, cut off */
	char *reply = NULL;
	assert_int_equal(blz_ctl_request(sock, "status", &reply, 2000), 0);
	assert_string_equal(reply, "{\"x\":1}\n");
	free(reply);
	assert_int_equal(blz_ctl_request(sock, "frob", &reply, 2000), -EREMOTEIO);
	assert_string_equal(reply, "unknown request 'frob'");
	free(reply);
	/* Oversized, binary, and cut-off requests are rejected; the server keeps going. */
	char big[200];
	memset(big, 'a', sizeof(big));
	assert_non_null(strstr(raw(big, sizeof(big), false), "error: request too long"));
	assert_non_null(strstr(raw("st\001tus\n", 8, false), "error: malformed request"));
	assert_non_null(strstr(raw("status", 6, true), "error: malformed request"));
	/* Still serving. */
	assert_int_equal(blz_ctl_request(sock, "status", &reply, 2000), 0);
	free(reply);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	blz_ctl_close(parent_srv);
}

static void test_unauthorised(void **state)
{
	if (getuid() != 0)
		skip(); /* needs root to become another user */
	snprintf(sock, sizeof(sock), "/tmp/blazy-ctl-u%d.sock", getpid());
	pid_t pid = serve_n(2, 1, 1);
	pid_t c = fork();
	if (c == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		char *reply = NULL;
		int r = blz_ctl_request(sock, "status", &reply, 2000);
		_exit(r == -EREMOTEIO && strstr(reply, "permission denied") ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(c, &st, 0), c);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* The owner (uid 12345 here) may talk. */
	c = fork();
	if (c == 0) {
		if (setgid(12345) < 0 || setuid(12345) < 0)
			_exit(2);
		char *reply = NULL;
		_exit(blz_ctl_request(sock, "status", &reply, 2000) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(c, &st, 0), c);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	blz_ctl_close(parent_srv);
}

static void test_no_server(void **state)
{
	char *reply = NULL;
	assert_int_equal(blz_ctl_request("/tmp/blazy-no-such.sock", "status", &reply, 500), -ENOENT);
}

static void test_registry(void **state)
{
	if (getuid() != 0)
		skip(); /* writes /run/blazy */
	struct blz_reg reg = { .dev_id = 4000000 + (uint32_t)getpid() % 1000, .pid = getpid(),
			       .owner = 7 };
	snprintf(reg.seed, sizeof(reg.seed), "/tmp/blazy-reg-%d.img", getpid());
	snprintf(reg.map, sizeof(reg.map), "/tmp/blazy-reg-%d.img.map", getpid());
	snprintf(reg.store, sizeof(reg.store), "/tmp/blazy-reg-%d.img.store", getpid());
	FILE *f = fopen(reg.seed, "w");
	fclose(f);
	assert_int_equal(blz_reg_write(&reg), 0);
	struct blz_reg got;
	assert_int_equal(blz_reg_read(reg.dev_id, &got), 0);
	assert_int_equal(got.pid, reg.pid);
	assert_int_equal(got.owner, 7);
	assert_string_equal(got.seed, reg.seed);
	assert_string_equal(got.store, reg.store);
	assert_int_equal(blz_reg_find_seed(reg.seed, &got), 1);
	assert_int_equal(got.dev_id, reg.dev_id);
	blz_reg_remove(reg.dev_id);
	assert_int_equal(blz_reg_read(reg.dev_id, &got), -ENOENT);
	assert_int_equal(blz_reg_find_seed(reg.seed, &got), 0);
	unlink(reg.seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol),
		cmocka_unit_test(test_unauthorised),
		cmocka_unit_test(test_no_server),
		cmocka_unit_test(test_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
