/* Spawning a server as a daemon, and waiting for its readiness message: see server.h. */
#include "server/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/strbuf.h"

#define READY_FD 3

void srv_close_from(int first)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)first, ~0u, 0) == 0)
		return;
#endif
	long max = sysconf(_SC_OPEN_MAX);
	for (int fd = first; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
		close(fd);
}

/* In the child: stdio, the handshake's fd as READY_FD, nothing else of the caller's. */
static int child_fds(int ready_fd, int log_fd)
{
	/* Out of the way of 0-3 first: the caller may have run with a standard fd closed. */
	ready_fd = fcntl(ready_fd, F_DUPFD, 10);
	if (log_fd >= 0)
		log_fd = fcntl(log_fd, F_DUPFD, 10);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || ready_fd < 0)
		return -errno;
	int out = log_fd >= 0 ? log_fd : null;
	if (dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(out, STDERR_FILENO) < 0 || dup2(ready_fd, READY_FD) < 0)
		return -errno;
	srv_close_from(READY_FD + 1);
	return 0;
}

static void send_ready(void *ctx, uint32_t dev_id)
{
	int *fd = ctx;
	struct blz_ready m = { .dev_id = dev_id, .pid = getpid() };
	blz_ready_send(*fd, &m);
	close(*fd);
	*fd = -1;
}

void srv_send_fail(int fd, int r, const char *msg)
{
	struct blz_ready m = { .err = r < 0 && r > -4096 ? r : -EIO };
	snprintf(m.msg, sizeof(m.msg), "%s", msg);
	blz_ready_send(fd, &m);
}

void srv_serve_child(const struct blz_server_config *cfg, int ready_fd)
{
	char err[BLZ_READY_MSG_MAX + 1] = "";
	int fd = ready_fd;
	struct blz_server *s = NULL;
	int r = blz_server_open(cfg, &s, err, sizeof(err));
	if (r == 0 && chdir("/") < 0)
		r = blz_errf(err, sizeof(err), -errno, "cannot chdir to /: %s", strerror(errno));
	if (r == 0)
		r = blz_server_run(s, send_ready, &fd, err, sizeof(err));
	if (r == BLZ_SERVER_HANDOVER)
		_exit(BLZ_SERVER_EXIT_HANDOVER); /* queue threads may still run: no clean-up */
	if (r < 0 && cfg->log)
		cfg->log(cfg->log_ctx, err);
	if (r < 0 && fd >= 0)
		srv_send_fail(fd, r, err);
	blz_server_free(s);
	_exit(r < 0 ? 1 : 0);
}

/* The daemon's life after fork: the server, or its supervisor. Does not return. */
static void __attribute__((noreturn)) child(const struct blz_server_config *cfg, int ready_fd,
					    int log_fd)
{
	setsid();
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int r = child_fds(ready_fd, log_fd);
	if (r < 0) {
		srv_send_fail(ready_fd, r, "cannot set up the server's descriptors");
		_exit(1);
	}
	if (cfg->supervise && srv_recoverable(cfg))
		_exit(srv_supervise(cfg, READY_FD));
	srv_serve_child(cfg, READY_FD);
}

/* The message for a child that ended without a readiness message. */
static int ended(pid_t pid, char *err, size_t errlen)
{
	int st = 0;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		return blz_errf(err, errlen, -ECHILD, "the server was killed by %s before the "
				"device was ready", strsignal(WTERMSIG(st)));
	return blz_errf(err, errlen, -ECHILD, "the server exited (status %d) before the device "
			"was ready", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int blz_server_spawn(const struct blz_server_config *cfg, int log_fd, unsigned timeout_ms,
		     struct blz_ready *ret, char *err, size_t errlen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return blz_errf(err, errlen, -errno, "cannot create a pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return blz_errf(err, errlen, r, "cannot fork: %s", strerror(-r));
	}
	if (pid == 0) {
		close(p[0]);
		child(cfg, p[1], log_fd);
	}
	close(p[1]);
	struct blz_ready m;
	int r = blz_ready_recv(p[0], (int)timeout_ms, &m);
	close(p[0]);
	if (r == -ETIMEDOUT) {
		kill(pid, SIGTERM);
		return blz_errf(err, errlen, r, "the server (pid %d) did not report the device ready "
				"in %u s", (int)pid, timeout_ms / 1000);
	}
	if (r == -EPIPE)
		return ended(pid, err, errlen);
	if (r < 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return blz_errf(err, errlen, r, "the server's readiness message is malformed");
	}
	if (m.err) {
		waitpid(pid, NULL, 0);
		return blz_errf(err, errlen, m.err, "%s", m.msg);
	}
	*ret = m;
	return 0;
}
