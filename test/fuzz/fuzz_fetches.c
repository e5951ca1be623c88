/* The parser of fetch reports (lib/lazy/fetches.h, the control socket's "fetches" reply). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lazy/fetches.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	struct blz_fetch_list l;
	char err[256];
	if (blz_fetch_parse(text, &l, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < l.ranges.len; i++) {
			const struct blz_fetch_range *r = &l.ranges.v[i];
			if (r->first_span + r->nr_spans > l.spans.len)
				abort();
			if (i && l.ranges.v[i - 1].off > r->off)
				abort(); /* promised sorted by offset */
		}
		blz_fetch_list_release(&l);
	}
	free(text);
	return 0;
}
