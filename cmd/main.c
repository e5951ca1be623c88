/* blazy: lazily materialised btrfs filesystems. Dispatches to the subcommands in cmd/. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

const struct blz_cmd blz_commands[] = {
	{ "mkseed", cmd_mkseed, 1, 1, "write a btrfs seed image from a directory, tar streams, an OCI image",
	  blz_help_mkseed },
	{ "inspect", cmd_inspect, 1, 1, "show the layout of a seed image",
	  blz_help_inspect },
	{ "serve", cmd_serve, 0, 1, "serve a seed (or a test backend) as a read-only ublk device",
	  blz_help_serve },
	{ "map", cmd_map, 1, -1, "map files into a seed's virtual area (bytes go to the store)",
	  blz_help_map },
	{ "status", cmd_status, 1, 1, "show a served device's or a blazy mount's counters and what was read",
	  blz_help_status },
	{ "log", cmd_log, 1, 1, "start or stop the request log of a running server",
	  blz_help_log },
	{ "trace", cmd_trace, 1, 1, "draw a request log as an SVG picture of the address space over time",
	  blz_help_trace },
	{ "list", cmd_list, 0, 0, "list the ublk devices on this system",
	  blz_help_list },
	{ "stop", cmd_stop, 1, 1, "stop and delete a ublk device",
	  blz_help_stop },
	{ "mount", cmd_mount, 2, 2, "serve a seed, sprout it with a writable backing and mount it",
	  blz_help_mount },
	{ "umount", cmd_umount, 1, 1, "unmount a blazy mount, detach its backing, stop its server",
	  blz_help_umount },
	{ "upgrade", cmd_upgrade, 1, 1, "replace a supervised server by a new binary, no I/O error",
	  blz_help_upgrade },
	{ "doctor", cmd_doctor, 0, 0, "check what this system offers blazy, and whether it can serve",
	  blz_help_doctor },
	{ "store", cmd_store, 1, 2, "check a seed's stores, warm its cache before a mount, trim a cache",
	  blz_help_store },
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
