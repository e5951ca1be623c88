#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdlib.h>
#include <sys/stat.h>

#include "cmd.h"
#include "orch/orchestrate.h"
#include "ublk/ublk.h"
#include "util/json.h"
#include "util/strbuf.h"

int blz_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("blazy: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

void blz_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("blazy: warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int blz_misuse(const struct blz_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("blazy: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	const char *nl = strchr(cmd->help, '\n');
	fprintf(stderr, "%.*s\n", nl ? (int)(nl - cmd->help) : (int)strlen(cmd->help), cmd->help);
	fprintf(stderr, "Run 'blazy %s --help' for details.\n", cmd->name);
	return 2;
}

int blz_check_args(const struct blz_cmd *cmd, int nargs)
{
	if (nargs < cmd->min_args)
		return blz_misuse(cmd, "missing argument");
	if (cmd->max_args >= 0 && nargs > cmd->max_args)
		return blz_misuse(cmd, "too many arguments");
	return 0;
}

int blz_parse_flags(const struct blz_cmd *cmd, int argc, char **argv,
		    const struct blz_flag *flags)
{
	struct option opts[8];
	size_t n = 0;
	for (; flags[n].name; n++) {
		if (n == sizeof(opts) / sizeof(opts[0]) - 1)
			return blz_misuse(cmd, "too many options (internal)");
		opts[n] = (struct option){ flags[n].name, no_argument, NULL, (int)n + 1 };
		*flags[n].val = false;
	}
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c < 1 || (size_t)c > n)
			return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
		*flags[c - 1].val = true;
	}
	return blz_check_args(cmd, argc - optind);
}

void blz_print_help(const struct blz_cmd *cmd, FILE *f)
{
	fputs(cmd->help, f);
}

void blz_json_str(FILE *f, const char *s)
{
	struct blz_buf b = { 0 };
	blz_json_append_str(&b, s);
	fwrite(b.data, 1, b.len, f);
	blz_buf_release(&b);
}

void blz_format_uuid(const unsigned char u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
}

int blz_dev_or_mount(const char *arg, char *mnt, struct blz_orch_state *ms, uint32_t *ret_id)
{
	char err[512];
	struct stat st;
	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (!realpath(arg, mnt) || blz_orch_state_read(NULL, mnt, ms, err, sizeof(err)) < 0 ||
		    !ms->mounted) {
			blz_die("'%s' is not a blazy mount point", arg);
			return -1;
		}
		if (blz_ublk_parse_dev(ms->ublk, ret_id) < 0) {
			blz_die("the state of '%s' names no device", mnt);
			return -1;
		}
		return 1;
	}
	return blz_ublk_parse_dev(arg, ret_id) < 0 ? -2 : 0;
}

const char *blz_abs_path(const char *path, char *buf, size_t len)
{
	char cwd[4096];
	int n = path[0] == '/' ? snprintf(buf, len, "%s", path)
	      : getcwd(cwd, sizeof(cwd)) ? snprintf(buf, len, "%s/%s", cwd, path) : -1;
	return n < 0 || (size_t)n >= len ? NULL : buf;
}

int blz_bad_option(const struct blz_cmd *cmd, int c, char **argv)
{
	if (c == ':')
		return blz_misuse(cmd, "option '%s' needs a value", argv[optind - 1]);
	return blz_misuse(cmd, "unknown option '%s'", argv[optind - 1]);
}

int blz_parse_timeout(const struct blz_cmd *cmd, const char *arg, unsigned *ret_s)
{
	if (blz_parse_count(arg, 1, 3600, ret_s) < 0)
		return blz_misuse(cmd, "invalid --timeout '%s' (want 1 to 3600)", arg);
	return 0;
}

int blz_target_arg(const struct blz_cmd *cmd, int argc, char **argv, char *mnt,
		   struct blz_orch_state *ms, uint32_t *ret_id)
{
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return -r;
	r = blz_dev_or_mount(argv[optind], mnt, ms, ret_id);
	if (r == -2)
		return -blz_misuse(cmd, "'%s' is neither a ublk device (/dev/ublkbN, ublkbN or N) "
				   "nor a blazy mount point", argv[optind]);
	return r;
}

int blz_parse_count(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}
