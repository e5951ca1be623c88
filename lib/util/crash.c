/* Crash injection for tests (see crash.h). */
#include "util/crash.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool blz_crash_armed(const char *point)
{
	const char *at = getenv("BLAZY_CRASH_AT");
	return at && !strcmp(at, point);
}

void blz_crash_point(const char *point)
{
	if (blz_crash_armed(point))
		_exit(BLZ_CRASH_EXIT);
}
