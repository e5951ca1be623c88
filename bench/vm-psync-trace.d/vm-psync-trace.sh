#!/bin/sh
# VM side of bench/vm-psync-trace (busybox sh, run by the VM harness as a "test").
#
# Where the time of one synchronous 4 KiB read goes. fio reads (direct=1, psync, one job) a
# FILE_MIB file of random bytes on two btrfs filesystems mounted side by side, as in
# bench/vm-e2e: "blazy" (`blazy mount` of a seed, the file from `blazy map --clone`, read once
# so the server's chunk cache is warm) and "brd" (btrfs on a brd ramdisk, nodatasum, the same
# bytes copied in). While each runs, the kernel's tracer records for WINDOW_MS milliseconds
# the system calls that make up the round trip: fio's pread64, and the blazy server's
# io_uring_enter calls (a call that submits nothing takes the next request: the kernel runs
# the request's task work; a call that submits sends the commit: the kernel copies the data
# into the request and completes it). From that it prints medians: the time between two
# commits (one round trip), fio's pread64, the server's two calls and the user-space time
# between them (serving the request from the chunk cache). A third target, "null", is the
# raw device of `blazy serve --backend null` (no btrfs, every byte zero): its serve time is
# what the server's loop costs with no data to look up (take the request, prepare the
# commit), the floor of the user-space share. Tracing slows everything a little.
#
# Parameters (kernel command line, set by bench/vm-psync-trace --append):
#   vmpt.file_mib=M (64)  vmpt.window_ms=N (50)  vmpt.reps=N (3)
# Prints "vm-psync-trace:" lines. Exit 0 when everything ran.
set -u
. /bench/vm-lib.inc

file_mib=64 window_ms=50 reps=3
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	vmpt.file_mib=*) file_mib=${arg#*=} ;;
	vmpt.window_ms=*) window_ms=${arg#*=} ;;
	vmpt.reps=*) reps=${arg#*=} ;;
	esac
done
W=/tmp/vm-psync-trace
MB=/mnt/blazy MR=/mnt/brd
T=/sys/kernel/tracing
export BLAZY_STATE_DIR=$W/state
null_dev=""

die() {
	echo "vm-psync-trace: error: $*"
	exit 1
}

# shellcheck disable=SC2317  # (cleanup runs from the trap)
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	[ ! -d "$T"/events ] || { echo 0 >"$T"/tracing_on; echo 0 >"$T"/events/enable; }
	! grep -q " $MR " /proc/mounts || umount "$MR" || echo "vm-psync-trace: umount $MR failed"
	blazy umount -q "$MB" >/dev/null 2>&1 || echo "vm-psync-trace: blazy umount $MB failed"
	[ -z "$null_dev" ] || blazy stop "$null_dev" >/dev/null 2>&1 || echo "vm-psync-trace: blazy stop $null_dev failed"
	wait_for 10 sh -c "[ -z \"\$(pidof blazy)\" ]" || true
	modprobe -r brd 2>/dev/null
	rm -rf "$W" /dev/shm/vm-psync-trace-*
	left=$(grep -E " ($MB|$MR) " /proc/mounts)
	[ -z "$left" ] || { echo "vm-psync-trace: error: still mounted: $left"; rc=1; }
	left=$(ls /sys/class/ublk-char 2>/dev/null)
	[ -z "$left" ] || { echo "vm-psync-trace: error: ublk devices left behind: $left"; rc=1; }
	left=$(pidof blazy)
	[ -z "$left" ] || { echo "vm-psync-trace: error: processes left behind: $left"; rc=1; }
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for t in fio mkfs.btrfs; do
	command -v "$t" >/dev/null || die "$t is missing (the host passes it with --extra)"
done
rm -rf "$W"
mkdir -p "$W/src" "$W/state" $MB $MR || die "mkdir"
echo hello >"$W/src/hello"
dd if=/dev/urandom of="$W/big" bs=1M count="$file_mib" 2>/dev/null || die "dd /dev/urandom"
blazy mkseed -q --rootdir "$W/src" "$W/seed.img" || die "blazy mkseed"
blazy mount -q "$W/seed.img" $MB --rw /dev/shm/vm-psync-trace-rw.img --rw-size 256M || die "blazy mount"
blazy map --clone $MB/big "$W/big" >/dev/null || die "blazy map --clone"
dd if=$MB/big of=/dev/null bs=1M iflag=direct 2>/dev/null || die "warming $MB/big"
modprobe -r brd 2>/dev/null
modprobe brd rd_nr=1 rd_size=$(((file_mib + 512) * 1024)) || die "modprobe brd"
wait_for 5 test -b /dev/ram0 || die "no /dev/ram0"
mkfs.btrfs -q -f /dev/ram0 >/dev/null || die "mkfs.btrfs /dev/ram0"
mount -t btrfs -o nodatasum /dev/ram0 $MR || die "mount /dev/ram0"
cp "$W/big" $MR/big || die "copy to $MR"
sync
rm -f "$W/big"
null_dev=$(blazy serve --backend null,size=1G) || die "blazy serve --backend null"

[ -d "$T"/events ] || mount -t tracefs tracefs $T || die "cannot mount tracefs"
echo 0 >$T/tracing_on
echo 0 >$T/events/enable
echo 4096 >$T/buffer_size_kb
for e in sys_enter_io_uring_enter sys_exit_io_uring_enter sys_enter_pread64 sys_exit_pread64; do
	echo 1 >"$T/events/syscalls/$e/enable" || die "no trace event syscalls/$e"
done
echo "vm-psync-trace: $(nproc) cpus; $(fio --version); file ${file_mib} MiB; ${window_ms} ms traced per run; $reps rep(s)"

# trace TARGET FILE: a psync fio run of 4 s; the trace of a window in its middle to $W/trace
trace() {
	fio --name=r --filename="$2" --rw=randread --bs=4k --direct=1 --ioengine=psync \
		--time_based --runtime=4 --randrepeat=0 --norandommap --minimal >"$W/fio.out" 2>"$W/fio.err" &
	_fio=$!
	sleep 2
	echo >$T/trace
	echo 1 >$T/tracing_on
	usleep $((window_ms * 1000))
	echo 0 >$T/tracing_on
	wait "$_fio" || { cat "$W/fio.err"; die "fio on $1 failed"; }
	grep -v '^#' $T/trace >"$W/trace"
	echo "$1 $(awk -F';' '$1 == 3 { print int($8) }' "$W/fio.out")" >>"$W/iops"
}

# analyse TARGET: one "vm-psync-trace-run:" line from $W/trace, and "TARGET name value" lines
# (microseconds) for the summary in $W/samples
analyse() {
	awk -v tg="$1" '
	function task(s) { sub(/^ +/, "", s); sub(/ +\[.*/, "", s); return s }
	function ts() { return match($0, /[0-9]+\.[0-9]+: /) ? substr($0, RSTART, RLENGTH - 2) + 0 : 0 }
	{ t = task($0); x = ts() }
	/sys_pread64\(/ { pr[t] = x; next }
	/sys_pread64 -> / { if (t in pr) { P[np++] = (x - pr[t]) * 1e6; delete pr[t] } ; next }
	/sys_io_uring_enter\(/ {
		en[t] = x; sub_[t] = ($0 ~ /to_submit: 0,/) ? 0 : 1
		if (sub_[t] && (t in lastget)) { U[nu++] = (x - lastget[t]) * 1e6; delete lastget[t] }
		if (sub_[t]) { if (t in lastc) C[nc++] = (x - lastc[t]) * 1e6; lastc[t] = x }
		next
	}
	/sys_io_uring_enter -> / {
		if (!(t in en)) next
		d = (x - en[t]) * 1e6
		if (sub_[t]) K[nk++] = d; else { G[ng++] = d; lastget[t] = x }
		delete en[t]; next
	}
	function med(A, n,    i, j, v) {
		if (!n) return 0
		for (i = 1; i < n; i++) { v = A[i]; for (j = i - 1; j >= 0 && A[j] > v; j--) A[j + 1] = A[j]; A[j + 1] = v }
		return n % 2 ? A[(n - 1) / 2] : (A[n / 2 - 1] + A[n / 2]) / 2
	}
	END {
		p = med(P, np)
		if (tg == "brd") {
			printf "vm-psync-trace-run: %-5s pread64 %.1f us (n %d)\n", tg, p, np
			print tg, "pread", p >"/dev/stderr"
		} else {
			c = med(C, nc); g = med(G, ng); u = med(U, nu); k = med(K, nk)
			printf "vm-psync-trace-run: %-5s pread64 %.1f us (n %d); server: commit to commit %.1f us (n %d): take %.1f us, serve %.1f us, commit %.1f us, rest %.1f us\n", \
				tg, p, np, c, nc, g, u, k, c - g - u - k
			print tg, "pread", p >"/dev/stderr"; print tg, "cycle", c >"/dev/stderr"
			print tg, "take", g >"/dev/stderr"; print tg, "serve", u >"/dev/stderr"
			print tg, "commit", k >"/dev/stderr"
		}
	}' "$W/trace" 2>>"$W/samples"
}

: >"$W/samples"
: >"$W/iops"
rep=1
while [ "$rep" -le "$reps" ]; do
	for tg in blazy brd null; do
		case $tg in
		blazy) trace blazy $MB/big ;;
		brd) trace brd $MR/big ;;
		null) trace null "$null_dev" ;;
		esac
		analyse $tg
	done
	rep=$((rep + 1))
done
echo 0 >$T/events/enable
awk '
function med(s,    n, a, i, j, v) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
FILENAME ~ /iops$/ { I[$1] = I[$1] " " $2; next }
{ S[$1 " " $2] = S[$1 " " $2] " " $3 }
END {
	bi = med(I["blazy"]); ri = med(I["brd"])
	printf "vm-psync-trace: IOPS (whole runs, traced windows included): blazy %d, brd %d, blazy/brd %.2f\n", bi, ri, ri ? bi / ri : 0
	bp = med(S["blazy pread"]); rp = med(S["brd pread"])
	printf "vm-psync-trace: pread64 (medians of the runs'"'"' medians): blazy %.1f us, brd %.1f us, difference %.1f us\n", bp, rp, bp - rp
	c = med(S["blazy cycle"]); g = med(S["blazy take"]); u = med(S["blazy serve"]); k = med(S["blazy commit"])
	printf "vm-psync-trace: blazy server per request: take (io_uring_enter, task work) %.1f us, serve (user space) %.1f us, commit (io_uring_enter: copy, completion) %.1f us; %.1f us of %.1f us between commits\n", g, u, k, g + u + k, c
	nu = med(S["null serve"]); ng = med(S["null take"]); nk = med(S["null commit"])
	printf "vm-psync-trace: null device server per request: take %.1f us, serve %.1f us, commit %.1f us (the loop alone, no data to look up)\n", ng, nu, nk
	printf "vm-psync-trace: blazy adds %.1f us to a pread64; its server spends %.1f us per request, of which looking up the data is the difference of the serve times: %.1f us - %.1f us (null)\n", bp - rp, g + u + k, u, nu
}' "$W/iops" "$W/samples" || die "summary failed"
echo "vm-psync-trace: ---- end ----"
exit 0
