#!/bin/sh
# The disks are the truth: the state directory removed between two `blazy mount`s (as on a VM
# whose root is not persistent). The second mount recognises its sprout from the backing's
# own device list, and everything written before (plain files and a map --clone) is there;
# a state directory lost with the backing of another seed still refuses it, naming it; umount
# leaves nothing behind.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

blazy_mount_setup /tmp/072 /mnt/x
mkdir -p "$W/src" "$W/src2"
echo hello >"$W/src/hello"
echo other >"$W/src2/other"
dd if=/dev/urandom of="$W/add.bin" bs=4096 count=300 2>/dev/null
dd if=/dev/urandom of="$W/written.bin" bs=4096 count=500 2>/dev/null
check "mkseed" blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
check "mkseed (another seed)" blazy mkseed -q --virtual-size 1T --rootdir "$W/src2" "$W/seed2.img"

check "first mount (sprouts)" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 256M
cp "$W/written.bin" "$M/written.bin"
mkdir "$M/newdir" && echo changed >"$M/hello"
check "map --clone" blazy map --clone "$M/added.bin" "$W/add.bin"
sync
check "umount" blazy umount "$M"
check "the state named the mount" [ -n "$(ls "$W/state")" ]

rm -rf "$W/state"
out=$(blazy mount "$W/seed.img" "$M" --rw "$W/rw.img" 2>&1); rc=$?
echo "$out"
check "second mount without a state directory exits 0" [ "$rc" = 0 ]
check "it mounted the existing sprout (not a new one)" sh -c "echo \"\$1\" | grep -q \"^mounted \"" - "$out"
check "a written file is intact" cmp "$M/written.bin" "$W/written.bin"
check "a changed seed file is intact" [ "$(cat "$M/hello")" = changed ]
check "a new directory is there" [ -d "$M/newdir" ]
check "the cloned file reads its mapped bytes" cmp "$M/added.bin" "$W/add.bin"
check "the state is recreated" [ -n "$(ls "$W/state" 2>/dev/null)" ]
check "umount" blazy umount "$M"
check "nothing left after umount" wait_until 10 blazy_mount_gone

# The backing of another seed, with no state to say so: refused from its metadata alone.
rm -rf "$W/state"
blazy mount "$W/seed2.img" "$M" --rw "$W/rw.img" 2>"$W/err"; rc=$?
cat "$W/err"
check "another seed's backing: exit 1" [ "$rc" = 1 ]
check "another seed's backing: the message says so" grep -q "sprouted from another seed" "$W/err"
check "another seed's backing: nothing left" wait_until 10 blazy_mount_gone
check "the backing still mounts with its own seed" sh -c \
	"blazy mount -q $W/seed.img $M --rw $W/rw.img && cmp $M/written.bin $W/written.bin && blazy umount $M"
check "nothing left at the end" wait_until 10 blazy_mount_gone
finish
