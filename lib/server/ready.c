/* The readiness handshake: see ready.h. */
#include "server/ready.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/fileio.h"

#define PREFIX "blazy-ready 1 "

int blz_ready_encode(const struct blz_ready *m, char *buf, size_t len)
{
	if (len < BLZ_READY_MAX)
		return -EINVAL;
	int n;
	if (m->err == 0) {
		if (m->pid <= 0 || m->dev_id == UINT32_MAX)
			return -EINVAL;
		n = snprintf(buf, len, PREFIX "ok %u %d\n", m->dev_id, (int)m->pid);
		return n;
	}
	if (m->err >= 0 || m->err <= -4096)
		return -EINVAL;
	n = snprintf(buf, len, PREFIX "fail %d ", -m->err);
	size_t i;
	for (i = 0; m->msg[i] && i < BLZ_READY_MSG_MAX; i++) {
		unsigned char c = (unsigned char)m->msg[i];
		buf[n + i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[n + i] = '\n';
	buf[n + i + 1] = 0;
	return n + (int)i + 1;
}

/* A decimal number without sign or leading zero, up to max, ending at a space or the end
 * of s: advances *s past it. */
static bool number(const char **s, const char *end, uint64_t max, uint64_t *ret)
{
	const char *p = *s;
	uint64_t v = 0;
	if (p >= end || *p < '0' || *p > '9' || (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9'))
		return false;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return false;
	}
	*s = p;
	*ret = v;
	return true;
}

int blz_ready_decode(const char *buf, size_t len, struct blz_ready *ret)
{
	const size_t pl = sizeof(PREFIX) - 1;
	if (len > BLZ_READY_MAX || len < pl + 1 || buf[len - 1] != '\n' || memcmp(buf, PREFIX, pl))
		return -EPROTO;
	const char *p = buf + pl, *end = buf + len - 1;
	if (memchr(p, '\n', (size_t)(end - p)) || memchr(p, 0, (size_t)(end - p)))
		return -EPROTO;
	struct blz_ready m = { 0 };
	uint64_t a, b;
	if (end - p >= 3 && !memcmp(p, "ok ", 3)) {
		p += 3;
		if (!number(&p, end, UINT32_MAX - 1, &a) || p >= end || *p++ != ' ' ||
		    !number(&p, end, INT_MAX, &b) || p != end || b == 0)
			return -EPROTO;
		m.dev_id = (uint32_t)a;
		m.pid = (pid_t)b;
	} else if (end - p >= 5 && !memcmp(p, "fail ", 5)) {
		p += 5;
		if (!number(&p, end, 4095, &a) || a == 0 || p >= end || *p++ != ' ')
			return -EPROTO;
		size_t n = (size_t)(end - p);
		if (n > BLZ_READY_MSG_MAX)
			return -EPROTO;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return -EPROTO;
		m.err = -(int)a;
		memcpy(m.msg, p, n);
		m.msg[n] = 0;
	} else {
		return -EPROTO;
	}
	*ret = m;
	return 0;
}

int blz_ready_send(int fd, const struct blz_ready *m)
{
	char buf[BLZ_READY_MAX];
	int n = blz_ready_encode(m, buf, sizeof(buf));
	if (n < 0)
		return n;
	return blz_write_full(fd, buf, (size_t)n);
}

int blz_ready_recv(int fd, int timeout_ms, struct blz_ready *ret)
{
	char buf[BLZ_READY_MAX + 2];
	ssize_t got = blz_read_deadline(fd, buf, sizeof(buf), timeout_ms, 1);
	if (got == -ETIMEDOUT)
		return -ETIMEDOUT;
	if (got < 0)
		return (int)got;
	if (got == 0)
		return -EPIPE;
	return blz_ready_decode(buf, (size_t)got, ret);
}
