#!/bin/sh
# Request filters and the request log over ublk. The error filter with a trigger file on a
# 1 EiB null device: reads succeed, the file appears -> EIO, the file goes -> reads succeed.
# The delay filter adds the asked delay per read (against the same reads without it, within
# TCG noise). A null device's server answers `blazy status` and `blazy log` too, and
# `blazy map` refuses it. The request log of a seed server started and stopped on a running server
# (`blazy log`, the file passed over the control socket, outside the server's namespace):
# its lines are well-formed (`blazy trace` draws them), its totals per outcome and area
# match `blazy status`, and the statistics (sizes, alignments, percentiles) are there.
# `blazy mount --log-requests`: the mount's server logs its reads from its start (totals
# match its status), and `blazy upgrade` carries the log over (appended, times continued).
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
W=/tmp/100
rm -rf "$W"
mkdir -p "$W"

# read_at DEV BLOCK: one direct 4 KiB read of block BLOCK
read_at() {
	dd if="$1" of=/dev/null bs=4096 count=1 skip="$2" iflag=direct 2>"$W/dd.err"
}

# ---- the error filter, driven by a trigger file ----
trig=$W/trigger
serve_bg --backend null,size=1E --filter "error:rate=1,file=$trig" --queues 1 --log "$W/e.log"
check "serve null,size=1E --filter error:rate=1,file=..." [ -n "$dev" ]
[ -n "$dev" ] || finish
check "1 EiB" [ "$(blockdev --getsize64 "$dev")" = 1152921504606846976 ]
check "reads succeed without the trigger file" read_at "$dev" 100
touch "$trig"
sleep 0.2
check "the file appears: reads fail" sh -c "! dd if=$dev of=/dev/null bs=4096 count=1 skip=200 iflag=direct 2>$W/dd.err"
check "with EIO" grep -q "Input/output error" "$W/dd.err"
check "far out too" sh -c "! dd if=$dev of=/dev/null bs=4096 count=1 skip=100000000000 iflag=direct 2>/dev/null"
rm -f "$trig"
sleep 0.2
check "the file goes: reads succeed again" read_at "$dev" 300
check "blazy stop" blazy stop "$dev"
check "a bad filter is misuse (exit 2)" sh -c "blazy serve --backend null,size=1G --filter error:rate=2 >/dev/null 2>&1; [ \$? = 2 ]"

# ---- the delay filter: N direct reads, with and without ----
time_reads() { # DEV N: centiseconds for N direct 4 KiB reads, one after another
	_t0=$(now_cs)
	_i=0
	while [ "$_i" -lt "$2" ]; do
		read_at "$1" $((_i * 7 + 1)) || return 1
		_i=$((_i + 1))
	done
	echo $(($(now_cs) - _t0))
}
N=20
serve_bg --backend null,size=1G --queues 1
base=$(time_reads "$dev" $N)
# a test backend's server answers on its control socket too: its status and its log
check "blazy status of a null device" sh -c "blazy status --json $dev >$W/null0.json"
blazy status "$dev" >"$W/null0.txt"
check "its status says it has no seed" grep -q '^seed: *none (a test backend)' "$W/null0.txt"
check "its status has no seed's lines (image, lazy, store, map)" \
	sh -c "! grep -Eq '^(  from image|  lazy|store|map):' '$W/null0.txt'"
check "blazy log --start on a null device" blazy log --start "$W/null.log" "$dev"
for b in 3 5 7 9 11; do read_at "$dev" "$b"; done
nlog=$(blazy log --stop "$dev")
check "blazy log --stop on a null device ($nlog)" [ -n "$nlog" ]
nreads=$(grep -c ' read [0-9]* 4096 - ok ' "$W/null.log")
echo "info: null device's log: $nlog; $nreads 4 KiB reads logged"
check "its log holds the 5 direct reads (and what the kernel read besides)" [ "$nreads" -ge 5 ]
check "as many lines as blazy log said" [ "$(($(wc -l <"$W/null.log") - 1)) lines, 0 dropped" = "$nlog" ]
okn() { sed 's/.*"latency":{//' | tr '}' '\n' | grep '"ok":' | sed 's/.*"count":\([0-9]*\).*/\1/'; }
r0=$(okn <"$W/null0.json")
r1=$(blazy status --json "$dev" | okn)
echo "info: null device's status: $r0 requests served ok before the log, $r1 after"
check "its status counts the logged requests" [ "$((r1 - r0))" -ge "$nreads" ]
echo data >"$W/m.txt"
blazy map "$dev" "$W/m.txt" >/dev/null 2>"$W/map.err"
mrc=$?
echo "info: blazy map on the null device: $(cat "$W/map.err")"
check "blazy map refuses a null device: exit 1 ($mrc), 'is not a seed server'" sh -c "[ $mrc = 1 ] && grep -q 'is not a seed server' $W/map.err"
blazy stop "$dev" >/dev/null
serve_bg --backend null,size=1G --queues 1 --filter delay:ms=100
slow=$(time_reads "$dev" $N)
blazy stop "$dev" >/dev/null
added=$(( (slow - base) * 10 / N )) # ms per read
echo "info: $N reads: ${base}0 ms without the filter, ${slow}0 ms with delay:ms=100: +$added ms each"
check "delay:ms=100 adds 100 ms a read (80..160 ms)" [ "$added" -ge 80 ] && [ "$added" -le 160 ]

# ---- the request log of a running seed server ----
mkdir -p "$W/src"
dd if=/dev/urandom of="$W/src/a.bin" bs=65536 count=32 2>/dev/null
dd if=/dev/urandom of="$W/src/b.bin" bs=4096 count=3 2>/dev/null
check "mkseed --lazy" blazy mkseed -q --lazy --virtual-size 1E --rootdir "$W/src" "$W/seed.img"
serve_bg --log "$W/s.log" --queues 2 "$W/seed.img"
check "serve the seed" [ -n "$dev" ]
[ -n "$dev" ] || finish
mkdir -p /run/100-elsewhere # a directory the server's namespace was not given
st0=$(blazy status --json "$dev") # the log counts from its start, the server from its own
check "blazy log --start" blazy log --start /run/100-elsewhere/req.log "$dev"
check "a second start is refused" sh -c "! blazy log --start $W/x.log $dev 2>/dev/null"
# a workload: the superblock, the whole device's first MiB, direct and buffered reads
dd if="$dev" of=/dev/null bs=4096 count=256 iflag=direct 2>/dev/null
dd if="$dev" of=/dev/null bs=65536 count=64 skip=1 2>/dev/null
voff=$(blazy inspect --json "$W/seed.img" | sed 's/.*"virtual":{"offset":\([0-9]*\).*/\1/')
vblk=$((voff / 4096 + 262144)) # 1 GiB into the virtual area: unmapped
dd if="$dev" of=/dev/null bs=4096 count=1 skip=$vblk iflag=direct 2>/dev/null
st=$(blazy status --json "$dev")
out=$(blazy log --stop "$dev")
echo "info: blazy log --stop: $out"
check "stop says lines and dropped" sh -c "echo '$out' | grep -Eq '^[0-9]+ lines, 0 dropped$'"
check "a second stop is an error" sh -c "! blazy log --stop $dev 2>/dev/null"
L=/run/100-elsewhere/req.log
head -n 3 "$L"
lines=$(($(wc -l <"$L") - 1))
check "the log has the lines stop counted ($lines)" [ "$lines" = "$(echo "$out" | cut -d' ' -f1)" ]
check "blazy trace draws it (strict parse)" blazy trace --svg "$W/t.svg" "$L"
# totals: per outcome and per area, the log against the status
lat() { echo "$1" | sed "s/.*\"latency\":{//" | tr '}' '\n' | grep "\"$2\":" | sed 's/.*"count":\([0-9]*\).*/\1/'; }
areab() { echo "$1" | sed 's/.*"area_bytes":{\([^}]*\)}.*/\1/' | tr ',' '\n' | grep "^\"$2\":" | cut -d: -f2; }
for o in ok zero image cache fetch unmapped error; do
	n=$(awk -v o="$o" 'NR > 1 && $8 == o { n++ } END { print n + 0 }' "$L")
	check "log and status agree on $o ($n)" [ "$n" = $(($(lat "$st" "$o") - $(lat "$st0" "$o"))) ]
done
for a in local gap; do
	n=$(awk -v a="$a" 'NR > 1 && $4 == "read" && $7 == a && $8 != "unmapped" && $8 != "error" { n += $6 } END { printf "%.0f\n", n }' "$L")
	check "log and status agree on $a bytes ($n)" [ "$n" = $(($(areab "$st" "$a") - $(areab "$st0" "$a"))) ]
done
check "the reads are in the log as read requests" [ "$(awk 'NR > 1 && $4 == "read"' "$L" | wc -l)" -gt 10 ]
check "the unmapped read is in the log: virtual, unmapped" sh -c "awk 'NR > 1 && \$5 == $((vblk * 4096))' $L | grep -q ' virtual unmapped '"
check "status has the log's line count" [ "$(echo "$st" | sed 's/.*"log":{\([^}]*\)}.*/\1/' | grep -c '"active":1')" = 1 ]
blazy status "$dev" | grep -E '^(read sizes|alignments|area bytes|latency|request log)'
check "status shows latency percentiles" sh -c "blazy status $dev | grep -Eq '^latency image +[0-9]+ requests: p50 .*, p90 .*, p99 .*, max '"
check "blazy stop" blazy stop "$dev"

# ---- blazy mount --log-requests: the server the mount starts logs from its start ----
M=/tmp/100-mnt
export BLAZY_STATE_DIR=$W/state
mkdir -p "$M"
trap blazy_mount_cleanup EXIT
ML=$W/mount-req.log
check "blazy mount --log-requests" blazy mount -q --log-requests "$ML" "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 256M
mdev=$(grep '^ublk=' "$W"/state/*.state | cut -d= -f2)
check "the mount has a device ($mdev)" [ -n "$mdev" ]
[ -n "$mdev" ] || finish
cmp -s "$M/a.bin" "$W/src/a.bin" || fail "a.bin reads back wrong"
sleep 1 # the writer writes every 20 ms
mst=$(blazy status --json "$mdev")
before=$(($(wc -l <"$ML") - 1))
check "the log has lines for the mount's own reads ($before)" [ "$before" -gt 10 ]
check "among them the lazy file's (import area)" sh -c "awk 'NR > 1 && \$7 == \"import\"' $ML | grep -q ."
total=0
for o in ok zero image cache fetch unmapped error; do
	n=$(awk -v o="$o" 'NR > 1 && $8 == o { n++ } END { print n + 0 }' "$ML")
	total=$((total + n))
	check "mount: log and status agree on $o ($n)" [ "$n" = "$(lat "$mst" "$o")" ]
done
# blazy upgrade carries the log over: the new server appends, its times continuing
last=$(tail -n 1 "$ML" | cut -d' ' -f1)
check "blazy upgrade" blazy upgrade "$M"
cmp -s "$M/b.bin" "$W/src/b.bin" || fail "b.bin reads back wrong after the upgrade"
sleep 1
mst=$(blazy status --json "$mdev")
after=$(($(wc -l <"$ML") - 1))
new=0
for o in ok zero image cache fetch unmapped error; do new=$((new + $(lat "$mst" "$o"))); done
check "after the upgrade: still one header" [ "$(grep -c '^#' "$ML")" = 1 ]
check "the new server's requests appended ($before + $new = $after)" [ $((before + new)) = "$after" ]
check "their times continue the log's ($last)" [ "$(sed -n "$((before + 2))p" "$ML" | cut -d' ' -f1)" -gt "$last" ]
check "blazy trace draws the whole log" blazy trace --svg "$W/m.svg" "$ML"
check "blazy umount" blazy umount "$M"
finish
