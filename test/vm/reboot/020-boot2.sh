#!/bin/sh
# Reboot test, second boot (a fresh kernel, nothing in memory): blazy mount with the same
# arguments brings back the same filesystem: seed files, written files and clones identical;
# the backing holds only the written data (clones cost ~0). Then randops resumes on its second
# mount: every file as its model says, and more operations (randops_boot, common.inc). Last,
# the first mount again with the state directory removed (a fresh root).
set -u
. "$(dirname "$0")/ublk-lib.inc"
. "$(dirname "$0")/common.inc"
ublk_setup
trap reboot_cleanup EXIT
mount_disk
check "the state survived the reboot" [ -n "$(ls "$BLAZY_STATE_DIR" 2>/dev/null)" ]
check "blazy mount after the reboot" blazy mount -q "$D/seed.img" "$M" --rw "$D/rw.img"
check "written file identical" cmp "$D/expect/written" "$M/written"
check "overwritten seed file" [ "$(cat "$M/etc/motd")" = changed ]
check "renamed seed file identical" cmp "$D/src/etc/data" "$M/etc/data-renamed"
check "the old name is gone" [ ! -e "$M/etc/data" ]
for n in 1 16 31; do check "clone c$n identical" cmp "$D/in/c$n" "$M/c$n"; done
used=$(($(du -k "$D/rw.img" | cut -f1) * 1024))
echo "backing allocated: $used bytes for 8 MiB written and 48 MiB cloned"
blazy status "$M"
check "clones cost the backing ~nothing (< 20 MiB allocated for 8 MiB written)" [ "$used" -lt $((20 * 1048576)) ]
check "blazy umount" blazy umount "$M"
randops_boot 2
# A fresh root after the reboot: the state directory is gone; the backing's own metadata says
# it is this seed's sprout.
rm -rf "$BLAZY_STATE_DIR"
check "blazy mount without the state directory" blazy mount -q "$D/seed.img" "$M" --rw "$D/rw.img"
check "written file identical (state lost)" cmp "$D/expect/written" "$M/written"
check "clone c16 identical (state lost)" cmp "$D/in/c16" "$M/c16"
check "blazy umount (state lost)" blazy umount "$M"
finish
