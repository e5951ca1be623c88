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
#include "server/control.h"
#include "ublk/ublk.h"
#include "util/fileio.h"
#include "util/size.h"

#define DEFAULT_TOP 20

/* Exact integer field of the server's JSON. */
static unsigned long long field(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(json, pat);
	return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/* A name for a terminal: control bytes escaped (\n, \t, \xHH). */
static void put_name(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p == '\t')
			fputs("\\t", stdout);
		else if (*p == '\\')
			fputs("\\\\", stdout);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

static const char *sz(uint64_t v, char *buf)
{
	return blz_format_size(v, buf, 32);
}

/* The per-file section of a mount's text output. */
static void print_files(const struct blz_fetched *f, size_t top)
{
	char b[5][32];
	uint64_t lazy = 0, local = 0;
	for (size_t i = 0; i < f->nfiles; i++) {
		lazy += f->files[i].lazy_bytes;
		local += f->files[i].bytes - f->files[i].lazy_bytes;
	}
	printf("files read:    %zu (%s of their data read: %s served from the lazy areas, %s from "
	       "the image)\n", f->nfiles, sz(f->touched - f->outside, b[0]), sz(lazy, b[1]),
	       sz(local, b[2]));
	printf("               %s read outside any file, %s of metadata\n", sz(f->outside, b[3]),
	       sz(f->not_data, b[4]));
	if (f->refs_missed)
		printf("               incomplete: %" PRIu64 " references to read extents did not fit "
		       "the kernel's answer\n", f->refs_missed);
	if (!f->nfiles)
		return;
	printf("  %10s %10s %7s %6s  %s\n", "LAZY", "LOCAL", "READS", "CHUNKS", "FILE");
	size_t n = top && top < f->nfiles ? top : f->nfiles;
	for (size_t i = 0; i < n; i++) {
		const struct blz_fetched_file *x = &f->files[i];
		printf("  %10s %10s %7" PRIu64 " %6" PRIu64 "  ", sz(x->lazy_bytes, b[0]),
		       sz(x->bytes - x->lazy_bytes, b[1]), x->reads, x->store);
		if (x->npaths) {
			put_name(x->paths[0]);
			if (x->npaths + x->paths_missed > 1)
				printf(" (+%" PRIu64 " more names)", x->npaths + x->paths_missed - 1);
		} else {
			printf("<inode %" PRIu64 " of subvolume %" PRIu64 ", no name here>", x->ino, x->root);
		}
		putchar('\n');
	}
	if (n < f->nfiles)
		printf("  (the first %zu of %zu by bytes fetched; --json or --top 0 lists all)\n", n,
		       f->nfiles);
}

static int range_by_bytes(const void *a, const void *b)
{
	const struct blz_fetch_range *x = *(const struct blz_fetch_range *const *)a;
	const struct blz_fetch_range *y = *(const struct blz_fetch_range *const *)b;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

static uint64_t touched(const struct blz_fetch_list *l, const struct blz_fetch_range *r)
{
	uint64_t t = 0;
	for (size_t k = 0; k < r->nr_spans; k++)
		t += l->spans.v[r->first_span + k].len;
	return t;
}

/* The per-range section of a bare device's text output. */
static void print_ranges(const struct blz_fetch_list *l, size_t top)
{
	char b[3][32];
	size_t lazy = 0;
	for (size_t i = 0; i < l->ranges.len; i++)
		lazy += l->ranges.v[i].area != BLZ_FETCH_LOCAL;
	printf("ranges read:   %zu (%zu map records, %zu local 1 MiB regions)\n", l->ranges.len, lazy,
	       l->ranges.len - lazy);
	if (l->untracked)
		printf("               %" PRIu64 " reads past the fetch table's capacity not shown\n",
		       l->untracked);
	if (!l->ranges.len)
		return;
	const struct blz_fetch_range **v = blz_xmalloc(l->ranges.len * sizeof(*v));
	for (size_t i = 0; i < l->ranges.len; i++)
		v[i] = &l->ranges.v[i];
	qsort(v, l->ranges.len, sizeof(*v), range_by_bytes);
	printf("  %-7s %20s %10s %7s %10s %6s %10s\n", "AREA", "OFFSET", "LENGTH", "READS", "BYTES",
	       "CHUNKS", "TOUCHED");
	size_t n = top && top < l->ranges.len ? top : l->ranges.len;
	for (size_t i = 0; i < n; i++)
		printf("  %-7s %20" PRIu64 " %10s %7" PRIu64 " %10s %6" PRIu64 " %10s\n",
		       blz_fetch_area_name(v[i]->area), v[i]->off, sz(v[i]->len, b[0]), v[i]->reads,
		       sz(v[i]->bytes, b[1]), v[i]->store, sz(touched(l, v[i]), b[2]));
	if (n < l->ranges.len)
		printf("  (the first %zu of %zu by bytes; --json or --top 0 lists all)\n", n,
		       l->ranges.len);
	free(v);
}

static void json_files(const struct blz_fetched *f)
{
	printf(",\"files\":[");
	for (size_t i = 0; i < f->nfiles; i++) {
		const struct blz_fetched_file *x = &f->files[i];
		printf("%s{\"paths\":[", i ? "," : "");
		for (size_t k = 0; k < x->npaths; k++) {
			if (k)
				putchar(',');
			blz_json_str(stdout, x->paths[k]);
		}
		printf("],\"paths_missed\":%" PRIu64 ",\"subvolume\":%" PRIu64 ",\"inode\":%" PRIu64
		       ",\"reads\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"lazy_bytes\":%" PRIu64
		       ",\"store_fetches\":%" PRIu64 ",\"touched_bytes\":%" PRIu64 "}",
		       x->paths_missed, x->root, x->ino, x->reads, x->bytes, x->lazy_bytes, x->store,
		       x->touched);
	}
	printf("],\"fetch_touched_bytes\":%" PRIu64 ",\"fetch_outside_bytes\":%" PRIu64
	       ",\"fetch_metadata_bytes\":%" PRIu64 ",\"fetch_refs_missed\":%" PRIu64,
	       f->touched, f->outside, f->not_data, f->refs_missed);
}

static void json_ranges(const struct blz_fetch_list *l)
{
	printf(",\"ranges\":[");
	for (size_t i = 0; i < l->ranges.len; i++) {
		const struct blz_fetch_range *r = &l->ranges.v[i];
		printf("%s{\"area\":\"%s\",\"offset\":%" PRIu64 ",\"length\":%" PRIu64
		       ",\"reads\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"store_fetches\":%" PRIu64
		       ",\"touched\":[", i ? "," : "", blz_fetch_area_name(r->area), r->off, r->len,
		       r->reads, r->bytes, r->store);
		for (size_t k = 0; k < r->nr_spans; k++) {
			const struct blz_fetch_span *s = &l->spans.v[r->first_span + k];
			printf("%s[%" PRIu64 ",%" PRIu64 "]", k ? "," : "", s->off, s->len);
		}
		printf("]}");
	}
	printf("],\"fetch_untracked\":%" PRIu64, l->untracked);
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

int cmd_status(const struct blz_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "trace", required_argument, NULL, 't' },
		{ "top", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	struct trace_result trace = { 0 };
	size_t top = DEFAULT_TOP;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 't') {
			if (!*optarg)
				return blz_misuse(cmd, "--trace needs a file name");
			trace.path = optarg;
		} else if (c == 'n') {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] < '0' || optarg[0] > '9')
				return blz_misuse(cmd, "invalid --top '%s' (a count, 0 = all)", optarg);
			top = (size_t)v;
		} else if (c == ':') {
			return blz_misuse(cmd, "option '%s' needs a value", argv[optind - 1]);
		} else {
			return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	uint32_t id;
	/* A blazy mount point: its device, plus what the mount adds (backing use, files). */
	struct blz_orch_state ms;
	bool is_mount = false;
	char mnt[4096], err[512];
	struct stat st;
	if (stat(argv[optind], &st) == 0 && S_ISDIR(st.st_mode)) {
		if (!realpath(argv[optind], mnt) ||
		    blz_orch_state_read(NULL, mnt, &ms, err, sizeof(err)) < 0 || !ms.mounted)
			return blz_die("'%s' is not a blazy mount point", argv[optind]);
		if (blz_ublk_parse_dev(ms.ublk, &id) < 0)
			return blz_die("the state of '%s' names no device", mnt);
		is_mount = true;
	} else if (blz_ublk_parse_dev(argv[optind], &id) < 0) {
		return blz_misuse(cmd, "'%s' is neither a ublk device (/dev/ublkbN, ublkbN or N) "
				  "nor a blazy mount point", argv[optind]);
	}
	if (trace.path && !is_mount)
		return blz_misuse(cmd, "--trace needs a blazy MOUNTPOINT: the ranges of a bare "
				  "device cannot be resolved to file names");
	char sock[128], *reply = NULL, *fetches = NULL;
	blz_reg_sock_path(id, sock, sizeof(sock));
	r = blz_ctl_request(sock, "status", &reply, 5000);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return blz_die("no blazy seed server for /dev/ublkb%u (see 'blazy list')", id);
	if (r == -EREMOTEIO) {
		blz_die("the server of /dev/ublkb%u refused: %s", id, reply);
		free(reply);
		return 1;
	}
	if (r < 0)
		return blz_die("cannot reach the server of /dev/ublkb%u: %s", id, strerror(-r));

	/* What was fetched: per range from the server, per file from the filesystem. */
	struct blz_fetch_list fl = { 0 };
	struct blz_fetched fd = { 0 };
	char ferr[600] = "";
	bool have_ranges = false, have_files = false;
	r = blz_ctl_request(sock, "fetches", &fetches, 30000);
	if (r == -EREMOTEIO)
		snprintf(ferr, sizeof(ferr), "the server does not count fetches: %s", fetches);
	else if (r < 0)
		snprintf(ferr, sizeof(ferr), "cannot ask the server for its fetches: %s", strerror(-r));
	else if (blz_fetch_parse(fetches, &fl, err, sizeof(err)) < 0)
		snprintf(ferr, sizeof(ferr), "the server's fetches are malformed: %s", err);
	else
		have_ranges = true;
	free(fetches);
	if (have_ranges && is_mount) {
		r = blz_fetched_resolve(mnt, &fl, &fd, err, sizeof(err));
		if (r == -EPERM)
			snprintf(ferr, sizeof(ferr), "resolving addresses to files needs root (%s)", err);
		else if (r < 0)
			snprintf(ferr, sizeof(ferr), "%s", err);
		else
			have_files = true;
	}
	int rc = 0;
	if (trace.path && !have_files) {
		rc = blz_die("cannot write the trace '%s': %s", trace.path, ferr);
		goto out;
	}
	if (trace.path && write_trace(&fd, &trace) != 0) {
		rc = 1;
		goto out;
	}

	uint64_t backing_used = 0;
	if (is_mount && stat(ms.backing, &st) == 0)
		backing_used = S_ISREG(st.st_mode) ? (uint64_t)st.st_blocks * 512 : 0;
	if (json) {
		/* The server's object, with the mount's fields and the fetches added. */
		size_t n = strlen(reply);
		while (n && (reply[n - 1] == '\n' || reply[n - 1] == '}'))
			reply[--n] = 0;
		fputs(reply, stdout);
		if (is_mount) {
			printf(",\"mountpoint\":");
			blz_json_str(stdout, mnt);
			printf(",\"backing\":");
			blz_json_str(stdout, ms.backing);
			printf(",\"backing_used_bytes\":%llu", (unsigned long long)backing_used);
		}
		if (have_files)
			json_files(&fd);
		else if (have_ranges && !is_mount)
			json_ranges(&fl);
		if (ferr[0]) {
			printf(",\"fetches_error\":");
			blz_json_str(stdout, ferr);
		}
		if (trace.path) {
			printf(",\"trace\":{\"path\":");
			blz_json_str(stdout, trace.path);
			printf(",\"written\":%zu,\"skipped_newline\":%zu,\"unnamed\":%zu}", trace.written,
			       trace.skipped, trace.unnamed);
		}
		printf("}\n");
		goto out;
	}
	char b[8][32];
	if (is_mount) {
		printf("mount point:   %s\n", mnt);
		printf("backing:       %s (%s allocated)\n", ms.backing, sz(backing_used, b[7]));
	}
	printf("device:        /dev/ublkb%u (server pid %llu)\n", id, field(reply, "pid"));
	const char *seed = strstr(reply, "\"seed\":\"");
	if (seed) {
		seed += 8;
		printf("seed:          %.*s\n", (int)strcspn(seed, "\""), seed);
	}
	printf("reads:         %llu requests, %s\n", field(reply, "reads"), sz(field(reply, "read_bytes"), b[0]));
	printf("  from image:  %s\n", sz(field(reply, "local_bytes"), b[1]));
	printf("  lazy:        %s (mapped ranges)\n", sz(field(reply, "lazy_bytes"), b[2]));
	printf("  zeros:       %s\n", sz(field(reply, "zero_bytes"), b[3]));
	printf("failed reads:  %llu unmapped, %llu errors, %llu bad chunks\n",
	       field(reply, "unmapped"), field(reply, "errors"), field(reply, "bad_chunks"));
	printf("store:         %llu chunk reads (%s), %llu cache hits\n", field(reply, "store_reads"),
	       sz(field(reply, "store_bytes"), b[4]), field(reply, "cache_hits"));
	printf("map:           %llu records, %s mapped; %s of lazy data fetched so far\n",
	       field(reply, "map_records"), sz(field(reply, "mapped_bytes"), b[5]),
	       sz(field(reply, "store_bytes"), b[6]));
	const char *q = strstr(reply, "\"queues\":[");
	for (int i = 0; q && (q = strstr(q, "{\"reads\":")); i++, q++)
		printf("queue %d:       %llu reads, %s\n", i, field(q, "reads"),
		       sz(field(q, "read_bytes"), b[6]));
	if (have_files)
		print_files(&fd, top);
	else if (have_ranges && !is_mount)
		print_ranges(&fl, top);
	else
		printf("fetches:       unknown: %s\n", ferr);
	if (trace.path) {
		printf("trace:         %zu name%s written to %s\n", trace.written,
		       trace.written == 1 ? "" : "s", trace.path);
	}
out:
	free(reply);
	blz_fetch_list_release(&fl);
	blz_fetched_release(&fd);
	return rc;
}
