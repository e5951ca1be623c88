/* A server's requests observed: the recorder and the request log (backend/recorder.h). */
#include "server/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ublk/ublk_abi.h"

/* A server that takes a device over (a crash, an upgrade) continues the log its
 * predecessor wrote: appended to, its times counted from that log's header. 0, or -errno
 * when there is no such log (then it starts afresh). */
static int continue_log(struct blz_server *s)
{
	int fd = open(s->cfg.log_requests, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char line[BLZ_REQLOG_MAX_LINE];
	ssize_t n = pread(fd, line, sizeof(line), 0);
	char *nl = n > 0 ? memchr(line, '\n', (size_t)n) : NULL;
	uint64_t t0;
	if (!nl || blz_reqlog_parse_header(line, (size_t)(nl - line), &t0) < 0 ||
	    blz_recorder_set_t0(s->rec, t0) < 0) {
		close(fd);
		return -EINVAL;
	}
	s->reqlog_fd = fd;
	s->reqlog_append = true;
	return 0;
}

int srv_recorder_open(struct blz_server *s, char *err, size_t errlen)
{
	s->reqlog_fd = -1;
	int r = blz_recorder_new(BLZ_UBLK_MAX_NR_QUEUES, &s->rec);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot set up the request statistics: %s",
				strerror(-r));
	if (!s->cfg.log_requests)
		return 0;
	if (s->cfg.recover && continue_log(s) == 0)
		return 0;
	s->reqlog_fd = open(s->cfg.log_requests, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (s->reqlog_fd < 0) {
		r = -errno;
		blz_recorder_free(s->rec);
		s->rec = NULL;
		return blz_errf(err, errlen, r, "cannot open the request log '%s': %s",
				s->cfg.log_requests, strerror(-r));
	}
	return 0;
}

int srv_log_requests_start(struct blz_server *s, char *err, size_t errlen)
{
	if (s->reqlog_fd < 0)
		return 0;
	int r = s->reqlog_append ? blz_recorder_log_append(s->rec, s->reqlog_fd)
				 : blz_recorder_log_start(s->rec, s->reqlog_fd);
	s->reqlog_fd = -1; /* taken over */
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot start the request log '%s': %s",
				s->cfg.log_requests, strerror(-r));
	srv_log(s, "request log %s: %s", s->reqlog_append ? "continued" : "on",
		s->cfg.log_requests);
	return 0;
}

/* Stops the log: 0, -ENOENT when none was on, or its write error; the counts in info. */
static int stop_log(struct blz_server *s, struct blz_recorder_log_info *info)
{
	int r = blz_recorder_log_stop(s->rec);
	blz_recorder_log_info(s->rec, info);
	if (r != -ENOENT)
		srv_log(s, "request log off: %llu lines, %llu dropped%s%s",
			(unsigned long long)info->lines, (unsigned long long)info->dropped,
			r < 0 ? "; write error: " : "", r < 0 ? strerror(-r) : "");
	return r;
}

void srv_log_requests_stop(struct blz_server *s)
{
	struct blz_recorder_log_info info;
	if (s->reqlog_fd >= 0)
		close(s->reqlog_fd);
	s->reqlog_fd = -1;
	if (s->rec)
		stop_log(s, &info);
}

int srv_verb_log(struct blz_server *s, bool start, struct blz_buf *reply, char *msg, size_t len)
{
	if (start) {
		int fd = s->ctl ? blz_ctl_take_fd(s->ctl) : -1;
		if (fd < 0) {
			snprintf(msg, len, "log-start needs the log file passed with the request");
			return -EINVAL;
		}
		/* the client opened it without truncating it (so that a refusal leaves it as it
		 * was); the log starts at offset 0 of an empty file (a pipe has no length) */
		struct blz_recorder_log_info info;
		blz_recorder_log_info(s->rec, &info);
		int r = info.active ? -EBUSY : 0;
		if (r == 0 && ftruncate(fd, 0) < 0 && errno != EINVAL)
			r = -errno;
		if (r < 0)
			close(fd);
		else
			r = blz_recorder_log_start(s->rec, fd);
		if (r < 0) {
			snprintf(msg, len, "%s", r == -EBUSY ? "a request log is already on"
							     : strerror(-r));
			return r;
		}
		srv_log(s, "request log on (asked over the control socket)");
		return 0;
	}
	struct blz_recorder_log_info info;
	int r = stop_log(s, &info);
	if (r == -ENOENT) {
		snprintf(msg, len, "no request log is on");
		return r;
	}
	if (r < 0) {
		snprintf(msg, len, "the request log lost lines: %s", strerror(-r));
		return r;
	}
	blz_buf_printf(reply, "%llu lines, %llu dropped\n", (unsigned long long)info.lines,
		       (unsigned long long)info.dropped);
	return 0;
}
