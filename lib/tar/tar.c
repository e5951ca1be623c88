/*
 * Streaming tar reader; see tar.h for the contract.
 *
 * The reader is layered: a byte source (plain, or decompressed from zstd or gzip, read
 * strictly forward) below a header parser that folds pax 'x'/'g' records and GNU 'L'/'K' long
 * names into the entry that follows them.  Every size taken from the archive is
 * bounded before it is used, so a hostile archive can neither make the reader allocate
 * without limit nor run it past the end of its input.
 */
#include "tar/tar.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "tar/inflate.h"
#include "util/strbuf.h"

#define BLOCK 512
#define IN_BUF_SIZE (128 * 1024)
#define OUT_BUF_SIZE (128 * 1024)
#define DIRECT_MIN (64 * 1024)          /* reads at least this big bypass the buffers */
#define MAX_META_SIZE (1024 * 1024)     /* pax header and GNU long-name payloads */
#define MAX_XATTR_BYTES (1024 * 1024)   /* per pax attribute set, names + values */
#define XATTR_OVERHEAD 32               /* accounted per attribute, bounds their count */
#define MAX_SIZE (UINT64_C(1) << 62)
#define MAX_TIME (INT64_C(1) << 62)
#define MAX_COMPONENT 255
#define QNAME_MAX 120                   /* bytes of a name quoted in an error message */
#define QNAME_SIZE (QNAME_MAX * 4 + 8)

/* ustar header layout */
#define H_NAME 0
#define H_MODE 100
#define H_UID 108
#define H_GID 116
#define H_SIZE 124
#define H_MTIME 136
#define H_CHKSUM 148
#define H_TYPE 156
#define H_LINKNAME 157
#define H_MAGIC 257
#define H_DEVMAJOR 329
#define H_DEVMINOR 337
#define H_PREFIX 345
#define H_STAR_MAGIC 508

static const uint8_t zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
static const uint8_t gzip_magic[2] = { 0x1f, 0x8b };

enum src_mode { SRC_UNKNOWN, SRC_PLAIN, SRC_ZSTD, SRC_GZIP };

enum hdr_format { FMT_V7, FMT_USTAR, FMT_STAR, FMT_GNU };

enum {
	PAX_PATH = 1 << 0,
	PAX_LINKPATH = 1 << 1,
	PAX_SIZE = 1 << 2,
	PAX_UID = 1 << 3,
	PAX_GID = 1 << 4,
	PAX_MTIME = 1 << 5,
	PAX_ATIME = 1 << 6,
	PAX_CTIME = 1 << 7,
	PAX_SPARSE = 1 << 8, /* a GNU.sparse.* keyword was seen */
};

struct pax_attrs {
	unsigned set;     /* PAX_* values present */
	unsigned deleted; /* PAX_* values cleared by an empty record ('x' only) */
	char *path, *linkpath;
	uint64_t size;
	uint32_t uid, gid;
	struct timespec mtime, atime, ctime;
	VEC(struct blz_tar_xattr) xattrs;
	size_t xattr_bytes;
};

struct blz_tar {
	int fd;
	enum src_mode mode;
	struct blz_tar_observers obs;

	uint8_t *in; /* raw bytes from fd; also the decoded bytes when plain */
	size_t in_pos, in_len;
	bool in_eof;

	ZSTD_DCtx *zd;
	struct blz_inflate *gz;
	uint8_t *out;       /* zstd: decompressed bytes */
	const uint8_t *dec; /* decompressed bytes: out, or the gzip decoder's window */
	size_t out_pos, out_len;
	size_t zret;     /* last ZSTD_decompressStream() result: 0 at a frame boundary */
	uint64_t zin_total; /* compressed bytes consumed */
	bool truncated;  /* the compressed input ended inside a frame or member */

	uint64_t offset; /* decoded bytes consumed */

	int err; /* sticky */
	bool at_end;
	bool have_entry;
	uint64_t data_left; /* readable data of the current entry */
	uint64_t skip_left; /* then unreadable data and padding up to the next header */

	struct pax_attrs global, local;
	char *long_name, *long_link; /* GNU 'L' and 'K' */
	struct blz_buf meta;         /* payload of the extended header being read */

	struct blz_tar_entry entry;
	char errmsg[2048];
};

__attribute__((format(printf, 3, 4)))
static int fail(struct blz_tar *t, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->errmsg, sizeof(t->errmsg), fmt, ap);
	va_end(ap);
	t->err = err;
	return err;
}

/* Like fail(), for a stream that ended early: mentions a truncated zstd or gzip stream. */
__attribute__((format(printf, 2, 3)))
static int fail_eof(struct blz_tar *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->errmsg, sizeof(t->errmsg), fmt, ap);
	va_end(ap);
	if (t->truncated) {
		size_t l = strlen(t->errmsg);
		snprintf(t->errmsg + l, sizeof(t->errmsg) - l, " (%s stream truncated)",
			 t->mode == SRC_GZIP ? "gzip" : "zstd");
	}
	t->err = -EIO;
	return -EIO;
}

/* Quotes at most QNAME_MAX bytes of a name for a message, escaping control bytes. */
static const char *qname(char *buf, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char *o = buf;
	size_t i;

	for (i = 0; s[i] && i < QNAME_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '\\') {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	if (s[i])
		o += sprintf(o, "...");
	*o = '\0';
	return buf;
}

static const char *qtype(char *buf, uint8_t type)
{
	if (type >= 0x20 && type < 0x7f && type != '\\')
		sprintf(buf, "'%c'", type);
	else
		sprintf(buf, "0x%02x", type);
	return buf;
}

/* ---- byte source ---- */

static ssize_t raw_read(struct blz_tar *t, void *dst, size_t len)
{
	for (;;) {
		ssize_t n = read(t->fd, dst, len);
		if (n > 0 && t->obs.raw)
			t->obs.raw(t->obs.ctx, dst, (size_t)n);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return fail(t, -errno, "read error after %llu bytes of archive: %s",
				    (unsigned long long)t->offset, strerror(errno));
	}
}

static int in_refill(struct blz_tar *t)
{
	ssize_t n = raw_read(t, t->in, IN_BUF_SIZE);

	if (n < 0)
		return (int)n;
	t->in_pos = 0;
	t->in_len = (size_t)n;
	if (n == 0)
		t->in_eof = true;
	return 0;
}

static int src_detect(struct blz_tar *t)
{
	while (t->in_len < sizeof(zstd_magic) && !t->in_eof) {
		ssize_t n = raw_read(t, t->in + t->in_len, IN_BUF_SIZE - t->in_len);
		if (n < 0)
			return (int)n;
		if (n == 0)
			t->in_eof = true;
		t->in_len += (size_t)n;
	}
	if (t->in_len >= sizeof(zstd_magic) && !memcmp(t->in, zstd_magic, sizeof(zstd_magic))) {
		t->zd = ZSTD_createDCtx();
		if (!t->zd)
			return fail(t, -ENOMEM, "cannot create a zstd decompression context");
		t->out = blz_xmalloc(OUT_BUF_SIZE);
		t->dec = t->out;
		t->mode = SRC_ZSTD;
	} else if (t->in_len >= sizeof(gzip_magic) &&
		   !memcmp(t->in, gzip_magic, sizeof(gzip_magic))) {
		t->gz = blz_inflate_new();
		t->mode = SRC_GZIP;
	} else {
		t->mode = SRC_PLAIN;
	}
	return 0;
}

/* Decompresses into dst: the byte count (> 0), 0 at the end of the input, or -errno. */
static ssize_t zstd_decode(struct blz_tar *t, void *dst, size_t cap)
{
	int stalls = 0;

	for (;;) {
		if (t->in_pos == t->in_len && !t->in_eof) {
			int r = in_refill(t);
			if (r < 0)
				return r;
		}
		if (t->in_pos == t->in_len && t->in_eof && t->zret == 0)
			return 0;

		ZSTD_inBuffer ib = { t->in, t->in_len, t->in_pos };
		ZSTD_outBuffer ob = { dst, cap, 0 };
		size_t r = ZSTD_decompressStream(t->zd, &ob, &ib);
		if (ZSTD_isError(r))
			return fail(t, -EBADMSG,
				    "corrupt zstd stream: %s (compressed bytes %llu to %llu)",
				    ZSTD_getErrorName(r), (unsigned long long)t->zin_total,
				    (unsigned long long)(t->zin_total + t->in_len - t->in_pos));
		bool progress = ib.pos != t->in_pos || ob.pos;
		t->zin_total += ib.pos - t->in_pos;
		t->in_pos = ib.pos;
		t->zret = r;
		if (ob.pos)
			return (ssize_t)ob.pos;
		if (t->in_pos == t->in_len && t->in_eof) {
			/* r != 0: the input ended inside a frame */
			t->truncated = true;
			return 0;
		}
		if (!progress && ++stalls > 16)
			return fail(t, -EBADMSG, "zstd decoder stalled at compressed offset %llu",
				    (unsigned long long)t->zin_total);
	}
}

/*
 * Decompresses the next piece of a gzip stream, left at t->dec: its length (> 0), 0 at the
 * end of the input, or -errno.
 */
static ssize_t gzip_decode(struct blz_tar *t)
{
	for (;;) {
		if (t->in_pos == t->in_len && !t->in_eof) {
			int r = in_refill(t);
			if (r < 0)
				return r;
		}
		const uint8_t *in = t->in + t->in_pos, *out;
		size_t left = t->in_len - t->in_pos, len;
		int r = blz_inflate_run(t->gz, &in, &left, &out, &len);
		t->in_pos = t->in_len - left;
		if (r < 0)
			return fail(t, r, "corrupt gzip stream: %s at compressed offset %llu",
				    blz_inflate_error(t->gz),
				    (unsigned long long)blz_inflate_in_offset(t->gz));
		if (len) {
			t->dec = out;
			return (ssize_t)len;
		}
		if (left) /* the decoder promises to use all its input */
			return fail(t, -EBADMSG, "gzip decoder stalled at compressed offset %llu",
				    (unsigned long long)blz_inflate_in_offset(t->gz));
		/* no output: all the input so far is used */
		if (t->in_eof) {
			t->truncated = !blz_inflate_done(t->gz);
			return 0;
		}
	}
}

static size_t src_buffered(const struct blz_tar *t)
{
	if (t->mode == SRC_ZSTD || t->mode == SRC_GZIP)
		return t->out_len - t->out_pos;
	return t->in_len - t->in_pos;
}

/* Makes decoded bytes available at *p: their count, 0 at the end of the stream, or -errno. */
static ssize_t src_avail(struct blz_tar *t, const uint8_t **p)
{
	if (t->mode == SRC_UNKNOWN) {
		int r = src_detect(t);
		if (r < 0)
			return r;
	}
	if (t->mode == SRC_PLAIN) {
		if (t->in_pos == t->in_len) {
			if (t->in_eof)
				return 0;
			int r = in_refill(t);
			if (r < 0)
				return r;
			if (!t->in_len)
				return 0;
		}
		*p = t->in + t->in_pos;
		return (ssize_t)(t->in_len - t->in_pos);
	}
	if (t->out_pos == t->out_len) {
		ssize_t n = t->mode == SRC_GZIP ? gzip_decode(t) : zstd_decode(t, t->out, OUT_BUF_SIZE);
		if (n <= 0)
			return n;
		t->out_pos = 0;
		t->out_len = (size_t)n;
	}
	*p = t->dec + t->out_pos;
	return (ssize_t)(t->out_len - t->out_pos);
}

static void observe_decoded(struct blz_tar *t, const void *p, size_t n)
{
	if (t->obs.decoded && n)
		t->obs.decoded(t->obs.ctx, p, n);
}

static void src_consume(struct blz_tar *t, size_t n)
{
	if (t->mode == SRC_PLAIN) {
		observe_decoded(t, t->in + t->in_pos, n);
		t->in_pos += n;
	} else {
		observe_decoded(t, t->dec + t->out_pos, n);
		t->out_pos += n;
	}
	t->offset += n;
}

/* Reads up to len decoded bytes, fewer only at the end of the stream; or -errno. */
static ssize_t src_read(struct blz_tar *t, void *dst, size_t len)
{
	uint8_t *d = dst;
	size_t got = 0;

	while (got < len) {
		const uint8_t *p;
		ssize_t n;

		if ((t->mode == SRC_PLAIN || t->mode == SRC_ZSTD) && !src_buffered(t) &&
		    len - got >= DIRECT_MIN) {
			if (t->mode == SRC_PLAIN) {
				if (t->in_eof)
					break;
				n = raw_read(t, d + got, len - got);
				if (n == 0)
					t->in_eof = true;
			} else {
				n = zstd_decode(t, d + got, len - got);
			}
			if (n <= 0) {
				if (n < 0)
					return n;
				break;
			}
			observe_decoded(t, d + got, (size_t)n);
			got += (size_t)n;
			t->offset += (uint64_t)n;
			continue;
		}
		n = src_avail(t, &p);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		size_t c = (size_t)n < len - got ? (size_t)n : len - got;
		memcpy(d + got, p, c);
		src_consume(t, c);
		got += c;
	}
	return (ssize_t)got;
}

/* Discards up to len decoded bytes; *done says how many (fewer only at the end). */
static int src_skip(struct blz_tar *t, uint64_t len, uint64_t *done)
{
	uint64_t got = 0;

	while (got < len) {
		const uint8_t *p;
		ssize_t n = src_avail(t, &p);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		uint64_t c = (uint64_t)n < len - got ? (uint64_t)n : len - got;
		src_consume(t, (size_t)c);
		got += c;
	}
	*done = got;
	return 0;
}

/* ---- numbers ---- */

/*
 * A numeric header field: octal digits, optionally surrounded by spaces or NULs (an
 * empty field reads as 0), or GNU base-256 (first byte's 0x80 bit set, 0x40 = sign).
 * Returns 0 with the sign and magnitude, -EBADMSG for junk, -ERANGE for overflow.
 */
static int parse_field(const uint8_t *f, size_t n, bool *neg, uint64_t *mag)
{
	uint64_t v = 0;

	*neg = false;
	if (f[0] & 0x80) {
		bool negative = f[0] & 0x40;
		for (size_t i = 0; i < n; i++) {
			uint8_t c = f[i];
			if (i == 0 && !negative)
				c &= 0x7f;
			if (negative)
				c = (uint8_t)~c;
			if (v >> 56)
				return -ERANGE;
			v = v << 8 | c;
		}
		if (negative) {
			if (v >= (uint64_t)INT64_MAX)
				return -ERANGE;
			v++;
		}
		*neg = negative;
		*mag = v;
		return 0;
	}

	size_t i = 0, end = n;
	while (i < end && (f[i] == ' ' || f[i] == '\0'))
		i++;
	while (end > i && (f[end - 1] == ' ' || f[end - 1] == '\0'))
		end--;
	for (; i < end; i++) {
		if (f[i] < '0' || f[i] > '7')
			return -EBADMSG;
		if (v >> 61)
			return -ERANGE;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	*mag = v;
	return 0;
}

static int header_uint(struct blz_tar *t, const uint8_t *h, size_t off, size_t n,
		       uint64_t max, const char *what, uint64_t hoff, uint64_t *ret)
{
	bool neg;
	uint64_t v;
	int r = parse_field(h + off, n, &neg, &v);

	if (r == -EBADMSG)
		return fail(t, -EBADMSG, "invalid %s field in header at offset %llu", what,
			    (unsigned long long)hoff);
	if (r < 0 || v > max)
		return fail(t, -EBADMSG, "%s out of range in header at offset %llu", what,
			    (unsigned long long)hoff);
	if (neg)
		return fail(t, -EBADMSG, "negative %s in header at offset %llu", what,
			    (unsigned long long)hoff);
	*ret = v;
	return 0;
}

static int header_time(struct blz_tar *t, const uint8_t *h, uint64_t hoff, struct timespec *ts)
{
	bool neg;
	uint64_t v;
	int r = parse_field(h + H_MTIME, 12, &neg, &v);

	if (r == -EBADMSG)
		return fail(t, -EBADMSG, "invalid mtime field in header at offset %llu",
			    (unsigned long long)hoff);
	if (r < 0 || v > (uint64_t)MAX_TIME)
		return fail(t, -EBADMSG, "mtime out of range in header at offset %llu",
			    (unsigned long long)hoff);
	int64_t s = neg ? -(int64_t)v : (int64_t)v;
	if ((int64_t)(time_t)s != s)
		return fail(t, -EBADMSG, "mtime out of range in header at offset %llu",
			    (unsigned long long)hoff);
	ts->tv_sec = (time_t)s;
	ts->tv_nsec = 0;
	return 0;
}

static bool parse_dec(const uint8_t *v, size_t n, uint64_t max, uint64_t *ret)
{
	uint64_t x = 0;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		unsigned d = (unsigned)(v[i] - '0');
		if (x > (max - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*ret = x;
	return true;
}

/* "[-]SECONDS[.FRACTION]"; digits past nanoseconds are dropped. */
static bool parse_pax_time(const uint8_t *v, size_t n, struct timespec *ts)
{
	size_t i = 0, start;
	bool neg = false;
	uint64_t sec = 0;
	long nsec = 0;

	if (n && v[0] == '-') {
		neg = true;
		i = 1;
	}
	for (start = i; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		if (sec > (uint64_t)MAX_TIME / 10)
			return false;
		sec = sec * 10 + (uint64_t)(v[i] - '0');
	}
	if (i == start || sec > (uint64_t)MAX_TIME)
		return false;
	if (i < n && v[i] == '.') {
		int digits = 0;
		for (start = ++i; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
			if (digits < 9) {
				nsec = nsec * 10 + (v[i] - '0');
				digits++;
			}
		}
		if (i == start)
			return false;
		for (; digits < 9; digits++)
			nsec *= 10;
	}
	if (i != n)
		return false;

	int64_t s = (int64_t)sec;
	if (neg) {
		s = -s;
		if (nsec) {
			s--;
			nsec = 1000000000L - nsec;
		}
	}
	if ((int64_t)(time_t)s != s)
		return false;
	ts->tv_sec = (time_t)s;
	ts->tv_nsec = nsec;
	return true;
}

/* ---- headers ---- */

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* tar historically summed signed chars, so accept either sum. */
static bool checksum_ok(const uint8_t *h)
{
	uint64_t stored, usum = 0;
	int64_t ssum = 0;
	bool neg;

	if (parse_field(h + H_CHKSUM, 8, &neg, &stored) < 0 || neg)
		return false;
	for (size_t i = 0; i < BLOCK; i++) {
		uint8_t c = (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : h[i];
		usum += c;
		ssum += (signed char)c;
	}
	return stored == usum || (ssum >= 0 && stored == (uint64_t)ssum);
}

static enum hdr_format header_format(const uint8_t *h)
{
	if (memcmp(h + H_MAGIC, "ustar", 5))
		return FMT_V7;
	if (h[H_MAGIC + 5] == ' ')
		return FMT_GNU; /* "ustar  \0": no prefix field */
	if (!memcmp(h + H_STAR_MAGIC, "tar\0", 4))
		return FMT_STAR; /* a 131-byte prefix, then times */
	return FMT_USTAR;
}

static char *field_str(const uint8_t *f, size_t n)
{
	size_t l = strnlen((const char *)f, n);
	char *s = blz_xmalloc(l + 1);

	memcpy(s, f, l);
	s[l] = '\0';
	return s;
}

static char *header_name(const uint8_t *h, enum hdr_format fmt)
{
	size_t nl = strnlen((const char *)h + H_NAME, 100), pl = 0;

	if (fmt == FMT_USTAR)
		pl = strnlen((const char *)h + H_PREFIX, 155);
	else if (fmt == FMT_STAR)
		pl = strnlen((const char *)h + H_PREFIX, 131);
	if (!pl)
		return field_str(h + H_NAME, 100);

	char *s = blz_xmalloc(pl + 1 + nl + 1);
	memcpy(s, h + H_PREFIX, pl);
	s[pl] = '/';
	memcpy(s + pl + 1, h + H_NAME, nl);
	s[pl + 1 + nl] = '\0';
	return s;
}

/*
 * Normalises a member path or hard-link target (see tar.h) into *ret.  what names the
 * string in messages, e.g. "path" or "hard link target".
 */
static int normalize(struct blz_tar *t, const char *in, const char *what, uint64_t hoff,
		     char **ret)
{
	char q[QNAME_SIZE];
	struct blz_buf b = { 0 };
	const char *p = in;

	if (!*in)
		return fail(t, -EBADMSG, "empty %s in header at offset %llu", what,
			    (unsigned long long)hoff);
	if (*in == '/')
		return fail(t, -EBADMSG, "refusing absolute %s '%s' (header at offset %llu)", what,
			    qname(q, in), (unsigned long long)hoff);
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *c = p;
		while (*p && *p != '/')
			p++;
		size_t cl = (size_t)(p - c);
		if (cl == 1 && c[0] == '.')
			continue;
		if (cl == 2 && c[0] == '.' && c[1] == '.') {
			blz_buf_release(&b);
			return fail(t, -EBADMSG,
				    "refusing %s '%s' with a '..' component (header at offset %llu)",
				    what, qname(q, in), (unsigned long long)hoff);
		}
		if (cl > MAX_COMPONENT) {
			blz_buf_release(&b);
			return fail(t, -EBADMSG,
				    "%s '%s' has a component longer than %d bytes (header at offset %llu)",
				    what, qname(q, in), MAX_COMPONENT, (unsigned long long)hoff);
		}
		if (b.len)
			blz_buf_append(&b, "/", 1);
		blz_buf_append(&b, c, cl);
	}
	blz_buf_append(&b, "", 1);
	*ret = (char *)b.data;
	return 0;
}

/* ---- pax attributes ---- */

static void xattrs_free(struct blz_tar_xattr *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(x[i].name);
		free(x[i].value);
	}
	free(x);
}

static void pax_clear(struct pax_attrs *a)
{
	free(a->path);
	free(a->linkpath);
	xattrs_free(a->xattrs.v, a->xattrs.len);
	memset(a, 0, sizeof(*a));
}

static size_t xattr_cost(const char *name, size_t len)
{
	return strlen(name) + len + XATTR_OVERHEAD;
}

/* The attribute called name in x[0..n), or NULL. */
static struct blz_tar_xattr *xattr_find(struct blz_tar_xattr *x, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(x[i].name, name))
			return &x[i];
	return NULL;
}

/* Sets an attribute, replacing one of the same name.  Returns -E2BIG past the limit. */
static int pax_xattr(struct pax_attrs *a, const char *name, const uint8_t *v, size_t len)
{
	struct blz_tar_xattr *x = xattr_find(a->xattrs.v, a->xattrs.len, name);
	size_t old = x ? xattr_cost(x->name, x->len) : 0;
	size_t bytes = a->xattr_bytes - old + xattr_cost(name, len);

	if (bytes > MAX_XATTR_BYTES)
		return -E2BIG;
	a->xattr_bytes = bytes;
	if (x) {
		free(x->value);
	} else {
		struct blz_tar_xattr nx = { .name = blz_xstrdup(name) };
		vec_push(&a->xattrs, nx);
		x = &a->xattrs.v[a->xattrs.len - 1];
	}
	x->value = blz_xmemdup(v, len);
	x->len = len;
	return 0;
}

static void pax_str(char **slot, const uint8_t *v, size_t n)
{
	free(*slot);
	*slot = NULL;
	if (n) {
		char *s = blz_xmalloc(n + 1);
		memcpy(s, v, n);
		s[n] = '\0';
		*slot = s;
	}
}

static int pax_record(struct blz_tar *t, bool global, uint64_t hoff, const uint8_t *k,
		      size_t kl, const uint8_t *v, size_t vl)
{
	struct pax_attrs *a = global ? &t->global : &t->local;
	unsigned long long ho = (unsigned long long)hoff;
	unsigned bit = 0;
	int r = 0;

	if (memchr(k, '\0', kl))
		return fail(t, -EBADMSG, "pax keyword with a NUL byte in header at offset %llu",
			    ho);
	char *key = blz_xmalloc(kl + 1);
	memcpy(key, k, kl);
	key[kl] = '\0';

	if (!strcmp(key, "path") || !strcmp(key, "linkpath")) {
		bool path = key[0] == 'p';
		bit = path ? PAX_PATH : PAX_LINKPATH;
		if (memchr(v, '\0', vl)) {
			r = fail(t, -EBADMSG, "pax %s with a NUL byte in header at offset %llu",
				 key, ho);
			goto out;
		}
		pax_str(path ? &a->path : &a->linkpath, v, vl);
	} else if (!strcmp(key, "size")) {
		bit = PAX_SIZE;
		if (vl && !parse_dec(v, vl, MAX_SIZE, &a->size)) {
			r = fail(t, -EBADMSG, "invalid pax size in header at offset %llu", ho);
			goto out;
		}
	} else if (!strcmp(key, "uid") || !strcmp(key, "gid")) {
		uint64_t id;
		bit = key[0] == 'u' ? PAX_UID : PAX_GID;
		if (vl && !parse_dec(v, vl, UINT32_MAX, &id)) {
			r = fail(t, -EBADMSG, "invalid pax %s in header at offset %llu", key, ho);
			goto out;
		}
		if (vl)
			*(bit == PAX_UID ? &a->uid : &a->gid) = (uint32_t)id;
	} else if (!strcmp(key, "mtime") || !strcmp(key, "atime") || !strcmp(key, "ctime")) {
		struct timespec *ts = &a->ctime;
		bit = PAX_CTIME;
		if (key[0] == 'm') {
			ts = &a->mtime;
			bit = PAX_MTIME;
		} else if (key[0] == 'a') {
			ts = &a->atime;
			bit = PAX_ATIME;
		}
		if (vl && !parse_pax_time(v, vl, ts)) {
			r = fail(t, -EBADMSG, "invalid pax %s in header at offset %llu", key, ho);
			goto out;
		}
	} else if (!strncmp(key, "SCHILY.xattr.", 13)) {
		if (!key[13]) {
			r = fail(t, -EBADMSG, "pax xattr record without a name in header at offset %llu",
				 ho);
			goto out;
		}
		if (pax_xattr(a, key + 13, v, vl) < 0)
			r = fail(t, -EBADMSG, "too many extended attributes in header at offset %llu",
				 ho);
		goto out;
	} else if (!strncmp(key, "GNU.sparse.", 11)) {
		if (global) {
			r = fail(t, -EBADMSG,
				 "sparse archive members are not supported (global header at offset %llu)",
				 ho);
			goto out;
		}
		a->set |= PAX_SPARSE;
		goto out;
	} else {
		/* uname, gname, charset, comment, other vendors' keywords: not needed */
		goto out;
	}

	if (vl) {
		a->set |= bit;
		a->deleted &= ~bit;
	} else {
		/* an empty value removes the keyword; in 'x' it also hides any global value */
		a->set &= ~bit;
		if (!global)
			a->deleted |= bit;
	}
out:
	free(key);
	return r;
}

static int pax_bad(struct blz_tar *t, uint64_t hoff, size_t pos, const char *why)
{
	return fail(t, -EBADMSG, "malformed pax header at offset %llu: record at byte %zu %s",
		    (unsigned long long)hoff, pos, why);
}

/* Parses "LEN key=value\n" records; LEN counts the whole record. */
static int pax_parse(struct blz_tar *t, const uint8_t *p, size_t n, bool global, uint64_t hoff)
{
	size_t pos = 0;

	while (pos < n) {
		size_t len = 0, i = pos;

		if (p[pos] == '\0') {
			/* some writers pad the records with NULs */
			if (is_zero(p + pos, n - pos))
				break;
			return pax_bad(t, hoff, pos, "starts with a NUL byte");
		}
		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
			len = len * 10 + (size_t)(p[i] - '0');
			if (len > n)
				return pax_bad(t, hoff, pos, "has a length that exceeds the header size");
		}
		if (i == pos || i >= n || p[i] != ' ')
			return pax_bad(t, hoff, pos, "has no valid length");
		if (len > n - pos)
			return pax_bad(t, hoff, pos, "has a length that exceeds the header size");
		/* digits, ' ', a keyword of at least one byte, '=', '\n' */
		if (len < i - pos + 4)
			return pax_bad(t, hoff, pos, "is too short");
		const uint8_t *key = p + i + 1, *end = p + pos + len;
		if (end[-1] != '\n')
			return pax_bad(t, hoff, pos, "is not terminated by a newline");
		const uint8_t *eq = memchr(key, '=', (size_t)(end - 1 - key));
		if (!eq || eq == key)
			return pax_bad(t, hoff, pos, "has no keyword");
		int r = pax_record(t, global, hoff, key, (size_t)(eq - key), eq + 1,
				   (size_t)(end - 1 - (eq + 1)));
		if (r < 0)
			return r;
		pos += len;
	}
	return 0;
}

/* Which attribute set supplies bit for the next entry, if any. */
static const struct pax_attrs *pax_pick(const struct blz_tar *t, unsigned bit)
{
	if (t->local.set & bit)
		return &t->local;
	if (!(t->local.deleted & bit) && (t->global.set & bit))
		return &t->global;
	return NULL;
}

/* ---- entries ---- */

static void entry_clear(struct blz_tar *t)
{
	struct blz_tar_entry *e = &t->entry;

	free(e->path);
	free(e->linkname);
	xattrs_free(e->xattrs, e->nxattrs);
	memset(e, 0, sizeof(*e));
	t->have_entry = false;
	t->data_left = 0;
	t->skip_left = 0;
}

static void meta_clear(struct blz_tar *t)
{
	pax_clear(&t->local);
	free(t->long_name);
	free(t->long_link);
	t->long_name = t->long_link = NULL;
}

/* Reads an extended header's payload and its padding into t->meta. */
static int read_meta(struct blz_tar *t, uint64_t size, uint64_t hoff, const char *what)
{
	uint64_t pad = (BLOCK - size % BLOCK) % BLOCK, skipped = 0;

	if (size > MAX_META_SIZE)
		return fail(t, -EBADMSG, "%s at offset %llu too large (%llu bytes)", what,
			    (unsigned long long)hoff, (unsigned long long)size);
	t->meta.len = 0;
	blz_buf_reserve(&t->meta, (size_t)size + 1);
	uint8_t *p = blz_buf_grow(&t->meta, (size_t)size);
	ssize_t n = src_read(t, p, (size_t)size);
	if (n < 0)
		return (int)n;
	int r = src_skip(t, pad, &skipped);
	if (r < 0)
		return r;
	if ((uint64_t)n < size || skipped < pad)
		return fail_eof(t, "unexpected end of archive in %s at offset %llu", what,
				(unsigned long long)hoff);
	return 0;
}

/* The entry's attributes: the global ones, overridden or extended by the entry's own. */
static void xattrs_build(struct blz_tar *t)
{
	const struct pax_attrs *g = &t->global, *l = &t->local;
	VEC(struct blz_tar_xattr) m = { 0 };

	for (size_t i = 0; i < g->xattrs.len + l->xattrs.len; i++) {
		const struct blz_tar_xattr *x = i < g->xattrs.len ? &g->xattrs.v[i] :
				&l->xattrs.v[i - g->xattrs.len];
		struct blz_tar_xattr *y = xattr_find(m.v, m.len, x->name);
		if (y) {
			free(y->value);
		} else {
			struct blz_tar_xattr nx = { .name = blz_xstrdup(x->name) };
			vec_push(&m, nx);
			y = &m.v[m.len - 1];
		}
		y->value = blz_xmemdup(x->value, x->len);
		y->len = x->len;
	}
	t->entry.xattrs = m.v;
	t->entry.nxattrs = m.len;
}

static int build_entry(struct blz_tar *t, const uint8_t *h, enum hdr_format fmt, uint64_t hoff,
		       uint64_t first_off, uint64_t hsize)
{
	struct blz_tar_entry *e = &t->entry;
	const struct pax_attrs *a;
	unsigned long long ho = (unsigned long long)hoff;
	char q[QNAME_SIZE], q2[QNAME_SIZE], tq[8];
	uint8_t type = h[H_TYPE];
	char *raw, *rawlink = NULL;
	uint64_t v, body = 0;
	int r;

	if ((a = pax_pick(t, PAX_PATH)))
		raw = blz_xstrdup(a->path);
	else if (t->long_name)
		raw = blz_xstrdup(t->long_name);
	else
		raw = header_name(h, fmt);

	switch (type) {
	case '0':
	case '\0':
	case '7':
		/* old archives mark directories with a trailing slash only */
		if (raw[0] && raw[strlen(raw) - 1] == '/')
			e->type = BLZ_TAR_DIR;
		else
			e->type = BLZ_TAR_REG;
		a = pax_pick(t, PAX_SIZE);
		body = a ? a->size : hsize;
		break;
	case '1':
		/*
		 * Writers have long put the target's size in hard-link headers without
		 * any data, and readers ignore it; only pax (2001) lets a hard link carry
		 * data, announced by a pax size record.
		 */
		e->type = BLZ_TAR_HARDLINK;
		a = pax_pick(t, PAX_SIZE);
		body = a ? a->size : 0;
		break;
	case '2':
		e->type = BLZ_TAR_SYMLINK;
		break;
	case '3':
		e->type = BLZ_TAR_CHR;
		break;
	case '4':
		e->type = BLZ_TAR_BLK;
		break;
	case '5':
		e->type = BLZ_TAR_DIR;
		break;
	case 'D':
		/* GNU incremental dumpdir: a directory followed by a file list, skipped */
		e->type = BLZ_TAR_DIR;
		body = hsize;
		break;
	case '6':
		e->type = BLZ_TAR_FIFO;
		break;
	case 'S':
		r = fail(t, -EBADMSG,
			 "sparse archive members are not supported ('%s', header at offset %llu)",
			 qname(q, raw), ho);
		goto err;
	case 'V':
		r = fail(t, -EBADMSG,
			 "volume label headers are not supported ('%s', header at offset %llu)",
			 qname(q, raw), ho);
		goto err;
	case 'M':
		r = fail(t, -EBADMSG,
			 "multi-volume continuation of '%s' is not supported (header at offset %llu)",
			 qname(q, raw), ho);
		goto err;
	default:
		r = fail(t, -EBADMSG,
			 "entry '%s' has unsupported type %s (header at offset %llu)",
			 qname(q, raw), qtype(tq, type), ho);
		goto err;
	}
	if (t->local.set & PAX_SPARSE) {
		r = fail(t, -EBADMSG,
			 "sparse archive members are not supported ('%s', header at offset %llu)",
			 qname(q, raw), ho);
		goto err;
	}

	r = normalize(t, raw, "path", hoff, &e->path);
	if (r < 0)
		goto err;
	if (!e->path[0] && e->type != BLZ_TAR_DIR) {
		r = fail(t, -EBADMSG, "entry '%s' has an empty path (header at offset %llu)",
			 qname(q, raw), ho);
		goto err;
	}

	if (e->type == BLZ_TAR_HARDLINK || e->type == BLZ_TAR_SYMLINK) {
		if ((a = pax_pick(t, PAX_LINKPATH)))
			rawlink = blz_xstrdup(a->linkpath);
		else if (t->long_link)
			rawlink = blz_xstrdup(t->long_link);
		else
			rawlink = field_str(h + H_LINKNAME, 100);
		if (!rawlink[0]) {
			r = fail(t, -EBADMSG, "link '%s' has an empty target (header at offset %llu)",
				 qname(q, raw), ho);
			goto err;
		}
		if (e->type == BLZ_TAR_SYMLINK) {
			e->linkname = rawlink;
			rawlink = NULL;
		} else {
			char what[QNAME_SIZE + 32];
			snprintf(what, sizeof(what), "hard link target of '%s'", qname(q2, raw));
			r = normalize(t, rawlink, what, hoff, &e->linkname);
			if (r < 0)
				goto err;
			if (!e->linkname[0]) {
				r = fail(t, -EBADMSG,
					 "hard link '%s' points to the archive root '%s' (header at offset %llu)",
					 qname(q, raw), qname(q2, rawlink), ho);
				goto err;
			}
		}
	}

	r = header_uint(t, h, H_MODE, 8, UINT64_MAX, "mode", hoff, &v);
	if (r < 0)
		goto err;
	e->mode = (uint32_t)(v & 07777);

	if ((a = pax_pick(t, PAX_UID))) {
		e->uid = a->uid;
	} else {
		r = header_uint(t, h, H_UID, 8, UINT32_MAX, "uid", hoff, &v);
		if (r < 0)
			goto err;
		e->uid = (uint32_t)v;
	}
	if ((a = pax_pick(t, PAX_GID))) {
		e->gid = a->gid;
	} else {
		r = header_uint(t, h, H_GID, 8, UINT32_MAX, "gid", hoff, &v);
		if (r < 0)
			goto err;
		e->gid = (uint32_t)v;
	}
	if ((a = pax_pick(t, PAX_MTIME))) {
		e->mtime = a->mtime;
	} else {
		r = header_time(t, h, hoff, &e->mtime);
		if (r < 0)
			goto err;
	}
	a = pax_pick(t, PAX_ATIME);
	e->atime = a ? a->atime : e->mtime;
	a = pax_pick(t, PAX_CTIME);
	e->ctime = a ? a->ctime : e->mtime;

	/* other types never carry data (POSIX), whatever their size field says */
	if (e->type == BLZ_TAR_REG) {
		e->size = body;
		t->data_left = body;
		t->skip_left = (BLOCK - body % BLOCK) % BLOCK;
	} else {
		t->skip_left = body + (BLOCK - body % BLOCK) % BLOCK;
	}

	if (e->type == BLZ_TAR_CHR || e->type == BLZ_TAR_BLK) {
		r = header_uint(t, h, H_DEVMAJOR, 8, UINT32_MAX, "devmajor", hoff, &v);
		if (r < 0)
			goto err;
		e->devmajor = (uint32_t)v;
		r = header_uint(t, h, H_DEVMINOR, 8, UINT32_MAX, "devminor", hoff, &v);
		if (r < 0)
			goto err;
		e->devminor = (uint32_t)v;
	}

	xattrs_build(t);
	e->header_offset = first_off;
	t->have_entry = true;
	free(raw);
	free(rawlink);
	return 1;
err:
	free(raw);
	free(rawlink);
	entry_clear(t);
	return r;
}

static int read_entry(struct blz_tar *t)
{
	uint64_t first_off = UINT64_MAX;
	uint8_t h[BLOCK];

	meta_clear(t);
	for (;;) {
		uint64_t hoff = t->offset, hsize = 0;
		ssize_t n = src_read(t, h, BLOCK);
		int r;

		if (n < 0)
			return (int)n;
		if (n == 0 && first_off == UINT64_MAX && !t->truncated) {
			t->at_end = true;
			return 0;
		}
		if (n < BLOCK) {
			if (first_off != UINT64_MAX)
				return fail_eof(t,
						"unexpected end of archive after extended header at offset %llu",
						(unsigned long long)first_off);
			return fail_eof(t, "unexpected end of archive in header at offset %llu",
					(unsigned long long)hoff);
		}
		if (is_zero(h, BLOCK)) {
			if (first_off != UINT64_MAX)
				return fail(t, -EBADMSG,
					    "extended header at offset %llu is not followed by an entry",
					    (unsigned long long)first_off);
			n = src_read(t, h, BLOCK);
			if (n < 0)
				return (int)n;
			if (!is_zero(h, (size_t)n))
				return fail(t, -EBADMSG,
					    "lone zero block at offset %llu followed by more data",
					    (unsigned long long)hoff);
			t->at_end = true;
			return 0;
		}
		if (!checksum_ok(h))
			return fail(t, -EBADMSG, "bad header checksum at offset %llu",
				    (unsigned long long)hoff);

		enum hdr_format fmt = header_format(h);
		uint8_t type = h[H_TYPE];
		r = header_uint(t, h, H_SIZE, 12, MAX_SIZE, "size", hoff, &hsize);
		if (r < 0) {
			/* name the entry too (as its header has it: a pax path comes later) */
			char q[QNAME_SIZE], *name = header_name(h, fmt);
			size_t l = strlen(t->errmsg);
			snprintf(t->errmsg + l, sizeof(t->errmsg) - l, " (entry '%s')", qname(q, name));
			free(name);
			return r;
		}

		switch (type) {
		case 'x':
		case 'X': /* Solaris' name for the same thing */
		case 'g':
			r = read_meta(t, hsize, hoff, "pax header");
			if (r < 0)
				return r;
			r = pax_parse(t, t->meta.data, t->meta.len, type == 'g', hoff);
			if (r < 0)
				return r;
			if (type != 'g' && first_off == UINT64_MAX)
				first_off = hoff;
			continue;
		case 'L':
		case 'K':
			r = read_meta(t, hsize, hoff,
				      type == 'L' ? "GNU long name" : "GNU long link name");
			if (r < 0)
				return r;
			char **slot = type == 'L' ? &t->long_name : &t->long_link;
			free(*slot);
			*slot = field_str(t->meta.data, t->meta.len);
			if (first_off == UINT64_MAX)
				first_off = hoff;
			continue;
		}
		return build_entry(t, h, fmt, hoff, first_off == UINT64_MAX ? hoff : first_off,
				   hsize);
	}
}

/* ---- public interface ---- */

int blz_tar_open(struct blz_tar **ret, int fd)
{
	return blz_tar_open_observed(ret, fd, NULL);
}

int blz_tar_open_observed(struct blz_tar **ret, int fd, const struct blz_tar_observers *obs)
{
	*ret = NULL;
	if (fd < 0)
		return -EBADF;

	struct blz_tar *t = blz_xcalloc(1, sizeof(*t));
	t->fd = fd;
	if (obs)
		t->obs = *obs;
	t->in = blz_xmalloc(IN_BUF_SIZE);
	*ret = t;
	return 0;
}

int blz_tar_drain(struct blz_tar *t)
{
	uint64_t skipped;

	if (t->err)
		return t->err;
	if (t->mode == SRC_PLAIN && !t->obs.raw && !t->obs.decoded)
		return 0;
	int r = src_skip(t, UINT64_MAX, &skipped);
	if (r < 0)
		return r;
	if (t->truncated)
		return fail_eof(t, "the input ends early after the end of the archive at offset %llu",
				(unsigned long long)t->offset);
	return 0;
}

int blz_tar_next(struct blz_tar *t, const struct blz_tar_entry **ret_entry)
{
	*ret_entry = NULL;
	if (t->err)
		return t->err;
	if (t->at_end)
		return 0;

	if (t->have_entry) {
		uint64_t left = t->data_left + t->skip_left, skipped = 0;
		int r = src_skip(t, left, &skipped);
		if (r < 0)
			return r;
		if (skipped < left) {
			char q[QNAME_SIZE];
			return fail_eof(t, "unexpected end of archive in '%s'",
					qname(q, t->entry.path));
		}
		entry_clear(t);
	}

	int r = read_entry(t);
	if (r > 0)
		*ret_entry = &t->entry;
	return r;
}

ssize_t blz_tar_read(struct blz_tar *t, void *buf, size_t len)
{
	if (t->err)
		return t->err;
	if (!t->have_entry || !t->data_left || !len)
		return 0;
	if (len > t->data_left)
		len = (size_t)t->data_left;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;

	ssize_t n = src_read(t, buf, len);
	if (n < 0)
		return n;
	t->data_left -= (uint64_t)n;
	if ((size_t)n < len) {
		char q[QNAME_SIZE];
		return fail_eof(t, "unexpected end of archive in '%s'", qname(q, t->entry.path));
	}
	return n;
}

const char *blz_tar_error(const struct blz_tar *t)
{
	if (!t || !t->err)
		return "no error";
	return t->errmsg;
}

void blz_tar_close(struct blz_tar *t)
{
	if (!t)
		return;
	entry_clear(t);
	meta_clear(t);
	pax_clear(&t->global);
	blz_buf_release(&t->meta);
	ZSTD_freeDCtx(t->zd);
	blz_inflate_free(t->gz);
	free(t->out);
	free(t->in);
	free(t);
}
