/* The command table and helpers shared by the thin front-ends in cmd/. */
#ifndef BLZ_CMD_CMD_H
#define BLZ_CMD_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct blz_cmd {
	const char *name;
	int (*fn)(const struct blz_cmd *cmd, int argc, char **argv);
	int min_args, max_args; /* positional arguments; max -1 = unlimited */
	const char *summary;    /* one line for `blazy help` */
	const char *help;       /* full text for `blazy CMD --help`; first line is the usage */
};

extern const struct blz_cmd blz_commands[];
/* The help texts (cmd/help.c). */
extern const char blz_help_mkseed[];
extern const char blz_help_inspect[];
extern const char blz_help_serve[];
extern const char blz_help_map[];
extern const char blz_help_status[];
extern const char blz_help_list[];
extern const char blz_help_stop[];
extern const char blz_help_mount[];
extern const char blz_help_umount[];
extern const char blz_help_doctor[];
extern const char blz_help_store[];
extern const char blz_help_upgrade[];
extern const char blz_help_log[];
extern const char blz_help_trace[];

const struct blz_cmd *blz_find_command(const char *name);

/* "blazy: error: ..." on stderr; returns 1 (the failure exit status). */
int blz_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "blazy: error: ..." plus the usage line; returns 2 (the misuse exit status). */
int blz_misuse(const struct blz_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "blazy: warning: ..." */
void blz_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Checks the number of positional arguments against the table; returns 0 or 2. */
int blz_check_args(const struct blz_cmd *cmd, int nargs);
void blz_print_help(const struct blz_cmd *cmd, FILE *f);
/* Parses a command whose options are all flags (--json, --chunks...): each named one seen
 * sets its bool (all start false); then checks the positional arguments, which start at
 * argv[optind]. 0, or 2 after a misuse message. flags ends with { NULL, NULL }. */
struct blz_flag {
	const char *name;
	bool *val;
};
int blz_parse_flags(const struct blz_cmd *cmd, int argc, char **argv,
		    const struct blz_flag *flags);

/* ARG names a blazy mount point (a directory): 1, its canonical path in mnt (PATH_MAX
 * bytes), its state in ms and its device's id in *ret_id; or a device (/dev/ublkbN, ublkbN,
 * N): 0 with *ret_id; else -1 after the message (blz_die: a directory that is no blazy
 * mount) or -2 (neither: the caller reports misuse). */
struct blz_orch_state;
int blz_dev_or_mount(const char *arg, char *mnt, struct blz_orch_state *ms, uint32_t *ret_id);
/* After getopt_long (optstring starting with ':') returned c, neither an option of the
 * command nor the end: the misuse status, for an option without its value or an unknown
 * one. */
int blz_bad_option(const struct blz_cmd *cmd, int c, char **argv);
/* --timeout SECONDS, 1 to 3600, into *ret_s: 0, or the misuse status. */
int blz_parse_timeout(const struct blz_cmd *cmd, const char *arg, unsigned *ret_s);
/* The one argument left after the options (argv[optind]) as blz_dev_or_mount sees it: 1
 * (a mount point), 0 (a device), or minus the exit status after the message (wrong number
 * of arguments, neither a device nor a mount point). */
int blz_target_arg(const struct blz_cmd *cmd, int argc, char **argv, char *mnt,
		   struct blz_orch_state *ms, uint32_t *ret_id);
/* A decimal count in [min, max] (digits only): 0, or -EINVAL. */
int blz_parse_count(const char *s, unsigned min, unsigned max, unsigned *ret);

/* path made absolute against the working directory (it need not exist) into buf: buf,
 * or NULL when it does not fit. */
const char *blz_abs_path(const char *path, char *buf, size_t len);

/* Writes s as a JSON string literal. */
void blz_json_str(FILE *f, const char *s);
void blz_format_uuid(const unsigned char uuid[16], char out[37]);

int cmd_help(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_version(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_mkseed(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_inspect(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_serve(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_list(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_stop(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_map(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_status(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_mount(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_umount(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_doctor(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_store(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_upgrade(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_log(const struct blz_cmd *cmd, int argc, char **argv);
int cmd_trace(const struct blz_cmd *cmd, int argc, char **argv);

#endif
