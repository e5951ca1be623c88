#!/bin/sh
# Recovery under a read and write load (docs/recovery.md): the server of a blazy mount (a
# --lazy seed with local files too, sprouted on rw.img) is killed with SIGKILL again and
# again while two readers compare its lazy and local files and a writer creates files on
# the writable layer (known bytes, fsynced): no read or write error, no wrong byte, the
# filesystem stays mounted; after `blazy umount` and `blazy mount` of the same seed and
# backing every written file holds what was written. Nothing is left behind.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
KILLS=${BLAZY_RECOVERY_KILLS:-20}

W=/tmp/118
M=/mnt/w
blazy_mount_setup "$W" "$M"
mkdir -p "$W/src/lazy" "$W/src/local" "$W/ref"
i=0
while [ "$i" -lt 6 ]; do
	dd if=/dev/urandom of="$W/src/lazy/l$i" bs=64k count=$((16 + i * 8)) 2>/dev/null
	dd if=/dev/urandom of="$W/src/local/s$i" bs=1k count=$((3 + i)) 2>/dev/null
	dd if=/dev/urandom of="$W/ref/w$i" bs=4k count=$((8 + i * 16)) 2>/dev/null
	i=$((i + 1))
done
check "mkseed --lazy" blazy mkseed -q --lazy --rootdir "$W/src" "$W/seed.img"
check "blazy mount" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 256M
mount_dev
mkdir -p "$M/out"
rm -f "$W/stop"

# reader DIR: compares every file of DIR with the mount's, without the page cache, until
# $W/stop exists; the number of rounds on success, the difference on failure.
reader() {
	_r=0
	while [ ! -e "$W/stop" ]; do
		echo 3 >/proc/sys/vm/drop_caches
		for _f in "$W/src/$1"/*; do
			cmp "$_f" "$M/$1/${_f##*/}" || return 1
		done
		_r=$((_r + 1))
	done
	echo "rounds $_r"
}
# writer: writes file N from ref/w(N mod 6), fsynced, until $W/stop exists; its count.
writer() {
	_w=0
	while [ ! -e "$W/stop" ]; do
		dd if="$W/ref/w$((_w % 6))" of="$M/out/f$_w" bs=16k conv=fsync 2>/dev/null || return 1
		cmp "$W/ref/w$((_w % 6))" "$M/out/f$_w" || return 1
		_w=$((_w + 1))
	done
	echo "$_w" >"$W/written"
	echo "files $_w"
}
reader lazy >"$W/r1" 2>&1 &
r1=$!
reader local >"$W/r2" 2>&1 &
r2=$!
writer >"$W/w" 2>&1 &
w=$!
sleep 1

kill_loop "$n" "$KILLS" 6 16
check "a new server took the device over after each of the $KILLS kills ($ok)" [ "$ok" = "$KILLS" ]
touch "$W/stop"
wait "$r1"
rc1=$?
wait "$r2"
rc2=$?
wait "$w"
rcw=$?
cat "$W/r1" "$W/r2" "$W/w"
check "reader of lazy files: no error, no wrong byte" [ "$rc1" = 0 ]
check "reader of local files: no error, no wrong byte" [ "$rc2" = 0 ]
check "writer: no error, every file read back right" [ "$rcw" = 0 ]
check "the filesystem is still mounted" grep -q " $M " /proc/mounts
nw=$(cat "$W/written" 2>/dev/null || echo 0)
check "the writer wrote files during the kills ($nw)" [ "$nw" -gt 0 ]
check "blazy umount" blazy umount "$M"
check "blazy mount again (same seed and backing)" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img"
bad=0
i=0
while [ "$i" -lt "$nw" ]; do
	cmp -s "$W/ref/w$((i % 6))" "$M/out/f$i" || { echo "differs: out/f$i"; bad=$((bad + 1)); }
	i=$((i + 1))
done
check "after umount and mount every written file is intact ($nw files, $bad bad)" [ "$bad" = 0 ]
check "blazy umount" blazy umount "$M"
check "nothing left" wait_until 10 blazy_mount_gone
finish
