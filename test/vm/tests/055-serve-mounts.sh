#!/bin/sh
# blazy serve keeps only the mounts it needs in its private mount namespace: a filesystem
# mounted before the server started and unmounted afterwards is really gone (its btrfs
# instance ends, its loop device can be detached), while the server keeps serving from a
# seed, map and store on a mount of their own, including bytes mapped after the pruning.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

W=/tmp/055
D=/mnt/055-data O=/mnt/055-other
loop=""
# shellcheck disable=SC2317  # (runs from the trap)
cleanup_055() {
	_rc=$?
	grep -q " $O " /proc/mounts && umount "$O"
	[ -z "$loop" ] || losetup -d "$loop" 2>/dev/null
	(exit "$_rc")
	ublk_cleanup
}
trap cleanup_055 EXIT
rm -rf "$W"
mkdir -p "$W/src" "$D" "$O"
echo hello >"$W/src/hello"

# The seed, its map and its store on a tmpfs of their own.
grep -q " $D " /proc/mounts || mount -t tmpfs -o size=64m tmpfs "$D" || fail "mount tmpfs on $D"
check "mkseed on $D" blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$D/seed.img"
dd if=/dev/urandom of="$W/m1" bs=4096 count=300 2>/dev/null
d1=$(blazy map --json "$D/seed.img" "$W/m1" | sed 's/.*"device_offset":\([0-9]*\).*/\1/')
check "map m1 before serving" [ -n "$d1" ]

# Another filesystem, mounted before the server starts: a second seed (a btrfs image) on a
# read-only loop device (the image is extended to the device size it records).
check "mkseed other" blazy mkseed -q --virtual-size 1G --rootdir "$W/src" "$W/other.img"
osize=$(blazy inspect --json "$W/other.img" | sed 's/.*"device_size":\([0-9]*\).*/\1/')
truncate -s "$osize" "$W/other.img" || fail "truncate $W/other.img to $osize"
loop=$(losetup -f) && losetup -r "$loop" "$W/other.img" || fail "losetup $W/other.img"
before=$(ls /sys/fs/btrfs | grep -v features | sort)
mount -t btrfs -o ro "$loop" "$O" || fail "mount $loop on $O"
fsid=$(ls /sys/fs/btrfs | grep -v features | sort | grep -vxF "$before" | head -n 1)
check "the other filesystem has a btrfs instance ($fsid)" [ -n "$fsid" ] && [ -d "/sys/fs/btrfs/$fsid" ]

serve_bg --log "$W/serve.log" "$D/seed.img"
check "blazy serve prints the device" [ -n "$dev" ]
[ -n "$dev" ] || finish
pid=$(list_pid "$(dev_id "$dev")")
cat "$W/serve.log"
check "the log says how many mounts were left out" grep -q "[1-9][0-9]* mounts\{0,1\} not needed left out of its mount namespace" "$W/serve.log"
check "the server's namespace has no $O" sh -c "! grep -q ' $O ' /proc/$pid/mountinfo"
check "the server's namespace still has $D" grep -q " $D " "/proc/$pid/mountinfo"
check "the server's namespace has no /dev/shm" sh -c "! grep -q ' /dev/shm ' /proc/$pid/mountinfo"

# Unmounting the other filesystem here ends it: the server does not hold it.
umount "$O" || fail "umount $O"
check "the other btrfs instance is gone once unmounted" wait_until 5 sh -c "! [ -d /sys/fs/btrfs/$fsid ]"
losetup -d "$loop" || fail "losetup -d $loop"
check "its loop device is free" wait_until 5 sh -c "! losetup $loop >/dev/null 2>&1 || [ -z \"\$(cat /sys/block/${loop#/dev/}/loop/backing_file 2>/dev/null)\" ]"
loop=""

# The server still reads the seed, the map and the store, also what is mapped from now on.
dd if="$dev" of="$W/r1" bs=4096 iflag=skip_bytes skip="$d1" count=300 2>/dev/null
check "m1 reads back identical (store on $D)" cmp "$W/r1" "$W/m1"
dd if=/dev/urandom of="$W/m2" bs=4096 count=100 2>/dev/null
d2=$(blazy map --json "$dev" "$W/m2" | sed 's/.*"device_offset":\([0-9]*\).*/\1/')
check "map m2 through the running server" [ -n "$d2" ]
dd if="$dev" of="$W/r2" bs=4096 iflag=skip_bytes skip="${d2:-0}" count=100 2>/dev/null
check "m2 reads back identical" cmp "$W/r2" "$W/m2"
dd if="$dev" of="$W/sb" bs=4096 skip=16 count=1 2>/dev/null
dd if="$D/seed.img" of="$W/sb0" bs=4096 skip=16 count=1 2>/dev/null
check "the superblock reads as in the image" cmp "$W/sb" "$W/sb0"

check "blazy stop" blazy stop "$dev"
check "the device is gone" wait_until 10 dev_gone "$(dev_id "$dev")"
check "the server exited" wait_until 10 sh -c "! pid_alive $pid"
umount "$D" || fail "umount $D"
finish
