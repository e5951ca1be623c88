#!/bin/sh
# The null backend as a ublk device: it appears with the right size and attributes, reads
# zeros, refuses writes, shows in `blazy list`, and `blazy stop` removes it completely.
# Then the same with --foreground under SIGTERM.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

size=$((1024 * 1024 * 1024))
serve_bg --backend "null,size=$size" --log /tmp/010-serve.log
rc=$?
check "blazy serve (daemon) exits 0" [ "$rc" = 0 ]
case $dev in
/dev/ublkb[0-9]*) echo "ok: device $dev" ;;
*)
	fail "blazy serve printed '$dev', not /dev/ublkbN"
	cat /tmp/010-serve.log
	finish
	;;
esac
n=$(dev_id "$dev")
cat /tmp/010-serve.log
check "$dev is a block device" wait_until 5 test -b "$dev"
check "size in /sys/block is $((size / 512)) sectors" [ "$(cat /sys/block/ublkb$n/size)" = $((size / 512)) ]
check "blockdev --getsize64 is $size" [ "$(blockdev --getsize64 "$dev")" = "$size" ]
check "the device is read-only" [ "$(cat /sys/block/ublkb$n/ro)" = 1 ]
check "logical block size 4096" [ "$(cat /sys/block/ublkb$n/queue/logical_block_size)" = 4096 ]
check "physical block size 4096" [ "$(cat /sys/block/ublkb$n/queue/physical_block_size)" = 4096 ]

out=$(blazy list)
echo "$out"
check "blazy list shows $dev live" sh -c "echo '$out' | grep -Eq '^$n +$dev +1 GiB +[0-9]+ +64 +live +[0-9]+ alive$'"
json=$(blazy list --json)
echo "$json"
check "blazy list --json shows $dev" sh -c "echo '$json' | grep -q '\"device\":\"$dev\".*\"state\":\"live\".*\"server_alive\":true'"
pid=$(list_pid "$n")
check "the server pid $pid is alive" pid_alive "$pid"

# 100 MiB of zeros (and a throughput figure)
start=$(date +%s)
check "100 MiB read as zeros" cmp -n $((100 * 1024 * 1024)) "$dev" /dev/zero
end=$(date +%s)
echo "info: cmp of 100 MiB took $((end - start)) s"
t0=$(now_cs)
dd if="$dev" of=/dev/null bs=1M count=256 iflag=direct 2>/dev/null
t1=$(now_cs)
echo "info: dd bs=1M iflag=direct: $(rate $((256 * 1048576)) "$t0" "$t1")"
dd if="$dev" of=/dev/null bs=4k count=16384 iflag=direct 2>/dev/null
t2=$(now_cs)
echo "info: dd bs=4k iflag=direct: $(rate $((64 * 1048576)) "$t1" "$t2")"
dd if="$dev" of=/dev/null bs=1M skip=512 count=256 2>/dev/null
t3=$(now_cs)
echo "info: dd bs=1M buffered: $(rate $((256 * 1048576)) "$t2" "$t3")"
check "the last 4 KiB read as zeros" sh -c "dd if=$dev bs=4096 skip=$((size / 4096 - 1)) count=1 2>/dev/null | cmp -n 4096 - /dev/zero"
check "reading past the end gives nothing" [ "$(dd if="$dev" bs=4096 skip=$((size / 4096)) count=1 2>/dev/null | wc -c)" = 0 ]

# writes fail: the disk is read-only, and even made writable the server refuses them
check "a write to $dev fails" sh -c "! dd if=/dev/zero of=$dev bs=4096 count=1 conv=notrunc 2>/dev/null"
blockdev --setrw "$dev" 2>/dev/null
if [ "$(blockdev --getro "$dev")" = 0 ]; then
	check "a direct write to a device set rw fails (EROFS from the server)" \
		sh -c "! dd if=/dev/zero of=$dev bs=4096 count=1 oflag=direct conv=notrunc 2>/dev/null"
	blockdev --setro "$dev"
fi
check "still zeros after the refused writes" sh -c "dd if=$dev bs=4096 count=1 iflag=direct 2>/dev/null | cmp -n 4096 - /dev/zero"

kill -USR1 "$pid"
sleep 0.5
out=$(blazy stop "$dev")
rc=$?
echo "$out"
check "blazy stop exits 0" [ "$rc" = 0 ]
check "blazy stop says the server took it down" sh -c "echo '$out' | grep -q 'its server (pid $pid) took it down'"
check "$dev is gone" dev_gone "$n"
check "the server has exited" wait_until 5 sh -c "! [ -d /proc/$pid ] || grep -q '^[^)]*) Z' /proc/$pid/stat 2>/dev/null"
check "blazy list no longer shows it" sh -c "! blazy list | grep -q ublkb$n"
cat /tmp/010-serve.log
check "the log has the queue counters" grep -q 'queue 0: [0-9]* reads' /tmp/010-serve.log
check "a stopped device: blazy stop fails" sh -c "! blazy stop $n 2>/dev/null"

# the legacy opcodes (what kernels before 6.4 accept; this one accepts both)
BLAZY_UBLK_OPCODES=legacy serve_bg --backend null,size=64M --log /tmp/010-legacy.log
cat /tmp/010-legacy.log
check "legacy opcodes: serve" grep -q "ready: .* legacy opcodes" /tmp/010-legacy.log
check "legacy opcodes: reads zeros" cmp -n 4194304 "$dev" /dev/zero
check "legacy opcodes: blazy stop" sh -c "BLAZY_UBLK_OPCODES=legacy blazy stop $dev >/dev/null"
check "legacy opcodes: gone" dev_gone "$(dev_id "$dev")"

# --foreground: prints the device once ready, SIGTERM stops it and exits 0
blazy serve --backend null,size=64M --foreground >/tmp/010-fg.out 2>/tmp/010-fg.err &
fg=$!
ublk_pids="$ublk_pids $fg"
check "foreground server printed its device" wait_until 60 grep -q '^/dev/ublkb' /tmp/010-fg.out
dev2=$(head -n 1 /tmp/010-fg.out)
ublk_devs="$ublk_devs $dev2"
n2=$(dev_id "$dev2")
check "$dev2 is a block device" wait_until 5 test -b "$dev2"
check "64 MiB" [ "$(blockdev --getsize64 "$dev2")" = $((64 * 1024 * 1024)) ]
check "reads zeros" cmp -n 1048576 "$dev2" /dev/zero
kill -TERM "$fg"
wait "$fg"
rc=$?
cat /tmp/010-fg.err
check "foreground server exits 0 on SIGTERM" [ "$rc" = 0 ]
check "$dev2 is gone" dev_gone "$n2"

# SIGINT too
blazy serve --backend null,size=64M --foreground >/tmp/010-fg2.out 2>/dev/null &
fg=$!
ublk_pids="$ublk_pids $fg"
wait_until 60 grep -q '^/dev/ublkb' /tmp/010-fg2.out
dev3=$(head -n 1 /tmp/010-fg2.out)
ublk_devs="$ublk_devs $dev3"
kill -INT "$fg"
wait "$fg"
rc=$?
check "foreground server exits 0 on SIGINT" [ "$rc" = 0 ]
check "$dev3 is gone" dev_gone "$(dev_id "$dev3")"
finish
