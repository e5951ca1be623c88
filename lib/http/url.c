/* URLs, redirect targets and NO_PROXY matching: see internal.h. */
#include "http/internal.h"
#include "util/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void blz_http_url_release(struct blz_http_url *u)
{
	if (!u)
		return;
	free(u->target);
	u->target = NULL;
}

int blz_http_url_parse(const char *s, struct blz_http_url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	const char *p;
	if (!strncasecmp(s, "http://", 7)) {
		p = s + 7;
	} else if (!strncasecmp(s, "https://", 8)) {
		p = s + 8;
		u->https = true;
	} else {
		return blz_errf(err, errlen, -EINVAL, "URL '%s' is not http:// or https://", s);
	}
	size_t alen = strcspn(p, "/?#");
	const char *rest = p + alen;
	if (memchr(p, '@', alen))
		return blz_errf(err, errlen, -EINVAL,
				"credentials in a URL are not supported (use an auth file)");
	const char *port = NULL;
	size_t hlen;
	bool bracket = false;
	if (*p == '[') {
		const char *e = memchr(p, ']', alen);
		if (!e)
			return blz_errf(err, errlen, -EINVAL, "URL '%s': bad IPv6 address", s);
		hlen = (size_t)(e - p - 1);
		bracket = true;
		if (e + 1 < p + alen) {
			if (e[1] != ':')
				return blz_errf(err, errlen, -EINVAL, "URL '%s': bad authority", s);
			port = e + 2;
		}
		p++;
	} else {
		const char *c = memchr(p, ':', alen);
		hlen = c ? (size_t)(c - p) : alen;
		port = c ? c + 1 : NULL;
	}
	if (hlen == 0 || hlen >= sizeof(u->host))
		return blz_errf(err, errlen, -EINVAL, "URL '%s': bad host", s);
	memcpy(u->host, p, hlen);
	u->host[hlen] = 0;
	for (const char *h = u->host; *h; h++)
		if (!(*h == '-' || *h == '.' || *h == '_' || *h == ':' ||
		      (*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z')))
			return blz_errf(err, errlen, -EINVAL, "URL '%s': bad host", s);
	if (strchr(u->host, ':') && !bracket)
		return blz_errf(err, errlen, -EINVAL, "URL '%s': bad host", s);
	unsigned long pv = u->https ? 443 : 80;
	if (port) {
		const char *e = port;
		pv = 0;
		while (e < rest && *e >= '0' && *e <= '9' && pv <= 65535)
			pv = pv * 10 + (unsigned long)(*e++ - '0');
		if (e == port || e != rest || pv == 0 || pv > 65535)
			return blz_errf(err, errlen, -EINVAL, "URL '%s': bad port", s);
	}
	u->port = (uint16_t)pv;
	bool v6 = strchr(u->host, ':') != NULL;
	bool dflt = pv == (u->https ? 443u : 80u);
	if (dflt)
		snprintf(u->authority, sizeof(u->authority), "%s%s%s", v6 ? "[" : "", u->host,
			 v6 ? "]" : "");
	else
		snprintf(u->authority, sizeof(u->authority), "%s%s%s:%lu", v6 ? "[" : "", u->host,
			 v6 ? "]" : "", pv);
	size_t tlen = strcspn(rest, "#");
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)rest[i] <= 0x20 || rest[i] == 0x7f)
			return blz_errf(err, errlen, -EINVAL, "URL has a space or control byte");
	struct blz_buf t = { 0 };
	if (*rest != '/')
		blz_buf_append(&t, "/", 1);
	blz_buf_append(&t, rest, tlen);
	blz_buf_append(&t, "", 1);
	u->target = (char *)t.data;
	return 0;
}

bool blz_http_same_origin(const struct blz_http_url *a, const struct blz_http_url *b)
{
	return a->https == b->https && a->port == b->port && !strcasecmp(a->host, b->host);
}

int blz_http_url_resolve(const struct blz_http_url *base, const char *loc, char **ret)
{
	const char *scheme = base->https ? "https:" : "http:";
	struct blz_buf b = { 0 };
	if (!strncasecmp(loc, "http://", 7) || !strncasecmp(loc, "https://", 8)) {
		blz_buf_append(&b, loc, strlen(loc));
	} else if (loc[0] == '/' && loc[1] == '/') {
		blz_buf_append(&b, scheme, strlen(scheme));
		blz_buf_append(&b, loc, strlen(loc));
	} else if (*loc && !strchr(loc, ':')) {
		blz_buf_append(&b, scheme, strlen(scheme));
		blz_buf_append(&b, "//", 2);
		blz_buf_append(&b, base->authority, strlen(base->authority));
		if (loc[0] != '/') {
			/* relative: the base target's directory */
			size_t q = strcspn(base->target, "?");
			const char *slash = base->target;
			for (size_t i = 0; i < q; i++)
				if (base->target[i] == '/')
					slash = base->target + i;
			blz_buf_append(&b, base->target, (size_t)(slash - base->target) + 1);
		}
		blz_buf_append(&b, loc, strlen(loc));
	} else {
		return -EINVAL;
	}
	blz_buf_append(&b, "", 1);
	*ret = (char *)b.data;
	return 0;
}

bool blz_http_no_proxy(const char *list, const char *host)
{
	if (!list)
		return false;
	size_t hl = strlen(host);
	const char *p = list;
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, ", \t");
		const char *e = p;
		p += n;
		if (n && *e == '.') {
			e++;
			n--;
		}
		if (n == 1 && *e == '*')
			return true;
		if (n == 0 || n > hl)
			continue;
		/* equal, or host ends in "." + entry */
		if (!strncasecmp(host + hl - n, e, n) && (n == hl || host[hl - n - 1] == '.'))
			return true;
	}
	return false;
}
