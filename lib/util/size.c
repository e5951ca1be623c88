#include "util/size.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int blz_parse_size(const char *s, uint64_t *ret)
{
	if (!s || !*s)
		return -EINVAL;
	uint64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	int shift = 0;
	if (*p) {
		switch (*p) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		case 'p': case 'P': shift = 50; break;
		case 'e': case 'E': shift = 60; break;
		case 'b': case 'B': shift = 0; break;
		default: return -EINVAL;
		}
		char unit = *p++;
		if (unit != 'b' && unit != 'B') {
			if (*p == 'i' && (p[1] == 'B' || p[1] == 'b'))
				p += 2;
			else if (*p == 'B' || *p == 'b')
				p++;
		}
		if (*p)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = v << shift;
	return 0;
}

char *blz_format_size(uint64_t v, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	int u = 0;
	while (u < 6 && v >= (1ull << (10 * (u + 1))))
		u++;
	if (u == 0) {
		snprintf(buf, len, "%llu B", (unsigned long long)v);
	} else {
		uint64_t unit = 1ull << (10 * u);
		if (v % unit == 0)
			snprintf(buf, len, "%llu %s", (unsigned long long)(v / unit), units[u]);
		else
			snprintf(buf, len, "%.1f %s", (double)v / (double)unit, units[u]);
	}
	return buf;
}

int blz_parse_duration_ms(const char *s, uint32_t *ret)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	uint64_t v = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	uint64_t mul;
	if (!strcmp(p, "ms"))
		mul = 1;
	else if (!*p || !strcmp(p, "s"))
		mul = 1000;
	else if (!strcmp(p, "m"))
		mul = 60 * 1000;
	else if (!strcmp(p, "h"))
		mul = 3600 * 1000;
	else
		return -EINVAL;
	if (v * mul > UINT32_MAX - 1)
		return -ERANGE;
	*ret = (uint32_t)(v * mul);
	return 0;
}
