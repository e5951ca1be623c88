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
	F(control_requests), F(control_rejected),
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
	return parse_stores(root, s, err, errlen);
}

int blz_server_status_parse(const char *text, size_t len, struct blz_server_status *ret,
			    char *err, size_t errlen)
{
	struct blz_json *root;
	char jerr[128];
	int r = blz_json_parse(text, len, 4, &root, jerr, sizeof(jerr));
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
