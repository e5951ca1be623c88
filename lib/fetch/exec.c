/* PLACEHOLDER (branch fetch): the exec: source is written on branch storecmd, whose exec.c
 * replaces this file whole. Until then exec: stores are refused. */
#include "fetch/source.h"

#include <errno.h>

#include "util/strbuf.h"

int blz_source_exec_open(const char *cmd, const struct blz_source_opts *opts,
			 struct blz_source **ret, char *err, size_t errlen)
{
	return blz_errf(err, errlen, -ENOTSUP, "exec: stores are not available in this build");
}
