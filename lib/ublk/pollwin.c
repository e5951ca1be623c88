/* The adaptive poll window: see pollwin.h. */
#include "ublk/pollwin.h"

#include <stdlib.h>
#include <string.h>

void blz_pollwin_init(struct blz_pollwin *w, uint64_t max_ns, bool fixed)
{
	w->max_ns = max_ns;
	w->cur_ns = max_ns;
	w->fixed = fixed;
}

void blz_pollwin_gap(struct blz_pollwin *w, uint64_t gap_ns)
{
	if (w->fixed || !w->max_ns)
		return;
	if (gap_ns <= w->max_ns) {
		w->cur_ns = w->max_ns;
		return;
	}
	w->cur_ns /= 2;
	if (w->cur_ns < w->max_ns / 8)
		w->cur_ns = 0;
}

bool blz_pollwin_fixed_forced(void)
{
	const char *v = getenv("BLAZY_UBLK_POLL");
	return v && !strcmp(v, "fixed");
}
