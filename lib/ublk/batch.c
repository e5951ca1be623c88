/* The batched ublk I/O protocol of one queue (batch.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ublk/batch.h"
#include "ublk/ublk_abi.h"

/* Newer than liburing 2.3's headers (kernel ABI facts). */
#ifndef IORING_URING_CMD_MULTISHOT
#define IORING_URING_CMD_MULTISHOT (1U << 1)
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4) /* the buffer (incremental ring) has room left */
#endif
#define PBUF_RING_INC 2u /* IOU_PBUF_RING_INC, in io_uring_buf_reg's flags (pad in 2.3) */

#define NR_FETCH 2

enum { K_PREP = 1, K_FETCH, K_COMMIT };

static inline uint64_t make_ud(unsigned kind, unsigned idx)
{
	return BLZ_UBLK_BATCH_UD | (uint64_t)kind << 32 | idx;
}

struct fetch {
	struct io_uring_buf_ring *br; /* one page: a ring of one buffer */
	uint8_t *buf;                 /* where the driver writes tags */
	size_t len, off;              /* its size; where the next tags land */
	bool in_ring;                 /* the buffer still has room in the ring */
	bool dead;
};

struct cbuf { /* one COMMIT (or PREP) element array */
	struct blz_ublk_batch_elem *e;
	unsigned n;
	bool busy; /* its command is in flight */
};

struct blz_ublk_batch {
	struct blz_ublk_batch_config cfg;
	struct fetch fetch[NR_FETCH];
	struct cbuf *cb;
	unsigned ncb;
	int cur; /* the array collecting commits, or -1 */
	unsigned live;
};

static struct io_uring_sqe *get_sqe(struct blz_ublk_batch *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(b->cfg.ring);
	if (!sqe) {
		io_uring_submit(b->cfg.ring);
		sqe = io_uring_get_sqe(b->cfg.ring);
	}
	return sqe;
}

static struct io_uring_sqe *prep_cmd(struct blz_ublk_batch *b, unsigned op, unsigned nr,
				     unsigned elem_bytes, uint16_t flags, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(b);
	if (!sqe)
		return NULL;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = b->cfg.fd;
	if (b->cfg.fixed)
		sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = op;
	sqe->user_data = ud;
	struct blz_ublk_batch_io *cmd = (struct blz_ublk_batch_io *)sqe->cmd;
	cmd->q_id = (uint16_t)b->cfg.q_id;
	cmd->flags = flags;
	cmd->nr_elem = (uint16_t)nr;
	cmd->elem_bytes = (uint8_t)elem_bytes;
	return sqe;
}

/* Puts f's buffer (all of it, read) back into its ring. */
static void refill(struct fetch *f)
{
	f->off = 0;
	io_uring_buf_ring_add(f->br, f->buf, (unsigned)f->len, 0, 0, 0);
	io_uring_buf_ring_advance(f->br, 1);
	f->in_ring = true;
}

static int arm_fetch(struct blz_ublk_batch *b, unsigned i)
{
	struct fetch *f = &b->fetch[i];
	if (!f->in_ring)
		refill(f);
	struct io_uring_sqe *sqe = prep_cmd(b, BLZ_UBLK_U_IO_FETCH_IO_CMDS,
					    (unsigned)(f->len / sizeof(uint16_t)), sizeof(uint16_t),
					    0, make_ud(K_FETCH, i));
	if (!sqe)
		return -ENOSPC;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = (uint16_t)i;
	sqe->uring_cmd_flags = IORING_URING_CMD_MULTISHOT;
	return 0;
}

/* A free element array (made on demand: normally two or three are enough). */
static int get_cbuf(struct blz_ublk_batch *b)
{
	for (unsigned i = 0; i < b->ncb; i++)
		if (!b->cb[i].busy && (int)i != b->cur)
			return (int)i;
	struct cbuf *n = realloc(b->cb, (b->ncb + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	b->cb = n;
	struct cbuf *c = &b->cb[b->ncb];
	c->e = calloc(b->cfg.depth, sizeof(*c->e));
	if (!c->e)
		return -ENOMEM;
	c->n = 0;
	c->busy = false;
	return (int)b->ncb++;
}

int blz_ublk_batch_new(const struct blz_ublk_batch_config *cfg, struct blz_ublk_batch **ret)
{
	if (cfg->depth == 0 || cfg->depth > BLZ_UBLK_MAX_QUEUE_DEPTH)
		return -EINVAL;
	struct blz_ublk_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	b->cur = -1;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int r = 0;
	for (unsigned i = 0; i < NR_FETCH && !r; i++) {
		struct fetch *f = &b->fetch[i];
		f->len = (cfg->depth * sizeof(uint16_t) + page - 1) / page * page;
		void *m = mmap(NULL, page + f->len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			r = -errno;
			break;
		}
		f->br = m;
		f->buf = (uint8_t *)m + page;
		io_uring_buf_ring_init(f->br);
		struct io_uring_buf_reg reg;
		memset(&reg, 0, sizeof(reg));
		reg.ring_addr = (uint64_t)(uintptr_t)f->br;
		reg.ring_entries = 1;
		reg.bgid = (uint16_t)i;
		reg.pad = PBUF_RING_INC; /* the flags field in newer headers */
		r = io_uring_register_buf_ring(cfg->ring, &reg, 0);
	}
	if (r < 0) {
		blz_ublk_batch_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

void blz_ublk_batch_free(struct blz_ublk_batch *b)
{
	if (!b)
		return;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	for (unsigned i = 0; i < NR_FETCH; i++)
		if (b->fetch[i].br)
			munmap(b->fetch[i].br, page + b->fetch[i].len);
	for (unsigned i = 0; i < b->ncb; i++)
		free(b->cb[i].e);
	free(b->cb);
	free(b);
}

int blz_ublk_batch_start(struct blz_ublk_batch *b)
{
	struct io_uring *ring = b->cfg.ring;
	int ci = get_cbuf(b);
	if (ci < 0)
		return ci;
	struct cbuf *c = &b->cb[ci];
	for (unsigned tag = 0; tag < b->cfg.depth; tag++) {
		c->e[tag] = (struct blz_ublk_batch_elem){
			.tag = (uint16_t)tag,
			.buf_addr = (uint64_t)(uintptr_t)(b->cfg.bufs + (size_t)tag * b->cfg.buf_size),
		};
	}
	struct io_uring_sqe *sqe =
		prep_cmd(b, BLZ_UBLK_U_IO_PREP_IO_CMDS, b->cfg.depth, sizeof(*c->e),
			 BLZ_UBLK_BATCH_F_HAS_BUF_ADDR, make_ud(K_PREP, (unsigned)ci));
	if (!sqe)
		return -ENOSPC;
	sqe->addr = (uint64_t)(uintptr_t)c->e;
	sqe->len = b->cfg.depth * (unsigned)sizeof(*c->e);
	c->busy = true;
	/* PREP alone first: the driver takes fetches only for a queue whose tags are all
	 * prepared. It completes within the submission. */
	int r = io_uring_submit_and_wait(ring, 1);
	if (r < 0)
		return r;
	struct io_uring_cqe *cqe;
	r = io_uring_peek_cqe(ring, &cqe);
	if (r < 0)
		return r;
	if (cqe->user_data != make_ud(K_PREP, (unsigned)ci))
		return -EPROTO;
	r = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	c->busy = false;
	if (r != 0)
		return r < 0 ? r : -EPROTO;
	for (unsigned i = 0; i < NR_FETCH; i++) {
		r = arm_fetch(b, i);
		if (r < 0)
			return r;
	}
	r = io_uring_submit(ring);
	if (r < 0)
		return r;
	b->live = NR_FETCH;
	/* A fetch the driver refused has completed at once with an error. */
	if (io_uring_peek_cqe(ring, &cqe) == 0 && cqe->res < 0 && blz_ublk_batch_owns(cqe->user_data))
		return cqe->res;
	return 0;
}

int blz_ublk_batch_commit(struct blz_ublk_batch *b, unsigned tag, int32_t result, const void *buf)
{
	if (b->cur < 0) {
		int ci = get_cbuf(b);
		if (ci < 0)
			return ci;
		b->cur = ci;
		b->cb[ci].n = 0;
	}
	struct cbuf *c = &b->cb[b->cur];
	c->e[c->n++] = (struct blz_ublk_batch_elem){
		.tag = (uint16_t)tag,
		.result = result,
		.buf_addr = (uint64_t)(uintptr_t)buf,
	};
	/* full (cannot happen: each tag is committed once per round): send it now */
	return c->n == b->cfg.depth ? blz_ublk_batch_flush(b) : 0;
}

int blz_ublk_batch_flush(struct blz_ublk_batch *b)
{
	if (b->cur < 0)
		return 0;
	struct cbuf *c = &b->cb[b->cur];
	if (c->n == 0)
		return 0;
	struct io_uring_sqe *sqe =
		prep_cmd(b, BLZ_UBLK_U_IO_COMMIT_IO_CMDS, c->n, sizeof(*c->e),
			 BLZ_UBLK_BATCH_F_HAS_BUF_ADDR, make_ud(K_COMMIT, (unsigned)b->cur));
	if (!sqe)
		return -ENOSPC;
	sqe->addr = (uint64_t)(uintptr_t)c->e;
	sqe->len = c->n * (unsigned)sizeof(*c->e);
	c->busy = true;
	b->cur = -1;
	return 0;
}

unsigned blz_ublk_batch_live(const struct blz_ublk_batch *b)
{
	return b->live;
}

static int fetch_cqe(struct blz_ublk_batch *b, unsigned i, const struct io_uring_cqe *cqe,
		     void (*request)(void *ctx, unsigned tag), void *ctx, bool *ret_ended)
{
	struct fetch *f = &b->fetch[i];
	int res = cqe->res;
	if (res >= 0) {
		if ((size_t)res > f->len - f->off || res % 2)
			return -EPROTO;
		for (size_t at = f->off; at < f->off + (size_t)res; at += 2) {
			uint16_t tag;
			memcpy(&tag, f->buf + at, sizeof(tag));
			if (tag >= b->cfg.depth)
				return -EPROTO;
			request(ctx, tag);
		}
		f->off += (size_t)res;
		if (cqe->flags & IORING_CQE_F_BUFFER)
			f->in_ring = cqe->flags & IORING_CQE_F_BUF_MORE;
		if (cqe->flags & IORING_CQE_F_MORE) {
			/* The fetch goes on, its buffer used up (every tag in it read above):
			 * back into the ring at once, so that the driver's next dispatch finds
			 * room instead of failing with -ENOBUFS and requeueing the request. */
			if (!f->in_ring)
				refill(f);
			return 0;
		}
	} else if (res == -ENOBUFS) {
		f->in_ring = false; /* used up: it goes back with its offset reset */
	} else {
		/* -ENODEV: the device stops or is quiesced; anything else: refused */
		f->dead = true;
		b->live--;
		*ret_ended = true;
		return res == -ENODEV ? 0 : res;
	}
	return arm_fetch(b, i); /* ended with its buffer full: again */
}

int blz_ublk_batch_cqe(struct blz_ublk_batch *b, const struct io_uring_cqe *cqe,
		       void (*request)(void *ctx, unsigned tag), void *ctx, bool *ret_ended)
{
	unsigned kind = (unsigned)(cqe->user_data >> 32) & 0xff;
	unsigned idx = (unsigned)cqe->user_data;
	*ret_ended = false;
	if (kind == K_FETCH && idx < NR_FETCH && !b->fetch[idx].dead)
		return fetch_cqe(b, idx, cqe, request, ctx, ret_ended);
	if ((kind == K_COMMIT || kind == K_PREP) && idx < b->ncb) {
		struct cbuf *c = &b->cb[idx];
		int want = (int)(c->n * sizeof(*c->e));
		c->busy = false;
		if (kind == K_COMMIT && cqe->res != want)
			return cqe->res < 0 ? cqe->res : -EIO;
		return 0;
	}
	return -EPROTO;
}
