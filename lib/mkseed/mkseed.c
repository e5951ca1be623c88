#include "mkseed/mkseed.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "ingest/pathset.h"
#include "oci/oci.h"
#include "seedset/seedset.h"
#include "util/strbuf.h"

/* What the clean-up removes: the paths are filled before the files exist. */
static struct {
	char tmp[4096];     /* the temporary image */
	char map_tmp[4200]; /* the temporary map ("" without lazy) */
	char map[4096];     /* the published map, while map_published */
	int map_saved;      /* with --force: the old map is at map_tmp (exchanged), to put back */
	char store[4096];   /* the store directory, while store_new */
	volatile sig_atomic_t active, map_published, store_new;
} pending;

/* Removes the store directory this run created, with every file in its chunk directories
 * (this run's chunks, named or pending). Async-signal-safe: system calls only. */
static void remove_new_store(void)
{
	static const char hex[] = "0123456789abcdef";
	char sub[4100];
	size_t n = strlen(pending.store);
	if (n + 4 > sizeof(sub))
		return;
	memcpy(sub, pending.store, n);
	sub[n] = '/';
	sub[n + 3] = 0;
	for (unsigned b = 0; b < 256; b++) {
		sub[n + 1] = hex[b >> 4];
		sub[n + 2] = hex[b & 15];
		int fd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		char buf[4096] __attribute__((aligned(8)));
		long got;
		while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
			for (long off = 0; off < got;) {
				/* struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name */
				unsigned short reclen;
				memcpy(&reclen, buf + off + 16, sizeof(reclen));
				const char *name = buf + off + 19;
				if (strcmp(name, ".") && strcmp(name, ".."))
					unlinkat(fd, name, 0);
				off += reclen;
			}
		}
		close(fd);
		rmdir(sub);
	}
	rmdir(pending.store);
}

/* Async-signal-safe. Once the image is renamed (the commit point), nothing is removed. */
static void cleanup(void)
{
	if (!pending.active || access(pending.tmp, F_OK) != 0)
		return;
	if (pending.map_saved)
		rename(pending.map_tmp, pending.map); /* the old map back in place of the new */
	else if (pending.map_tmp[0])
		unlink(pending.map_tmp);
	if (pending.map_published && !pending.map_saved)
		unlink(pending.map);
	if (pending.store_new)
		remove_new_store();
	unlink(pending.tmp);
}

void blz_mkseed_signal_cleanup(void)
{
	cleanup();
}

struct run {
	const struct blz_mkseed_opts *o;
	struct blz_mkseed_result *res;
	char *err;
	size_t errlen;
	int fd;
	struct blz_seed *s;
	struct blz_importer *im;
	struct blz_oci_image **imgs; /* per source, NULL for tars */
	struct blz_pathset local;    /* --local, --local-list */
};

static int hook(struct run *run, enum blz_mkseed_step step, size_t index)
{
	if (!run->o->hook)
		return 0;
	int r = run->o->hook(run->o->hook_ctx, step, index);
	if (r < 0)
		return blz_errf(run->err, run->errlen, r, "injected failure before step %d (%zu): %s",
				(int)step, index, strerror(-r));
	return 0;
}

static bool keep_local(void *ctx, const char *path)
{
	return blz_pathset_match(ctx, path);
}

static int read_local_lists(struct run *run)
{
	const struct blz_mkseed_opts *o = run->o;
	for (size_t i = 0; i < o->nlocal_globs; i++)
		blz_pathset_add_glob(&run->local, o->local_globs[i]);
	for (size_t i = 0; i < o->nlocal_lists; i++) {
		size_t bad = 0;
		int n = blz_pathset_read_list(&run->local, o->local_lists[i], &bad);
		if (n == -EINVAL)
			return blz_errf(run->err, run->errlen, n,
					"%s: line %zu is not a path (a NUL byte, or over 4095 bytes)",
					o->local_lists[i], bad);
		if (n < 0)
			return blz_errf(run->err, run->errlen, n, "cannot read the list '%s': %s",
					o->local_lists[i], strerror(-n));
	}
	blz_pathset_seal(&run->local);
	return 0;
}

/* Step 1: nothing is created before these pass. */
static int check(struct run *run)
{
	const struct blz_mkseed_opts *o = run->o;
	const char *out = o->output;
	struct stat st;
	int r = read_local_lists(run);
	if (r < 0)
		return r;
	if (!o->force && lstat(out, &st) == 0)
		return blz_errf(run->err, run->errlen, -EEXIST,
				"'%s' exists (use --force to replace it)", out);
	if (o->lazy && !o->force && lstat(run->res->map_path, &st) == 0)
		return blz_errf(run->err, run->errlen, -EEXIST,
				"'%s' exists (use --force to replace it)", run->res->map_path);
	if (lstat(out, &st) == 0 && !S_ISREG(st.st_mode))
		return blz_errf(run->err, run->errlen, -EINVAL, "'%s' is not a regular file", out);
	/* each OCI image's index, manifest and config are read and checked before any output */
	run->imgs = blz_xcalloc(o->nsources ? o->nsources : 1, sizeof(*run->imgs));
	for (size_t i = 0; i < o->nsources; i++) {
		if (o->sources[i].kind != BLZ_MKSEED_OCI)
			continue;
		r = blz_oci_open(&run->imgs[i], o->sources[i].path, o->sources[i].platform,
				     run->err, run->errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Step 2: the temporary image beside OUTPUT. */
static int create_tmp(struct run *run)
{
	const char *out = run->o->output;
	const char *slash = strrchr(out, '/');
	int dirlen = slash ? (int)(slash - out + 1) : 0;
	snprintf(pending.tmp, sizeof(pending.tmp), "%.*s.%s.tmp-XXXXXX", dirlen, out,
		 slash ? slash + 1 : out);
	if (run->o->lazy)
		snprintf(pending.map_tmp, sizeof(pending.map_tmp), "%s.tmp-%d", run->res->map_path,
			 (int)getpid());
	else
		pending.map_tmp[0] = 0;
	snprintf(pending.map, sizeof(pending.map), "%s", run->res->map_path);
	pending.map_published = pending.map_saved = 0;
	pending.active = 1;
	run->fd = mkostemp(pending.tmp, O_CLOEXEC);
	if (run->fd < 0) {
		int e = errno;
		pending.active = 0;
		return blz_errf(run->err, run->errlen, -e, "cannot create '%s': %s", out, strerror(e));
	}
	fchmod(run->fd, 0644);
	return 0;
}

static int seed_failed(struct run *run, int r)
{
	return blz_errf(run->err, run->errlen, r, "%s", blz_seed_error(run->s));
}

/* One OCI image: its layers in order, each verified against its digest and diff_id. */
static int ingest_oci(struct run *run, struct blz_oci_image *img)
{
	for (size_t i = 0; i < blz_oci_layer_count(img); i++) {
		struct blz_oci_layer *l;
		int r = blz_oci_layer_open(img, i, &l, run->err, run->errlen);
		if (r < 0)
			return r;
		struct blz_tar_layer tl = {
			.fd = blz_oci_layer_fd(l),
			.name = blz_oci_layer_name(l),
			.obs = { blz_oci_observe_raw, blz_oci_observe_decoded, l },
		};
		r = blz_ingest_tar_layer(run->s, &tl);
		/* a blob that is not what its digest says explains any error reading it */
		int v = blz_oci_layer_verify(l, r == 0, run->err, run->errlen);
		blz_oci_layer_close(l);
		if (v < 0)
			return v;
		if (r < 0)
			return seed_failed(run, r);
	}
	return 0;
}

static int ingest_tar(struct run *run, size_t i)
{
	const struct blz_mkseed_opts *o = run->o;
	const char *path = o->sources[i].path;
	bool std_in = strcmp(path, "-") == 0;
	int tfd = std_in ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (tfd < 0) {
		int e = errno;
		return blz_errf(run->err, run->errlen, -e, "cannot open '%s': %s", path, strerror(e));
	}
	char lname[4200];
	const char *src = std_in ? "standard input" : path;
	if (o->nsources > 1)
		snprintf(lname, sizeof(lname), "layer %zu/%zu (%s)", i + 1, o->nsources, src);
	else
		snprintf(lname, sizeof(lname), "%s", src);
	int r = blz_ingest_tar(run->s, tfd, lname);
	if (tfd > 0)
		close(tfd);
	return r < 0 ? seed_failed(run, r) : 0;
}

/* Steps 2-3: the importer, the sources in order, finish. */
static int write_image(struct run *run)
{
	const struct blz_mkseed_opts *o = run->o;
	struct blz_seed_opts so = o->seed;
	int r;
	so.keep_local = keep_local;
	so.keep_local_ctx = &run->local;
	if (o->lazy && !so.inline_max_set) {
		so.inline_max = BLZ_MKSEED_LAZY_INLINE_MAX;
		so.inline_max_set = true;
	}
	if (o->lazy) {
		struct stat st;
		if ((r = hook(run, BLZ_MKSEED_STEP_STORE_OPEN, 0)) < 0)
			return r;
		snprintf(pending.store, sizeof(pending.store), "%s", run->res->store_path);
		pending.store_new = lstat(run->res->store_path, &st) < 0 && errno == ENOENT;
		r = blz_importer_open(run->res->store_path, &run->im, run->err, run->errlen);
		if (r < 0)
			return r;
		so.lazy_put = blz_importer_put;
		so.lazy_ctx = run->im;
	}
	r = blz_seed_new(&run->s, run->fd, &so);
	if (r < 0)
		return blz_errf(run->err, run->errlen, r, "cannot start the seed: %s", strerror(-r));
	if (o->rootdir) {
		if ((r = hook(run, BLZ_MKSEED_STEP_DIR, 0)) < 0)
			return r;
		if ((r = blz_ingest_dir(run->s, o->rootdir)) < 0)
			return seed_failed(run, r);
	}
	for (size_t i = 0; i < o->nsources; i++) {
		if ((r = hook(run, BLZ_MKSEED_STEP_SOURCE, i)) < 0)
			return r;
		r = run->imgs[i] ? ingest_oci(run, run->imgs[i]) : ingest_tar(run, i);
		if (r < 0)
			return r;
	}
	if (o->rootdir) {
		if ((r = hook(run, BLZ_MKSEED_STEP_DIR_DATA, 0)) < 0)
			return r;
		if ((r = blz_ingest_dir_data(run->s)) < 0)
			return seed_failed(run, r);
	}
	if ((r = hook(run, BLZ_MKSEED_STEP_FINISH, 0)) < 0)
		return r;
	r = blz_seed_finish(run->s, &run->res->layout);
	return r < 0 ? seed_failed(run, r) : 0;
}

/* Steps 4-5: the store and the map, then the commit point. */
static int commit(struct run *run)
{
	struct blz_mkseed_result *res = run->res;
	int r;
	if (run->im) {
		const struct blz_seed_layout *lay = &res->layout;
		if ((r = hook(run, BLZ_MKSEED_STEP_MAP_WRITE, 0)) < 0)
			return r;
		r = blz_importer_write_map(run->im, pending.map_tmp, lay->fsid, lay->import_off,
					   lay->import_size, run->err, run->errlen);
		if (r < 0)
			return r;
		if ((r = hook(run, BLZ_MKSEED_STEP_MAP_RENAME, 0)) < 0)
			return r;
		/* With --force an old map may be there: exchange it with the new one, so that a
		 * failure before the commit point can put it back (the old image still needs it).
		 * Signals wait meanwhile: the clean-up must know which file holds which map. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		if (renameat2(AT_FDCWD, pending.map_tmp, AT_FDCWD, res->map_path,
			      RENAME_EXCHANGE) == 0)
			pending.map_saved = 1;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!pending.map_saved && rename(pending.map_tmp, res->map_path) < 0) {
			int e = errno;
			return blz_errf(run->err, run->errlen, -e, "cannot rename the map to '%s': %s",
					res->map_path, strerror(e));
		}
		pending.map_published = 1;
	}
	if ((r = hook(run, BLZ_MKSEED_STEP_SEED_RENAME, 0)) < 0)
		return r;
	if (rename(pending.tmp, run->o->output) < 0) {
		int e = errno;
		return blz_errf(run->err, run->errlen, -e, "cannot rename the image to '%s': %s",
				run->o->output, strerror(e));
	}
	pending.active = pending.store_new = pending.map_published = 0;
	if (pending.map_saved)
		unlink(pending.map_tmp); /* the old map, replaced for good */
	pending.map_saved = 0;
	return 0;
}

static void release(struct run *run)
{
	blz_seed_free(run->s);
	for (size_t i = 0; run->imgs && i < run->o->nsources; i++)
		blz_oci_close(run->imgs[i]);
	free(run->imgs);
	blz_pathset_release(&run->local);
	blz_importer_close(run->im); /* drops the chunks not yet synced */
	if (run->fd >= 0)
		close(run->fd);
}

static void fail_cleanup(struct run *run)
{
	struct blz_importer *im = run->im;
	run->im = NULL;
	blz_importer_close(im); /* drops the chunks not yet synced */
	cleanup();
	pending.active = pending.store_new = pending.map_published = 0;
}

int blz_mkseed(const struct blz_mkseed_opts *opts, struct blz_mkseed_result *ret, char *err,
	       size_t errlen)
{
	struct blz_mkseed_result res;
	memset(&res, 0, sizeof(res));
	struct run run = { .o = opts, .res = &res, .err = err, .errlen = errlen, .fd = -1 };
	blz_pathset_init(&run.local);
	if (!opts->output || !*opts->output || (!opts->rootdir && !opts->nsources))
		return blz_errf(err, errlen, -EINVAL, "nothing to put in the seed");
	if (!opts->lazy && (opts->store || opts->map || opts->nlocal_globs || opts->nlocal_lists))
		return blz_errf(err, errlen, -EINVAL, "the store, the map and local paths go with lazy");
	if (opts->lazy) {
		/* the names beside OUTPUT ("OUTPUT.map", "OUTPUT.store") unless given */
		if (blz_seedset_paths(opts->output, opts->map, opts->store, res.map_path,
				      sizeof(res.map_path), res.store_path, sizeof(res.store_path)) < 0)
			return blz_errf(err, errlen, -ENAMETOOLONG, "the path of '%s' is too long",
					opts->output);
	}
	int r = check(&run);
	if (r == 0)
		r = create_tmp(&run);
	if (r == 0)
		r = hook(&run, BLZ_MKSEED_STEP_CREATE, 0);
	if (r == 0)
		r = write_image(&run);
	if (r == 0)
		r = commit(&run);
	if (r < 0) {
		fail_cleanup(&run);
		release(&run);
		return r;
	}
	struct stat st;
	res.seed_disk_bytes = fstat(run.fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
	if (run.im) {
		blz_importer_stats(run.im, &res.import);
		res.store_usage_failed =
			blz_importer_store_usage(run.im, &res.store_chunks, &res.store_bytes) < 0;
	}
	release(&run);
	*ret = res;
	return 0;
}
