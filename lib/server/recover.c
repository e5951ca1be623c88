/* Taking a quiesced device over (blazy serve --recover, the supervisor's restarts): see
 * server.h and docs/recovery.md. */
#include "server/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/registry.h"
#include "util/clock.h"
#include "util/strbuf.h"

/* How long START_USER_RECOVERY is retried while the old server is still exiting. */
#define RECOVER_WAIT_MS 10000

/* A seed server may only take over a device registered for the same seed file and fsid. */
static int check_same_seed(const struct blz_server *s, uint32_t id, char *err, size_t errlen)
{
	struct blz_reg reg;
	int r = blz_reg_read(id, &reg);
	if (r < 0)
		return blz_errf(err, errlen, -ESTALE, "/dev/ublkb%u has no entry in %s (%s): cannot "
				"tell which seed it serves", id, BLZ_RUN_DIR, strerror(-r));
	struct stat a, b;
	if (stat(reg.seed, &a) < 0 || stat(s->reg.seed, &b) < 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		return blz_errf(err, errlen, -ESTALE, "/dev/ublkb%u serves '%s', not '%s'", id,
				reg.seed, s->reg.seed);
	if (reg.fsid[0] && strcmp(reg.fsid, s->reg.fsid))
		return blz_errf(err, errlen, -ESTALE, "/dev/ublkb%u serves a seed of fsid %s, '%s' "
				"now has fsid %s", id, reg.fsid, s->reg.seed, s->reg.fsid);
	return 0;
}

int srv_take_over(struct blz_server *s, const struct blz_ublk_dev_config *cfg, char *err,
		  size_t errlen)
{
	uint32_t id = s->cfg.recover_id;
	const char *crash = getenv(BLZ_SERVER_CRASH_ENV);
	if (crash && !strcmp(crash, "1")) {
		srv_log(s, "%s=1: crashing before taking /dev/ublkb%u over (a test hook)",
			BLZ_SERVER_CRASH_ENV, id);
		raise(SIGKILL);
	}
	if (s->lazy) {
		const uint8_t *fsid = blz_lazy_fsid(s->lazy);
		for (unsigned i = 0; i < 16; i++)
			snprintf(s->reg.fsid + 2 * i, 3, "%02x", fsid[i]);
		int r = check_same_seed(s, id, err, errlen);
		if (r < 0)
			return r;
	}
	struct blz_ublk_status st;
	int r = srv_dev_status(id, &st, err, errlen);
	if (r < 0)
		return r;
	if (st.state == BLZ_UBLK_S_DEV_LIVE && blz_ublk_server_alive(&st))
		return blz_errf(err, errlen, -EBUSY, "/dev/ublkb%u is served by pid %d", id,
				(int)st.server_pid);
	uint64_t t0 = blz_now_ms();
	r = blz_ublk_dev_recover(cfg, id, RECOVER_WAIT_MS, &s->dev);
	if (r == -EINVAL)
		return blz_errf(err, errlen, r, "/dev/ublkb%u is not recoverable (%s)", id,
				blz_ublk_state_name(st.state));
	if (r == -ESTALE)
		return blz_errf(err, errlen, r, "/dev/ublkb%u has another size than what is served "
				"here", id);
	if (r < 0)
		return blz_errf(err, errlen, r, "cannot take /dev/ublkb%u over: %s", id,
				strerror(-r));
	r = blz_ublk_dev_start(s->dev);
	if (r < 0) {
		blz_ublk_dev_free(s->dev);
		s->dev = NULL;
		return blz_errf(err, errlen, r, "cannot end the recovery of /dev/ublkb%u: %s", id,
				strerror(-r));
	}
	srv_log(s, "took /dev/ublkb%u over (was %s, server %d) in %llu ms", id,
		blz_ublk_state_name(st.state), (int)st.server_pid,
		(unsigned long long)(blz_now_ms() - t0));
	return 0;
}
