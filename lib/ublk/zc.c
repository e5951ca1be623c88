/* Zero copy for a queue: the linked READ / commit pairing and user copy (see zc.h). */
#include "ublk/zc.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "ublk/ublk_abi.h"

enum {
	ZC_IDLE,
	ZC_READING,   /* READ and linked commit in flight */
	ZC_READ_BAD,  /* the READ failed or was short: its commit's -ECANCELED is to come */
	ZC_CANCELED,  /* the commit came back -ECANCELED first: the READ's completion is to come */
};

struct zc_tag {
	uint8_t state;
	uint32_t len;
	int32_t commit; /* ZC_READ_BAD: what to commit once the cancellation arrives */
};

struct blz_ublk_zc {
	unsigned depth;
	struct zc_tag tags[];
};

int blz_ublk_zc_new(unsigned depth, struct blz_ublk_zc **ret)
{
	if (depth == 0)
		return -EINVAL;
	struct blz_ublk_zc *z = calloc(1, sizeof(*z) + depth * sizeof(z->tags[0]));
	if (!z)
		return -ENOMEM;
	z->depth = depth;
	*ret = z;
	return 0;
}

void blz_ublk_zc_free(struct blz_ublk_zc *z)
{
	free(z);
}

void blz_ublk_zc_read_begin(struct blz_ublk_zc *z, unsigned tag, uint32_t len)
{
	if (tag >= z->depth)
		return;
	z->tags[tag].state = ZC_READING;
	z->tags[tag].len = len;
}


bool blz_ublk_zc_read_cqe(struct blz_ublk_zc *z, unsigned tag, int res, int32_t *ret_result,
			  int32_t *ret_commit)
{
	if (tag >= z->depth) {
		*ret_result = -EIO;
		return false;
	}
	struct zc_tag *t = &z->tags[tag];
	if (res >= 0 && (uint32_t)res == t->len) {
		/* the link held: the commit of len went to the driver */
		if (t->state == ZC_READING)
			t->state = ZC_IDLE;
		*ret_result = res;
		return false;
	}
	/* A failure or a short count alike: EIO. The device has USER_COPY, where a short count
	 * would end the whole request as done (dispatch.h blz_ublk_read_commit). */
	int32_t c = -EIO;
	*ret_result = c;
	if (t->state == ZC_CANCELED) {
		t->state = ZC_IDLE;
		*ret_commit = c;
		return true;
	}
	t->state = ZC_READ_BAD;
	t->commit = c;
	return false;
}

int blz_ublk_zc_commit_cqe(struct blz_ublk_zc *z, unsigned tag, int res, int32_t *ret_commit)
{
	if (tag >= z->depth || res != -ECANCELED)
		return -1;
	struct zc_tag *t = &z->tags[tag];
	switch (t->state) {
	case ZC_READ_BAD:
		t->state = ZC_IDLE;
		*ret_commit = t->commit;
		return 1;
	case ZC_READING:
		t->state = ZC_CANCELED;
		return 0;
	default:
		return -1;
	}
}

bool blz_ublk_zc_busy(const struct blz_ublk_zc *z, unsigned tag)
{
	return tag < z->depth && z->tags[tag].state != ZC_IDLE;
}

int32_t blz_ublk_zc_copy(int cfd, unsigned q, unsigned tag, const void *buf, int32_t result)
{
	if (result <= 0)
		return result;
	uint64_t pos = blz_ublk_user_copy_pos(q, tag, 0);
	uint32_t done = 0;
	while (done < (uint32_t)result) {
		ssize_t n = pwrite(cfd, (const uint8_t *)buf + done, (uint32_t)result - done,
				   (off_t)(pos + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (uint32_t)n;
	}
	/* a short copy cannot be committed short (blz_ublk_read_commit): the request fails */
	return done == (uint32_t)result ? result : -EIO;
}
