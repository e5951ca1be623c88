/*
 * The ublk_drv user ABI (include/uapi/linux/ublk_cmd.h), restated under our own names.
 *
 * Debian 12's linux-libc-dev ships the 6.1 header (no ioctl-encoded opcodes, no
 * GET_FEATURES, the old field names), so the project carries the facts it needs here
 * instead of including <linux/ublk_cmd.h>. Everything below is a kernel ABI fact: sizes
 * and values are checked with static assertions at the end of the file.
 */
#ifndef BLZ_UBLK_ABI_H
#define BLZ_UBLK_ABI_H

#include <linux/ioctl.h>
#include <stddef.h>
#include <stdint.h>

/* Control commands: legacy raw numbers (what _IOC_NR() of the encoded ones gives too). */
#define BLZ_UBLK_CMD_GET_QUEUE_AFFINITY 0x01
#define BLZ_UBLK_CMD_GET_DEV_INFO 0x02
#define BLZ_UBLK_CMD_ADD_DEV 0x04
#define BLZ_UBLK_CMD_DEL_DEV 0x05
#define BLZ_UBLK_CMD_START_DEV 0x06
#define BLZ_UBLK_CMD_STOP_DEV 0x07
#define BLZ_UBLK_CMD_SET_PARAMS 0x08
#define BLZ_UBLK_CMD_GET_PARAMS 0x09
#define BLZ_UBLK_CMD_START_USER_RECOVERY 0x10
#define BLZ_UBLK_CMD_END_USER_RECOVERY 0x11
#define BLZ_UBLK_CMD_GET_DEV_INFO2 0x12
/* Only ever ioctl-encoded (no legacy form): */
#define BLZ_UBLK_CMD_GET_FEATURES 0x13   /* 6.5 */
#define BLZ_UBLK_CMD_DEL_DEV_ASYNC 0x14  /* 6.9 */
#define BLZ_UBLK_CMD_UPDATE_SIZE 0x15
#define BLZ_UBLK_CMD_QUIESCE_DEV 0x16
#define BLZ_UBLK_CMD_TRY_STOP_DEV 0x17

/* I/O commands on /dev/ublkcN. */
#define BLZ_UBLK_IO_FETCH_REQ 0x20
#define BLZ_UBLK_IO_COMMIT_AND_FETCH_REQ 0x21
#define BLZ_UBLK_IO_NEED_GET_DATA 0x22
/* Batched I/O commands (UBLK_F_BATCH_IO, 7.0; only ioctl-encoded, with struct
 * blz_ublk_batch_io): PREP_IO_CMDS hands the driver every tag's buffer once before START,
 * FETCH_IO_CMDS is a multishot command that writes the tags of new requests (2 bytes each)
 * into a provided buffer, COMMIT_IO_CMDS commits many results in one command (it returns how
 * many bytes of its element array it handled). */
#define BLZ_UBLK_IO_PREP_IO_CMDS 0x25
#define BLZ_UBLK_IO_COMMIT_IO_CMDS 0x26
#define BLZ_UBLK_IO_FETCH_IO_CMDS 0x27
#define BLZ_UBLK_IO_REGISTER_IO_BUF 0x23   /* 6.15, SUPPORT_ZERO_COPY */
#define BLZ_UBLK_IO_UNREGISTER_IO_BUF 0x24 /* 6.15 */

/* Results of a completed FETCH / COMMIT_AND_FETCH. */
#define BLZ_UBLK_IO_RES_OK 0
#define BLZ_UBLK_IO_RES_NEED_GET_DATA 1
/* UBLK_IO_RES_ABORT is -ENODEV: the device is going away, do not fetch again. */

#define BLZ_UBLK_MAX_QUEUE_DEPTH 4096
#define BLZ_UBLK_MAX_NR_QUEUES 4096
#define BLZ_UBLK_FEATURES_LEN 8

/* Device flags (ublksrv_ctrl_dev_info.flags; GET_FEATURES mask). */
#define BLZ_UBLK_F_SUPPORT_ZERO_COPY (1ULL << 0)
#define BLZ_UBLK_F_URING_CMD_COMP_IN_TASK (1ULL << 1)
#define BLZ_UBLK_F_NEED_GET_DATA (1ULL << 2)
#define BLZ_UBLK_F_USER_RECOVERY (1ULL << 3)
#define BLZ_UBLK_F_USER_RECOVERY_REISSUE (1ULL << 4)
#define BLZ_UBLK_F_UNPRIVILEGED_DEV (1ULL << 5)
#define BLZ_UBLK_F_CMD_IOCTL_ENCODE (1ULL << 6)
#define BLZ_UBLK_F_USER_COPY (1ULL << 7)
#define BLZ_UBLK_F_ZONED (1ULL << 8)
#define BLZ_UBLK_F_USER_RECOVERY_FAIL_IO (1ULL << 9)
#define BLZ_UBLK_F_UPDATE_SIZE (1ULL << 10)
#define BLZ_UBLK_F_AUTO_BUF_REG (1ULL << 11)
#define BLZ_UBLK_F_QUIESCE (1ULL << 12)
#define BLZ_UBLK_F_PER_IO_DAEMON (1ULL << 13)
#define BLZ_UBLK_F_BUF_REG_OFF_DAEMON (1ULL << 14)
#define BLZ_UBLK_F_BATCH_IO (1ULL << 15)          /* 7.0 */
#define BLZ_UBLK_F_INTEGRITY (1ULL << 16)         /* 6.19 */
#define BLZ_UBLK_F_SAFE_STOP_DEV (1ULL << 17)     /* 7.0 */
#define BLZ_UBLK_F_NO_AUTO_PART_SCAN (1ULL << 18) /* 7.0 */
#define BLZ_UBLK_F_SHMEM_ZC (1ULL << 19)          /* 7.1 */
#define BLZ_UBLK_F_IO_DESC_SIZE (1ULL << 20)      /* 7.3 */

/* Descriptor flags (ublksrv_io_desc.op_flags above bit 7). NEED_REG_BUF: with
 * AUTO_BUF_REG and UBLK_AUTO_BUF_REG_FALLBACK, the kernel could not register this request's
 * buffer; the server serves it another way (user copy here). */
#define BLZ_UBLK_IO_F_NEED_REG_BUF (1U << 17)

/* AUTO_BUF_REG (6.16): a FETCH / COMMIT_AND_FETCH SQE's addr field (not the command's) is
 * struct ublk_auto_buf_reg: bits 0-15 the fixed-buffer index the kernel registers the next
 * request's pages at, bits 16-23 flags, the rest reserved (0). */
#define BLZ_UBLK_AUTO_BUF_REG_FALLBACK (1U << 0)
static inline uint64_t blz_ublk_auto_buf_reg_addr(uint16_t index, uint8_t flags)
{
	return (uint64_t)index | (uint64_t)flags << 16;
}

/* USER_COPY (6.5): pread/pwrite on /dev/ublkcN at this offset reach the pages of request
 * (q, tag), from byte off of the request. */
#define BLZ_UBLKSRV_IO_BUF_OFFSET 0x80000000ULL
#define BLZ_UBLK_TAG_OFF 25
#define BLZ_UBLK_QID_OFF 41
static inline uint64_t blz_ublk_user_copy_pos(unsigned q, unsigned tag, uint32_t off)
{
	return BLZ_UBLKSRV_IO_BUF_OFFSET + ((uint64_t)q << BLZ_UBLK_QID_OFF) +
	       ((uint64_t)tag << BLZ_UBLK_TAG_OFF) + off;
}

/* Device states (ublksrv_ctrl_dev_info.state). */
#define BLZ_UBLK_S_DEV_DEAD 0
#define BLZ_UBLK_S_DEV_LIVE 1
#define BLZ_UBLK_S_DEV_QUIESCED 2
#define BLZ_UBLK_S_DEV_FAIL_IO 3

/* I/O operations (ublksrv_io_desc.op_flags bits 0-7). */
#define BLZ_UBLK_IO_OP_READ 0
#define BLZ_UBLK_IO_OP_WRITE 1
#define BLZ_UBLK_IO_OP_FLUSH 2
#define BLZ_UBLK_IO_OP_DISCARD 3
#define BLZ_UBLK_IO_OP_WRITE_SAME 4
#define BLZ_UBLK_IO_OP_WRITE_ZEROES 5

/* ublk_param_basic.attrs */
#define BLZ_UBLK_ATTR_READ_ONLY (1U << 0)
#define BLZ_UBLK_ATTR_ROTATIONAL (1U << 1)
#define BLZ_UBLK_ATTR_VOLATILE_CACHE (1U << 2)
#define BLZ_UBLK_ATTR_FUA (1U << 3)

/* ublk_params.types */
#define BLZ_UBLK_PARAM_TYPE_BASIC (1U << 0)
#define BLZ_UBLK_PARAM_TYPE_DISCARD (1U << 1)
#define BLZ_UBLK_PARAM_TYPE_DEVT (1U << 2)

/* struct ublksrv_ctrl_cmd: the 32 bytes at the start of an SQE128's command area. */
struct blz_ublk_ctrl_cmd {
	uint32_t dev_id;
	uint16_t queue_id; /* 0xffff unless the command is for one queue */
	uint16_t len;
	uint64_t addr;
	uint64_t data[1];
	uint16_t dev_path_len; /* unprivileged devices and GET_DEV_INFO2 only */
	uint16_t pad;
	uint32_t reserved;
};

/* struct ublksrv_ctrl_dev_info (64 bytes). */
struct blz_ublk_dev_info {
	uint16_t nr_hw_queues;
	uint16_t queue_depth;
	uint16_t state;
	uint16_t pad0;
	uint32_t max_io_buf_bytes;
	uint32_t dev_id;
	int32_t ublksrv_pid;
	uint32_t pad1;
	uint64_t flags;
	uint64_t ublksrv_flags; /* the server's own; the kernel stores and returns it */
	uint32_t owner_uid;
	uint32_t owner_gid;
	uint64_t reserved1;
	uint64_t reserved2;
};

/* struct ublksrv_io_desc: one per tag in the queue's mmap'ed array (24 bytes). */
struct blz_ublk_io_desc {
	uint32_t op_flags; /* op in bits 0-7, flags above */
	uint32_t nr_sectors;
	uint64_t start_sector;
	uint64_t addr;
};

/* struct ublksrv_io_cmd: the 16 bytes at the start of an I/O SQE's command area. */
struct blz_ublk_io_cmd {
	uint16_t q_id;
	uint16_t tag;
	int32_t result;
	uint64_t addr;
};

/* struct ublk_batch_io: the 16 bytes at the start of a batched command's SQE area. */
struct blz_ublk_batch_io {
	uint16_t q_id;
	uint16_t flags; /* BLZ_UBLK_BATCH_F_* */
	uint16_t nr_elem;
	uint8_t elem_bytes;
	uint8_t reserved;
	uint64_t reserved2;
};
#define BLZ_UBLK_BATCH_F_HAS_ZONE_LBA (1u << 0)
#define BLZ_UBLK_BATCH_F_HAS_BUF_ADDR (1u << 1) /* copy mode: each element carries buf_addr */
#define BLZ_UBLK_BATCH_F_AUTO_BUF_REG_FALLBACK (1u << 2)

/* One element of PREP_IO_CMDS / COMMIT_IO_CMDS with BLZ_UBLK_BATCH_F_HAS_BUF_ADDR
 * (struct ublk_elem_header followed by the buffer address): 16 bytes. */
struct blz_ublk_batch_elem {
	uint16_t tag;
	uint16_t buf_index; /* AUTO_BUF_REG only */
	int32_t result;     /* commit only: bytes or -errno */
	uint64_t buf_addr;
};

struct blz_ublk_param_basic {
	uint32_t attrs;
	uint8_t logical_bs_shift;
	uint8_t physical_bs_shift;
	uint8_t io_opt_shift;
	uint8_t io_min_shift;
	uint32_t max_sectors;
	uint32_t chunk_sectors;
	uint64_t dev_sectors;
	uint64_t virt_boundary_mask;
};

struct blz_ublk_param_discard {
	uint32_t discard_alignment;
	uint32_t discard_granularity;
	uint32_t max_discard_sectors;
	uint32_t max_write_zeroes_sectors;
	uint16_t max_discard_segments;
	uint16_t reserved0;
};

struct blz_ublk_param_devt {
	uint32_t char_major;
	uint32_t char_minor;
	uint32_t disk_major;
	uint32_t disk_minor;
};

/* The prefix of struct ublk_params this project uses (the kernel accepts a shorter len). */
struct blz_ublk_params {
	uint32_t len;
	uint32_t types;
	struct blz_ublk_param_basic basic;
	struct blz_ublk_param_discard discard;
	struct blz_ublk_param_devt devt;
};

/* Ioctl-encoded opcodes (6.4+): _IOR/_IOWR('u', nr, struct ublksrv_ctrl_cmd / io_cmd). */
#define BLZ_UBLK_U_CMD_GET_DEV_INFO _IOR('u', BLZ_UBLK_CMD_GET_DEV_INFO, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_CMD_ADD_DEV _IOWR('u', BLZ_UBLK_CMD_ADD_DEV, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_CMD_DEL_DEV _IOWR('u', BLZ_UBLK_CMD_DEL_DEV, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_CMD_START_DEV _IOWR('u', BLZ_UBLK_CMD_START_DEV, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_CMD_STOP_DEV _IOWR('u', BLZ_UBLK_CMD_STOP_DEV, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_CMD_SET_PARAMS _IOWR('u', BLZ_UBLK_CMD_SET_PARAMS, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_CMD_GET_PARAMS _IOR('u', BLZ_UBLK_CMD_GET_PARAMS, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_CMD_GET_QUEUE_AFFINITY \
	_IOR('u', BLZ_UBLK_CMD_GET_QUEUE_AFFINITY, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_CMD_GET_FEATURES _IOR('u', BLZ_UBLK_CMD_GET_FEATURES, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_CMD_DEL_DEV_ASYNC _IOR('u', BLZ_UBLK_CMD_DEL_DEV_ASYNC, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_CMD_TRY_STOP_DEV _IOWR('u', BLZ_UBLK_CMD_TRY_STOP_DEV, struct blz_ublk_ctrl_cmd)
#define BLZ_UBLK_U_IO_FETCH_REQ _IOWR('u', BLZ_UBLK_IO_FETCH_REQ, struct blz_ublk_io_cmd)
#define BLZ_UBLK_U_IO_COMMIT_AND_FETCH_REQ \
	_IOWR('u', BLZ_UBLK_IO_COMMIT_AND_FETCH_REQ, struct blz_ublk_io_cmd)

#define BLZ_UBLK_U_IO_PREP_IO_CMDS _IOWR('u', BLZ_UBLK_IO_PREP_IO_CMDS, struct blz_ublk_batch_io)
#define BLZ_UBLK_U_IO_COMMIT_IO_CMDS _IOWR('u', BLZ_UBLK_IO_COMMIT_IO_CMDS, struct blz_ublk_batch_io)
#define BLZ_UBLK_U_IO_FETCH_IO_CMDS _IOWR('u', BLZ_UBLK_IO_FETCH_IO_CMDS, struct blz_ublk_batch_io)

_Static_assert(sizeof(struct blz_ublk_batch_io) == 16, "ublk_batch_io is 16 bytes");
_Static_assert(sizeof(struct blz_ublk_batch_elem) == 16, "a batch element with buf_addr is 16 bytes");
_Static_assert(BLZ_UBLK_U_IO_FETCH_IO_CMDS == 0xc0107527u, "FETCH_IO_CMDS encoding");
_Static_assert(sizeof(struct blz_ublk_ctrl_cmd) == 32, "ublksrv_ctrl_cmd is 32 bytes");
_Static_assert(sizeof(struct blz_ublk_dev_info) == 64, "ublksrv_ctrl_dev_info is 64 bytes");
_Static_assert(sizeof(struct blz_ublk_io_desc) == 24, "ublksrv_io_desc is 24 bytes");
_Static_assert(sizeof(struct blz_ublk_io_cmd) == 16, "ublksrv_io_cmd is 16 bytes");
_Static_assert(sizeof(struct blz_ublk_param_basic) == 32, "ublk_param_basic is 32 bytes");
_Static_assert(sizeof(struct blz_ublk_param_discard) == 20, "ublk_param_discard is 20 bytes");
_Static_assert(offsetof(struct blz_ublk_params, basic) == 8, "ublk_params.basic at 8");
_Static_assert(offsetof(struct blz_ublk_params, discard) == 40, "ublk_params.discard at 40");
_Static_assert(offsetof(struct blz_ublk_params, devt) == 60, "ublk_params.devt at 60");
_Static_assert(BLZ_UBLK_U_CMD_ADD_DEV == 0xc0207504u, "ADD_DEV encoding");
_Static_assert(BLZ_UBLK_U_CMD_GET_DEV_INFO == 0x80207502u, "GET_DEV_INFO encoding");
_Static_assert(BLZ_UBLK_U_IO_FETCH_REQ == 0xc0107520u, "FETCH_REQ encoding");
_Static_assert(BLZ_UBLK_U_CMD_TRY_STOP_DEV == 0xc0207517u, "TRY_STOP_DEV encoding");

#endif
