/* ctlpoke: send raw bytes to a Unix stream socket and print the reply (VM tests of the
 * server's control socket). Usage: ctlpoke [--uid N] SOCKET HEXBYTES|=TEXT|@SIZE
 *   HEXBYTES  bytes as hex ("00ff41")   =TEXT  literal text ("=status\n" is not unescaped:
 *   use hex for newlines)   @SIZE  SIZE bytes of 'A' with no newline
 * --uid N: drop to uid/gid N before connecting. Exit 0 if a reply was read, 1 otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int a = 1;
	if (argc > 3 && !strcmp(argv[1], "--uid")) {
		unsigned id = (unsigned)atoi(argv[2]);
		if (setgid(id) < 0 || setuid(id) < 0) {
			perror("setuid");
			return 2;
		}
		a = 3;
	}
	if (argc - a != 2) {
		fprintf(stderr, "usage: ctlpoke [--uid N] SOCKET HEX|=TEXT|@SIZE\n");
		return 2;
	}
	const char *spec = argv[a + 1];
	size_t n = 0;
	char *buf;
	if (spec[0] == '=') {
		buf = strdup(spec + 1);
		n = strlen(buf);
	} else if (spec[0] == '@') {
		n = (size_t)atol(spec + 1);
		buf = malloc(n + 1);
		memset(buf, 'A', n);
	} else {
		n = strlen(spec) / 2;
		buf = malloc(n + 1);
		for (size_t i = 0; i < n; i++) {
			unsigned v;
			sscanf(spec + 2 * i, "%2x", &v);
			buf[i] = (char)v;
		}
	}
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[a]);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		return 1;
	}
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (n && write(fd, buf, n) < 0 && errno != EPIPE && errno != ECONNRESET)
		perror("write");
	char out[4096];
	ssize_t got = 0, k;
	while ((k = read(fd, out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += k;
	out[got] = 0;
	fputs(out, stdout);
	return got > 0 ? 0 : 1;
}
