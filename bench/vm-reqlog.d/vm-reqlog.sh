#!/bin/sh
# VM side of bench/vm-reqlog (busybox sh, run by the VM harness as a "test"): fio 4 KiB
# random reads on two null devices, one with the request log on (tmpfs), alternating;
# medians of the IOPS, the ratio on/off. Parameters on the kernel command line:
# vmreqlog.runtime=S (10), vmreqlog.reps=N (3). Exit 0 when everything ran.
set -u
. /bench/vm-lib.inc
runtime=10 reps=3
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	vmreqlog.runtime=*) runtime=${arg#*=} ;;
	vmreqlog.reps=*) reps=${arg#*=} ;;
	esac
done
W=/dev/shm/vm-reqlog
devs=""
die() {
	echo "vm-reqlog: error: $*"
	exit 1
}
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	for d in $devs; do
		timeout 60 blazy stop "$d" >/dev/null 2>&1 || { echo "vm-reqlog: blazy stop $d failed"; rc=1; }
	done
	rm -rf "$W"
	[ -z "$(pidof blazy)" ] || { echo "vm-reqlog: error: blazy left running"; rc=1; }
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

serve() { # ARGS...: sets $dev
	dev=$(blazy serve "$@") || die "blazy serve $* failed"
	devs="$devs $dev"
	wait_for 10 test -b "$dev" || die "$dev did not appear"
}

# run DEV JOBS SECONDS: fio's IOPS
run() {
	fio --name=randread --filename="$1" --rw=randread --bs=4k --direct=1 --ioengine=io_uring \
		--iodepth=32 --numjobs="$2" --group_reporting --time_based --runtime="$3" \
		--randrepeat=0 --norandommap --minimal 2>"$W/fio.err" |
		awk -F';' '$1 == 3 && $5 == 0 { print $8; f = 1 } END { exit !f }' ||
		{ cat "$W/fio.err"; die "fio on $1 failed"; }
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

command -v fio >/dev/null || die "fio is missing"
rm -rf "$W"
mkdir -p "$W"
echo "vm-reqlog: $(nproc) cpus; $(fio --version); runtime ${runtime}s, $reps rep(s)"
serve --backend null,size=1G --queues 2 --depth 64 --log "$W/off.log"
off_dev=$dev
serve --backend null,size=1G --queues 2 --depth 64 --log "$W/on.log" --log-requests "$W/req.log"
on_dev=$dev
: >"$W/results"
rep=1
while [ "$rep" -le "$reps" ]; do
	for jobs in 1 2; do
		# alternate which goes first
		if [ $((rep % 2)) = 1 ]; then order="off on"; else order="on off"; fi
		for which in $order; do
			eval d=\$${which}_dev
			run "$d" "$jobs" 2 >/dev/null
			iops=$(run "$d" "$jobs" "$runtime")
			echo "vm-reqlog-run: rep=$rep jobs=$jobs log=$which iops=$iops"
			echo "$jobs $which $iops" >>"$W/results"
		done
	done
	rep=$((rep + 1))
done
lines_before=$(wc -l <"$W/req.log")
for d in $devs; do blazy stop "$d" >/dev/null || die "blazy stop $d"; done
devs=""
lines=$(($(wc -l <"$W/req.log") - 1))
grep 'request log off' "$W/on.log" | sed 's/^/vm-reqlog: server: /'
echo "vm-reqlog: the log: $lines lines ($(du -m "$W/req.log" | cut -f1) MiB; $lines_before before the stop)"
for jobs in 1 2; do
	off=$(awk -v j="$jobs" '$1 == j && $2 == "off" { print $3 }' "$W/results" | median)
	on=$(awk -v j="$jobs" '$1 == j && $2 == "on" { print $3 }' "$W/results" | median)
	echo "vm-reqlog: jobs=$jobs off=$off on=$on ratio on/off=$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f", a / b }') (target >= 0.95)"
done
echo "vm-reqlog: ---- end ----"
