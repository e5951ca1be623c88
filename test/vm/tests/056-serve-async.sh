#!/bin/sh
# An asynchronous backend over ublk: the async filter (3 worker threads complete requests
# out of order, lib/backend/async.c) over the pattern backend, on 2 queues x depth 64,
# verified by concurrent readers. A read the backend never completes (stall=) holds only
# its own tag: the rest of the device is served meanwhile; at `blazy stop` it is failed
# with EIO after the STOP grace (5 s), and the device and the server go away.
set -u
. "$(dirname "$0")/ublk-lib.inc"
command -v patcheck >/dev/null ||
	skip "patcheck is not in the VM (build it with test/vm/tools/build.sh, pass --extra PATH)"
ublk_setup

M=$((1024 * 1024))
S=$((256 * M))
stall=$((200 * M))
serve_bg --backend "pattern,size=$S,async=3,stall=$stall" --queues 2 --depth 64 \
	--log /tmp/056-serve.log
check "blazy serve pattern,async=3 exits 0" [ -n "$dev" ]
[ -n "$dev" ] || finish
n=$(dev_id "$dev")
check "$dev is a block device" wait_until 5 test -b "$dev"
check "size 256 MiB" [ "$(blockdev --getsize64 "$dev")" = "$S" ]

# [0, 200 MiB) in concurrent pieces, direct and buffered, odd sizes, on both CPUs; the
# buffered reader ends 8 MiB short of the stalled block, out of readahead's reach
pin 0 patcheck --direct --bs 4K "$dev" 0 $((64 * M)) >/tmp/056-r1 2>&1 &
p1=$!
pin 1 patcheck --direct --bs 512K "$dev" $((64 * M)) $((72 * M)) >/tmp/056-r2 2>&1 &
p2=$!
pin 0 patcheck --bs 999999 "$dev" $((128 * M)) $((64 * M)) >/tmp/056-r3 2>&1 &
p3=$!
pin 1 patcheck --bs 4097 "$dev" 12345 $((8 * M)) >/tmp/056-r4 2>&1 &
p4=$!
wait_readers /tmp/056-r $p1 $p2 $p3 $p4

# a read the backend holds forever
dd if="$dev" of=/tmp/056-stalled bs=4096 skip=$((stall / 4096)) count=1 iflag=direct \
	2>/tmp/056-dd.err &
ddpid=$!
sleep 2
check "the stalled read still waits" pid_alive "$ddpid"
check "other reads are served meanwhile" patcheck --direct --bs 64K "$dev" $((16 * M)) $((16 * M))
check "and near the stalled block" patcheck --direct --bs 4K "$dev" $((stall + 8192)) $((M))

t0=$(now_cs)
check "blazy stop ends" timeout 60 blazy stop "$dev"
t1=$(now_cs)
wait "$ddpid"
ddrc=$?
cat /tmp/056-dd.err
echo "info: blazy stop took $(((t1 - t0) / 100)).$(((t1 - t0) % 100 / 10)) s; dd exit $ddrc"
check "the stalled read failed (EIO), not hung" [ "$ddrc" != 0 ]
check "stop took the grace, not the control timeout (< 30 s)" [ $((t1 - t0)) -lt 3000 ]
check "the device is gone" dev_gone "$n"
grep 'queue' /tmp/056-serve.log | tail -n 2
finish
