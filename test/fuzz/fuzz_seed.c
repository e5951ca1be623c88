/*
 * Seed inspection (lib/btrfs/inspect.h) of mutated seed images.
 *
 * An image is mostly zeros, so the input is a sparse list of 4 KiB pages: records of a
 * little-endian u32 page index followed by 4096 bytes (a short last record is zero-padded).
 * Before inspecting, the harness fixes up the checksums a mutation broke, so that the
 * fuzzer gets past them to the trees: the superblock's crc32c, and the crc32c of every
 * 16 KiB tree block a record touched. A record whose index has bit 31 set is left as it is
 * (and so reaches the checksum checks). test/fuzz/seed-pages.sh turns an image into this form.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btrfs/format.h"
#include "btrfs/inspect.h"
#include "btrfs/tree.h"
#include "fuzz.h"
#include "util/crc32c.h"
#include "util/fileio.h"
#include "util/le.h"

#define PAGE 4096u
#define MAX_PAGES (64u << 10) /* images up to 256 MiB */
#define RAW (1u << 31)
#define SB_PAGE (BTRFS_SUPER_INFO_OFFSET / PAGE)
#define PAGES_PER_NODE (BTRFS_NODESIZE / PAGE)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	if (fd < 0)
		fd = fuzz_memfd(NULL, 0);
	else
		fuzz_refill(fd, NULL, 0);
	/* Pages to checksum: one bit per 16 KiB block, and one for the superblock. */
	static uint8_t fix[MAX_PAGES / PAGES_PER_NODE / 8];
	memset(fix, 0, sizeof(fix));
	bool fix_sb = false;
	uint8_t page[PAGE];
	for (size_t pos = 0; pos + 4 < size;) {
		uint32_t idx = get_le32(data + pos), p = idx & ~RAW;
		size_t n = size - pos - 4 < PAGE ? size - pos - 4 : PAGE;
		memset(page, 0, sizeof(page));
		memcpy(page, data + pos + 4, n);
		pos += 4 + n;
		if (p >= MAX_PAGES)
			continue;
		if (blz_pwrite_full(fd, page, PAGE, (uint64_t)p * PAGE) < 0)
			abort();
		if (idx & RAW)
			continue;
		if (p == SB_PAGE)
			fix_sb = true;
		else if (p / PAGES_PER_NODE != SB_PAGE / PAGES_PER_NODE)
			fix[p / PAGES_PER_NODE / 8] |= (uint8_t)(1u << (p / PAGES_PER_NODE % 8));
	}
	uint8_t *block = malloc(BTRFS_NODESIZE);
	for (uint32_t b = 0; b < MAX_PAGES / PAGES_PER_NODE; b++) {
		if (!(fix[b / 8] & (1u << (b % 8))))
			continue;
		uint64_t off = (uint64_t)b * BTRFS_NODESIZE;
		memset(block, 0, BTRFS_NODESIZE);
		(void)!pread(fd, block, BTRFS_NODESIZE, (off_t)off); /* may end short: zeros */
		blz_tree_block_csum(block);
		if (blz_pwrite_full(fd, block, BTRFS_NODESIZE, off) < 0)
			abort();
	}
	if (fix_sb) {
		if (blz_pread_full(fd, block, BTRFS_SUPER_INFO_SIZE, BTRFS_SUPER_INFO_OFFSET) < 0)
			abort();
		put_le32(block, blz_crc32c(block + BTRFS_CSUM_SIZE,
					   BTRFS_SUPER_INFO_SIZE - BTRFS_CSUM_SIZE));
		if (blz_pwrite_full(fd, block, 4, BTRFS_SUPER_INFO_OFFSET) < 0)
			abort();
	}
	free(block);

	struct blz_seed_info in;
	char err[256];
	if (blz_seed_inspect(fd, &in, err, sizeof(err)) == 0) {
		uint64_t phys;
		for (size_t i = 0; i < in.nchunks; i++)
			(void)blz_chunk_map(in.chunks, in.nchunks, in.chunks[i].logical, &phys);
		blz_seed_info_release(&in);
	} else if (in.chunks || !err[0]) {
		abort(); /* a failure leaves no chunk array, and says why */
	} else if (getenv("FUZZ_VERBOSE")) {
		fprintf(stderr, "fuzz_seed: %s\n", err);
	}
	return 0;
}
