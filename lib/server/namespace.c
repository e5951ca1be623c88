/* The server's private mount namespace, pruned to what it needs (mount/ns.h). */
#include "server/internal.h"

#include "fetch/fetch.h"
#include "lazy/lazy.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "mount/ns.h"
#include "util/strbuf.h"

/* The server must not share a mount namespace with the users of its own disk (an unmount
 * at its exit could wait on I/O that only it would serve), and the private copy must not
 * hold every filesystem there was: keep only what it opens by path. Returns the number of
 * mounts left out, or -errno with err. */
int srv_enter_namespace(struct blz_server *s, char *err, size_t errlen)
{
	/* Kept for a supervisor the server may have to start (orphan.c). */
	if (s->home_ns < 0)
		s->home_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (unshare(CLONE_NEWNS) < 0)
		return blz_errf(err, errlen, -errno, "cannot enter a private mount namespace: %s",
				strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return blz_errf(err, errlen, -errno, "cannot make the mounts private: %s",
				strerror(errno));
	const char *need[8 + BLZ_FETCH_MAX_STORES + 5 + BLZ_SERVER_MAX_FILTERS] = {
		BLZ_RUN_DIR, "/dev", "/proc", "/sys"
	};
	size_t nneed = 4;
	if (s->lazy) {
		need[nneed++] = s->reg.seed;
		need[nneed++] = s->reg.map;
		need[nneed++] = s->reg.store;
	}
	const struct blz_fetch_opts *fo = s->cfg.fetch;
	if (s->lazy && fo) {
		/* Local stores, the persistent cache, TLS and auth files, /etc/hosts. */
		for (size_t i = 0; i < fo->n_stores && i < BLZ_FETCH_MAX_STORES; i++)
			if (fo->stores[i][0] == '/')
				need[nneed++] = fo->stores[i];
		need[nneed++] = fo->cache_dir ? fo->cache_dir : BLZ_LAZY_CACHE_ROOT;
		need[nneed++] = "/etc";
		if (fo->ca_file)
			need[nneed++] = fo->ca_file;
		if (fo->auth_file)
			need[nneed++] = fo->auth_file;
	}
	for (unsigned i = 0; i < s->cfg.nfilters; i++)
		if (blz_backend_filter_file(s->cfg.filters[i]))
			need[nneed++] = blz_backend_filter_file(s->cfg.filters[i]);
	int pruned = blz_mount_prune(need, nneed);
	if (pruned < 0) {
		srv_log(s, "warning: cannot tell which mounts the server needs (%s): keeping them all",
			strerror(-pruned));
		pruned = 0;
	}
	return pruned;
}
