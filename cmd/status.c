/* blazy status: a served device's counters and what was fetched, from its server's control
 * socket; for a blazy mount point, the fetched ranges resolved to files (orch/fetched.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "cmd.h"
#include "lazy/fetches.h"
#include "orch/fetched.h"
#include "orch/orchestrate.h"
#include "server/client.h"
#include "server/registry.h"
#include "util/json.h"
#include "ublk/ublk.h"
#include "util/fileio.h"
#include "util/size.h"

#define DEFAULT_TOP 20

static const char *sz(uint64_t v, char *buf)
{
	return blz_format_size(v, buf, 32);
}

struct trace_result {
	const char *path;
	size_t written, skipped, unnamed;
};

/* Writes the names of the files read to path, atomically. 0 or 1 (reported). */
static int write_trace(const struct blz_fetched *f, struct trace_result *t)
{
	struct blz_buf b = { 0 };
	blz_fetched_trace(f, &b, &t->written, &t->skipped, &t->unnamed);
	int r = blz_write_file_atomic(t->path, b.data ? (const void *)b.data : "", b.len);
	blz_buf_release(&b);
	if (r < 0)
		return blz_die("cannot write the trace '%s': %s", t->path, strerror(-r));
	if (t->skipped)
		blz_warn("%zu file name%s holding a newline cannot be listed one per line: left out "
			 "of '%s'", t->skipped, t->skipped == 1 ? "" : "s", t->path);
	if (t->unnamed)
		blz_warn("%zu file%s read without a name under the mount point (another subvolume, "
			 "or deleted): left out of '%s'", t->unnamed, t->unnamed == 1 ? "" : "s",
			 t->path);
	return 0;
}

/* A histogram's non-empty buckets of powers of two, as "4 KiB: N, 8 KiB: M". */
static void print_hist(const char *title, const uint64_t *h, size_t n)
{
	char b[32];
	printf("%-15s", title);
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		if (!h[i])
			continue;
		printf("%s%s%s: %" PRIu64, any ? ", " : "", i == 64 ? "offset 0" : "",
		       i == 64 ? "" : sz((uint64_t)1 << i, b), h[i]);
		any = true;
	}
	printf("%s\n", any ? "" : "none");
}

static const char *ns_str(uint64_t ns, char *buf)
{
	if (ns >= 1000000)
		snprintf(buf, 32, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, 32, "%.1f us", (double)ns / 1e3);
	return buf;
}

/* The requests' statistics (lib/backend/reqlog.h), as text. */
static void print_requests(const struct blz_server_reqstatus *r)
{
	char b[4][32];
	print_hist("read sizes:", r->size_hist, BLZ_REQ_SIZE_N);
	print_hist("alignments:", r->align_hist, BLZ_REQ_ALIGN_N);
	printf("area bytes:    ");
	for (unsigned a = 0; a < BLZ_AREA_N; a++)
		printf("%s%s %s", a ? ", " : "", a ? blz_area_name(a) : "none",
		       sz(r->area_bytes[a], b[0]));
	printf("\n");
	for (unsigned o = 0; o < BLZ_OUT_N; o++) {
		const struct blz_server_latency *l = &r->latency[o];
		if (l->count)
			printf("latency %-7s%" PRIu64 " requests: p50 %s, p90 %s, p99 %s, max %s\n",
			       blz_outcome_name(o), l->count, ns_str(l->p50_ns, b[0]),
			       ns_str(l->p90_ns, b[1]), ns_str(l->p99_ns, b[2]),
			       ns_str(l->max_ns, b[3]));
	}
	printf("request log:   %s, %" PRIu64 " lines, %" PRIu64 " dropped\n",
	       r->log_active ? "on" : "off", r->log_lines, r->log_dropped);
}

/* The server's counters, as text. */
static void print_counters(const struct blz_server_status *s)
{
	char b[8][32];
	printf("device:        %s (server pid %" PRIu64 ")\n", s->device, s->pid);
	printf("server:        %s, supervisor %" PRIu64 ", %" PRIu64 " restarts%s%s\n", s->state,
	       s->supervisor, s->restarts, s->last_cause[0] ? "; last: " : "", s->last_cause);
	if (s->io_commands[0])
		printf("ublk I/O:      %s commands\n", s->io_commands);
	printf("seed:          %s\n", s->seed[0] ? s->seed : "none (a test backend)");
	printf("reads:         %" PRIu64 " requests, %s\n", s->reads, sz(s->read_bytes, b[0]));
	if (s->seed[0]) { /* where a seed's reads went: a test backend has none of these */
		printf("  from image:  %s\n", sz(s->local_bytes, b[1]));
		printf("  lazy:        %s (mapped ranges)\n", sz(s->lazy_bytes, b[2]));
		printf("  zeros:       %s\n", sz(s->zero_bytes, b[3]));
	}
	printf("zero copy:     %s, %" PRIu64 " reads\n", s->zero_copy ? "on" : "off",
	       s->zero_copy_reads);
	if (s->seed[0]) {
		printf("failed reads:  %" PRIu64 " unmapped, %" PRIu64 " errors, %" PRIu64
		       " bad chunks\n", s->unmapped, s->errors, s->bad_chunks);
		printf("store:         %" PRIu64 " chunk reads (%s), %" PRIu64 " cache hits\n",
		       s->store_reads, sz(s->store_bytes, b[4]), s->cache_hits);
		printf("map:           %" PRIu64 " records, %s mapped; %s of lazy data fetched so "
		       "far\n", s->map_records, sz(s->mapped_bytes, b[5]), sz(s->store_bytes, b[6]));
	} else {
		printf("failed reads:  %" PRIu64 " errors\n", s->errors);
	}
	for (size_t i = 0; i < s->nqueues; i++)
		printf("queue %zu:       %" PRIu64 " reads, %s\n", i, s->queues[i].reads,
		       sz(s->queues[i].read_bytes, b[7]));
	for (size_t i = 0; i < s->nstores; i++) {
		const struct blz_server_store_status *t = &s->stores[i];
		printf("store %zu:       %s\n", i, t->name);
		printf("  fetches:     %" PRIu64 " (%s), %" PRIu64 " retries, %" PRIu64 " errors, %"
		       PRIu64 " bad, %" PRIu64 " in flight, p50 %.1f ms, p99 %.1f ms\n", t->fetches,
		       sz(t->bytes, b[0]), t->retries, t->errors, t->bad, t->inflight,
		       t->p50_us / 1000.0, t->p99_us / 1000.0);
	}
	if (s->nstores)
		printf("disk cache:    %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " chunks (%s), %"
		       PRIu64 " evictions; %" PRIu64 " joined, %" PRIu64 " failed, %" PRIu64
		       " prefetched\n", s->disk_cache_hits, s->disk_cache_misses, s->disk_cache_entries,
		       sz(s->disk_cache_bytes, b[1]), s->disk_cache_evictions, s->fetch_joined,
		       s->fetch_failed, s->prefetched);
	print_requests(&s->requests);
}

/* What `blazy status` shows about one device or mount. */
struct view {
	bool json, is_mount, have_ranges, have_files;
	size_t top;
	uint32_t id;
	char mnt[4096], ferr[600];
	struct blz_orch_state ms;
	uint64_t backing_used;
	struct blz_server_status ss;
	struct blz_fetch_list fl;
	struct blz_fetched fd;
	struct trace_result trace;
};

/* Options and the argument into v: 0 or the misuse/failure status. */
static int parse_args(const struct blz_cmd *cmd, int argc, char **argv, struct view *v)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "trace", required_argument, NULL, 't' },
		{ "top", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c == 'j') {
			v->json = true;
		} else if (c == 't') {
			if (!*optarg)
				return blz_misuse(cmd, "--trace needs a file name");
			v->trace.path = optarg;
		} else if (c == 'n') {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' || optarg[0] > '9')
				return blz_misuse(cmd, "invalid --top '%s' (a count, 0 = all)", optarg);
			v->top = (size_t)n;
		} else {
			return blz_bad_option(cmd, c, argv);
		}
	}
	/* A blazy mount point: its device, plus what the mount adds (backing use, files). */
	struct stat st;
	int r = blz_target_arg(cmd, argc, argv, v->mnt, &v->ms, &v->id);
	if (r < 0)
		return -r;
	if (r == 1) {
		v->is_mount = true;
		if (stat(v->ms.backing, &st) == 0 && S_ISREG(st.st_mode))
			v->backing_used = (uint64_t)st.st_blocks * 512;
	}
	if (v->trace.path && !v->is_mount)
		return blz_misuse(cmd, "--trace needs a blazy MOUNTPOINT: the ranges of a bare "
				  "device cannot be resolved to file names");
	return 0;
}

/* What was fetched: per range from the server, per file from the filesystem. A failure
 * is kept in v->ferr (the status is still shown). */
static void gather_fetches(struct view *v)
{
	char err[512];
	if (blz_server_ask_fetches(v->id, &v->fl, v->ferr, sizeof(v->ferr)) < 0)
		return;
	v->have_ranges = true;
	if (!v->is_mount)
		return;
	int r = blz_fetched_resolve(v->mnt, &v->fl, &v->fd, err, sizeof(err));
	if (r == -EPERM)
		snprintf(v->ferr, sizeof(v->ferr), "resolving addresses to files needs root (%s)", err);
	else if (r < 0)
		snprintf(v->ferr, sizeof(v->ferr), "%s", err);
	else
		v->have_files = true;
}

static void print_json(const struct view *v)
{
	/* The server's object, with the mount's fields and the fetches added. */
	struct blz_buf b = { 0 };
	blz_buf_append(&b, "{", 1);
	blz_server_status_encode_members(&v->ss, &b);
	if (v->is_mount) {
		blz_buf_append(&b, ",\"mountpoint\":", 14);
		blz_json_append_str(&b, v->mnt);
		blz_buf_append(&b, ",\"backing\":", 11);
		blz_json_append_str(&b, v->ms.backing);
		char tmp[64];
		int n = snprintf(tmp, sizeof(tmp), ",\"backing_used_bytes\":%" PRIu64, v->backing_used);
		blz_buf_append(&b, tmp, (size_t)n);
	}
	if (v->have_files)
		blz_fetched_json(&v->fd, &b);
	else if (v->have_ranges && !v->is_mount)
		blz_fetch_list_json(&v->fl, &b);
	if (v->ferr[0]) {
		blz_buf_append(&b, ",\"fetches_error\":", 17);
		blz_json_append_str(&b, v->ferr);
	}
	fwrite(b.data, 1, b.len, stdout);
	blz_buf_release(&b);
	if (v->trace.path) {
		printf(",\"trace\":{\"path\":");
		blz_json_str(stdout, v->trace.path);
		printf(",\"written\":%zu,\"skipped_newline\":%zu,\"unnamed\":%zu}", v->trace.written,
		       v->trace.skipped, v->trace.unnamed);
	}
	printf("}\n");
}

static void print_text(const struct view *v)
{
	char b[32];
	if (v->is_mount) {
		printf("mount point:   %s\n", v->mnt);
		printf("backing:       %s (%s allocated)\n", v->ms.backing, sz(v->backing_used, b));
	}
	print_counters(&v->ss);
	struct blz_buf b2 = { 0 };
	if (v->have_files)
		blz_fetched_format(&v->fd, v->top, &b2);
	else if (v->have_ranges && !v->is_mount)
		blz_fetch_list_format(&v->fl, v->top, &b2);
	else
		printf("fetches:       unknown: %s\n", v->ferr);
	fwrite(b2.data ? (const void *)b2.data : "", 1, b2.len, stdout);
	blz_buf_release(&b2);
	if (v->trace.path)
		printf("trace:         %zu name%s written to %s\n", v->trace.written,
		       v->trace.written == 1 ? "" : "s", v->trace.path);
}

/* A device nobody serves, as the kernel has it: "" when it is served or unknown, else
 * what its I/O does meanwhile. */
static const char *unserved(uint32_t id, char *buf, size_t len)
{
	struct blz_ublk_ctrl *c;
	struct blz_ublk_status us;
	buf[0] = 0;
	if (blz_ublk_ctrl_open(&c) < 0)
		return buf;
	int r = blz_ublk_status(c, id, &us);
	blz_ublk_ctrl_close(c);
	if (r < 0 || blz_ublk_server_alive(&us))
		return buf;
	const char *io = us.state == BLZ_UBLK_S_DEV_FAIL_IO   ? "its I/O fails at once"
			 : us.state == BLZ_UBLK_S_DEV_QUIESCED ? "its I/O waits"
							       : NULL;
	if (io)
		snprintf(buf, len, "; /dev/ublkb%u has no server (state %s): %s until a server "
			 "takes it over (blazy serve --recover %u)", id,
			 blz_ublk_state_name(us.state), io, id);
	return buf;
}

int cmd_status(const struct blz_cmd *cmd, int argc, char **argv)
{
	static struct view v; /* large: off the stack */
	memset(&v, 0, sizeof(v));
	v.top = DEFAULT_TOP;
	int r = parse_args(cmd, argc, argv, &v);
	if (r)
		return r;
	char err[768];
	struct blz_super_state sup;
	if (blz_server_ask_status(v.id, &v.ss, err, sizeof(err)) < 0) {
		/* A device whose supervisor gave up: say why. */
		if (blz_reg_super_read(v.id, &sup) == 0 && !strcmp(sup.state, "failed"))
			return blz_die("/dev/ublkb%u failed: %s", v.id, sup.cause);
		char why[256];
		return blz_die("%s%s", err, unserved(v.id, why, sizeof(why)));
	}
	gather_fetches(&v);
	int rc = 0;
	if (v.trace.path && !v.have_files)
		rc = blz_die("cannot write the trace '%s': %s", v.trace.path, v.ferr);
	else if (v.trace.path && write_trace(&v.fd, &v.trace) != 0)
		rc = 1;
	else if (v.json)
		print_json(&v);
	else
		print_text(&v);
	blz_server_status_release(&v.ss);
	blz_fetch_list_release(&v.fl);
	blz_fetched_release(&v.fd);
	return rc;
}
