/* httpget: a test-only front-end to lib/http (never shipped; not a blazy command).
 *
 *   httpget [--ca FILE] [--auth-file FILE] [--timeout MS] [--max-body N] [--max-conns N]
 *           [--retries N] [--proxy URL] [--no-proxy LIST] [--env-proxy] [--no-redirects]
 *           [--threads N] [--out FILE] ITEM...
 *
 * One client for the whole run. Each ITEM is a URL to GET, or "--sh CMD" to run CMD with
 * sh -c between two requests (e.g. to rewrite the auth file). For each URL prints one line:
 *   rc=0|ENAME status=N bytes=N sha256=HEX reused=0|1 connects=N redirects=N
 *   retry_after=N|- retryable=0|1 attempts=N ms=N reason=TEXT
 * --retries N retries a retry-able failure up to N times (after the Retry-After the server
 * asked for, at most 1 s). --threads N runs every URL in N threads at once (the pool bound
 * shows in the connection count). --out FILE writes the last successful body.
 * Exit: 0 if every request succeeded, 1 otherwise, 2 misuse. */
#include "http/http.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/sha256.h"
#include "util/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct blz_http_client *client;
static int timeout_ms = 10000, retries;
static size_t max_body = 64 << 20;
static const char *out_file;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static int get_one(const char *url)
{
	struct blz_buf body = { 0 };
	struct blz_http_result res;
	int64_t t0 = (int64_t)blz_now_ms();
	int r, attempts = 0;
	for (;;) {
		attempts++;
		body.len = 0;
		r = blz_http_get(client, url, timeout_ms, max_body, &body, &res);
		if (r == 0 || !blz_http_retryable(r) || attempts > retries)
			break;
		uint32_t wait_ms = res.has_retry_after ? res.retry_after_s * 1000 : 50;
		usleep((wait_ms > 1000 ? 1000 : wait_ms) * 1000);
	}
	uint8_t d[BLZ_SHA256_LEN];
	char hex[BLZ_SHA256_HEX_LEN + 1], ra[16] = "-";
	blz_sha256(body.data, body.len, d);
	blz_hex(d, sizeof(d), hex);
	if (res.has_retry_after)
		snprintf(ra, sizeof(ra), "%u", res.retry_after_s);
	pthread_mutex_lock(&out_lock);
	printf("rc=%s status=%d bytes=%zu sha256=%s reused=%d connects=%u redirects=%u "
	       "retry_after=%s retryable=%d attempts=%d ms=%lld reason=%s\n",
	       r ? strerrorname_np(-r) : "0", res.status, body.len, hex, res.reused, res.connects,
	       res.redirects, ra, r ? blz_http_retryable(r) : 0, attempts,
	       (long long)((int64_t)blz_now_ms() - t0), r ? res.reason : "");
	fflush(stdout);
	if (r == 0 && out_file) {
		int w = blz_write_file_atomic(out_file, body.data, body.len);
		if (w < 0)
			fprintf(stderr, "httpget: error: cannot write '%s': %s\n", out_file, strerror(-w));
	}
	pthread_mutex_unlock(&out_lock);
	blz_buf_release(&body);
	return r;
}

struct job {
	char **urls;
	int n, failed;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	for (int i = 0; i < j->n; i++)
		if (get_one(j->urls[i]) < 0)
			j->failed = 1;
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: httpget [--ca FILE] [--auth-file FILE] [--timeout MS] [--max-body N] "
			"[--max-conns N] [--retries N] [--proxy URL] [--no-proxy LIST] [--env-proxy] "
			"[--no-redirects] [--threads N] [--out FILE] (URL | --sh CMD)...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct blz_http_opts o = { 0 };
	int threads = 0, i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2) && strcmp(argv[i], "--sh"); i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--env-proxy")) {
			o.env_proxy = true;
			continue;
		}
		if (!strcmp(a, "--no-redirects")) {
			o.no_redirects = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--ca"))
			o.ca_file = v;
		else if (!strcmp(a, "--auth-file"))
			o.auth_file = v;
		else if (!strcmp(a, "--timeout"))
			timeout_ms = atoi(v);
		else if (!strcmp(a, "--max-body"))
			max_body = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--max-conns"))
			o.max_conns = (unsigned)atoi(v);
		else if (!strcmp(a, "--retries"))
			retries = atoi(v);
		else if (!strcmp(a, "--proxy"))
			o.http_proxy = o.https_proxy = v;
		else if (!strcmp(a, "--no-proxy"))
			o.no_proxy = v;
		else if (!strcmp(a, "--threads"))
			threads = atoi(v);
		else if (!strcmp(a, "--out"))
			out_file = v;
		else
			usage();
	}
	if (i == argc)
		usage();
	char err[256] = "";
	int r = blz_http_client_new(&o, &client, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "httpget: error: %s\n", err);
		return 1;
	}
	int failed = 0;
	if (threads > 0) {
		pthread_t t[64];
		struct job j[64];
		threads = threads > 64 ? 64 : threads;
		for (int k = 0; k < threads; k++) {
			j[k] = (struct job){ .urls = argv + i, .n = argc - i };
			pthread_create(&t[k], NULL, run_job, &j[k]);
		}
		for (int k = 0; k < threads; k++) {
			pthread_join(t[k], NULL);
			failed |= j[k].failed;
		}
	} else {
		for (; i < argc; i++) {
			if (!strcmp(argv[i], "--sh")) {
				if (++i == argc)
					usage();
				if (system(argv[i]) != 0) {
					fprintf(stderr, "httpget: error: '%s' failed\n", argv[i]);
					failed = 1;
				}
				continue;
			}
			if (get_one(argv[i]) < 0)
				failed = 1;
		}
	}
	blz_http_client_free(client);
	return failed;
}
