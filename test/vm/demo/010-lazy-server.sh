#!/bin/sh
# The demo's VM part (scripts/demo): a seed served by blazy's ublk server; a file mapped into
# its virtual area at run time is readable at once through the device; counters; clean stop.
set -eu
W=/tmp/demo
mkdir -p "$W/src/etc"
echo "hello from the seed" >"$W/src/etc/motd"
step() { echo; echo "== $*"; }
run() { echo "\$ $*"; "$@"; }

step "a seed with a 1 PiB virtual area"
run blazy mkseed --virtual-size 1P --rootdir "$W/src" "$W/seed.img"
step "serve it: a read-only ublk device of the seed's full size"
dev=$(blazy serve --log "$W/serve.log" "$W/seed.img")
echo "$dev: $(blockdev --getsize64 "$dev") bytes"
trap 'blazy stop "$dev" >/dev/null 2>&1 || true' EXIT
run blazy list
step "map 8 MiB of new bytes at run time (store + journal), read them through the device"
dd if=/dev/urandom of="$W/data" bs=1048576 count=8 2>/dev/null
out=$(blazy map --json "$dev" "$W/data")
echo "$out"
off=$(echo "$out" | sed 's/.*"device_offset":\([0-9]*\).*/\1/')
dd if="$dev" of="$W/back" bs=1048576 iflag=skip_bytes,count_bytes skip="$off" count=8388608 2>/dev/null
cmp "$W/data" "$W/back" && echo "the mapped bytes read back identical through $dev"
step "an unmapped lazy range is an I/O error, never made-up bytes"
if dd if="$dev" of=/dev/null bs=4096 iflag=skip_bytes,direct skip=$((off + 64 * 1048576)) count=1 2>/dev/null; then
	echo "unexpected: the unmapped read succeeded"; exit 1
fi
echo "read at $((off + 64 * 1048576)): Input/output error (as it must be)"
step "the server's counters"
run blazy status "$dev"
step "stop: the device is deleted"
run blazy stop "$dev"
trap - EXIT
[ ! -e "$dev" ] && echo "$dev is gone"

step "blazy mount: serve, check, sprout with a writable file, mount read-write (syscalls only)"
export BLAZY_STATE_DIR="$W/state"
mkdir -p /mnt/demo
trap 'blazy umount /mnt/demo >/dev/null 2>&1 || true' EXIT
run blazy mount "$W/seed.img" /mnt/demo --rw "$W/rw.img" --rw-size 256M
run cat /mnt/demo/etc/motd
echo "written on the sprout" >/mnt/demo/etc/new
step "blazy map --clone: a 32 MiB file appears at once; its bytes are fetched when read"
dd if=/dev/urandom of="$W/big" bs=1048576 count=32 2>/dev/null
run blazy map --clone /mnt/demo/big "$W/big"
ls -l /mnt/demo/big
run blazy status /mnt/demo
cmp "$W/big" /mnt/demo/big && echo "read back identical"
run blazy status /mnt/demo
step "blazy umount: unmount, detach, stop"
run blazy umount /mnt/demo
trap - EXIT
grep -q /mnt/demo /proc/mounts || echo "nothing left mounted"
