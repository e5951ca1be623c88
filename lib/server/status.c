/* A server's status as JSON: see status.h. */
#include "server/status.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ublk/ublk.h"
#include "util/json.h"

#define F(name) { #name, offsetof(struct blz_server_status, name) }
static const struct field {
	const char *key;
	size_t off;
} counters[] = {
	F(pid), F(size), F(reads), F(read_bytes), F(local_bytes), F(lazy_bytes), F(zero_bytes),
	F(unmapped), F(errors), F(store_reads), F(store_bytes), F(cache_hits), F(bad_chunks),
	F(map_records), F(mapped_bytes), F(fetch_ranges), F(fetch_untracked),
	F(control_requests), F(control_rejected), F(zero_copy), F(zero_copy_reads),
	F(disk_cache_hits), F(disk_cache_misses), F(disk_cache_bytes), F(disk_cache_entries),
	F(disk_cache_evictions), F(fetch_joined), F(fetch_failed), F(prefetched),
};

static const struct field recovery_counters[] = { F(supervisor), F(restarts) };
#undef F

#define Q(name) { #name, offsetof(struct blz_server_qstatus, name) }
static const struct field qcounters[] = {
	Q(reads), Q(read_bytes), Q(writes_refused), Q(errors), Q(batches), Q(sleeps), Q(poll_hits),
};
#undef Q

#define S(name) { #name, offsetof(struct blz_server_store_status, name) }
static const struct field scounters[] = {
	S(fetches), S(bytes), S(retries), S(errors), S(bad), S(inflight), S(p50_us), S(p99_us),
};
#undef S
#define L(name) { #name, offsetof(struct blz_server_latency, name) }
static const struct field lcounters[] = {
	L(count), L(p50_ns), L(p90_ns), L(p99_ns), L(max_ns),
};
#undef L

#define G(key, name) { key, offsetof(struct blz_server_reqstatus, name) }
static const struct field logcounters[] = {
	G("active", log_active), G("lines", log_lines), G("dropped", log_dropped),
};
#undef G

/* The keys of area_bytes: the area names, "none" for the first ("-") */
static const char *area_key(unsigned a)
{
	return a ? blz_area_name(a) : "none";
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t *at(const void *base, const struct field *f)
{
	return (uint64_t *)((char *)base + f->off);
}

static void put_u64s(const void *base, const struct field *f, size_t n, struct blz_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		char tmp[96];
		int k = snprintf(tmp, sizeof(tmp), "%s\"%s\":%" PRIu64, i ? "," : "", f[i].key,
				 *at(base, &f[i]));
		blz_buf_append(out, tmp, (size_t)k);
	}
}

static void put_array(const char *key, const uint64_t *v, size_t n, struct blz_buf *out)
{
	blz_buf_printf(out, "\"%s\":[", key);
	for (size_t i = 0; i < n; i++)
		blz_buf_printf(out, "%s%" PRIu64, i ? "," : "", v[i]);
	blz_buf_append(out, "]", 1);
}

static void encode_requests(const struct blz_server_reqstatus *r, struct blz_buf *out)
{
	blz_buf_append(out, ",\"requests\":{", 13);
	put_array("size_hist", r->size_hist, BLZ_REQ_SIZE_N, out);
	blz_buf_append(out, ",", 1);
	put_array("align_hist", r->align_hist, BLZ_REQ_ALIGN_N, out);
	blz_buf_append(out, ",\"area_bytes\":{", 15);
	for (unsigned a = 0; a < BLZ_AREA_N; a++)
		blz_buf_printf(out, "%s\"%s\":%" PRIu64, a ? "," : "", area_key(a), r->area_bytes[a]);
	blz_buf_append(out, "},\"latency\":{", 13);
	for (unsigned o = 0; o < BLZ_OUT_N; o++) {
		blz_buf_printf(out, "%s\"%s\":{", o ? "," : "", blz_outcome_name(o));
		put_u64s(&r->latency[o], lcounters, NELEM(lcounters), out);
		blz_buf_append(out, "}", 1);
	}
	blz_buf_append(out, "},\"log\":{", 9);
	put_u64s(r, logcounters, NELEM(logcounters), out);
	blz_buf_append(out, "}}", 2);
}

void blz_server_reqstatus_fill(struct blz_server_reqstatus *r, const struct blz_reqstats *st)
{
	memcpy(r->size_hist, st->size_hist, sizeof(r->size_hist));
	memcpy(r->align_hist, st->align_hist, sizeof(r->align_hist));
	memcpy(r->area_bytes, st->area_bytes, sizeof(r->area_bytes));
	for (unsigned o = 0; o < BLZ_OUT_N; o++)
		r->latency[o] = (struct blz_server_latency){
			.count = st->count[o],
			.p50_ns = blz_reqstats_percentile(st, o, 50),
			.p90_ns = blz_reqstats_percentile(st, o, 90),
			.p99_ns = blz_reqstats_percentile(st, o, 99),
			.max_ns = st->lat_max[o],
		};
}

void blz_server_status_encode_members(const struct blz_server_status *s, struct blz_buf *out)
{
	blz_buf_append(out, "\"device\":", 9);
	blz_json_append_str(out, s->device);
	blz_buf_append(out, ",\"seed\":", 8);
	blz_json_append_str(out, s->seed);
	blz_buf_append(out, ",", 1);
	put_u64s(s, counters, NELEM(counters), out);
	blz_buf_append(out, ",\"queues\":[", 11);
	for (size_t q = 0; q < s->nqueues; q++) {
		blz_buf_append(out, q ? ",{" : "{", q ? 2 : 1);
		put_u64s(&s->queues[q], qcounters, NELEM(qcounters), out);
		blz_buf_append(out, "}", 1);
	}
	blz_buf_append(out, "],\"stores\":[", 12);
	for (size_t i = 0; i < s->nstores; i++) {
		blz_buf_append(out, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
		blz_json_append_str(out, s->stores[i].name);
		blz_buf_append(out, ",", 1);
		put_u64s(&s->stores[i], scounters, NELEM(scounters), out);
		blz_buf_append(out, "}", 1);
	}
	blz_buf_append(out, "]", 1);
	blz_buf_append(out, ",\"state\":", 9);
	blz_json_append_str(out, s->state);
	blz_buf_append(out, ",", 1);
	put_u64s(s, recovery_counters, NELEM(recovery_counters), out);
	blz_buf_append(out, ",\"last_cause\":", 14);
	blz_json_append_str(out, s->last_cause);
	blz_buf_append(out, ",\"io_commands\":", 15);
	blz_json_append_str(out, s->io_commands);
	encode_requests(&s->requests, out);
}

void blz_server_status_encode(const struct blz_server_status *s, struct blz_buf *out)
{
	blz_buf_append(out, "{", 1);
	blz_server_status_encode_members(s, out);
	blz_buf_append(out, "}\n", 2);
}

static int get_u64s(const struct blz_json *obj, void *base, const struct field *f, size_t n,
		    const char *where, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const struct blz_json *v = blz_json_get(obj, f[i].key);
		if (!v)
			return blz_errf(err, errlen, -EINVAL, "%s has no \"%s\"", where, f[i].key);
		int r = blz_json_u64(v, at(base, &f[i]));
		if (r < 0)
			return blz_errf(err, errlen, r, "\"%s\" of %s is not %s", f[i].key, where,
					r == -ERANGE ? "below 2^64" : "a non-negative integer");
	}
	return 0;
}

static int get_str(const struct blz_json *obj, const char *key, char *dst, size_t len,
		   const char *where, char *err, size_t errlen)
{
	const char *v = blz_json_string(blz_json_get(obj, key));
	if (!v)
		return blz_errf(err, errlen, -EINVAL, "%s has no string \"%s\"", where, key);
	if (strlen(v) >= len)
		return blz_errf(err, errlen, -ERANGE, "\"%s\" of %s is too long", key, where);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int parse_stores(const struct blz_json *root, struct blz_server_status *s, char *err,
			size_t errlen)
{
	const struct blz_json *a = blz_json_get(root, "stores");
	if (!a || a->type != BLZ_JSON_ARRAY)
		return blz_errf(err, errlen, -EINVAL, "the status has no array \"stores\"");
	if (a->n > BLZ_STATUS_MAX_STORES)
		return blz_errf(err, errlen, -ERANGE, "the status has %zu stores", a->n);
	s->nstores = a->n;
	s->stores = a->n ? blz_xcalloc(a->n, sizeof(*s->stores)) : NULL;
	for (size_t i = 0; i < a->n; i++) {
		char where[32];
		snprintf(where, sizeof(where), "store %zu", i);
		const struct blz_json *o = &a->items[i];
		if (o->type != BLZ_JSON_OBJECT)
			return blz_errf(err, errlen, -EINVAL, "%s is not an object", where);
		int r = get_str(o, "name", s->stores[i].name, sizeof(s->stores[i].name), where, err,
				errlen);
		if (r == 0)
			r = get_u64s(o, &s->stores[i], scounters, NELEM(scounters), where, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}


/* An array of exactly n counters. */
static int get_array(const struct blz_json *obj, const char *key, uint64_t *v, size_t n,
		     char *err, size_t errlen)
{
	const struct blz_json *a = blz_json_get(obj, key);
	if (!a || a->type != BLZ_JSON_ARRAY || a->n != n)
		return blz_errf(err, errlen, -EINVAL, "the requests have no array \"%s\" of %zu",
				key, n);
	for (size_t i = 0; i < n; i++)
		if (blz_json_u64(&a->items[i], &v[i]) < 0)
			return blz_errf(err, errlen, -EINVAL, "\"%s\" holds a bad count", key);
	return 0;
}

/* The object key of obj, required. */
static const struct blz_json *get_obj(const struct blz_json *obj, const char *key, char *err,
				      size_t errlen)
{
	const struct blz_json *o = blz_json_get(obj, key);
	if (!o || o->type != BLZ_JSON_OBJECT)
		blz_errf(err, errlen, -EINVAL, "the status has no object \"%s\"", key);
	return o && o->type == BLZ_JSON_OBJECT ? o : NULL;
}

static int parse_requests(const struct blz_json *root, struct blz_server_reqstatus *r,
			  char *err, size_t errlen)
{
	const struct blz_json *q = get_obj(root, "requests", err, errlen), *o;
	if (!q)
		return -EINVAL;
	int e = get_array(q, "size_hist", r->size_hist, BLZ_REQ_SIZE_N, err, errlen);
	if (e == 0)
		e = get_array(q, "align_hist", r->align_hist, BLZ_REQ_ALIGN_N, err, errlen);
	if (e < 0)
		return e;
	if (!(o = get_obj(q, "area_bytes", err, errlen)))
		return -EINVAL;
	for (unsigned a = 0; a < BLZ_AREA_N; a++) {
		struct field f = { area_key(a), offsetof(struct blz_server_reqstatus, area_bytes) +
						a * sizeof(uint64_t) };
		if ((e = get_u64s(o, r, &f, 1, "area_bytes", err, errlen)) < 0)
			return e;
	}
	const struct blz_json *lat = get_obj(q, "latency", err, errlen);
	if (!lat)
		return -EINVAL;
	for (unsigned k = 0; k < BLZ_OUT_N; k++) {
		if (!(o = get_obj(lat, blz_outcome_name(k), err, errlen)))
			return -EINVAL;
		if ((e = get_u64s(o, &r->latency[k], lcounters, NELEM(lcounters), "a latency", err,
				  errlen)) < 0)
			return e;
	}
	if (!(o = get_obj(q, "log", err, errlen)))
		return -EINVAL;
	return get_u64s(o, r, logcounters, NELEM(logcounters), "the log", err, errlen);
}

static int parse_tree(const struct blz_json *root, struct blz_server_status *s, char *err,
		      size_t errlen)
{
	if (root->type != BLZ_JSON_OBJECT)
		return blz_errf(err, errlen, -EINVAL, "the status is not an object");
	int r = get_str(root, "device", s->device, sizeof(s->device), "the status", err, errlen);
	if (r == 0)
		r = get_str(root, "seed", s->seed, sizeof(s->seed), "the status", err, errlen);
	if (r == 0)
		r = get_u64s(root, s, counters, NELEM(counters), "the status", err, errlen);
	if (r == 0)
		r = get_str(root, "state", s->state, sizeof(s->state), "the status", err,
			    errlen);
	if (r == 0)
		r = get_u64s(root, s, recovery_counters, NELEM(recovery_counters), "the status", err,
			     errlen);
	if (r == 0)
		r = get_str(root, "last_cause", s->last_cause, sizeof(s->last_cause), "the status",
			    err, errlen);
	if (r < 0)
		return r;
	const char *ic = blz_json_string(blz_json_get(root, "io_commands")); /* optional */
	if (ic)
		snprintf(s->io_commands, sizeof(s->io_commands), "%s", ic);
	const struct blz_json *q = blz_json_get(root, "queues");
	if (!q || q->type != BLZ_JSON_ARRAY)
		return blz_errf(err, errlen, -EINVAL, "the status has no array \"queues\"");
	if (q->n > BLZ_STATUS_MAX_QUEUES)
		return blz_errf(err, errlen, -ERANGE, "the status has %zu queues", q->n);
	s->nqueues = q->n;
	s->queues = q->n ? blz_xcalloc(q->n, sizeof(*s->queues)) : NULL;
	for (size_t i = 0; i < q->n; i++) {
		char where[32];
		snprintf(where, sizeof(where), "queue %zu", i);
		if (q->items[i].type != BLZ_JSON_OBJECT)
			return blz_errf(err, errlen, -EINVAL, "%s is not an object", where);
		r = get_u64s(&q->items[i], &s->queues[i], qcounters, NELEM(qcounters), where, err,
			     errlen);
		if (r < 0)
			return r;
	}
	r = parse_stores(root, s, err, errlen);
	if (r < 0)
		return r;
	return parse_requests(root, &s->requests, err, errlen);
}

int blz_server_status_parse(const char *text, size_t len, struct blz_server_status *ret,
			    char *err, size_t errlen)
{
	struct blz_json *root;
	char jerr[128];
	int r = blz_json_parse(text, len, 6, &root, jerr, sizeof(jerr));
	if (r < 0)
		return blz_errf(err, errlen, r, "the status is not JSON: %s", jerr);
	struct blz_server_status *s = blz_xcalloc(1, sizeof(*s));
	r = parse_tree(root, s, err, errlen);
	blz_json_free(root);
	if (r == 0)
		*ret = *s;
	else
		blz_server_status_release(s);
	free(s);
	return r;
}

void blz_server_status_release(struct blz_server_status *s)
{
	if (!s)
		return;
	free(s->queues);
	s->queues = NULL;
	s->nqueues = 0;
	free(s->stores);
	s->stores = NULL;
	s->nstores = 0;
}

const char *blz_server_state_name(int kernel_state, const char *super_state)
{
	bool super = super_state && super_state[0];
	if (super && !strcmp(super_state, "failed"))
		return "failed";
	if (super && !strcmp(super_state, "recovering") && kernel_state != BLZ_UBLK_S_DEV_LIVE)
		return "recovering";
	return blz_ublk_state_name(kernel_state);
}
