#!/bin/sh
# Smoke test: the VM has what every other test relies on.
# ublk_drv loaded (/dev/ublk-control), btrfs and loop loaded, blazy runs.
set -u

fails=0
check() { # DESCRIPTION COMMAND...
	what=$1
	shift
	if "$@"; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		fails=$((fails + 1))
	fi
}

check "/dev/ublk-control is a character device" test -c /dev/ublk-control
check "ublk_drv module loaded" test -d /sys/module/ublk_drv
check "btrfs module loaded" test -d /sys/module/btrfs
check "btrfs in /proc/filesystems" grep -qw btrfs /proc/filesystems
check "/dev/loop-control is a character device" test -c /dev/loop-control

out=$(/bin/blazy --version 2>&1)
rc=$?
version=$(printf '%s\n' "$out" | head -n 1)
echo "blazy --version: $version"
check "blazy --version runs" test "$rc" -eq 0
case $version in
"blazy "*) check "blazy --version starts with 'blazy '" true ;;
*) check "blazy --version starts with 'blazy '" false ;;
esac

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
exit 0
