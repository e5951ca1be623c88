/*
 * Crash injection, for tests only: when the environment variable BLAZY_CRASH_AT names a
 * point the code passes, the process ends there at once with _exit(BLZ_CRASH_EXIT), as a
 * kill -9 would (no clean-up, no buffered output), so that a test can check what a crash at
 * exactly that point leaves behind (test/host/045-map-crash.sh). Unset, it costs a getenv.
 * The points are named where they are placed: grep for blz_crash_point.
 */
#ifndef BLZ_UTIL_CRASH_H
#define BLZ_UTIL_CRASH_H

#include <stdbool.h>

#define BLZ_CRASH_EXIT 86

/* True when BLAZY_CRASH_AT is point (for a point that must do part of its work first). */
bool blz_crash_armed(const char *point);
/* Ends the process when BLAZY_CRASH_AT is point; returns otherwise. */
void blz_crash_point(const char *point);

#endif
