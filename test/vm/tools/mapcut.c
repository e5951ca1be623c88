/* mapcut IN OUT OFF:LEN...: copies the map journal IN (lib/map/map.h) to OUT without the
 * records whose device offset lies in one of the ranges [OFF, OFF + LEN), renumbering the
 * remaining records' sequence numbers and recomputing their checksums, so that a test can
 * serve mapped ranges with unmapped space on both sides (blazy map only allocates at the
 * high-water mark). Whole batches only: a batch partly cut is refused. For the VM tests
 * (the boundary VM test). Exit status 0, or 1 with a message. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/le.h"

#define HDR 64
#define REC 80

static int die(const char *msg)
{
	fprintf(stderr, "mapcut: %s\n", msg);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return die("usage: mapcut IN OUT OFF:LEN...");
	int nr = argc - 3;
	uint64_t *cut_off = calloc((size_t)nr, sizeof(uint64_t));
	uint64_t *cut_len = calloc((size_t)nr, sizeof(uint64_t));
	for (int i = 0; i < nr; i++)
		if (sscanf(argv[3 + i], "%" SCNu64 ":%" SCNu64, &cut_off[i], &cut_len[i]) != 2)
			return die("a range is OFF:LEN (bytes)");
	FILE *in = fopen(argv[1], "rb");
	if (!in)
		return die(strerror(errno));
	static uint8_t buf[1 << 26];
	size_t n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	if (n < HDR || (n - HDR) % REC)
		return die("IN is no journal of whole records (or larger than 64 MiB)");
	FILE *out = fopen(argv[2], "wb");
	if (!out || fwrite(buf, 1, HDR, out) != HDR)
		return die(strerror(errno));
	uint64_t seq = 0;
	uint32_t batch_cut = 0, batch_kept = 0;
	for (size_t p = HDR; p < n; p += REC) {
		uint8_t *r = buf + p;
		uint64_t off = get_le64(r + 16);
		uint32_t pos = get_le32(r + 32);
		int cut = 0;
		for (int i = 0; i < nr; i++)
			cut |= off >= cut_off[i] && off - cut_off[i] < cut_len[i];
		if (pos == 0)
			batch_cut = batch_kept = 0;
		cut ? batch_cut++ : batch_kept++;
		if (batch_cut && batch_kept)
			return die("a range cuts a batch in two");
		if (cut)
			continue;
		put_le64(r + 8, seq++);
		put_le32(r + 76, blz_crc32c(r, 76));
		if (fwrite(r, 1, REC, out) != REC)
			return die(strerror(errno));
	}
	if (fclose(out))
		return die(strerror(errno));
	printf("mapcut: kept %" PRIu64 " of %zu records\n", seq, (n - HDR) / REC);
	return 0;
}
