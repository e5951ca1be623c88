#!/bin/sh
# VM side of bench/vm-ublk (busybox sh, run by the VM harness as a "test").
#
# fio 4 KiB random reads (direct, io_uring, iodepth 32, time based), numjobs 1 and 2
# (group_reporting), side by side in one boot on
#   a  brd ramdisk                    (SIZE, default 1 GiB; never written: reads are zero fill)
#   b  loop device over a tmpfs file  (SIZE, sparse: reads are zero fill)
#   c  blazy serve --backend null,size=SIZE   (default 2 queues, depth 64)
#   d  blazy serving a seed (image, map and store on tmpfs) restricted to a mapped 256 MiB
#      range of random bytes, held in the server's chunk cache (--cache 512M; warmed by one
#      direct read of the range)
# Each measured run follows a short unmeasured warm-up run of the same job. Around each
# measured run it reads the server's utime+stime (/proc/PID/stat, all threads) and the
# machine's busy time (/proc/stat); divided by the I/Os fio completed these give the
# server's and the whole VM's CPU time per I/O.
#
# Parameters (kernel command line, set by bench/vm-ublk --append):
#   vmublk.runtime=S (10)  vmublk.ramp=S (2)  vmublk.reps=N (1)  vmublk.size_mib=M (1024)
#   vmublk.seed_mib=M (256)
#   vmublk.modes=M1,M2,...  more null devices side by side, one per serving mode:
#       tag | batch      the ublk I/O commands (BLAZY_UBLK_IO=tag|batch: one fetch/commit
#                        per tag, or UBLK_F_BATCH_IO's batched ones; batch falls back to
#                        tag where the kernel lacks it: the server's log line says which)
#       suffixes: -nopoll (--poll 0), -fixedpoll (BLAZY_UBLK_POLL=fixed: the whole poll
#       window every time), -1q (--queues 1), -4q (--queues 4), -pin (queue threads
#       pinned to their queues' CPUs, BLAZY_UBLK_PIN=1)
#     each reported as IOPS, x brd, the server's CPU, the VM's busy CPU, requests per
#     round, sleeps and context switches of the server per 1000 I/Os
#   vmublk.quick=1  leave out b (loop) and d (seed): brd, null and the modes only
#   vmublk.engine=io_uring|psync  fio's engine: io_uring at iodepth 32 (default) or psync
# Prints per-repetition lines "vm-ublk-rep: ..." and a final block of "vm-ublk: ..." lines
# (medians over the repetitions) that the host script extracts. Exit 0 when everything ran
# (the targets are reported, not enforced); 1 when a step failed.
set -u
. /bench/vm-lib.inc

runtime=10 ramp=2 reps=1 size_mib=1024 seed_mib=256 modes="" quick=0 engine=io_uring
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	vmublk.runtime=*) runtime=${arg#*=} ;;
	vmublk.ramp=*) ramp=${arg#*=} ;;
	vmublk.reps=*) reps=${arg#*=} ;;
	vmublk.size_mib=*) size_mib=${arg#*=} ;;
	vmublk.seed_mib=*) seed_mib=${arg#*=} ;;
	vmublk.modes=*) modes=$(echo "${arg#*=}" | tr ',' ' ') ;;
	vmublk.quick=*) quick=${arg#*=} ;;
	vmublk.engine=*) engine=${arg#*=} ;;
	esac
done
# targets from issue 3
T_CA_1=0.35 T_CA_2=0.7 T_DB=0.8

W=/tmp/vm-ublk
SHMFILE=/dev/shm/vm-ublk-loop.img
pids="" devs="" loopdev=""

die() {
	echo "vm-ublk: error: $*"
	exit 1
}

dev_gone() { # N: nothing of ublk device N is left
	[ ! -e "/dev/ublkb$1" ] && [ ! -e "/dev/ublkc$1" ] && [ ! -e "/sys/block/ublkb$1" ]
}

cleanup() {
	rc=$?
	trap - EXIT INT TERM
	for d in $devs; do
		n=${d#/dev/ublkb}
		dev_gone "$n" || timeout 60 blazy stop "$d" >/dev/null 2>&1 || echo "vm-ublk: blazy stop $d failed"
	done
	for p in $pids; do
		i=0
		while [ -d "/proc/$p" ] && [ "$i" -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		[ ! -d "/proc/$p" ] || { echo "vm-ublk: server $p still running; killing it"; kill -KILL "$p" 2>/dev/null; }
	done
	[ -z "$loopdev" ] || losetup -d "$loopdev" 2>/dev/null || echo "vm-ublk: losetup -d $loopdev failed"
	rm -f "$SHMFILE"
	rm -rf "$W"
	left=""
	for c in /sys/class/ublk-char/ublkc*; do
		[ ! -e "$c" ] || left="$left ${c##*/}"
	done
	if [ -n "$left" ]; then
		echo "vm-ublk: error: ublk devices left behind: $left"
		[ "$rc" = 0 ] && rc=1
	fi
	procs=$(pidof blazy || true)
	if [ -n "$procs" ]; then
		echo "vm-ublk: error: blazy processes left behind: $procs"
		[ "$rc" = 0 ] && rc=1
	fi
	exit "$rc"
}
# shellcheck disable=SC2317  # (cleanup runs from the trap)
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# serve ARGS...: `blazy serve ARGS` as a daemon; sets $dev and $pid.
serve() {
	dev=$(blazy serve "$@") || die "blazy serve $* failed"
	devs="$devs $dev"
	wait_for 10 test -b "$dev" || die "$dev did not appear"
	pid=$(list_pid "${dev#/dev/ublkb}")
	{ [ -n "$pid" ] && [ -d "/proc/$pid" ]; } || die "no server pid for $dev"
	pids="$pids $pid"
}

# fio_job DEV JOBS SECONDS [fio options]: prints fio's terse line
fio_job() {
	_dev=$1 _jobs=$2 _secs=$3
	shift 3
	if [ "$engine" = psync ]; then set -- --ioengine=psync "$@"; else set -- --ioengine=io_uring --iodepth=32 "$@"; fi
	fio --name=randread --filename="$_dev" --rw=randread --bs=4k --direct=1 \
		--numjobs="$_jobs" --group_reporting \
		--time_based --runtime="$_secs" --randrepeat=0 --norandommap \
		--minimal "$@" 2>"$W/fio.err"
}

# measure REP JOBS NAME DEV SERVER_PID|- [fio options]: one warm-up run, one measured run;
# appends "rep jobs name iops ios srv_utime srv_stime busy_ticks" to $W/results
measure() {
	_rep=$1 _jobs=$2 _name=$3 _mdev=$4 _pid=$5
	shift 5
	fio_job "$_mdev" "$_jobs" "$ramp" "$@" >/dev/null || {
		cat "$W/fio.err"
		die "fio warm-up on $_name ($_mdev) failed"
	}
	s0="0 0" s1="0 0"
	[ "$_pid" = - ] || s0=$(proc_ticks "$_pid")
	b0=$(busy_ticks)
	out=$(fio_job "$_mdev" "$_jobs" "$runtime" "$@") || {
		cat "$W/fio.err"
		die "fio on $_name ($_mdev) failed"
	}
	b1=$(busy_ticks)
	[ "$_pid" = - ] || s1=$(proc_ticks "$_pid")
	# terse v3: 5 error, 6 read KiB, 8 read IOPS, 9 read runtime (ms)
	u=$((${s1% *} - ${s0% *})) s=$((${s1#* } - ${s0#* }))
	echo "$out" | awk -F';' -v r="$_rep" -v j="$_jobs" -v n="$_name" -v u="$u" -v s="$s" -v b=$((b1 - b0)) \
		'$1 == 3 { if ($5 != 0) exit 1; print r, j, n, $8, $6 / 4, u, s, b; found = 1 } END { exit !found }' \
		>>"$W/results" || die "fio on $_name: unexpected output: $out"
	tail -n 1 "$W/results" | awk '{ printf "vm-ublk-run: rep=%s jobs=%s %-5s iops=%d ios=%d server_ticks=%d+%d (user+sys) busy_ticks=%d (%.1f us busy CPU per I/O)\n",
		$1, $2, $3, $4, $5, $6, $7, $8, ($5 > 0 ? $8 * 10000 / $5 : 0) }'
}

ctx_switches() { # PID -> voluntary + involuntary context switches of all its threads
	cat /proc/"$1"/task/*/status 2>/dev/null |
		awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}

# qcounters LOG PID: the server's queue counters summed, "reads batches sleeps", from the
# lines SIGUSR1 makes it log ("queue N: R reads (...), ...; B batches, S sleeps, P poll
# hits"; a server without a control socket has no blazy status)
qcounters() {
	_n=$(grep -c 'queue [0-9]*: ' "$1")
	kill -USR1 "$2"
	wait_for 5 sh -c "[ \$(grep -c 'queue [0-9]*: ' '$1') -gt $_n ]" || die "no counters in $1"
	sleep 0.2
	awk '/queue [0-9]+: / { q = $0; sub(/.*queue /, "", q); sub(/:.*/, "", q)
		r[q] = $0; sub(/.*queue [0-9]+: /, "", r[q]) }
		END { for (q in r) { split(r[q], f, " "); rd += f[1]
			b = r[q]; sub(/.*; /, "", b); split(b, g, " "); bt += g[1]; sl += g[3] }
			print rd + 0, bt + 0, sl + 0 }' "$1"
}

# measure_mode REP JOBS MODE DEV PID LOG: measure, plus the server's rounds, sleeps and
# context switches; appends "rep jobs mode iops ios srv_ticks busy_ticks reads batches
# sleeps ctxsw" to $W/modes
measure_mode() {
	_log=$6
	q0=$(qcounters "$_log" "$5")
	c0=$(ctx_switches "$5")
	measure "$1" "$2" "$3" "$4" "$5"
	c1=$(ctx_switches "$5")
	q1=$(qcounters "$_log" "$5")
	# shellcheck disable=SC2086  # (word splitting of the counters)
	set -- $q0 $q1
	tail -n 1 "$W/results" | awk -v r=$(($4 - $1)) -v b=$(($5 - $2)) -v s=$(($6 - $3)) -v c=$((c1 - c0)) \
		'{ print $1, $2, $3, $4, $5, $6 + $7, $8, r, b, s, c }' >>"$W/modes"
}

# ---- set up -------------------------------------------------------------------------------
command -v fio >/dev/null || die "fio is missing (the host passes it with --extra)"
[ -c /dev/ublk-control ] || die "no /dev/ublk-control (ublk_drv not loaded)"
rm -rf "$W"
mkdir -p "$W" || die "mkdir $W"
: >"$W/results"
: >"$W/modes"
size=$((size_mib * 1048576))
echo "vm-ublk: $(nproc) cpus, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo); $(fio --version);" \
	"fio engine $engine, runtime ${runtime}s after a ${ramp}s warm-up, $reps rep(s), devices ${size_mib} MiB, seed range ${seed_mib} MiB"
# what the guest pays for CPU-vulnerability mitigations (a large part of a syscall's cost under TCG)
mit=$(for f in /sys/devices/system/cpu/vulnerabilities/*; do
	[ -r "$f" ] || continue
	case $(cat "$f") in Mitigation*) echo "${f##*/} ($(cat "$f"))" ;; esac
done | tr '\n' ' ')
echo "vm-ublk: mitigations in use: ${mit:-none}; $(dmesg | grep -o 'Dynamic Preempt: [a-z]*' | tail -n 1); cmdline: $(cat /proc/cmdline)"

# a: brd
modprobe -r brd 2>/dev/null
modprobe brd rd_nr=1 rd_size=$((size_mib * 1024)) || die "modprobe brd"
wait_for 5 test -b /dev/ram0 || die "no /dev/ram0"
[ "$(blockdev --getsize64 /dev/ram0)" = "$size" ] || die "/dev/ram0 is not $size bytes"

# b: loop over a sparse tmpfs file
if [ "$quick" != 1 ]; then
	truncate -s "$size" "$SHMFILE" || die "truncate $SHMFILE"
	loopdev=$(losetup -f) || die "no free loop device"
	losetup "$loopdev" "$SHMFILE" || die "losetup $loopdev"
	wait_for 5 test -b "$loopdev" || die "no $loopdev"
fi

# c: the null backend
serve --backend "null,size=$size" --log "$W/null.log"
null_dev=$dev null_pid=$pid
echo "vm-ublk: c: $(grep -o '[a-z-]* I/O commands' "$W/null.log" | head -n 1)"

# the modes: more null devices
mode_devs="" mode_pids=""
for m in $modes; do
	io=${m%%-*} opts=""
	case $m in
	tag | tag-* | batch | batch-*) ;;
	*) die "unknown mode '$m' (tag or batch, with -nopoll, -fixedpoll, -1q or -4q)" ;;
	esac
	case $m in *-nopoll*) opts="$opts --poll 0" ;; esac
	fixed=""
	case $m in *-fixedpoll*) fixed=fixed ;; esac
	case $m in *-1q*) opts="$opts --queues 1" ;; esac
	case $m in *-4q*) opts="$opts --queues 4" ;; esac
	pin=0
	case $m in *-pin*) pin=1 ;; esac
	export BLAZY_UBLK_IO="$io" BLAZY_UBLK_PIN="$pin" BLAZY_UBLK_POLL="$fixed"
	# shellcheck disable=SC2086
	serve --backend "null,size=$size" --log "$W/mode-$m.log" $opts
	unset BLAZY_UBLK_IO BLAZY_UBLK_PIN BLAZY_UBLK_POLL
	mode_devs="$mode_devs $dev" mode_pids="$mode_pids $pid"
	echo "vm-ublk: mode $m: $dev (pid $pid),$opts $(grep -o '[0-9]* queues x depth [0-9]*, ' "$W/mode-$m.log" | head -n 1)" \
		"$(grep -o "[a-z-]* I/O commands[^,]*" "$W/mode-$m.log" | head -n 1)"
done

# d: a seed on tmpfs with SEED_MIB of random bytes mapped
if [ "$quick" != 1 ]; then
mkdir -p "$W/src"
echo hello >"$W/src/hello"
blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/seed.img" || die "blazy mkseed"
t0=$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/urandom of="$W/rand" bs=1M count="$seed_mib" 2>/dev/null || die "dd /dev/urandom"
t1=$(cut -d' ' -f1 /proc/uptime)
mj=$(blazy map --json "$W/seed.img" "$W/rand") || die "blazy map"
t2=$(cut -d' ' -f1 /proc/uptime)
rm -f "$W/rand"
seed_off=$(json_field "$mj" device_offset)
[ -n "$seed_off" ] || die "no device_offset in: $mj"
echo "vm-ublk: mapped ${seed_mib} MiB at device offset $seed_off (urandom $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s," \
	"blazy map $(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }') s); store $(du -sh "$W/seed.img.store" | cut -f1)"
serve --cache 512M --log "$W/seed.log" "$W/seed.img"
seed_dev=$dev seed_pid=$pid
t0=$(cut -d' ' -f1 /proc/uptime)
dd if="$seed_dev" of=/dev/null bs=1M iflag=direct,skip_bytes skip="$seed_off" count="$seed_mib" 2>/dev/null ||
	die "warming the seed range failed"
t1=$(cut -d' ' -f1 /proc/uptime)
st0=$(blazy status --json "$seed_dev") || die "blazy status"
echo "vm-ublk: cache warmed in $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s: store_reads=$(json_field "$st0" store_reads)" \
	"cache_hits=$(json_field "$st0" cache_hits)"
echo "vm-ublk: a=/dev/ram0 b=$loopdev (over $SHMFILE) c=$null_dev (pid $null_pid) d=$seed_dev (pid $seed_pid)"
seedopt="--offset=$seed_off --size=$((seed_mib * 1048576))"
fi

# ---- measure -----------------------------------------------------------------------------
rep=1
while [ "$rep" -le "$reps" ]; do
	for jobs in 1 2; do
		measure "$rep" "$jobs" brd /dev/ram0 -
		[ "$quick" = 1 ] || measure "$rep" "$jobs" loop "$loopdev" -
		measure "$rep" "$jobs" null "$null_dev" "$null_pid"
		# shellcheck disable=SC2086
		[ "$quick" = 1 ] || measure "$rep" "$jobs" seed "$seed_dev" "$seed_pid" $seedopt
		i=1
		for m in $modes; do
			# shellcheck disable=SC2086  # (word splitting of the lists)
			md=$(echo $mode_devs | cut -d' ' -f$i) mp=$(echo $mode_pids | cut -d' ' -f$i)
			measure_mode "$rep" "$jobs" "$m" "$md" "$mp" "$W/mode-$m.log"
			i=$((i + 1))
		done
	done
	rep=$((rep + 1))
done
if [ "$quick" != 1 ]; then
	st1=$(blazy status --json "$seed_dev") || die "blazy status"
	sr=$(($(json_field "$st1" store_reads) - $(json_field "$st0" store_reads)))
	echo "vm-ublk: seed server during the runs: store_reads +$sr, cache_hits +$(($(json_field "$st1" cache_hits) - $(json_field "$st0" cache_hits)))," \
		"errors $(json_field "$st1" errors), unmapped $(json_field "$st1" unmapped)"
	[ "$sr" = 0 ] || echo "vm-ublk: warning: the seed range did not stay in the chunk cache ($sr store reads)"
	echo "vm-ublk: status after the runs: $st1"
fi

# ---- report ------------------------------------------------------------------------------
# the modes (before the summary: the host script cuts the output at "---- end ----")
[ -z "$modes" ] || awk -v reps="$reps" '
function med(list,    n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
FNR == NR { if ($3 == "brd") brd[$1, $2] = $4; next }
{
	k = $2 SUBSEP $3
	if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	x = brd[$1, $2] ? $4 / brd[$1, $2] : 0
	L_iops[k] = L_iops[k] " " $4; L_x[k] = L_x[k] " " x
	L_cpu[k] = L_cpu[k] " " ($5 ? $6 * 10000 / $5 : 0)
	L_busy[k] = L_busy[k] " " ($5 ? $7 * 10000 / $5 : 0)
	L_rpb[k] = L_rpb[k] " " ($9 ? $8 / $9 : 0)
	L_slp[k] = L_slp[k] " " ($5 ? $10 * 1000 / $5 : 0)
	L_cs[k] = L_cs[k] " " ($5 ? $11 * 1000 / $5 : 0)
}
END {
	for (i = 1; i <= n; i++) {
		split(order[i], kk, SUBSEP)
		printf "vm-ublk: mode jobs=%s %-14s iops=%d x_brd=%.2f server_cpu_us_per_io=%.1f busy_us_per_io=%.1f requests_per_round=%.2f sleeps_per_kio=%.0f ctxsw_per_kio=%.0f\n", \
			kk[1], kk[2], med(L_iops[order[i]]), med(L_x[order[i]]), med(L_cpu[order[i]]), \
			med(L_busy[order[i]]), med(L_rpb[order[i]]), med(L_slp[order[i]]), med(L_cs[order[i]])
	}
}' "$W/results" "$W/modes" || die "modes report failed"
# per repetition: ratios; then medians over the repetitions
awk -v ca1="$T_CA_1" -v ca2="$T_CA_2" -v db="$T_DB" -v reps="$reps" -v rt="$runtime" '
function med(list,    n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function verdict(v, t) { return v >= t ? "met" : "MISSED" }
{
	k = $1 SUBSEP $2 SUBSEP $3
	iops[k] = $4; ios[k] = $5; usr[k] = $6; srv[k] = $6 + $7; busy[k] = $8
	jobs[$2] = 1; rep[$1] = 1
}
END {
	for (j = 1; j <= 2; j++) {
		L_ca = L_db = L_a = L_b = L_c = L_d = L_cc = L_dc = ""
		L_ba = L_bb = L_bc = L_bd = L_cu = L_du = ""
		for (r = 1; r <= reps; r++) {
			a = iops[r, j, "brd"]; b = iops[r, j, "loop"]; c = iops[r, j, "null"]; d = iops[r, j, "seed"]
			cc = ios[r, j, "null"] ? srv[r, j, "null"] * 10000 / ios[r, j, "null"] : 0
			dc = ios[r, j, "seed"] ? srv[r, j, "seed"] * 10000 / ios[r, j, "seed"] : 0
			L_cu = L_cu " " (ios[r, j, "null"] ? usr[r, j, "null"] * 10000 / ios[r, j, "null"] : 0)
			L_du = L_du " " (ios[r, j, "seed"] ? usr[r, j, "seed"] * 10000 / ios[r, j, "seed"] : 0)
			ca = a ? c / a : 0; dbr = b ? d / b : 0
			printf "vm-ublk-rep: rep=%d jobs=%d brd=%d loop=%d null=%d seed=%d c/a=%.3f d/b=%.3f null_cpu_us_per_io=%.1f seed_cpu_us_per_io=%.1f\n", \
				r, j, a, b, c, d, ca, dbr, cc, dc
			L_a = L_a " " a; L_b = L_b " " b; L_c = L_c " " c; L_d = L_d " " d
			L_ca = L_ca " " ca; L_db = L_db " " dbr; L_cc = L_cc " " cc; L_dc = L_dc " " dc
			L_ba = L_ba " " (ios[r, j, "brd"] ? busy[r, j, "brd"] * 10000 / ios[r, j, "brd"] : 0)
			L_bb = L_bb " " (ios[r, j, "loop"] ? busy[r, j, "loop"] * 10000 / ios[r, j, "loop"] : 0)
			L_bc = L_bc " " (ios[r, j, "null"] ? busy[r, j, "null"] * 10000 / ios[r, j, "null"] : 0)
			L_bd = L_bd " " (ios[r, j, "seed"] ? busy[r, j, "seed"] * 10000 / ios[r, j, "seed"] : 0)
		}
		mca = med(L_ca); mdb = med(L_db)
		tca = j == 1 ? ca1 : ca2
		S[j] = sprintf("vm-ublk: jobs=%d brd=%d loop=%d null=%d seed=%d c/a=%.2f d/b=%.2f null_cpu_us_per_io=%.1f seed_cpu_us_per_io=%.1f", \
			j, med(L_a), med(L_b), med(L_c), med(L_d), mca, mdb, med(L_cc), med(L_dc))
		T[j] = sprintf("vm-ublk: jobs=%d targets: c/a >= %s %s (%.2f), d/b >= %s %s (%.2f)", \
			j, tca, verdict(mca, tca), mca, db, verdict(mdb, db), mdb)
		U[j] = sprintf("vm-ublk: jobs=%d server CPU us per I/O in user space (the rest is system): null=%.1f of %.1f, seed=%.1f of %.1f", \
			j, med(L_cu), med(L_cc), med(L_du), med(L_dc))
		B[j] = sprintf("vm-ublk: jobs=%d whole-VM busy CPU us per I/O (server + fio + kernel): brd=%.1f loop=%.1f null=%.1f seed=%.1f", \
			j, med(L_ba), med(L_bb), med(L_bc), med(L_bd))
	}
	print "vm-ublk: ---- summary: medians of " reps " rep(s), IOPS over " rt " s runs ----"
	for (j = 1; j <= 2; j++) print S[j]
	for (j = 1; j <= 2; j++) print T[j]
	for (j = 1; j <= 2; j++) print U[j]
	for (j = 1; j <= 2; j++) print B[j]
	print "vm-ublk: ---- end ----"
}' "$W/results" || die "report failed"

# ---- tear down ----------------------------------------------------------------------------
for d in $devs; do
	blazy stop "$d" >/dev/null || die "blazy stop $d"
done
for p in $pids; do
	wait_for 10 sh -c "! [ -d /proc/$p ]" || die "server $p did not exit"
done
devs="" pids=""
[ -z "$loopdev" ] || losetup -d "$loopdev" || die "losetup -d $loopdev"
loopdev=""
exit 0
