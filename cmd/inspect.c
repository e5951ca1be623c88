/* blazy inspect: show a seed image's layout (lib/btrfs/inspect.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "btrfs/format.h"
#include "btrfs/inspect.h"
#include "cmd.h"
#include "util/size.h"

static const struct {
	uint64_t bit;
	const char *name;
	int ro;
} features[] = {
	{ BTRFS_FEATURE_INCOMPAT_MIXED_BACKREF, "mixed_backref", 0 },
	{ BTRFS_FEATURE_INCOMPAT_BIG_METADATA, "big_metadata", 0 },
	{ BTRFS_FEATURE_INCOMPAT_EXTENDED_IREF, "extended_iref", 0 },
	{ BTRFS_FEATURE_INCOMPAT_SKINNY_METADATA, "skinny_metadata", 0 },
	{ BTRFS_FEATURE_INCOMPAT_NO_HOLES, "no_holes", 0 },
	{ BTRFS_FEATURE_COMPAT_RO_FREE_SPACE_TREE, "free_space_tree", 1 },
	{ BTRFS_FEATURE_COMPAT_RO_FREE_SPACE_TREE_VALID, "free_space_tree_valid", 1 },
};

static const char *chunk_type(uint64_t t)
{
	if (t & BTRFS_BLOCK_GROUP_DATA)
		return "data";
	if (t & BTRFS_BLOCK_GROUP_SYSTEM)
		return "system";
	if (t & BTRFS_BLOCK_GROUP_METADATA)
		return "metadata";
	return "unknown";
}

int cmd_inspect(const struct blz_cmd *cmd, int argc, char **argv)
{
	bool json, chunks;
	int r = blz_parse_flags(cmd, argc, argv,
				(const struct blz_flag[]){ { "json", &json }, { "chunks", &chunks }, { 0 } });
	if (r)
		return r;
	const char *path = argv[optind];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return blz_die("cannot open '%s': %s", path, strerror(errno));
	struct blz_seed_info in;
	char err[256];
	r = blz_seed_inspect(fd, &in, err, sizeof(err));
	close(fd);
	if (r < 0)
		return blz_die("'%s': %s", path, err);

	char fsid[37];
	blz_format_uuid(in.fsid, fsid);
	bool seeding = in.super_flags & BTRFS_SUPER_FLAG_SEEDING;
	if (json) {
		printf("{\"image\":");
		blz_json_str(stdout, path);
		printf(",\"fsid\":\"%s\",\"label\":", fsid);
		blz_json_str(stdout, in.label);
		printf(",\"generation\":%llu,\"seeding\":%s,\"sectorsize\":%u,\"nodesize\":%u,"
		       "\"device_size\":%llu,\"image_size\":%llu,\"local_end\":%llu,"
		       "\"metadata_bytes\":%llu,\"local_data_bytes\":%llu,\"bytes_used\":%llu,",
		       (unsigned long long)in.generation, seeding ? "true" : "false", in.sectorsize,
		       in.nodesize, (unsigned long long)in.device_size,
		       (unsigned long long)in.image_size, (unsigned long long)in.local_end,
		       (unsigned long long)in.metadata_bytes,
		       (unsigned long long)in.local_data_bytes, (unsigned long long)in.bytes_used);
		printf("\"features\":[");
		int first = 1;
		for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
			uint64_t flags = features[i].ro ? in.compat_ro : in.incompat;
			if (flags & features[i].bit) {
				printf("%s\"%s\"", first ? "" : ",", features[i].name);
				first = 0;
			}
		}
		printf("],\"inodes\":%llu,\"files\":%llu,\"dirs\":%llu,\"symlinks\":%llu,"
		       "\"specials\":%llu,\"file_bytes\":%llu,",
		       (unsigned long long)in.inodes, (unsigned long long)in.files,
		       (unsigned long long)in.dirs, (unsigned long long)in.symlinks,
		       (unsigned long long)in.specials, (unsigned long long)in.file_bytes);
		printf("\"import\":{\"offset\":%llu,\"size\":%llu,\"chunks\":%llu},"
		       "\"virtual\":{\"offset\":%llu,\"size\":%llu,\"chunks\":%llu,\"inode\":%llu}",
		       (unsigned long long)in.import_off, (unsigned long long)in.import_size,
		       (unsigned long long)in.import_chunks, (unsigned long long)in.virtual_off,
		       (unsigned long long)in.virtual_size, (unsigned long long)in.virtual_chunks,
		       (unsigned long long)in.virtual_ino);
		printf(",\"nchunks\":%zu", in.nchunks);
		if (chunks) {
			printf(",\"chunks\":[");
			for (size_t i = 0; i < in.nchunks; i++)
				printf("%s{\"logical\":%llu,\"length\":%llu,\"type\":\"%s\",\"physical\":%llu}",
				       i ? "," : "", (unsigned long long)in.chunks[i].logical,
				       (unsigned long long)in.chunks[i].length, chunk_type(in.chunks[i].type),
				       (unsigned long long)in.chunks[i].physical);
			printf("]");
		}
		printf("}\n");
	} else {
		char b[6][32];
		printf("image:          %s\n", path);
		printf("fsid:           %s%s\n", fsid, seeding ? " (seed)" : " (NOT flagged as a seed)");
		printf("label:          %s\n", in.label);
		printf("generation:     %llu\n", (unsigned long long)in.generation);
		printf("device size:    %s (%llu bytes)\n", blz_format_size(in.device_size, b[0], 32),
		       (unsigned long long)in.device_size);
		printf("local region:   [0, %llu) %s: %s metadata, %s data\n",
		       (unsigned long long)in.local_end, blz_format_size(in.local_end, b[1], 32),
		       blz_format_size(in.metadata_bytes, b[2], 32),
		       blz_format_size(in.local_data_bytes, b[3], 32));
		printf("import area:    %s\n", in.import_size ? "present" : "none");
		if (in.virtual_chunks)
			printf("virtual area:   [%llu, +%llu) %s in %llu chunk(s), /.blazy/virtual inode %llu\n",
			       (unsigned long long)in.virtual_off, (unsigned long long)in.virtual_size,
			       blz_format_size(in.virtual_size, b[4], 32),
			       (unsigned long long)in.virtual_chunks, (unsigned long long)in.virtual_ino);
		else
			printf("virtual area:   none\n");
		printf("inodes:         %llu (%llu files, %llu directories, %llu symlinks, %llu other)\n",
		       (unsigned long long)in.inodes, (unsigned long long)in.files,
		       (unsigned long long)in.dirs, (unsigned long long)in.symlinks,
		       (unsigned long long)in.specials);
		printf("file bytes:     %s\n", blz_format_size(in.file_bytes, b[5], 32));
		printf("features:      ");
		for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
			uint64_t flags = features[i].ro ? in.compat_ro : in.incompat;
			if (flags & features[i].bit)
				printf(" %s", features[i].name);
		}
		printf("\nchunks:         %zu\n", in.nchunks);
		if (chunks)
			for (size_t i = 0; i < in.nchunks; i++)
				printf("  %-8s logical %llu length %llu physical %llu\n",
				       chunk_type(in.chunks[i].type), (unsigned long long)in.chunks[i].logical,
				       (unsigned long long)in.chunks[i].length,
				       (unsigned long long)in.chunks[i].physical);
	}
	blz_seed_info_release(&in);
	return 0;
}
