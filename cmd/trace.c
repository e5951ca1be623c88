/* blazy trace: a request log drawn as SVG (lib/trace). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "trace/trace.h"
#include "util/fileio.h"

int cmd_trace(const struct blz_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "svg", required_argument, NULL, 's' },
		{ "files", required_argument, NULL, 'f' },
		{ "mount", required_argument, NULL, 'm' },
		{ "width", required_argument, NULL, 'w' },
		{ "height", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	const char *svg = NULL, *files = NULL, *mnt = NULL;
	struct blz_trace_opts to = { 0 };
	int o;
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (o == 's')
			svg = optarg;
		else if (o == 'f')
			files = optarg;
		else if (o == 'm')
			mnt = optarg;
		else if ((o == 'w' && blz_parse_count(optarg, 400, 8000, &to.width) < 0) ||
			 (o == 'H' && blz_parse_count(optarg, 300, 8000, &to.height) < 0))
			return blz_misuse(cmd, "invalid %s '%s'", argv[optind - 1], optarg);
		else if (o != 'w' && o != 'H')
			return blz_bad_option(cmd, o, argv);
	}
	int r = blz_check_args(cmd, argc - optind);
	if (r)
		return r;
	if (!svg)
		return blz_misuse(cmd, "give the picture's file with --svg OUT.svg");
	if (!files != !mnt)
		return blz_misuse(cmd, "--files LIST and --mount MOUNTPOINT go together");
	const char *path = argv[optind];
	char *text, err[512];
	size_t len;
	if (blz_trace_text_load(path, &text, &len, err, sizeof(err)) < 0)
		return blz_die("%s", err);
	struct blz_trace_log log;
	r = blz_trace_log_parse(text, len, &log, err, sizeof(err));
	free(text);
	if (r < 0)
		return blz_die("'%s': %s", path, err);
	struct blz_trace_names names = { 0 };
	size_t skipped = 0;
	if (files && blz_trace_names_from_files(mnt, files, &names, &skipped, err, sizeof(err)) < 0)
		r = blz_die("%s", err);
	if (skipped)
		blz_warn("%zu file%s of '%s' could not be mapped: left unnamed", skipped,
			 skipped == 1 ? "" : "s", files);
	struct blz_buf out = { 0 };
	struct blz_trace_summary sum;
	to.title = path;
	to.names = &names;
	if (r == 0 && blz_trace_svg(&log, &to, &out, &sum) < 0)
		r = blz_die("'%s' holds no request with a length to draw", path);
	if (r == 0 && (r = blz_write_file_atomic(svg, out.data, out.len)) < 0)
		r = blz_die("cannot write '%s': %s", svg, strerror(-r));
	if (r == 0)
		printf("%zu requests, %zu bands, %zu marks -> %s\n", log.len, sum.bands, sum.rects,
		       svg);
	blz_buf_release(&out);
	blz_trace_names_release(&names);
	blz_trace_log_release(&log);
	return r;
}
