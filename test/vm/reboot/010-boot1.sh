#!/bin/sh
# Reboot test, first boot: make a seed on the disk, blazy mount it, write files and clone
# mapped ones in, remember what they must contain, unmount cleanly; then random operations on a
# second mount (randops_boot, common.inc).
set -u
. "$(dirname "$0")/ublk-lib.inc"
. "$(dirname "$0")/common.inc"
ublk_setup
trap reboot_cleanup EXIT
mount_disk
mkdir -p "$D/src/etc" "$D/expect" "$D/in"
dd if=/dev/urandom of="$D/src/etc/data" bs=1000 count=2000 2>/dev/null
echo "seed file" >"$D/src/etc/motd"
check "mkseed on the disk" blazy mkseed -q --virtual-size 1T --rootdir "$D/src" "$D/seed.img"
check "blazy mount (first: sprout)" blazy mount -q "$D/seed.img" "$M" --rw "$D/rw.img" --rw-size 512M
# Written data: 8 MiB new, an overwrite, a rename.
dd if=/dev/urandom of="$D/expect/written" bs=1048576 count=8 2>/dev/null
cp "$D/expect/written" "$M/written"
echo "changed" >"$M/etc/motd"
mv "$M/etc/data" "$M/etc/data-renamed"
# Cloned data: 3 files, 48 MiB in all, which must cost the backing ~nothing.
for n in 1 16 31; do dd if=/dev/urandom of="$D/in/c$n" bs=1048576 count=$n 2>/dev/null; done
check "map --clone-into" blazy map --clone-into "$M" "$D/in/c1" "$D/in/c16" "$D/in/c31"
sync
check "blazy umount" blazy umount "$M"
randops_boot 1
echo "backing after boot 1: $(du -k "$D/rw.img" | cut -f1) KiB allocated"
finish
