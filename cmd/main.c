/* blazy: lazily materialised btrfs filesystems. Dispatches to the subcommands in cmd/. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

const struct blz_cmd blz_commands[] = {
	{ "mkseed", cmd_mkseed, 1, 1, "write a btrfs seed image from a directory and/or tar streams",
	  "usage: blazy mkseed [--rootdir DIR] [--tar FILE|-]... [--virtual-size SIZE] [options] OUTPUT\n"
	  "\n"
	  "Writes a btrfs seed filesystem image to OUTPUT without btrfs-progs, root or mounts.\n"
	  "The image holds all metadata and file data of the sources, plus /.blazy/virtual: a\n"
	  "NODATASUM file spanning the lazy virtual area (no bytes in the image), from which\n"
	  "files are cloned at run time. OUTPUT is written under a temporary name and renamed\n"
	  "only when complete.\n"
	  "\n"
	  "options:\n"
	  "  --rootdir DIR        copy the tree under DIR (metadata, xattrs, hard links, holes)\n"
	  "  --tar FILE|-         apply a tar stream (ustar, pax, GNU; plain or zstd) over the\n"
	  "                       tree; '-' reads standard input; may be repeated (in order)\n"
	  "  --virtual-size SIZE  size of /.blazy/virtual, suffixes K M G T P E (powers of 1024),\n"
	  "                       a multiple of 4 KiB, at most 4E; 0 = none (default 1P)\n"
	  "  --label LABEL        filesystem label (at most 255 bytes)\n"
	  "  --uuid UUID          filesystem UUID (default random); with --timestamp the output\n"
	  "                       is byte-for-byte reproducible\n"
	  "  --timestamp SECONDS  time stamp of the metadata blazy creates itself (default\n"
	  "                       $SOURCE_DATE_EPOCH, else now)\n"
	  "  -f, --force          replace OUTPUT if it exists\n"
	  "  -q, --quiet          no progress and no summary\n"
	  "  --json               print the summary as JSON\n"
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
