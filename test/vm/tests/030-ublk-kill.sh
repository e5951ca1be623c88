#!/bin/sh
# A server killed with SIGKILL: readers get I/O errors instead of hanging, `blazy list`
# shows the dead device, `blazy stop` removes it, and nothing is left. Then the same with a
# reader holding the disk open while `blazy stop` runs: stop returns (bounded) and the
# device goes once the reader closes it.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

M=$((1024 * 1024))
# (no waiting for a new server, nobody to start one: recovery has its own tests, 110-119.
# Where the kernel has USER_RECOVERY_FAIL_IO (6.13+), --recovery-timeout 0 keeps the device
# recoverable but failing its I/O at once, state "fail-io"; elsewhere it is "dead".)
serve_bg --backend "null,size=1G" --log /tmp/030-serve.log --recovery-timeout 0 --no-supervise
check "blazy serve exits 0" [ -n "$dev" ]
[ -n "$dev" ] || finish
n=$(dev_id "$dev")
check "$dev is a block device" wait_until 5 test -b "$dev"
pid=$(list_pid "$n")
check "server pid $pid alive" pid_alive "$pid"
dstate=dead
blazy list --json | tr '{' '\n' | grep "\"id\":$n," | grep -q USER_RECOVERY_FAIL_IO && dstate=fail-io
echo "info: a device whose server died is '$dstate' here"

# a reader busy on the device when the server dies
dd if="$dev" of=/dev/null bs=4k iflag=direct 2>/tmp/030-dd.err &
reader=$!
exec 3<"$dev" # and one holding it open
sleep 1
check "the reader is running" pid_alive "$reader"
kill -KILL "$pid"
check "the server is dead" wait_until 10 sh -c "! [ -d /proc/$pid ] || grep -q '^[^)]*) Z' /proc/$pid/stat 2>/dev/null"
check "the busy reader ends within 30 s" wait_until 30 sh -c "! [ -d /proc/$reader ] || grep -q '^[^)]*) Z' /proc/$reader/stat 2>/dev/null"
wait "$reader"
rc=$?
cat /tmp/030-dd.err
check "the busy reader failed (exit $rc)" [ "$rc" != 0 ]
timeout 30 dd bs=4096 skip=100000 count=1 <&3 >/tmp/030-fd3 2>/tmp/030-fd3.err
rc=$?
cat /tmp/030-fd3.err
# (the dead disk has size 0: the read fails or finds the end, and returns no data)
check "a read through a descriptor opened before the kill ends at once with no data (rc $rc)" \
	sh -c "[ $rc != 124 ] && [ $rc != 143 ] && [ ! -s /tmp/030-fd3 ]"
timeout 30 dd if="$dev" of=/dev/null bs=4096 count=1 2>/dev/null
rc=$?
check "a new read fails, not hangs (rc $rc)" sh -c "[ $rc != 0 ] && [ $rc != 124 ] && [ $rc != 143 ]"
exec 3<&-

out=$(blazy list)
echo "$out"
check "blazy list shows the device $dstate, its server gone" \
	sh -c "echo '$out' | grep -Eq '^$n +$dev +1 GiB +[0-9]+ +[0-9]+ +$dstate +$pid +gone$'"
check "blazy list --json: $dstate, server not alive" \
	sh -c "blazy list --json | grep -q '\"id\":$n,.*\"state\":\"$dstate\",\"pid\":$pid,\"server_alive\":false'"
out=$(timeout 60 blazy stop "$dev")
rc=$?
echo "$out"
check "blazy stop exits 0" [ "$rc" = 0 ]
check "blazy stop removed it directly" sh -c "echo '$out' | grep -q 'removed $dev directly'"
check "$dev is gone" dev_gone "$n"

# Killed while a reader holds the disk open: DEL_DEV waits for the last reference, so
# `blazy stop` must give up after its timeout rather than hang; the device goes on close.
serve_bg --backend "null,size=64M" --recovery-timeout 0 --no-supervise
n=$(dev_id "$dev")
pid=$(list_pid "$n")
wait_until 5 test -b "$dev"
exec 4<"$dev"
kill -KILL "$pid"
wait_until 10 sh -c "! [ -d /proc/$pid ] || grep -q '^[^)]*) Z' /proc/$pid/stat 2>/dev/null"
wait_until 10 sh -c "blazy list | grep -Eq '^$n .* $dstate '"
t0=$(now_cs)
timeout 60 blazy stop --timeout 3 "$n" 2>/tmp/030-stop.err
rc=$?
t1=$(now_cs)
cat /tmp/030-stop.err
echo "info: blazy stop with the disk held open: rc $rc after $(((t1 - t0) / 100)) s"
check "blazy stop returns in bounded time with 0" sh -c "[ $rc = 0 ] && [ $((t1 - t0)) -lt 3000 ]"
check "blazy stop warns that the disk is still open" grep -q "still open" /tmp/030-stop.err
check "the character device is gone already" sh -c "! [ -e /dev/ublkc$n ]"
exec 4<&-
check "$dev is gone once the reader closed it" wait_until 10 dev_gone "$n"
check "blazy list does not show it" sh -c "! blazy list | grep -q 'ublkb$n '"

# A live server stopped while a reader holds its disk open: the server deletes the device,
# waits a bounded time for the last close, and exits; nothing hangs.
serve_bg --backend "null,size=64M" --log /tmp/030-held.log
n=$(dev_id "$dev")
pid=$(list_pid "$n")
wait_until 5 test -b "$dev"
exec 5<"$dev"
t0=$(now_cs)
timeout 60 blazy stop "$n" 2>/tmp/030-stop.err
rc=$?
t1=$(now_cs)
cat /tmp/030-stop.err
echo "info: blazy stop of a live server with the disk held open: rc $rc after $(((t1 - t0) / 100)) s"
check "blazy stop exits 0" [ "$rc" = 0 ]
check "blazy stop warns that the disk is still open" grep -q "still open" /tmp/030-stop.err
check "the server exits within 20 s" wait_until 20 sh -c "! [ -d /proc/$pid ] || grep -q '^[^)]*) Z' /proc/$pid/stat 2>/dev/null"
cat /tmp/030-held.log
check "reads through the held descriptor return no data" sh -c "[ \$(timeout 10 dd bs=4096 skip=10 count=1 <&5 2>/dev/null | wc -c) = 0 ]"
exec 5<&-
check "$dev is gone once the reader closed it" wait_until 10 dev_gone "$n"

# An unresponsive server (SIGSTOP): blazy stop waits its timeout, kills it, removes the
# device directly.
serve_bg --backend "null,size=64M"
n=$(dev_id "$dev")
pid=$(list_pid "$n")
wait_until 5 test -b "$dev"
kill -STOP "$pid"
t0=$(now_cs)
out=$(timeout 60 blazy stop --timeout 2 "$n" 2>/tmp/030-stop.err)
rc=$?
t1=$(now_cs)
echo "$out"
cat /tmp/030-stop.err
echo "info: blazy stop of a stopped (SIGSTOP) server: rc $rc after $(((t1 - t0) / 100)) s"
check "blazy stop exits 0" [ "$rc" = 0 ]
check "blazy stop says it killed the server" grep -q "did not stop it within 2 s: killing it" /tmp/030-stop.err
check "the server is dead" wait_until 10 sh -c "! [ -d /proc/$pid ] || grep -q '^[^)]*) Z' /proc/$pid/stat 2>/dev/null"
check "$dev is gone" wait_until 10 dev_gone "$n"
finish
