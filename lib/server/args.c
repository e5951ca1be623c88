/* The command line of a server started by another blazy process: see internal.h. */
#include "server/internal.h"

#include <stdio.h>

#include "fetch/fetch.h"

static void arg(struct srv_args *a, const char *opt, const char *val)
{
	a->v[a->n++] = opt;
	if (val)
		a->v[a->n++] = val;
}

static void arg_num(struct srv_args *a, const char *opt, const char *fmt, unsigned long long v)
{
	snprintf(a->num[a->nnum], sizeof(a->num[0]), fmt, v);
	arg(a, opt, a->num[a->nnum++]);
}

void srv_server_args(const struct blz_server_config *c, const char *argv0, uint32_t id,
		     pid_t supervise_pid, struct srv_args *a)
{
	a->n = a->nnum = 0;
	arg(a, argv0, "serve");
	arg(a, "--foreground", NULL);
	arg_num(a, "--recover", "%llu", id);
	if (supervise_pid > 0)
		arg_num(a, "--supervise-pid", "%llu", (unsigned long long)supervise_pid);
	if (c->backend)
		arg(a, "--backend", c->backend);
	if (c->map_path)
		arg(a, "--map", c->map_path);
	if (c->store_dir)
		arg(a, "--store", c->store_dir);
	const struct blz_fetch_opts *f = c->fetch;
	if (f) {
		for (size_t i = 0; i < f->n_stores; i++)
			arg(a, "--store", f->stores[i]);
		if (f->cache_dir)
			arg(a, "--cache-dir", f->cache_dir);
		if (f->cache_size)
			arg_num(a, "--cache-size", "%llu", f->cache_size);
		if (f->timeout_ms)
			arg_num(a, "--fetch-timeout", "%llums", f->timeout_ms);
		if (f->retries != ~0u)
			arg_num(a, "--fetch-retries", "%llu", f->retries);
		if (f->inject)
			arg(a, "--inject", f->inject);
		if (f->ca_file)
			arg(a, "--ca", f->ca_file);
		if (f->auth_file)
			arg(a, "--auth-file", f->auth_file);
		if (f->prefetch_rate)
			arg_num(a, "--prefetch-rate", "%llu", f->prefetch_rate);
		if (f->ahead)
			arg_num(a, "--fetch-ahead", "%llu", f->ahead);
	}
	if (c->prefetch_list)
		arg(a, "--prefetch", c->prefetch_list);
	if (c->cache_bytes)
		arg_num(a, "--cache", "%llu", c->cache_bytes);
	if (c->queues)
		arg_num(a, "--queues", "%llu", c->queues);
	if (c->depth)
		arg_num(a, "--depth", "%llu", c->depth);
	if (c->poll_us)
		arg_num(a, "--poll", "%llu", c->poll_us == BLZ_UBLK_POLL_NEVER ? 0 : c->poll_us);
	if (c->recovery_timeout_ms && c->recovery_timeout_ms != BLZ_RECOVERY_OFF)
		arg_num(a, "--recovery-timeout", "%llums", c->recovery_timeout_ms);
	for (unsigned i = 0; i < c->nfilters; i++)
		arg(a, "--filter", c->filters[i]);
	if (c->log_requests)
		arg(a, "--log-requests", c->log_requests);
	if (c->zero_copy && !c->no_zero_copy)
		arg(a, "--zero-copy", "auto");
	if (c->no_zero_copy)
		arg(a, "--zero-copy", "off");
	if (c->seed)
		arg(a, c->seed, NULL);
	a->v[a->n] = NULL;
}
