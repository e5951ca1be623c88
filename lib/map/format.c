/* The map journal's on-disk format: header and record encoders, decoders and checks.
 * The layout is documented in map.h. */
#include "map/map.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/le.h"

/* Header fields */
#define H_MAGIC 0
#define H_VERSION 8
#define H_HDR_SIZE 12
#define H_REC_SIZE 16
#define H_FLAGS 20
#define H_FSID 24
#define H_RESERVED 40
#define H_CRC 60

/* Record fields */
#define R_MAGIC 0
#define R_TYPE 4
#define R_AREA 5
#define R_RESERVED0 6
#define R_SEQ 8
#define R_OFF 16
#define R_LEN 24
#define R_DATA_LEN 28
#define R_BATCH_POS 32
#define R_BATCH_N 36
#define R_DIGEST 40
#define R_RESERVED1 72
#define R_CRC 76

_Static_assert(H_CRC + 4 == BLZ_MAP_HDR_SIZE, "header layout");
_Static_assert(R_CRC + 4 == BLZ_MAP_REC_SIZE, "record layout");
_Static_assert(R_DIGEST + BLZ_MAP_DIGEST_SIZE == R_RESERVED1, "record layout");

void blz_map_hdr_encode(const uint8_t fsid[16], uint8_t out[BLZ_MAP_HDR_SIZE])
{
	memset(out, 0, BLZ_MAP_HDR_SIZE);
	memcpy(out + H_MAGIC, BLZ_MAP_MAGIC, 8);
	put_le32(out + H_VERSION, BLZ_MAP_VERSION);
	put_le32(out + H_HDR_SIZE, BLZ_MAP_HDR_SIZE);
	put_le32(out + H_REC_SIZE, BLZ_MAP_REC_SIZE);
	put_le32(out + H_FLAGS, 0);
	memcpy(out + H_FSID, fsid, 16);
	put_le32(out + H_CRC, blz_crc32c(out, H_CRC));
}

int blz_map_hdr_decode(const uint8_t in[BLZ_MAP_HDR_SIZE], uint8_t ret_fsid[16])
{
	if (memcmp(in + H_MAGIC, BLZ_MAP_MAGIC, 8) != 0)
		return -EBADMSG;
	if (get_le32(in + H_CRC) != blz_crc32c(in, H_CRC))
		return -EBADMSG;
	if (get_le32(in + H_VERSION) != BLZ_MAP_VERSION ||
	    get_le32(in + H_HDR_SIZE) != BLZ_MAP_HDR_SIZE ||
	    get_le32(in + H_REC_SIZE) != BLZ_MAP_REC_SIZE || get_le32(in + H_FLAGS) != 0)
		return -ENOTSUP;
	for (int i = H_RESERVED; i < H_CRC; i++)
		if (in[i])
			return -ENOTSUP;
	memcpy(ret_fsid, in + H_FSID, 16);
	return 0;
}

void blz_map_rec_encode(const struct blz_map_rec *r, uint32_t batch_pos, uint32_t batch_n,
			uint8_t out[BLZ_MAP_REC_SIZE])
{
	memset(out, 0, BLZ_MAP_REC_SIZE);
	memcpy(out + R_MAGIC, BLZ_MAP_REC_MAGIC, 4);
	out[R_TYPE] = BLZ_MAP_REC_TYPE_MAP;
	out[R_AREA] = r->area;
	put_le64(out + R_SEQ, r->seq);
	put_le64(out + R_OFF, r->off);
	put_le32(out + R_LEN, r->len);
	put_le32(out + R_DATA_LEN, r->data_len);
	put_le32(out + R_BATCH_POS, batch_pos);
	put_le32(out + R_BATCH_N, batch_n);
	memcpy(out + R_DIGEST, r->digest, BLZ_MAP_DIGEST_SIZE);
	put_le32(out + R_CRC, blz_crc32c(out, R_CRC));
}

int blz_map_rec_decode(const uint8_t in[BLZ_MAP_REC_SIZE], struct blz_map_rec *ret,
		       uint32_t *ret_batch_pos, uint32_t *ret_batch_n)
{
	if (memcmp(in + R_MAGIC, BLZ_MAP_REC_MAGIC, 4) != 0)
		return -EBADMSG;
	if (get_le32(in + R_CRC) != blz_crc32c(in, R_CRC))
		return -EBADMSG;
	if (in[R_TYPE] != BLZ_MAP_REC_TYPE_MAP || get_le16(in + R_RESERVED0) != 0 ||
	    get_le32(in + R_RESERVED1) != 0)
		return -ENOTSUP;
	memset(ret, 0, sizeof(*ret));
	ret->area = in[R_AREA];
	ret->seq = get_le64(in + R_SEQ);
	ret->off = get_le64(in + R_OFF);
	ret->len = get_le32(in + R_LEN);
	ret->data_len = get_le32(in + R_DATA_LEN);
	memcpy(ret->digest, in + R_DIGEST, BLZ_MAP_DIGEST_SIZE);
	*ret_batch_pos = get_le32(in + R_BATCH_POS);
	*ret_batch_n = get_le32(in + R_BATCH_N);
	return 0;
}

int blz_map_rec_check(const struct blz_map_rec *r, char *why, size_t whylen)
{
	const char *what = NULL;

	if (r->area < 1 || r->area > BLZ_MAP_AREA_MAX) {
		snprintf(why, whylen, "unknown area %u", r->area);
		return -EINVAL;
	}
	if (r->len == 0)
		what = "length 0";
	else if (r->len % BLZ_MAP_BLOCK)
		what = "length not a multiple of 4096";
	else if (r->off % BLZ_MAP_BLOCK)
		what = "offset not a multiple of 4096";
	else if (r->data_len == 0 || r->data_len > r->len || r->len - r->data_len >= BLZ_MAP_BLOCK)
		what = "length is not the data length rounded up to 4096";
	else if (r->len > UINT64_MAX - r->off)
		what = "range wraps past 2^64";
	if (what) {
		snprintf(why, whylen, "%s (offset %" PRIu64 ", length %" PRIu32
			 ", data length %" PRIu32 ")", what, r->off, r->len, r->data_len);
		return -EINVAL;
	}
	return 0;
}
