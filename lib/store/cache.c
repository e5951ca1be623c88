/* The chunk cache: a chained hash table on the digest plus a doubly linked LRU list, under
 * one mutex. Entries are reference-counted so that a get copies outside the lock. */
#include "store/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/le.h"
#include "util/list.h"
#include "util/strbuf.h"

struct entry {
	struct entry *hnext;		/* hash chain */
	struct blz_list_node lru;	/* LRU list, most recent first */
	unsigned refs;			/* atomic: 1 while cached, +1 per copying reader */
	size_t len;
	uint8_t digest[BLZ_STORE_DIGEST_LEN];
	uint8_t data[];
};

struct blz_chunk_cache {
	pthread_mutex_t lock;
	struct entry **buckets;
	size_t nbuckets;		/* a power of two */
	struct blz_list lru;
	struct blz_cache_stats st;
};

static size_t bucket_of(const struct blz_chunk_cache *c, const uint8_t *digest)
{
	/* digests are uniformly distributed already */
	return (size_t)get_le64(digest) & (c->nbuckets - 1);
}

static void entry_unref(struct entry *e)
{
	if (__atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(e);
}

static struct entry **find_slot(struct blz_chunk_cache *c, const uint8_t *digest)
{
	struct entry **pp = &c->buckets[bucket_of(c, digest)];
	while (*pp && memcmp((*pp)->digest, digest, BLZ_STORE_DIGEST_LEN))
		pp = &(*pp)->hnext;
	return pp;
}

static void grow(struct blz_chunk_cache *c)
{
	size_t old_n = c->nbuckets;
	struct entry **old = c->buckets;

	c->nbuckets = old_n * 2;
	c->buckets = blz_xcalloc(c->nbuckets, sizeof(*c->buckets));
	for (size_t i = 0; i < old_n; i++) {
		struct entry *e = old[i];
		while (e) {
			struct entry *next = e->hnext;
			size_t b = bucket_of(c, e->digest);
			e->hnext = c->buckets[b];
			c->buckets[b] = e;
			e = next;
		}
	}
	free(old);
}

/* Drops the least recently used entry. Called with the lock held. */
static void evict_one(struct blz_chunk_cache *c)
{
	struct entry *e = blz_container_of(c->lru.tail, struct entry, lru);
	struct entry **pp = find_slot(c, e->digest);
	*pp = e->hnext;
	blz_list_unlink(&c->lru, &e->lru);
	c->st.bytes -= e->len;
	c->st.entries--;
	c->st.evictions++;
	entry_unref(e);
}

struct blz_chunk_cache *blz_cache_new(size_t max_bytes)
{
	struct blz_chunk_cache *c = blz_xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->nbuckets = 64;
	c->buckets = blz_xcalloc(c->nbuckets, sizeof(*c->buckets));
	c->st.max_bytes = max_bytes;
	return c;
}

void blz_cache_free(struct blz_chunk_cache *c)
{
	if (!c)
		return;
	for (struct blz_list_node *l = c->lru.head, *next; l; l = next) {
		next = l->next;
		entry_unref(blz_container_of(l, struct entry, lru));
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int blz_cache_get(struct blz_chunk_cache *c, const uint8_t digest[BLZ_STORE_DIGEST_LEN], void *buf,
		  size_t len)
{
	return blz_cache_read(c, digest, len, 0, buf, len);
}

int blz_cache_read(struct blz_chunk_cache *c, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		   size_t chunk_len, size_t off, void *buf, size_t n)
{
	if (off > chunk_len || n > chunk_len - off)
		return 0;
	pthread_mutex_lock(&c->lock);
	struct entry *e = *find_slot(c, digest);
	if (!e || e->len != chunk_len) {
		c->st.misses++;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
	blz_list_to_front(&c->lru, &e->lru);
	c->st.hits++;
	pthread_mutex_unlock(&c->lock);

	if (n)
		memcpy(buf, e->data + off, n);
	entry_unref(e);
	return 1;
}

void blz_cache_put(struct blz_chunk_cache *c, const uint8_t digest[BLZ_STORE_DIGEST_LEN],
		   const void *buf, size_t len)
{
	if (len > c->st.max_bytes || !c->st.max_bytes)
		return;	/* max_bytes is fixed at creation: no lock needed to read it */

	/* copy before taking the lock */
	struct entry *n = blz_xmalloc(sizeof(*n) + len);
	memcpy(n->digest, digest, BLZ_STORE_DIGEST_LEN);
	n->len = len;
	n->refs = 1;
	n->hnext = NULL;
	n->lru = (struct blz_list_node){ NULL, NULL };
	if (len)
		memcpy(n->data, buf, len);

	pthread_mutex_lock(&c->lock);
	struct entry **pp = find_slot(c, digest);
	if (*pp) {
		blz_list_to_front(&c->lru, &(*pp)->lru);
		pthread_mutex_unlock(&c->lock);
		free(n);
		return;
	}
	while (c->st.bytes + len > c->st.max_bytes)
		evict_one(c);
	*find_slot(c, digest) = n;	/* the slot may have moved if a chain changed */
	blz_list_push_front(&c->lru, &n->lru);
	c->st.bytes += len;
	c->st.entries++;
	c->st.inserts++;
	if (c->st.entries > c->nbuckets)
		grow(c);
	pthread_mutex_unlock(&c->lock);
}

void blz_cache_get_stats(struct blz_chunk_cache *c, struct blz_cache_stats *ret)
{
	pthread_mutex_lock(&c->lock);
	*ret = c->st;
	pthread_mutex_unlock(&c->lock);
}
