#!/bin/sh
# Recovery of a blazy mount (docs/recovery.md): `blazy upgrade MOUNTPOINT` under a reading
# load (no error, the status shows the new server); then supervisor and server both killed
# (the server stopped first, so that it cannot start a new supervisor):
# a reader waits, `blazy mount` of the same seed and mount point adopts the quiesced device
# and the reader completes with the right bytes; `blazy serve --recover` does the same for a
# bare device. Nothing is left behind.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

W=/tmp/114
M=/mnt/x
export BLAZY_STATE_DIR=$W/state
trap blazy_mount_cleanup EXIT
command -v randcheck >/dev/null || skip "randcheck (test/vm/tools) not in the VM"

rm -rf "$W"
mkdir -p "$W/src" "$M"
dd if=/dev/urandom of="$W/src/data.bin" bs=1M count=24 2>/dev/null
check "mkseed" blazy mkseed -q --rootdir "$W/src" "$W/seed.img"
check "blazy mount" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 256M
mount_dev

# reader LOOPS: reads data.bin without the page cache, compares it, LOOPS times
reader() {
	_i=0
	while [ "$_i" -lt "$1" ]; do
		echo 3 >/proc/sys/vm/drop_caches
		cmp "$W/src/data.bin" "$M/data.bin" || return 1
		_i=$((_i + 1))
	done
}

# Upgrade under load, three times, to a copy of this binary.
cp "$(command -v blazy)" "$W/blazy-new"
reader 1000000 >"$W/reader1.out" 2>&1 &
r=$!
i=0
while [ "$i" -lt 3 ]; do
	i=$((i + 1))
	upgrade_check "$M" "$W/blazy-new" "upgrade $i"
	sleep 1
done
st=$(blazy status --json "$M")
check "blazy status shows the new server's pid, live" \
	sh -c "echo '$st' | grep -q '\"pid\":$new,' && echo '$st' | grep -q '\"state\":\"live\"'"
kill "$r"
wait "$r"
check "the reader read right throughout the upgrades (no output)" [ ! -s "$W/reader1.out" ]
cat "$W/reader1.out"

# Supervisor and server killed at once (the server stopped first, so that it cannot start
# a new supervisor: 116-recovery-orphan.sh tests that): a reader waits until `blazy mount`
# adopts the device.
s=$(sup)
p=$(list_pid "$n")
kill -STOP "$p"
kill -KILL "$s"
wait_until 5 zombie_or_gone "$s"
kill -KILL "$p"
wait_until 5 zombie_or_gone "$p"
echo 3 >/proc/sys/vm/drop_caches
t0=$(now_cs)
cmp "$W/src/data.bin" "$M/data.bin" >"$W/reader2.out" 2>&1 &
r=$!
sleep 2
check "the reader waits for a server" sh -c "kill -0 $r"
out=$(blazy list)
echo "$out"
check "blazy list shows the device quiesced" sh -c "echo '$out' | grep -Eq '^$n .* quiesced '"
out=$(blazy mount "$W/seed.img" "$M" --rw "$W/rw.img")
rc=$?
echo "$out"
check "blazy mount again adopts the device" sh -c "[ $rc = 0 ] && echo '$out' | grep -q adopted"
wait "$r"
rc=$?
t1=$(now_cs)
cat "$W/reader2.out"
check "the waiting reader completed with the right bytes" [ "$rc" = 0 ]
echo "info: the reader waited $(((t1 - t0) / 10))00 ms (2 s of it before the mount)"
check "the adopted device has a supervisor" sh -c "kill -0 \$(sed -n 's/^supervisor=//p' /run/blazy/ublkb$n.super)"
check "blazy umount" blazy umount "$M"
check "nothing left" wait_until 10 blazy_mount_gone

# A bare device: serve --recover adopts it.
serve_bg --backend "pattern,size=64M" --log "$W/serve.log"
n=$(dev_id "$dev")
wait_until 5 test -b "$dev"
s=$(sup)
p=$(list_pid "$n")
kill -STOP "$p"
kill -KILL "$s" "$p"
wait_until 5 zombie_or_gone "$p"
timeout 60 patcheck --direct "$dev" 4096 1M >"$W/pat.out" 2>&1 &
r=$!
sleep 1
blazy serve --recover "$n" --backend "pattern,size=32M" --log "$W/serve.log" 2>"$W/err"
rc=$?
cat "$W/err"
check "serve --recover with another size is refused" \
	sh -c "[ $rc = 1 ] && grep -q 'another size' $W/err"
out=$(blazy serve --recover "$dev" --backend "pattern,size=64M" --log "$W/serve.log")
check "serve --recover adopts it" [ "$out" = "$dev" ]
wait "$r"
rc=$?
cat "$W/pat.out"
check "the waiting reader completed with the right bytes" [ "$rc" = 0 ]
timeout 30 blazy stop "$n"
check "$dev is gone" wait_until 10 dev_gone "$n"
finish
