#!/bin/sh
# VM side of bench/vm-e2e (busybox sh, run by the VM harness as a "test").
#
# 1. Mount time: for the default 1P and for a 4E virtual area, mkseed a small tree, then time
#    `blazy mount` from nothing (no server, no backing file) to a usable mount point (stat of
#    /.blazy/virtual and a small write), its umount, and a second mount of the existing sprout.
# 2. Reads: fio 4 KiB random reads (direct=1; io_uring at iodepth 32, and psync) of the same
#    FILE_MIB file of random bytes on three btrfs filesystems mounted side by side:
#      blazy  `blazy mount` of a 1P seed (its own server, default options), the file made with
#             `blazy map --clone` and read once (direct) so the server's chunk cache is warm
#      brd    mkfs.btrfs on /dev/ram0, mounted with nodatasum like blazy's sprout, the file
#             copied in (so its extents are local and have no checksums either)
#      nbd    a second sprout of the same seed whose seed device is /dev/nbd0: the file is
#             cloned from the same range of /.blazy/virtual as in "blazy", the sprout is left by
#             `blazy umount`, and the seed device is the device blazy would present (the seed
#             image's data regions and the mapped bytes at their device offsets, in a sparse
#             file on tmpfs) served by `nbdkit file` over a Unix socket and attached with
#             `nbd-client -connections Q` (Q = the blazy server's queues); mounted with
#             `-o device=/dev/nbd0,nodatasum`. Same file, same extents, same btrfs code; only
#             the seed's block device differs.
#    Each fio run has an uncounted ramp (--ramp_time); the order of the targets rotates from
#    one repetition to the next. Over a window inside each run the script reads the server's
#    utime+stime (/proc/PID/stat: blazy's seed server, or nbdkit) and the machine's busy time
#    (/proc/stat), which with fio's IOPS give the CPU time per I/O.
#
# Parameters (kernel command line, set by bench/vm-e2e --append):
#   vme2e.runtime=S (5, at least 2)  vme2e.ramp=S (2)  vme2e.reps=N (3)  vme2e.file_mib=M (192)
#   vme2e.mount_reps=N (3)
# Prints "vm-e2e-run:" lines per run and a final block of "vm-e2e:" lines (medians) that the
# host script extracts. Exit 0 when everything ran (targets are reported, not enforced).
set -u
. /bench/vm-lib.inc

runtime=5 ramp=2 reps=3 file_mib=192 mount_reps=3
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	vme2e.runtime=*) runtime=${arg#*=} ;;
	vme2e.ramp=*) ramp=${arg#*=} ;;
	vme2e.reps=*) reps=${arg#*=} ;;
	vme2e.file_mib=*) file_mib=${arg#*=} ;;
	vme2e.mount_reps=*) mount_reps=${arg#*=} ;;
	esac
done
[ "$runtime" -ge 2 ] || runtime=2
# targets from the issue: blazy >= 0.9 x btrfs on brd, >= 2 x nbdkit
T_BRD=0.9 T_NBD=2

W=/tmp/vm-e2e
MB=/mnt/blazy MR=/mnt/brd MN=/mnt/nbd MP=/mnt/nbdprep MT=/mnt/timing
NBDIMG=/dev/shm/nbd-seed.img
export BLAZY_STATE_DIR=$W/state
nbd_loop="" nbdkit_pid="" nbd_attached=0

die() {
	echo "vm-e2e: error: $*"
	exit 1
}

# shellcheck disable=SC2317  # (cleanup runs from the trap)
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	for m in $MN $MR; do
		! grep -q " $m " /proc/mounts || umount "$m" || echo "vm-e2e: umount $m failed"
	done
	[ -z "$nbd_loop" ] || losetup -d "$nbd_loop" 2>/dev/null || echo "vm-e2e: losetup -d $nbd_loop failed"
	[ "$nbd_attached" = 0 ] || nbd-client -d /dev/nbd0 >/dev/null 2>&1 || echo "vm-e2e: nbd-client -d failed"
	if [ -n "$nbdkit_pid" ]; then
		kill "$nbdkit_pid" 2>/dev/null
		wait_for 10 sh -c "! [ -d /proc/$nbdkit_pid ]" || kill -KILL "$nbdkit_pid" 2>/dev/null
	fi
	for m in $MP $MT $MB; do
		! grep -q " $m " /proc/mounts || blazy umount -q "$m" >/dev/null 2>&1 || echo "vm-e2e: blazy umount $m failed"
	done
	modprobe -r brd 2>/dev/null
	rm -rf "$W" /dev/shm/vm-e2e-* "$NBDIMG"
	left=$(grep -E " ($MB|$MR|$MN|$MP|$MT) " /proc/mounts)
	[ -z "$left" ] || { echo "vm-e2e: error: still mounted: $left"; rc=1; }
	left=$(ls /sys/class/ublk-char 2>/dev/null)
	[ -z "$left" ] || { echo "vm-e2e: error: ublk devices left behind: $left"; rc=1; }
	left=$(losetup -a 2>/dev/null)
	[ -z "$left" ] || { echo "vm-e2e: error: loop devices left behind: $left"; rc=1; }
	left=$(pidof blazy nbdkit)
	[ -z "$left" ] || { echo "vm-e2e: error: processes left behind: $left"; rc=1; }
	[ "$(cat /sys/block/nbd0/size 2>/dev/null || echo 0)" = 0 ] || { echo "vm-e2e: error: /dev/nbd0 still attached"; rc=1; }
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

state_get() { # MOUNTPOINT KEY -> the value in blazy's state file for that mount point
	grep "^$2=" "$BLAZY_STATE_DIR/mnt-${1#/mnt/}.state" | cut -d= -f2
}

# ---- 1. mount time --------------------------------------------------------------------------
for t in fio mkfs.btrfs nbdkit nbd-client clonetool sparsecopy; do
	command -v "$t" >/dev/null || die "$t is missing (the host passes it with --extra)"
done
[ -c /dev/ublk-control ] || die "no /dev/ublk-control (ublk_drv not loaded)"
[ -b /dev/nbd0 ] || die "no /dev/nbd0 (nbd not loaded)"
rm -rf "$W"
mkdir -p "$W/src/d" "$W/state" "$MB" "$MR" "$MN" "$MP" "$MT" || die "mkdir"
echo hello >"$W/src/hello"
for i in 1 2 3 4 5 6 7 8; do
	head -c $((i * 1000)) /dev/urandom >"$W/src/d/f$i"
done
echo "vm-e2e: $(nproc) cpus, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo); $(fio --version);" \
	"$(nbdkit --version); runtime ${runtime}s after a ${ramp}s ramp, $reps rep(s), file ${file_mib} MiB," \
	"$mount_reps mount rep(s)"

: >"$W/mounts"
rep=1
while [ "$rep" -le "$mount_reps" ]; do
	for vs in 1P 4E; do
		s=$W/t-$vs.img
		rm -rf "$s" "$s.map" "$s.store" "/dev/shm/vm-e2e-t-$vs.img" "$W/state/mnt-timing.state"
		t0=$(now)
		blazy mkseed -q --virtual-size "$vs" --rootdir "$W/src" "$s" || die "mkseed --virtual-size $vs"
		tm=$(now)
		# where the time goes (each also done by mount): reading the whole seed, starting a server
		blazy inspect "$s" >/dev/null || die "blazy inspect ($vs)"
		ti=$(now)
		d=$(blazy serve "$s") || die "blazy serve ($vs)"
		ts=$(now)
		blazy stop "$d" >/dev/null || die "blazy stop $d"
		wait_for 10 sh -c "[ -z \"\$(pidof blazy)\" ]" || die "the server of $d did not exit"
		t1=$(now)
		blazy mount -q "$s" "$MT" --rw "/dev/shm/vm-e2e-t-$vs.img" --rw-size 256M || die "blazy mount ($vs)"
		t2=$(now)
		{ stat "$MT/.blazy/virtual" >/dev/null && echo written >"$MT/probe"; } || die "$MT is not usable ($vs)"
		t3=$(now)
		blazy umount -q "$MT" || die "blazy umount ($vs)"
		t4=$(now)
		blazy mount -q "$s" "$MT" --rw "/dev/shm/vm-e2e-t-$vs.img" || die "blazy mount again ($vs)"
		{ stat "$MT/.blazy/virtual" >/dev/null && [ "$(cat "$MT/probe")" = written ]; } || die "$MT is not usable again ($vs)"
		t5=$(now)
		blazy umount -q "$MT" || die "blazy umount ($vs)"
		echo "$rep $vs $(elapsed "$t0" "$tm") $(elapsed "$t1" "$t2") $(elapsed "$t1" "$t3") $(elapsed "$t3" "$t4") $(elapsed "$t4" "$t5") $(elapsed "$tm" "$ti") $(elapsed "$ti" "$ts")" >>"$W/mounts"
		tail -n 1 "$W/mounts" | awk '{ printf "vm-e2e-mount: rep=%s virtual=%s mkseed=%.2fs mount=%.2fs usable=%.2fs umount=%.2fs remount_usable=%.2fs inspect=%.2fs serve=%.2fs\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
		rm -rf "$s" "$s.map" "$s.store" "/dev/shm/vm-e2e-t-$vs.img"
	done
	rep=$((rep + 1))
done

# ---- 2. set up the three filesystems --------------------------------------------------------
size=$((file_mib * 1048576))
blazy mkseed -q --rootdir "$W/src" "$W/seed.img" || die "blazy mkseed"
blazy mount -q "$W/seed.img" "$MB" --rw /dev/shm/vm-e2e-rw-blazy.img --rw-size 256M || die "blazy mount"
# (the pid from the kernel: the state file's server_pid can be 0, see bench/README.md)
blazy_dev=$(state_get "$MB" ublk)
blazy_pid=$(list_pid "${blazy_dev#/dev/ublkb}")
{ [ -n "$blazy_pid" ] && [ "$blazy_pid" != 0 ] && [ -d "/proc/$blazy_pid" ]; } || die "no server pid for $MB ($blazy_dev)"
[ "$(state_get "$MB" server_pid)" = "$blazy_pid" ] ||
	echo "vm-e2e: note: blazy mount's state file says server_pid=$(state_get "$MB" server_pid), the kernel $blazy_pid"
t0=$(now)
dd if=/dev/urandom of="$W/big" bs=1M count="$file_mib" 2>/dev/null || die "dd /dev/urandom"
t1=$(now)
mj=$(blazy map --clone --json "$MB/big" "$W/big") || die "blazy map --clone"
t2=$(now)
voff=$(json_field "$mj" offset) doff=$(json_field "$mj" device_offset)
{ [ -n "$voff" ] && [ -n "$doff" ]; } || die "no offsets in: $mj"
[ "$(stat -c %s "$MB/big")" = "$size" ] || die "$MB/big is not $size bytes"
queues=$(blazy status --json "$blazy_dev" | grep -o '"writes_refused"' | wc -l)
echo "vm-e2e: blazy: $blazy_dev (server pid $blazy_pid, $queues queues), map --clone of ${file_mib} MiB in" \
	"$(elapsed "$t1" "$t2") s (urandom $(elapsed "$t0" "$t1") s): /.blazy/virtual offset $voff, device offset $doff"
t0=$(now)
dd if="$MB/big" of=/dev/null bs=1M iflag=direct 2>/dev/null || die "warming $MB/big failed"
t1=$(now)
st0=$(blazy status --json "$blazy_dev") || die "blazy status"
echo "vm-e2e: blazy: read $MB/big once (direct) in $(elapsed "$t0" "$t1") s to warm the server's chunk cache:" \
	"store_reads=$(json_field "$st0" store_reads) cache_hits=$(json_field "$st0" cache_hits)"

# brd: btrfs on a ramdisk, the same bytes copied in
_out=$(brd_btrfs "$file_mib" "$MR") || die "$_out"
cp "$W/big" "$MR/big" || die "copy to $MR"
sync

# nbd: a second sprout of the seed with the same range cloned; then its seed device over NBD
# (btrfs 6.17+ holds a seed device for the filesystem that mounts it: a second sprout of the
# same seed device is refused with EBUSY; then nbd is not measured, said so)
nbd=1
if ! blazy mount -q "$W/seed.img" "$MP" --rw /dev/shm/vm-e2e-rw-nbd.img --rw-size 256M 2>"$W/mp.err"; then
	grep -q 'busy' "$W/mp.err" || { cat "$W/mp.err"; die "blazy mount (second sprout)"; }
	echo "vm-e2e: nbd: not measured: kernel $(uname -r) refuses a second sprout of a mounted seed device ($(cat "$W/mp.err"))"
	[ -d "/proc/$blazy_pid" ] || die "the refused second mount stopped the server of $MB"
	nbd=0
fi
if [ "$nbd" = 1 ]; then
	[ "$(state_get "$MP" ublk)" = "$blazy_dev" ] || die "the second mount did not use the running server"
	clonetool "$MP/.blazy/virtual" "$voff" "$size" "$MP/big" || die "clonetool"
	sync
	blazy umount -q "$MP" || die "blazy umount $MP"
	[ -d "/proc/$blazy_pid" ] || die "blazy umount $MP stopped the server of $MB"
	devsize=$(json_field "$(blazy inspect --json "$W/seed.img")" device_size)
	[ -n "$devsize" ] || die "blazy inspect gave no device_size"
	rm -f "$NBDIMG"
	truncate -s "$devsize" "$NBDIMG" || die "truncate $NBDIMG"
	local_bytes=$(sparsecopy "$W/seed.img" "$NBDIMG") || die "sparsecopy"
	dd if="$W/big" of="$NBDIMG" bs=1M seek="$doff" oflag=seek_bytes conv=notrunc 2>/dev/null || die "dd into $NBDIMG"
	echo "vm-e2e: nbd: $NBDIMG: $devsize bytes (sparse): $local_bytes bytes of the seed image, ${file_mib} MiB at $doff"
	nbdkit -U "$W/nbd.sock" -P "$W/nbdkit.pid" -r file file="$NBDIMG" || die "nbdkit"
	wait_for 10 test -s "$W/nbdkit.pid" || die "nbdkit wrote no pid file"
	nbdkit_pid=$(cat "$W/nbdkit.pid")
	nbd-client -unix "$W/nbd.sock" /dev/nbd0 -connections "$queues" -block-size 4096 -readonly -name "" >"$W/nbd-client.out" 2>&1 ||
		{ cat "$W/nbd-client.out"; die "nbd-client"; }
	nbd_attached=1
	# shellcheck disable=SC2016  # (the inner shell expands it)
	wait_for 10 sh -c '[ "$(cat /sys/block/nbd0/size)" != 0 ]' || die "/dev/nbd0 has no size"
	[ "$(blockdev --getsize64 /dev/nbd0)" = "$devsize" ] || die "/dev/nbd0 is not $devsize bytes"
	nbd_loop=$(losetup -f) || die "no free loop device"
	losetup "$nbd_loop" /dev/shm/vm-e2e-rw-nbd.img || die "losetup $nbd_loop"
	mount -t btrfs -o device=/dev/nbd0,nodatasum "$nbd_loop" "$MN" || { dmesg | tail -n 20; die "mount the nbd sprout"; }
	echo "vm-e2e: nbd: nbdkit pid $nbdkit_pid, /dev/nbd0 ($queues connections, $(cat /sys/block/nbd0/queue/logical_block_size) B blocks)," \
		"sprout on $nbd_loop mounted on $MN; blazy's ublk logical block $(cat "/sys/block/${blazy_dev#/dev/}/queue/logical_block_size") B"
	dd if="$MN/big" of=/dev/null bs=1M iflag=direct 2>/dev/null || die "reading $MN/big failed"
fi

# the three files hold the same bytes
if [ "$nbd" = 1 ]; then
	_out=$(same_bytes "$W/big" "$MB/big" "$MR/big" "$MN/big") || die "$_out"
else
	_out=$(same_bytes "$W/big" "$MB/big" "$MR/big") || die "$_out"
fi
st0=$(blazy status --json "$blazy_dev") || die "blazy status"
echo "vm-e2e: the three files are identical; blazy server before the runs: store_reads=$(json_field "$st0" store_reads)" \
	"cache_hits=$(json_field "$st0" cache_hits); memory: $(awk '/MemAvailable/ { print int($2 / 1024) " MiB available" }' /proc/meminfo)"

# ---- 3. measure -----------------------------------------------------------------------------
fio_job() { # FILE ENGINE: fio's terse line for a run of $ramp s (not counted) + $runtime s;
	# $W/started appears when the job starts (after fio's set-up)
	_qd=32
	[ "$2" = io_uring ] || _qd=1
	fio --name=randread --filename="$1" --rw=randread --bs=4k --direct=1 --ioengine="$2" \
		--iodepth="$_qd" --numjobs=1 --time_based --ramp_time="$ramp" --runtime="$runtime" \
		--randrepeat=0 --norandommap --exec_prerun="touch $W/started" --minimal 2>"$W/fio.err"
}

# measure REP ENGINE TARGET FILE PID|-: one fio run; appends "rep engine target iops ios
# srv_utime srv_stime busy_ticks window_s" to $W/results. The CPU counters are sampled over a
# window inside fio's counted part (from $ramp + 0.5 s after the job starts to 1.5 s before
# it ends), so that fio's start-up, slow under TCG, is left out; IOPS x window gives the I/Os
# of the window, and so the CPU time per I/O. (brd keeps no I/O statistics to count them.)
measure() {
	rm -f "$W/started"
	fio_job "$4" "$2" >"$W/fio.out" &
	_fio=$!
	wait_for 60 test -e "$W/started" || die "fio on $3 ($2) did not start"
	sleep "$ramp.5"
	s0="0 0" s1="0 0"
	[ "$5" = - ] || s0=$(proc_ticks "$5")
	proc_snapshot >"$W/procs0"
	b0=$(busy_ticks) t0=$(now)
	sleep $((runtime - 1))
	[ "$5" = - ] || s1=$(proc_ticks "$5")
	b1=$(busy_ticks) t1=$(now)
	proc_snapshot >"$W/procs1"
	wait "$_fio" || { cat "$W/fio.err"; die "fio on $3 ($2) failed"; }
	_top=$(awk 'NR == FNR { a[$1] = $3; next } $1 in a && $3 > a[$1] { print $3 - a[$1], $2 }' "$W/procs0" "$W/procs1" |
		sort -rn | head -n 5 | awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }')
	u=$((${s1% *} - ${s0% *})) s=$((${s1#* } - ${s0#* }))
	# terse v3: 5 error, 8 read IOPS
	awk -F';' -v r="$1" -v e="$2" -v n="$3" -v u="$u" -v s="$s" -v b=$((b1 - b0)) -v w="$(elapsed "$t0" "$t1")" \
		'$1 == 3 { if ($5 != 0) exit 1; print r, e, n, $8, int($8 * w), u, s, b, w; found = 1 } END { exit !found }' \
		"$W/fio.out" >>"$W/results" || die "fio on $3: unexpected output: $(cat "$W/fio.out")"
	tail -n 1 "$W/results" | awk -v top="$_top" '{ printf "vm-e2e-run: rep=%s %-8s %-5s iops=%d window %.2f s: server ticks %d+%d, busy ticks %d (%.1f us busy CPU per I/O); most ticks: %s\n",
		$1, $2, $3, $4, $9, $6, $7, $8, ($5 > 0 ? $8 * 10000 / $5 : 0), top }'
}

: >"$W/results"
targets="blazy brd nbd"
[ "$nbd" = 1 ] || targets="blazy brd"
rep=1
while [ "$rep" -le "$reps" ]; do
	for tg in $targets; do
		for eng in io_uring psync; do
			case $tg in
			blazy) measure "$rep" "$eng" blazy "$MB/big" "$blazy_pid" ;;
			brd) measure "$rep" "$eng" brd "$MR/big" - ;;
			nbd) measure "$rep" "$eng" nbd "$MN/big" "$nbdkit_pid" ;;
			esac
		done
	done
	targets="${targets#* } ${targets%% *}" # rotate: the next rep starts with the next target
	rep=$((rep + 1))
done
st1=$(blazy status --json "$blazy_dev") || die "blazy status"
sr=$(($(json_field "$st1" store_reads) - $(json_field "$st0" store_reads)))
echo "vm-e2e: blazy server during the runs: store_reads +$sr, cache_hits +$(($(json_field "$st1" cache_hits) - $(json_field "$st0" cache_hits)))," \
	"errors $(json_field "$st1" errors), unmapped $(json_field "$st1" unmapped)"
[ "$sr" = 0 ] || echo "vm-e2e: warning: the file did not stay in the server's chunk cache ($sr store reads)"
dsum() { echo $(($(json_sum "$st1" "$1") - $(json_sum "$st0" "$1"))); }
echo "vm-e2e: blazy queues during the runs: batches +$(dsum batches)," \
	"sleeps +$(dsum sleeps), poll_hits +$(dsum poll_hits)"

# ---- 4. report ------------------------------------------------------------------------------
awk -v tb="$T_BRD" -v tn="$T_NBD" -v reps="$reps" -v rt="$runtime" -v nbd="$nbd" '
function med(list,    n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function verdict(v, t) { return !nbd && t == tn ? "not measured" : v >= t ? "met" : "MISSED" }
function per_io(ticks, ios) { return ios ? ticks * 10000 / ios : 0 }
{
	k = $1 SUBSEP $2 SUBSEP $3
	iops[k] = $4; ios[k] = $5; usr[k] = $6; srv[k] = $6 + $7; busy[k] = $8
}
END {
	split("io_uring psync", E, " ")
	print "vm-e2e: ---- summary: medians of " reps " rep(s), IOPS over " rt " s runs ----"
	for (e = 1; e <= 2; e++) {
		en = E[e]
		Lb = Lr = Ln = Lbr = Lbn = Lsb = Lsn = Lub = Lun = Lvb = Lvr = Lvn = ""
		for (r = 1; r <= reps; r++) {
			b = iops[r, en, "blazy"]; d = iops[r, en, "brd"]; n = iops[r, en, "nbd"]
			Lb = Lb " " b; Lr = Lr " " d; Ln = Ln " " n
			Lbr = Lbr " " (d ? b / d : 0); Lbn = Lbn " " (n ? b / n : 0)
			Lsb = Lsb " " per_io(srv[r, en, "blazy"], ios[r, en, "blazy"])
			Lub = Lub " " per_io(usr[r, en, "blazy"], ios[r, en, "blazy"])
			Lsn = Lsn " " per_io(srv[r, en, "nbd"], ios[r, en, "nbd"])
			Lun = Lun " " per_io(usr[r, en, "nbd"], ios[r, en, "nbd"])
			Lvb = Lvb " " per_io(busy[r, en, "blazy"], ios[r, en, "blazy"])
			Lvr = Lvr " " per_io(busy[r, en, "brd"], ios[r, en, "brd"])
			Lvn = Lvn " " per_io(busy[r, en, "nbd"], ios[r, en, "nbd"])
		}
		mbr = med(Lbr); mbn = med(Lbn)
		S[e] = sprintf("vm-e2e: %-8s blazy=%d brd=%d nbd=%d blazy/brd=%.2f blazy/nbd=%.2f (per rep: blazy/brd%s, blazy/nbd%s)", \
			en, med(Lb), med(Lr), med(Ln), mbr, mbn, fmt(Lbr), fmt(Lbn))
		T[e] = sprintf("vm-e2e: %-8s targets: blazy/brd >= %s %s (%.2f), blazy/nbd >= %s %s (%.2f)", \
			en, tb, verdict(mbr, tb), mbr, tn, verdict(mbn, tn), mbn)
		C[e] = sprintf("vm-e2e: %-8s server CPU us per I/O (user+system; user): blazy server %.1f (%.1f), nbdkit %.1f (%.1f)", \
			en, med(Lsb), med(Lub), med(Lsn), med(Lun))
		B[e] = sprintf("vm-e2e: %-8s whole-VM busy CPU us per I/O: blazy=%.1f brd=%.1f nbd=%.1f", \
			en, med(Lvb), med(Lvr), med(Lvn))
	}
	for (e = 1; e <= 2; e++) print S[e]
	for (e = 1; e <= 2; e++) print T[e]
	for (e = 1; e <= 2; e++) print C[e]
	for (e = 1; e <= 2; e++) print B[e]
}
function fmt(list,    n, a, i, s) {
	n = split(list, a, " "); s = ""
	for (i = 1; i <= n; i++) s = s sprintf(" %.2f", a[i])
	return s
}' "$W/results" || die "report failed"
awk '
function med(list,    n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ mk[$2] = mk[$2] " " $3; mo[$2] = mo[$2] " " $4; us[$2] = us[$2] " " $5; um[$2] = um[$2] " " $6; re[$2] = re[$2] " " $7
  ins[$2] = ins[$2] " " $8; sv[$2] = sv[$2] " " $9; n[$2]++ }
END {
	split("1P 4E", V, " ")
	for (i = 1; i <= 2; i++) {
		v = V[i]
		printf "vm-e2e: mount %s: blazy mount from nothing to a usable mount point %.2f s (the mount command %.2f s), umount %.2f s, mount of the existing sprout %.2f s; mkseed %.2f s; for reference: blazy inspect %.2f s, blazy serve to a ready device %.2f s (medians of %d)\n", \
			v, med(us[v]), med(mo[v]), med(um[v]), med(re[v]), med(mk[v]), med(ins[v]), med(sv[v]), n[v]
	}
	printf "vm-e2e: mount 4E/1P: usable %.2f, remount %.2f\n", med(us["4E"]) / med(us["1P"]), med(re["4E"]) / med(re["1P"])
}' "$W/mounts" || die "mount report failed"
echo "vm-e2e: ---- end ----"

# ---- 5. tear down ---------------------------------------------------------------------------
if [ "$nbd" = 1 ]; then
	umount "$MN" || die "umount $MN"
	losetup -d "$nbd_loop" || die "losetup -d $nbd_loop"
	nbd_loop=""
	nbd-client -d /dev/nbd0 >/dev/null || die "nbd-client -d /dev/nbd0"
	nbd_attached=0
	kill "$nbdkit_pid"
	wait_for 10 sh -c "! [ -d /proc/$nbdkit_pid ]" || die "nbdkit did not exit"
	nbdkit_pid=""
fi
umount "$MR" || die "umount $MR"
blazy umount -q "$MB" || die "blazy umount $MB"
exit 0
