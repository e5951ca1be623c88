/* Backend specs ("null,size=1G") and the common entry points. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "util/size.h"

void blz_backend_close(struct blz_backend *b)
{
	if (b)
		b->ops->close(b);
}

__thread struct blz_backend_req *blz_backend_current;

int blz_backend_read_req(struct blz_backend *b, struct blz_backend_req *req)
{
	struct blz_backend_req *outer = blz_backend_current;
	blz_backend_current = req;
	int r = blz_backend_read(b, req->buf, req->len, req->off);
	blz_backend_current = outer;
	return r;
}

void blz_backend_submit(struct blz_backend *b, struct blz_backend_req *req)
{
	if (req->off > b->size || req->len > b->size - req->off)
		req->done(req, -EIO);
	else if (b->ops->submit)
		b->ops->submit(b, req);
	else
		req->done(req, blz_backend_read_req(b, req));
}

static int spec_error(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int spec_error(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const struct {
	const char *name;
	int (*open)(uint64_t size, struct blz_backend **ret);
} backends[] = {
	{ "null", blz_backend_null_open },
	{ "pattern", blz_backend_pattern_open },
};

int blz_backend_open_spec(const char *spec, struct blz_backend **ret, char *err, size_t errlen)
{
	if (!spec || !*spec)
		return spec_error(err, errlen, "empty backend spec");
	char *copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	char *name = strtok_r(copy, ",", &save);
	int (*open_fn)(uint64_t, struct blz_backend **) = NULL;
	for (size_t i = 0; name && i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(name, backends[i].name))
			open_fn = backends[i].open;
	int r;
	if (!open_fn || spec[0] == ',') {
		r = spec_error(err, errlen, "unknown backend '%s' (known: null, pattern)",
			       spec[0] == ',' ? "" : name);
		goto out;
	}
	uint64_t size = 0, threads = 0, stall = UINT64_MAX;
	int have_size = 0;
	char *opt;
	while ((opt = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(opt, '=');
		if (!eq) {
			r = spec_error(err, errlen, "option '%s' has no value (want KEY=VALUE)", opt);
			goto out;
		}
		*eq = 0;
		const char *val = eq + 1;
		uint64_t *dst = !strcmp(opt, "size") ? &size : !strcmp(opt, "async") ? &threads
			      : !strcmp(opt, "stall") ? &stall : NULL;
		if (!dst) {
			r = spec_error(err, errlen, "unknown option '%s' for backend %s", opt, name);
			goto out;
		}
		if (dst == &size && have_size++) {
			r = spec_error(err, errlen, "size given twice");
			goto out;
		}
		if (blz_parse_size(val, dst) < 0) {
			r = spec_error(err, errlen, "bad %s '%s'", opt, val);
			goto out;
		}
	}
	if (!have_size) {
		r = spec_error(err, errlen, "backend %s needs size=SIZE", name);
		goto out;
	}
	if (size == 0 || size % 4096) {
		r = spec_error(err, errlen, "size %llu is not a non-zero multiple of 4096",
			       (unsigned long long)size);
		goto out;
	}
	if (threads > 64 || (stall != UINT64_MAX && !threads)) {
		r = spec_error(err, errlen, "async wants 1..64 threads (and stall needs async)");
		goto out;
	}
	struct blz_backend *b;
	r = open_fn(size, &b);
	if (r == 0 && threads) {
		struct blz_backend *f;
		r = blz_backend_async_open(b, (unsigned)threads, stall, &f);
		if (r < 0)
			blz_backend_close(b);
		else
			b = f;
	}
	if (r == 0)
		*ret = b;
out:
	free(copy);
	return r;
}
