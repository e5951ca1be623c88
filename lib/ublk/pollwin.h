/*
 * How long a queue thread polls for the next request before it sleeps (queue.c), adapted
 * to how far apart requests come. Polling saves the wake-up of a sleeping thread (at queue
 * depth 1 the dearest part of a request) but burns its CPU while it waits: worth it while
 * the next request comes within the window, waste when requests come further apart (a
 * reader at queue depth 1 on a slow CPU, an idle device).
 *
 * Each wait reports its gap, from the end of a batch to the next request's arrival (polled
 * or slept). A gap within the longest window (max_ns) sets the window back to max_ns:
 * polling pays. A longer gap halves the window, and below an eighth of max_ns polling stops
 * until a gap within max_ns is seen again (a thread that sleeps still measures its gaps).
 * So a steady stream of requests further apart than max_ns wastes less than two windows in
 * all, and a stream that speeds up is polled again after its first short gap.
 */
#ifndef BLZ_UBLK_POLLWIN_H
#define BLZ_UBLK_POLLWIN_H

#include <stdbool.h>
#include <stdint.h>

struct blz_pollwin {
	uint64_t max_ns; /* the longest window; 0: never poll */
	uint64_t cur_ns; /* the next wait's window: 0 or between max_ns / 8 and max_ns */
	bool fixed;      /* always max_ns (BLAZY_UBLK_POLL=fixed) */
};

void blz_pollwin_init(struct blz_pollwin *w, uint64_t max_ns, bool fixed);
/* The window of the next wait (0: sleep at once). */
static inline uint64_t blz_pollwin_window(const struct blz_pollwin *w)
{
	return w->cur_ns;
}
/* A wait ended: gap_ns from the start of the wait to the next request (polled or slept). */
void blz_pollwin_gap(struct blz_pollwin *w, uint64_t gap_ns);
/* Whether BLAZY_UBLK_POLL=fixed asks for the old behaviour (poll max_ns every time). */
bool blz_pollwin_fixed_forced(void);

#endif
