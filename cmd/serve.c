/* blazy serve: serve a backend as a read-only ublk block device (lib/ublk, lib/backend). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/signalfd.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "cmd.h"
#include "lazy/lazy.h"
#include "mount/ns.h"
#include "server/control.h"
#include "ublk/ublk.h"
#include "util/fileio.h"
#include "util/size.h"
#include "util/strbuf.h"

/* How long the parent of a daemonised server waits for the device to come up. */
#define READY_TIMEOUT_MS (300 * 1000)

struct serve_opts {
	unsigned queues, depth, poll_us;
	bool foreground;
	/* Serving a seed: the lazy device and what the registry records about it. */
	struct blz_lazy *lazy;
	struct blz_reg reg;
};

static int ublk_read_cb(void *ctx, void *buf, uint32_t len, uint64_t off)
{
	return blz_backend_read(ctx, buf, len, off);
}

/* Reports a failure: on stderr (the terminal, or the log of a daemon) and, for a daemon,
 * to the waiting parent through the pipe. Returns 1. */
static int serve_fail(int notify_fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int serve_fail(int notify_fd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	blz_die("%s", msg);
	if (notify_fd >= 0) {
		dprintf(notify_fd, "ERR %s\n", msg);
		close(notify_fd);
	}
	return 1;
}

static void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_msg(const char *fmt, ...)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s blazy serve[%d]: ", ts, (int)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stderr);
}

static void lazy_log(void *ctx, const char *msg)
{
	log_msg("%s", msg);
}

/* The control socket's requests (server/control.h). */
struct ctl_ctx {
	struct blz_ublk_dev *dev;
	const struct serve_opts *o;
	struct blz_ctl_server *ctl;
	bool stop;
};

static void json_u64(struct blz_buf *b, const char *key, uint64_t v, bool comma)
{
	char tmp[96];
	int n = snprintf(tmp, sizeof(tmp), "%s\"%s\":%llu", comma ? "," : "", key,
			 (unsigned long long)v);
	blz_buf_append(b, tmp, (size_t)n);
}

static void status_json(struct ctl_ctx *c, struct blz_buf *b)
{
	const struct blz_ublk_dev_info *info = blz_ublk_dev_info(c->dev);
	struct blz_lazy_stats ls;
	blz_lazy_get_stats(c->o->lazy, &ls);
	char tmp[256];
	int n = snprintf(tmp, sizeof(tmp), "{\"device\":\"/dev/ublkb%u\",\"pid\":%d,\"seed\":",
			 blz_ublk_dev_id(c->dev), (int)getpid());
	blz_buf_append(b, tmp, (size_t)n);
	/* The seed path as a JSON string. */
	blz_buf_append(b, "\"", 1);
	for (const char *p = c->o->reg.seed; *p; p++) {
		if (*p == '"' || *p == '\\')
			blz_buf_append(b, "\\", 1);
		if ((unsigned char)*p < 0x20)
			continue;
		blz_buf_append(b, p, 1);
	}
	blz_buf_append(b, "\"", 1);
	json_u64(b, "size", c->o->lazy ? blz_lazy_backend(c->o->lazy)->size : 0, true);
	json_u64(b, "reads", ls.reads, true);
	json_u64(b, "read_bytes", ls.read_bytes, true);
	json_u64(b, "local_bytes", ls.local_bytes, true);
	json_u64(b, "lazy_bytes", ls.lazy_bytes, true);
	json_u64(b, "zero_bytes", ls.zero_bytes, true);
	json_u64(b, "unmapped", ls.unmapped, true);
	json_u64(b, "errors", ls.errors, true);
	json_u64(b, "store_reads", ls.store_reads, true);
	json_u64(b, "store_bytes", ls.store_bytes, true);
	json_u64(b, "cache_hits", ls.cache_hits, true);
	json_u64(b, "bad_chunks", ls.bad_chunks, true);
	json_u64(b, "map_records", ls.map_records, true);
	json_u64(b, "mapped_bytes", ls.mapped_bytes, true);
	json_u64(b, "fetch_ranges", ls.fetch_ranges, true);
	json_u64(b, "fetch_untracked", ls.fetch_untracked, true);
	uint64_t ok, rej;
	blz_ctl_counts(c->ctl, &ok, &rej);
	json_u64(b, "control_requests", ok, true);
	json_u64(b, "control_rejected", rej, true);
	blz_buf_append(b, ",\"queues\":[", 11);
	for (unsigned q = 0; q < info->nr_hw_queues; q++) {
		struct blz_ublk_qstats qs;
		if (blz_ublk_dev_stats(c->dev, q, &qs) < 0)
			memset(&qs, 0, sizeof(qs));
		blz_buf_append(b, q ? ",{" : "{", q ? 2 : 1);
		json_u64(b, "reads", qs.reads, false);
		json_u64(b, "read_bytes", qs.read_bytes, true);
		json_u64(b, "writes_refused", qs.writes, true);
		json_u64(b, "errors", qs.errors, true);
		json_u64(b, "batches", qs.batches, true);
		json_u64(b, "sleeps", qs.sleeps, true);
		json_u64(b, "poll_hits", qs.poll_hits, true);
		blz_buf_append(b, "}", 1);
	}
	blz_buf_append(b, "]}\n", 3);
}

static int ctl_handler(void *ctx, const char *verb, struct blz_buf *reply, char *msg, size_t len)
{
	struct ctl_ctx *c = ctx;
	if (!strcmp(verb, "status")) {
		status_json(c, reply);
		return 0;
	}
	if (!strcmp(verb, "map")) {
		int r = blz_lazy_refresh(c->o->lazy);
		if (r < 0) {
			snprintf(msg, len, "cannot re-read the map: %s", strerror(-r));
			return r;
		}
		struct blz_lazy_stats ls;
		blz_lazy_get_stats(c->o->lazy, &ls);
		char tmp[64];
		int n = snprintf(tmp, sizeof(tmp), "%llu records\n", (unsigned long long)ls.map_records);
		blz_buf_append(reply, tmp, (size_t)n);
		return 0;
	}
	if (!strcmp(verb, "fetches")) {
		blz_lazy_format_fetches(c->o->lazy, reply);
		return 0;
	}
	if (!strcmp(verb, "stop")) {
		c->stop = true;
		return 0;
	}
	snprintf(msg, len, "unknown request '%.40s' (status, fetches, map, stop)", verb);
	return -EINVAL;
}

static void log_stats(struct blz_ublk_dev *dev)
{
	const struct blz_ublk_dev_info *info = blz_ublk_dev_info(dev);
	for (unsigned q = 0; q < info->nr_hw_queues; q++) {
		struct blz_ublk_qstats s;
		if (blz_ublk_dev_stats(dev, q, &s) < 0)
			continue;
		log_msg("queue %u: %llu reads (%llu bytes), %llu writes and %llu discards refused, "
			"%llu flushes, %llu other, %llu errors; %llu batches, %llu sleeps, "
			"%llu poll hits",
			q, (unsigned long long)s.reads, (unsigned long long)s.read_bytes,
			(unsigned long long)s.writes, (unsigned long long)s.discards,
			(unsigned long long)s.flushes, (unsigned long long)s.others,
			(unsigned long long)s.errors, (unsigned long long)s.batches,
			(unsigned long long)s.sleeps, (unsigned long long)s.poll_hits);
	}
}

static const char *ring_flags_str(unsigned f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", f & IORING_SETUP_COOP_TASKRUN ? " coop_taskrun" : "",
		 f & IORING_SETUP_SINGLE_ISSUER ? " single_issuer" : "",
		 f & IORING_SETUP_DEFER_TASKRUN ? " defer_taskrun" : "",
		 f & IORING_SETUP_TASKRUN_FLAG ? " taskrun_flag" : "", f ? "" : " none");
	return buf;
}

/*
 * Creates the device, reports it ready (stdout, or "OK PATH" on notify_fd), serves until
 * SIGTERM/SIGINT/SIGHUP, and takes the device down. Returns the exit status.
 */
static int serve_run(struct blz_backend *b, struct serve_opts *o, int notify_fd)
{
	/* Started as /proc/self/exe by blazy mount, the process would be named "exe" (ps,
	 * pidof, pkill): name it after the program. */
	prctl(PR_SET_NAME, "blazy", 0, 0, 0);
	/* The server must not share a mount namespace with the users of its own disk:
	 * otherwise an unmount at its exit could wait on I/O that only it would serve. */
	if (unshare(CLONE_NEWNS) < 0)
		return serve_fail(notify_fd, "cannot enter a private mount namespace: %s",
				  strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return serve_fail(notify_fd, "cannot make the mounts private: %s", strerror(errno));
	/* The copy holds every filesystem that was mounted, so that a disk unmounted elsewhere
	 * would stay in use until the server exits: keep only what the server opens by path. */
	const char *need[8] = { BLZ_RUN_DIR, "/dev", "/proc", "/sys" };
	size_t nneed = 4;
	if (o->lazy) {
		need[nneed++] = o->reg.seed;
		need[nneed++] = o->reg.map;
		need[nneed++] = o->reg.store;
	}
	int pruned = blz_mount_prune(need, nneed);
	if (pruned < 0) {
		log_msg("warning: cannot tell which mounts the server needs (%s): keeping them all",
			strerror(-pruned));
		pruned = 0;
	}

	/* Signals are taken with sigtimedwait by this thread; the queue threads block them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct blz_ublk_ctrl *probe;
	int r = blz_ublk_ctrl_open(&probe);
	if (r == -ENOENT)
		return serve_fail(notify_fd,
				  "cannot open %s: %s (load the ublk_drv module: modprobe ublk_drv)",
				  BLZ_UBLK_CONTROL_PATH, strerror(-r));
	if (r < 0)
		return serve_fail(notify_fd, "cannot open %s: %s", BLZ_UBLK_CONTROL_PATH,
				  strerror(-r));
	blz_ublk_ctrl_close(probe);

	struct blz_ublk_dev_config cfg = {
		.size = b->size,
		.nr_queues = o->queues,
		.depth = o->depth,
		.poll_us = o->poll_us,
		.logical_bs_shift = 12,
		.no_read_ahead = o->lazy != NULL, /* unmapped ranges */
		.read = ublk_read_cb,
		.ctx = b,
	};
	struct blz_ublk_dev *dev;
	r = blz_ublk_dev_create(&cfg, &dev);
	if (r < 0)
		return serve_fail(notify_fd, "cannot create the ublk device: %s", strerror(-r));
	const struct blz_ublk_dev_info *info = blz_ublk_dev_info(dev);
	uint32_t id = blz_ublk_dev_id(dev);
	if (o->queues && info->nr_hw_queues < o->queues)
		log_msg("the kernel capped the queues at %u (asked for %u)", info->nr_hw_queues,
			o->queues);
	r = blz_ublk_dev_start(dev);
	if (r < 0) {
		blz_ublk_dev_free(dev);
		return serve_fail(notify_fd, "cannot start the ublk device %u: %s", id, strerror(-r));
	}

	char path[64], sz[32], rf[64];
	snprintf(path, sizeof(path), "/dev/ublkb%u", id);
	log_msg("%s ready: %s, backend %s, %u queues x depth %u, max I/O %u KiB, ublk features "
		"0x%llx, device flags 0x%llx, %s opcodes, ring flags:%s, poll %u µs; %d mount%s "
		"not needed left out of its mount namespace",
		path, blz_format_size(b->size, sz, sizeof(sz)), b->ops->name, info->nr_hw_queues,
		info->queue_depth, info->max_io_buf_bytes >> 10,
		(unsigned long long)blz_ublk_dev_features(dev), (unsigned long long)info->flags,
		blz_ublk_dev_legacy(dev) ? "legacy" : "ioctl-encoded",
		ring_flags_str(blz_ublk_dev_ring_flags(dev), rf, sizeof(rf)),
		blz_ublk_dev_poll_us(dev), pruned, pruned == 1 ? "" : "s");
	/* Register and open the control socket (seed servers) before reporting ready: whoever
	 * started the server may look it up, map through it or stop it at once. */
	struct ctl_ctx cc = { .dev = dev, .o = o };
	if (o->lazy) {
		char sock[128];
		o->reg.dev_id = id;
		o->reg.pid = getpid();
		blz_reg_sock_path(id, sock, sizeof(sock));
		r = blz_ctl_listen(sock, o->reg.owner, &cc.ctl);
		if (r >= 0)
			r = blz_reg_write(&o->reg);
		if (r < 0) {
			if (cc.ctl) {
				blz_ctl_close(cc.ctl);
				blz_reg_remove(id);
			}
			blz_ublk_dev_stop(dev);
			blz_ublk_dev_free(dev);
			return serve_fail(notify_fd, "cannot register the server in %s: %s",
					  BLZ_RUN_DIR, strerror(-r));
		}
		if (blz_lazy_dropped_tail(o->lazy))
			log_msg("warning: dropped a torn record (%llu bytes) at the end of the map",
				(unsigned long long)blz_lazy_dropped_tail(o->lazy));
	}
	if (notify_fd >= 0) {
		dprintf(notify_fd, "OK %s\n", path);
		close(notify_fd);
	} else {
		printf("%s\n", path);
		fflush(stdout);
	}
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	int status = 0;
	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
				       { .fd = cc.ctl ? blz_ctl_fd(cc.ctl) : -1, .events = POLLIN } };
		int pr = poll(p, 2, 1000);
		if (pr < 0 && errno != EINTR) {
			log_msg("poll: %s", strerror(errno));
			break;
		}
		if (pr > 0 && (p[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGUSR1) {
					log_stats(dev);
				} else {
					log_msg("%s received, stopping %s", strsignal((int)si.ssi_signo), path);
					break;
				}
			}
		}
		if (pr > 0 && cc.ctl && (p[1].revents & POLLIN)) {
			blz_ctl_serve_one(cc.ctl, ctl_handler, &cc);
			if (cc.stop) {
				log_msg("stop requested over the control socket, stopping %s", path);
				break;
			}
		}
		int err = blz_ublk_dev_error(dev);
		if (err) {
			log_msg("%s stopped serving: %s", path, strerror(-err));
			status = 1;
			break;
		}
	}
	if (sfd >= 0)
		close(sfd);
	if (cc.ctl) {
		blz_ctl_close(cc.ctl);
		blz_reg_remove(id);
	}
	r = blz_ublk_dev_stop(dev);
	log_stats(dev);
	blz_ublk_dev_free(dev);
	if (r == -EBUSY) {
		log_msg("%s deleted, but its disk is still open somewhere: the kernel frees it on "
			"the last close", path);
		return status;
	}
	if (r < 0) {
		blz_die("stopping %s: %s", path, strerror(-r));
		return 1;
	}
	log_msg("%s stopped and deleted", path);
	return status;
}

/* Forks the server; returns in the parent once it reports the device ready (0) or fails. */
static int serve_daemon(struct blz_backend *b, struct serve_opts *o, int log_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return blz_die("cannot create a pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return blz_die("cannot fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(log_fd >= 0 ? log_fd : null, STDOUT_FILENO);
			dup2(log_fd >= 0 ? log_fd : null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		if (log_fd > STDERR_FILENO)
			close(log_fd);
		if (chdir("/") < 0)
			_exit(serve_fail(p[1], "cannot chdir to /: %s", strerror(errno)));
		int rc = serve_run(b, o, p[1]);
		blz_backend_close(b);
		fflush(NULL);
		_exit(rc);
	}
	close(p[1]);
	if (log_fd >= 0)
		close(log_fd);

	char buf[600];
	ssize_t got = blz_read_deadline(p[0], buf, sizeof(buf), READY_TIMEOUT_MS, 1);
	close(p[0]);
	if (got == -ETIMEDOUT) {
		kill(pid, SIGTERM);
		return blz_die("the server (pid %d) did not report the device ready in %d s",
			       (int)pid, READY_TIMEOUT_MS / 1000);
	}
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
	if (!strncmp(buf, "OK ", 3)) {
		printf("%s\n", buf + 3);
		return 0;
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (!strncmp(buf, "ERR ", 4))
		return blz_die("%s", buf + 4);
	if (WIFSIGNALED(st))
		return blz_die("the server was killed by %s before the device was ready",
			       strsignal(WTERMSIG(st)));
	return blz_die("the server exited (status %d) before the device was ready",
		       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static int parse_count(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int cmd_serve(const struct blz_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "queues", required_argument, NULL, 'q' },
		{ "depth", required_argument, NULL, 'd' },
		{ "poll", required_argument, NULL, 'p' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "log", required_argument, NULL, 'l' },
		{ "map", required_argument, NULL, 'm' },
		{ "store", required_argument, NULL, 's' },
		{ "cache", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct serve_opts o = { 0 };
	const char *spec = NULL, *log_path = NULL;
	struct blz_lazy_opts lo = { .log = lazy_log };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			spec = optarg;
			break;
		case 'q':
			if (parse_count(optarg, 1, BLZ_UBLK_MAX_NR_QUEUES, &o.queues) < 0)
				return blz_misuse(cmd, "invalid --queues '%s' (want 1 to %u)", optarg,
						  BLZ_UBLK_MAX_NR_QUEUES);
			break;
		case 'd':
			if (parse_count(optarg, 1, BLZ_UBLK_MAX_QUEUE_DEPTH, &o.depth) < 0)
				return blz_misuse(cmd, "invalid --depth '%s' (want 1 to %u)", optarg,
						  BLZ_UBLK_MAX_QUEUE_DEPTH);
			break;
		case 'p':
			if (parse_count(optarg, 0, BLZ_UBLK_MAX_POLL_US, &o.poll_us) < 0)
				return blz_misuse(cmd, "invalid --poll '%s' (want 0 to %u µs)", optarg,
						  BLZ_UBLK_MAX_POLL_US);
			if (o.poll_us == 0)
				o.poll_us = BLZ_UBLK_POLL_NEVER;
			break;
		case 'F':
			o.foreground = true;
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'm':
			lo.map_path = optarg;
			break;
		case 's':
			lo.store_dir = optarg;
			break;
		case 'c': {
			uint64_t v;
			if (blz_parse_size(optarg, &v) < 0 || v < (4u << 20) || v > (64ull << 30))
				return blz_misuse(cmd, "invalid --cache '%s' (4M to 64G)", optarg);
			lo.cache_bytes = (size_t)v;
			break;
		}
		case ':':
			return blz_misuse(cmd, "option '%s' needs a value", argv[optind - 1]);
		default:
			return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	const char *seed = optind < argc ? argv[optind] : NULL;
	if (seed && spec)
		return blz_misuse(cmd, "give either SEED or --backend, not both");
	if (!seed && !spec)
		return blz_misuse(cmd, "give a SEED to serve or --backend SPEC");
	if (!seed && (lo.map_path || lo.store_dir || lo.cache_bytes))
		return blz_misuse(cmd, "--map, --store and --cache apply to serving a SEED");
	if (log_path && o.foreground)
		return blz_misuse(cmd, "--log is for a daemon (without --foreground)");

	struct blz_backend *b;
	char err[768] = "";
	if (seed) {
		/* Open everything before forking, so that a bad seed, map or store is reported
		 * here with exit 1 and no device is ever created. */
		struct stat st;
		if (!realpath(seed, o.reg.seed))
			return blz_die("cannot open '%s': %s", seed, strerror(errno));
		if (stat(o.reg.seed, &st) < 0)
			return blz_die("cannot stat '%s': %s", seed, strerror(errno));
		o.reg.owner = st.st_uid;
		if (snprintf(o.reg.map, sizeof(o.reg.map), "%s%s", lo.map_path ? lo.map_path : o.reg.seed,
			     lo.map_path ? "" : ".map") >= (int)sizeof(o.reg.map) ||
		    snprintf(o.reg.store, sizeof(o.reg.store), "%s%s",
			     lo.store_dir ? lo.store_dir : o.reg.seed,
			     lo.store_dir ? "" : ".store") >= (int)sizeof(o.reg.store))
			return blz_die("the path of '%s' is too long", seed);
		lo.seed = o.reg.seed;
		r = blz_lazy_open(&lo, &o.lazy, err, sizeof(err));
		if (r < 0)
			return blz_die("%s", err);
		b = blz_lazy_backend(o.lazy);
		/* Absolute paths for the registry (the daemon changes directory). */
		char abs[4096];
		if (realpath(o.reg.map, abs))
			snprintf(o.reg.map, sizeof(o.reg.map), "%s", abs);
		if (realpath(o.reg.store, abs))
			snprintf(o.reg.store, sizeof(o.reg.store), "%s", abs);
	} else {
		r = blz_backend_open_spec(spec, &b, err, sizeof(err));
		if (r == -EINVAL)
			return blz_misuse(cmd, "bad --backend '%s': %s", spec, err);
		if (r < 0)
			return blz_die("cannot open backend '%s': %s", spec, strerror(-r));
	}

	if (o.foreground) {
		r = serve_run(b, &o, -1);
		blz_backend_close(b);
		return r;
	}
	int log_fd = -1;
	if (log_path) {
		log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			blz_backend_close(b);
			return blz_die("cannot open '%s': %s", log_path, strerror(errno));
		}
	}
	r = serve_daemon(b, &o, log_fd);
	blz_backend_close(b);
	return r;
}
