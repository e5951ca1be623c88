/* httpfault: a small fault-injecting HTTP/1.1 server for the tests (never shipped).
 *
 *   httpfault --root DIR [--port N] [--port-file FILE] [--lifetime SECS] [--log FILE]
 *             [--close] [--proxy] [--rate BYTES/S] [--delay MS] [--stall-while FILE]
 *             [--rule PATH=SPEC]...
 *
 * Serves the files under DIR on 127.0.0.1 (GET and HEAD; port 0, the default, picks one; the
 * port is printed on stdout and written to --port-file), one thread per connection, persistent
 * connections unless --close or the client asks. It exits by itself after --lifetime seconds
 * (default 60). --log appends one line per request: "conn=C req=N METHOD TARGET -> WHAT".
 *
 * A rule changes what a request for exactly PATH gets; SPEC is a comma-separated list of:
 *   times=N          apply to the first N requests for PATH only, then serve normally
 *   status=CODE      answer CODE with a short body      retry-after=V   add "Retry-After: V"
 *   redirect=CODE:URL  answer CODE with Location URL    close           close after answering
 *   stall            read the request and never answer
 *   drop             read the request and close the connection without answering (what a
 *                    client sees when a server closed an idle kept-alive connection)
 *   stall-body=N     send the head and N body bytes, then never send more
 *   reset-body=N     send the head and N body bytes, then reset the connection (RST)
 *   short=N          the full Content-Length, only N bytes, then close
 *   wrong            the first body byte flipped
 *   trickle=N/MS     N body bytes every MS milliseconds
 *   chunked          chunked transfer coding (chunks of 1000 bytes, an extension, a trailer)
 *   auth-file=F      require "Authorization: <first line of F>" (read per request), else 401
 * --rate limits the body bytes the whole server sends to BYTES per second, over all
 * connections (a shared schedule, in pieces of 16 KiB); --delay waits MS milliseconds before
 * answering each request (a network's round trip): for benchmarks of remote stores.
 * --stall-while FILE: a server that accepts and then stalls: while FILE exists, every request
 * is read and held unanswered (logged "held") until FILE is gone, then answered as usual; a
 * held connection the client closes is dropped.
 * --proxy also accepts absolute-form requests and CONNECT to 127.0.0.1/localhost and relays
 * the bytes (logged as "proxy TARGET").
 * Exit: 0 never (killed by its lifetime alarm or a signal), 1 on a setup error, 2 misuse. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_RULES 64
#define HEAD_MAX 16384

struct rule {
	char path[512];
	int times;                 /* -1: always */
	int status;
	char retry_after[64];
	int redirect;
	char location[512];
	bool close, stall, drop, wrong, chunked;
	long stall_body, reset_body, short_body; /* -1: off */
	long trickle_n, trickle_ms;
	char auth_file[512];
	int hits;
};

static struct rule rules[MAX_RULES];
static int nrules;
static const char *root;
static bool opt_close, opt_proxy;
static long opt_rate, opt_delay_ms;	/* --rate BYTES/S, --delay MS; 0: off */
static const char *opt_stall_while;	/* --stall-while FILE */
static uint64_t rate_next_ns;		/* --rate: when the server may send its next piece */
static FILE *log_file;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int next_conn;

static void logline(int conn, int req, const char *method, const char *target, const char *what)
{
	if (!log_file)
		return;
	pthread_mutex_lock(&mu);
	fprintf(log_file, "conn=%d req=%d %s %s -> %s\n", conn, req, method, target, what);
	fflush(log_file);
	pthread_mutex_unlock(&mu);
}

static int parse_rule(const char *arg)
{
	if (nrules == MAX_RULES)
		return -1;
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(rules[0].path))
		return -1;
	struct rule *r = &rules[nrules];
	memset(r, 0, sizeof(*r));
	memcpy(r->path, arg, (size_t)(eq - arg));
	r->times = -1;
	r->stall_body = r->reset_body = r->short_body = -1;
	char *spec = strdup(eq + 1), *save, *w;
	int bad = 0;
	for (w = strtok_r(spec, ",", &save); w && !bad; w = strtok_r(NULL, ",", &save)) {
		char *v = strchr(w, '=');
		if (v)
			*v++ = 0;
		if (!strcmp(w, "times") && v)
			r->times = atoi(v);
		else if (!strcmp(w, "status") && v)
			r->status = atoi(v);
		else if (!strcmp(w, "retry-after") && v)
			snprintf(r->retry_after, sizeof(r->retry_after), "%s", v);
		else if (!strcmp(w, "redirect") && v && strchr(v, ':')) {
			r->redirect = atoi(v);
			snprintf(r->location, sizeof(r->location), "%s", strchr(v, ':') + 1);
		} else if (!strcmp(w, "close"))
			r->close = true;
		else if (!strcmp(w, "stall"))
			r->stall = true;
		else if (!strcmp(w, "drop"))
			r->drop = true;
		else if (!strcmp(w, "wrong"))
			r->wrong = true;
		else if (!strcmp(w, "chunked"))
			r->chunked = true;
		else if (!strcmp(w, "stall-body") && v)
			r->stall_body = atol(v);
		else if (!strcmp(w, "reset-body") && v)
			r->reset_body = atol(v);
		else if (!strcmp(w, "short") && v)
			r->short_body = atol(v);
		else if (!strcmp(w, "trickle") && v && strchr(v, '/')) {
			r->trickle_n = atol(v);
			r->trickle_ms = atol(strchr(v, '/') + 1);
			bad = r->trickle_n <= 0 || r->trickle_ms < 0;
		} else if (!strcmp(w, "auth-file") && v)
			snprintf(r->auth_file, sizeof(r->auth_file), "%s", v);
		else
			bad = 1;
	}
	free(spec);
	if (bad)
		return -1;
	nrules++;
	return 0;
}

/* The rule for path if it still applies (counting this request), or NULL. */
static struct rule *take_rule(const char *path)
{
	struct rule *found = NULL;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nrules && !found; i++) {
		struct rule *r = &rules[i];
		if (strcmp(r->path, path))
			continue;
		if (r->times < 0 || r->hits < r->times) {
			r->hits++;
			found = r;
		}
	}
	pthread_mutex_unlock(&mu);
	return found;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* send_all under --rate: each piece takes its turn on the server-wide schedule. */
static int send_rated(int fd, const void *buf, size_t len)
{
	if (opt_rate <= 0)
		return send_all(fd, buf, len);
	const char *p = buf;
	while (len) {
		size_t k = len < 16384 ? len : 16384;
		pthread_mutex_lock(&mu);
		uint64_t now = mono_ns(), start = rate_next_ns > now ? rate_next_ns : now;
		rate_next_ns = start + (uint64_t)k * 1000000000u / (uint64_t)opt_rate;
		uint64_t until = rate_next_ns;
		pthread_mutex_unlock(&mu);
		if (start > now)
			sleep_ms((long)((start - now) / 1000000u));
		if (send_all(fd, p, k) < 0)
			return -1;
		now = mono_ns();
		if (until > now && len == k)
			sleep_ms((long)((until - now) / 1000000u)); /* the last piece's time too */
		p += k;
		len -= k;
	}
	return 0;
}

static void stall_forever(int fd)
{
	char b[4096];
	while (recv(fd, b, sizeof(b), 0) > 0)
		;
	/* the client closed; nothing more to do */
}

/* --stall-while: holds the request while the file exists. false when the client closed. */
static bool hold_while_file(int fd, int conn, int req, const char *method, const char *target)
{
	bool held = false;
	while (opt_stall_while && access(opt_stall_while, F_OK) == 0) {
		if (!held)
			logline(conn, req, method, target, "held");
		held = true;
		struct pollfd p = { .fd = fd, .events = POLLRDHUP };
		if (poll(&p, 1, 50) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return false;
	}
	return true;
}

static void reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static bool auth_ok(const struct rule *r, const char *got)
{
	char want[1024] = "";
	FILE *f = fopen(r->auth_file, "re");
	if (f) {
		if (!fgets(want, sizeof(want), f))
			want[0] = 0;
		fclose(f);
	}
	want[strcspn(want, "\r\n")] = 0;
	return got && want[0] && !strcmp(got, want);
}

/* Relays bytes both ways between a and b until one side closes. */
static void relay(int a, int b)
{
	char buf[16384];
	struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return;
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			ssize_t n = recv(p[i].fd, buf, sizeof(buf), 0);
			if (n <= 0 || send_all(p[1 - i].fd, buf, (size_t)n) < 0)
				return;
		}
	}
}

static int connect_local(const char *hostport)
{
	char host[256];
	const char *c = strrchr(hostport, ':');
	if (!c || (size_t)(c - hostport) >= sizeof(host))
		return -1;
	memcpy(host, hostport, (size_t)(c - hostport));
	host[c - hostport] = 0;
	if (strcmp(host, "127.0.0.1") && strcmp(host, "localhost"))
		return -1; /* loopback only */
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(c + 1)) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Proxies one request (CONNECT or absolute-form) and then the rest of the connection. */
static void proxy(int fd, const char *method, const char *target, const char *head, size_t hlen)
{
	char hostport[2048];
	bool connect_ = !strcmp(method, "CONNECT");
	if (connect_) {
		snprintf(hostport, sizeof(hostport), "%s", target);
	} else {
		const char *h = target + 7;
		size_t n = strcspn(h, "/");
		snprintf(hostport, sizeof(hostport), "%.*s", (int)n, h);
		if (!strchr(hostport, ':'))
			strncat(hostport, ":80", sizeof(hostport) - strlen(hostport) - 1);
	}
	int up = connect_local(hostport);
	if (up < 0) {
		const char *m = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		send_all(fd, m, strlen(m));
		return;
	}
	if (connect_) {
		const char *m = "HTTP/1.1 200 Connection established\r\n\r\n";
		send_all(fd, m, strlen(m));
	} else {
		send_all(up, head, hlen);
	}
	relay(fd, up);
	close(up);
}

static void send_status(int fd, int code, const struct rule *r, bool close_)
{
	char body[64], head[1024];
	int bl = snprintf(body, sizeof(body), "status %d\n", code);
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d Fault\r\nContent-Length: %d\r\n%s%s%s%s%s%s%s\r\n",
			 code, bl, r && r->retry_after[0] ? "Retry-After: " : "",
			 r && r->retry_after[0] ? r->retry_after : "", r && r->retry_after[0] ? "\r\n" : "",
			 r && r->redirect ? "Location: " : "", r && r->redirect ? r->location : "",
			 r && r->redirect ? "\r\n" : "", close_ ? "Connection: close\r\n" : "");
	send_all(fd, head, (size_t)n);
	send_all(fd, body, (size_t)bl);
}

/* Sends data as the rule says. Returns 1 to close the connection, 0 to keep it. */
static int send_body(int fd, const struct rule *r, char *data, size_t len, bool head_only, bool close_)
{
	char h[256];
	if (r && r->wrong && len)
		data[0] ^= 0xff;
	if (r && r->chunked) {
		int n = snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n%s\r\n",
				 close_ ? "Connection: close\r\n" : "");
		send_all(fd, h, (size_t)n);
		if (head_only)
			return close_;
		for (size_t off = 0; off < len; off += 1000) {
			size_t k = len - off < 1000 ? len - off : 1000;
			n = snprintf(h, sizeof(h), "%zx;piece=%zu\r\n", k, off / 1000);
			send_all(fd, h, (size_t)n);
			send_rated(fd, data + off, k);
			send_all(fd, "\r\n", 2);
		}
		const char *end = "0\r\nX-Trailer: done\r\n\r\n";
		send_all(fd, end, strlen(end));
		return close_;
	}
	int n = snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n", len,
			 close_ ? "Connection: close\r\n" : "");
	send_all(fd, h, (size_t)n);
	if (head_only)
		return close_;
	long cut = r ? (r->stall_body >= 0 ? r->stall_body : r->reset_body >= 0 ? r->reset_body :
			r->short_body) : -1;
	size_t upto = cut >= 0 && (size_t)cut < len ? (size_t)cut : len;
	if (r && r->trickle_n > 0) {
		for (size_t off = 0; off < upto; off += (size_t)r->trickle_n) {
			size_t k = upto - off < (size_t)r->trickle_n ? upto - off : (size_t)r->trickle_n;
			if (send_all(fd, data + off, k) < 0)
				return 1;
			sleep_ms(r->trickle_ms);
		}
	} else {
		send_rated(fd, data, upto);
	}
	if (r && r->stall_body >= 0) {
		stall_forever(fd);
		return 1;
	}
	if (r && r->reset_body >= 0) {
		reset(fd);
		return 1;
	}
	return r && r->short_body >= 0 ? 1 : close_;
}

static int read_file(const char *path, char **ret, size_t *ret_len)
{
	if (strstr(path, ".."))
		return -1;
	char full[4096];
	snprintf(full, sizeof(full), "%s%s", root, path);
	int fd = open(full, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char *d = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, d + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*ret = d;
	*ret_len = got;
	return 0;
}

/* The value of header name in the head (lines after the first), copied to out. */
static const char *find_header(const char *head, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		const char *s = l + 2;
		if (!strncasecmp(s, name, nl) && s[nl] == ':') {
			s += nl + 1;
			while (*s == ' ')
				s++;
			size_t n = strcspn(s, "\r\n");
			snprintf(out, outlen, "%.*s", (int)n, s);
			return out;
		}
	}
	return NULL;
}

static void *serve_conn(void *arg)
{
	int fd = (int)(long)arg;
	pthread_mutex_lock(&mu);
	int conn = ++next_conn;
	pthread_mutex_unlock(&mu);
	char buf[HEAD_MAX + 1];
	size_t have = 0;
	for (int req = 1;; req++) {
		char *end;
		while (buf[have] = 0, !(end = strstr(buf, "\r\n\r\n"))) {
			if (have == HEAD_MAX)
				goto out;
			ssize_t n = recv(fd, buf + have, HEAD_MAX - have, 0);
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		size_t hlen = (size_t)(end - buf) + 4;
		char head[HEAD_MAX + 1];
		memcpy(head, buf, hlen);
		head[hlen] = 0;
		memmove(buf, buf + hlen, have - hlen);
		have -= hlen;
		char method[16], target[2048], version[16];
		if (sscanf(head, "%15s %2047s %15s", method, target, version) != 3)
			goto out;
		if (opt_proxy && (!strcmp(method, "CONNECT") || !strncmp(target, "http://", 7))) {
			logline(conn, req, method, target, "proxy");
			proxy(fd, method, target, head, hlen);
			goto out;
		}
		if (!strncmp(target, "http://", 7)) /* absolute-form: servers must accept it */
			memmove(target, target + 7 + strcspn(target + 7, "/"),
				strlen(target + 7 + strcspn(target + 7, "/")) + 1);
		char hv[1024];
		bool close_ = opt_close || !strcmp(version, "HTTP/1.0") ||
			      (find_header(head, "connection", hv, sizeof(hv)) && !strcasecmp(hv, "close"));
		struct rule *r = take_rule(target);
		if (r && r->close)
			close_ = true;
		bool head_only = !strcmp(method, "HEAD");
		char what[64];
		if (!hold_while_file(fd, conn, req, method, target))
			goto out;
		if (opt_delay_ms > 0)
			sleep_ms(opt_delay_ms);
		if (r && r->auth_file[0] && !auth_ok(r, find_header(head, "authorization", hv, sizeof(hv)))) {
			logline(conn, req, method, target, "401");
			send_status(fd, 401, r, close_);
		} else if (r && r->drop) {
			logline(conn, req, method, target, "drop");
			goto out;
		} else if (r && r->stall) {
			logline(conn, req, method, target, "stall");
			stall_forever(fd);
			goto out;
		} else if (r && (r->status || r->redirect)) {
			int code = r->redirect ? r->redirect : r->status;
			snprintf(what, sizeof(what), "%d", code);
			logline(conn, req, method, target, what);
			send_status(fd, code, r, close_);
		} else {
			char *data;
			size_t len;
			if (read_file(target, &data, &len) < 0) {
				logline(conn, req, method, target, "404");
				send_status(fd, 404, NULL, close_);
			} else {
				logline(conn, req, method, target, r ? "200 with fault" : "200");
				int c = send_body(fd, r, data, len, head_only, close_);
				free(data);
				if (c)
					goto out;
			}
		}
		if (close_)
			goto out;
	}
out:
	close(fd);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: httpfault --root DIR [--port N] [--port-file FILE] [--lifetime SECS] "
			"[--log FILE] [--close] [--proxy] [--rate BYTES/S] [--delay MS] [--stall-while FILE] "
			"[--rule PATH=SPEC]...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int port = 0, lifetime = 60;
	const char *port_file = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--close"))
			opt_close = true;
		else if (!strcmp(a, "--proxy"))
			opt_proxy = true;
		else if (!v)
			usage();
		else if (!strcmp(a, "--root"))
			root = v, i++;
		else if (!strcmp(a, "--port"))
			port = atoi(v), i++;
		else if (!strcmp(a, "--port-file"))
			port_file = v, i++;
		else if (!strcmp(a, "--lifetime"))
			lifetime = atoi(v), i++;
		else if (!strcmp(a, "--rate"))
			opt_rate = atol(v), i++;
		else if (!strcmp(a, "--delay"))
			opt_delay_ms = atol(v), i++;
		else if (!strcmp(a, "--stall-while"))
			opt_stall_while = v, i++;
		else if (!strcmp(a, "--log")) {
			if (!(log_file = fopen(v, "ae"))) {
				perror("httpfault: log");
				return 1;
			}
			i++;
		} else if (!strcmp(a, "--rule")) {
			if (parse_rule(v) < 0) {
				fprintf(stderr, "httpfault: bad rule '%s'\n", v);
				return 2;
			}
			i++;
		} else
			usage();
	}
	if (!root || lifetime <= 0 || opt_rate < 0 || opt_delay_ms < 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)lifetime);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &al) < 0) {
		perror("httpfault: listen");
		return 1;
	}
	printf("%u\n", ntohs(a.sin_port));
	fflush(stdout);
	if (port_file) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		FILE *f = fopen(tmp, "we");
		if (!f || fprintf(f, "%u\n", ntohs(a.sin_port)) < 0 || fclose(f) != 0 ||
		    rename(tmp, port_file) < 0) {
			perror("httpfault: port file");
			return 1;
		}
	}
	for (;;) {
		int fd = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_t t;
		if (pthread_create(&t, NULL, serve_conn, (void *)(long)fd) != 0)
			close(fd);
		else
			pthread_detach(t);
	}
}
