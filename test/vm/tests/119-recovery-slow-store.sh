#!/bin/sh
# Recovery while store fetches are in flight (docs/recovery.md): a blazy mount whose store
# is slow (--inject delay=1s on every fetch, an empty persistent cache) and two readers of
# its lazy files, none cached yet; the server is killed with SIGKILL again and again, each
# time while fetches wait: no I/O error, no wrong byte, no process in D state, and nothing
# left after `blazy umount`.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
W=/tmp/119
M=/mnt/s
blazy_mount_setup "$W" "$M"
mkdir -p "$W/src"
KILLS=${BLAZY_RECOVERY_KILLS_SLOW:-8}
i=0
while [ "$i" -lt 8 ]; do
	dd if=/dev/urandom of="$W/src/f$i" bs=1M count=4 2>/dev/null
	i=$((i + 1))
done
check "mkseed --lazy" blazy mkseed -q --lazy --rootdir "$W/src" "$W/seed.img"
# The chunks come from another directory, through the fetch engine (the seed's own store
# is left empty), each fetch delayed by 1 s.
mv "$W/seed.img.store" "$W/remote"
mkdir "$W/seed.img.store"
check "blazy mount (slow store)" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img" \
	--rw-size 256M --store "$W/remote" --inject delay=1s --cache-dir "$W/cache"
mount_dev

# reader FILES...: compares each with the mount's; the first difference or error fails it
reader() {
	for _f in "$@"; do
		cmp "$W/src/$_f" "$M/$_f" || return 1
	done
}
t0=$(now_cs)
reader f0 f1 f2 f3 f4 f5 f6 f7 >"$W/r1" 2>&1 &
r1=$!
reader f7 f6 f5 f4 f3 f2 f1 f0 >"$W/r2" 2>&1 &
r2=$!

# fetches in flight (the readers still reading) when a kill comes: it is mid-fetch
mid=0
reading() { kill -0 "$r1" 2>/dev/null && kill -0 "$r2" 2>/dev/null && mid=$((mid + 1)); }
# 0.3 to 1.0 s into the new server's fetches
kill_loop "$n" "$KILLS" 3 8 reading
check "a new server took the device over after each of the $KILLS kills ($ok)" [ "$ok" = "$KILLS" ]
check "the readers were still waiting on fetches at every kill ($mid)" [ "$mid" = "$KILLS" ]
wait "$r1"
rc1=$?
wait "$r2"
rc2=$?
t1=$(now_cs)
cat "$W/r1" "$W/r2"
echo "info: the readers took $(((t1 - t0) / 100)) s for 2 x 32 MiB"
check "reader 1: no I/O error, no wrong byte" [ "$rc1" = 0 ]
check "reader 2: no I/O error, no wrong byte" [ "$rc2" = 0 ]
check "no process in D state" sh -c "! grep -l '^[^)]*) D' /proc/[0-9]*/stat 2>/dev/null | grep -q ."
blazy status "$M" | grep -Ei "fetch|restart|state" | head -8
check "blazy umount" blazy umount "$M"
check "nothing left" wait_until 10 blazy_mount_gone
finish
