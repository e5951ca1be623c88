/* An external fetcher's answers, decoded from bytes (execproto.h). */
#include "fetch/execproto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A decimal size in [0, 2^40 * 10]; -1 if the text is not one. */
static long long parse_len(const char *s)
{
	long long v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (1ll << 40))
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

void blz_xproto_begin(struct blz_xproto *p, bool handshake, size_t max_len)
{
	p->handshake = handshake;
	p->in_body = false;
	p->max_len = max_len;
	p->body_left = 0;
	p->line_len = 0;
	p->result = 0;
	p->reason[0] = '\0';
}

static int fail(struct blz_xproto *p, int r, const char *reason)
{
	snprintf(p->reason, sizeof(p->reason), "%s", reason);
	return r;
}

static int garbage(struct blz_xproto *p)
{
	return fail(p, -EPROTO, p->handshake ? "the fetcher wrote garbage at start"
					     : "the fetcher wrote garbage");
}

/* "error KIND" with an optional " TEXT": the text, or NULL when line is not that. */
static const char *error_text(const char *line, const char *kind)
{
	size_t n = strlen(kind);
	if (strncmp(line, kind, n) || (line[n] && line[n] != ' '))
		return NULL;
	return line[n] ? line + n + 1 : "";
}

/* A whole line (p->line, NUL-terminated): 1 with the result, or <0. */
static int decode_line(struct blz_xproto *p)
{
	const char *line = p->line, *t;
	if (p->handshake) {
		char want[32];
		snprintf(want, sizeof(want), "blazy-fetch %d", BLZ_XPROTO_VERSION);
		if (strcmp(line, want))
			return fail(p, -EPROTO, "the fetcher does not speak version 1 of the protocol");
		return 1;
	}
	if (!strncmp(line, "ok ", 3)) {
		long long n = parse_len(line + 3);
		if (n < 0)
			return garbage(p);
		if ((unsigned long long)n > p->max_len) {
			snprintf(p->reason, sizeof(p->reason),
				 "the fetcher offered %lld bytes, more than a chunk file can have", n);
			return -EFBIG;
		}
		p->body_left = (size_t)n;
		p->in_body = n > 0;
		return n > 0 ? 0 : 1;
	}
	if (!strcmp(line, "missing")) {
		p->result = -ENOENT;
		return fail(p, 1, "missing");
	}
	if ((t = error_text(line, "error transient"))) {
		p->result = -EAGAIN;
		snprintf(p->reason, sizeof(p->reason), "the fetcher: %.200s",
			 *t ? t : "transient error");
		return 1;
	}
	if ((t = error_text(line, "error permanent"))) {
		p->result = -EREMOTEIO;
		snprintf(p->reason, sizeof(p->reason), "the fetcher: %.200s",
			 *t ? t : "permanent error");
		return 1;
	}
	return garbage(p);
}

int blz_xproto_feed(struct blz_xproto *p, const uint8_t *data, size_t len, size_t *used,
		    struct blz_buf *out)
{
	size_t i = 0;
	int r = 0;
	while (i < len && r == 0) {
		if (p->in_body) {
			size_t k = len - i < p->body_left ? len - i : p->body_left;
			blz_buf_append(out, data + i, k);
			i += k;
			p->body_left -= k;
			if (!p->body_left) {
				p->in_body = false;
				r = 1;
			}
			continue;
		}
		uint8_t c = data[i++];
		if (c == '\n') {
			p->line[p->line_len] = '\0';
			r = decode_line(p);
		} else if (c == '\0' || p->line_len == sizeof(p->line) - 1) {
			r = garbage(p);
		} else {
			p->line[p->line_len++] = (char)c;
		}
	}
	*used = i;
	return r;
}
