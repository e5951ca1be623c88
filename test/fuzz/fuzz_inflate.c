/* The gzip decoder (lib/tar/inflate.h). The first byte picks the piece size the input is fed
 * in (1 to 256 bytes, or all at once), so the resumable states are reached at every split. */
#include <stdlib.h>

#include "fuzz.h"
#include "tar/inflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = data[0] ? data[0] : size;
	data++;
	size--;
	struct blz_inflate *z = blz_inflate_new();
	const uint8_t *out;
	size_t out_len, pos = 0;
	uint64_t total = 0;
	int r = 0;
	while (r == 0 && pos < size) {
		const uint8_t *in = data + pos;
		size_t n = size - pos < step ? size - pos : step, in_len = n;
		do {
			r = blz_inflate_run(z, &in, &in_len, &out, &out_len);
			if (out_len > BLZ_INFLATE_CHUNK)
				abort();
			total += out_len;
		} while (r == 0 && (in_len || out_len));
		pos += n - in_len;
	}
	/* The end of the input: (NULL, 0) until no more output. */
	do {
		const uint8_t *in = NULL;
		size_t in_len = 0;
		r = blz_inflate_run(z, &in, &in_len, &out, &out_len);
	} while (r == 0 && out_len);
	if (r == 0)
		(void)blz_inflate_done(z);
	else
		(void)blz_inflate_error(z);
	(void)blz_inflate_in_offset(z);
	(void)total;
	blz_inflate_free(z);
	return 0;
}
