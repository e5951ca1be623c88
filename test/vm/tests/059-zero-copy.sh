#!/bin/sh
# Zero copy (serve --zero-copy, lib/ublk/zc.h): reads of the seed image's local region go from
# the image file straight into the request's pages where the kernel has AUTO_BUF_REG (7.x);
# on 6.12 the same reads take the copy path (the fallback). Either way:
#   - a file whose data is in the image, read through the seed device mounted read-only,
#     reads back identical to its source, at sizes from 4 KiB to 1 MiB, at odd byte offsets
#     (buffered) and 4 KiB-aligned ones (direct); the raw device over the local region (a
#     sparse image: mostly holes) reads back identical to the image;
#   - lazy (mapped) reads in the same run, interleaved, read back identical to their file
#     (those bytes are copied into the request by the server: user copy);
#   - the server of the (supervised) device is killed in the middle: the next server takes
#     the device over in the same mode, and every read after that is right too;
#   - `blazy status` says whether zero copy is in use (on where the kernel offers
#     AUTO_BUF_REG, else off) and counts the reads it served; with BLAZY_ZERO_COPY=off it
#     is off.
set -u
# zero copy is off by default: this test asks for it (serve and mount alike)
export BLAZY_ZERO_COPY=auto
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
M=/mnt/059
mkdir -p "$M"
# shellcheck disable=SC2317  # (runs from the trap)
cleanup_059() {
	rc=$?
	! grep -q " $M " /proc/mounts || umount "$M"
	(exit "$rc")
	ublk_cleanup
}
trap cleanup_059 EXIT

W=/tmp/059
rm -rf "$W"
mkdir -p "$W/src"
head -c $((24 << 20)) /dev/urandom >"$W/src/local.bin" # kept in the image (no --lazy)
check "mkseed (data in the image)" blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
head -c $((6 << 20)) /dev/urandom >"$W/lazy.bin"
voff=$(blazy map --json "$W/seed.img" "$W/lazy.bin" | sed 's/.*"device_offset":\([0-9]*\).*/\1/')
check "blazy map gives a device offset" [ -n "$voff" ]
img=$(stat -c %s "$W/seed.img") # sparse: wc would read it all
echo "image $img bytes, lazy file at $voff, kernel $(uname -r)"

# ublkfeat (test/vm/tools, GET_FEATURES) says whether the kernel offers AUTO_BUF_REG (bit 11)
# and USER_COPY (bit 7); without the tool the status is only checked against itself.
expect=""
if command -v ublkfeat >/dev/null; then
	kf=$(ublkfeat | cut -d' ' -f2)
	if [ $((${kf:-0} & 2176)) = 2176 ]; then expect=1; else expect=0; fi
fi

serve_bg --log "$W/serve.log" --recovery-timeout 30s "$W/seed.img"
check "blazy serve SEED prints the device" [ -n "$dev" ]
[ -n "$dev" ] || finish
n=$(dev_id "$dev")
wait_until 5 test -b "$dev"
check "mount the seed device read-only" mount -t btrfs -o ro "$dev" "$M"

zc_of() { blazy status --json "$dev" | sed 's/.*"zero_copy":\([0-9]*\).*/\1/'; }
zcr_of() { blazy status --json "$dev" | sed 's/.*"zero_copy_reads":\([0-9]*\).*/\1/'; }
zc=$(zc_of)
echo "zero copy: $zc (expected: ${expect:-unknown}); $(grep -o 'zero copy [a-z]*' "$W/serve.log" | head -1)"
[ -n "$expect" ] && check "status: zero copy $expect, as the kernel's features say" [ "$zc" = "$expect" ]
check "blazy status prints the zero copy line" sh -c "blazy status '$dev' | grep -q '^zero copy: *o[nf]'"

# rd MODE SRC OFF WANT WOFF LEN: SRC's LEN bytes at OFF (the device, or a file of the mount)
# against WANT's at WOFF; MODE buffered (page cache dropped first; any byte offset) or direct
# (4 KiB units)
bad=0 reads=0
rd() {
	if [ "$1" = buffered ]; then
		echo 3 >/proc/sys/vm/drop_caches
		dd if="$2" of="$W/got" bs=65536 iflag=skip_bytes,count_bytes skip="$3" count="$6" 2>"$W/err"
	else
		dd if="$2" of="$W/got" bs="$6" count=1 iflag=skip_bytes,direct skip="$3" 2>"$W/err"
	fi
	_rc=$?
	dd if="$4" of="$W/want" bs=65536 iflag=skip_bytes,count_bytes skip="$5" count="$6" 2>/dev/null
	reads=$((reads + 1))
	if [ "$_rc" != 0 ] || ! cmp -s "$W/got" "$W/want"; then
		bad=$((bad + 1))
		[ "$bad" -le 5 ] && echo "  $1 $2@$3 vs $4@$5 len $6: rc $_rc $(head -c 200 "$W/err" | tr '\n' ' ')"
	fi
}
# round SEED: reads of every size from 4 KiB to 1 MiB of the file in the image (through the
# mount), buffered at odd offsets and direct at aligned ones, one of the raw device over the
# local region, each followed by lazy reads of the same size (direct, and buffered at +512)
round() {
	_s=$1
	for len in 4096 8192 16384 65536 131072 262144 524288 1048576; do
		_s=$(((_s * 1103515245 + 12345) % 2147483648))
		o=$((_s % ((24 << 20) - len - 1)))
		[ $((o % 2)) = 0 ] && o=$((o + 1)) # odd
		rd buffered "$M/local.bin" "$o" "$W/src/local.bin" "$o" "$len"
		a=$((o / 4096 * 4096))
		rd direct "$M/local.bin" "$a" "$W/src/local.bin" "$a" "$len"
		a=$((_s % (img - len) / 4096 * 4096))
		rd direct "$dev" "$a" "$W/seed.img" "$a" "$len"
		lo=$((_s % ((6 << 20) - len) / 4096 * 4096))
		rd direct "$dev" $((voff + lo)) "$W/lazy.bin" "$lo" "$len"
		rd buffered "$dev" $((voff + lo + 512)) "$W/lazy.bin" $((lo + 512)) "$len"
	done
}
round 1
round 2
check "before the kill: $reads reads (local and lazy) identical" [ "$bad" = 0 ]
zcr=$(zcr_of)
echo "zero-copy reads so far: $zcr"
[ "$zc" = 1 ] && check "zero copy served reads of the local region ($zcr)" [ "${zcr:-0}" -gt 0 ]
[ "$zc" = 0 ] && check "no zero-copy reads without zero copy ($zcr)" [ "${zcr:-0}" = 0 ]

# kill the server in the middle of reads: its supervisor starts one that takes it over
pid=$(list_pid "$n")
dd if="$M/local.bin" of=/dev/null bs=1M iflag=direct 2>/dev/null &
kill -KILL "$pid"
wait
new_live() { _p=$(list_pid "$n"); [ -n "$_p" ] && [ "$_p" != "$pid" ] && blazy status "$dev" >/dev/null 2>&1; }
check "a new server took the device over after the kill" wait_until 30 new_live
ublk_pids="$ublk_pids $(list_pid "$n")"
check "the new server keeps the mode (zero copy $zc)" [ "$(zc_of)" = "$zc" ]
bad=0 reads=0
round 3
round 4
check "after the takeover: $reads reads identical" [ "$bad" = 0 ]
[ "$zc" = 1 ] && check "zero copy served reads after the takeover" [ "$(zcr_of)" -gt 0 ]
check "umount" umount "$M"
check "blazy stop" blazy stop "$dev"
check "the device is gone" wait_until 10 dev_gone "$dev"

# the switch: BLAZY_ZERO_COPY=off (and --zero-copy off) give the copy path
dev=""
export BLAZY_ZERO_COPY=off
serve_bg --no-supervise --log "$W/serve2.log" "$W/seed.img"
unset BLAZY_ZERO_COPY
check "serve with BLAZY_ZERO_COPY=off" [ -n "$dev" ]
if [ -n "$dev" ]; then
	wait_until 5 test -b "$dev"
	check "BLAZY_ZERO_COPY=off: zero copy off" [ "$(zc_of)" = 0 ]
	check "mount the seed device read-only" mount -t btrfs -o ro "$dev" "$M"
	bad=0 reads=0
	round 5
	check "copy path: $reads reads identical" [ "$bad" = 0 ]
	check "umount" umount "$M"
	check "blazy stop" blazy stop "$dev"
fi
dev=""
serve_bg --no-supervise --zero-copy off --log "$W/serve3.log" "$W/seed.img"
if [ -n "$dev" ]; then
	wait_until 5 test -b "$dev"
	check "--zero-copy off: zero copy off" [ "$(zc_of)" = 0 ]
	check "blazy stop" blazy stop "$dev"
fi
rm -rf "$W"
finish
