#!/bin/sh
# One stop policy: `blazy stop DEV` and `blazy umount` leave the same clean state (no
# /run/blazy entry, no /dev/ublk* device, no server process) whether the server is healthy,
# hung (SIGSTOP) or already dead (SIGKILL). `blazy stop` refuses the device of a mounted
# blazy filesystem (exit 1, the mount point named); --force still stops it, in seconds
# (nothing waits for the mounted disk's last close), and `blazy umount` afterwards cleans up.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

W=/tmp/075
M=/mnt/075
export BLAZY_STATE_DIR=$W/state
trap blazy_mount_cleanup EXIT

rm -rf "$W"
mkdir -p "$W/src" "$M"
dd if=/dev/urandom of="$W/src/data.bin" bs=1024 count=2048 2>/dev/null
echo hello >"$W/src/hello"
check "mkseed" blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/seed.img"

# Nothing of device N and server PID is left: no registry entry, no device, no process.
clean_state() {
	! ls /run/blazy/ublkb"$1".* >/dev/null 2>&1 && dev_gone "$1" && ! pid_alive "$2"
}

# left_over N PID: prints what clean_state found left (for a failure's diagnosis).
left_over() {
	ls -l /run/blazy/ublkb"$1".* /dev/ublkb"$1" /dev/ublkc"$1" /sys/class/ublk-char/ublkc"$1" \
		/sys/block/ublkb"$1" 2>/dev/null | sed 's/^/left: /'
	[ -r "/proc/$2/stat" ] && echo "left: process $2: $(cat "/proc/$2/stat")"
	return 1
}

# check_clean WHAT N PID SECONDS: clean_state within SECONDS, or what is left is printed.
check_clean() {
	if wait_until "$4" clean_state "$2" "$3"; then
		echo "ok: $1"
	else
		fail "$1"
		left_over "$2" "$3"
	fi
}

# hurt CASE PID: leaves the server healthy, SIGSTOPs it, or SIGKILLs it (and waits).
hurt() {
	case $1 in
	hung) kill -STOP "$2" ;;
	dead)
		kill -KILL "$2"
		wait_until 10 sh -c "! [ -d /proc/$2 ] || grep -q '^[^)]*) Z' /proc/$2/stat 2>/dev/null"
		;;
	esac
}

for c in healthy hung dead; do
	# (not recoverable: a dead server stays dead; recovery has its own tests, 110-114)
	serve_bg --log "$W/serve-$c.log" --recovery-timeout 0 "$W/seed.img" ||
		{ fail "$c: serve"; continue; }
	n=$(dev_id "$dev")
	pid=$(list_pid "$n")
	check "$c: the server is registered" test -S "/run/blazy/ublkb$n.sock"
	hurt "$c" "$pid"
	t0=$(now_cs)
	out=$(timeout 60 blazy stop --timeout 3 "$dev" 2>"$W/stop.err")
	rc=$?
	t1=$(now_cs)
	echo "$c: $out $(cat "$W/stop.err") (rc $rc, $(((t1 - t0) / 100)) s)"
	check "$c: blazy stop exits 0" [ "$rc" = 0 ]
	check "$c: blazy stop took at most 15 s" [ $((t1 - t0)) -lt 1500 ]
	check_clean "$c: blazy stop left nothing" "$n" "$pid" 5
done
check "healthy: it went through the control socket" \
	grep -q "stop requested over the control socket" "$W/serve-healthy.log"
if blazy doctor --json | tr '{' '\n' | grep '"name":"SAFE_STOP_DEV"' | grep -q '"kernel":true'; then
	check "healthy: stopped by the kernel's TRY_STOP_DEV (SAFE_STOP_DEV)" \
		grep -q "TRY_STOP_DEV: nobody holds" "$W/serve-healthy.log"
else
	check "healthy: no TRY_STOP_DEV without SAFE_STOP_DEV" \
		sh -c "! grep -q 'TRY_STOP_DEV' '$W/serve-healthy.log'"
fi

for c in healthy hung dead; do
	out=$(blazy mount "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 256M --recovery-timeout 0 2>&1)
	rc=$?
	check "$c: blazy mount" [ "$rc" = 0 ]
	[ "$rc" = 0 ] || { echo "$out"; cat "$W/state/"*.serve.log; continue; }
	cmp "$W/src/data.bin" "$M/data.bin" || fail "$c: data.bin reads back"
	sync
	pid=$(grep '^server_pid=' "$W/state/mnt-075.state" | cut -d= -f2)
	n=$(grep '^ublk=' "$W/state/mnt-075.state" | sed 's/.*ublkb//')
	hurt "$c" "$pid"
	t0=$(now_cs)
	timeout 120 blazy umount "$M"
	rc=$?
	t1=$(now_cs)
	echo "$c: blazy umount rc $rc after $(((t1 - t0) / 100)) s"
	check "$c: blazy umount exits 0" [ "$rc" = 0 ]
	check_clean "$c: blazy umount left nothing" "$n" "$pid" 5
	check "$c: no mount, loop device or process left" wait_until 5 blazy_mount_gone
done

# The device under a mounted blazy filesystem: refused, named; --force; umount cleans up.
check "blazy mount" blazy mount "$W/seed.img" "$M" --rw "$W/rw.img"
dev=$(grep '^ublk=' "$W/state/mnt-075.state" | cut -d= -f2)
n=$(dev_id "$dev")
pid=$(grep '^server_pid=' "$W/state/mnt-075.state" | cut -d= -f2)
blazy stop "$dev" 2>"$W/stop.err"
rc=$?
cat "$W/stop.err"
check "stop of a mounted device: exit 1" [ "$rc" = 1 ]
check "stop of a mounted device: the mount point is named" grep -q " $M" "$W/stop.err"
check "stop of a mounted device: it still serves" cmp "$W/src/hello" "$M/hello"
check "stop of a mounted device: its server runs" pid_alive "$pid"
check "stop of a mounted device: refused by the in-use check (not TRY_STOP_DEV)" \
	sh -c "! grep -q TRY_STOP_DEV '$W/stop.err'"
# The race the in-use check alone leaves open (a mount right after it), made by the test hook
# BLAZY_TEST_STOP_NO_CHECK=1 (skips that check): where the kernel has SAFE_STOP_DEV the stop
# itself is TRY_STOP_DEV, which the kernel refuses while the disk is open. Without it (6.12)
# only the check above refuses, and the hook would stop the mounted device: not run there.
if blazy doctor --json | tr '{' '\n' | grep '"name":"SAFE_STOP_DEV"' | grep -q '"kernel":true'; then
	BLAZY_TEST_STOP_NO_CHECK=1 blazy stop "$dev" 2>"$W/stop.err"
	rc=$?
	cat "$W/stop.err"
	check "TRY_STOP_DEV: a mounted device is refused (exit 1)" [ "$rc" = 1 ]
	check "TRY_STOP_DEV: the refusal came from the kernel's TRY_STOP_DEV" grep -q "TRY_STOP_DEV" "$W/stop.err"
	check "TRY_STOP_DEV: the mount point is named" grep -q " $M" "$W/stop.err"
	check "TRY_STOP_DEV: the server logged the refusal" sh -c "grep -q 'stop refused.*TRY_STOP_DEV' '$W/state/'*.serve.log"
	check "TRY_STOP_DEV: it still serves" cmp "$W/src/hello" "$M/hello"
	check "TRY_STOP_DEV: its server runs" pid_alive "$pid"
else
	echo "info: no SAFE_STOP_DEV on $(uname -r): the in-use check alone refuses"
fi
t0=$(now_cs)
timeout 60 blazy stop --force "$dev" 2>"$W/stop.err"
rc=$?
took=$(($(now_cs) - t0))
cat "$W/stop.err"
echo "info: blazy stop --force of a mounted device took ${took}0 ms"
check "stop --force: exit 0" [ "$rc" = 0 ]
# the disk stays open (mounted): no fixed wait for its last close (was 5 s in the server)
check "stop --force: within 4 s (${took}0 ms)" [ "$took" -le 400 ]
check "stop --force: the server is gone" wait_until 10 sh -c "! [ -d /proc/$pid ] || grep -q '^[^)]*) Z' /proc/$pid/stat"
timeout 120 blazy umount "$M"
rc=$?
check "blazy umount after stop --force exits 0" [ "$rc" = 0 ]
check_clean "blazy umount after stop --force left nothing" "$n" "$pid" 10
check "no mount, loop device or process left" wait_until 5 blazy_mount_gone
finish
