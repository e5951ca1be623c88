#!/bin/sh
# The lazy Debian root (disk from test/vm/rootfs-disk.sh on /dev/vda) with its store reached
# only remotely (the seed's own store directory is moved aside for the test and put back):
# 1. served over HTTP by test/http/httpfault on the VM's loopback, an empty persistent cache:
#    programs run in a chroot and every file matches the source's manifest; --prefetch with
#    the list of every file fetches in the background meanwhile (reading the root one file at
#    a time would fetch its ~7000 chunks one after another: minutes under TCG);
# 2. a new server (umount + mount) with that cache: every file matches again and nothing is
#    fetched (the web server is not asked once);
# 3. through the example external fetcher (`--store exec:blazy-fetch-dir DIR`), an empty cache:
#    programs run and every file matches (with --prefetch too).
# Runs before 010 (which damages two chunks of the store).
set -u
. "$(dirname "$0")/ublk-lib.inc"
. "$(dirname "$0")/rootfs.inc"
for t in httpfault blazy-fetch-dir; do
	command -v $t >/dev/null 2>&1 || skip "requires $t (run-rootfs.sh --extra build/test/http/httpfault --extra contrib/fetchers/blazy-fetch-dir)"
done
ublk_setup
D=/disk
M=/mnt/root
WEB=$D/web.store
export BLAZY_STATE_DIR=/tmp/state-remote
web_pid=""

remote_cleanup() {
	_rc=$?
	[ -n "$web_pid" ] && kill "$web_pid" 2>/dev/null
	blazy umount "$M" >/dev/null 2>&1
	grep -q " $M " /proc/mounts && umount "$M"
	# the store back where 010 and the host checks expect it
	if [ -d "$WEB" ]; then
		rmdir "$D/seed.img.store" && mv "$WEB" "$D/seed.img.store"
	fi
	rm -rf "$D/cache-http" "$D/cache-exec"
	grep -q " $D " /proc/mounts && umount "$D"
	(exit "$_rc")
	ublk_cleanup
}
trap remote_cleanup EXIT

rootfs_disk || finish
stored=$(rootfs_field stored_bytes <"$D/mkseed.json")
mv "$D/seed.img.store" "$WEB" && mkdir "$D/seed.img.store" || { fail "cannot move the store aside"; finish; }
nchunks=$(find "$WEB" -type f | wc -l)
echo "stored bytes: $stored in $nchunks chunks, served from $WEB"

httpfault --root "$WEB" --port-file /tmp/web.port --lifetime 1800 --log /tmp/web.log >/dev/null &
web_pid=$!
wait_until 10 test -s /tmp/web.port
url=http://127.0.0.1:$(cat /tmp/web.port)/

# mount_remote STORE CACHE-DIR [OPTION...]: the root on $M from that store, a fresh writable
# backing
mount_remote() {
	_store=$1 _cache=$2
	shift 2
	rm -f /tmp/rw-remote.img
	blazy mount -q "$D/seed.img" "$M" --rw /tmp/rw-remote.img --rw-size 256M --store "$_store" \
		--cache-dir "$_cache" --fetch-timeout 30s "$@"
}
# every regular file of the root, for --prefetch
awk '$2 == "f" { print $1 }' "$D/manifest" >/tmp/all.list
prefetch_all="--prefetch /tmp/all.list --prefetch-rate 1G"
# store_stat NAME: the first store's counter NAME in `blazy status --json`
store_stat() {
	blazy status --json "$M" | sed 's/.*"stores"//' | rootfs_field "$1"
}
no_errors() {
	_st=$(blazy status --json "$M")
	[ "$(echo "$_st" | rootfs_field errors)$(echo "$_st" | rootfs_field bad_chunks)" = 00 ]
}
gets() { grep -c ' GET ' /tmp/web.log; }

# ---- 1. over HTTP, an empty cache ----
t0=$(now_cs)
check "blazy mount --store URL (an empty cache)" mount_remote "$url" "$D/cache-http" $prefetch_all || finish
out=$(chroot "$M" /bin/ls /)
t1=$(now_cs)
echo "first output after $(( (t1 - t0) / 100 )).$(( (t1 - t0) % 100 )) s over HTTP (blazy mount + chroot ls /)"
rootfs_workload
rootfs_same "$stored" "over HTTP"
echo "over HTTP: $(gets) requests, $(store_stat fetches) chunks fetched, $(store_stat bytes) bytes," \
	"$(blazy status --json "$M" | rootfs_field prefetched) by --prefetch"
check "the chunks came from the web server" [ "$(store_stat fetches)" -ge 1 ]
check "--prefetch of the file list fetched chunks" [ "$(blazy status --json "$M" | rootfs_field prefetched)" -ge 1 ]
check "no failed reads" no_errors
check "blazy umount" blazy umount "$M"

# ---- 2. a new server, the same cache: nothing fetched again ----
: >/tmp/web.log
check "blazy mount again (a new server, the same cache)" mount_remote "$url" "$D/cache-http" || finish
rootfs_workload
rootfs_same "$stored" "from the cache after a restart"
check "nothing fetched after the restart" [ "$(store_stat fetches)" = 0 ]
check "the web server was not asked" [ "$(gets)" = 0 ]
check "the persistent cache answered" [ "$(blazy status --json "$M" | rootfs_field disk_cache_hits)" -ge 1 ]
check "no failed reads" no_errors
check "blazy umount" blazy umount "$M"
rm -rf "$D/cache-http"
kill "$web_pid"
wait "$web_pid" 2>/dev/null
web_pid=""

# ---- 3. through the example external fetcher, an empty cache ----
check "blazy mount --store exec:blazy-fetch-dir (an empty cache)" \
	mount_remote "exec:blazy-fetch-dir $WEB" "$D/cache-exec" $prefetch_all || finish
rootfs_workload
rootfs_same "$stored" "through the example fetcher"
echo "through the fetcher: $(store_stat fetches) chunks fetched, $(store_stat bytes) bytes"
check "the chunks came from the fetcher" [ "$(store_stat fetches)" -ge 1 ]
check "no failed reads" no_errors
check "blazy umount" blazy umount "$M"
check "nothing left mounted" sh -c "! grep -q ' $M ' /proc/mounts"
finish
