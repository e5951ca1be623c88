#!/bin/sh
# Boundary reads through the raw device: mapped ranges with unmapped space on both sides
# (blazy map, then the records between them cut out of the map with mapcut), whose edges sit
# at every alignment from 4 KiB (map records are 4 KiB-aligned) to 2 MiB, each edge read in
# windows of 512 B, 4 KiB, the edge's alignment and 2 MiB (so every power of two from 512 B
# to 2 MiB is a window or an alignment), buffered (page cache dropped before each read) and direct
# (windows of 4 KiB and more, the device's logical block size):
#   - the mapped side of an edge reads back identical, the unmapped side fails with EIO;
#   - a buffered read that runs from mapped into unmapped bytes returns every mapped byte
#     before it fails; a direct one fails or returns only identical mapped bytes;
#   - a read that starts unmapped fails, and the read after it is not affected.
# On kernels whose page cache reads large folios (7.x), one device request spans both sides
# of an edge: the server completes the mapped prefix as a short read.
# Then all of it again with zero copy asked for (serve --zero-copy auto: AUTO_BUF_REG with
# USER_COPY). There the kernel copies nothing, and 7.3 ends a request in full whatever short
# count the server commits: the server fails such a request as a whole instead (never the
# bytes the request's pages held), so a direct read across an edge fails, and the buffered
# checks hold as long as no single request spans an edge. The pass is skipped, saying so,
# where the kernel has no AUTO_BUF_REG (6.12), and fails where it has but the server did not
# use it (ublkfeat).
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
command -v mapcut >/dev/null || skip "mapcut is not in the image (test/vm/tools; run.sh --extra)"

W=/tmp/052
rm -rf "$W"
mkdir -p "$W/src"
echo boundary >"$W/src/x"
check "mkseed" blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
json=$(blazy inspect --json "$W/seed.img")
voff=$(echo "$json" | sed 's/.*"virtual":{"offset":\([0-9]*\).*/\1/')

MIB2=2097152
# next_at N A: the smallest offset >= N + 2 MiB aligned to exactly A (a multiple of A, not of 2A)
next_at() {
	_x=$((($1 + MIB2 + $2 - 1) / $2 * $2))
	[ $((_x % ($2 * 2))) = 0 ] && _x=$((_x + $2))
	echo "$_x"
}
# map_one FILE: maps FILE (offline, into SEED.map) and prints its device offset
map_one() {
	blazy map --json "$W/seed.img" "$1" | sed 's/.*"device_offset":\([0-9]*\).*/\1/'
}

# For each alignment A: a pad (cut out of the map later) so that the mapped file starts at
# an offset aligned to exactly A, then the mapped file, sized so that it ends at one too.
# Each side of every edge has at least 2 MiB of mapped or unmapped bytes.
next=$voff cuts="" edges="" a=4096 i=0
while [ "$a" -le "$MIB2" ]; do
	s=$(next_at "$next" "$a")
	head -c $((s - next)) /dev/zero >"$W/pad"
	got=$(map_one "$W/pad")
	[ "$got" = "$next" ] || fail "pad $i mapped at $got, not at the high-water mark $next"
	cuts="$cuts $next:$((s - next))"
	e=$(next_at "$s" "$a")
	head -c $((e - s)) /dev/urandom >"$W/m$i"
	got=$(map_one "$W/m$i")
	[ "$got" = "$s" ] || fail "file $i mapped at $got, not at $s"
	edges="$edges $i:$s:$e:$a"
	next=$e
	a=$((a * 2))
	i=$((i + 1))
done
rm -f "$W/pad"
# shellcheck disable=SC2086
check "mapcut cuts the pads out of the map" mapcut "$W/seed.img.map" "$W/cut.map" $cuts
mv "$W/cut.map" "$W/seed.img.map"

# Thousands of expected I/O errors: off the (slow, serial) console; kept in the kernel log.
loglevel=$(cut -f1 /proc/sys/kernel/printk)
dmesg -n 1

# serve_edges ARGS...: `blazy serve ARGS SEED` in the background, and the device checked
serve_edges() {
	rm -f "$W/serve.log"
	serve_bg --log "$W/serve.log" "$@" "$W/seed.img"
	check "blazy serve ${*:+$* }SEED prints the device" [ -n "$dev" ]
	[ -n "$dev" ] || finish
	check "$dev is a block device" wait_until 5 test -b "$dev"
	check "the device does not read ahead (read_ahead_kb 0)" \
		[ "$(cat "/sys/block/${dev#/dev/}/queue/read_ahead_kb")" = 0 ]
	echo "device $dev, kernel $(uname -r); edges (file:start:end:alignment):$edges"
}

# rd MODE OFF LEN BS OUT: dd from the device; MODE buffered (the page cache dropped first)
# or direct (one read of LEN bytes). Its status; its messages in $W/err.
rd() {
	if [ "$1" = buffered ]; then
		blockdev --flushbufs "$dev"
		dd if="$dev" of="$5" bs="$4" iflag=skip_bytes,count_bytes skip="$2" count="$3" 2>"$W/err"
	else
		dd if="$dev" of="$5" bs="$3" count=1 iflag=skip_bytes,direct skip="$2" 2>"$W/err"
	fi
}
# want FILE OFF LEN: those bytes of a mapped file, into $W/want
want() {
	dd if="$1" of="$W/want" bs=65536 iflag=skip_bytes,count_bytes skip="$2" count="$3" 2>/dev/null
}
is_eio() { grep -qiE 'i/o error|input/output error' "$W/err"; }
size() { wc -c <"$1" | tr -d ' '; }

# Failures are counted per kind; the first few of each are shown.
report() { # KIND DETAIL
	eval "_n=\$bad_$1"
	[ "$_n" -lt 5 ] && echo "  $1: $2 ($(head -c 200 "$W/err" | tr '\n' ' '))"
	eval "bad_$1=\$((_n + 1))"
}

# edge_checks LABEL: every edge in every window, buffered and direct, through $dev; then
# the verdicts (each starting with LABEL), the status, and the device stopped.
edge_checks() {
	bad_mapped=0 bad_unmapped=0 bad_straddle=0 bad_after=0
	reads=0
	for edge in $edges; do
		IFS=: read -r i s e a <<EOF
$edge
EOF
		f=$W/m$i
		len=$((e - s))
		for mode in buffered direct; do
			for w in $(echo 512 4096 "$a" "$MIB2" | tr ' ' '\n' | sort -nu); do
				[ "$mode" = direct ] && [ "$w" -lt 4096 ] && continue
				reads=$((reads + 6))
				at="$mode w=$w file $i A=$a"
				# The start edge: unmapped before it, mapped after it.
				if rd "$mode" $((s - w)) "$w" "$w" "$W/got" || ! is_eio || [ "$(size "$W/got")" != 0 ]; then
					report unmapped "$at: [start-w, start) did not fail with EIO"
				fi
				if rd "$mode" $((s - w)) $((2 * w)) "$w" "$W/got" || ! is_eio || [ "$(size "$W/got")" != 0 ]; then
					report straddle "$at: [start-w, start+w) did not fail with EIO at once"
				fi
				want "$f" 0 "$w"
				if ! rd "$mode" "$s" "$w" "$w" "$W/got" || ! cmp -s "$W/got" "$W/want"; then
					report after "$at: [start, start+w) after a failed read is not identical"
				fi
				# The end edge: mapped before it, unmapped after it.
				want "$f" $((len - w)) "$w"
				if ! rd "$mode" $((e - w)) "$w" "$w" "$W/got" || ! cmp -s "$W/got" "$W/want"; then
					report mapped "$at: [end-w, end) is not identical"
				fi
				if rd "$mode" "$e" "$w" "$w" "$W/got" || ! is_eio || [ "$(size "$W/got")" != 0 ]; then
					report unmapped "$at: [end, end+w) did not fail with EIO"
				fi
				# Across the end edge: every mapped byte (buffered: all w of them, read with
				# bs=w) or an identical prefix (direct: one read, failed as a whole or
				# short), then EIO.
				ok=1
				rd "$mode" $((e - w)) $((2 * w)) "$w" "$W/got" && ok=0
				is_eio || ok=0
				n=$(size "$W/got")
				if [ "$mode" = buffered ] && [ "$n" != "$w" ]; then
					ok=0
				elif [ "$n" -gt "$w" ]; then
					ok=0
				elif [ "$n" -gt 0 ] && ! head -c "$n" "$W/want" | cmp -s - "$W/got"; then
					ok=0
				fi
				[ "$ok" = 1 ] || report straddle "$at: [end-w, end+w) gave $n bytes, status/bytes wrong"
			done
		done
	done
	echo "$1$reads reads"
	check "$1mapped bytes next to unmapped ones read back identical" [ "$bad_mapped" = 0 ]
	check "$1the bytes after a failed read read back identical" [ "$bad_after" = 0 ]
	check "$1unmapped bytes fail with EIO" [ "$bad_unmapped" = 0 ]
	check "$1reads across an edge: the mapped bytes, then EIO" [ "$bad_straddle" = 0 ]
	st=$(blazy status --json "$dev")
	check "$1status counts unmapped reads" sh -c "echo '$st' | grep -q '\"unmapped\":[1-9]'"
	check "$1blazy stop" blazy stop "$dev"
	grep -v '^$' "$W/serve.log" | tail -n 5
}

serve_edges
edge_checks ""

# Again with zero copy asked for. Where the kernel offers AUTO_BUF_REG and USER_COPY
# (ublkfeat, GET_FEATURES bits 11 and 7) the server must use them; where it does not (6.12),
# the pass is skipped, saying so.
offered=""
if command -v ublkfeat >/dev/null; then
	kf=$(ublkfeat | cut -d' ' -f2)
	if [ $((${kf:-0} & 2176)) = 2176 ]; then offered=1; else offered=0; fi
fi
serve_edges --zero-copy auto
zc=$(blazy status --json "$dev" | sed 's/.*"zero_copy":\([0-9]*\).*/\1/')
echo "zero copy: $zc (the kernel offers AUTO_BUF_REG and USER_COPY: ${offered:-unknown})"
if [ -n "$offered" ]; then
	check "zero copy is on exactly where the kernel offers it" [ "$zc" = "$offered" ]
fi
if [ "$zc" = 1 ]; then
	edge_checks "zero copy: "
else
	echo "zero copy: its pass is skipped: kernel $(uname -r) has no AUTO_BUF_REG"
	check "blazy stop" blazy stop "$dev"
fi
dmesg -n "$loglevel"
finish
