#!/bin/sh
# Recovery (docs/recovery.md): the supervised server of a pattern device is killed with
# SIGKILL again and again while verifying readers (randcheck) read it at random: no I/O
# error, no wrong byte; every time a new server takes the device over. The pause the
# readers see per takeover is reported. Then `blazy stop` takes it all down.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
command -v randcheck >/dev/null || skip "randcheck (test/vm/tools) not in the VM"
KILLS=${BLAZY_RECOVERY_KILLS:-20}

serve_bg --backend "pattern,size=256M" --log /tmp/110-serve.log --recovery-timeout 30s
check "blazy serve exits 0" [ -n "$dev" ]
[ -n "$dev" ] || finish
n=$(dev_id "$dev")
wait_until 5 test -b "$dev"
rm -f /tmp/110-stop
randcheck --seconds 600 --stop /tmp/110-stop --seed 1 "$dev" >/tmp/110-r1 2>&1 &
r1=$!
randcheck --seconds 600 --stop /tmp/110-stop --seed 2 --bs 65536 "$dev" >/tmp/110-r2 2>&1 &
r2=$!
sleep 1

t0=$(now_cs)
# a random moment: 0.6 to 2.1 s of serving before each kill
kill_loop "$n" "$KILLS" 6 16
t1=$(now_cs)
echo "info: $KILLS kills in $(((t1 - t0) / 100)) s"
check "a new server took the device over after each of the $KILLS kills ($ok)" [ "$ok" = "$KILLS" ]
touch /tmp/110-stop
wait "$r1"
rc1=$?
wait "$r2"
rc2=$?
cat /tmp/110-r1 /tmp/110-r2
check "reader 1 (4 KiB): no I/O error, no wrong byte" [ "$rc1" = 0 ]
check "reader 2 (64 KiB): no I/O error, no wrong byte" [ "$rc2" = 0 ]
echo "info: takeover pause seen by reader 1: $(sed 's/.*\(pause_median_ms [0-9]*\) \(pause_max_ms [0-9]*\).*/\1 \2/' /tmp/110-r1)"
echo "info: takeover pause seen by reader 2: $(sed 's/.*\(pause_median_ms [0-9]*\) \(pause_max_ms [0-9]*\).*/\1 \2/' /tmp/110-r2)"
live_restarts "$n" "$KILLS"
grep -c "took /dev/ublkb$n over" /tmp/110-serve.log
check "the log shows each takeover" \
	sh -c "[ \$(grep -c 'took /dev/ublkb$n over' /tmp/110-serve.log) = $KILLS ]"
stop_all "$n"
tail -5 /tmp/110-serve.log
finish
