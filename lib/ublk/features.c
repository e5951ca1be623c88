/* ublk feature flags by name, and the flags blazy requests at ADD_DEV (ublk_features.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ublk/ublk_features.h"
#include "ublk/ublk_abi.h"

static const struct blz_ublk_feature features[] = {
	{ BLZ_UBLK_F_SUPPORT_ZERO_COPY, "SUPPORT_ZERO_COPY", "6.15",
	  "zero copy: request pages registered as io_uring fixed buffers" },
	{ BLZ_UBLK_F_URING_CMD_COMP_IN_TASK, "URING_CMD_COMP_IN_TASK", "6.0",
	  "complete commands in task context (always so since 6.1)" },
	{ BLZ_UBLK_F_NEED_GET_DATA, "NEED_GET_DATA", "6.0",
	  "the server supplies a write's buffer only when asked" },
	{ BLZ_UBLK_F_USER_RECOVERY, "USER_RECOVERY", "6.1",
	  "a new server can take over the device of a dead one" },
	{ BLZ_UBLK_F_USER_RECOVERY_REISSUE, "USER_RECOVERY_REISSUE", "6.1",
	  "with recovery, requests held by the dead server are reissued" },
	{ BLZ_UBLK_F_UNPRIVILEGED_DEV, "UNPRIVILEGED_DEV", "6.2",
	  "devices created and served without CAP_SYS_ADMIN" },
	{ BLZ_UBLK_F_CMD_IOCTL_ENCODE, "CMD_IOCTL_ENCODE", "6.4",
	  "ioctl-encoded command opcodes" },
	{ BLZ_UBLK_F_USER_COPY, "USER_COPY", "6.5",
	  "data moved by pread/pwrite on /dev/ublkcN instead of per-tag buffers" },
	{ BLZ_UBLK_F_ZONED, "ZONED", "6.6", "zoned block devices" },
	{ BLZ_UBLK_F_USER_RECOVERY_FAIL_IO, "USER_RECOVERY_FAIL_IO", "6.13",
	  "while no server runs, I/O fails at once; the device stays recoverable" },
	{ BLZ_UBLK_F_UPDATE_SIZE, "UPDATE_SIZE", "6.16", "resize a device (UPDATE_SIZE)" },
	{ BLZ_UBLK_F_AUTO_BUF_REG, "AUTO_BUF_REG", "6.16",
	  "zero copy buffers registered around fetch and commit automatically" },
	{ BLZ_UBLK_F_QUIESCE, "QUIESCE", "6.16",
	  "hand a device over to a new server without killing the old one" },
	{ BLZ_UBLK_F_PER_IO_DAEMON, "PER_IO_DAEMON", "6.16",
	  "any task may serve any (queue, tag)" },
	{ BLZ_UBLK_F_BUF_REG_OFF_DAEMON, "BUF_REG_OFF_DAEMON", "6.17",
	  "zero copy buffers registered from any task" },
	{ BLZ_UBLK_F_BATCH_IO, "BATCH_IO", "7.0", "multishot batched fetch and commit per queue" },
	{ BLZ_UBLK_F_INTEGRITY, "INTEGRITY", "6.19", "integrity (protection information) data" },
	{ BLZ_UBLK_F_SAFE_STOP_DEV, "SAFE_STOP_DEV", "7.0",
	  "stop a device only while nobody holds its disk (TRY_STOP_DEV)" },
	{ BLZ_UBLK_F_NO_AUTO_PART_SCAN, "NO_AUTO_PART_SCAN", "7.0",
	  "no partition-table scan when the device starts" },
	{ BLZ_UBLK_F_SHMEM_ZC, "SHMEM_ZC", "7.1",
	  "zero copy for requests whose pages lie in memory the server shares with the reader" },
	{ BLZ_UBLK_F_IO_DESC_SIZE, "IO_DESC_SIZE", "7.3",
	  "the server chooses the size of a request descriptor (24 to 256 bytes)" },
};

const struct blz_ublk_feature *blz_ublk_feature_table(size_t *ret_n)
{
	*ret_n = sizeof(features) / sizeof(features[0]);
	return features;
}

const struct blz_ublk_feature *blz_ublk_feature_find(uint64_t flag)
{
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		if (features[i].flag == flag)
			return &features[i];
	return NULL;
}

uint64_t blz_ublk_features_request(uint64_t kernel_features, bool legacy, bool part_scan)
{
	uint64_t want = 0;
	if (!legacy)
		want |= BLZ_UBLK_F_CMD_IOCTL_ENCODE;
	if (!part_scan)
		want |= kernel_features & BLZ_UBLK_F_NO_AUTO_PART_SCAN;
	/* TRY_STOP_DEV is an encoded-only command */
	if (!legacy)
		want |= kernel_features & BLZ_UBLK_F_SAFE_STOP_DEV;
	return want;
}

uint64_t blz_ublk_recovery_flags(uint64_t kernel_features, bool fail_io)
{
	uint64_t how = fail_io ? BLZ_UBLK_F_USER_RECOVERY_FAIL_IO : BLZ_UBLK_F_USER_RECOVERY_REISSUE;
	uint64_t need = BLZ_UBLK_F_USER_RECOVERY | (fail_io ? how : 0);
	if ((kernel_features & need) != need)
		return 0;
	return BLZ_UBLK_F_USER_RECOVERY | (kernel_features & (how | BLZ_UBLK_F_QUIESCE));
}

bool blz_ublk_part_scan_forced(void)
{
	const char *v = getenv("BLAZY_UBLK_PART_SCAN");
	return v && !strcmp(v, "1");
}

const char *blz_ublk_io_forced(void)
{
	const char *v = getenv("BLAZY_UBLK_IO");
	if (v && !strcmp(v, "tag"))
		return "tag";
	if (v && !strcmp(v, "batch"))
		return "batch";
	return NULL;
}

bool blz_ublk_batch_wanted(uint64_t kernel_features, bool legacy, bool zero_copy)
{
	const char *forced = blz_ublk_io_forced();
	if (legacy || !(kernel_features & BLZ_UBLK_F_BATCH_IO))
		return false;
	if (forced)
		return strcmp(forced, "batch") == 0;
	return !zero_copy;
}

size_t blz_ublk_features_format(uint64_t mask, const char *sep, char *buf, size_t len)
{
	size_t need = 0;
	if (len)
		buf[0] = '\0';
	for (unsigned bit = 0; bit < 64; bit++) {
		uint64_t f = 1ULL << bit;
		if (!(mask & f))
			continue;
		const struct blz_ublk_feature *e = blz_ublk_feature_find(f);
		char unknown[16];
		if (!e)
			snprintf(unknown, sizeof(unknown), "bit %u", bit);
		int n = snprintf(need < len ? buf + need : NULL, need < len ? len - need : 0, "%s%s",
				 need ? sep : "", e ? e->name : unknown);
		if (n > 0)
			need += (size_t)n;
	}
	return need;
}
