#!/bin/sh
# Recovery when the supervisor dies first (docs/recovery.md, "When the supervisor dies"):
# the server of a blazy mount sees its supervisor killed and starts a new one, recorded in
# ublkbN.super (blazy status names it); the server then killed under a reader is replaced
# by that supervisor and the reader completes with the right bytes; twice over (the second
# supervisor killed too); `blazy umount` leaves nothing. Then a device whose new servers
# all crash (BLAZY_TEST_CRASH_ON_RECOVER=1): with its supervisor and then its server
# killed, a waiting read fails with EIO within the recovery timeout, nothing hangs.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

W=/tmp/116
M=/mnt/o
blazy_mount_setup "$W" "$M"
mkdir -p "$W/src" && dd if=/dev/urandom of="$W/src/data.bin" bs=1M count=16 2>/dev/null
check "mkseed" blazy mkseed -q --rootdir "$W/src" "$W/seed.img"
check "blazy mount" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 256M
mount_dev
log=$(ls "$W/state/"*.serve.log)
# new_sup OLD: ublkbN.super names a live supervisor other than OLD
new_sup() { _s=$(sup); [ -n "$_s" ] && [ "$_s" != "$1" ] && pid_alive "$_s"; }
ppid_of() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f2; }

round=0
while [ "$round" -lt 2 ]; do
	round=$((round + 1))
	s=$(sup)
	p=$(list_pid "$n")
	kill -KILL "$s"
	wait_until 5 zombie_or_gone "$s"
	check "round $round: killing the supervisor ($s) leaves the server ($p) serving" \
		sh -c "kill -0 $p && cmp $W/src/data.bin $M/data.bin"
	check "round $round: the server started a new supervisor, recorded" wait_until 10 new_sup "$s"
	s2=$(sup)
	blazy status --json "$M" >"$W/status.json"
	check "round $round: blazy status names it ($s2)" grep -q "\"supervisor\":$s2," "$W/status.json"
	check "round $round: it is named blazy" [ "$(cat /proc/"$s2"/comm)" = blazy ]
	echo "info: supervisor $s2, parent $(ppid_of "$s2"), server $p"
	echo 3 >/proc/sys/vm/drop_caches
	cmp "$W/src/data.bin" "$M/data.bin" >"$W/reader$round.out" 2>&1 &
	r=$!
	kill -KILL "$p"
	wait "$r"
	rc=$?
	cat "$W/reader$round.out"
	check "round $round: the server killed under a reader: the reader completes, right bytes" [ "$rc" = 0 ]
	np=$(list_pid "$n")
	check "round $round: a new server ($np) serves the device" sh -c "[ -n '$np' ] && [ '$np' != '$p' ]"
	check "round $round: ... started by the new supervisor" [ "$(ppid_of "$np")" = "$s2" ]
done
blazy list --json | tr '{' '\n' | grep "\"id\":$n," >"$W/list.json"
cat "$W/list.json"
check "blazy list: live, 2 restarts" sh -c "grep '\"state\":\"live\"' $W/list.json | grep -q '\"restarts\":2,'"
check "the log says who supervises whom" grep -q "supervising /dev/ublkb$n (server pid [0-9]*, whose supervisor died" "$log"
check "blazy umount" blazy umount "$M"
check "nothing left (no supervisor either)" wait_until 10 blazy_mount_gone
grep -E "supervis|took|served again" "$log" | tail -12

# The restart cannot succeed: EIO within the recovery timeout.
export BLAZY_TEST_CRASH_ON_RECOVER=1
serve_bg --backend "pattern,size=64M" --log "$W/fail.log" --recovery-timeout 10s
unset BLAZY_TEST_CRASH_ON_RECOVER
check "blazy serve exits 0" [ -n "$dev" ]
[ -n "$dev" ] || finish
n=$(dev_id "$dev")
wait_until 5 test -b "$dev"
s=$(sup)
p=$(list_pid "$n")
kill -KILL "$s"
check "the server started a new supervisor" wait_until 10 new_sup "$s"
s2=$(sup)
dd if="$dev" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null
kill -KILL "$p"
t0=$(now_cs)
timeout 60 dd if="$dev" of=/dev/null bs=4096 skip=100 count=1 iflag=direct 2>"$W/dd.err"
rc=$?
t1=$(now_cs)
cat "$W/dd.err"
echo "info: the waiting read ended (rc $rc) after $(((t1 - t0) / 10))00 ms"
check "the waiting read failed (rc $rc), not hung" sh -c "[ $rc != 0 ] && [ $rc != 124 ]"
check "... within the recovery timeout (10 s)" [ $((t1 - t0)) -lt 1000 ]
cat "$W/fail.log"
check "the new supervisor gave up, and said why" grep -q "giving up on /dev/ublkb$n" "$W/fail.log"
check "the new supervisor ended" wait_until 10 zombie_or_gone "$s2"
blazy status "$n" 2>"$W/status.err"
rc=$?
cat "$W/status.err"
check "blazy status: exit 1, the device failed" sh -c "[ $rc = 1 ] && grep -q 'ublkb$n failed' $W/status.err"
check "no process in D state" sh -c "! grep -l '^[^)]*) D' /proc/[0-9]*/stat 2>/dev/null | grep -q ."
timeout 30 blazy stop "$n"
check "$dev is gone" wait_until 10 dev_gone "$n"
check "no state file left" sh -c "! ls /run/blazy/ublkb$n.* 2>/dev/null"
finish
