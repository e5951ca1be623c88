#!/bin/sh
# blazy doctor in the VM: every check green, exit 0, "can serve". Each ublk flag it reports
# as offered by the kernel is checked against GET_FEATURES asked independently (the
# ublkfeat tool), each name against its bit as the kernel's ublk_cmd.h defines it, and what
# blazy uses against what a served device really got from ADD_DEV (blazy list --json).
# Then the failure paths: ublk_drv unloaded (exit 1, the fix names modprobe ublk_drv) and
# io_uring disabled by sysctl (exit 1, the fix names the sysctl).
set -u
# zero copy is used only when asked for: doctor then reports what a server would use
export BLAZY_ZERO_COPY=auto
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
command -v ublkfeat >/dev/null || skip "no ublkfeat test tool (pass --extra build/vm-tools/ublkfeat)"

has() { printf '%s\n' "$1" | grep -q -- "$2"; }     # has TEXT REGEX
hasnt() { ! printf '%s\n' "$1" | grep -q -- "$2"; } # hasnt TEXT REGEX
# entry NAME: the JSON object whose "name" is NAME (a check or a flag)
entry() { printf '%s\n' "$json" | tr '{' '\n' | grep "^\"name\":\"$1\","; }

out=$(blazy doctor)
rc=$?
echo "$out" | sed 's/^/    /'
check "blazy doctor exits 0" [ "$rc" = 0 ]
check "it says blazy can serve here" has "$out" '^blazy can serve here'
check "no check fails" hasnt "$out" '^FAIL '
check "no check warns" hasnt "$out" '^warn '

json=$(blazy doctor --json)
check "blazy doctor --json exits 0" [ $? = 0 ]
check "can_serve is true" has "$json" '"can_serve":true'
check "the release is uname -r" has "$json" "\"release\":\"$(uname -r)\""
for name in kernel ublk_drv ublk_control ublk_features io_uring privileges run_dir btrfs loop; do
	st=$(entry "$name" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
	check "check $name is ok ($st)" [ "$st" = ok ]
done

kf=$(ublkfeat | cut -d' ' -f2)
check "ublkfeat reads GET_FEATURES ($kf)" [ -n "$kf" ]
jf=$(echo "$json" | sed -n 's/.*"features":\([0-9]*\),.*/\1/p')
check "doctor's features mask is GET_FEATURES' ($jf)" [ "$jf" = "$kf" ]

# name:bit as in include/uapi/linux/ublk_cmd.h
for nb in SUPPORT_ZERO_COPY:0 URING_CMD_COMP_IN_TASK:1 NEED_GET_DATA:2 USER_RECOVERY:3 \
	USER_RECOVERY_REISSUE:4 UNPRIVILEGED_DEV:5 CMD_IOCTL_ENCODE:6 USER_COPY:7 ZONED:8 \
	USER_RECOVERY_FAIL_IO:9 UPDATE_SIZE:10 AUTO_BUF_REG:11 QUIESCE:12 PER_IO_DAEMON:13 \
	BUF_REG_OFF_DAEMON:14 BATCH_IO:15 INTEGRITY:16 SAFE_STOP_DEV:17 NO_AUTO_PART_SCAN:18; do
	name=${nb%:*} bit=${nb#*:}
	line=$(entry "$name" | grep '"bit":')
	check "$name is listed with bit $bit" has "$line" "\"bit\":$bit,"
	want=false
	[ $(((kf >> bit) & 1)) = 1 ] && want=true
	check "$name: kernel $want, as GET_FEATURES says" has "$line" "\"kernel\":$want"
done
unknown=$(echo "$json" | sed -n 's/.*"unknown_bits":\[\([0-9,]*\)\].*/\1/p')
echo "flags the kernel offers that blazy does not know: ${unknown:-none}"

# What blazy uses: ioctl-encoded opcodes; NO_AUTO_PART_SCAN exactly when offered.
uses() { entry "$1" | grep -q '"blazy_uses":true'; }
check "blazy uses CMD_IOCTL_ENCODE" uses CMD_IOCTL_ENCODE
if [ $(((kf >> 18) & 1)) = 1 ]; then
	check "blazy uses NO_AUTO_PART_SCAN (offered)" uses NO_AUTO_PART_SCAN
else
	check "NO_AUTO_PART_SCAN: not used (not offered)" has "$(entry NO_AUTO_PART_SCAN)" '"blazy_uses":false'
fi
# SAFE_STOP_DEV (TRY_STOP_DEV for a non-forced stop) exactly when offered; zero copy
# (AUTO_BUF_REG with USER_COPY, seed servers) exactly when both are offered.
if [ $(((kf >> 17) & 1)) = 1 ]; then
	check "blazy uses SAFE_STOP_DEV (offered)" uses SAFE_STOP_DEV
else
	check "SAFE_STOP_DEV: not used (not offered)" has "$(entry SAFE_STOP_DEV)" '"blazy_uses":false'
fi
if [ $(((kf >> 11) & 1)) = 1 ] && [ $(((kf >> 7) & 1)) = 1 ]; then
	check "blazy uses AUTO_BUF_REG (offered)" uses AUTO_BUF_REG
	check "doctor --json: zero copy on" has "$json" '"zero_copy":true'
else
	check "AUTO_BUF_REG: not used (not offered)" has "$(entry AUTO_BUF_REG)" '"blazy_uses":false'
	check "doctor --json: zero copy off" has "$json" '"zero_copy":false'
fi
check "blazy doctor says whether zero copy is in use" sh -c "blazy doctor | grep -q 'zero copy: o[nf]'"
# BATCH_IO (the batched I/O commands) exactly when offered, unless zero copy is on.
if [ $(((kf >> 15) & 1)) = 1 ] && has "$json" '"zero_copy":false'; then
	check "blazy uses BATCH_IO (offered, zero copy off)" uses BATCH_IO
else
	check "BATCH_IO: not used (not offered, or zero copy on)" has "$(entry BATCH_IO)" '"blazy_uses":false'
fi
for name in USER_RECOVERY_FAIL_IO QUIESCE SUPPORT_ZERO_COPY PER_IO_DAEMON; do
	check "$name is reported, not used" has "$(entry "$name")" '"blazy_uses":false'
done
req=$(echo "$json" | sed -n 's/.*"requested":\([0-9]*\),.*/\1/p')

# The flags a device really gets: requested ones the kernel kept.
serve_bg --backend null,size=64M
check "blazy serve --backend null" [ -n "$dev" ]
if [ -n "$dev" ]; then
	flags=$(blazy list --json | tr '{' '\n' | grep "\"id\":$(dev_id "$dev")," | sed 's/.*"flags":\([0-9]*\).*/\1/')
	check "the device has every flag doctor says blazy requests ($req of $flags)" \
		[ $((flags & req)) = "$req" ]
	line=$(blazy list --json | tr '{' '\n' | grep "\"id\":$(dev_id "$dev"),")
	check "blazy list --json names the device's flags" has "$line" '"features":\[.*"CMD_IOCTL_ENCODE"'
	if [ $(((kf >> 18) & 1)) = 1 ]; then
		check "blazy list --json names NO_AUTO_PART_SCAN" has "$line" '"NO_AUTO_PART_SCAN"'
	fi
	check "blazy stop" blazy stop "$dev"
fi

# Failure paths.
if modprobe -r ublk_drv 2>/dev/null; then
	out=$(blazy doctor)
	rc=$?
	check "without ublk_drv: exit 1" [ "$rc" = 1 ]
	check "without ublk_drv: the fix is modprobe ublk_drv" has "$out" 'fix: modprobe ublk_drv'
	check "without ublk_drv: cannot serve" has "$(blazy doctor --json)" '"can_serve":false'
	modprobe ublk_drv
	wait_until 5 test -c /dev/ublk-control
else
	echo "ublk_drv cannot be unloaded here: that failure path is not checked"
fi
if [ -w /proc/sys/kernel/io_uring_disabled ]; then
	echo 2 >/proc/sys/kernel/io_uring_disabled
	out=$(blazy doctor)
	rc=$?
	echo 0 >/proc/sys/kernel/io_uring_disabled
	check "io_uring disabled: exit 1" [ "$rc" = 1 ]
	check "io_uring disabled: the fix is the sysctl" has "$out" 'fix: sysctl kernel.io_uring_disabled=0'
fi
check "blazy doctor is green again" blazy doctor >/dev/null
finish
