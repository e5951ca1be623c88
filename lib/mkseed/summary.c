/* The summary of a mkseed run, as JSON or as text (mkseed.h). */
#include <stdio.h>

#include "mkseed/mkseed.h"
#include "util/jsonw.h"
#include "util/size.h"

static void fsid_text(const unsigned char u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
}

void blz_mkseed_summary_json(const struct blz_mkseed_opts *opts,
			     const struct blz_mkseed_result *res, double secs, struct blz_buf *out)
{
	const struct blz_seed_layout *lay = &res->layout;
	char fsid[37];
	fsid_text(lay->fsid, fsid);
	blz_buf_printf(out, "{\"output\":");
	blz_jsonw_str(out, opts->output);
	blz_buf_printf(out,
		      ",\"fsid\":\"%s\",\"device_size\":%llu,\"local_end\":%llu,\"inodes\":%llu,"
		      "\"files\":%llu,\"data_bytes\":%llu,\"seed_disk_bytes\":%llu,"
		      "\"metadata_bytes\":%llu,\"local_data_bytes\":%llu,"
		      "\"virtual\":{\"offset\":%llu,\"size\":%llu,\"chunks\":%llu},"
		      "\"import\":{\"offset\":%llu,\"size\":%llu,\"chunks\":%llu,\"stored_bytes\":%llu,"
		      "\"dedup_bytes\":%llu,\"store_chunks\":%llu,\"store_disk_bytes\":%llu},"
		      "\"seconds\":%.3f}\n",
		      fsid, (unsigned long long)lay->device_size, (unsigned long long)lay->local_end,
		      (unsigned long long)lay->inodes, (unsigned long long)lay->files_written,
		      (unsigned long long)lay->data_bytes, (unsigned long long)res->seed_disk_bytes,
		      (unsigned long long)lay->metadata_bytes,
		      (unsigned long long)lay->local_data_bytes, (unsigned long long)lay->virtual_off,
		      (unsigned long long)lay->virtual_size, (unsigned long long)lay->virtual_chunks,
		      (unsigned long long)lay->import_off, (unsigned long long)lay->import_size,
		      (unsigned long long)lay->import_chunks,
		      (unsigned long long)(res->import.bytes - res->import.dedup_bytes),
		      (unsigned long long)res->import.dedup_bytes,
		      (unsigned long long)res->store_chunks, (unsigned long long)res->store_bytes,
		      secs);
}

void blz_mkseed_summary_text(const struct blz_mkseed_opts *opts,
			     const struct blz_mkseed_result *res, double secs, struct blz_buf *out)
{
	const struct blz_seed_layout *lay = &res->layout;
	const struct blz_import_stats *ist = &res->import;
	char fsid[37], b1[32], b2[32], b3[32], b4[32];
	fsid_text(lay->fsid, fsid);
	blz_buf_printf(out, "wrote %s: %llu inodes, %llu files with %s of data, %s of metadata; "
		      "fsid %s\n", opts->output, (unsigned long long)lay->inodes,
		      (unsigned long long)lay->files_written, blz_format_size(lay->data_bytes, b1, 32),
		      blz_format_size(lay->metadata_bytes, b2, 32), fsid);
	char pct[48] = "";
	if (lay->data_bytes >= (1u << 20)) /* a share of tiny data says nothing */
		snprintf(pct, sizeof(pct), " (%.2f%% of the data)",
			 100.0 * (double)res->seed_disk_bytes / (double)lay->data_bytes);
	blz_buf_printf(out, "seed image: %s on disk%s, %s of file data in it\n",
		      blz_format_size(res->seed_disk_bytes, b1, 32), pct,
		      blz_format_size(lay->local_data_bytes, b2, 32));
	if (opts->lazy)
		blz_buf_printf(out, "lazy data: %s stored, %s deduplicated, in %llu runs; store %s "
			      "now holds %llu chunks, %s on disk; map %s (import area %s at offset "
			      "%llu)\n", blz_format_size(ist->bytes - ist->dedup_bytes, b1, 32),
			      blz_format_size(ist->dedup_bytes, b2, 32),
			      (unsigned long long)ist->chunks, res->store_path,
			      (unsigned long long)res->store_chunks,
			      blz_format_size(res->store_bytes, b3, 32), res->map_path,
			      blz_format_size(lay->import_size, b4, 32),
			      (unsigned long long)lay->import_off);
	if (lay->virtual_size)
		blz_buf_printf(out, "virtual area: %s at offset %llu in %llu chunk(s); device size %s\n",
			      blz_format_size(lay->virtual_size, b3, 32),
			      (unsigned long long)lay->virtual_off,
			      (unsigned long long)lay->virtual_chunks,
			      blz_format_size(lay->device_size, b4, 32));
	blz_buf_printf(out, "time: %.2f s (%s/s)\n", secs,
		      blz_format_size(secs > 0 ? (uint64_t)((double)lay->data_bytes / secs) : 0, b1,
				      32));
}
