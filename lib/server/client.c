/* Requests to a running server: see client.h. */
#include "server/client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/control.h"
#include "util/strbuf.h"

#define STATUS_TIMEOUT_MS 5000
#define FETCHES_TIMEOUT_MS 30000

/* Sends verb (with fd, when >= 0) to the server of id: 0 with the payload in *ret_reply
 * (caller frees). */
static int ask_fd(uint32_t id, const char *verb, int fd, int timeout_ms, char **ret_reply,
		  char *err, size_t errlen)
{
	char sock[128], *reply = NULL;
	blz_reg_sock_path(id, sock, sizeof(sock));
	int r = blz_ctl_request_fd(sock, verb, fd, &reply, timeout_ms);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return blz_errf(err, errlen, -ENOENT, "no blazy server for /dev/ublkb%u (see "
				"'blazy list')", id);
	if (r == -EREMOTEIO) {
		blz_errf(err, errlen, r, "the server of /dev/ublkb%u refused: %s", id, reply);
		free(reply);
		return r;
	}
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot reach the server of /dev/ublkb%u: %s", id,
				strerror(-r));
	*ret_reply = reply;
	return 0;
}

static int ask(uint32_t id, const char *verb, int timeout_ms, char **ret_reply, char *err,
	       size_t errlen)
{
	return ask_fd(id, verb, -1, timeout_ms, ret_reply, err, errlen);
}

int blz_server_log_start(uint32_t id, const char *path, char *err, size_t errlen)
{
	bool created = true;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = open(path, O_WRONLY | O_CLOEXEC); /* not truncated: the server does that */
	}
	if (fd < 0)
		return blz_errf(err, errlen, -errno, "cannot open '%s': %s", path, strerror(errno));
	char *reply = NULL;
	int r = ask_fd(id, "log-start", fd, STATUS_TIMEOUT_MS, &reply, err, errlen);
	close(fd);
	free(reply);
	/* surely not started (no server, refused): a file made here goes again */
	if (created && (r == -ENOENT || r == -EREMOTEIO))
		unlink(path);
	return r;
}

int blz_server_log_stop(uint32_t id, char **ret_summary, char *err, size_t errlen)
{
	/* the server writes what its rings hold and syncs the file */
	return ask(id, "log-stop", FETCHES_TIMEOUT_MS, ret_summary, err, errlen);
}

int blz_server_ask_status(uint32_t id, struct blz_server_status *ret, char *err, size_t errlen)
{
	char *reply, e[256];
	int r = ask(id, "status", STATUS_TIMEOUT_MS, &reply, err, errlen);
	if (r < 0)
		return r;
	r = blz_server_status_parse(reply, strlen(reply), ret, e, sizeof(e));
	free(reply);
	if (r < 0)
		return blz_errf(err, errlen, -EPROTO, "the status of /dev/ublkb%u is malformed: %s",
				id, e);
	return 0;
}

int blz_server_ask_fetches(uint32_t id, struct blz_fetch_list *ret, char *err, size_t errlen)
{
	char *reply, e[256];
	int r = ask(id, "fetches", FETCHES_TIMEOUT_MS, &reply, err, errlen);
	if (r < 0)
		return r;
	r = blz_fetch_parse(reply, ret, e, sizeof(e));
	free(reply);
	if (r < 0)
		return blz_errf(err, errlen, -EPROTO, "the server's fetches are malformed: %s", e);
	return 0;
}
