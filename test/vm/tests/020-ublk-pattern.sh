#!/bin/sh
# The pattern backend on 2 queues x depth 64: the whole 1 GiB device is verified by
# concurrent readers (direct and buffered, odd offsets and sizes, on both CPUs so both
# queues serve), with patcheck (test/vm/tools; pass it with --extra). patcheck must be able
# to fail: it is run against a null device and against shifted data, and must reject both.
set -u
. "$(dirname "$0")/ublk-lib.inc"
command -v patcheck >/dev/null ||
	skip "patcheck is not in the VM (build it with test/vm/tools/build.sh, pass --extra PATH)"
ublk_setup

G=$((1024 * 1024 * 1024))
M=$((1024 * 1024))
serve_bg --backend "pattern,size=$G" --queues 2 --depth 64 --log /tmp/020-serve.log
check "blazy serve pattern exits 0" [ -n "$dev" ]
[ -n "$dev" ] || finish
n=$(dev_id "$dev")
check "$dev is a block device" wait_until 5 test -b "$dev"
check "size 1 GiB" [ "$(blockdev --getsize64 "$dev")" = "$G" ]
check "2 queues, depth 64 in blazy list" sh -c "blazy list | grep -Eq '^$n +$dev +1 GiB +2 +64 +live'"
ls -d /sys/block/ublkb$n/mq/* 2>/dev/null | sed 's/^/info: hw queue /'

check "first MiB" patcheck "$dev" 0 1M
check "last MiB" patcheck "$dev" $((G - M)) 1M
check "last byte" patcheck "$dev" $((G - 1)) 1
check "odd 1 byte" patcheck "$dev" 777777 1

# The whole device in 4 concurrent pieces with odd boundaries, plus odd-sized overlapping
# readers; alternate CPUs so that both queues take requests.
b1=123456789 b2=$((400 * M + 4097)) b3=$((700 * M))
t0=$(now_cs)
pin 0 patcheck --bs 999999 "$dev" 0 "$b1" >/tmp/020-r1 2>&1 &
p1=$!
pin 1 patcheck "$dev" "$b1" $((b2 - b1)) >/tmp/020-r2 2>&1 &
p2=$!
pin 0 patcheck --bs 300000 "$dev" "$b2" $((b3 - b2)) >/tmp/020-r3 2>&1 &
p3=$!
pin 1 patcheck --direct --bs 512K "$dev" "$b3" $((G - b3)) >/tmp/020-r4 2>&1 &
p4=$!
pin 1 patcheck --direct --bs 4K "$dev" $((900 * M)) 8M >/tmp/020-r5 2>&1 &
p5=$!
pin 0 patcheck --direct --bs 64K "$dev" $((100 * M)) 32M >/tmp/020-r6 2>&1 &
p6=$!
pin 1 patcheck --bs 4097 "$dev" 3 $((5 * M)) >/tmp/020-r7 2>&1 &
p7=$!
wait_readers /tmp/020-r $p1 $p2 $p3 $p4 $p5 $p6 $p7
t1=$(now_cs)
echo "info: verified 1 GiB + 45 MiB with 7 concurrent readers: $(rate $((G + 45 * M)) "$t0" "$t1")"

pid=$(list_pid "$n")
kill -USR1 "$pid"
sleep 1
grep 'queue' /tmp/020-serve.log | tail -n 2
for q in 0 1; do
	r=$(grep "queue $q: " /tmp/020-serve.log | tail -n 1 | sed 's/.*queue [0-9]*: \([0-9]*\) reads.*/\1/')
	check "queue $q served reads ($r)" [ "${r:-0}" -gt 0 ]
	e=$(grep "queue $q: " /tmp/020-serve.log | tail -n 1 | sed 's/.* \([0-9]*\) errors.*/\1/')
	check "queue $q had no errors" [ "${e:-1}" = 0 ]
done

# patcheck must be able to fail
dd if="$dev" of=/tmp/020-own bs=4096 count=256 2>/dev/null
dd if="$dev" of=/tmp/020-shifted bs=4096 skip=1 count=256 2>/dev/null
check "patcheck accepts a copy of the first MiB" patcheck /tmp/020-own 0 1M
patcheck /tmp/020-shifted 0 1M
rc=$?
check "patcheck rejects data read from the wrong offset (exit 1)" [ "$rc" = 1 ]
rm -f /tmp/020-shifted /tmp/020-own
serve_bg --backend "null,size=16M" --log /tmp/020-null.log
null=$dev
patcheck "$null" 0 1M
rc=$?
check "patcheck rejects the null device (exit 1)" [ "$rc" = 1 ]

check "blazy stop the null device" blazy stop "$null"
dev=""
for d in $ublk_devs; do
	[ "$d" = "$null" ] || dev=$d
done
check "blazy stop the pattern device" blazy stop "$dev"
check "the pattern device is gone" dev_gone "$n"
check "the null device is gone" dev_gone "$(dev_id "$null")"
finish
