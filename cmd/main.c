/* blazy: lazily materialised btrfs filesystems. Dispatches to the subcommands in cmd/. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

const struct blz_cmd blz_commands[] = {
	{ "mkseed", cmd_mkseed, 1, 1, "write a btrfs seed image from a directory, tar streams, an OCI image",
	  "usage: blazy mkseed [--rootdir DIR] [--tar FILE|-]... [--oci DIR[:REF]] [--virtual-size SIZE]\n"
	  "                    [options] OUTPUT\n"
	  "\n"
	  "Writes a btrfs seed filesystem image to OUTPUT without btrfs-progs, root or mounts.\n"
	  "The image holds all metadata and file data of the sources, plus /.blazy/virtual: a\n"
	  "NODATASUM file spanning the lazy virtual area (no bytes in the image), from which\n"
	  "files are cloned at run time. OUTPUT is written under a temporary name and renamed\n"
	  "only when complete.\n"
	  "\n"
	  "options:\n"
	  "  --rootdir DIR        copy the tree under DIR (metadata, xattrs, hard links, holes)\n"
	  "  --tar FILE|-         apply a tar stream (ustar, pax, GNU; plain, zstd or gzip) over\n"
	  "                       the tree; '-' reads standard input; may be repeated: layers are\n"
	  "                       applied in order with OCI whiteouts (.wh.NAME deletes NAME of\n"
	  "                       a lower layer, .wh..wh..opq empties a directory's lower\n"
	  "                       contents); whiteout entries themselves are not added\n"
	  "  --oci DIR[:REF]      apply the layers of an image in an OCI image layout (DIR with\n"
	  "                       oci-layout, index.json, blobs/sha256/) in order, with OCI\n"
	  "                       whiteouts: the image whose org.opencontainers.image.ref.name\n"
	  "                       is REF, else the only one; within an index, the one for the\n"
	  "                       platform. Every blob is checked against its size and sha256\n"
	  "                       digest, and each layer's uncompressed content against the\n"
	  "                       config's diff_id; layers are tar, tar+gzip or tar+zstd (OCI or\n"
	  "                       Docker media types). Once; ordered with the --tar options\n"
	  "  --platform P         with --oci: the platform to choose in an index, OS/ARCH or\n"
	  "                       OS/ARCH/VARIANT (default this machine's, e.g. linux/amd64)\n"
	  "  --virtual-size SIZE  size of /.blazy/virtual, suffixes K M G T P E (powers of 1024),\n"
	  "                       a multiple of 4 KiB, at most 4E; 0 = none (default 1P)\n"
	  "  --label LABEL        filesystem label (at most 255 bytes)\n"
	  "  --uuid UUID          filesystem UUID (default random); with --timestamp the output\n"
	  "                       is byte-for-byte reproducible\n"
	  "  --timestamp SECONDS  time stamp of the metadata blazy creates itself (default\n"
	  "                       $SOURCE_DATE_EPOCH, else now)\n"
	  "  -f, --force          replace OUTPUT if it exists\n"
	  "  -q, --quiet          no progress and no summary (progress shows only on a terminal)\n"
	  "  --json               print the summary as JSON\n"
	  "  --lazy               keep file data out of the image: regular files above the\n"
	  "                       inline limit (--inline-max, 512 bytes with --lazy) go\n"
	  "                       to the content store (SHA-256-named zstd chunks, deduplicated)\n"
	  "                       at addresses of the import area, with btrfs data checksums in\n"
	  "                       the seed (the kernel verifies every lazy byte); the map of the\n"
	  "                       import area is written to OUTPUT.map. 'blazy serve' serves it\n"
	  "  --store DIR          the content store for --lazy (default OUTPUT.store)\n"
	  "  --map PATH           the map for --lazy (default OUTPUT.map)\n"
	  "  --inline-max SIZE    files up to SIZE bytes (0 to 2048) are stored inline in the\n"
	  "                       metadata (default 2048, with --lazy 512)\n"
	  "  --local GLOB         with --lazy: keep the data of files whose path (relative to\n"
	  "                       the root, e.g. 'usr/bin/*') or a directory above matches GLOB\n"
	  "                       in the image ('*' also matches '/'); may be repeated\n"
	  "  --local-list FILE    with --lazy: the same for the paths listed in FILE, one per\n"
	  "                       line ('#' comments), e.g. written by 'blazy status --trace'\n"
	  "  -h, --help           show this help\n"
	  "\n"
	  "exit status: 0 success, 1 failure, 2 misuse\n" },
	{ "inspect", cmd_inspect, 1, 1, "show the layout of a seed image",
	  "usage: blazy inspect [--json] [--chunks] SEED\n"
	  "\n"
	  "Reads SEED (verifying every checksum it reads) and shows what a server and a tester\n"
	  "need: device size, local region end, import and virtual areas (offset, size, chunk\n"
	  "count), fsid, generation, features, inode and byte counts.\n"
	  "\n"
	  "options:\n"
	  "  --json      machine-readable output\n"
	  "  --chunks    also list every chunk (logical, length, type, physical)\n"
	  "  -h, --help  show this help\n"
	  "\n"
	  "exit status: 0 success, 1 failure (not a seed, corrupt), 2 misuse\n" },
	{ "serve", cmd_serve, 0, 1, "serve a seed (or a test backend) as a read-only ublk device",
	  "usage: blazy serve [options] SEED\n"
	  "       blazy serve --backend SPEC [options]\n"
	  "\n"
	  "Creates a read-only ublk block device of the seed's full device size and prints its\n"
	  "path (/dev/ublkbN) once it is ready. The local region is read from the image; the\n"
	  "lazy areas from the map (SEED.map) over the content store (SEED.store/), every chunk\n"
	  "verified; unmapped lazy bytes fail with EIO; gaps read as zeros; writes fail.\n"
	  "Runs as a daemon unless --foreground; SIGTERM or SIGINT stop it and delete the device.\n"
	  "The server runs in a private mount namespace that keeps only the mounts of the seed,\n"
	  "map, store, /dev, /proc, /sys and /run/blazy (a disk unmounted elsewhere is not held\n"
	  "by it), and registers a control socket in /run/blazy (requests: status, fetches,\n"
	  "map, stop; root or the seed's owner only).\n"
	  "Needs root and the ublk_drv module (modprobe ublk_drv).\n"
	  "\n"
	  "test backends (SPEC):\n"
	  "  null,size=SIZE       every byte reads as zero\n"
	  "  pattern,size=SIZE    each aligned 8-byte little-endian word holds its own offset\n"
	  "  SIZE: suffixes K M G T P E (powers of 1024); a non-zero multiple of 4 KiB\n"
	  "\n"
	  "options:\n"
	  "  --backend SPEC  serve a test backend instead of a seed (see above)\n"
	  "  --map PATH      the map journal (default SEED.map; created empty if missing)\n"
	  "  --store DIR     the content store (default SEED.store; created if missing)\n"
	  "  --cache SIZE    bound of the chunk cache (default 256M)\n"
	  "  --queues N      queues, each with its own thread (default: CPUs, at most 4;\n"
	  "                  the kernel caps it at the CPU count)\n"
	  "  --depth D       requests in flight per queue, 1 to 4096 (default 64)\n"
	  "  --poll USEC     after serving, a queue thread watches for the next request\n"
	  "                  this long before it sleeps: 0 to 100000 (default 200; 0: never)\n"
	  "  --foreground    do not daemonise; log on standard error\n"
	  "  --log FILE      the daemon's log (default: discarded)\n"
	  "  -h, --help      show this help\n"
	  "\n"
	  "Writes, discards and write-zeroes fail with EROFS; flushes succeed. Logical and\n"
	  "physical block size 4096. SIGUSR1 logs the per-queue counters.\n"
	  "\n"
	  "exit status: 0 success (device stopped cleanly), 1 failure, 2 misuse\n" },
	{ "map", cmd_map, 1, -1, "map files into a seed's virtual area (bytes go to the store)",
	  "usage: blazy map [--json] [--map PATH] [--store DIR] SEED|DEV FILE...\n"
	  "       blazy map --clone [--json] MOUNTPOINT/PATH FILE\n"
	  "       blazy map --clone-into DIR [--json] FILE...\n"
	  "\n"
	  "Stores each FILE's bytes in the content store (SHA-256-named zstd chunks of 1 MiB,\n"
	  "deduplicated) and appends map records for them at the next free, never reused offset\n"
	  "of the virtual area (4 KiB aligned; fsync'ed before this command returns). Prints\n"
	  "each file's offset inside /.blazy/virtual and its length: clone that range\n"
	  "(FICLONERANGE) into a file of the mounted filesystem to use it. DEV names a device\n"
	  "served by 'blazy serve' (/dev/ublkbN, ublkbN or N); with SEED, a server of that seed\n"
	  "is told too. Either way the new range is readable at once. '-' reads standard input.\n"
	  "\n"
	  "With --clone, the mapped range is then cloned (FICLONERANGE) from /.blazy/virtual\n"
	  "into PATH, a new file of a filesystem mounted with 'blazy mount', sized exactly and\n"
	  "given FILE's mode and times: PATH is usable at once and its bytes are fetched when\n"
	  "read. --clone-into DIR does that for each FILE, as DIR/NAME. Paths outside the mount\n"
	  "are refused.\n"
	  "\n"
	  "options:\n"
	  "  --json        machine-readable output (offset, length, device_offset per file)\n"
	  "  --map PATH    the map journal (default SEED.map)\n"
	  "  --store DIR   the content store (default SEED.store)\n"
	  "  --clone       clone into MOUNTPOINT/PATH (see above)\n"
	  "  --clone-into DIR  clone each FILE into DIR of a blazy mount\n"
	  "  --state-dir DIR   blazy mount's state directory (default $BLAZY_STATE_DIR, else\n"
	  "                /var/lib/blazy/mounts)\n"
	  "  -h, --help    show this help\n"
	  "\n"
	  "exit status: 0 success, 1 failure, 2 misuse\n" },
	{ "status", cmd_status, 1, 1, "show a served device's or a blazy mount's counters and what was read",
	  "usage: blazy status [--json] [--top N] [--trace FILE] DEV|MOUNTPOINT\n"
	  "\n"
	  "Asks the server of DEV (/dev/ublkbN, ublkbN or N), or of the device under a blazy\n"
	  "MOUNTPOINT (then also showing the backing and the bytes allocated in it), for its\n"
	  "counters: reads and bytes per queue, bytes served from the image, from mapped lazy\n"
	  "ranges and as zeros; unmapped and failed reads; store reads, cache hits, bad chunks;\n"
	  "map records and mapped bytes.\n"
	  "\n"
	  "And what was read, since the server started: for every map record and every 1 MiB of\n"
	  "the image's local region, the server counts the reads, the bytes served, the chunk\n"
	  "loads from the store and which 4 KiB blocks were read. Under a MOUNTPOINT these are\n"
	  "resolved to the files whose extents hold the blocks read (btrfs LOGICAL_INO_V2 and\n"
	  "INO_PATHS, which need root; without it the counters are still shown), listed by bytes\n"
	  "served from the lazy areas; /.blazy/virtual itself is not a file read, its clones are.\n"
	  "For a DEV, the ranges are listed by bytes. Files small enough to live inline in the\n"
	  "metadata are never fetched, so never listed. A range shared by several files credits\n"
	  "its reads to each and splits its bytes between them.\n"
	  "\n"
	  "options:\n"
	  "  --json        the server's JSON, with the mount's fields and the complete list of\n"
	  "                files read (\"files\", under a MOUNTPOINT) or ranges read (\"ranges\",\n"
	  "                for a DEV) added; exact integers\n"
	  "  --top N       list the first N files or ranges (default 20; 0 = all)\n"
	  "  --trace FILE  under a MOUNTPOINT only: write the name of every file read, relative\n"
	  "                to the mount point, one per line, sorted, to FILE (replaced at once),\n"
	  "                the format 'blazy mkseed --local-list' reads; a name holding a\n"
	  "                newline cannot be written so and is left out with a warning\n"
	  "  -h, --help    show this help\n"
	  "\n"
	  "exit status: 0 success, 1 failure (no such server; the trace could not be made or\n"
	  "written), 2 misuse (--trace with a DEV)\n" },
	{ "list", cmd_list, 0, 0, "list the ublk devices on this system",
	  "usage: blazy list [--json]\n"
	  "\n"
	  "Lists every ublk device (blazy's and others'): id, block device, size, queues,\n"
	  "depth, state (live, dead, quiesced, fail-io), the server's pid and whether that\n"
	  "server still runs. A dead device left behind by a killed server shows as dead;\n"
	  "'blazy stop' removes it.\n"
	  "\n"
	  "options:\n"
	  "  --json      machine-readable output (an array of objects; \"flags\" is the\n"
	  "              device's ublk flag mask, \"features\" the same by name)\n"
	  "  -h, --help  show this help\n"
	  "\n"
	  "exit status: 0 success, 1 failure, 2 misuse\n" },
	{ "stop", cmd_stop, 1, 1, "stop and delete a ublk device",
	  "usage: blazy stop [--timeout SECONDS] [--force] DEV\n"
	  "\n"
	  "Stops and deletes the ublk device DEV (/dev/ublkbN, ublkbN or N). A device that is\n"
	  "mounted (also as a device of a btrfs filesystem, a seed under its sprout included),\n"
	  "held by another block device or opened exclusively is refused, with the user named.\n"
	  "When its server runs, it is asked to stop over its control socket (seed servers),\n"
	  "else sent SIGTERM, and blazy waits until the device is gone; a server that does not\n"
	  "finish within the timeout is killed. A device without a running server (killed,\n"
	  "crashed) is stopped and deleted directly. Its entries in /run/blazy are removed.\n"
	  "Every wait is bounded. blazy umount stops its server the same way.\n"
	  "\n"
	  "options:\n"
	  "  --timeout SECONDS  how long to wait for the server (default 10)\n"
	  "  --force            stop it even when it is in use (its users then see I/O errors)\n"
	  "  -h, --help         show this help\n"
	  "\n"
	  "exit status: 0 the device is gone, 1 failure (or in use), 2 misuse\n" },
	{ "mount", cmd_mount, 2, 2, "serve a seed, sprout it with a writable backing and mount it",
	  "usage: blazy mount [options] SEED MOUNTPOINT --rw BACKING\n"
	  "\n"
	  "Mounts SEED read-write on MOUNTPOINT by syscalls alone (no mount(8), losetup or\n"
	  "btrfs-progs). Uses the server already serving SEED or starts 'blazy serve SEED', and\n"
	  "checks the served superblock against SEED. BACKING (a file, created when missing, or\n"
	  "a block device) takes the writes: the first time, the seed is mounted read-only,\n"
	  "BACKING is wiped and added (the seed sprouts) and the filesystem is remounted\n"
	  "read-write with nodatasum; later times the sprout on BACKING is mounted directly.\n"
	  "After mounting, the extent map of /.blazy/virtual is checked against SEED. What\n"
	  "belongs together is recorded in the state directory, so the same command brings the\n"
	  "same filesystem back after 'blazy umount' or a reboot. On failure everything this\n"
	  "command created (mount, loop device, server, backing file) is removed again.\n"
	  "\n"
	  "options:\n"
	  "  --rw BACKING       the writable file or block device (required)\n"
	  "  --rw-size SIZE     size of a BACKING file created now (default 1G, at least 128M)\n"
	  "  --state-dir DIR    the state directory (default $BLAZY_STATE_DIR, else\n"
	  "                     /var/lib/blazy/mounts)\n"
	  "  -q, --quiet        print nothing on success\n"
	  "  -h, --help         show this help\n"
	  "\n"
	  "exit status: 0 mounted, 1 failure (nothing left behind), 2 misuse\n" },
	{ "umount", cmd_umount, 1, 1, "unmount a blazy mount, detach its backing, stop its server",
	  "usage: blazy umount [--lazy] MOUNTPOINT\n"
	  "\n"
	  "Undoes 'blazy mount' in the order that never hangs: unmounts MOUNTPOINT, detaches the\n"
	  "loop device over the backing file, and stops the server the mount started (or its\n"
	  "dead device). Idempotent: after a crash it removes whatever is left. The state is\n"
	  "kept, so 'blazy mount' with the same arguments brings the filesystem back.\n"
	  "\n"
	  "options:\n"
	  "  --lazy             detach the mount even when busy (MNT_DETACH); the server is then\n"
	  "                     left running, since the detached filesystem may still use it\n"
	  "  --state-dir DIR    the state directory (as for blazy mount)\n"
	  "  -q, --quiet        print nothing on success\n"
	  "  -h, --help         show this help\n"
	  "\n"
	  "exit status: 0 success, 1 failure, 2 misuse\n" },
	{ "doctor", cmd_doctor, 0, 0, "check what this system offers blazy, and whether it can serve",
	  "usage: blazy doctor [--json]\n"
	  "\n"
	  "Checks, without changing anything, what blazy needs here and says how to fix\n"
	  "what is missing: the kernel release; ublk_drv (loaded, built in, or only\n"
	  "installed: it is never loaded automatically); /dev/ublk-control; the kernel's\n"
	  "ublk features (GET_FEATURES: every flag by name, whether the kernel offers it\n"
	  "and whether blazy uses it); io_uring (kernel.io_uring_disabled, and a ring set\n"
	  "up); CAP_SYS_ADMIN; /run/blazy; btrfs and loop (needed by 'blazy mount' only:\n"
	  "warnings). blazy asks for CMD_IOCTL_ENCODE and, where the kernel has it,\n"
	  "NO_AUTO_PART_SCAN (no partition scan of a lazy device); without it the scan\n"
	  "reads three 4 KiB blocks within the first 16 KiB, in the seed's local region.\n"
	  "\n"
	  "options:\n"
	  "  --json      machine-readable output (one object: kernel, can_serve, checks,\n"
	  "              ublk with every flag, io_uring, btrfs, loop, run_dir,\n"
	  "              cap_sys_admin)\n"
	  "  -h, --help  show this help\n"
	  "\n"
	  "exit status: 0 blazy can serve here, 1 it cannot (each problem with its fix),\n"
	  "2 misuse\n" },
	{ "help", cmd_help, 0, 1, "show the list of commands, or one command's help",
	  "usage: blazy help [COMMAND]\n" },
	{ "version", cmd_version, 0, 0, "show the version", "usage: blazy version\n" },
	{ NULL, NULL, 0, 0, NULL, NULL },
};

const struct blz_cmd *blz_find_command(const char *name)
{
	for (const struct blz_cmd *c = blz_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static void print_overview(FILE *f)
{
	fputs("usage: blazy [--version] [--help] COMMAND [ARGS]\n\n"
	      "blazy gives btrfs lazy data blocks: a seed filesystem whose metadata is local and\n"
	      "whose file data is served on first read by a userspace block device.\n\n"
	      "commands:\n", f);
	for (const struct blz_cmd *c = blz_commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fputs("\nRun 'blazy COMMAND --help' for a command's options.\n", f);
}

int cmd_help(const struct blz_cmd *cmd, int argc, char **argv)
{
	if (argc > 2)
		return blz_misuse(cmd, "too many arguments");
	if (argc == 2) {
		const struct blz_cmd *c = blz_find_command(argv[1]);
		if (!c)
			return blz_misuse(cmd, "unknown command '%s'", argv[1]);
		blz_print_help(c, stdout);
		return 0;
	}
	print_overview(stdout);
	return 0;
}

int cmd_version(const struct blz_cmd *cmd, int argc, char **argv)
{
	if (argc > 1)
		return blz_misuse(cmd, "unexpected argument '%s'", argv[1]);
	printf("blazy %s\n", BLAZY_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_overview(stderr);
		return 2;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--version") || !strcmp(name, "-V"))
		name = "version";
	else if (!strcmp(name, "--help") || !strcmp(name, "-h"))
		name = "help";
	const struct blz_cmd *c = blz_find_command(name);
	if (!c) {
		fprintf(stderr, "blazy: error: unknown command '%s'\n", argv[1]);
		fputs("Run 'blazy help' for the list of commands.\n", stderr);
		return 2;
	}
	/* --help anywhere before "--" shows the command's help. */
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			blz_print_help(c, stdout);
			return 0;
		}
	}
	return c->fn(c, argc - 1, argv + 1);
}
