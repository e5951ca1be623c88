/* ublkfeat: ask ublk_drv for its feature mask (GET_FEATURES) with raw io_uring syscalls,
 * independently of blazy's lib/ublk, and print it as "features DECIMAL 0xHEX" (VM tests
 * compare `blazy doctor --json` with it). Exit 0 on success, 1 on failure (the reason on
 * stderr), 3 when the kernel has no GET_FEATURES (EINVAL, before 6.5). */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* struct ublksrv_ctrl_cmd (include/uapi/linux/ublk_cmd.h), 32 bytes */
struct ctrl_cmd {
	uint32_t dev_id;
	uint16_t queue_id;
	uint16_t len;
	uint64_t addr;
	uint64_t data[1];
	uint16_t dev_path_len;
	uint16_t pad;
	uint32_t reserved;
};
#define GET_FEATURES_OP 0x80207513u /* _IOR('u', 0x13, struct ublksrv_ctrl_cmd) */

static int fail(const char *what)
{
	fprintf(stderr, "ublkfeat: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	int cfd = open("/dev/ublk-control", O_RDWR | O_CLOEXEC);
	if (cfd < 0)
		return fail("open /dev/ublk-control");
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQE128;
	int rfd = (int)syscall(__NR_io_uring_setup, 2, &p);
	if (rfd < 0)
		return fail("io_uring_setup");
	size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
	size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	uint8_t *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, rfd,
			   IORING_OFF_SQ_RING);
	uint8_t *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, rfd,
			   IORING_OFF_CQ_RING);
	uint8_t *sqes = mmap(NULL, p.sq_entries * 128, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_POPULATE, rfd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		return fail("mmap");

	uint64_t features = 0;
	struct io_uring_sqe *sqe = (struct io_uring_sqe *)sqes;
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = cfd;
	sqe->cmd_op = GET_FEATURES_OP;
	sqe->user_data = 1;
	struct ctrl_cmd *cmd = (struct ctrl_cmd *)(sqes + 48);
	cmd->queue_id = 0xffff;
	cmd->len = sizeof(features);
	cmd->addr = (uint64_t)(uintptr_t)&features;

	uint32_t *tail = (uint32_t *)(sq + p.sq_off.tail);
	uint32_t *mask = (uint32_t *)(sq + p.sq_off.ring_mask);
	uint32_t *array = (uint32_t *)(sq + p.sq_off.array);
	array[*tail & *mask] = 0;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, rfd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return fail("io_uring_enter");
	uint32_t *chead = (uint32_t *)(cq + p.cq_off.head);
	uint32_t *ctail = (uint32_t *)(cq + p.cq_off.tail);
	if (*chead == __atomic_load_n(ctail, __ATOMIC_ACQUIRE)) {
		errno = EIO;
		return fail("no completion");
	}
	struct io_uring_cqe *cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) +
				   (*chead & *(uint32_t *)(cq + p.cq_off.ring_mask));
	if (cqe->res < 0) {
		errno = -cqe->res;
		fail("GET_FEATURES");
		return cqe->res == -EINVAL ? 3 : 1;
	}
	printf("features %llu 0x%llx\n", (unsigned long long)features,
	       (unsigned long long)features);
	return 0;
}
