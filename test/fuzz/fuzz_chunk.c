/* Store-chunk decoding (lib/store/store.h blz_chunk_decode): a chunk file as it would come
 * from a store directory or a remote store. Decoded twice: as given, and with the header's
 * crc32c fixed up so that mutations get past it to the lengths, the codec and zstd. The
 * expected digest and length are the header's own (what a map record would say). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "store/store.h"
#include "util/crc32c.h"
#include "util/le.h"

static uint8_t out[BLZ_STORE_MAX_CHUNK];

static void decode(const uint8_t *file, size_t size)
{
	uint8_t digest[BLZ_STORE_DIGEST_LEN] = { 0 };
	size_t len = 0;
	if (size >= BLZ_CHUNK_HEADER_LEN) {
		memcpy(digest, file + 20, sizeof(digest));
		len = get_le32(file + 12);
	}
	if (len > BLZ_STORE_MAX_CHUNK)
		len = BLZ_STORE_MAX_CHUNK + 1; /* must be refused, not used */
	(void)blz_chunk_decode(file, size, digest, out, len);
	(void)blz_store_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode(data, size);
	if (size < BLZ_CHUNK_HEADER_LEN)
		return 0;
	uint8_t *copy = malloc(size);
	memcpy(copy, data, size);
	put_le32(copy + 52, blz_crc32c(copy, 52));
	decode(copy, size);
	free(copy);
	return 0;
}
