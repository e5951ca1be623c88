/*
 * The async filter: a backend whose reads are requests completed by worker threads, which
 * read them from the layer below. With several threads requests complete out of order,
 * which is what a remote store does; the servers' asynchronous path is tested with it. A
 * read that covers stall_off is held until the filter is closed (a test hook for what
 * happens to requests a backend never completes). The workers start with the first request,
 * so that the filter can be opened before a server daemonises (threads do not survive fork).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

struct afilter {
	struct blz_backend b; /* first */
	struct blz_backend *next;
	uint64_t stall_off;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct blz_backend_req **q; /* waiting for a worker: q[head .. tail) */
	size_t head, tail, cap;
	struct blz_backend_req **held; /* stalled until close */
	size_t n_held, cap_held;
	bool quit;
	unsigned want, nth; /* workers asked for, started */
	pthread_t th[];
};

static bool grow(struct blz_backend_req ***v, size_t *cap, size_t n)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? 2 * *cap : 64;
	struct blz_backend_req **p = realloc(*v, c * sizeof(*p));
	if (!p)
		return false;
	*v = p;
	*cap = c;
	return true;
}

static void *worker(void *arg);

static void async_submit(struct blz_backend *b, struct blz_backend_req *req)
{
	struct afilter *a = (struct afilter *)b;
	bool stall = req->off <= a->stall_off && a->stall_off - req->off < req->len;
	pthread_mutex_lock(&a->lock);
	while (a->nth < a->want && !pthread_create(&a->th[a->nth], NULL, worker, a))
		a->nth++;
	bool ok = a->nth > 0;
	if (!ok) {
		/* no worker could start */
	} else if (stall) {
		ok = grow(&a->held, &a->cap_held, a->n_held);
		if (ok)
			a->held[a->n_held++] = req;
	} else {
		if (a->tail == a->cap && a->head) {
			memmove(a->q, a->q + a->head, (a->tail - a->head) * sizeof(*a->q));
			a->tail -= a->head;
			a->head = 0;
		}
		ok = grow(&a->q, &a->cap, a->tail);
		if (ok) {
			a->q[a->tail++] = req;
			pthread_cond_signal(&a->cond);
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (!ok)
		req->done(req, -ENOMEM);
}

static void *worker(void *arg)
{
	struct afilter *a = arg;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (a->head == a->tail && !a->quit)
			pthread_cond_wait(&a->cond, &a->lock);
		if (a->head == a->tail)
			break;
		struct blz_backend_req *req = a->q[a->head++];
		if (a->head == a->tail)
			a->head = a->tail = 0;
		pthread_mutex_unlock(&a->lock);
		req->done(req, blz_backend_read_req(a->next, req));
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static int async_read(struct blz_backend *b, void *buf, uint32_t len, uint64_t off)
{
	struct afilter *a = (struct afilter *)b;
	return blz_backend_read(a->next, buf, len, off);
}

static void async_close(struct blz_backend *b)
{
	struct afilter *a = (struct afilter *)b;
	pthread_mutex_lock(&a->lock);
	a->quit = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	for (unsigned i = 0; i < a->nth; i++)
		pthread_join(a->th[i], NULL);
	/* the workers finished the queue; what is held is cancelled */
	for (size_t i = 0; i < a->n_held; i++)
		a->held[i]->done(a->held[i], -ECANCELED);
	blz_backend_close(a->next);
	free(a->q);
	free(a->held);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static const struct blz_backend_ops async_ops = {
	.name = "async",
	.read = async_read,
	.submit = async_submit,
	.close = async_close,
};

int blz_backend_async_open(struct blz_backend *next, unsigned threads, uint64_t stall_off,
			   struct blz_backend **ret)
{
	if (threads == 0 || threads > 64)
		return -EINVAL;
	struct afilter *a = calloc(1, sizeof(*a) + threads * sizeof(pthread_t));
	if (!a)
		return -ENOMEM;
	a->b.ops = &async_ops;
	a->b.size = next->size;
	a->next = next;
	a->stall_off = stall_off;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	a->want = threads;
	*ret = &a->b;
	return 0;
}
