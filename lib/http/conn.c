/* Name resolution without NSS and non-blocking sockets bounded by a deadline: see internal.h. */
#include "http/internal.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/strbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ADDRS 4

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

static bool numeric(const char *host, uint16_t port, struct addr *a)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		a->len = sizeof(*v4);
		return true;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		a->len = sizeof(*v6);
		return true;
	}
	return false;
}

/* The addresses /etc/hosts gives name, in file order. */
static size_t etc_hosts(const char *name, uint16_t port, struct addr *out, size_t max)
{
	FILE *f = fopen("/etc/hosts", "re");
	if (!f)
		return 0;
	char line[1024];
	size_t n = 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "#\n")] = 0;
		char *save, *addr = strtok_r(line, " \t", &save), *w;
		if (!addr)
			continue;
		while ((w = strtok_r(NULL, " \t", &save)))
			if (!strcasecmp(w, name) && numeric(addr, port, &out[n])) {
				n++;
				break;
			}
	}
	fclose(f);
	return n;
}

static size_t resolve(const char *host, uint16_t port, struct addr *out)
{
	if (numeric(host, port, &out[0]))
		return 1;
	size_t n = etc_hosts(host, port, out, MAX_ADDRS);
	if (n == 0 && !strcasecmp(host, "localhost")) {
		numeric("127.0.0.1", port, &out[0]);
		numeric("::1", port, &out[1]);
		n = 2;
	}
	return n;
}

static int left_ms(int64_t deadline)
{
	int64_t l = deadline - (int64_t)blz_now_ms();
	return l <= 0 ? 0 : l > 1000000 ? 1000000 : (int)l;
}

int blz_http_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int ms = left_ms(deadline);
		if (ms == 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			return 0;
	}
}

static int connect_one(const struct addr *a, int64_t deadline, int *ret_fd)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int r = 0;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
		r = errno == EINPROGRESS ? 0 : -errno;
		if (r == 0)
			r = blz_http_wait(fd, POLLOUT, deadline);
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			r = -errno;
		if (r == 0 && soerr)
			r = -soerr;
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int blz_http_connect(const char *host, uint16_t port, int64_t deadline, int *ret_fd,
		     char *err, size_t errlen)
{
	struct addr addrs[MAX_ADDRS];
	size_t n = resolve(host, port, addrs);
	if (n == 0)
		return blz_errf(err, errlen, -EHOSTUNREACH,
				"cannot resolve '%s': only numeric addresses, localhost and /etc/hosts "
				"names are supported", host);
	int r = -EHOSTUNREACH;
	for (size_t i = 0; i < n && r != -ETIMEDOUT; i++) {
		r = connect_one(&addrs[i], deadline, ret_fd);
		if (r == 0)
			return 0;
	}
	return blz_errf(err, errlen, r, "cannot connect to %s port %u: %s", host, port,
			strerror(-r));
}

long blz_http_recv(int fd, void *buf, size_t len, int64_t deadline)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);
		if (n >= 0)
			return (long)n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		int r = blz_http_wait(fd, POLLIN, deadline);
		if (r < 0)
			return r;
	}
}

int blz_http_send_all(int fd, const void *buf, size_t len, int64_t deadline)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		int r = blz_http_wait(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}
