/*
 * The recorder: what a server keeps about the requests it serves, per queue (reqlog.h).
 * Statistics are always kept; the request log is written while started.
 *
 * Cost. A queue thread records each request into its own queue's slot (blz_recq_record):
 * counters with relaxed single-writer stores and, while the log is on, a copy of the
 * record into that queue's ring (single producer, single consumer: one release store). No
 * lock and no system call per request (but one lock and signal per half ring, to wake the
 * writer early). A writer thread wakes every 500 ms or when a ring is half full, turns what
 * the rings hold into lines and writes them 64 KiB at a time. A record that
 * finds its ring full (the writer fell behind by a ring: blz_recorder_ring_len records) is
 * dropped and counted.
 *
 * Threads. blz_recorder_queue is called before the queue threads start; blz_recq_record by
 * the queue's thread only; the rest from any one control thread.
 */
#ifndef BLZ_BACKEND_RECORDER_H
#define BLZ_BACKEND_RECORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/reqlog.h"

struct blz_recorder;
struct blz_recq;

/* The writer thread's name (its comm: top -H, perf, /proc/PID/task/TID/comm). */
#define BLZ_RECORDER_WRITER_NAME "blazy-reqlog"

int blz_recorder_new(unsigned max_queues, struct blz_recorder **ret);
/* Stops the log (blz_recorder_log_stop) and frees r. Accepts NULL. */
void blz_recorder_free(struct blz_recorder *r);
/* Queue q's slot (created on first use); NULL for q >= max_queues or without memory. */
struct blz_recq *blz_recorder_queue(struct blz_recorder *r, unsigned q);
/* The recorder's clock: ns since it started (for blz_reqrec's t_ns). */
uint64_t blz_recq_now(const struct blz_recq *q);
/* Records rec (its queue field is set here). */
void blz_recq_record(struct blz_recq *q, struct blz_reqrec *rec);

/* Starts the log on fd (taken over: closed by log_stop, or here on failure): writes the
 * header, starts the writer. -EBUSY when a log is already on (fd is then closed). */
int blz_recorder_log_start(struct blz_recorder *r, int fd);
/* As blz_recorder_log_start, for a log that already holds its header and lines (a server
 * that took a device over continues its predecessor's log): nothing is written first. */
int blz_recorder_log_append(struct blz_recorder *r, int fd);
/* Counts the recorder's times from t0_unix_ns (an earlier start, the header of a log being
 * continued) instead of from its own start: 0, or -EINVAL when t0_unix_ns is later than
 * the recorder's start. Call before any request is recorded. */
int blz_recorder_set_t0(struct blz_recorder *r, uint64_t t0_unix_ns);
/* Records per queue's ring (65536, fewer with many queues; at least 8192). */
uint32_t blz_recorder_ring_len(const struct blz_recorder *r);
/* The writer's period (default 500 ms; for tests). Call while no log is on. */
void blz_recorder_set_period_ms(struct blz_recorder *r, unsigned ms);
/* Writes what the rings hold, stops the writer and closes the file: 0, -ENOENT when no log
 * was on, or the first write error the log met (-errno). */
int blz_recorder_log_stop(struct blz_recorder *r);

struct blz_recorder_log_info {
	bool active;
	uint64_t lines;   /* written since the log started (the last one, when stopped) */
	uint64_t dropped; /* records dropped on full rings, since then */
	int error;        /* the first write error (-errno), 0 */
};
void blz_recorder_log_info(struct blz_recorder *r, struct blz_recorder_log_info *ret);
/* The statistics of every queue, summed into *ret (zeroed first). */
void blz_recorder_stats(struct blz_recorder *r, struct blz_reqstats *ret);

#endif
