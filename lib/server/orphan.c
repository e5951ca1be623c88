/*
 * A supervised server's watch on its supervisor (docs/recovery.md, "When the supervisor
 * dies"). The server finds its supervisor in ublkbN.super (the entry that names it as the
 * server) and holds a pidfd on it. When that process dies and the entry still names it
 * (neither "stopping", written by the stop policy before it retires a supervisor, nor
 * "failed"), the server starts a new supervisor from its own binary:
 * `blazy serve --foreground --recover N --supervise-pid SELF ...` (what this server
 * serves, srv_server_args), in the mount namespace the server started in, in a session of
 * its own. That process records itself in ublkbN.super and watches the server by pidfd
 * (supervise.c); the server then watches it in turn. So a device whose supervisor was
 * killed still has somebody to take it over, or to fail its I/O, when its server dies.
 */
#include "server/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/registry.h"
#include "util/clock.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* At most one new supervisor per this long; after this many in a row that did not record
 * themselves, the server stops trying (and says so). */
#define SUP_START_MIN_MS 1000
#define SUP_MAX_FAILED_STARTS 5

int srv_pidfd_open(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : fd;
}

bool srv_sup_orphaned(const struct blz_super_state *st, pid_t self, pid_t dead)
{
	return dead > 0 && st->server == self && st->supervisor == dead &&
	       strcmp(st->state, "stopping") != 0 && strcmp(st->state, "failed") != 0;
}

/* The entry of s's device when it names this process as the server and a supervisor that
 * is to be watched (not stopping, not failed): 0, else -1. */
static int read_entry(const struct blz_server *s, struct blz_super_state *st)
{
	if (!s->dev || !(blz_ublk_dev_info(s->dev)->flags & BLZ_UBLK_F_USER_RECOVERY))
		return -1;
	if (blz_reg_super_read(blz_ublk_dev_id(s->dev), st) < 0)
		return -1;
	return srv_sup_orphaned(st, getpid(), st->supervisor) ? 0 : -1;
}

/* Reaps a supervisor this server started, once it ended. */
static void reap(struct blz_server *s)
{
	if (s->sup_started > 0 && waitpid(s->sup_started, NULL, WNOHANG) == s->sup_started)
		s->sup_started = 0;
}

/* In the child of fork (only system calls: the server has other threads): back in the
 * server's first mount namespace, a session of its own, no descriptor of the server's
 * but stderr (the log), then the binary. */
static void __attribute__((noreturn)) exec_supervisor(const struct blz_server *s,
						      const struct srv_args *a)
{
	if (s->home_ns >= 0)
		setns(s->home_ns, CLONE_NEWNS);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
	}
	srv_close_from(STDERR_FILENO + 1);
	execv("/proc/self/exe", (char *const *)a->v);
	_exit(127);
}

/* Starts a new supervisor (rate-limited) and watches it. */
static void start_supervisor(struct blz_server *s)
{
	uint32_t id = blz_ublk_dev_id(s->dev);
	uint64_t now = blz_now_ms();
	if (s->sup_gave_up || (s->sup_started_at && now - s->sup_started_at < SUP_START_MIN_MS))
		return;
	if (s->sup_failures >= SUP_MAX_FAILED_STARTS) {
		srv_log(s, "/dev/ublkb%u: %d supervisors in a row did not start: the device stays "
			"unsupervised", id, SUP_MAX_FAILED_STARTS);
		s->sup_gave_up = true;
		return;
	}
	static struct srv_args a; /* built before fork: the child only makes system calls */
	srv_server_args(&s->cfg, "blazy", id, getpid(), &a);
	reap(s);
	pid_t pid = fork();
	if (pid == 0)
		exec_supervisor(s, &a);
	s->sup_started_at = now;
	s->sup_failures++;
	if (pid < 0) {
		srv_log(s, "cannot fork a new supervisor for /dev/ublkb%u: %s", id, strerror(errno));
		return;
	}
	srv_log(s, "the supervisor of /dev/ublkb%u (pid %d) died: started pid %d to supervise "
		"this server", id, (int)s->sup_pid, (int)pid);
	s->sup_started = s->sup_last = pid;
	int fd = srv_pidfd_open(pid); /* our child: its pid cannot be reused before we reap it */
	if (fd >= 0) {
		s->sup_pid = pid;
		s->sup_pidfd = fd;
	}
}

int srv_sup_watch_fd(struct blz_server *s)
{
	if (s->sup_pidfd >= 0)
		return s->sup_pidfd;
	reap(s);
	struct blz_super_state st;
	if (read_entry(s, &st) < 0)
		return -1;
	if (st.supervisor == s->sup_last)
		s->sup_failures = 0; /* the one this server started recorded itself */
	if (st.supervisor != s->sup_dead) {
		int fd = srv_pidfd_open(st.supervisor);
		if (fd >= 0) {
			s->sup_pid = st.supervisor;
			s->sup_pidfd = fd;
			return fd;
		}
		s->sup_dead = st.supervisor; /* died before it could be watched */
	}
	s->sup_pid = st.supervisor;
	start_supervisor(s);
	return s->sup_pidfd;
}

void srv_sup_event(struct blz_server *s)
{
	close(s->sup_pidfd);
	s->sup_pidfd = -1;
	s->sup_dead = s->sup_pid;
	reap(s);
	struct blz_super_state st;
	if (s->stop_requested || read_entry(s, &st) < 0 || st.supervisor != s->sup_dead)
		return; /* stopping, or it was replaced: srv_sup_watch_fd looks again */
	if (st.supervisor == s->sup_last)
		s->sup_failures = 0; /* the one this server started had recorded itself */
	start_supervisor(s);
}

void srv_sup_release(struct blz_server *s)
{
	if (s->sup_pidfd >= 0)
		close(s->sup_pidfd);
	s->sup_pidfd = -1;
	reap(s);
}
