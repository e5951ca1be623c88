/* /proc/PID/mountinfo: see mountinfo.h. */
#include "mount/mountinfo.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The next space-separated field of *s, or NULL at the end of the line. */
static const char *field(const char **s, size_t *len)
{
	const char *p = *s;
	if (!*p)
		return NULL;
	const char *e = strchr(p, ' ');
	if (!e)
		e = p + strlen(p);
	*len = (size_t)(e - p);
	*s = *e ? e + 1 : e;
	return p;
}

static bool parse_u64(const char *p, size_t len, uint64_t *ret)
{
	if (len == 0 || len > 19)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*ret = v;
	return true;
}

/* mountinfo writes space, tab, newline and backslash in paths as \ooo (octal). */
static char *unescape(const char *p, size_t len)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\\' && i + 3 < len &&
		    p[i + 1] >= '0' && p[i + 1] <= '3' && p[i + 2] >= '0' && p[i + 2] <= '7' &&
		    p[i + 3] >= '0' && p[i + 3] <= '7') {
			out[o++] = (char)((p[i + 1] - '0') * 64 + (p[i + 2] - '0') * 8 + (p[i + 3] - '0'));
			i += 3;
		} else {
			out[o++] = p[i];
		}
	}
	out[o] = '\0';
	return out;
}

int blz_mountinfo_parse_line(const char *line, struct blz_mnt *ret)
{
	const char *s = line, *f[5];
	size_t len[5];
	for (int i = 0; i < 5; i++) {
		f[i] = field(&s, &len[i]);
		if (!f[i])
			return -EINVAL;
	}
	struct blz_mnt m = { 0 };
	const char *colon = memchr(f[2], ':', len[2]);
	uint64_t maj, min;
	if (!parse_u64(f[0], len[0], &m.id) || !parse_u64(f[1], len[1], &m.parent) ||
	    !colon || !parse_u64(f[2], (size_t)(colon - f[2]), &maj) ||
	    !parse_u64(colon + 1, len[2] - (size_t)(colon - f[2]) - 1, &min) ||
	    maj > UINT32_MAX || min > UINT32_MAX || len[4] == 0 || f[4][0] != '/')
		return -EINVAL;
	m.major = (unsigned)maj;
	m.minor = (unsigned)min;
	/* The optional fields end at a lone "-"; the filesystem type follows. */
	const char *t;
	size_t tl;
	while ((t = field(&s, &tl)) && !(tl == 1 && *t == '-'))
		;
	if (t && (t = field(&s, &tl)))
		snprintf(m.fstype, sizeof(m.fstype), "%.*s", (int)tl, t);
	m.path = unescape(f[4], len[4]);
	if (!m.path)
		return -ENOMEM;
	*ret = m;
	return 0;
}

void blz_mnt_free(struct blz_mnt *m, size_t n)
{
	for (size_t i = 0; m && i < n; i++)
		free(m[i].path);
	free(m);
}

int blz_mountinfo_read(struct blz_mnt **ret, size_t *ret_n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	struct blz_mnt *m = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	char *line = NULL;
	ssize_t got;
	int r = 0;
	while ((got = getline(&line, &lcap, f)) > 0) {
		if (line[got - 1] == '\n')
			line[got - 1] = '\0';
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct blz_mnt *nm = realloc(m, nc * sizeof(*m));
			if (!nm) {
				r = -ENOMEM;
				break;
			}
			m = nm;
			cap = nc;
		}
		r = blz_mountinfo_parse_line(line, &m[n]);
		if (r < 0)
			break;
		n++;
	}
	if (r == 0 && ferror(f))
		r = -EIO;
	free(line);
	fclose(f);
	if (r < 0) {
		blz_mnt_free(m, n);
		return r;
	}
	*ret = m;
	*ret_n = n;
	return 0;
}
