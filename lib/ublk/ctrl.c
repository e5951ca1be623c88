/* ublk control commands on /dev/ublk-control, device enumeration and status. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ublk/ublk.h"
#include "util/clock.h"

struct blz_ublk_ctrl {
	int fd;
	struct io_uring ring;
	bool ring_ok;
	bool legacy;
	int kver;
	unsigned timeout_ms;
	uint64_t seq;
	uint64_t features; /* GET_FEATURES, once features_known */
	bool features_known;
};

/* How each command is encoded: its number, the ioctl direction, and whether a legacy
 * (raw number) form exists. */
struct ctrl_op {
	unsigned nr;
	bool read_only; /* _IOR rather than _IOWR */
	bool encoded_only;
};

static const struct ctrl_op op_get_dev_info = { BLZ_UBLK_CMD_GET_DEV_INFO, true, false };
static const struct ctrl_op op_add_dev = { BLZ_UBLK_CMD_ADD_DEV, false, false };
static const struct ctrl_op op_del_dev = { BLZ_UBLK_CMD_DEL_DEV, false, false };
static const struct ctrl_op op_start_dev = { BLZ_UBLK_CMD_START_DEV, false, false };
static const struct ctrl_op op_stop_dev = { BLZ_UBLK_CMD_STOP_DEV, false, false };
static const struct ctrl_op op_set_params = { BLZ_UBLK_CMD_SET_PARAMS, false, false };
static const struct ctrl_op op_get_params = { BLZ_UBLK_CMD_GET_PARAMS, true, false };
static const struct ctrl_op op_get_features = { BLZ_UBLK_CMD_GET_FEATURES, true, true };
static const struct ctrl_op op_start_recovery = { BLZ_UBLK_CMD_START_USER_RECOVERY, false, false };
static const struct ctrl_op op_end_recovery = { BLZ_UBLK_CMD_END_USER_RECOVERY, false, false };
static const struct ctrl_op op_quiesce_dev = { BLZ_UBLK_CMD_QUIESCE_DEV, false, true };
static const struct ctrl_op op_get_queue_affinity = { BLZ_UBLK_CMD_GET_QUEUE_AFFINITY, true,
							  false };
static const struct ctrl_op op_try_stop_dev = { BLZ_UBLK_CMD_TRY_STOP_DEV, false, true };

int blz_ublk_parse_kernel_version(const char *release)
{
	char *end;
	if (!release || !isdigit((unsigned char)*release))
		return -EINVAL;
	errno = 0;
	unsigned long major = strtoul(release, &end, 10);
	if (errno || *end != '.' || !isdigit((unsigned char)end[1]) || major > 1000)
		return -EINVAL;
	unsigned long minor = strtoul(end + 1, &end, 10);
	if (errno || minor > 999)
		return -EINVAL;
	return (int)(major * 1000 + minor);
}

static int ring_setup(struct blz_ublk_ctrl *c)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQE128;
	int r = io_uring_queue_init_params(4, &c->ring, &p);
	if (r < 0)
		return r;
	c->ring_ok = true;
	return 0;
}

/* After a timed-out command the kernel may still complete it later: forget the ring
 * (closing it cancels what is pending) so that a stale completion is never taken for the
 * answer to a later command. */
static void ring_reset(struct blz_ublk_ctrl *c)
{
	if (c->ring_ok)
		io_uring_queue_exit(&c->ring);
	c->ring_ok = false;
}

static uint32_t encode_op(const struct blz_ublk_ctrl *c, const struct ctrl_op *op)
{
	if (c->legacy)
		return op->nr;
	return op->read_only ? _IOC(_IOC_READ, 'u', op->nr, sizeof(struct blz_ublk_ctrl_cmd))
			     : _IOC(_IOC_READ | _IOC_WRITE, 'u', op->nr,
				    sizeof(struct blz_ublk_ctrl_cmd));
}

/*
 * Sends one command and waits for its completion, at most timeout_ms. buf (len bytes) is
 * copied to a bounce buffer that the kernel reads and writes, and copied back on
 * completion; after a timeout the bounce buffer is abandoned to the kernel (leaked) rather
 * than freed under it.
 *
 * DEL_DEV deletes at once and then waits in the kernel until the last reference to the
 * disk is gone (a mount holds it open: for ever). Once the character device has been gone
 * for DEL_HELD_MS, only that wait is left: it ends early with -ETIMEDOUT, as a timeout
 * would, instead of holding the caller (a stopping server, blazy stop) to the timeout.
 */
#define DEL_HELD_MS 1000 /* as blz_ublk_wait_gone: the number is normally freed at once */
#define DEL_POLL_MS 50

static int ctrl_cmd_once(struct blz_ublk_ctrl *c, const struct ctrl_op *op, uint32_t dev_id,
			 void *buf, uint16_t len, uint64_t data0, unsigned timeout_ms)
{
	if (!c->ring_ok) {
		int r = ring_setup(c);
		if (r < 0)
			return r;
	}
	void *bounce = NULL;
	if (len) {
		bounce = calloc(1, len);
		if (!bounce)
			return -ENOMEM;
		memcpy(bounce, buf, len);
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
	if (!sqe) {
		free(bounce);
		return -EBUSY;
	}
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = c->fd;
	sqe->cmd_op = encode_op(c, op);
	sqe->user_data = ++c->seq;
	struct blz_ublk_ctrl_cmd *cmd = (struct blz_ublk_ctrl_cmd *)sqe->cmd;
	cmd->dev_id = dev_id;
	cmd->queue_id = 0xffff;
	cmd->len = len;
	cmd->addr = (uint64_t)(uintptr_t)bounce;
	cmd->data[0] = data0;

	int r = io_uring_submit(&c->ring);
	if (r != 1) {
		free(bounce);
		ring_reset(c);
		return r < 0 ? r : -EIO;
	}
	uint64_t deadline = blz_now_ms() + timeout_ms, deleted_at = 0;
	bool del = op == &op_del_dev;
	for (;;) {
		struct io_uring_cqe *cqe;
		uint64_t now = blz_now_ms();
		if (del && !deleted_at && !blz_ublk_char_dev_present(dev_id))
			deleted_at = now;
		if (now >= deadline || (deleted_at && now - deleted_at >= DEL_HELD_MS)) {
			ring_reset(c); /* bounce stays with the kernel */
			return -ETIMEDOUT;
		}
		uint64_t left = deadline - now;
		if (del && left > DEL_POLL_MS)
			left = DEL_POLL_MS;
		struct __kernel_timespec ts = { .tv_sec = (long long)(left / 1000),
						.tv_nsec = (long long)(left % 1000) * 1000000 };
		r = io_uring_wait_cqe_timeout(&c->ring, &cqe, &ts);
		if (r == -EINTR || r == -ETIME || r == -EAGAIN)
			continue;
		if (r < 0) {
			ring_reset(c);
			return r;
		}
		if (cqe->user_data != c->seq) { /* not ours (cannot happen): skip it */
			io_uring_cqe_seen(&c->ring, cqe);
			continue;
		}
		r = cqe->res;
		io_uring_cqe_seen(&c->ring, cqe);
		break;
	}
	if (r >= 0 && len)
		memcpy(buf, bounce, len);
	free(bounce);
	return r;
}

static int ctrl_cmd(struct blz_ublk_ctrl *c, const struct ctrl_op *op, uint32_t dev_id, void *buf,
		    uint16_t len, uint64_t data0, unsigned timeout_ms)
{
	if (op->encoded_only && c->legacy)
		return -EOPNOTSUPP;
	int r = ctrl_cmd_once(c, op, dev_id, buf, len, data0, timeout_ms);
	/* 6.4.0 inverted the check that accepts encoded opcodes (fixed in 6.4.y): there,
	 * fall back to the legacy numbers for good. */
	if (r == -EOPNOTSUPP && !c->legacy && !op->encoded_only && c->kver > 0 && c->kver < 6005) {
		c->legacy = true;
		r = ctrl_cmd_once(c, op, dev_id, buf, len, data0, timeout_ms);
	}
	return r;
}

int blz_ublk_ctrl_open(struct blz_ublk_ctrl **ret)
{
	struct blz_ublk_ctrl *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->timeout_ms = BLZ_UBLK_CTRL_TIMEOUT_MS;
	c->fd = open(BLZ_UBLK_CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (c->fd < 0) {
		int r = -errno;
		free(c);
		return r;
	}
	struct utsname u;
	c->kver = uname(&u) == 0 ? blz_ublk_parse_kernel_version(u.release) : -EINVAL;
	/* Encoded opcodes exist from 6.4; some kernels (CONFIG_BLKDEV_UBLK_LEGACY_OPCODES=n)
	 * accept nothing else. An unparsable release is taken to be a new kernel. */
	c->legacy = c->kver > 0 && c->kver < 6004;
	/* Test hook: force one opcode style (a kernel with legacy opcodes accepts both). */
	const char *force = getenv("BLAZY_UBLK_OPCODES");
	if (force && !strcmp(force, "legacy"))
		c->legacy = true;
	else if (force && !strcmp(force, "encoded"))
		c->legacy = false;
	int r = ring_setup(c);
	if (r < 0) {
		close(c->fd);
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void blz_ublk_ctrl_close(struct blz_ublk_ctrl *c)
{
	if (!c)
		return;
	ring_reset(c);
	close(c->fd);
	free(c);
}

void blz_ublk_ctrl_set_timeout(struct blz_ublk_ctrl *c, unsigned ms)
{
	c->timeout_ms = ms ? ms : BLZ_UBLK_CTRL_TIMEOUT_MS;
}

bool blz_ublk_ctrl_legacy(const struct blz_ublk_ctrl *c)
{
	return c->legacy;
}

int blz_ublk_ctrl_kernel_version(const struct blz_ublk_ctrl *c)
{
	return c->kver;
}

int blz_ublk_ctrl_get_features(struct blz_ublk_ctrl *c, uint64_t *ret)
{
	if (c->kver > 0 && c->kver < 6005)
		return -EOPNOTSUPP;
	if (!c->features_known) {
		uint64_t f = 0;
		int r = ctrl_cmd(c, &op_get_features, 0, &f, BLZ_UBLK_FEATURES_LEN, 0,
				 c->timeout_ms);
		if (r == -EINVAL)
			r = -EOPNOTSUPP; /* a kernel without the command */
		if (r < 0)
			return r;
		c->features = f;
		c->features_known = true;
	}
	*ret = c->features;
	return 0;
}

int blz_ublk_ctrl_add_dev(struct blz_ublk_ctrl *c, struct blz_ublk_dev_info *info)
{
	uint64_t kf;
	if (blz_ublk_ctrl_get_features(c, &kf) < 0)
		kf = 0;
	info->flags |= blz_ublk_features_request(kf, c->legacy, blz_ublk_part_scan_forced());
	return ctrl_cmd(c, &op_add_dev, info->dev_id, info, sizeof(*info), 0, c->timeout_ms);
}

int blz_ublk_ctrl_set_params(struct blz_ublk_ctrl *c, uint32_t id, const struct blz_ublk_params *p)
{
	struct blz_ublk_params tmp = *p;
	if (!tmp.len)
		tmp.len = offsetof(struct blz_ublk_params, devt);
	return ctrl_cmd(c, &op_set_params, id, &tmp, (uint16_t)tmp.len, 0, c->timeout_ms);
}

int blz_ublk_ctrl_get_params(struct blz_ublk_ctrl *c, uint32_t id, struct blz_ublk_params *ret)
{
	struct blz_ublk_params p;
	memset(&p, 0, sizeof(p));
	p.len = sizeof(p);
	int r = ctrl_cmd(c, &op_get_params, id, &p, sizeof(p), 0, c->timeout_ms);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

int blz_ublk_ctrl_get_queue_affinity(struct blz_ublk_ctrl *c, uint32_t id, unsigned q, void *mask,
				     size_t len)
{
	if (len == 0 || len > UINT16_MAX || len % 8)
		return -EINVAL;
	memset(mask, 0, len);
	int r = ctrl_cmd(c, &op_get_queue_affinity, id, mask, (uint16_t)len, q, c->timeout_ms);
	return r < 0 ? r : 0;
}

int blz_ublk_ctrl_get_info(struct blz_ublk_ctrl *c, uint32_t id, struct blz_ublk_dev_info *ret)
{
	struct blz_ublk_dev_info info;
	memset(&info, 0, sizeof(info));
	int r = ctrl_cmd(c, &op_get_dev_info, id, &info, sizeof(info), 0, c->timeout_ms);
	if (r < 0)
		return r;
	*ret = info;
	return 0;
}

/* START_DEV scans partitions through the queues and STOP_DEV drains in-flight I/O: both
 * may take a while on a slow (emulated) machine. */
static unsigned long_timeout(const struct blz_ublk_ctrl *c)
{
	return c->timeout_ms * 2;
}

int blz_ublk_ctrl_start_dev(struct blz_ublk_ctrl *c, uint32_t id, pid_t pid)
{
	return ctrl_cmd(c, &op_start_dev, id, NULL, 0, (uint64_t)pid, long_timeout(c));
}

int blz_ublk_ctrl_stop_dev(struct blz_ublk_ctrl *c, uint32_t id)
{
	return ctrl_cmd(c, &op_stop_dev, id, NULL, 0, 0, long_timeout(c));
}

int blz_ublk_ctrl_try_stop_dev(struct blz_ublk_ctrl *c, uint32_t id)
{
	if (c->legacy)
		return -EOPNOTSUPP;
	return ctrl_cmd(c, &op_try_stop_dev, id, NULL, 0, 0, long_timeout(c));
}

int blz_ublk_ctrl_del_dev(struct blz_ublk_ctrl *c, uint32_t id)
{
	return ctrl_cmd(c, &op_del_dev, id, NULL, 0, 0, c->timeout_ms);
}

int blz_ublk_ctrl_start_recovery(struct blz_ublk_ctrl *c, uint32_t id)
{
	return ctrl_cmd(c, &op_start_recovery, id, NULL, 0, 0, c->timeout_ms);
}

int blz_ublk_ctrl_end_recovery(struct blz_ublk_ctrl *c, uint32_t id, pid_t pid)
{
	return ctrl_cmd(c, &op_end_recovery, id, NULL, 0, (uint64_t)pid, long_timeout(c));
}

int blz_ublk_ctrl_quiesce_dev(struct blz_ublk_ctrl *c, uint32_t id, unsigned ms)
{
	return ctrl_cmd(c, &op_quiesce_dev, id, NULL, 0, ms, c->timeout_ms + ms);
}

/* ---- enumeration and status ---- */

static int parse_u32(const char *s, uint32_t *ret)
{
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	uint64_t v = 0;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX - 1)
			return -ERANGE;
	}
	*ret = (uint32_t)v;
	return 0;
}

int blz_ublk_parse_dev(const char *s, uint32_t *ret_id)
{
	if (!s)
		return -EINVAL;
	if (!strncmp(s, "/dev/", 5))
		s += 5;
	if (!strncmp(s, "ublkb", 5) || !strncmp(s, "ublkc", 5))
		s += 5;
	return parse_u32(s, ret_id) < 0 ? -EINVAL : 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int scan_dir(const char *dir, uint32_t **ids, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		uint32_t id;
		if (strncmp(e->d_name, "ublkc", 5) || parse_u32(e->d_name + 5, &id) < 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			uint32_t *t = realloc(*ids, cap * sizeof(*t));
			if (!t) {
				closedir(d);
				return -ENOMEM;
			}
			*ids = t;
		}
		(*ids)[(*n)++] = id;
	}
	closedir(d);
	return 0;
}

int blz_ublk_list_ids(uint32_t **ret_ids, size_t *ret_n)
{
	uint32_t *ids = NULL;
	size_t n = 0;
	int r = scan_dir("/sys/class/ublk-char", &ids, &n);
	if (r == -ENOENT) {
		/* no sysfs class: ublk_drv not loaded, or sysfs not mounted */
		free(ids);
		ids = NULL;
		n = 0;
		r = scan_dir("/dev", &ids, &n);
	}
	if (r < 0) {
		free(ids);
		return r;
	}
	if (n)
		qsort(ids, n, sizeof(*ids), cmp_u32);
	*ret_ids = ids;
	*ret_n = n;
	return 0;
}

const char *blz_ublk_state_name(int state)
{
	switch (state) {
	case BLZ_UBLK_S_DEV_DEAD: return "dead";
	case BLZ_UBLK_S_DEV_LIVE: return "live";
	case BLZ_UBLK_S_DEV_QUIESCED: return "quiesced";
	case BLZ_UBLK_S_DEV_FAIL_IO: return "fail-io";
	default: return "unknown";
	}
}

bool blz_ublk_pid_alive(pid_t pid)
{
	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return false;
	/* A zombie (killed, not yet reaped) answers kill(0) but serves nothing. */
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* "pid (comm) S ..." */
	if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
		return false;
	return true;
}

bool blz_ublk_pid_wait_gone(pid_t pid, unsigned ms)
{
	uint64_t end = blz_now_ms() + ms;
	while (blz_ublk_pid_alive(pid)) {
		if (blz_now_ms() >= end)
			return false;
		usleep(20 * 1000);
	}
	return true;
}

bool blz_ublk_char_dev_present(uint32_t id)
{
	char path[64];
	snprintf(path, sizeof(path), "/dev/ublkc%u", id);
	if (access("/sys/class/ublk-char", F_OK) == 0)
		snprintf(path, sizeof(path), "/sys/class/ublk-char/ublkc%u", id);
	return access(path, F_OK) == 0;
}

enum blz_ublk_gone blz_ublk_wait_gone(struct blz_ublk_ctrl *c, uint32_t id, unsigned ms)
{
	uint64_t end = blz_now_ms() + ms, deleted_at = 0;
	for (;;) {
		struct blz_ublk_dev_info info;
		if (blz_ublk_ctrl_get_info(c, id, &info) == -ENODEV)
			return BLZ_UBLK_GONE;
		uint64_t now = blz_now_ms();
		if (!blz_ublk_char_dev_present(id)) {
			if (!deleted_at)
				deleted_at = now;
			else if (now - deleted_at >= 1000) /* the number is normally freed at once */
				return BLZ_UBLK_DELETED_BUT_HELD;
		}
		if (now >= end)
			return deleted_at ? BLZ_UBLK_DELETED_BUT_HELD : BLZ_UBLK_STILL_THERE;
		usleep(50 * 1000);
	}
}

bool blz_ublk_server_alive(const struct blz_ublk_status *s)
{
	if (s->kernel_pid > 0)
		return blz_ublk_pid_alive(s->kernel_pid);
	if (!s->by_blazy || !blz_ublk_pid_alive(s->server_pid))
		return false;
	char path[64], comm[32];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)s->server_pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* no procfs: trust the pid */
	ssize_t n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return true;
	comm[n] = 0;
	return !strncmp(comm, "blazy", 5);
}

int blz_ublk_status(struct blz_ublk_ctrl *c, uint32_t id, struct blz_ublk_status *ret)
{
	struct blz_ublk_dev_info info;
	int r = blz_ublk_ctrl_get_info(c, id, &info);
	if (r < 0)
		return r;
	struct blz_ublk_status s;
	memset(&s, 0, sizeof(s));
	s.id = info.dev_id;
	s.nr_queues = info.nr_hw_queues;
	s.depth = info.queue_depth;
	s.state = info.state;
	s.max_io_buf_bytes = info.max_io_buf_bytes;
	s.flags = info.flags;
	s.kernel_pid = info.ublksrv_pid;
	s.by_blazy = (info.ublksrv_flags & BLZ_UBLK_SRV_MAGIC_MASK) == BLZ_UBLK_SRV_MAGIC;
	if (s.kernel_pid > 0)
		s.server_pid = s.kernel_pid;
	else if (s.by_blazy)
		s.server_pid = (pid_t)(info.ublksrv_flags & 0x7fffffff);
	struct blz_ublk_params p;
	if (blz_ublk_ctrl_get_params(c, id, &p) == 0 && (p.types & BLZ_UBLK_PARAM_TYPE_BASIC))
		s.size = p.basic.dev_sectors << 9;
	*ret = s;
	return 0;
}

uint64_t blz_ublk_desc_offset(unsigned q, size_t page_size)
{
	uint64_t max = (uint64_t)BLZ_UBLK_MAX_QUEUE_DEPTH * sizeof(struct blz_ublk_io_desc);
	uint64_t stride = (max + page_size - 1) / page_size * page_size;
	return (uint64_t)q * stride;
}
