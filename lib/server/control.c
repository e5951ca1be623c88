#include "server/control.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/clock.h"

struct blz_ctl_server {
	int fd;
	uid_t owner;
	char path[108];
	uint64_t ok, rejected;
	int passed_fd; /* a file passed with the request being answered, or -1 */
};

int blz_ctl_listen(const char *path, uid_t owner, struct blz_ctl_server **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	int r = blz_reg_make_dir();
	if (r < 0)
		return r;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket of a dead server */
	/* Anyone may connect; who may talk is decided by peer credentials. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return -e;
	}
	struct blz_ctl_server *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	s->fd = fd;
	s->owner = owner;
	s->passed_fd = -1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	*ret = s;
	return 0;
}

int blz_ctl_fd(const struct blz_ctl_server *s)
{
	return s->fd;
}

void blz_ctl_counts(const struct blz_ctl_server *s, uint64_t *ok, uint64_t *rejected)
{
	*ok = s->ok;
	*rejected = s->rejected;
}

void blz_ctl_close(struct blz_ctl_server *s)
{
	if (!s)
		return;
	close(s->fd);
	unlink(s->path);
	free(s);
}

/* Reads like read(2), keeping the first file descriptor passed (SCM_RIGHTS) in *passed
 * (when it is -1; any other is closed). */
static ssize_t read_fds(int fd, char *buf, size_t len, int *passed)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	for (struct cmsghdr *c = n < 0 ? NULL : CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (passed && *passed < 0)
				*passed = f;
			else
				close(f);
		}
	}
	return n;
}

/* Reads one line of at most max bytes before the deadline. Returns its length (without the
 * newline), -E2BIG if too long, -ETIMEDOUT, -EPROTO on EOF without a newline. A file
 * passed with it goes to *passed (may be NULL: closed). */
static ssize_t read_line(int fd, char *buf, size_t max, int timeout_ms, int *passed)
{
	size_t got = 0;
	int64_t deadline = blz_now_ms() + timeout_ms;
	for (;;) {
		int left = (int)(deadline - (int64_t)blz_now_ms());
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		ssize_t n = read_fds(fd, buf + got, max - got, passed);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPROTO;
		char *nl = memchr(buf + got, '\n', (size_t)n);
		got += (size_t)n;
		if (nl) {
			*nl = 0;
			return nl - buf;
		}
		if (got == max)
			return -E2BIG;
	}
}

static void reply(int fd, const char *status, const struct blz_buf *payload)
{
	/* Best effort with a bounded wait: a client that does not read is dropped. */
	struct blz_buf out = { 0 };
	blz_buf_append(&out, status, strlen(status));
	blz_buf_append(&out, "\n", 1);
	if (payload && payload->len)
		blz_buf_append(&out, payload->data, payload->len);
	size_t off = 0;
	int64_t deadline = blz_now_ms() + BLZ_CTL_TIMEOUT_MS;
	while (off < out.len && (int64_t)blz_now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, (int)(deadline - (int64_t)blz_now_ms())) <= 0)
			break;
		ssize_t n = send(fd, out.data + off, out.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	blz_buf_release(&out);
}

static int serve_one(struct blz_ctl_server *s, blz_ctl_handler fn, void *ctx);

int blz_ctl_serve_one(struct blz_ctl_server *s, blz_ctl_handler fn, void *ctx)
{
	int r = serve_one(s, fn, ctx);
	int fd = blz_ctl_take_fd(s); /* not taken by the handler */
	if (fd >= 0)
		close(fd);
	return r;
}

static int serve_one(struct blz_ctl_server *s, blz_ctl_handler fn, void *ctx)
{
	int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != 0 && cred.uid != s->owner)) {
		char junk[BLZ_CTL_MAX_REQUEST + 1];
		read_line(c, junk, BLZ_CTL_MAX_REQUEST, 200, NULL); /* consume it: the reply arrives */
		s->rejected++;
		reply(c, "error: permission denied (only root or the seed's owner)", NULL);
		close(c);
		return 0;
	}
	char line[BLZ_CTL_MAX_REQUEST + 1];
	ssize_t n = read_line(c, line, BLZ_CTL_MAX_REQUEST, BLZ_CTL_TIMEOUT_MS, &s->passed_fd);
	if (n < 0) {
		s->rejected++;
		reply(c, n == -E2BIG ? "error: request too long" : n == -ETIMEDOUT
			 ? "error: request timed out" : "error: malformed request", NULL);
		close(c);
		return 0;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (line[i] < 0x20 || line[i] > 0x7e) {
			s->rejected++;
			reply(c, "error: malformed request", NULL);
			close(c);
			return 0;
		}
	}
	struct blz_buf payload = { 0 };
	char msg[256] = "";
	int r = fn(ctx, line, &payload, msg, sizeof(msg));
	if (r < 0) {
		char status[300];
		snprintf(status, sizeof(status), "error: %s", msg[0] ? msg : strerror(-r));
		s->rejected += r == -EINVAL;
		s->ok += r != -EINVAL;
		reply(c, status, NULL);
	} else {
		s->ok++;
		reply(c, "ok", &payload);
	}
	blz_buf_release(&payload);
	close(c);
	return 0;
}

int blz_ctl_take_fd(struct blz_ctl_server *s)
{
	int fd = s->passed_fd;
	s->passed_fd = -1;
	return fd;
}

int blz_ctl_request(const char *path, const char *verb, char **ret_reply, int timeout_ms)
{
	return blz_ctl_request_fd(path, verb, -1, ret_reply, timeout_ms);
}

/* Sends the request line, with fd attached when it is >= 0. */
static int send_request(int sock, const char *req, int fd)
{
	if (fd < 0)
		return blz_write_full(sock, req, strlen(req));
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)req, .iov_len = strlen(req) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	/* the line is far below a socket buffer: one message carries it whole */
	ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	return n < 0 ? -errno : (size_t)n == strlen(req) ? 0 : -EPROTO;
}

int blz_ctl_request_fd(const char *path, const char *verb, int fd, char **ret_reply,
		       int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(sock);
		return -e;
	}
	char req[BLZ_CTL_MAX_REQUEST + 2];
	snprintf(req, sizeof(req), "%s\n", verb);
	int r = send_request(sock, req, fd);
	struct blz_buf in = { 0 };
	char buf[4096];
	while (r >= 0) {
		ssize_t n = read(sock, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET && in.len)
			break; /* the server closed with our request partly unread: its reply stands */
		if (n < 0) {
			r = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		if (n == 0)
			break;
		blz_buf_append(&in, buf, (size_t)n);
	}
	close(sock);
	blz_buf_append(&in, "", 1);
	if (r < 0) {
		blz_buf_release(&in);
		return r;
	}
	char *text = (char *)in.data;
	char *nl = strchr(text, '\n');
	char *payload = nl ? nl + 1 : text + strlen(text);
	if (nl)
		*nl = 0;
	if (strcmp(text, "ok") == 0) {
		*ret_reply = strdup(payload);
		r = 0;
	} else {
		*ret_reply = strdup(strncmp(text, "error: ", 7) == 0 ? text + 7 : text);
		r = -EREMOTEIO;
	}
	blz_buf_release(&in);
	return r;
}
