/* The server's log lines: see server.h. */
#include "server/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/strbuf.h"

void srv_log(const struct blz_server *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	blz_log_callv(s->cfg.log, s->cfg.log_ctx, fmt, ap);
	va_end(ap);
}

void srv_cfg_log(const struct blz_server_config *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	blz_log_callv(c->log, c->log_ctx, fmt, ap);
	va_end(ap);
}

void blz_server_log_fd(void *ctx, const char *msg)
{
	char line[1200], ts[32];
	time_t t = time(NULL);
	struct tm tm;
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	int n = snprintf(line, sizeof(line), "%s blazy serve[%d]: %s\n", ts, (int)getpid(), msg);
	if (n >= (int)sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	blz_write_full(*(const int *)ctx, line, (size_t)n);
}
