/* Map-journal replay (lib/map/map.h): blz_map_open of a journal file, read-only, then the
 * lookups and statistics a server would ask. The first input byte holds flags: bit 0 fixes up
 * the crc32c of the header and of every record (so mutations reach the replay rules: batch
 * framing, sequence, overlap, high-water marks), bit 1 also sets area bounds. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "map/map.h"
#include "util/crc32c.h"
#include "util/le.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++;
	size--;
	uint8_t *j = malloc(size ? size : 1);
	memcpy(j, data, size);
	if (flags & 1) {
		if (size >= BLZ_MAP_HDR_SIZE)
			put_le32(j + 60, blz_crc32c(j, 60));
		for (size_t off = BLZ_MAP_HDR_SIZE; off + BLZ_MAP_REC_SIZE <= size;
		     off += BLZ_MAP_REC_SIZE)
			put_le32(j + off + 76, blz_crc32c(j + off, 76));
	}
	static int fd = -1;
	if (fd < 0)
		fd = fuzz_memfd(j, size);
	else
		fuzz_refill(fd, j, size);
	free(j);
	char path[64], err[256];
	fuzz_fd_path(fd, path, sizeof(path));
	struct blz_map *m;
	if (blz_map_open(path, NULL, BLZ_MAP_READONLY, &m, err, sizeof(err)) < 0)
		return 0;
	if (flags & 2) {
		(void)blz_map_set_area(m, BLZ_MAP_AREA_IMPORT, 512ull << 30, 1ull << 40);
		(void)blz_map_set_area(m, BLZ_MAP_AREA_VIRTUAL, 2ull << 40, 1ull << 50);
	}
	struct blz_map_stats st;
	blz_map_stats(m, &st);
	struct blz_map_seg segs[8];
	size_t n;
	for (int a = 1; a <= BLZ_MAP_AREA_MAX; a++) {
		uint64_t first = st.area[a].first, end = st.area[a].end;
		if (end > first)
			(void)blz_map_lookup(m, first, end - first, segs, 8, &n);
	}
	(void)blz_map_lookup(m, 0, UINT64_MAX, segs, 8, &n);
	(void)blz_map_refresh(m);
	(void)blz_map_dropped_tail(m);
	blz_map_close(m);
	return 0;
}
