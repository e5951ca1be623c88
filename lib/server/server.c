/* Opening what a server serves, and the device's configuration: see server.h. */
#include "server/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seedset/seedset.h"
#include "util/strbuf.h"

static void lazy_log(void *ctx, const char *msg)
{
	srv_log(ctx, "%s", msg);
}

/* A seed, its map and store: opened, with absolute paths for the registry (the daemon
 * changes directory; clients find the server by the seed's path). */
static int open_seed(struct blz_server *s, char *err, size_t errlen)
{
	const struct blz_server_config *c = &s->cfg;
	struct blz_reg *reg = &s->reg;
	struct stat st;
	if (!realpath(c->seed, reg->seed))
		return blz_errf(err, errlen, -errno, "cannot open '%s': %s", c->seed, strerror(errno));
	if (stat(reg->seed, &st) < 0)
		return blz_errf(err, errlen, -errno, "cannot stat '%s': %s", c->seed, strerror(errno));
	reg->owner = st.st_uid;
	if (blz_seedset_paths(reg->seed, c->map_path, c->store_dir, reg->map, sizeof(reg->map),
			      reg->store, sizeof(reg->store)) < 0)
		return blz_errf(err, errlen, -ENAMETOOLONG, "the path of '%s' is too long", c->seed);
	struct blz_lazy_opts lo = {
		.seed = reg->seed,
		.map_path = c->map_path,
		.store_dir = c->store_dir,
		.cache_bytes = c->cache_bytes,
		.fetch = c->fetch,
		.prefetch_list = c->prefetch_list,
		.log = lazy_log,
		.log_ctx = s,
	};
	int r = blz_lazy_open(&lo, &s->lazy, err, errlen);
	if (r < 0)
		return r;
	s->backend = blz_lazy_backend(s->lazy);
	char abs[PATH_MAX];
	if (realpath(reg->map, abs))
		snprintf(reg->map, sizeof(reg->map), "%s", abs);
	if (realpath(reg->store, abs))
		snprintf(reg->store, sizeof(reg->store), "%s", abs);
	return 0;
}

int blz_server_open(const struct blz_server_config *cfg, struct blz_server **ret, char *err,
		    size_t errlen)
{
	if (!cfg->seed == !cfg->backend)
		return blz_errf(err, errlen, -EINVAL, "give either a seed or a backend");
	struct blz_server *s = blz_xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	s->home_ns = s->sup_pidfd = -1;
	srv_signals_block(); /* before any thread of the backend's */
	int r;
	if (cfg->seed) {
		r = open_seed(s, err, errlen);
	} else {
		r = blz_backend_open_spec(cfg->backend, &s->backend, err, errlen);
		if (r < 0 && r != -EINVAL)
			blz_errf(err, errlen, r, "cannot open backend '%s': %s", cfg->backend,
				 strerror(-r));
	}
	for (unsigned i = 0; r == 0 && i < cfg->nfilters; i++)
		r = blz_backend_filter_spec(cfg->filters[i], &s->backend, err, errlen);
	if (r < 0) {
		blz_backend_close(s->backend);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

void blz_server_free(struct blz_server *s)
{
	if (!s)
		return;
	blz_backend_close(s->backend); /* a seed's: closes the lazy device */
	srv_sup_release(s);
	if (s->home_ns >= 0)
		close(s->home_ns);
	free(s);
}

void srv_dev_config(const struct blz_server *s, struct blz_ublk_dev_config *cfg)
{
	*cfg = (struct blz_ublk_dev_config){
		.size = s->backend->size,
		.nr_queues = s->cfg.queues,
		.depth = s->cfg.depth,
		.poll_us = s->cfg.poll_us,
		.logical_bs_shift = 12,
		.backend = s->backend,
		.no_read_ahead = s->lazy != NULL, /* unmapped ranges */
		.recoverable = true,
		.fail_io = s->cfg.recovery_timeout_ms == BLZ_RECOVERY_OFF,
		.recorder = s->rec,
		.zero_copy = !s->cfg.no_zero_copy && (s->cfg.zero_copy || blz_ublk_zero_copy_env()),
	};
}

bool srv_recoverable(const struct blz_server_config *cfg)
{
	if (cfg->recovery_timeout_ms != BLZ_RECOVERY_OFF)
		return true;
	struct blz_ublk_ctrl *c;
	uint64_t kf = 0;
	if (blz_ublk_ctrl_open(&c) == 0) {
		if (blz_ublk_ctrl_get_features(c, &kf) < 0)
			kf = 0;
		blz_ublk_ctrl_close(c);
	}
	return blz_ublk_recovery_flags(kf, true) != 0;
}

int srv_ctrl_open(struct blz_ublk_ctrl **ret, char *err, size_t errlen)
{
	int r = blz_ublk_ctrl_open(ret);
	if (r == -ENOENT)
		return blz_errf(err, errlen, r, "cannot open %s: %s (load the ublk_drv module: "
				"modprobe ublk_drv)", BLZ_UBLK_CONTROL_PATH, strerror(-r));
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot open %s: %s", BLZ_UBLK_CONTROL_PATH,
				strerror(-r));
	return 0;
}

int srv_dev_status(uint32_t id, struct blz_ublk_status *st, char *err, size_t errlen)
{
	struct blz_ublk_ctrl *c;
	int r = srv_ctrl_open(&c, err, errlen);
	if (r < 0)
		return r;
	r = blz_ublk_status(c, id, st);
	blz_ublk_ctrl_close(c);
	if (r < 0)
		return blz_errf(err, errlen, r, "no device /dev/ublkb%u: %s", id, strerror(-r));
	return 0;
}
