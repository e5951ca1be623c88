#!/bin/sh
# blazy serve --store exec:CMD (docs/fetchers.md) with the example external fetcher
# contrib/fetchers/blazy-fetch-dir and with test/fetchers/exits-mid-answer, which dies half-way
# through every second answer (both passed with --extra): a --lazy seed whose store only the
# fetcher can reach, mounted read-only from the served device, reads identical file by file
# with an empty persistent cache, and not one read fails while the fetcher keeps dying (the
# log shows it died); a restarted server whose fetcher has nothing reads everything from the
# persistent cache; the cache warmed by `blazy store prefetch` (no ublk) serves too.
set -u
. "$(dirname "$0")/ublk-lib.inc"
for t in blazy-fetch-dir exits-mid-answer; do
	command -v $t >/dev/null 2>&1 || skip "requires $t (test/vm/run.sh --extra contrib/fetchers/blazy-fetch-dir --extra test/fetchers/exits-mid-answer)"
done
ublk_setup

W=/tmp/098
M=/mnt/x098
cleanup_mount() {
	rc=$?
	if grep -q " $M " /proc/mounts; then umount "$M"; fi
	(exit "$rc") # ublk_cleanup exits with the status it finds in $?
	ublk_cleanup
}
trap cleanup_mount EXIT
rm -rf "$W"
mkdir -p "$W/src/sub" "$W/empty" "$M"
head -c 3145728 /dev/urandom >"$W/src/a.bin"
head -c 1000000 /dev/urandom >"$W/src/sub/b.bin"
head -c 300000 /dev/urandom >"$W/src/c.bin"
cp "$W/src/c.bin" "$W/src/sub/c-copy.bin"
echo small >"$W/src/small"
# The store is not SEED.store (which the server reads too): only the fetcher reaches it.
check "mkseed --lazy" blazy mkseed -q --lazy --store "$W/remote.store" --rootdir "$W/src" "$W/seed.img"

# serve_mount LOG STORE-SPEC CACHE: serve with that store and cache, mount read-only on $M
serve_mount() {
	serve_bg --log "$1" --store "$2" --cache-dir "$3" "$W/seed.img" || return 1
	mount -t btrfs -o ro "$dev" "$M"
}
unmount_stop() {
	umount "$M"
	blazy stop "$dev" >/dev/null
}
# same: every file of the source reads identical under $M
same() {
	for f in a.bin sub/b.bin c.bin sub/c-copy.bin small; do
		cmp "$W/src/$f" "$M/$f" || return 1
	done
}
chunks_in() { find "$1" -type f -name '????????????????????????????????????????????????????????????????' | wc -l; }
nchunks=$(chunks_in "$W/remote.store")
echo "$nchunks chunks in the store"

# 1. the example fetcher, an empty cache
check "serve with exec:blazy-fetch-dir" serve_mount "$W/s1.log" "exec:blazy-fetch-dir $W/remote.store" "$W/cache"
check "every file identical through the example fetcher" same
check "the fetched chunks are in the persistent cache" [ "$(chunks_in "$W/cache")" = "$nchunks" ]
st=$(blazy status --json "$dev")
echo "$st" | head -c 600; echo
unmount_stop

# 2. a fetcher that dies in the middle of every second answer: no read fails
check "serve with exec:exits-mid-answer" serve_mount "$W/s2.log" "exec:exits-mid-answer $W/remote.store 2" "$W/cache2"
check "every file identical although the fetcher keeps dying" same
check "the fetcher did die mid-answer (its stderr is in the server's log)" grep -q "exiting in the middle of answer" "$W/s2.log"
check "no fetch failed" sh -c "! grep -q 'cannot be fetched' '$W/s2.log'"
unmount_stop

# 3. restarted with the first cache and a fetcher that has nothing: all from the cache
check "serve with an empty fetcher and the warm cache" serve_mount "$W/s3.log" "exec:blazy-fetch-dir $W/empty" "$W/cache"
check "every file identical from the persistent cache" same
unmount_stop

# 4. a cache warmed without ublk by blazy store prefetch, then served
printf '%s\n' a.bin sub/b.bin c.bin >"$W/list"
check "blazy store prefetch" blazy store prefetch "$W/seed.img" --list "$W/list" \
	--store "exec:blazy-fetch-dir $W/remote.store" --cache-dir "$W/cache4"
check "prefetch cached every chunk" [ "$(chunks_in "$W/cache4")" = "$nchunks" ]
check "serve from the prefetched cache alone" serve_mount "$W/s4.log" "exec:blazy-fetch-dir $W/empty" "$W/cache4"
check "every file identical from the prefetched cache" same
unmount_stop
finish
