/* Running a server: its mount namespace, the device, the signal and control loop. */
#include "server/internal.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "util/size.h"
#include "util/strbuf.h"

static const char *ring_flags_str(unsigned f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", f & IORING_SETUP_COOP_TASKRUN ? " coop_taskrun" : "",
		 f & IORING_SETUP_SINGLE_ISSUER ? " single_issuer" : "",
		 f & IORING_SETUP_DEFER_TASKRUN ? " defer_taskrun" : "",
		 f & IORING_SETUP_TASKRUN_FLAG ? " taskrun_flag" : "", f ? "" : " none");
	return buf;
}

/* Creates and starts the device (s->dev). -errno with err. */
static int start_device(struct blz_server *s, int pruned, char *err, size_t errlen)
{
	struct blz_ublk_ctrl *probe;
	int r = srv_ctrl_open(&probe, err, errlen);
	if (r < 0)
		return r;
	blz_ublk_ctrl_close(probe);
	struct blz_ublk_dev_config cfg;
	srv_dev_config(s, &cfg);
	if (s->cfg.recover)
		return srv_take_over(s, &cfg, err, errlen);
	r = blz_ublk_dev_create(&cfg, &s->dev);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot create the ublk device: %s", strerror(-r));
	const struct blz_ublk_dev_info *info = blz_ublk_dev_info(s->dev);
	uint32_t id = blz_ublk_dev_id(s->dev);
	if (s->cfg.queues && info->nr_hw_queues < s->cfg.queues)
		srv_log(s, "the kernel capped the queues at %u (asked for %u)", info->nr_hw_queues,
			s->cfg.queues);
	r = blz_ublk_dev_start(s->dev);
	if (r < 0) {
		blz_ublk_dev_free(s->dev);
		s->dev = NULL;
		return blz_errf(err, errlen, r, "cannot start the ublk device %u: %s", id,
				strerror(-r));
	}
	char sz[32], rf[64];
	srv_log(s, "/dev/ublkb%u ready: %s, backend %s, %u queues x depth %u, max I/O %u KiB, "
		"ublk features 0x%llx, device flags 0x%llx, %s opcodes, %s I/O commands%s, ring flags:%s, "
		"poll %u µs, zero copy %s; "
		"%d mount%s not needed left out of its mount namespace",
		id, blz_format_size(s->backend->size, sz, sizeof(sz)), s->backend->ops->name,
		info->nr_hw_queues, info->queue_depth, info->max_io_buf_bytes >> 10,
		(unsigned long long)blz_ublk_dev_features(s->dev), (unsigned long long)info->flags,
		blz_ublk_dev_legacy(s->dev) ? "legacy" : "ioctl-encoded",
		blz_ublk_dev_batch(s->dev) ? "batched" : "per-tag",
		blz_ublk_dev_pinned(s->dev) ? " (threads pinned to their queues' CPUs)" : "",
		ring_flags_str(blz_ublk_dev_ring_flags(s->dev), rf, sizeof(rf)),
		blz_ublk_dev_poll_us(s->dev),
		blz_ublk_dev_zero_copy(s->dev) ? "on (auto buffer registration)" : "off", pruned,
		pruned == 1 ? "" : "s");
	return 0;
}

/* Every server: the control socket and the registry entry, before reporting ready (whoever
 * started the server may look it up, ask its status, start its request log, map through
 * it (a seed server) or stop it at once). A server of another backend has no seed, map
 * or fsid in its entry. */
static int register_server(struct blz_server *s, char *err, size_t errlen)
{
	uint32_t id = blz_ublk_dev_id(s->dev);
	char sock[128];
	s->reg.dev_id = id;
	s->reg.pid = getpid();
	if (s->lazy) {
		const uint8_t *fsid = blz_lazy_fsid(s->lazy);
		for (unsigned i = 0; i < 16; i++)
			snprintf(s->reg.fsid + 2 * i, 3, "%02x", fsid[i]);
	}
	blz_reg_sock_path(id, sock, sizeof(sock));
	int r = blz_ctl_listen(sock, s->reg.owner, &s->ctl);
	if (r >= 0)
		r = blz_reg_write(&s->reg);
	if (r < 0) {
		if (s->ctl) {
			blz_ctl_close(s->ctl);
			s->ctl = NULL;
			blz_reg_remove(id);
		}
		return blz_errf(err, errlen, r, "cannot register the server in %s: %s", BLZ_RUN_DIR,
				strerror(-r));
	}
	if (s->lazy && blz_lazy_dropped_tail(s->lazy))
		srv_log(s, "warning: dropped a torn record (%llu bytes) at the end of the map",
			(unsigned long long)blz_lazy_dropped_tail(s->lazy));
	return 0;
}

/* Serves until told to stop: 0, or -errno when the device stopped serving on its own. */
static int serve_loop(struct blz_server *s, int sfd, char *err, size_t errlen)
{
	uint32_t id = blz_ublk_dev_id(s->dev);
	for (;;) {
		int wfd = srv_sup_watch_fd(s);
		struct pollfd p[3] = { { .fd = sfd, .events = POLLIN },
				       { .fd = s->ctl ? blz_ctl_fd(s->ctl) : -1, .events = POLLIN },
				       { .fd = wfd, .events = POLLIN } };
		int pr = poll(p, 3, 1000);
		if (pr < 0 && errno != EINTR) {
			srv_log(s, "poll: %s", strerror(errno));
			return 0;
		}
		int sig = pr > 0 && (p[0].revents & POLLIN) ? srv_signal_read(sfd) : 0;
		if (sig == SIGUSR1) {
			srv_log_stats(s);
		} else if (sig == SIGUSR2) {
			srv_log(s, "handing /dev/ublkb%u over to a new server", id);
			return BLZ_SERVER_HANDOVER;
		} else if (sig) {
			srv_log(s, "%s received, stopping /dev/ublkb%u", strsignal(sig), id);
			return 0;
		}
		if (pr > 0 && s->ctl && (p[1].revents & POLLIN)) {
			blz_ctl_serve_one(s->ctl, srv_ctl_handler, s);
			if (s->stop_requested) {
				srv_log(s, "stop requested over the control socket, stopping "
					"/dev/ublkb%u", id);
				return 0;
			}
		}
		if (pr > 0 && wfd >= 0 && (p[2].revents & POLLIN))
			srv_sup_event(s); /* the supervisor died */
		int e = blz_ublk_dev_error(s->dev);
		if (e) {
			srv_log(s, "/dev/ublkb%u stopped serving: %s", id, strerror(-e));
			return blz_errf(err, errlen, e, "/dev/ublkb%u stopped serving: %s", id,
					strerror(-e));
		}
	}
}

/* Unregisters, stops and deletes the device. Keeps the first error in rc. */
static int take_down(struct blz_server *s, int rc, char *err, size_t errlen)
{
	uint32_t id = blz_ublk_dev_id(s->dev);
	if (s->ctl) {
		blz_ctl_close(s->ctl);
		s->ctl = NULL;
		blz_reg_remove(id);
	}
	int r = blz_ublk_dev_stop(s->dev);
	srv_log_stats(s);
	blz_ublk_dev_free(s->dev);
	s->dev = NULL;
	srv_log_requests_stop(s);
	blz_recorder_free(s->rec);
	s->rec = NULL;
	if (r == -EBUSY)
		srv_log(s, "/dev/ublkb%u deleted, but its disk is still open somewhere: the kernel "
			"frees it on the last close", id);
	else if (r < 0 && rc == 0)
		return blz_errf(err, errlen, r, "stopping /dev/ublkb%u: %s", id, strerror(-r));
	else if (r == 0)
		srv_log(s, "/dev/ublkb%u stopped and deleted", id);
	return rc;
}

int blz_server_run(struct blz_server *s, blz_server_ready_fn ready, void *ctx, char *err,
		   size_t errlen)
{
	/* Started by fork from blazy mount, the process would be named after it: name it
	 * after the program. */
	prctl(PR_SET_NAME, "blazy", 0, 0, 0);
	int r = srv_recorder_open(s, err, errlen); /* the log file before the namespace */
	if (r < 0)
		return r;
	int pruned = srv_enter_namespace(s, err, errlen);
	int sfd = pruned < 0 ? pruned : srv_log_requests_start(s, err, errlen);
	if (sfd == 0)
		sfd = srv_signals_open(err, errlen);
	if (sfd < 0) {
		srv_log_requests_stop(s);
		blz_recorder_free(s->rec);
		s->rec = NULL;
		return sfd;
	}
	r = start_device(s, pruned, err, errlen);
	if (r == 0) {
		r = register_server(s, err, errlen);
		if (r < 0) {
			blz_ublk_dev_stop(s->dev);
			blz_ublk_dev_free(s->dev);
			s->dev = NULL;
		}
	}
	if (r < 0) {
		close(sfd);
		srv_log_requests_stop(s);
		blz_recorder_free(s->rec);
		s->rec = NULL;
		return r;
	}
	if (ready)
		ready(ctx, blz_ublk_dev_id(s->dev));
	r = serve_loop(s, sfd, err, errlen);
	close(sfd);
	srv_sup_release(s);
	if (r == BLZ_SERVER_HANDOVER) {
		/* The successor finds the registry entry and the device (quiesced) as they are. */
		int q = blz_ublk_dev_quiesce(s->dev);
		if (q < 0 && q != -EOPNOTSUPP)
			srv_log(s, "QUIESCE_DEV: %s (exiting is the handover)", strerror(-q));
		return r;
	}
	return take_down(s, r, err, errlen);
}
