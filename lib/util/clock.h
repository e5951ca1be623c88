/* The monotonic clock in milliseconds, for deadlines and bounded waits. */
#ifndef BLZ_UTIL_CLOCK_H
#define BLZ_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds (never goes back; unrelated to the time of day). */
uint64_t blz_now_ms(void);
/* CLOCK_MONOTONIC in nanoseconds (for latencies). */
uint64_t blz_now_ns(void);
/* Sleeps ms milliseconds (signals may end it early). */
void blz_sleep_ms(unsigned ms);
/* *ts = now on clock clk plus ms milliseconds: the absolute time a timed wait
 * (pthread_cond_timedwait, sem_timedwait) takes. */
void blz_deadline_ts(struct timespec *ts, clockid_t clk, unsigned ms);

#endif
