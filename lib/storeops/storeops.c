/* `blazy store verify|prefetch|gc` (storeops.h). */
#include "storeops/storeops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btrfs/inspect.h"
#include "fetch/fetch.h"
#include "fetch/source.h"
#include "lazy/lazy.h"
#include "map/map.h"
#include "seedset/seedset.h"
#include "store/diskcache.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/strbuf.h"

#define DEFAULT_JOBS 8
#define DEFAULT_TIMEOUT_MS 30000
#define MAX_JOBS 64
/* The largest chunk file image: the header and a payload of at most the zstd bound. */
#define MAX_IMAGE (BLZ_CHUNK_HEADER_LEN + BLZ_STORE_MAX_CHUNK + BLZ_STORE_MAX_CHUNK / 128 + 4096)

/* A chunk the map references, with the first record that does. */
struct ref {
	uint8_t digest[BLZ_STORE_DIGEST_LEN];
	uint32_t data_len;
	int area;
	uint64_t off, len, more;
};

typedef VEC(struct ref) ref_vec;

/* The report callback, serialised. */
struct reporter {
	const struct blz_storeops_opts *o;
	pthread_mutex_t lock;
};

static void report(struct reporter *rp, const struct blz_storeops_problem *p)
{
	if (!rp->o->report)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->o->report(rp->o->ctx, p);
	pthread_mutex_unlock(&rp->lock);
}

static void report_ref(struct reporter *rp, enum blz_storeops_kind kind, const char *store,
		       const struct ref *ref, const char *reason)
{
	struct blz_storeops_problem p = { .kind = kind, .store = store, .digest = ref->digest,
					  .reason = reason, .area = ref->area, .off = ref->off,
					  .len = ref->len, .more = ref->more };
	report(rp, &p);
}

/* ---- the map's records ---- */

/* Appends the records mapping [off, off + len) (each once, however the lookups cut it). */
static int map_refs(struct blz_map *map, uint64_t off, uint64_t len, ref_vec *out)
{
	struct blz_map_seg seg[256];
	uint64_t end = off + len, last_seq = UINT64_MAX;
	while (off < end) {
		size_t n;
		int r = blz_map_lookup(map, off, end - off, seg, 256, &n);
		if (r < 0)
			return r;
		if (!n)
			break;
		for (size_t i = 0; i < n; i++) {
			if (!seg[i].mapped || seg[i].rec.seq == last_seq)
				continue;
			last_seq = seg[i].rec.seq;
			struct ref x = { .data_len = seg[i].rec.data_len, .area = seg[i].rec.area,
					 .off = seg[i].rec.off, .len = seg[i].rec.len };
			memcpy(x.digest, seg[i].rec.digest, sizeof(x.digest));
			vec_push(out, x);
		}
		off = seg[n - 1].off + seg[n - 1].len;
	}
	return 0;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	int c = memcmp(x->digest, y->digest, BLZ_STORE_DIGEST_LEN);
	if (c)
		return c;
	if (x->area != y->area)
		return x->area - y->area;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Sorts by digest and keeps one ref per chunk (the lowest range; more counts the others). */
static void dedupe(ref_vec *v)
{
	blz_sort(v->v, v->len, sizeof(*v->v), cmp_ref);
	size_t w = 0;
	for (size_t i = 0; i < v->len; i++) {
		if (w && !memcmp(v->v[w - 1].digest, v->v[i].digest, BLZ_STORE_DIGEST_LEN) &&
		    v->v[w - 1].off != v->v[i].off) {
			v->v[w - 1].more++;
			continue;
		}
		if (w && !memcmp(v->v[w - 1].digest, v->v[i].digest, BLZ_STORE_DIGEST_LEN))
			continue; /* the same record twice (two files sharing it) */
		v->v[w++] = v->v[i];
	}
	v->len = w;
}

static int open_seed(const struct blz_storeops_opts *o, struct blz_seedset **ret, char *err,
		     size_t errlen)
{
	if (!o->seed)
		return blz_errf(err, errlen, -EINVAL, "no seed given");
	struct blz_seedset_opts so = { .seed = o->seed, .map_path = o->map_path,
				       .flags = BLZ_SEEDSET_MAP_ONLY };
	return blz_seedset_open(&so, ret, err, errlen);
}

/* ---- a pool of workers over n items ---- */

/* Each worker has a chunk-sized scratch buffer for its items (one allocation per worker,
 * not one per chunk: a fresh megabyte costs its page faults every time). */
typedef void (*pool_fn)(void *ctx, size_t i, uint8_t *scratch);

struct pool {
	size_t n;
	size_t next;		/* atomic */
	pool_fn fn;
	void *ctx;
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	uint8_t *scratch = blz_xmalloc(BLZ_STORE_MAX_CHUNK);
	for (;;) {
		size_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
		if (i >= p->n)
			break;
		p->fn(p->ctx, i, scratch);
	}
	free(scratch);
	return NULL;
}

static void run_pool(size_t n, unsigned jobs, pool_fn fn, void *ctx)
{
	struct pool p = { .n = n, .fn = fn, .ctx = ctx };
	pthread_t th[MAX_JOBS];
	unsigned started = 0;
	jobs = jobs ? jobs : DEFAULT_JOBS;
	if (jobs > MAX_JOBS)
		jobs = MAX_JOBS;
	if (jobs > n)
		jobs = (unsigned)n;
	for (; started < jobs; started++)
		if (pthread_create(&th[started], NULL, pool_worker, &p) != 0)
			break;
	if (!started)
		pool_worker(&p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

/* ---- verify ---- */

struct verify_ctx {
	const struct blz_storeops_opts *o;
	struct reporter *rp;
	struct blz_source *src;
	const ref_vec *refs;
	uint64_t missing, bad, unreachable; /* atomic */
};

static bool transient(int r)
{
	return r == -EAGAIN || r == -ETIMEDOUT || r == -ECONNRESET || r == -ECONNREFUSED ||
	       r == -EPIPE || r == -EIO;
}

static void verify_one(void *arg, size_t i, uint8_t *scratch)
{
	struct verify_ctx *v = arg;
	const struct ref *ref = &v->refs->v[i];
	uint32_t timeout = v->o->timeout_ms ? v->o->timeout_ms : DEFAULT_TIMEOUT_MS;
	uint64_t deadline = blz_now_ms() + timeout;
	struct blz_buf img = { 0 };
	struct blz_source_err serr;
	int r;
	/* a transient failure is retried with back-off until the deadline */
	for (unsigned attempt = 0;; attempt++) {
		memset(&serr, 0, sizeof(serr));
		img.len = 0;
		r = v->src->ops->get(v->src, ref->digest, MAX_IMAGE, deadline, &img, &serr);
		if (r == 0 || !transient(r) || attempt >= (v->o->retries == ~0u ? 4 : v->o->retries))
			break;
		uint64_t wait = serr.retry_after_ms ? serr.retry_after_ms : 100u << attempt;
		if (blz_now_ms() + wait >= deadline)
			break;
		blz_sleep_ms((unsigned)wait);
	}
	if (r == 0) {
		/* (a length above the maximum is refused before scratch is touched) */
		r = blz_chunk_decode(img.data, img.len, ref->digest, scratch, ref->data_len);
		if (r < 0) {
			__atomic_fetch_add(&v->bad, 1, __ATOMIC_RELAXED);
			report_ref(v->rp, BLZ_STOREOPS_BAD, v->src->name, ref, blz_store_error());
		}
	} else if (r == -ENOENT) {
		__atomic_fetch_add(&v->missing, 1, __ATOMIC_RELAXED);
		report_ref(v->rp, BLZ_STOREOPS_MISSING, v->src->name, ref, "missing");
	} else {
		__atomic_fetch_add(&v->unreachable, 1, __ATOMIC_RELAXED);
		report_ref(v->rp, BLZ_STOREOPS_UNREACHABLE, v->src->name, ref,
			   serr.reason[0] ? serr.reason : strerror(-r));
	}
	blz_buf_release(&img);
}

int blz_storeops_verify(const struct blz_storeops_opts *o, struct blz_storeops_verify_result *ret,
			char *err, size_t errlen)
{
	struct blz_seedset *set;
	int r = open_seed(o, &set, err, errlen);
	if (r < 0)
		return r;
	struct blz_map *map = blz_seedset_map(set);
	struct blz_map_stats ms;
	blz_map_stats(map, &ms);
	ref_vec refs = { 0 };
	for (int a = 1; a <= BLZ_MAP_AREA_MAX && r == 0; a++)
		if (ms.area[a].records)
			r = map_refs(map, ms.area[a].first, ms.area[a].end - ms.area[a].first, &refs);
	if (r < 0) {
		blz_errf(err, errlen, r, "cannot read the map '%s': %s", blz_seedset_map_path(set),
			 strerror(-r));
		goto out;
	}
	struct blz_storeops_verify_result res = { .records = refs.len };
	dedupe(&refs);
	res.chunks = refs.len;
	for (size_t i = 0; i < refs.len; i++)
		res.chunk_bytes += refs.v[i].data_len;

	char def[PATH_MAX];
	const char *const one[] = { def };
	const char *const *stores = o->stores;
	size_t n_stores = o->n_stores;
	if (!n_stores) {
		r = blz_seedset_paths(o->seed, NULL, NULL, NULL, 0, def, sizeof(def));
		if (r < 0) {
			blz_errf(err, errlen, r, "the path of '%s' is too long", o->seed);
			goto out;
		}
		stores = one;
		n_stores = 1;
	}
	struct reporter rp = { .o = o };
	pthread_mutex_init(&rp.lock, NULL);
	struct blz_source_opts so = { .ca_file = o->ca_file, .auth_file = o->auth_file };
	for (size_t s = 0; s < n_stores && r == 0; s++) {
		struct verify_ctx v = { .o = o, .rp = &rp, .refs = &refs };
		r = blz_source_open(stores[s], &so, &v.src, err, errlen);
		if (r < 0)
			break;
		run_pool(refs.len, o->jobs ? o->jobs : v.src->max_inflight, verify_one, &v);
		blz_source_close(v.src);
		res.stores++;
		res.missing += v.missing;
		res.bad += v.bad;
		res.unreachable += v.unreachable;
	}
	pthread_mutex_destroy(&rp.lock);
	if (r == 0)
		*ret = res;
out:
	vec_release(&refs);
	blz_seedset_close(set);
	return r;
}

/* ---- prefetch ---- */

/* The names of the list: one a line, empty lines skipped. */
static int read_list(const char *path, char **ret_text, char ***ret_names, size_t *ret_n,
		     char *err, size_t errlen)
{
	char *text;
	size_t len;
	int r = blz_read_text_file(path, 1ull << 30, &text, &len);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot read the list '%s': %s", path, strerror(-r));
	*ret_n = blz_split_lines(text, len, ret_names);
	*ret_text = text;
	return 0;
}

struct prefetch_ctx {
	struct blz_fetcher *f;
	const ref_vec *refs;
	struct reporter *rp;
	uint64_t failed; /* atomic */
};

static void prefetch_one(void *arg, size_t i, uint8_t *scratch)
{
	struct prefetch_ctx *p = arg;
	const struct ref *ref = &p->refs->v[i];
	/* (the engine refuses a length above the maximum chunk: -EIO) */
	int r = blz_fetch_warm(p->f, ref->digest, scratch, ref->data_len, BLZ_FETCH_DEMAND);
	if (r < 0) {
		__atomic_fetch_add(&p->failed, 1, __ATOMIC_RELAXED);
		report_ref(p->rp, BLZ_STOREOPS_FAILED, NULL, ref, strerror(-r));
	}
}

static void fetch_log(void *ctx, const char *msg)
{
	struct blz_storeops_problem p = { .kind = BLZ_STOREOPS_LOG, .reason = msg };
	report(ctx, &p);
}

int blz_storeops_prefetch(const struct blz_storeops_opts *o, const char *list_path,
			  struct blz_storeops_prefetch_result *ret, char *err, size_t errlen)
{
	struct blz_storeops_prefetch_result res = { 0 };
	char **names = NULL;
	size_t n_names = 0;
	char *text = NULL;
	struct blz_seed_range *ranges = NULL;
	size_t n_ranges = 0;
	ref_vec refs = { 0 };
	struct blz_fetcher *f = NULL;
	struct reporter rp = { .o = o };
	pthread_mutex_init(&rp.lock, NULL);
	struct blz_seedset *set = NULL;
	int r = open_seed(o, &set, err, errlen);
	if (r == 0)
		r = read_list(list_path, &text, &names, &n_names, err, errlen);
	if (r < 0)
		goto out;
	res.files = n_names;
	char why[256];
	r = blz_seed_file_ranges(blz_seedset_image_fd(set), (const char *const *)names, n_names,
				 &ranges, &n_ranges, why, sizeof(why));
	if (r < 0) {
		blz_errf(err, errlen, r, "cannot read the files of '%s': %s", o->seed, why);
		goto out;
	}
	const struct blz_seedset_layout *lay = blz_seedset_layout(set);
	for (size_t i = 0; i < n_ranges && r == 0; i++) {
		const struct blz_seed_range *g = &ranges[i];
		if (g->missing) {
			struct blz_storeops_problem p = { .kind = BLZ_STOREOPS_NO_FILE,
							  .reason = names[g->path] };
			res.missing_files++;
			report(&rp, &p);
			continue;
		}
		if (g->dev_off + g->len <= lay->local_end)
			continue; /* local data: in the image */
		r = map_refs(blz_seedset_map(set), g->dev_off, g->len, &refs);
	}
	if (r < 0) {
		blz_errf(err, errlen, r, "cannot read the map '%s': %s", blz_seedset_map_path(set),
			 strerror(-r));
		goto out;
	}
	dedupe(&refs);
	res.chunks = refs.len;
	for (size_t i = 0; i < refs.len; i++)
		res.chunk_bytes += refs.v[i].data_len;

	char store_def[PATH_MAX], cache_def[BLZ_LAZY_CACHE_DIR_LEN];
	const char *const one[] = { store_def };
	blz_lazy_default_cache_dir(lay->fsid, cache_def);
	struct blz_fetch_opts fo = {
		.stores = o->stores, .n_stores = o->n_stores,
		.cache_dir = o->cache_dir ? o->cache_dir : cache_def,
		.cache_size = o->cache_size, .max_inflight = o->jobs, .timeout_ms = o->timeout_ms,
		.retries = o->retries, .ca_file = o->ca_file, .auth_file = o->auth_file,
		.log = fetch_log, .log_ctx = &rp,
	};
	if (!fo.n_stores) {
		fo.stores = one;
		fo.n_stores = 1;
	}
	if (blz_seedset_paths(o->seed, NULL, NULL, NULL, 0, store_def, sizeof(store_def)) < 0) {
		r = blz_errf(err, errlen, -ENAMETOOLONG, "the path of '%s' is too long", o->seed);
		goto out;
	}
	r = blz_fetch_open(&fo, &f, err, errlen);
	if (r < 0)
		goto out;
	struct prefetch_ctx pc = { .f = f, .refs = &refs, .rp = &rp };
	run_pool(refs.len, o->jobs, prefetch_one, &pc);
	struct blz_fetch_stats st;
	blz_fetch_get_stats(f, &st);
	res.failed = pc.failed;
	res.cached = st.cache_hits;
	res.fetched = res.chunks - res.failed - (res.cached < res.chunks ? res.cached : res.chunks);
	*ret = res;
out:
	blz_fetch_close(f);
	vec_release(&refs);
	free(ranges);
	free(names);
	free(text);
	blz_seedset_close(set);
	pthread_mutex_destroy(&rp.lock);
	return r;
}

/* ---- gc ---- */

int blz_storeops_gc(const struct blz_storeops_opts *o, uint64_t target,
		    struct blz_storeops_gc_result *ret, char *err, size_t errlen)
{
	struct blz_storeops_gc_result res = { 0 };
	if (o->cache_dir) {
		if (snprintf(res.cache_dir, sizeof(res.cache_dir), "%s", o->cache_dir) >=
		    (int)sizeof(res.cache_dir))
			return blz_errf(err, errlen, -ENAMETOOLONG, "the cache path is too long");
	} else if (o->seed) {
		/* the seed's default cache, named by its fsid */
		struct blz_seed_info in;
		char why[256];
		int fd = open(o->seed, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return blz_errf(err, errlen, -errno, "cannot open '%s': %s", o->seed,
					strerror(errno));
		int r = blz_seed_inspect(fd, &in, why, sizeof(why));
		close(fd);
		if (r < 0)
			return blz_errf(err, errlen, r, "'%s' is not a usable seed: %s", o->seed, why);
		blz_lazy_default_cache_dir(in.fsid, res.cache_dir);
		blz_seed_info_release(&in);
	} else {
		return blz_errf(err, errlen, -EINVAL, "no cache directory given");
	}
	if (access(res.cache_dir, F_OK) < 0)
		return blz_errf(err, errlen, -errno, "cannot open the cache '%s': %s", res.cache_dir,
				strerror(errno));
	struct blz_diskcache *dc;
	/* opened without a bound, so that the trim below does (and counts) all the evicting */
	int r = blz_diskcache_open(res.cache_dir, UINT64_MAX, &dc);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot open the cache '%s': %s", res.cache_dir,
				strerror(-r));
	int64_t n = blz_diskcache_trim(dc, target, &res.removed_bytes);
	struct blz_diskcache_stats st;
	blz_diskcache_get_stats(dc, &st);
	blz_diskcache_close(dc);
	if (n < 0)
		return blz_errf(err, errlen, (int)n, "cannot trim the cache '%s': %s", res.cache_dir,
				strerror((int)-n));
	res.removed = (uint64_t)n;
	res.entries = st.entries;
	res.bytes = st.bytes;
	*ret = res;
	return 0;
}
