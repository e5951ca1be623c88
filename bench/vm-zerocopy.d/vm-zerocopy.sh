#!/bin/sh
# VM side of bench/vm-zerocopy (busybox sh, run by the VM harness as a "test"): zero copy
# against the copy path for fio direct random reads of a file in a mounted seed's local
# region, and btrfs on brd with the same bytes (see bench/vm-zerocopy).
# Parameters (kernel command line, set by bench/vm-zerocopy --append):
#   vmzc.runtime=S (5)  vmzc.ramp=S (2)  vmzc.reps=N (3)  vmzc.file_mib=M (128)
# Prints "vm-zerocopy-run:" lines per run and "vm-zerocopy:" lines (medians), then
# "vm-zerocopy: ---- end ----". Exit 0 when everything ran.
set -u
. /bench/vm-lib.inc

runtime=$(kparam vmzc.runtime 5) ramp=$(kparam vmzc.ramp 2) reps=$(kparam vmzc.reps 3)
file_mib=$(kparam vmzc.file_mib 128) lazy_mib=$(kparam vmzc.lazy_mib 64)
[ "$runtime" -ge 2 ] || runtime=2

W=/tmp/vm-zerocopy
# (no dashes: the state file is named after the mount point, with a dash escaped)
MC=/mnt/zccopy MZ=/mnt/zczc MR=/mnt/zcbrd
export BLAZY_STATE_DIR=$W/state

die() {
	echo "vm-zerocopy: error: $*"
	exit 1
}

# shellcheck disable=SC2317  # (cleanup runs from the trap)
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	! grep -q " $MR " /proc/mounts || umount "$MR" || echo "vm-zerocopy: umount $MR failed"
	for m in $MC $MZ; do
		blazy umount -q "$m" >/dev/null 2>&1 || echo "vm-zerocopy: blazy umount $m failed"
	done
	modprobe -r brd 2>/dev/null
	rm -rf "$W" /dev/shm/vm-zc-*
	_out=$(left_behind "$MC" "$MZ" "$MR") || { echo "vm-zerocopy: error: $_out"; rc=1; }
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

_out=$(need_tools fio mkfs.btrfs) || die "$_out"
rm -rf "$W"
mkdir -p "$W/src" "$W/state" "$MC" "$MZ" "$MR" || die "mkdir"
head -c $((file_mib << 20)) /dev/urandom >"$W/src/big" || die "urandom"
echo "vm-zerocopy: $(nproc) cpus, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo); $(fio --version);" \
	"kernel $(uname -r); runtime ${runtime}s after a ${ramp}s ramp, $reps rep(s), file ${file_mib} MiB"

# two seeds (two fsids) with the file in the image, one server each
for m in c z; do
	blazy mkseed -q --rootdir "$W/src" "$W/seed-$m.img" || die "mkseed $m"
done
BLAZY_ZERO_COPY=off blazy mount -q "$W/seed-c.img" "$MC" --rw /dev/shm/vm-zc-rw-c.img --rw-size 256M ||
	die "blazy mount (copy)"
BLAZY_ZERO_COPY=auto blazy mount -q "$W/seed-z.img" "$MZ" --rw /dev/shm/vm-zc-rw-z.img --rw-size 256M || die "blazy mount (zc)"
dev_c=$(blazy_state "$MC" ublk) dev_z=$(blazy_state "$MZ" ublk)
zc_c=$(json_field "$(blazy status --json "$dev_c")" zero_copy)
zc_z=$(json_field "$(blazy status --json "$dev_z")" zero_copy)
echo "vm-zerocopy: copy: $dev_c (zero_copy=$zc_c), zc: $dev_z (zero_copy=$zc_z)"
[ "$zc_c" = 0 ] || die "the copy mount uses zero copy"
# the lazy file: the same bytes mapped into each (blazy map --clone, /.blazy/virtual), read
# once so that its chunks sit in the server's cache, as in bench/vm-e2e
head -c $((lazy_mib << 20)) /dev/urandom >"$W/lazysrc" || die "urandom"
for m in $MC $MZ; do
	blazy map --clone "$m/lazy" "$W/lazysrc" >/dev/null || die "blazy map --clone $m/lazy"
	dd if="$m/lazy" of=/dev/null bs=1M iflag=direct 2>/dev/null || die "reading $m/lazy"
done

# brd: btrfs on a ramdisk, the same bytes copied in
_out=$(brd_btrfs "$file_mib" "$MR") || die "$_out"
cp "$W/src/big" "$MR/big" && cp "$W/lazysrc" "$MR/lazy" || die "copy to brd"
_out=$(same_bytes "$W/src/big" "$MC/big" "$MZ/big" "$MR/big") || die "$_out"
_out=$(same_bytes "$W/lazysrc" "$MC/lazy" "$MZ/lazy" "$MR/lazy") || die "$_out"
zr0=$(json_field "$(blazy status --json "$dev_z")" zero_copy_reads)

fio_job() { # FILE JOB: fio's terse line
	case $2 in
	psync4k) _e=psync _bs=4k _qd=1 ;;
	uring4k) _e=io_uring _bs=4k _qd=32 ;;
	uring128k) _e=io_uring _bs=128k _qd=32 ;;
	esac
	fio --name=randread --filename="$1" --rw=randread --bs="$_bs" --direct=1 --ioengine="$_e" \
		--iodepth="$_qd" --numjobs=1 --time_based --ramp_time="$ramp" --runtime="$runtime" \
		--randrepeat=0 --norandommap --minimal 2>"$W/fio.err"
}

: >"$W/results"
# local: the file in the image (zero copy's reads); lazy: the mapped file (copied in by the
# server under zero copy, by the kernel without)
jobs="local:psync4k local:uring4k local:uring128k lazy:psync4k lazy:uring4k"
targets="copy zc brd"
rep=1
while [ "$rep" -le "$reps" ]; do
	for tg in $targets; do
		case $tg in copy) d=$MC ;; zc) d=$MZ ;; brd) d=$MR ;; esac
		for j in $jobs; do
			f=$d/big
			[ "${j%%:*}" = lazy ] && f=$d/lazy
			fio_job "$f" "${j#*:}" >"$W/fio.out" || { cat "$W/fio.err"; die "fio $tg $j failed"; }
			# terse v3: 5 error, 8 read IOPS
			awk -F';' -v r="$rep" -v t="$tg" -v j="$j" \
				'$1 == 3 { if ($5 != 0) exit 1; print r, j, t, $8; found = 1 } END { exit !found }' \
				"$W/fio.out" >>"$W/results" || die "fio on $tg: unexpected output: $(cat "$W/fio.out")"
			tail -n 1 "$W/results" | awk '{ printf "vm-zerocopy-run: rep=%s %-15s %-4s iops=%d\n", $1, $2, $3, $4 }'
		done
	done
	targets="${targets#* } ${targets%% *}"
	rep=$((rep + 1))
done
zr1=$(json_field "$(blazy status --json "$dev_z")" zero_copy_reads)
echo "vm-zerocopy: zero-copy reads during the runs: $((zr1 - zr0))"

awk -v reps="$reps" -v rt="$runtime" -v jobs="$jobs" "$AWK_MED"'
{ iops[$1, $2, $3] = $4 }
END {
	print "vm-zerocopy: ---- summary: medians of " reps " rep(s), IOPS over " rt " s runs ----"
	nj = split(jobs, J, " ")
	for (k = 1; k <= nj; k++) {
		j = J[k]; Lc = Lz = Lb = Lzc = Lzb = Lcb = ""
		for (r = 1; r <= reps; r++) {
			c = iops[r, j, "copy"]; z = iops[r, j, "zc"]; b = iops[r, j, "brd"]
			Lc = Lc " " c; Lz = Lz " " z; Lb = Lb " " b
			Lzc = Lzc " " (c ? z / c : 0); Lzb = Lzb " " (b ? z / b : 0); Lcb = Lcb " " (b ? c / b : 0)
		}
		printf "vm-zerocopy: %-15s copy=%d zc=%d brd=%d zc/copy=%.2f zc/brd=%.2f copy/brd=%.2f\n", \
			j, med(Lc), med(Lz), med(Lb), med(Lzc), med(Lzb), med(Lcb)
	}
}' "$W/results" || die "report failed"
echo "vm-zerocopy: ---- end ----"

umount "$MR" || die "umount $MR"
blazy umount -q "$MZ" || die "blazy umount $MZ"
blazy umount -q "$MC" || die "blazy umount $MC"
exit 0
