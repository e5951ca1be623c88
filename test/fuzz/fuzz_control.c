/*
 * Control-socket messages (lib/server/control.h), both ways over real Unix sockets:
 *   first byte even: the input is what a client sends; blz_ctl_serve_one() must answer it
 *                    (or reject it) and never fail the server;
 *   first byte odd:  the input is a server's reply; blz_ctl_request() must parse it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "server/control.h"
#include "util/fileio.h"

static int handler(void *ctx, const char *verb, struct blz_buf *reply, char *msg, size_t msglen)
{
	if (strcmp(verb, "status") == 0) {
		blz_buf_append(reply, "{}\n", 3);
		return 0;
	}
	if (strcmp(verb, "stop") == 0)
		return 0;
	snprintf(msg, msglen, "unknown request '%s'", verb);
	return -EINVAL;
}

static void sock_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
}

static void drain(int fd)
{
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void as_server(const uint8_t *data, size_t size)
{
	static struct blz_ctl_server *srv;
	static char path[300];
	if (!srv) {
		snprintf(path, sizeof(path), "%s/ctl.sock", fuzz_tmpdir());
		int r = blz_ctl_listen(path, getuid(), &srv);
		if (r < 0) {
			fprintf(stderr, "fuzz_control: cannot listen on %s: %s\n", path, strerror(-r));
			abort();
		}
	}
	struct sockaddr_un sa;
	sock_addr(&sa, path);
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	/* Requests are short: more than a socket buffer cannot be sent before the server
	 * reads, and the server reads at most BLZ_CTL_MAX_REQUEST bytes. */
	if (size > 4096)
		size = 4096;
	if (blz_write_full(c, data, size) < 0)
		abort();
	shutdown(c, SHUT_WR);
	if (blz_ctl_serve_one(srv, handler, NULL) < 0)
		abort();
	drain(c);
	close(c);
}

struct fake_server {
	int listen_fd;
	const uint8_t *reply;
	size_t len;
};

static void *fake_server(void *arg)
{
	struct fake_server *f = arg;
	struct pollfd p = { .fd = f->listen_fd, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1)
		return NULL;
	int c = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return NULL;
	char req[BLZ_CTL_MAX_REQUEST + 2];
	(void)!read(c, req, sizeof(req));
	(void)blz_write_full(c, f->reply, f->len);
	close(c);
	return NULL;
}

static void as_client(const uint8_t *data, size_t size)
{
	static int lfd = -1;
	static char path[300];
	if (lfd < 0) {
		snprintf(path, sizeof(path), "%s/fake.sock", fuzz_tmpdir());
		struct sockaddr_un sa;
		sock_addr(&sa, path);
		lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
			abort();
	}
	struct fake_server f = { lfd, data, size };
	pthread_t t;
	if (pthread_create(&t, NULL, fake_server, &f) != 0)
		abort();
	char *reply = NULL;
	int r = blz_ctl_request(path, "status", &reply, 2000);
	pthread_join(t, NULL);
	if ((r == 0 || r == -EREMOTEIO) && !reply)
		abort();
	free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The fake server writes its reply with write(2): when the client gave up first (its
	 * 2 s deadline, on a machine that starves the fuzzer) that write raised SIGPIPE, which
	 * killed the fuzzer without a report. The code under test sends with MSG_NOSIGNAL. */
	static bool pipe_ignored;
	if (!pipe_ignored) {
		signal(SIGPIPE, SIG_IGN);
		pipe_ignored = true;
	}
	if (size < 1)
		return 0;
	if (data[0] & 1)
		as_client(data + 1, size - 1);
	else
		as_server(data + 1, size - 1);
	return 0;
}
