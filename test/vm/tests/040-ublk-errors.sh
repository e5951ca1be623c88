#!/bin/sh
# Misuse and failures of blazy serve/list/stop: bad specs and counts exit 2; without
# ublk_drv (rmmod) serve fails with exit 1 and the modprobe hint; then modprobe it back
# and serve (with --poll 0, the path without polling).
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

expect_rc() { # expect_rc RC CMD...
	want=$1
	shift
	"$@" >/tmp/040.out 2>/tmp/040.err
	got=$?
	if [ "$got" = "$want" ]; then
		echo "ok: exit $want from: $*"
	else
		fail "exit $got (want $want) from: $*"
		cat /tmp/040.out /tmp/040.err
	fi
}

for spec in "" nul,size=1G null null,size= null,size=0 null,size=1000 null,size=1Q \
	null,frob=1 pattern,size=1G,size=2G ,size=1G; do
	expect_rc 2 blazy serve --backend "$spec"
	expect_rc 2 blazy serve --foreground --backend "$spec"
done
grep -q "^blazy: error: bad --backend" /tmp/040.err || fail "no 'bad --backend' message"
for q in 0 -1 abc 4097 1.5 ""; do
	expect_rc 2 blazy serve --backend null,size=1G --queues "$q"
done
for d in 0 -3 x 4097 ""; do
	expect_rc 2 blazy serve --backend null,size=1G --depth "$d"
done
for p in -1 x 100001 1e3 ""; do
	expect_rc 2 blazy serve --backend null,size=1G --poll "$p"
done
expect_rc 2 blazy serve
expect_rc 2 blazy serve --backend
expect_rc 2 blazy serve --bogus
expect_rc 2 blazy serve --backend null,size=1G extra-arg
expect_rc 2 blazy serve --backend null,size=1G a b
expect_rc 1 blazy serve /tmp/seed.img
grep -q "cannot open '/tmp/seed.img'" /tmp/040.err || fail "no message naming the missing seed"
expect_rc 2 blazy list extra
expect_rc 2 blazy list --bogus
expect_rc 2 blazy stop
expect_rc 2 blazy stop /dev/sda
expect_rc 2 blazy stop ublkbX
expect_rc 2 blazy stop --timeout 0 0
expect_rc 1 blazy stop 4000
grep -q "no ublk device" /tmp/040.err || fail "no 'no ublk device' message"
check "no device was created by the misuse" sh -c "! ls /sys/class/ublk-char | grep -q ublkc"

# Without ublk_drv: a clear error with the hint, exit 1, no hang.
reload() {
	[ -c /dev/ublk-control ] || modprobe ublk_drv
	wait_until 5 test -c /dev/ublk-control
}
# (references from rings of servers that just exited go away asynchronously)
echo "info: ublk_drv refcnt $(cat /sys/module/ublk_drv/refcnt)"
if ! wait_until 20 rmmod ublk_drv 2>/tmp/040.rmmod; then
	cat /tmp/040.rmmod
	echo "info: ublk_drv refcnt $(cat /sys/module/ublk_drv/refcnt)"
	ls -l /proc/[0-9]*/fd 2>/dev/null | grep ublk
	fail "cannot rmmod ublk_drv"
	finish
fi
check "/dev/ublk-control is gone" wait_until 5 sh -c "! [ -e /dev/ublk-control ]"
expect_rc 1 timeout 30 blazy serve --backend null,size=1G
check "daemon: the error names /dev/ublk-control and the hint" \
	grep -q "^blazy: error: cannot open /dev/ublk-control: .*modprobe ublk_drv" /tmp/040.err
cat /tmp/040.err
expect_rc 1 timeout 30 blazy serve --foreground --backend null,size=1G
check "foreground: the hint" grep -q "modprobe ublk_drv" /tmp/040.err
check "foreground: nothing on stdout" [ ! -s /tmp/040.out ]
expect_rc 1 blazy list
check "list: the hint" grep -q "modprobe ublk_drv" /tmp/040.err
expect_rc 1 blazy stop 0
check "stop: the hint" grep -q "modprobe ublk_drv" /tmp/040.err
reload
check "ublk_drv is back" test -c /dev/ublk-control

# and serving works again (without polling: the queue threads only sleep in the kernel)
serve_bg --backend null,size=16M --poll 0
check "serve after modprobe" [ -n "$dev" ]
check "a direct read of the whole device" dd if="$dev" of=/dev/null bs=64k iflag=direct
check "blazy stop" blazy stop "$dev"
check "device gone" dev_gone "$(dev_id "$dev")"

# a log file that cannot be opened: exit 1 before anything is created
expect_rc 1 blazy serve --backend null,size=16M --log /nonexistent/dir/log
check "no device left by the bad --log" sh -c "! ls /sys/class/ublk-char | grep -q ublkc"
finish
