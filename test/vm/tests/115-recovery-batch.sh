#!/bin/sh
# Recovery of a device served with the batched I/O commands (UBLK_F_BATCH_IO, 7.0+;
# lib/ublk/batch.c), forced with BLAZY_UBLK_IO=batch: `blazy upgrade` three times, then
# the server killed with SIGKILL five times, while verifying readers (randcheck, 4 KiB and
# 64 KiB) read it at random: no I/O error, no wrong byte, a new server each time. Such a
# device has no UBLK_F_QUIESCE (QUIESCE_DEV would make requests fail until the next server:
# blz_ublk_dev_quiesce in lib/ublk/queue.c), so an upgrade is an exit of the old server.
# Skipped on kernels without BATCH_IO (6.12).
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
command -v randcheck >/dev/null || skip "randcheck (test/vm/tools) not in the VM"
rel=$(uname -r)
[ "${rel%%.*}" -ge 7 ] || skip "kernel $rel has no UBLK_F_BATCH_IO (7.0+)"

W=/tmp/115
rm -rf "$W"
mkdir -p "$W"
log=$W/serve.log
dmesg_at=$(dmesg | wc -l)
export BLAZY_UBLK_IO=batch
serve_bg --backend "pattern,size=256M" --queues 2 --log "$log" --recovery-timeout 30s
unset BLAZY_UBLK_IO
check "blazy serve exits 0" [ -n "$dev" ]
[ -n "$dev" ] || finish
n=$(dev_id "$dev")
wait_until 5 test -b "$dev"
got=$(grep -o '[a-z-]* I/O commands' "$log" | head -n 1)
check "the server uses batched I/O commands (log: '$got')" [ "$got" = "batched I/O commands" ]
line=$(blazy list --json | tr '{' '\n' | grep "\"id\":$n,")
echo "$line"
check "the device has BATCH_IO" sh -c "echo '$line' | grep -q '\"BATCH_IO\"'"
check "the device has no QUIESCE" sh -c "! echo '$line' | grep -q '\"QUIESCE\"'"

rm -f "$W/stop"
randcheck --seconds 600 --stop "$W/stop" --seed 11 "$dev" >"$W/r1" 2>&1 &
r1=$!
randcheck --seconds 600 --stop "$W/stop" --seed 12 --bs 65536 "$dev" >"$W/r2" 2>&1 &
r2=$!
sleep 1

cp "$(command -v blazy)" "$W/blazy-new"
for i in 1 2 3; do
	upgrade_check "$dev" "$W/blazy-new" "upgrade $i"
	sleep 1
done

# a random moment: 0.6 to 2.1 s of serving before each kill
kill_loop "$n" 5 6 16
check "a new server took the device over after each of the 5 kills ($ok)" [ "$ok" = 5 ]
sleep 1
touch "$W/stop"
wait "$r1"
rc1=$?
wait "$r2"
rc2=$?
cat "$W/r1" "$W/r2"
check "reader 1 (4 KiB): no I/O error, no wrong byte" [ "$rc1" = 0 ]
check "reader 2 (64 KiB): no I/O error, no wrong byte" [ "$rc2" = 0 ]
check "the log shows 8 takeovers" sh -c "[ \$(grep -c 'took /dev/ublkb$n over' $log) = 8 ]"
check "no takeover used per-tag commands" sh -c "! grep -q 'per-tag I/O commands' $log"
dmesg | tail -n +$((dmesg_at + 1)) >"$W/dmesg"
check "the kernel logged no I/O error" sh -c "! grep -i 'error.*ublkb$n' $W/dmesg"
live_restarts "$n" 5
stop_all "$n" blazy-new
tail -5 "$log"
finish
