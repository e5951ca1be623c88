/* blz_source_open: the kind a --store spec names, dispatched to its constructor. */
#include "fetch/source.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fetch/internal.h"
#include "util/sha256.h"
#include "util/strbuf.h"

void blz_fetch_rel_path(const uint8_t digest[BLZ_STORE_DIGEST_LEN], char out[BLZ_FETCH_REL_LEN])
{
	char hex[BLZ_SHA256_HEX_LEN + 1];
	blz_hex(digest, BLZ_STORE_DIGEST_LEN, hex);
	snprintf(out, BLZ_FETCH_REL_LEN, "%.2s/%s", hex, hex);
}

int blz_source_open(const char *spec, const struct blz_source_opts *opts,
		    struct blz_source **ret, char *err, size_t errlen)
{
	static const struct blz_source_opts none;
	if (!opts)
		opts = &none;
	if (!spec || !*spec)
		return blz_errf(err, errlen, -EINVAL, "empty store location");
	if (strncmp(spec, "http://", 7) == 0 || strncmp(spec, "https://", 8) == 0)
		return blz_source_http_open(spec, opts, ret, err, errlen);
	if (strncmp(spec, "exec:", 5) == 0)
		return blz_source_exec_open(spec + 5, opts, ret, err, errlen);
	return blz_source_dir_open(spec, opts, ret, err, errlen);
}

void blz_source_close(struct blz_source *s)
{
	if (s)
		s->ops->close(s);
}
