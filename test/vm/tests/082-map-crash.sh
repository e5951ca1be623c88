#!/bin/sh
# A durable map across crashes, under a running server: `blazy map --clone` ended at each crash
# point (BLAZY_CRASH_AT, util/crash.h) and by kill -9 at varied moments while the mount is
# served. A crashed clone leaves no file or the whole file; the next map --clone works and the
# running server reads it right (past a torn batch the next writer truncated and overwrote);
# after umount + mount a new server reads every file right; nothing is left behind.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
blazy_mount_setup /tmp/082 /mnt/x
mkdir -p "$W/src" "$W/in"
echo base >"$W/src/base"
check "mkseed" blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
check "blazy mount" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 256M
mkdir -p "$M/c"

i=0
for p in map-stored map-torn map-written map-synced clone-cloned clone-synced clone-linked; do
	head -c $((3 * 1048576 + i * 4097)) /dev/urandom >"$W/in/x$i"
	BLAZY_CRASH_AT=$p blazy map --clone "$M/c/x$i" "$W/in/x$i" >/dev/null 2>&1; rc=$?
	check "$p: crashed there (exit 86)" [ "$rc" = 86 ]
	if [ -e "$M/c/x$i" ]; then
		check "$p: a file only once it is linked" [ "$p" = clone-linked ]
		check "$p: the linked file is whole" cmp "$M/c/x$i" "$W/in/x$i"
	else
		check "$p: no file before the link" [ "$p" != clone-linked ]
	fi
	head -c $((2 * 1048576 + i)) /dev/urandom >"$W/in/y$i"
	check "$p: the next map --clone" blazy map --clone "$M/c/y$i" "$W/in/y$i"
	check "$p: the running server reads it right" cmp "$M/c/y$i" "$W/in/y$i"
	i=$((i + 1))
done

# kill -9 at varied moments of an 8 MiB map --clone.
k=0
for t in 0.1 0.5 0.2 1 0.3 0.05 2 0.4; do
	head -c $((8 * 1048576 + k)) /dev/urandom >"$W/in/k$k"
	blazy map --clone "$M/c/k$k" "$W/in/k$k" >/dev/null 2>&1 &
	pid=$!
	sleep "$t"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if [ -e "$M/c/k$k" ]; then
		echo "kill after $t s: k$k was linked"
		check "kill after $t s: the file is whole" cmp "$M/c/k$k" "$W/in/k$k"
	else
		echo "kill after $t s: no k$k"
	fi
	k=$((k + 1))
done

all_right() {
	for f in "$M"/c/*; do
		cmp "$f" "$W/in/$(basename "$f")" || return 1
	done
}
sync
echo 3 >/proc/sys/vm/drop_caches
check "every file reads back through the running server" all_right
check "blazy umount" blazy umount "$M"
check "blazy mount (a new server)" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img"
check "every file reads back through the new server" all_right
check "blazy umount" blazy umount "$M"
check "nothing left" wait_until 10 blazy_mount_gone
finish
