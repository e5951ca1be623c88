#include "ingest/pathset.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void blz_pathset_init(struct blz_pathset *ps)
{
	memset(ps, 0, sizeof(*ps));
}

void blz_pathset_release(struct blz_pathset *ps)
{
	for (size_t i = 0; i < ps->globs.len; i++)
		free(ps->globs.v[i]);
	for (size_t i = 0; i < ps->exact.len; i++)
		free(ps->exact.v[i]);
	vec_release(&ps->globs);
	vec_release(&ps->exact);
	ps->sealed = false;
}

/* Drops a leading "/" or "./" (repeated) and trailing "/"; returns a new string. */
static char *normalize(const char *p)
{
	for (;;) {
		if (p[0] == '/')
			p++;
		else if (p[0] == '.' && p[1] == '/')
			p += 2;
		else
			break;
	}
	char *s = blz_xstrdup(p);
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		s[--n] = 0;
	return s;
}

void blz_pathset_add_glob(struct blz_pathset *ps, const char *glob)
{
	vec_push(&ps->globs, normalize(glob));
}

void blz_pathset_add_path(struct blz_pathset *ps, const char *path)
{
	vec_push(&ps->exact, normalize(path));
	ps->sealed = false;
}

int blz_pathset_read_list(struct blz_pathset *ps, const char *file, size_t *bad_line)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int added = 0, r = 0;
	errno = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = 0;
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = 0;
		if ((size_t)n != strlen(line) || n > 4095) {
			*bad_line = lineno;
			r = -EINVAL;
			break;
		}
		if (n == 0 || line[0] == '#')
			continue;
		blz_pathset_add_path(ps, line);
		added++;
	}
	if (!r && ferror(f))
		r = -EIO;
	free(line);
	fclose(f);
	return r < 0 ? r : added;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void blz_pathset_seal(struct blz_pathset *ps)
{
	if (ps->exact.len)
		qsort(ps->exact.v, ps->exact.len, sizeof(ps->exact.v[0]), cmp_str);
	ps->sealed = true;
}

bool blz_pathset_empty(const struct blz_pathset *ps)
{
	return ps->globs.len == 0 && ps->exact.len == 0;
}

static bool match_one(const struct blz_pathset *ps, const char *path)
{
	const char *key = path;
	if (ps->exact.len && bsearch(&key, ps->exact.v, ps->exact.len, sizeof(ps->exact.v[0]), cmp_str))
		return true;
	for (size_t i = 0; i < ps->globs.len; i++)
		if (fnmatch(ps->globs.v[i], path, 0) == 0)
			return true;
	return false;
}

bool blz_pathset_match(const struct blz_pathset *ps, const char *path)
{
	if (blz_pathset_empty(ps))
		return false;
	if (match_one(ps, path))
		return true;
	/* A directory above it: test each prefix ending before a '/'. */
	char *buf = blz_xstrdup(path);
	bool hit = false;
	for (char *slash = strrchr(buf, '/'); slash && !hit; slash = strrchr(buf, '/')) {
		*slash = 0;
		hit = match_one(ps, buf);
	}
	free(buf);
	return hit;
}
