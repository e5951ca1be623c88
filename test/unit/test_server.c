/* Unit tests for lib/server: the control protocol, the run-time registry, the readiness
 * handshake, the status encoder and parser, and the stop policy (with fake steps). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
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

#include <poll.h>

#include <cmocka.h>

#include "fetch/fetch.h"
#include "server/control.h"
#include "server/internal.h"
#include "server/ready.h"
#include "server/status.h"
#include "server/stop.h"

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
	/* a server of a test backend: no seed, map, store or fsid, still an entry */
	struct blz_reg bare = { .dev_id = reg.dev_id, .pid = getpid() };
	assert_int_equal(blz_reg_write(&bare), 0);
	assert_int_equal(blz_reg_read(reg.dev_id, &got), 0);
	assert_int_equal(got.pid, getpid());
	assert_string_equal(got.seed, "");
	assert_string_equal(got.fsid, "");
	assert_int_equal(blz_reg_find_seed(reg.seed, &got), 0);
	blz_reg_remove(reg.dev_id);
	unlink(reg.seed);
	/* a supervisor's state, and the temporary file of one killed (SIGKILL) mid-write:
	 * removing the state removes that too */
	struct blz_super_state st = { .supervisor = getpid(), .server = 1 }, sgot;
	snprintf(st.state, sizeof(st.state), "live");
	assert_int_equal(blz_reg_super_write(reg.dev_id, &st), 0);
	assert_int_equal(blz_reg_super_read(reg.dev_id, &sgot), 0);
	assert_string_equal(sgot.state, "live");
	pid_t dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s/ublkb%u.super.tmp-%d", BLZ_RUN_DIR, reg.dev_id, (int)dead);
	FILE *t = fopen(tmp, "w");
	assert_non_null(t);
	fclose(t);
	blz_reg_super_remove(reg.dev_id);
	assert_int_equal(blz_reg_super_read(reg.dev_id, &sgot), -ENOENT);
	assert_int_equal(access(tmp, F_OK), -1);
}

/* ---- the readiness handshake (server/ready.h) ---- */

static void test_ready_roundtrip(void **state)
{
	char buf[BLZ_READY_MAX];
	struct blz_ready m = { .dev_id = 4294967294u, .pid = 2147483647 }, got;
	int n = blz_ready_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_string_equal(buf, "blazy-ready 1 ok 4294967294 2147483647\n");
	assert_int_equal(blz_ready_decode(buf, (size_t)n, &got), 0);
	assert_int_equal(got.err, 0);
	assert_int_equal(got.dev_id, 4294967294u);
	assert_int_equal(got.pid, 2147483647);

	/* A failure: control bytes in the message become '?', a long one is cut. */
	struct blz_ready f = { .err = -ENOENT };
	snprintf(f.msg, sizeof(f.msg), "cannot open 'a\nb\tc\x7f': \"x\" \\ y");
	n = blz_ready_encode(&f, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(blz_ready_decode(buf, (size_t)n, &got), 0);
	assert_int_equal(got.err, -ENOENT);
	assert_string_equal(got.msg, "cannot open 'a?b?c?': \"x\" \\ y");
	memset(f.msg, 'x', BLZ_READY_MSG_MAX);
	f.msg[BLZ_READY_MSG_MAX] = 0;
	n = blz_ready_encode(&f, buf, sizeof(buf));
	assert_true(n > 0 && n <= BLZ_READY_MAX);
	assert_int_equal(blz_ready_decode(buf, (size_t)n, &got), 0);
	assert_int_equal(strlen(got.msg), BLZ_READY_MSG_MAX);

	/* What cannot be encoded. */
	struct blz_ready bad = { .err = 5 };
	assert_int_equal(blz_ready_encode(&bad, buf, sizeof(buf)), -EINVAL);
	bad = (struct blz_ready){ .dev_id = 1, .pid = 0 };
	assert_int_equal(blz_ready_encode(&bad, buf, sizeof(buf)), -EINVAL);
	bad = (struct blz_ready){ .dev_id = UINT32_MAX, .pid = 1 };
	assert_int_equal(blz_ready_encode(&bad, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(blz_ready_encode(&m, buf, 10), -EINVAL);
}

static void test_ready_garbage(void **state)
{
	static const char *bad[] = {
		"",
		"\n",
		"blazy-ready 1 ok 3 100",            /* truncated: no newline */
		"blazy-ready 1 ok 3\n",              /* no pid */
		"blazy-ready 1 ok 3 0\n",            /* pid 0 */
		"blazy-ready 1 ok 3 2147483648\n",   /* pid too large */
		"blazy-ready 1 ok 4294967295 1\n",   /* device id too large */
		"blazy-ready 1 ok 03 1\n",           /* leading zero */
		"blazy-ready 1 ok -3 1\n",
		"blazy-ready 1 ok +3 1\n",
		"blazy-ready 1 ok 3 1 \n",           /* trailing bytes */
		"blazy-ready 1 ok 3 1\nmore\n",      /* two lines */
		"blazy-ready 2 ok 3 1\n",            /* another version */
		"blazy-ready 1 OK 3 1\n",
		"blazy-ready 1 fail 0 x\n",          /* errno 0 */
		"blazy-ready 1 fail 4096 x\n",       /* errno out of range */
		"blazy-ready 1 fail 2\n",            /* no message separator */
		"blazy-ready 1 fail 2 a\tb\n",       /* a control byte */
		"blazy-ready 1 fail x y\n",
		"/dev/ublkb3\n",                     /* what `blazy serve` prints is not a message */
		"blazy: error: cannot open\n",
	};
	struct blz_ready got = { .dev_id = 77 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (blz_ready_decode(bad[i], strlen(bad[i]), &got) != -EPROTO)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(got.dev_id, 77); /* untouched */
	/* An embedded NUL, and a message over the limit. */
	assert_int_equal(blz_ready_decode("blazy-ready 1 fail 2 a\0b\n", 24, &got), -EPROTO);
	char big[BLZ_READY_MAX + 8];
	int n = snprintf(big, sizeof(big), "blazy-ready 1 fail 2 ");
	memset(big + n, 'y', BLZ_READY_MSG_MAX + 1);
	big[n + BLZ_READY_MSG_MAX + 1] = '\n';
	assert_int_equal(blz_ready_decode(big, (size_t)n + BLZ_READY_MSG_MAX + 2, &got), -EPROTO);
	/* Every prefix of a good message is truncated. */
	const char *good = "blazy-ready 1 ok 12 345\n";
	for (size_t l = 0; l < strlen(good); l++)
		assert_int_equal(blz_ready_decode(good, l, &got), -EPROTO);
	assert_int_equal(blz_ready_decode(good, strlen(good), &got), 0);
}

static void test_ready_pipe(void **state)
{
	int p[2];
	struct blz_ready got;
	/* A message through a pipe. */
	assert_int_equal(pipe(p), 0);
	struct blz_ready m = { .dev_id = 9, .pid = 1234 };
	assert_int_equal(blz_ready_send(p[1], &m), 0);
	close(p[1]);
	assert_int_equal(blz_ready_recv(p[0], 1000, &got), 0);
	assert_int_equal(got.dev_id, 9);
	assert_int_equal(got.pid, 1234);
	close(p[0]);
	/* End of file first: the server died. */
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	assert_int_equal(blz_ready_recv(p[0], 1000, &got), -EPIPE);
	close(p[0]);
	/* Half a message, then end of file. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "blazy-ready 1 ok 1", 18), 18);
	close(p[1]);
	assert_int_equal(blz_ready_recv(p[0], 1000, &got), -EPROTO);
	close(p[0]);
	/* Nothing within the deadline. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(blz_ready_recv(p[0], 50, &got), -ETIMEDOUT);
	close(p[0]);
	close(p[1]);
}

/* ---- the status (server/status.h) ---- */

static void fill(struct blz_server_status *s, const char *seed, size_t nq)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->device, sizeof(s->device), "/dev/ublkb7");
	snprintf(s->seed, sizeof(s->seed), "%s", seed);
	s->pid = 4242;
	s->size = UINT64_MAX;
	s->reads = 1;
	s->read_bytes = UINT64_MAX - 1;
	s->fetch_untracked = 17;
	s->control_rejected = 3;
	snprintf(s->state, sizeof(s->state), "recovering");
	s->supervisor = 77;
	s->restarts = UINT64_MAX - 5;
	snprintf(s->last_cause, sizeof(s->last_cause), "server 12 killed by \"signal\" 9\n");
	snprintf(s->io_commands, sizeof(s->io_commands), "batched");
	s->nqueues = nq;
	s->queues = calloc(nq ? nq : 1, sizeof(*s->queues));
	for (size_t i = 0; i < nq; i++) {
		s->queues[i].reads = i + 1;
		s->queues[i].poll_hits = UINT64_MAX - i;
	}
	s->disk_cache_evictions = 5;
	s->prefetched = UINT64_MAX;
	s->nstores = nq ? 2 : 0;
	s->stores = calloc(2, sizeof(*s->stores));
	snprintf(s->stores[0].name, sizeof(s->stores[0].name), "https://h.example/st \"x\"");
	snprintf(s->stores[1].name, sizeof(s->stores[1].name), "/srv/store");
	s->stores[0].p99_us = 123456;
	s->stores[1].fetches = UINT64_MAX;
	struct blz_server_reqstatus *r = &s->requests;
	r->size_hist[0] = 1;
	r->size_hist[BLZ_REQ_SIZE_N - 1] = UINT64_MAX;
	r->align_hist[64] = 5;
	r->area_bytes[BLZ_AREA_GAP] = 4096;
	r->latency[BLZ_OUT_FETCH] = (struct blz_server_latency){ 3, 10, 20, 30, 40 };
	r->latency[BLZ_OUT_ERROR].max_ns = UINT64_MAX;
	r->log_active = 1;
	r->log_lines = 77;
}

static void roundtrip(const char *seed, const char *want_seed)
{
	struct blz_server_status s, got;
	struct blz_buf b = { 0 };
	char err[256];
	fill(&s, seed, 3);
	blz_server_status_encode(&s, &b);
	assert_int_equal(blz_server_status_parse((char *)b.data, b.len, &got, err, sizeof(err)), 0);
	assert_string_equal(got.seed, want_seed);
	assert_string_equal(got.device, s.device);
	assert_true(got.size == UINT64_MAX && got.read_bytes == UINT64_MAX - 1);
	assert_int_equal(got.pid, 4242);
	assert_int_equal(got.fetch_untracked, 17);
	assert_int_equal(got.control_rejected, 3);
	assert_string_equal(got.state, "recovering");
	assert_int_equal(got.supervisor, 77);
	assert_true(got.restarts == UINT64_MAX - 5);
	assert_string_equal(got.last_cause, s.last_cause);
	assert_string_equal(got.io_commands, "batched");
	assert_int_equal(got.nqueues, 3);
	assert_int_equal(got.queues[2].reads, 3);
	assert_true(got.queues[2].poll_hits == UINT64_MAX - 2);
	assert_int_equal(got.disk_cache_evictions, 5);
	assert_true(got.prefetched == UINT64_MAX);
	assert_int_equal(got.nstores, 2);
	assert_string_equal(got.stores[0].name, "https://h.example/st \"x\"");
	assert_int_equal(got.stores[0].p99_us, 123456);
	assert_string_equal(got.stores[1].name, "/srv/store");
	assert_true(got.stores[1].fetches == UINT64_MAX);
	/* the requests' block, whole */
	assert_memory_equal(&got.requests, &s.requests, sizeof(got.requests));
	blz_server_status_release(&got);
	blz_server_status_release(&s);
	blz_buf_release(&b);
}

static void test_status_roundtrip(void **state)
{
	roundtrip("/srv/seed.img", "/srv/seed.img");
	roundtrip("", "");
	roundtrip("/a \"quoted\" \\back\\slash\\", "/a \"quoted\" \\back\\slash\\");
	roundtrip("/ctl\x01\n\t\x1f\x7f.img", "/ctl\x01\n\t\x1f\x7f.img");
	roundtrip("/caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80", "/caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80");
	/* Bytes that are not UTF-8 come back as U+FFFD, one per byte. */
	roundtrip("/bad\xff\xc3(\xed\xa0\x80", "/bad\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	/* No queues. */
	struct blz_server_status s, got;
	struct blz_buf b = { 0 };
	char err[256];
	fill(&s, "/x", 0);
	blz_server_status_encode(&s, &b);
	assert_int_equal(blz_server_status_parse((char *)b.data, b.len, &got, err, sizeof(err)), 0);
	assert_int_equal(got.nqueues, 0);
	assert_int_equal(got.nstores, 0);
	blz_server_status_release(&got);
	blz_server_status_release(&s);
	blz_buf_release(&b);
}

/* text with the first occurrence of from replaced by to */
static char *replace(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	assert_non_null(p);
	char *out = malloc(strlen(text) + strlen(to) + 1);
	sprintf(out, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
	return out;
}

static void expect_bad(const char *text, int want, const char *msg_part)
{
	struct blz_server_status got = { .pid = 99 };
	char err[256] = "";
	int r = blz_server_status_parse(text, strlen(text), &got, err, sizeof(err));
	if (r != want || !strstr(err, msg_part))
		fail_msg("'%.80s...': %d '%s' (want %d, '%s')", text, r, err, want, msg_part);
	assert_int_equal(got.pid, 99); /* untouched */
}

static void test_status_hostile(void **state)
{
	struct blz_server_status s;
	struct blz_buf b = { 0 };
	fill(&s, "/s", 2);
	blz_server_status_encode(&s, &b);
	blz_buf_append(&b, "", 1);
	const char *good = (const char *)b.data;
	char *t;

	/* An extra member is ignored. */
	t = replace(good, "\"pid\":", "\"new\":[1,{\"x\":\"y\"}],\"pid\":");
	struct blz_server_status got;
	char err[256];
	assert_int_equal(blz_server_status_parse(t, strlen(t), &got, err, sizeof(err)), 0);
	blz_server_status_release(&got);
	free(t);
	/* A missing member, a member of the wrong type. */
	t = replace(good, "\"errors\":0,", "");
	expect_bad(t, -EINVAL, "no \"errors\"");
	free(t);
	t = replace(good, "\"device\":\"/dev/ublkb7\",", "");
	expect_bad(t, -EINVAL, "\"device\"");
	free(t);
	t = replace(good, "\"pid\":4242", "\"pid\":\"4242\"");
	expect_bad(t, -EINVAL, "\"pid\"");
	free(t);
	t = replace(good, "\"pid\":4242", "\"pid\":-1");
	expect_bad(t, -EINVAL, "\"pid\"");
	free(t);
	t = replace(good, "\"pid\":4242", "\"pid\":1.5");
	expect_bad(t, -EINVAL, "\"pid\"");
	free(t);
	t = replace(good, "\"queues\":[", "\"queues\":[7,");
	expect_bad(t, -EINVAL, "queue 0");
	free(t);
	t = replace(good, "{\"reads\":1,", "{");
	expect_bad(t, -EINVAL, "queue 0 has no \"reads\"");
	free(t);
	/* The stores: each an object with a name and every counter. */
	t = replace(good, "\"stores\":[", "\"stores\":[[],");
	expect_bad(t, -EINVAL, "store 0 is not an object");
	free(t);
	t = replace(good, "{\"name\":\"/srv/store\",", "{");
	expect_bad(t, -EINVAL, "store 1 has no string \"name\"");
	free(t);
	t = replace(good, "\"p99_us\":123456", "\"p99_us\":-5");
	expect_bad(t, -EINVAL, "\"p99_us\" of store 0");
	free(t);
	t = replace(good, "\"stores\":", "\"stores_\":");
	expect_bad(t, -EINVAL, "no array \"stores\"");
	free(t);
	t = replace(good, "\"disk_cache_hits\":0,", "");
	expect_bad(t, -EINVAL, "no \"disk_cache_hits\"");
	free(t);
	/* The recovery members. */
	t = replace(good, "\"state\":\"recovering\",", "");
	expect_bad(t, -EINVAL, "\"state\"");
	free(t);
	t = replace(good, "\"restarts\":", "\"restart\":");
	expect_bad(t, -EINVAL, "no \"restarts\"");
	free(t);
	t = replace(good, "\"last_cause\":\"", "\"last_cause\":7,\"x\":\"");
	expect_bad(t, -EINVAL, "\"last_cause\"");
	free(t);
	t = replace(good, "\"state\":\"recovering\"", "\"state\":\"recovering-for-far-too-long\"");
	expect_bad(t, -ERANGE, "\"state\"");
	free(t);
	/* The requests' block: missing, or a member missing, or a histogram cut short. */
	t = replace(good, "\"requests\":", "\"requestz\":");
	expect_bad(t, -EINVAL, "\"requests\"");
	free(t);
	t = replace(good, "\"fetch\":{\"count\":3", "\"fetch\":{\"kount\":3");
	expect_bad(t, -EINVAL, "\"count\"");
	free(t);
	t = replace(good, "\"size_hist\":[1,", "\"size_hist\":[");
	expect_bad(t, -EINVAL, "\"size_hist\"");
	free(t);
	t = replace(good, "\"gap\":4096", "\"gap\":-1");
	expect_bad(t, -EINVAL, "\"gap\"");
	free(t);
	t = replace(good, "\"lines\":77", "\"lines\":\"77\"");
	expect_bad(t, -EINVAL, "\"lines\"");
	free(t);
	/* Numbers beyond 64 bits. */
	t = replace(good, "\"size\":18446744073709551615", "\"size\":18446744073709551616");
	expect_bad(t, -ERANGE, "\"size\"");
	free(t);
	t = replace(good, "\"size\":18446744073709551615", "\"size\":99999999999999999999999999");
	expect_bad(t, -ERANGE, "\"size\"");
	free(t);
	/* A seed path longer than the struct holds. */
	char *longp = malloc(5000);
	memset(longp, 'a', 4999);
	longp[4999] = 0;
	size_t l = strlen(good) + 5000;
	t = malloc(l + 32);
	snprintf(t, l + 32, "%.*s\"%s\"%s", (int)(strstr(good, "\"/s\"") - good), good, longp,
		 strstr(good, "\"/s\"") + 4);
	expect_bad(t, -ERANGE, "too long");
	free(t);
	free(longp);
	/* Not JSON, not an object, truncated, invalid UTF-8 or raw control bytes in a string. */
	expect_bad("", -EINVAL, "not JSON");
	expect_bad("[]", -EINVAL, "not an object");
	expect_bad("{\"device\":\"/dev/ublkb1\"", -EINVAL, "not JSON");
	t = replace(good, "\"/s\"", "\"/\xff\"");
	expect_bad(t, -EINVAL, "not JSON");
	free(t);
	t = replace(good, "\"/s\"", "\"/\n\"");
	expect_bad(t, -EINVAL, "not JSON");
	free(t);
	for (size_t k = 1; k + 2 < strlen(good); k += 37) {
		t = strndup(good, k);
		expect_bad(t, -EINVAL, ""); /* every cut is refused */
		free(t);
	}
	blz_server_status_release(&s);
	blz_buf_release(&b);
}

static void test_state_name(void **state)
{
	assert_string_equal(blz_server_state_name(BLZ_UBLK_S_DEV_LIVE, NULL), "live");
	assert_string_equal(blz_server_state_name(BLZ_UBLK_S_DEV_LIVE, "live"), "live");
	/* a takeover that is over: the kernel knows best */
	assert_string_equal(blz_server_state_name(BLZ_UBLK_S_DEV_LIVE, "recovering"), "live");
	assert_string_equal(blz_server_state_name(BLZ_UBLK_S_DEV_QUIESCED, "recovering"),
			    "recovering");
	assert_string_equal(blz_server_state_name(BLZ_UBLK_S_DEV_QUIESCED, ""), "quiesced");
	assert_string_equal(blz_server_state_name(BLZ_UBLK_S_DEV_QUIESCED, "live"), "quiesced");
	assert_string_equal(blz_server_state_name(BLZ_UBLK_S_DEV_DEAD, "failed"), "failed");
	assert_string_equal(blz_server_state_name(BLZ_UBLK_S_DEV_LIVE, "failed"), "failed");
	assert_string_equal(blz_server_state_name(BLZ_UBLK_S_DEV_DEAD, NULL), "dead");
}

/* ---- the stop policy (server/stop.h) with fake steps ---- */

struct fake {
	int probe;              /* what probe answers */
	bool has_socket;        /* the control socket answers */
	bool obeys_ctl, obeys_term; /* the server takes the device down when asked so */
	bool hung;              /* SIGSTOP'ed: obeys nothing but SIGKILL */
	bool in_use;
	bool disk_held;         /* DEL_DEV times out with the device gone */
	int stop_dev_r;
	/* state */
	bool dev_there, proc_alive, registry;
	char log[512];
	unsigned waited_ms;
};

static void note(struct fake *f, const char *what)
{
	size_t n = strlen(f->log);
	snprintf(f->log + n, sizeof(f->log) - n, "%s%s", n ? " " : "", what);
}

static int f_probe(void *ctx, uint32_t id, pid_t *pid)
{
	struct fake *f = ctx;
	*pid = f->probe == -ENODEV ? 0 : 321;
	return f->probe;
}
static int f_in_use(void *ctx, uint32_t id, char *what, size_t len)
{
	struct fake *f = ctx;
	snprintf(what, len, "mounted on /mnt/x");
	return f->in_use;
}
static int f_ctl_stop(void *ctx, uint32_t id)
{
	struct fake *f = ctx;
	note(f, "ctl");
	if (!f->has_socket)
		return -ENOENT;
	if (f->hung) {
		f->waited_ms += BLZ_CTL_TIMEOUT_MS;
		return -ETIMEDOUT;
	}
	if (f->obeys_ctl) {
		f->dev_there = false;
		f->proc_alive = false;
		f->registry = false;
	}
	return 0;
}
static int f_signal(void *ctx, pid_t pid, int sig)
{
	struct fake *f = ctx;
	assert_int_equal(pid, 321);
	note(f, sig == SIGTERM ? "term" : sig == SIGKILL ? "kill" : "sig?");
	if (!f->proc_alive)
		return -ESRCH;
	if (sig == SIGKILL || (sig == SIGTERM && f->obeys_term && !f->hung)) {
		f->proc_alive = false;
		if (sig == SIGTERM)
			f->registry = false;
		f->dev_there = sig == SIGKILL ? f->dev_there : false;
	}
	return 0;
}
static enum blz_ublk_gone f_wait_gone(void *ctx, uint32_t id, unsigned ms)
{
	struct fake *f = ctx;
	if (f->dev_there)
		f->waited_ms += ms;
	return f->dev_there ? BLZ_UBLK_STILL_THERE : BLZ_UBLK_GONE;
}
static bool f_pid_wait_gone(void *ctx, pid_t pid, unsigned ms)
{
	struct fake *f = ctx;
	return !f->proc_alive;
}
static int f_stop_dev(void *ctx, uint32_t id)
{
	struct fake *f = ctx;
	note(f, "STOP_DEV");
	return f->stop_dev_r;
}
static int f_del_dev(void *ctx, uint32_t id, unsigned ms)
{
	struct fake *f = ctx;
	note(f, "DEL_DEV");
	f->dev_there = false;
	if (f->disk_held) {
		f->waited_ms += ms;
		return -ETIMEDOUT;
	}
	return 0;
}
static bool f_char_dev_present(void *ctx, uint32_t id)
{
	struct fake *f = ctx;
	return f->dev_there;
}
static bool f_clean_registry(void *ctx, uint32_t id)
{
	struct fake *f = ctx;
	if (!f->registry || f->proc_alive)
		return false;
	note(f, "clean");
	f->registry = false;
	return true;
}

static const struct blz_stop_ops fake_ops = {
	f_probe, f_in_use, f_ctl_stop, f_signal, f_wait_gone, f_pid_wait_gone,
	f_stop_dev, f_del_dev, f_char_dev_present, f_clean_registry,
	NULL, NULL, /* no TRY_STOP_DEV (test_safe_stop sets them) */
};

static int run_fake(struct fake *f, bool force, struct blz_stop_result *res, char *err)
{
	struct blz_stop_opts o = { .grace_ms = 3000, .force = force };
	return blz_stop_run(&fake_ops, f, 5, &o, res, err, 256);
}

static void test_stop_policy(void **state)
{
	struct blz_stop_result res;
	char err[256];
	/* Healthy seed server: the control socket does it; nothing left. */
	struct fake f = { .probe = 1, .has_socket = true, .obeys_ctl = true, .obeys_term = true,
			  .dev_there = true, .proc_alive = true, .registry = true };
	assert_int_equal(run_fake(&f, false, &res, err), 0);
	assert_int_equal(res.step, BLZ_STOP_CONTROL);
	assert_string_equal(f.log, "ctl");
	assert_false(f.dev_there || f.proc_alive || f.registry);
	assert_false(res.grace_expired);

	/* A server without a socket (a test backend): SIGTERM. */
	f = (struct fake){ .probe = 1, .obeys_term = true, .dev_there = true, .proc_alive = true };
	assert_int_equal(run_fake(&f, false, &res, err), 0);
	assert_int_equal(res.step, BLZ_STOP_SIGTERM);
	assert_string_equal(f.log, "ctl term");

	/* Hung (SIGSTOP): the socket times out, SIGTERM waits its grace, SIGKILL; the dead
	 * server's device is deleted directly and its registry entry removed. Bounded. */
	f = (struct fake){ .probe = 1, .has_socket = true, .obeys_ctl = true, .obeys_term = true,
			   .hung = true, .dev_there = true, .proc_alive = true, .registry = true };
	assert_int_equal(run_fake(&f, false, &res, err), 0);
	assert_int_equal(res.step, BLZ_STOP_DIRECT);
	assert_true(res.grace_expired);
	assert_false(res.kill_failed);
	assert_string_equal(f.log, "ctl term kill STOP_DEV DEL_DEV clean");
	assert_true(res.registry_cleaned);
	assert_false(f.dev_there || f.proc_alive || f.registry);
	assert_true(f.waited_ms <= BLZ_CTL_TIMEOUT_MS + 3000 + 1000);

	/* Already dead (kill -9): straight to STOP_DEV/DEL_DEV, registry cleaned. */
	f = (struct fake){ .probe = 0, .has_socket = true, .dev_there = true, .registry = true };
	assert_int_equal(run_fake(&f, false, &res, err), 0);
	assert_int_equal(res.step, BLZ_STOP_DIRECT);
	assert_string_equal(f.log, "STOP_DEV DEL_DEV clean");
	assert_false(f.dev_there || f.registry);

	/* Its disk still open somewhere: deleted, reported as held. */
	f = (struct fake){ .probe = 0, .dev_there = true, .disk_held = true };
	assert_int_equal(run_fake(&f, false, &res, err), 0);
	assert_true(res.held);

	/* STOP_DEV fails. */
	f = (struct fake){ .probe = 0, .dev_there = true, .stop_dev_r = -EIO };
	assert_int_equal(run_fake(&f, false, &res, err), -EIO);
	assert_non_null(strstr(err, "cannot stop /dev/ublkb5"));

	/* In use: refused before anything is done, unless forced. */
	f = (struct fake){ .probe = 1, .has_socket = true, .obeys_ctl = true, .in_use = true,
			   .dev_there = true, .proc_alive = true, .registry = true };
	assert_int_equal(run_fake(&f, false, &res, err), -EBUSY);
	assert_non_null(strstr(err, "mounted on /mnt/x"));
	assert_string_equal(f.log, "");
	assert_true(f.dev_there && f.proc_alive && f.registry);
	assert_int_equal(run_fake(&f, true, &res, err), 0);
	assert_int_equal(res.step, BLZ_STOP_CONTROL);

	/* No device: -ENODEV, and a stale registry entry is still removed. */
	f = (struct fake){ .probe = -ENODEV, .registry = true };
	assert_int_equal(run_fake(&f, false, &res, err), -ENODEV);
	assert_true(res.registry_cleaned);
	assert_non_null(strstr(err, "no ublk device /dev/ublkb5"));
}

/* The command line of a server (an upgrade's) or of a supervisor (a server whose own died)
 * carries what the config serves. */
static void test_server_args(void **state)
{
	(void)state;
	static const char *const stores[] = { "http://127.0.0.1:8080/s/", "/srv/store" };
	struct blz_fetch_opts fo = { .stores = stores, .n_stores = 2, .cache_dir = "/var/c",
				     .timeout_ms = 1500, .retries = ~0u, .inject = "delay=300ms" };
	struct blz_server_config c = { .seed = "/img/seed.img", .map_path = "/img/m",
				       .fetch = &fo, .prefetch_list = "/img/list",
				       .queues = 2, .depth = 64, .poll_us = BLZ_UBLK_POLL_NEVER,
				       .recovery_timeout_ms = 15000, .nfilters = 1,
				       .filters = { "delay:ms=5" } };
	static struct srv_args a;
	srv_server_args(&c, "blazy", 7, 4242, &a);
	const char *want[] = { "blazy", "serve", "--foreground", "--recover", "7",
			       "--supervise-pid", "4242", "--map", "/img/m",
			       "--store", "http://127.0.0.1:8080/s/", "--store", "/srv/store",
			       "--cache-dir", "/var/c", "--fetch-timeout", "1500ms",
			       "--inject", "delay=300ms", "--prefetch", "/img/list",
			       "--queues", "2", "--depth", "64", "--poll", "0",
			       "--recovery-timeout", "15000ms", "--filter", "delay:ms=5",
			       "/img/seed.img" };
	size_t n = sizeof(want) / sizeof(want[0]);
	assert_int_equal(a.n, (int)n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(a.v[i], want[i]);
	assert_null(a.v[n]);
	/* an upgrade's: no --supervise-pid; a backend, the default recovery timeout */
	struct blz_server_config b = { .backend = "pattern,size=64M" };
	srv_server_args(&b, "/new/blazy", 3, 0, &a);
	const char *want_b[] = { "/new/blazy", "serve", "--foreground", "--recover", "3",
				 "--backend", "pattern,size=64M" };
	assert_int_equal(a.n, 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(a.v[i], want_b[i]);
	assert_null(a.v[7]);
}

/* Whether a server whose supervisor died starts a new one. */
static void test_sup_orphaned(void **state)
{
	(void)state;
	struct blz_super_state st = { .supervisor = 100, .server = 200, .state = "live" };
	assert_true(srv_sup_orphaned(&st, 200, 100));
	snprintf(st.state, sizeof(st.state), "recovering");
	assert_true(srv_sup_orphaned(&st, 200, 100));
	assert_false(srv_sup_orphaned(&st, 201, 100)); /* another server's */
	assert_false(srv_sup_orphaned(&st, 200, 101)); /* replaced already */
	assert_false(srv_sup_orphaned(&st, 200, 0));
	snprintf(st.state, sizeof(st.state), "stopping"); /* the stop policy retired it */
	assert_false(srv_sup_orphaned(&st, 200, 100));
	snprintf(st.state, sizeof(st.state), "failed");
	assert_false(srv_sup_orphaned(&st, 200, 100));
}

/* A pidfd becomes readable when its process dies, before anybody reaps it (a supervisor
 * whose parent does not reap is still seen dead). */
static void test_pidfd(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	int fd = srv_pidfd_open(pid);
	if (fd == -ENOSYS) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		skip();
	}
	assert_true(fd >= 0);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 100), 0);
	kill(pid, SIGKILL);
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_true(p.revents & POLLIN);
	assert_true(kill(pid, 0) == 0); /* a zombie, not reaped yet */
	close(fd);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(srv_pidfd_open(pid), -ESRCH);
}

/* TRY_STOP_DEV: the kernel refuses while the disk is open (the fake's "held": opened by a
 * user blazy names only when in_use is set too). */
static int safe_answer; /* what TRY_STOP_DEV answers */
static int f_try(void *ctx, uint32_t id)
{
	struct fake *f = ctx;
	note(f, "try");
	if (safe_answer == 0) {
		f->dev_there = false;
		f->proc_alive = false;
		f->registry = false;
	}
	return safe_answer;
}

static void test_safe_stop(void **state)
{
	struct blz_stop_ops ops = fake_ops;
	ops.ctl_try_stop = f_try;
	ops.try_stop_dev = f_try;
	struct blz_stop_result res;
	char err[256];
	struct blz_stop_opts o = { .grace_ms = 3000 };

	/* nobody holds it: the kernel stops it, no plain stop */
	struct fake f = { .probe = 1, .has_socket = true, .obeys_ctl = true, .dev_there = true,
			  .proc_alive = true, .registry = true };
	safe_answer = 0;
	assert_int_equal(blz_stop_run(&ops, &f, 5, &o, &res, err, sizeof(err)), 0);
	assert_string_equal(f.log, "try");
	assert_true(res.safe_stop);
	assert_int_equal(res.step, BLZ_STOP_CONTROL);

	/* a mount that came after the in-use check (the hook skips it): refused by the kernel,
	 * named, nothing stopped */
	f = (struct fake){ .probe = 1, .has_socket = true, .obeys_ctl = true, .in_use = true,
			   .dev_there = true, .proc_alive = true, .registry = true };
	safe_answer = -EBUSY;
	o.no_precheck = true;
	assert_int_equal(blz_stop_run(&ops, &f, 5, &o, &res, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "mounted on /mnt/x"));
	assert_non_null(strstr(err, "TRY_STOP_DEV"));
	assert_string_equal(f.log, "try");
	assert_true(f.dev_there && f.proc_alive);
	assert_false(res.safe_stop);
	/* without the hook the in-use check refuses first, without TRY_STOP_DEV */
	o.no_precheck = false;
	f.log[0] = 0;
	assert_int_equal(blz_stop_run(&ops, &f, 5, &o, &res, err, sizeof(err)), -EBUSY);
	assert_null(strstr(err, "TRY_STOP_DEV"));
	assert_string_equal(f.log, "");
	/* --force: the plain stop, no TRY_STOP_DEV */
	o.force = true;
	assert_int_equal(blz_stop_run(&ops, &f, 5, &o, &res, err, sizeof(err)), 0);
	assert_string_equal(f.log, "ctl");
	o.force = false;

	/* refused for a user blazy cannot name (a reader): retried for a while, then the old
	 * way (as on kernels without it) */
	f = (struct fake){ .probe = 1, .has_socket = true, .obeys_ctl = true, .dev_there = true,
			   .proc_alive = true, .registry = true };
	assert_int_equal(blz_stop_run(&ops, &f, 5, &o, &res, err, sizeof(err)), 0);
	assert_non_null(strstr(f.log, "try try"));
	assert_non_null(strstr(f.log, "ctl"));
	assert_false(res.safe_stop);

	/* not available (no SAFE_STOP_DEV, an older server): the old way at once */
	f = (struct fake){ .probe = 1, .has_socket = true, .obeys_ctl = true, .dev_there = true,
			   .proc_alive = true, .registry = true };
	safe_answer = -EOPNOTSUPP;
	assert_int_equal(blz_stop_run(&ops, &f, 5, &o, &res, err, sizeof(err)), 0);
	assert_string_equal(f.log, "try ctl");

	/* a dead server: TRY_STOP_DEV sent directly; refused while mounted */
	f = (struct fake){ .probe = 0, .dev_there = true, .in_use = true };
	safe_answer = -EBUSY;
	o.no_precheck = true;
	assert_int_equal(blz_stop_run(&ops, &f, 5, &o, &res, err, sizeof(err)), -EBUSY);
	assert_string_equal(f.log, "try");
	safe_answer = 0;
	f = (struct fake){ .probe = 0, .dev_there = true };
	assert_int_equal(blz_stop_run(&ops, &f, 5, &o, &res, err, sizeof(err)), 0);
	assert_non_null(strstr(f.log, "try DEL_DEV"));
	assert_null(strstr(f.log, "STOP_DEV D")); /* no plain STOP_DEV */
	assert_true(res.safe_stop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol),
		cmocka_unit_test(test_safe_stop),
		cmocka_unit_test(test_unauthorised),
		cmocka_unit_test(test_no_server),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_ready_roundtrip),
		cmocka_unit_test(test_ready_garbage),
		cmocka_unit_test(test_ready_pipe),
		cmocka_unit_test(test_status_roundtrip),
		cmocka_unit_test(test_status_hostile),
		cmocka_unit_test(test_state_name),
		cmocka_unit_test(test_stop_policy),
		cmocka_unit_test(test_server_args),
		cmocka_unit_test(test_sup_orphaned),
		cmocka_unit_test(test_pidfd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
