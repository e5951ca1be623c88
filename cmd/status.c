/* blazy status: a served device's counters, from its server's control socket. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "cmd.h"
#include "orch/orchestrate.h"
#include "server/control.h"
#include "ublk/ublk.h"
#include "util/size.h"

/* Exact integer field of the server's JSON. */
static unsigned long long field(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(json, pat);
	return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

int cmd_status(const struct blz_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else
			return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	uint32_t id;
	/* A blazy mount point: its device, plus what the mount adds (backing use). */
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
	char sock[128], *reply = NULL;
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
	uint64_t backing_used = 0;
	if (is_mount && stat(ms.backing, &st) == 0)
		backing_used = S_ISREG(st.st_mode) ? (uint64_t)st.st_blocks * 512 : 0;
	if (json) {
		if (is_mount) {
			/* The server's object, with the mount's fields added. */
			size_t n = strlen(reply);
			while (n && (reply[n - 1] == '\n' || reply[n - 1] == '}'))
				reply[--n] = 0;
			printf("%s,\"mountpoint\":", reply);
			blz_json_str(stdout, mnt);
			printf(",\"backing\":");
			blz_json_str(stdout, ms.backing);
			printf(",\"backing_used_bytes\":%llu}\n", (unsigned long long)backing_used);
		} else {
			fputs(reply, stdout);
		}
		free(reply);
		return 0;
	}
	char b[8][32];
	if (is_mount) {
		printf("mount point:   %s\n", mnt);
		printf("backing:       %s (%s allocated)\n", ms.backing,
		       blz_format_size(backing_used, b[7], 32));
	}
	printf("device:        /dev/ublkb%u (server pid %llu)\n", id, field(reply, "pid"));
	const char *seed = strstr(reply, "\"seed\":\"");
	if (seed) {
		seed += 8;
		printf("seed:          %.*s\n", (int)strcspn(seed, "\""), seed);
	}
	printf("reads:         %llu requests, %s\n", field(reply, "reads"),
	       blz_format_size(field(reply, "read_bytes"), b[0], 32));
	printf("  from image:  %s\n", blz_format_size(field(reply, "local_bytes"), b[1], 32));
	printf("  lazy:        %s (mapped ranges)\n", blz_format_size(field(reply, "lazy_bytes"), b[2], 32));
	printf("  zeros:       %s\n", blz_format_size(field(reply, "zero_bytes"), b[3], 32));
	printf("failed reads:  %llu unmapped, %llu errors, %llu bad chunks\n",
	       field(reply, "unmapped"), field(reply, "errors"), field(reply, "bad_chunks"));
	printf("store:         %llu chunk reads (%s), %llu cache hits\n", field(reply, "store_reads"),
	       blz_format_size(field(reply, "store_bytes"), b[4], 32), field(reply, "cache_hits"));
	printf("map:           %llu records, %s mapped; %s of lazy data fetched so far\n",
	       field(reply, "map_records"), blz_format_size(field(reply, "mapped_bytes"), b[5], 32),
	       blz_format_size(field(reply, "store_bytes"), b[6], 32));
	const char *q = strstr(reply, "\"queues\":[");
	for (int i = 0; q && (q = strstr(q, "{\"reads\":")); i++, q++)
		printf("queue %d:       %llu reads, %s\n", i, field(q, "reads"),
		       blz_format_size(field(q, "read_bytes"), b[6], 32));
	free(reply);
	return 0;
}
