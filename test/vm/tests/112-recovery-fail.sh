#!/bin/sh
# Recovery gives up (docs/recovery.md): a server that crashes every time it is to take its
# device over (the test hook BLAZY_TEST_CRASH_ON_RECOVER=1): after 5 such crashes the
# supervisor stops the device, the reader waiting on it gets EIO within the recovery
# timeout, `blazy status` says why, `blazy stop` cleans up and nothing is left. And a
# device with --recovery-timeout 0 fails I/O at once when its server dies: with FAIL_IO
# (6.13) it stays recoverable (serve --recover, the supervisor), else it is removed.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

# timed_read SECONDS SKIP COUNT: an O_DIRECT read of COUNT blocks of 4 KiB at block SKIP of
# $dev, given at most SECONDS; sets rc and cs (the centiseconds it took), stderr in
# /tmp/112-dd.err.
timed_read() {
	t0=$(now_cs)
	timeout "$1" dd if="$dev" of=/dev/null bs=4096 skip="$2" count="$3" iflag=direct \
		2>/tmp/112-dd.err
	rc=$?
	cs=$(($(now_cs) - t0))
	cat /tmp/112-dd.err
}

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
# reads wait for a server, then fail once the supervisor gave up
timed_read 60 100 1
echo "info: the waiting read ended (rc $rc) after $((cs / 10))00 ms"
check "the waiting read failed (rc $rc), not hung" sh -c "[ $rc != 0 ] && [ $rc != 124 ]"
check "... within the recovery timeout (15 s)" [ "$cs" -lt 1500 ]
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

# --recovery-timeout 0: while no server runs, I/O fails at once with EIO. Where the kernel
# has USER_RECOVERY_FAIL_IO (6.13) the device stays recoverable: `serve --recover` and the
# supervisor take it over and reads return the same bytes again. Elsewhere (6.12) it is not
# recoverable: the kernel fails I/O and removes the disk, nobody restarts anything.
entry() { blazy list --json | tr '{' '\n' | grep "\"id\":$1,"; }
state_is() { entry "$1" | grep -q "\"state\":\"$2\""; }
serve_bg --backend "pattern,size=64M" --recovery-timeout 0 --no-supervise
check "--recovery-timeout 0: blazy serve exits 0" [ -n "$dev" ]
[ -n "$dev" ] || finish
n=$(dev_id "$dev")
wait_until 5 test -b "$dev"
pid=$(list_pid "$n")
out=$(entry "$n")
echo "$out"
dd if="$dev" of=/tmp/112-before bs=4096 skip=300 count=64 iflag=direct 2>/dev/null
check "a read before the kill" [ "$(wc -c </tmp/112-before)" = 262144 ]
if echo "$out" | grep -q USER_RECOVERY_FAIL_IO; then
	check "FAIL_IO: recoverable, requests not requeued (no REISSUE)" \
		sh -c "echo '$out' | grep -q '\"USER_RECOVERY\"' && ! echo '$out' | grep -q REISSUE"
	check "FAIL_IO: no supervisor (--no-supervise)" [ ! -e /run/blazy/ublkb$n.super ]
	kill -KILL "$pid"
	check "the server ended" wait_until 10 zombie_or_gone "$pid"
	check "blazy list: fail-io" wait_until 10 state_is "$n" fail-io
	blazy list
	timed_read 30 300 64
	echo "info: a read with no server failed (rc $rc) after $((cs * 10)) ms"
	# the kernel fails a request that arrives while no server runs with BLK_STS_TARGET,
	# which an O_DIRECT read sees as EREMOTEIO; one the dead server held fails with EIO
	check "FAIL_IO: the read failed with an I/O error, not hung (rc $rc)" \
		sh -c "[ $rc != 0 ] && [ $rc != 124 ] && grep -q -e 'Input/output error' -e 'I/O error' -e 'Remote I/O error' /tmp/112-dd.err"
	check "FAIL_IO: ... at once (< 2 s)" [ "$cs" -lt 200 ]
	echo 3 >/proc/sys/vm/drop_caches
	timeout 30 cat "$dev" >/dev/null 2>/tmp/112-cat.err
	rc=$?
	check "FAIL_IO: a buffered read fails too (rc $rc)" sh -c "[ $rc != 0 ] && [ $rc != 124 ]"
	check "no process in D state" no_dstate
	check "FAIL_IO: the device is still there" test -b "$dev"
	blazy status "$n" 2>/tmp/112-status.err
	rc=$?
	cat /tmp/112-status.err
	check "blazy status: exit 1, no server, fail-io" \
		sh -c "[ $rc = 1 ] && grep -q 'no server (state fail-io): its I/O fails' /tmp/112-status.err"
	# a new server takes it over: the same bytes again
	out=$(blazy serve --recover "$n" --backend "pattern,size=64M" --no-supervise)
	check "blazy serve --recover $n (a FAIL_IO device)" [ "$out" = "$dev" ]
	check "live again with a new server" wait_until 10 live_other "$n" "$pid"
	pid=$(list_pid "$n")
	ublk_pids="$ublk_pids $pid"
	dd if="$dev" of=/tmp/112-after bs=4096 skip=300 count=64 iflag=direct 2>/dev/null
	check "after the takeover: the same bytes" cmp /tmp/112-before /tmp/112-after
	timeout 30 blazy stop "$n"
	check "$dev is gone" wait_until 10 dev_gone "$n"

	# supervised: the supervisor's new server takes it over
	serve_bg --backend "pattern,size=64M" --recovery-timeout 0 --log /tmp/112-fio.log
	n=$(dev_id "$dev")
	wait_until 5 test -b "$dev"
	pid=$(list_pid "$n")
	sup=$(sed -n 's/^supervisor=//p' /run/blazy/ublkb$n.super 2>/dev/null)
	check "FAIL_IO: supervised (supervisor ${sup:-none})" pid_alive "${sup:-0}"
	out=$(entry "$n")
	check "FAIL_IO: the supervised device has FAIL_IO" sh -c "echo '$out' | grep -q USER_RECOVERY_FAIL_IO"
	check "the supervisor takes the device over after a kill -9" kill_server "$n"
	dd if="$dev" of=/tmp/112-after bs=4096 skip=300 count=64 iflag=direct 2>/dev/null
	check "after the restart: the same bytes" cmp /tmp/112-before /tmp/112-after
	cat /tmp/112-fio.log
	check "the supervisor logged the takeover" grep -q "/dev/ublkb$n served again by pid" /tmp/112-fio.log
	timeout 30 blazy stop "$n"
	check "$dev is gone" wait_until 10 dev_gone "$n"
	check "the supervisor ended" wait_until 10 zombie_or_gone "$sup"
else
	check "no FAIL_IO: not recoverable, no recovery flags" sh -c "! echo '$out' | grep -q USER_RECOVERY"
	check "no FAIL_IO: no supervisor" [ ! -e /run/blazy/ublkb$n.super ]
	kill -KILL "$pid"
	timed_read 30 0 1
	echo "info: a read with no server failed (rc $rc) after $((cs * 10)) ms"
	check "not recoverable: a read fails at once (rc $rc)" sh -c "[ $rc != 0 ] && [ $rc != 124 ]"
	check "no process in D state" no_dstate
	timeout 30 blazy stop "$n"
	check "$dev is gone" wait_until 10 dev_gone "$n"
	# supervised on a kernel without FAIL_IO: nothing to supervise, the server runs alone
	serve_bg --backend "pattern,size=64M" --recovery-timeout 0
	n=$(dev_id "$dev")
	wait_until 5 test -b "$dev"
	check "no FAIL_IO: no supervisor even without --no-supervise" [ ! -e /run/blazy/ublkb$n.super ]
	timeout 30 blazy stop "$n"
	check "$dev is gone" wait_until 10 dev_gone "$n"
fi
finish
