/* Unit tests for lib/fetch's exec: source (exec.c, docs/fetchers.md), with the shipped
 * contrib/fetchers/blazy-fetch-dir, test/fetchers/exits-mid-answer and small sh helpers. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fetch/execproto.h"
#include "fetch/fetch.h"
#include "fetch/source.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/strbuf.h"

#define NCHUNKS 8
#define MAXIMG (BLZ_CHUNK_HEADER_LEN + 2 * BLZ_STORE_MAX_CHUNK)

struct fixture {
	char dir[64];		/* the temporary directory */
	char store[96];		/* dir/store: a store holding chunks[] */
	uint8_t digest[NCHUNKS][BLZ_STORE_DIGEST_LEN];
	uint8_t *data[NCHUNKS];
	size_t len[NCHUNKS];
};

static const char *src_root(void)
{
	const char *s = getenv("BLAZY_SRC");
	assert_non_null(s); /* set by test/unit/meson.build */
	return s;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = blz_xcalloc(1, sizeof(*f));
	struct blz_store *s;
	strcpy(f->dir, "/tmp/blz-test-exec-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	if (blz_store_open(f->store, BLZ_STORE_CREATE, &s) < 0)
		return -1;
	for (unsigned i = 0; i < NCHUNKS; i++) {
		f->len[i] = 1000 + i * 70000;	/* up to half a MiB: several socket buffers */
		f->data[i] = blz_xmalloc(f->len[i]);
		uint64_t x = i + 1;
		for (size_t k = 0; k < f->len[i]; k++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			f->data[i][k] = (uint8_t)(x >> (i % 2 ? 60 : 33)); /* some compress */
		}
		if (blz_store_put(s, f->data[i], f->len[i], f->digest[i]) < 0)
			return -1;
	}
	blz_store_close(s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (unsigned i = 0; i < NCHUNKS; i++)
		free(f->data[i]);
	free(f);
	return 0;
}

/* No child of this process is left, running or as a zombie. */
static void assert_no_children(void)
{
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static struct blz_source *open_exec(const char *cmd, unsigned inflight)
{
	struct blz_source *s = NULL;
	char err[256];
	struct blz_source_opts o = { .max_inflight = inflight };
	assert_int_equal(blz_source_exec_open(cmd, &o, &s, err, sizeof(err)), 0);
	assert_int_equal(s->kind, BLZ_SOURCE_EXEC);
	assert_int_equal(strncmp(s->name, "exec:", 5), 0);
	return s;
}

/* Writes an executable sh script dir/name with body; returns its path in out. */
static void script(struct fixture *f, const char *name, const char *body, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", f->dir, name);
	FILE *fp = fopen(out, "w");
	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\n%s", body);
	fclose(fp);
	chmod(out, 0755);
}

/* Gets chunk i and checks that it decodes to its bytes. Returns the get's result. */
static int get_check(struct fixture *f, struct blz_source *s, unsigned i, uint32_t timeout_ms,
		     struct blz_source_err *err)
{
	struct blz_buf out = { 0 };
	int r = s->ops->get(s, f->digest[i], MAXIMG, blz_now_ms() + timeout_ms, &out, err);
	if (r == 0) {
		uint8_t *buf = blz_xmalloc(f->len[i] + 1);
		assert_int_equal(blz_chunk_decode(out.data, out.len, f->digest[i], buf, f->len[i]), 0);
		assert_memory_equal(buf, f->data[i], f->len[i]);
		free(buf);
	} else {
		assert_int_equal(out.len, 0);
	}
	blz_buf_release(&out);
	return r;
}

static void test_fetch_dir(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX * 2];
	struct blz_source_err err;
	snprintf(cmd, sizeof(cmd), "'%s/contrib/fetchers/blazy-fetch-dir' '%s'", src_root(),
		 f->store);
	struct blz_source *s = open_exec(cmd, 0);
	assert_int_equal(s->max_inflight, 4);
	for (unsigned i = 0; i < NCHUNKS; i++)
		assert_int_equal(get_check(f, s, i, 10000, &err), 0);
	uint8_t other[BLZ_STORE_DIGEST_LEN] = { 1, 2, 3 };
	struct blz_buf out = { 0 };
	assert_int_equal(s->ops->get(s, other, MAXIMG, blz_now_ms() + 10000, &out, &err), -ENOENT);
	assert_int_equal(out.len, 0);
	/* a chunk larger than the caller allows */
	assert_int_equal(s->ops->get(s, f->digest[7], 100, blz_now_ms() + 10000, &out, &err),
			 -EFBIG);
	assert_int_equal(get_check(f, s, 1, 10000, &err), 0); /* and the next one works */
	s->ops->close(s);
	assert_no_children();

	char e[128];
	struct blz_source *none = NULL;
	assert_int_equal(blz_source_exec_open("  ", NULL, &none, e, sizeof(e)), -EINVAL);
	assert_null(none);
}

struct worker {
	struct fixture *f;
	struct blz_source *s;
	unsigned id, ok;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct blz_source_err err;
	for (unsigned k = 0; k < 24; k++)
		if (get_check(w->f, w->s, (w->id + k) % NCHUNKS, 20000, &err) == 0)
			w->ok++;
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX * 2], starts[PATH_MAX];
	/* counts its starts, then is blazy-fetch-dir */
	snprintf(starts, sizeof(starts), "%s/starts", f->dir);
	snprintf(cmd, sizeof(cmd), "echo x >>'%s'; exec '%s/contrib/fetchers/blazy-fetch-dir' '%s'",
		 starts, src_root(), f->store);
	struct blz_source *s = open_exec(cmd, 3);
	pthread_t th[6];
	struct worker w[6];
	for (unsigned i = 0; i < 6; i++) {
		w[i] = (struct worker){ .f = f, .s = s, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
	}
	for (unsigned i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].ok, 24);
	}
	s->ops->close(s);
	assert_no_children();
	struct stat st;
	assert_int_equal(stat(starts, &st), 0);
	assert_true(st.st_size >= 2 && st.st_size <= 3 * 2); /* "x\n" per start: 1..3 helpers */
}

static void test_exits_mid_answer(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX * 2];
	struct blz_source_err err;
	snprintf(cmd, sizeof(cmd), "'%s/test/fetchers/exits-mid-answer' '%s' 2", src_root(),
		 f->store);
	struct blz_source *s = open_exec(cmd, 1);
	/* every second request of each life dies half-way: no read fails */
	for (unsigned k = 0; k < 3 * NCHUNKS; k++)
		assert_int_equal(get_check(f, s, (k * 3 + 1) % NCHUNKS, 10000, &err), 0);
	s->ops->close(s);
	assert_no_children();
}

/* Whether pid runs (neither gone nor a zombie waiting for its new parent to reap it). */
static bool alive(pid_t pid)
{
	char path[64], stat[512] = "";
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return false;
	bool ok = fgets(stat, sizeof(stat), fp) != NULL;
	fclose(fp);
	char *paren = strrchr(stat, ')');
	return ok && paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

/* Through the engine, with the persistent cache: every read answered, none failed, although
 * the fetcher dies half-way through every second answer; the second round comes from the cache
 * (the fetcher is not asked again). */
static void test_engine(void **state)
{
	struct fixture *f = *state;
	char spec[PATH_MAX * 2], cache[PATH_MAX];
	snprintf(spec, sizeof(spec), "exec:'%s/test/fetchers/exits-mid-answer' '%s' 2", src_root(),
		 f->store);
	snprintf(cache, sizeof(cache), "%s/cache", f->dir);
	const char *stores[] = { spec };
	struct blz_fetch_opts o = { .stores = stores, .n_stores = 1, .cache_dir = cache,
				    .timeout_ms = 20000, .retries = ~0u };
	struct blz_fetcher *fe;
	char err[256];
	assert_int_equal(blz_fetch_open(&o, &fe, err, sizeof(err)), 0);
	assert_true(blz_fetch_has_remote(fe));
	for (unsigned round = 0; round < 2; round++)
		for (unsigned i = 0; i < NCHUNKS; i++) {
			uint8_t *buf = blz_xmalloc(f->len[i]);
			assert_int_equal(blz_fetch_get(fe, f->digest[i], buf, f->len[i],
						       BLZ_FETCH_DEMAND), 0);
			assert_memory_equal(buf, f->data[i], f->len[i]);
			free(buf);
		}
	struct blz_fetch_stats st;
	blz_fetch_get_stats(fe, &st);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.source[0].fetches, NCHUNKS);
	assert_int_equal(st.source[0].errors, 0);
	assert_int_equal(st.cache_hits, NCHUNKS);
	blz_fetch_close(fe);
	assert_no_children();
}

static void test_stall(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], pidfile[PATH_MAX];
	struct blz_source_err err;
	snprintf(pidfile, sizeof(pidfile), "%s/sleeper", f->dir);
	char body[PATH_MAX + 200];
	/* answers the handshake, then hangs in a child (which the kill must reach too) */
	snprintf(body, sizeof(body),
		 "read -r h; echo 'blazy-fetch 1'; read -r req; sleep 30 & echo $! >'%s'; wait\n",
		 pidfile);
	script(f, "stall", body, path);
	struct blz_source *s = open_exec(path, 1);
	uint64_t t0 = blz_now_ms();
	assert_int_equal(get_check(f, s, 0, 400, &err), -ETIMEDOUT);
	uint64_t took = blz_now_ms() - t0;
	assert_true(took >= 390 && took < 2000);
	assert_non_null(strstr(err.reason, "deadline"));
	assert_no_children();	/* killed and reaped at once, not at close */
	/* the sleep of its process group is gone too */
	char buf[32] = "";
	FILE *fp = fopen(pidfile, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	pid_t sleeper = atoi(buf);
	assert_true(sleeper > 0);
	for (int i = 0; i < 100 && alive(sleeper); i++)
		blz_sleep_ms(10); /* SIGKILL is delivered */
	assert_false(alive(sleeper));
	s->ops->close(s);
}

static void test_answers(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct blz_source_err err;
	/* one helper whose answers are, in turn: each kind of error, garbage */
	script(f, "answers",
	       "read -r h; echo 'blazy-fetch 1'\n"
	       "read -r r; echo 'error transient throttled'\n"
	       "read -r r; echo 'error permanent access denied'\n"
	       "read -r r; echo 'ok 12x'\n"
	       "read -r r; sleep 5\n",
	       path);
	struct blz_source *s = open_exec(path, 1);
	assert_int_equal(get_check(f, s, 0, 5000, &err), -EAGAIN);
	assert_string_equal(err.reason, "the fetcher: throttled");
	assert_int_equal(get_check(f, s, 0, 5000, &err), -EREMOTEIO);
	assert_string_equal(err.reason, "the fetcher: access denied");
	assert_int_equal(get_check(f, s, 0, 5000, &err), -EIO);
	assert_non_null(strstr(err.reason, "garbage"));
	assert_no_children();
	s->ops->close(s);

	/* more bytes than announced */
	script(f, "toomuch", "read -r h; echo 'blazy-fetch 1'; read -r r; printf 'ok 2\\nabc'; sleep 5\n",
	       path);
	s = open_exec(path, 1);
	assert_int_equal(get_check(f, s, 0, 5000, &err), -EIO);
	s->ops->close(s);

	/* another version */
	script(f, "v2", "read -r h; echo 'blazy-fetch 2'; sleep 5\n", path);
	s = open_exec(path, 1);
	assert_int_equal(get_check(f, s, 0, 5000, &err), -EIO);
	assert_non_null(strstr(err.reason, "version"));
	s->ops->close(s);
	assert_no_children();
}

/* The fetcher gets its stdin, stdout and stderr, and none of blazy's other descriptors. */
static void test_descriptors(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX * 2], fds[PATH_MAX], buf[64] = "";
	struct blz_source_err err;
	snprintf(fds, sizeof(fds), "%s/fds", f->dir);
	snprintf(cmd, sizeof(cmd), "read -r h; echo 'blazy-fetch 1'; read -r r; ls /proc/$$/fd >'%s'; "
		 "echo missing; sleep 5", fds);
	int leak = fcntl(2, F_DUPFD, 20); /* without O_CLOEXEC */
	assert_true(leak >= 20);
	struct blz_source *s = open_exec(cmd, 1);
	assert_int_equal(get_check(f, s, 0, 5000, &err), -ENOENT);
	FILE *fp = fopen(fds, "r");
	assert_non_null(fp);
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = 0;
	/* 0, 1 and 2, and none of ours (the shell may hold one of its own, at 10 and up) */
	assert_int_equal(strncmp(buf, "0\n1\n", 4), 0);
	assert_non_null(strstr(buf, "\n2\n"));
	char mine[16];
	snprintf(mine, sizeof(mine), "\n%d\n", leak);
	assert_null(strstr(buf, mine));
	for (char *l = buf; *l; l = strchr(l, '\n') + 1) {
		int fd = atoi(l);
		assert_true(fd <= 2 || (fd >= 10 && fd < 20));
	}
	s->ops->close(s);
	close(leak);
	assert_no_children();
}

static void test_restart_backoff(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], starts[PATH_MAX], body[PATH_MAX + 64];
	struct blz_source_err err;
	snprintf(starts, sizeof(starts), "%s/starts", f->dir);
	snprintf(body, sizeof(body), "echo x >>'%s'; exit 1\n", starts);
	script(f, "dies", body, path);
	struct blz_source *s = open_exec(path, 1);
	uint64_t t0 = blz_now_ms();
	for (unsigned k = 0; k < 20; k++) {
		uint64_t t = blz_now_ms();
		int r = get_check(f, s, 0, 150, &err);
		if (r != -EIO && r != -EAGAIN && r != -ETIMEDOUT)
			print_error("get: %d (%s)\n", r, err.reason);
		assert_true(r == -EIO || r == -EAGAIN || r == -ETIMEDOUT);
		assert_true(blz_now_ms() - t < 150 + 500); /* spawn and scheduling on a busy host */
	}
	/* a helper that always dies is not restarted in a tight loop */
	uint64_t took = blz_now_ms() - t0;
	struct stat st;
	assert_int_equal(stat(starts, &st), 0);
	assert_true(st.st_size / 2 >= 1);
	assert_true((uint64_t)st.st_size / 2 <= 2 + took / 50);
	assert_true(st.st_size / 2 < 20);
	assert_no_children();
	s->ops->close(s);
}

/* Decodes text as one answer, fed in pieces of step bytes (0: all at once): the decoder's
 * return, the bytes it took in *used, the body in out. */
static int decode(const char *text, size_t len, bool handshake, size_t max_len, size_t step,
		  struct blz_xproto *p, struct blz_buf *out, size_t *used)
{
	blz_xproto_begin(p, handshake, max_len);
	size_t off = 0;
	int r = 0;
	while (r == 0 && off < len) {
		size_t n = step && len - off > step ? step : len - off, k = 0;
		r = blz_xproto_feed(p, (const uint8_t *)text + off, n, &k, out);
		assert_true(k <= n);
		assert_true(r != 0 || k == n);
		off += k;
	}
	*used = off;
	return r;
}

/* The answers' decoder (execproto.h), without a process: every answer, in pieces of any
 * size, and what is not the protocol. */
static void test_decoder(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		bool handshake;
		int ret, result;
		size_t used;
		const char *body, *reason;
	} cases[] = {
		{ "blazy-fetch 1\nextra", true, 1, 0, 14, "", "" },
		{ "blazy-fetch 2\n", true, -EPROTO, 0, 14, "", "version" },
		{ "ok 5\nhello!", false, 1, 0, 10, "hello", "" },
		{ "ok 0\n", false, 1, 0, 5, "", "" },
		{ "missing\n", false, 1, -ENOENT, 8, "", "missing" },
		{ "error transient slow down\n", false, 1, -EAGAIN, 26, "", "the fetcher: slow down" },
		{ "error permanent\n", false, 1, -EREMOTEIO, 16, "", "permanent error" },
		{ "error permanently\n", false, -EPROTO, 0, 18, "", "garbage" },
		{ "ok 12x\n", false, -EPROTO, 0, 7, "", "garbage" },
		{ "ok \n", false, -EPROTO, 0, 4, "", "garbage" },
		{ "ok 99999999999999999999999\n", false, -EPROTO, 0, 27, "", "garbage" },
		{ "ok 1000001\n", false, -EFBIG, 0, 11, "", "offered 1000001 bytes" },
		{ "miss\0ing\n", false, -EPROTO, 0, 5, "", "garbage" },
		{ "ok 3\nab", false, 0, 0, 7, "ab", "" },
		{ "missi", false, 0, 0, 5, "", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t step = 0; step < 4; step++) {
			struct blz_xproto p;
			struct blz_buf out = { 0 };
			size_t used, len = strlen(cases[i].text);
			if (i == 12)
				len = 10; /* the NUL case */
			int r = decode(cases[i].text, len, cases[i].handshake, 1000000, step, &p, &out,
				       &used);
			if (r != cases[i].ret || used != cases[i].used)
				fail_msg("case %zu step %zu: %d after %zu bytes", i, step, r, used);
			if (r == 1)
				assert_int_equal(p.result, cases[i].result);
			assert_int_equal(out.len, strlen(cases[i].body));
			assert_memory_equal(out.data ? out.data : (uint8_t *)"", cases[i].body, out.len);
			assert_non_null(strstr(p.reason, cases[i].reason));
			assert_int_equal(blz_xproto_in_body(&p), i == 13);
			blz_buf_release(&out);
		}
	/* a line of 511 bytes is one, 512 are not the protocol */
	char line[600];
	memset(line, 'x', sizeof(line));
	struct blz_xproto p;
	size_t used;
	line[511] = '\n';
	assert_int_equal(decode(line, 512, false, 10, 1, &p, NULL, &used), -EPROTO);
	assert_int_equal(used, 512);
	assert_non_null(strstr(p.reason, "garbage"));
	line[511] = 'x';
	assert_int_equal(decode(line, sizeof(line), false, 10, 0, &p, NULL, &used), -EPROTO);
	assert_int_equal(used, 512);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoder),
		cmocka_unit_test_setup_teardown(test_fetch_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exits_mid_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_backoff, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
