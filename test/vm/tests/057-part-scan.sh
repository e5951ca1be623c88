#!/bin/sh
# The kernel's partition scan of a new blazy device. Where the kernel has NO_AUTO_PART_SCAN
# (7.0+) blazy asks for it and starting a device reads nothing from it. Without it (6.12,
# or forced with BLAZY_UBLK_PART_SCAN=1) the scan reads within the first 16 KiB (on 6.12
# three 4 KiB reads: sectors 0-7, 8-15, 24-31), which lie in the seed's local region:
# a --lazy seed whose store was removed before serving comes up with no error and no lazy
# read, while its lazy files do fail to read (nothing was served from the store).
# Reads are observed in the server's request log (--log-requests, open before the device is
# added: every request the disk sends is in it). Not with a block tracepoint: enabling one
# patches the kernel's text, and under TCG that once met the other vCPU mid-instruction
# (7.3: "Oops: int3" in ttwu_do_activate).
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
command -v ublkfeat >/dev/null || skip "no ublkfeat test tool (pass --extra build/vm-tools/ublkfeat)"

W=/tmp/057
rm -rf "$W"
mkdir -p "$W/src/big"
i=0
while [ $i -lt 8 ]; do
	dd if=/dev/urandom of="$W/src/big/f$i" bs=65536 count=4 2>/dev/null
	i=$((i + 1))
done
echo small >"$W/src/small"
check "mkseed --lazy" blazy mkseed -q --lazy --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
json=$(blazy inspect --json "$W/seed.img")
lend=$(echo "$json" | sed -n 's/.*"local_end":\([0-9]*\).*/\1/p')
ioff=$(echo "$json" | sed -n 's/.*"import":{"offset":\([0-9]*\).*/\1/p')
echo "local region ends at $lend"
rm -rf "$W/seed.img.store"
check "the store is gone" [ ! -e "$W/seed.img.store" ]

kf=$(ublkfeat | cut -d' ' -f2)
has_flag=$(((kf >> 18) & 1))
echo "GET_FEATURES $kf: NO_AUTO_PART_SCAN $has_flag"

# serve_logged NAME [ENV]: serves the seed with its request log on from before ADD_DEV; after
# a second (nothing else opens the device: whatever reads then is the kernel's own) stops
# the log and leaves the device's reads in $W/NAME.reads ("SECTOR NR_SECTORS" each).
serve_logged() {
	if [ -n "${2:-}" ]; then
		export "$2"
	fi
	serve_bg --log "$W/$1.log" --log-requests "$W/$1.reqlog" --map "$W/seed.img.map" \
		--store "$W/seed.img.store" "$W/seed.img"
	unset BLAZY_UBLK_PART_SCAN
	[ -n "$dev" ] || return 1
	sleep 1
	check "$1: blazy log --stop" blazy log --stop "$dev"
	check "$1: the request log has its header" grep -q '^# blazy request log 1 ' "$W/$1.reqlog"
	awk '$4 == "read" { printf "%.0f %.0f\n", $5 / 512, $6 / 512 }' "$W/$1.reqlog" >"$W/$1.reads"
	echo "$1: $(wc -l <"$W/$1.reads") read(s) of $dev during start:"
	grep -v '^#' "$W/$1.reqlog" | sed 's/^/    /' | head -20
}

# check_scan_reads NAME: every read lies below 16 KiB, inside the local region; none failed.
check_scan_reads() {
	over=$(awk -v l="$lend" '$1 * 512 + $2 * 512 > 16384 || $1 * 512 + $2 * 512 > l' "$W/$1.reads")
	check "$1: the scan reads only within the first 16 KiB (in the local region)" [ -z "$over" ]
	check "$1: the scan read something (sector 0 at least)" grep -q '^0 ' "$W/$1.reads"
	check "$1: no chunk read, warning or error in the server's log" \
		sh -c "! grep -qiE 'chunk |warning|error' '$W/$1.log'"
}

stop_dev() {
	check "$1: blazy stop" blazy stop "$dev"
	wait_until 10 dev_gone "$(dev_id "$dev")"
}

serve_logged scan BLAZY_UBLK_PART_SCAN=1
check "scan: the device comes up without its store" [ -n "$dev" ]
[ -n "$dev" ] || finish
check_scan_reads scan
# The lazy files really are unreadable (their chunks are gone): the scan did not need them.
check "scan: a lazy file's bytes fail to read (no store)" \
	sh -c "! dd if=$dev of=/dev/null bs=4096 iflag=skip_bytes,direct skip=$ioff count=1 2>/dev/null"
stop_dev scan

serve_logged default
check "default: the device comes up without its store" [ -n "$dev" ]
[ -n "$dev" ] || finish
flags=$(blazy list --json | tr '{' '\n' | grep "\"id\":$(dev_id "$dev")," | sed 's/.*"flags":\([0-9]*\).*/\1/')
if [ "$has_flag" = 1 ]; then
	check "default: the device has NO_AUTO_PART_SCAN (flags $flags)" [ $(((flags >> 18) & 1)) = 1 ]
	check "default: starting the device read nothing from it" [ ! -s "$W/default.reads" ]
else
	check "default: no NO_AUTO_PART_SCAN asked of a kernel without it (flags $flags)" \
		[ $(((flags >> 18) & 1)) = 0 ]
	check_scan_reads default
fi
stop_dev default
finish
