#!/bin/bash
# blazy doctor on this host, whose kernel has no ublk_drv: it says so with a fix, exits 1,
# and its JSON is valid with every field; the checks that do hold here (io_uring, btrfs,
# loop, privileges) are reported as they are. As an unprivileged user it names the missing
# privilege. --help works; misuse exits 2.
. "$(dirname "$0")/lib.sh"
requires jq

h=$("$BLAZY" doctor --help)
grep -q '^usage: blazy doctor \[--json\]' <<<"$h" || fail "doctor --help has no usage line"
grep -q 'exit status' <<<"$h" || fail "doctor --help does not state the exit status"
rc=0
"$BLAZY" doctor extra >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "doctor with an argument: exit $rc (want 2)"
rc=0
"$BLAZY" doctor --bogus >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "doctor --bogus: exit $rc (want 2)"
run_mustfail_msg "^usage: blazy doctor" "$BLAZY" doctor --bogus

[ ! -e /dev/ublk-control ] && [ ! -d /sys/module/ublk_drv ] ||
	skip "this host has ublk_drv (the VM test 096-doctor.sh checks the green path)"

rc=0
out=$("$BLAZY" doctor) || rc=$?
echo "$out"
[ "$rc" = 1 ] || fail "doctor without ublk: exit $rc (want 1)"
grep -Eq '^FAIL +ublk_drv ' <<<"$out" || fail "ublk_drv is not reported as failing"
grep -Eq '^FAIL +ublk_control .*/dev/ublk-control' <<<"$out" || fail "/dev/ublk-control is not reported"
grep -Eq '^ +fix: .*(modprobe ublk_drv|CONFIG_BLK_DEV_UBLK)' <<<"$out" || fail "no fix for ublk_drv"
grep -q '^blazy cannot serve here' <<<"$out" || fail "no verdict line"

rc=0
json=$("$BLAZY" doctor --json) || rc=$?
[ "$rc" = 1 ] || fail "doctor --json without ublk: exit $rc (want 1)"
jq -e . >/dev/null <<<"$json" || fail "doctor --json is not valid JSON: $json"
q() { jq -r "$1" <<<"$json"; }
[ "$(q .kernel.release)" = "$(uname -r)" ] || fail "kernel.release is $(q .kernel.release)"
[ "$(q .can_serve)" = false ] || fail "can_serve is not false"
[ "$(q .ublk.control)" = false ] || fail "ublk.control is not false"
[ "$(q .ublk.features_known)" = false ] || fail "features are known without ublk"
[ "$(q .ublk.module)" = missing ] || [ "$(q .ublk.module)" = loadable ] ||
	fail "ublk.module is $(q .ublk.module)"
for name in kernel ublk_drv ublk_control ublk_features io_uring privileges run_dir btrfs loop; do
	st=$(q ".checks[] | select(.name == \"$name\") | .status")
	[ -n "$st" ] || fail "no check $name"
	[ "$(q ".checks[] | select(.name == \"$name\") | .detail | length > 0")" = true ] ||
		fail "check $name has no detail"
done
[ "$(q '.checks[] | select(.name == "ublk_drv") | .status')" = fail ] || fail "ublk_drv check is not fail"
[ "$(q '.checks[] | select(.name == "ublk_drv") | .fix | type')" = string ] || fail "ublk_drv check has no fix"
[ "$(q '[.checks[] | select(.status == "ok") | .fix] | map(. == null) | all')" = true ] ||
	fail "a passing check carries a fix"
# every flag named with its bit, none offered here
[ "$(q '.ublk.flags | length')" -ge 19 ] || fail "fewer than 19 ublk flags listed"
for nb in USER_RECOVERY_FAIL_IO:9 AUTO_BUF_REG:11 QUIESCE:12 PER_IO_DAEMON:13 BATCH_IO:15 \
	SAFE_STOP_DEV:17 NO_AUTO_PART_SCAN:18 UPDATE_SIZE:10 USER_COPY:7 SUPPORT_ZERO_COPY:0; do
	[ "$(q ".ublk.flags[] | select(.name == \"${nb%:*}\") | .bit")" = "${nb#*:}" ] ||
		fail "flag ${nb%:*} is not listed with bit ${nb#*:}"
done
[ "$(q '[.ublk.flags[] | .kernel] | any')" = false ] || fail "a flag is offered without ublk"
[ "$(q '.ublk.flags[] | select(.name == "NO_AUTO_PART_SCAN") | .blazy_wants')" = true ] ||
	fail "NO_AUTO_PART_SCAN is not marked as wanted"
# what holds here is reported as it is
want=$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo null)
[ "$(q .io_uring.disabled)" = "$want" ] || fail "io_uring.disabled is $(q .io_uring.disabled), sysctl says $want"
if grep -qw btrfs /proc/filesystems; then
	[ "$(q .btrfs)" = loaded ] || fail "btrfs is registered but reported $(q .btrfs)"
fi
if [ -e /dev/loop-control ]; then
	[ "$(q .loop)" = loaded ] || fail "loop-control exists but loop is reported $(q .loop)"
fi
[ "$(q .run_dir.path)" = /run/blazy ] || fail "run_dir.path is $(q .run_dir.path)"
if [ "$(id -u)" = 0 ]; then
	[ "$(q .cap_sys_admin)" = true ] || fail "root without CAP_SYS_ADMIN?"
	[ "$(q '.checks[] | select(.name == "privileges") | .status')" = ok ] || fail "privileges not ok as root"
	if command -v setpriv >/dev/null; then
		rc=0
		out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
			"$BLAZY" doctor --json) || rc=$?
		[ "$rc" = 1 ] || fail "unprivileged doctor: exit $rc (want 1)"
		[ "$(jq -r .cap_sys_admin <<<"$out")" = false ] || fail "unprivileged: cap_sys_admin not false"
		[ "$(jq -r '.checks[] | select(.name == "privileges") | .fix' <<<"$out")" = "run blazy as root" ] ||
			fail "unprivileged: no fix for the privileges"
	fi
fi
assert_no_leaks
