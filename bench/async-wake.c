/*
 * How a completion from another thread reaches a ublk queue thread: the two ways weighed
 * for lib/ublk/dispatch.c, on the host (no ublk needed).
 *
 *   eventfd: the completer pushes on a lock-free list (one compare-and-swap) and writes an
 *            eventfd only when the list was empty; the queue thread keeps an io_uring read
 *            of the eventfd outstanding and drains the whole list when it completes.
 *   msgring: the completer owns an io_uring and sends IORING_OP_MSG_RING to the queue's
 *            ring (one io_uring_enter per completion); the queue thread reaps the CQEs.
 *
 * P completer threads send N completions each, as fast as they can (burst), or one at a
 * time waiting for the queue thread to take each (ping-pong: the latency of one wake-up).
 * Prints wall time per completion and the completers' system calls per completion.
 *
 * Build and run: bench/async-wake [N] [P]
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct item {
	struct item *next;
};

static struct io_uring qring; /* the queue thread's */
static int efd;
static _Atomic(struct item *) list;
static _Atomic unsigned long taken, syscalls;
static unsigned long n_per, n_prod;
static int mode_msgring, pingpong;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *producer(void *arg)
{
	struct io_uring r;
	if (mode_msgring && io_uring_queue_init(64, &r, 0) < 0)
		abort();
	struct item *items = arg; /* freed by run() once the queue thread is done with them */
	unsigned long calls = 0;
	for (unsigned long i = 0; i < n_per; i++) {
		unsigned long before = atomic_load(&taken);
		if (mode_msgring) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
			io_uring_prep_msg_ring(sqe, qring.ring_fd, 0, 1, 0);
			sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
			io_uring_submit(&r);
			calls++;
		} else {
			struct item *it = &items[i], *head = atomic_load_explicit(&list, memory_order_relaxed);
			do
				it->next = head;
			while (!atomic_compare_exchange_weak_explicit(&list, &head, it, memory_order_release,
								      memory_order_relaxed));
			if (!head) {
				uint64_t one = 1;
				if (write(efd, &one, 8) != 8)
					abort();
				calls++;
			}
		}
		if (pingpong)
			while (atomic_load(&taken) == before)
				;
	}
	atomic_fetch_add(&syscalls, calls);
	if (mode_msgring)
		io_uring_queue_exit(&r);
	return NULL;
}

static uint64_t ebuf;

static void arm(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&qring);
	io_uring_prep_read(sqe, efd, &ebuf, 8, 0);
	sqe->user_data = 2;
}

static void run(int msgring, int pp)
{
	mode_msgring = msgring;
	pingpong = pp;
	atomic_store(&taken, 0);
	atomic_store(&syscalls, 0);
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
	if (io_uring_queue_init_params(256, &qring, &p) < 0)
		abort();
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!msgring)
		arm();
	unsigned long total = n_per * n_prod, wakes = 0;
	pthread_t th[16];
	struct item *items[16];
	double t0 = now();
	for (unsigned long i = 0; i < n_prod; i++) {
		items[i] = calloc(n_per, sizeof(struct item));
		pthread_create(&th[i], NULL, producer, items[i]);
	}
	while (atomic_load(&taken) < total) {
		struct io_uring_cqe *cqe;
		io_uring_submit_and_wait(&qring, 1);
		wakes++;
		unsigned head, n = 0, got = 0;
		io_uring_for_each_cqe(&qring, head, cqe) {
			n++;
			if (cqe->user_data == 2) {
				struct item *it = atomic_exchange_explicit(&list, NULL, memory_order_acquire);
				for (; it; it = it->next)
					got++;
				arm();
			} else {
				got++;
			}
		}
		io_uring_cq_advance(&qring, n);
		atomic_fetch_add(&taken, got);
	}
	double t = now() - t0;
	for (unsigned long i = 0; i < n_prod; i++) {
		pthread_join(th[i], NULL);
		free(items[i]);
	}
	printf("%-8s %-9s %lu x %lu: %.3f us/completion, completer syscalls/completion %.3f, "
	       "queue wake-ups/completion %.3f\n",
	       msgring ? "msgring" : "eventfd", pp ? "ping-pong" : "burst", n_prod, n_per,
	       t * 1e6 / total, (double)atomic_load(&syscalls) / total, (double)wakes / total);
	io_uring_queue_exit(&qring);
	close(efd);
}

int main(int argc, char **argv)
{
	n_per = argc > 1 ? strtoul(argv[1], NULL, 0) : 200000;
	n_prod = argc > 2 ? strtoul(argv[2], NULL, 0) : 2;
	if (n_prod < 1 || n_prod > 16)
		return 2;
	for (int pp = 0; pp < 2; pp++) {
		run(0, pp);
		run(1, pp);
	}
	return 0;
}
