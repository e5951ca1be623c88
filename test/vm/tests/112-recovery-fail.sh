#!/bin/sh
# Recovery gives up (docs/recovery.md): a server that crashes every time it is to take its
# device over (the test hook BLAZY_TEST_CRASH_ON_RECOVER=1): after 5 such crashes the
# supervisor stops the device, the reader waiting on it gets EIO within the recovery
# timeout, `blazy status` says why, `blazy stop` cleans up and nothing is left. And a
# device that is not recoverable (--recovery-timeout 0) fails I/O at once when its server
# dies.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

export BLAZY_TEST_CRASH_ON_RECOVER=1
serve_bg --backend "pattern,size=64M" --log /tmp/112.log --recovery-timeout 15s
unset BLAZY_TEST_CRASH_ON_RECOVER
check "blazy serve exits 0" [ -n "$dev" ]
[ -n "$dev" ] || finish
n=$(dev_id "$dev")
wait_until 5 test -b "$dev"
pid=$(list_pid "$n")
sup=$(sed -n 's/^supervisor=//p' /run/blazy/ublkb$n.super)
check "the supervisor ($sup) is recorded and runs" pid_alive "${sup:-0}"
out=$(blazy list --json)
echo "$out"
check "blazy list: live, supervised" sh -c "echo '$out' | grep -q '\"state\":\"live\".*\"supervisor\":$sup,\"restarts\":0,'"
dd if="$dev" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null
kill -KILL "$pid"
t0=$(now_cs)
# reads wait for a server, then fail once the supervisor gave up
timeout 60 dd if="$dev" of=/dev/null bs=4096 skip=100 count=1 iflag=direct 2>/tmp/112-dd.err
rc=$?
t1=$(now_cs)
cat /tmp/112-dd.err
echo "info: the waiting read ended (rc $rc) after $(((t1 - t0) / 10))00 ms"
check "the waiting read failed (rc $rc), not hung" sh -c "[ $rc != 0 ] && [ $rc != 124 ]"
check "... within the recovery timeout (15 s)" [ $((t1 - t0)) -lt 1500 ]
cat /tmp/112.log
check "the supervisor logged why it gave up" grep -q "giving up on /dev/ublkb$n: 5 crashes within 60 s" /tmp/112.log
check "the hook made each successor crash" grep -q "BLAZY_TEST_CRASH_ON_RECOVER=1: crashing" /tmp/112.log
check "the supervisor ended" wait_until 10 sh -c "! [ -d /proc/$sup ] || grep -q '^[^)]*) Z' /proc/$sup/stat"
blazy status "$n" 2>/tmp/112-status.err
rc=$?
cat /tmp/112-status.err
check "blazy status: exit 1, the device failed, and why" \
	sh -c "[ $rc = 1 ] && grep -q 'ublkb$n failed: 5 crashes within 60 s, the last: server [0-9]* killed by signal 9' /tmp/112-status.err"
timeout 30 blazy stop "$n"
check "$dev is gone" wait_until 10 dev_gone "$n"
check "no state file left" sh -c "! ls /run/blazy/ublkb$n.* 2>/dev/null"

# Not recoverable: the kernel fails I/O at once, and nobody restarts anything.
serve_bg --backend "pattern,size=64M" --recovery-timeout 0
n=$(dev_id "$dev")
wait_until 5 test -b "$dev"
pid=$(list_pid "$n")
out=$(blazy list --json)
check "not recoverable: no recovery flags" sh -c "! echo '$out' | grep -q USER_RECOVERY"
check "not recoverable: no supervisor" [ ! -e /run/blazy/ublkb$n.super ]
kill -KILL "$pid"
timeout 30 dd if="$dev" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null
rc=$?
check "not recoverable: a read fails at once (rc $rc)" sh -c "[ $rc != 0 ] && [ $rc != 124 ]"
timeout 30 blazy stop "$n"
check "$dev is gone" wait_until 10 dev_gone "$n"
finish
