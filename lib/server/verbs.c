/* The control socket's requests (control.h) and the counters a server reports. */
#include "server/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch/fetch.h"
#include "server/registry.h"
#include "server/status.h"

/* The fetch engine's counters (with --store). */
static void fill_fetch_status(const struct blz_server *s, struct blz_server_status *st)
{
	struct blz_fetch_stats *fs = blz_xcalloc(1, sizeof(*fs));
	if (!s->lazy || blz_lazy_get_fetch_stats(s->lazy, fs) < 0) {
		free(fs);
		return;
	}
	st->disk_cache_hits = fs->cache_hits;
	st->disk_cache_misses = fs->cache_misses;
	st->disk_cache_bytes = fs->cache_bytes;
	st->disk_cache_entries = fs->cache_entries;
	st->disk_cache_evictions = fs->cache_evictions;
	st->fetch_joined = fs->joined;
	st->fetch_failed = fs->failed;
	st->prefetched = fs->prefetched;
	st->nstores = fs->n_sources;
	st->stores = blz_xcalloc(fs->n_sources ? fs->n_sources : 1, sizeof(*st->stores));
	for (size_t i = 0; i < fs->n_sources; i++) {
		const struct blz_fetch_source_stats *src = &fs->source[i];
		st->stores[i] = (struct blz_server_store_status){
			.fetches = src->fetches, .bytes = src->bytes, .retries = src->retries,
			.errors = src->errors, .bad = src->bad, .inflight = src->inflight,
			.p50_us = src->p50_us, .p99_us = src->p99_us,
		};
		snprintf(st->stores[i].name, sizeof(st->stores[i].name), "%s", src->name);
	}
	free(fs);
}

/* Fills st (queues malloc'ed: blz_server_status_release). */
static void fill_status(const struct blz_server *s, struct blz_server_status *st)
{
	const struct blz_ublk_dev_info *info = blz_ublk_dev_info(s->dev);
	struct blz_lazy_stats ls = { 0 };
	if (s->lazy)
		blz_lazy_get_stats(s->lazy, &ls);
	memset(st, 0, sizeof(*st));
	snprintf(st->device, sizeof(st->device), "/dev/ublkb%u", blz_ublk_dev_id(s->dev));
	st->pid = (uint64_t)getpid();
	snprintf(st->seed, sizeof(st->seed), "%s", s->reg.seed);
	st->size = s->backend->size;
	st->reads = ls.reads;
	st->read_bytes = ls.read_bytes;
	st->local_bytes = ls.local_bytes;
	st->lazy_bytes = ls.lazy_bytes;
	st->zero_bytes = ls.zero_bytes;
	st->unmapped = ls.unmapped;
	st->errors = ls.errors;
	st->store_reads = ls.store_reads;
	st->store_bytes = ls.store_bytes;
	st->cache_hits = ls.cache_hits;
	st->bad_chunks = ls.bad_chunks;
	st->map_records = ls.map_records;
	st->mapped_bytes = ls.mapped_bytes;
	st->fetch_ranges = ls.fetch_ranges;
	st->fetch_untracked = ls.fetch_untracked;
	if (s->ctl)
		blz_ctl_counts(s->ctl, &st->control_requests, &st->control_rejected);
	fill_fetch_status(s, st);
	struct blz_super_state sup;
	snprintf(st->state, sizeof(st->state), "live");
	snprintf(st->io_commands, sizeof(st->io_commands), "%s",
		 blz_ublk_dev_batch(s->dev) ? "batched" : "per-tag");
	if (blz_reg_super_read(blz_ublk_dev_id(s->dev), &sup) == 0) {
		snprintf(st->state, sizeof(st->state), "%s", sup.state);
		st->supervisor = blz_ublk_pid_alive(sup.supervisor) ? (uint64_t)sup.supervisor : 0;
		st->restarts = sup.restarts;
		snprintf(st->last_cause, sizeof(st->last_cause), "%s", sup.cause);
	}
	if (s->rec) {
		struct blz_reqstats rs;
		struct blz_recorder_log_info li;
		blz_recorder_stats(s->rec, &rs);
		blz_server_reqstatus_fill(&st->requests, &rs);
		blz_recorder_log_info(s->rec, &li);
		st->requests.log_active = li.active;
		st->requests.log_lines = li.lines;
		st->requests.log_dropped = li.dropped;
	}
	st->zero_copy = blz_ublk_dev_zero_copy(s->dev);
	st->nqueues = info->nr_hw_queues;
	st->queues = blz_xcalloc(st->nqueues ? st->nqueues : 1, sizeof(*st->queues));
	for (unsigned q = 0; q < info->nr_hw_queues; q++) {
		struct blz_ublk_qstats qs;
		if (blz_ublk_dev_stats(s->dev, q, &qs) < 0)
			continue;
		st->zero_copy_reads += qs.zero_copy;
		st->queues[q] = (struct blz_server_qstatus){
			.reads = qs.reads,
			.read_bytes = qs.read_bytes,
			.writes_refused = qs.writes,
			.errors = qs.errors,
			.batches = qs.batches,
			.sleeps = qs.sleeps,
			.poll_hits = qs.poll_hits,
		};
	}
}

int srv_ctl_handler(void *ctx, const char *verb, struct blz_buf *reply, char *msg, size_t len)
{
	struct blz_server *s = ctx;
	if (!strcmp(verb, "status")) {
		struct blz_server_status st;
		fill_status(s, &st);
		blz_server_status_encode(&st, reply);
		blz_server_status_release(&st);
		return 0;
	}
	if ((!strcmp(verb, "map") || !strcmp(verb, "fetches")) && !s->lazy) {
		snprintf(msg, len, "not a seed server (its backend has no map and no fetches)");
		return -EINVAL;
	}
	if (!strcmp(verb, "map")) {
		int r = blz_lazy_refresh(s->lazy);
		if (r < 0) {
			snprintf(msg, len, "cannot re-read the map: %s", strerror(-r));
			return r;
		}
		struct blz_lazy_stats ls;
		blz_lazy_get_stats(s->lazy, &ls);
		char tmp[64];
		int n = snprintf(tmp, sizeof(tmp), "%llu records\n", (unsigned long long)ls.map_records);
		blz_buf_append(reply, tmp, (size_t)n);
		return 0;
	}
	if (!strcmp(verb, "fetches")) {
		blz_lazy_format_fetches(s->lazy, reply);
		return 0;
	}
	if (!strcmp(verb, "log-start") || !strcmp(verb, "log-stop"))
		return srv_verb_log(s, !strcmp(verb, "log-start"), reply, msg, len);
	if (!strcmp(verb, "stop")) {
		s->stop_requested = true;
		return 0;
	}
	if (!strcmp(verb, "try-stop")) {
		/* stop only if nobody holds the disk (TRY_STOP_DEV), else stay (stop.h) */
		uint32_t id = blz_ublk_dev_id(s->dev);
		int r = blz_ublk_dev_try_stop(s->dev);
		if (r == -EBUSY) {
			srv_log(s, "stop refused: the disk of /dev/ublkb%u is open (TRY_STOP_DEV)", id);
			snprintf(msg, len, "busy: the disk is open (TRY_STOP_DEV)");
			return r;
		}
		if (r < 0) {
			snprintf(msg, len, "TRY_STOP_DEV: %s", strerror(-r));
			return r;
		}
		srv_log(s, "TRY_STOP_DEV: nobody holds /dev/ublkb%u, stopping", id);
		s->stop_requested = true;
		return 0;
	}
	snprintf(msg, len, "unknown request '%.40s' (status, fetches, map, log-start, log-stop, stop, try-stop)", verb);
	return -EINVAL;
}

void srv_log_stats(const struct blz_server *s)
{
	const struct blz_ublk_dev_info *info = blz_ublk_dev_info(s->dev);
	for (unsigned q = 0; q < info->nr_hw_queues; q++) {
		struct blz_ublk_qstats t;
		if (blz_ublk_dev_stats(s->dev, q, &t) < 0)
			continue;
		srv_log(s, "queue %u: %llu reads (%llu bytes), %llu writes and %llu discards "
			"refused, %llu flushes, %llu other, %llu errors; %llu batches, %llu sleeps, "
			"%llu poll hits",
			q, (unsigned long long)t.reads, (unsigned long long)t.read_bytes,
			(unsigned long long)t.writes, (unsigned long long)t.discards,
			(unsigned long long)t.flushes, (unsigned long long)t.others,
			(unsigned long long)t.errors, (unsigned long long)t.batches,
			(unsigned long long)t.sleeps, (unsigned long long)t.poll_hits);
	}
}
