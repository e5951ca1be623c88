/*
 * The supervisor of a server (docs/recovery.md): the daemon blz_server_spawn starts when
 * cfg->supervise is set. Its child is the server. It relays the first readiness message
 * to the starter, then waits for the child to end:
 *  - exit 0: the server stopped its device (blazy stop, umount): the supervisor ends too;
 *  - exit BLZ_SERVER_EXIT_HANDOVER: it handed the device over (blazy upgrade): a new
 *    server takes it over, from the binary the upgrade names (ublkbN.upgrade);
 *  - anything else is a crash: the device is quiesced (its I/O waits); a new server takes
 *    it over, with back-off. It gives up once SUP_MAX_CRASHES crashes fall within
 *    SUP_WINDOW_MS (counting only servers that died before serving SUP_STABLE_MS), or when no server has the device live again recovery_timeout_ms
 *    after the crash: then it stops the device (waiting I/O fails with EIO) and records
 *    why in ublkbN.super (state "failed").
 * The supervisor never touches the device while a server runs: killing it leaves the
 * server serving, and that server starts a new supervisor (orphan.c), which adopts it
 * (blz_server_supervise): it watches the server, not its child, by pidfd, and carries on
 * as above once the server ended.
 */
#include "server/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fetch/fetch.h"
#include "server/registry.h"
#include "server/stop.h"
#include "util/clock.h"
#include "util/strbuf.h"

#define SUP_MAX_CRASHES 5
#define SUP_WINDOW_MS 60000
#define SUP_BACKOFF_MIN_MS 50
#define SUP_BACKOFF_MAX_MS 2000
#define SUP_FIRST_READY_MS (300 * 1000)
/* A server that served at least this long before it died was not crash-looping: its
 * death does not count towards SUP_MAX_CRASHES. */
#define SUP_STABLE_MS 500

struct sup {
	const struct blz_server_config *cfg;
	uint32_t id;
	unsigned timeout_ms; /* recovery timeout */
	pid_t child;
	struct blz_super_state st;
	uint64_t crash_at[SUP_MAX_CRASHES]; /* ring of the last crash times */
	unsigned ncrash;
	uint64_t live_since; /* when the current server had the device live */
	char upgrade_bin[PATH_MAX]; /* "" none pending */
	bool adopted;  /* the server is not a child (blz_server_supervise) */
	int server_fd; /* and its pidfd, -1 when it had ended before it could be watched */
};

/* The "status" of an adopted server that ended: not a child, so its exit status is
 * unknown (a crash, unless its device says otherwise). */
#define SUP_STATUS_UNKNOWN (-1)

static volatile sig_atomic_t upgrade_asked;

static void on_usr2(int sig)
{
	(void)sig;
	upgrade_asked = 1;
}

static void save(struct sup *u, const char *state)
{
	snprintf(u->st.state, sizeof(u->st.state), "%s", state);
	u->st.server = u->child;
	blz_reg_super_write(u->id, &u->st);
}

/* How a child ended, in words. */
static void describe(int status, char *buf, size_t len)
{
	if (status == SUP_STATUS_UNKNOWN)
		snprintf(buf, len, "ended (how is unknown: not a child of this supervisor)");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* Forks a child that is to be a server (or to exec one): in the child, SIGUSR2 is back to
 * its default action, as the supervisor's on_usr2 is no business of a server (it takes
 * SIGUSR2 as its handover signal). Returns as fork does, -errno on failure. */
static pid_t fork_server(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		signal(SIGUSR2, SIG_DFL);
	return pid;
}

/* Runs the upgrade binary as the server that takes the device over. */
static void __attribute__((noreturn)) exec_server(const struct sup *u)
{
	static struct srv_args a;
	srv_server_args(u->cfg, u->upgrade_bin, u->id, 0, &a);
	execv(u->upgrade_bin, (char *const *)a.v);
	srv_cfg_log(u->cfg, "cannot run '%s': %s", u->upgrade_bin, strerror(errno));
	_exit(127);
}

/* Starts a server that takes the device over: the upgrade binary if one is pending, else
 * this program's code in a forked child. */
static int start_successor(struct sup *u)
{
	pid_t pid = fork_server();
	if (pid < 0)
		return (int)pid;
	if (pid == 0) {
		if (u->upgrade_bin[0])
			exec_server(u);
		struct blz_server_config c = *u->cfg;
		c.supervise = false;
		c.recover = true;
		c.recover_id = u->id;
		c.supervise_pid = 0;
		srv_serve_child(&c, -1);
	}
	u->child = pid;
	return 0;
}

/* Waits until the device is live with the child as its server (0), the child ends
 * (-ECHILD, *status), or deadline (-ETIMEDOUT). */
static int wait_live(struct sup *u, uint64_t deadline, int *status)
{
	struct blz_ublk_ctrl *c = NULL;
	for (;;) {
		pid_t w = waitpid(u->child, status, WNOHANG);
		if (w == u->child) {
			blz_ublk_ctrl_close(c);
			return -ECHILD;
		}
		if (!c)
			blz_ublk_ctrl_open(&c);
		struct blz_ublk_dev_info info;
		if (c && blz_ublk_ctrl_get_info(c, u->id, &info) == 0 &&
		    info.state == BLZ_UBLK_S_DEV_LIVE && info.ublksrv_pid == u->child) {
			blz_ublk_ctrl_close(c);
			return 0;
		}
		if (blz_now_ms() >= deadline) {
			blz_ublk_ctrl_close(c);
			return -ETIMEDOUT;
		}
		usleep(10 * 1000);
	}
}

/* Counts a crash; true when SUP_MAX_CRASHES fell within SUP_WINDOW_MS. */
static bool crash_limit(struct sup *u, uint64_t now)
{
	u->crash_at[u->ncrash++ % SUP_MAX_CRASHES] = now;
	if (u->ncrash < SUP_MAX_CRASHES)
		return false;
	uint64_t oldest = u->crash_at[u->ncrash % SUP_MAX_CRASHES];
	return now - oldest <= SUP_WINDOW_MS;
}

/* Gives up: the device is stopped, so that what waits on it fails with EIO. */
static int give_up(struct sup *u, const char *why)
{
	srv_cfg_log(u->cfg, "giving up on /dev/ublkb%u: %s; stopping it (its I/O fails)", u->id,
		    why);
	u->child = 0;
	snprintf(u->st.cause, sizeof(u->st.cause), "%s", why);
	save(u, "failed");
	struct blz_stop_opts o = { .force = true, .grace_ms = 2000 };
	struct blz_stop_result res;
	char err[256];
	int r = blz_server_stop(u->id, &o, &res, err, sizeof(err));
	if (r < 0 && r != -ENODEV)
		srv_cfg_log(u->cfg, "stopping /dev/ublkb%u: %s", u->id, err);
	save(u, "failed"); /* the stop policy cleaned the registry */
	return 1;
}

/* After the server ended with status: recovers the device. 0 once a new server serves
 * it; 1 after giving up. */
static int recover(struct sup *u, int status)
{
	uint64_t t0 = blz_now_ms();
	uint64_t deadline = t0 + u->timeout_ms;
	unsigned backoff = SUP_BACKOFF_MIN_MS;
	bool crashed = !(WIFEXITED(status) && WEXITSTATUS(status) == BLZ_SERVER_EXIT_HANDOVER);
	for (;;) {
		if (crashed) {
			char how[96];
			describe(status, how, sizeof(how));
			snprintf(u->st.cause, sizeof(u->st.cause), "server %d %s", (int)u->child, how);
			srv_cfg_log(u->cfg, "the server of /dev/ublkb%u (pid %d) %s", u->id,
				    (int)u->child, how);
			u->upgrade_bin[0] = 0; /* a failed upgrade falls back to this binary */
			bool early = !u->live_since || t0 - u->live_since < SUP_STABLE_MS;
			u->live_since = 0;
			if (early && crash_limit(u, blz_now_ms())) {
				char why[300];
				snprintf(why, sizeof(why), "%d crashes within %d s, the last: %s",
					 SUP_MAX_CRASHES, SUP_WINDOW_MS / 1000, u->st.cause);
				return give_up(u, why);
			}
			uint64_t now = blz_now_ms();
			if (now + backoff >= deadline) {
				char why[300];
				snprintf(why, sizeof(why), "no server within the recovery timeout (%u ms), "
					 "the last: %s", u->timeout_ms, u->st.cause);
				return give_up(u, why);
			}
			usleep(backoff * 1000);
			backoff = backoff * 2 > SUP_BACKOFF_MAX_MS ? SUP_BACKOFF_MAX_MS : backoff * 2;
			u->st.restarts++;
		}
		u->child = 0;
		save(u, "recovering");
		int r = start_successor(u);
		if (r < 0)
			return give_up(u, "cannot fork a new server");
		save(u, "recovering");
		r = wait_live(u, deadline, &status);
		if (r == 0) {
			srv_cfg_log(u->cfg, "/dev/ublkb%u served again by pid %d after %llu ms", u->id,
				    (int)u->child, (unsigned long long)(blz_now_ms() - t0));
			u->live_since = blz_now_ms();
			save(u, "live");
			return 0;
		}
		if (r == -ETIMEDOUT) {
			kill(u->child, SIGKILL);
			waitpid(u->child, NULL, 0);
			char why[300];
			snprintf(why, sizeof(why), "no server within the recovery timeout (%u ms)",
				 u->timeout_ms);
			return give_up(u, why);
		}
		crashed = true;
	}
}

/* SIGUSR2 from blazy upgrade: takes the binary it named and asks the server to hand over. */
static void take_upgrade(struct sup *u)
{
	upgrade_asked = 0;
	char path[128], bin[PATH_MAX];
	blz_reg_upgrade_path(u->id, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, bin, sizeof(bin) - 1) : -1;
	if (fd >= 0)
		close(fd);
	unlink(path);
	if (n <= 0) {
		srv_cfg_log(u->cfg, "upgrade asked without a binary in %s: ignored", path);
		return;
	}
	bin[n] = 0;
	bin[strcspn(bin, "\n")] = 0;
	snprintf(u->upgrade_bin, sizeof(u->upgrade_bin), "%s", bin);
	srv_cfg_log(u->cfg, "upgrade: handing /dev/ublkb%u over to '%s'", u->id, bin);
	kill(u->child, SIGUSR2);
}

/* Starts the first server, relays its readiness message. 0 with u->id, or 1. */
static int first_start(struct sup *u, int ready_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		srv_send_fail(ready_fd, -errno, "cannot create a pipe");
		return 1;
	}
	pid_t pid = fork_server();
	if (pid < 0) {
		srv_send_fail(ready_fd, (int)pid, "cannot fork the server");
		close(p[0]);
		close(p[1]);
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		close(ready_fd);
		struct blz_server_config c = *u->cfg;
		c.supervise = false;
		srv_serve_child(&c, p[1]);
	}
	close(p[1]);
	u->child = pid;
	struct blz_ready m;
	int r = blz_ready_recv(p[0], SUP_FIRST_READY_MS, &m);
	close(p[0]);
	if (r < 0 || m.err) {
		if (r == 0)
			blz_ready_send(ready_fd, &m);
		else
			srv_send_fail(ready_fd, r, "the server ended before the device was ready");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	u->id = m.dev_id;
	u->live_since = blz_now_ms();
	u->st.supervisor = getpid();
	save(u, "live");
	blz_ready_send(ready_fd, &m);
	close(ready_fd);
	srv_cfg_log(u->cfg, "supervising /dev/ublkb%u (server pid %d, recovery timeout %u ms)",
		    u->id, (int)pid, u->timeout_ms);
	return 0;
}

/* How an adopted server ended, from its device: gone or stopped is a clean stop (0), an
 * upgrade asked for is a handover, anything else a crash. */
static int adopted_status(const struct sup *u)
{
	struct blz_ublk_ctrl *c;
	struct blz_ublk_dev_info info;
	int r = blz_ublk_ctrl_open(&c);
	if (r == 0) {
		r = blz_ublk_ctrl_get_info(c, u->id, &info);
		blz_ublk_ctrl_close(c);
	}
	if (r == -ENODEV || (r == 0 && info.state == BLZ_UBLK_S_DEV_DEAD))
		return 0;
	if (u->upgrade_bin[0])
		return BLZ_SERVER_EXIT_HANDOVER << 8; /* as waitpid reports exit(75) */
	return SUP_STATUS_UNKNOWN;
}

/* Waits for the server to end: 0 with *status, -EINTR (a signal), or -errno. */
static int wait_server(struct sup *u, int *status)
{
	if (!u->adopted) {
		pid_t w = waitpid(u->child, status, 0);
		return w < 0 ? -errno : 0;
	}
	struct pollfd p = { .fd = u->server_fd, .events = POLLIN };
	if (u->server_fd >= 0 && poll(&p, 1, -1) < 0)
		return -errno;
	if (u->server_fd >= 0)
		close(u->server_fd);
	u->server_fd = -1;
	u->adopted = false; /* its successors are children */
	*status = adopted_status(u);
	return 0;
}

/* Takes over the supervision of cfg->supervise_pid (its supervisor died). 0, or 1 when
 * the device is being stopped. */
static int adopt(struct sup *u)
{
	u->id = u->cfg->recover_id;
	u->child = u->cfg->supervise_pid;
	int fd = srv_pidfd_open(u->child);
	struct blz_super_state old;
	bool have = blz_reg_super_read(u->id, &old) == 0;
	if (have && !strcmp(old.state, "stopping")) {
		srv_cfg_log(u->cfg, "/dev/ublkb%u is being stopped: not supervising it", u->id);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (have) {
		u->st.restarts = old.restarts;
		snprintf(u->st.cause, sizeof(u->st.cause), "%s", old.cause);
	}
	u->st.supervisor = getpid();
	u->live_since = blz_now_ms() - SUP_STABLE_MS; /* it was serving */
	u->adopted = true;
	u->server_fd = fd; /* < 0: gone before it could be watched (seen at once below) */
	save(u, "live");
	srv_cfg_log(u->cfg, "supervising /dev/ublkb%u (server pid %d, whose supervisor died; "
		    "recovery timeout %u ms)", u->id, (int)u->child, u->timeout_ms);
	return 0;
}

int srv_supervise(const struct blz_server_config *orig, int ready_fd)
{
	/* Absolute paths: the supervisor and the servers it starts later run in "/". */
	struct blz_server_config c = *orig;
	const struct blz_server_config *cfg = &c;
	char seed[PATH_MAX], map[PATH_MAX], store[PATH_MAX];
	if (c.seed && realpath(c.seed, seed))
		c.seed = seed;
	if (c.map_path && realpath(c.map_path, map))
		c.map_path = map;
	if (c.store_dir && realpath(c.store_dir, store))
		c.store_dir = store;
	struct sup u = { .cfg = cfg, .server_fd = -1 };
	/* With --recovery-timeout 0 the device's I/O fails while no server runs (FAIL_IO):
	 * the default timeout then only bounds how long a new server may take. */
	u.timeout_ms = cfg->recovery_timeout_ms && cfg->recovery_timeout_ms != BLZ_RECOVERY_OFF
			       ? cfg->recovery_timeout_ms
			       : BLZ_RECOVERY_TIMEOUT_MS;
	struct sigaction sa = { .sa_handler = on_usr2 };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL); /* no SA_RESTART: waitpid returns EINTR */
	signal(SIGPIPE, SIG_IGN);
	if (chdir("/") < 0)
		srv_cfg_log(cfg, "cannot chdir to /: %s", strerror(errno));
	if (cfg->supervise_pid > 0 ? adopt(&u) : first_start(&u, ready_fd))
		return 1;
	for (;;) {
		if (upgrade_asked)
			take_upgrade(&u);
		int status;
		int r = wait_server(&u, &status);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			srv_cfg_log(cfg, "waiting for the server: %s", strerror(-r));
			return 1;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			blz_reg_super_remove(u.id);
			return 0;
		}
		if (recover(&u, status))
			return 1;
	}
}

int blz_server_check_pid(uint32_t id, pid_t pid, char *err, size_t errlen)
{
	struct blz_super_state st;
	struct blz_reg reg;
	pid_t named;
	const char *where;
	if (blz_reg_super_read(id, &st) == 0) {
		named = st.server;
		where = "super";
	} else if (blz_reg_read(id, &reg) == 0) {
		named = reg.pid;
		where = "info";
	} else {
		return blz_errf(err, errlen, -ENOENT, "/dev/ublkb%u has no server in %s", id,
				BLZ_RUN_DIR);
	}
	if (pid <= 0 || named != pid)
		return blz_errf(err, errlen, -ESRCH, "pid %d is not the server of /dev/ublkb%u "
				"(%s/ublkb%u.%s names %d)", (int)pid, id, BLZ_RUN_DIR, id, where,
				(int)named);
	if (!blz_ublk_pid_alive(pid))
		return blz_errf(err, errlen, -ESRCH, "the server of /dev/ublkb%u (pid %d) does not "
				"run", id, (int)pid);
	struct blz_ublk_status us;
	int r = srv_dev_status(id, &us, err, errlen);
	if (r < 0)
		return r;
	if (us.state != BLZ_UBLK_S_DEV_LIVE || us.kernel_pid != pid)
		return blz_errf(err, errlen, -ESRCH, "pid %d is not the server of /dev/ublkb%u "
				"(the kernel has it %s, served by pid %d)", (int)pid, id,
				blz_ublk_state_name(us.state), (int)us.kernel_pid);
	return 0;
}

int blz_server_supervise(const struct blz_server_config *cfg)
{
	if (!cfg->recover || cfg->supervise_pid <= 0 ||
	    cfg->recovery_timeout_ms == BLZ_RECOVERY_OFF)
		return 1;
	char err[512];
	if (blz_server_check_pid(cfg->recover_id, cfg->supervise_pid, err, sizeof(err)) < 0) {
		srv_cfg_log(cfg, "not supervising: %s", err);
		return 1;
	}
	/* Started from /proc/self/exe by a server: named after the program. */
	prctl(PR_SET_NAME, "blazy", 0, 0, 0);
	return srv_supervise(cfg, -1);
}
