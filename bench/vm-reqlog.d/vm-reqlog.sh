#!/bin/sh
# VM side of bench/vm-reqlog (busybox sh, run by the VM harness as a "test"): fio 4 KiB
# random reads on two null devices, one with the request log on (tmpfs), in pairs (off
# then on, or on then off, alternating) so that the slow drift of a TCG guest's speed
# cancels out within a pair. Reports per numjobs the median IOPS of each, the median of the
# per-pair ratios on/off (the figure against the target), and each server's CPU time per
# I/O (utime+stime of the server process over the measured run / I/Os). Parameters on the
# kernel command line: vmreqlog.runtime=S (10), vmreqlog.reps=N (3), vmreqlog.perf=1 (one
# more 1-job run on each server under perf record -a, and the top of each profile),
# vmreqlog.pin=1 (the servers on CPU 0, fio on CPU 1), vmreqlog.toggle=1 (one server, its
# log started with `blazy log --start` before each "on" run's warm-up and stopped after it:
# both sides of a pair on the same device and process). Each run also reports the VM's busy
# CPU per I/O (/proc/stat) and, with the log on, its writer thread's (the thread named
# blazy-reqlog: /proc/PID/task/TID/schedstat, ns), and the queue threads' sleeps per 1000
# I/Os and I/Os per batch of completions (blazy status). vmreqlog.windows=S instead: one
# server, and in each of N long fio runs per numjobs the log is started and stopped every S
# seconds (`blazy log`), fio's IOPS logged every 250 ms: the mean IOPS of each "on" window
# over the mean of the "off" windows either side of it, within one fio run, whatever speed
# that run settled at (1-job runs land at one of two from run to run). Exit 0 when
# everything ran.
set -u
. /bench/vm-lib.inc
runtime=10 reps=3 perf=0 pin=0 toggle=0 windows=0 jobs_list="1 2" reqlog=""
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	vmreqlog.runtime=*) runtime=${arg#*=} ;;
	vmreqlog.reps=*) reps=${arg#*=} ;;
	vmreqlog.perf=*) perf=${arg#*=} ;;
	vmreqlog.pin=*) pin=${arg#*=} ;;
	vmreqlog.toggle=*) toggle=${arg#*=} ;;
	vmreqlog.windows=*) windows=${arg#*=} ;;
	vmreqlog.file=*) reqlog=${arg#*=} ;;
	vmreqlog.jobs=*) jobs_list=$(echo "${arg#*=}" | tr , ' ') ;;
	esac
done
W=/dev/shm/vm-reqlog
[ -n "$reqlog" ] || reqlog=$W/req.log
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

# pinned: the servers (every thread: the daemon inherits the mask) on CPU 0, fio on CPU 1
srv_pin="" fio_pin=""
if [ "$pin" = 1 ]; then
	[ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null || die "pinning needs taskset and 2 CPUs"
	srv_pin="taskset -c 0" fio_pin="--cpus_allowed=1"
fi

serve() { # ARGS...: sets $dev and $pid (the server's)
	dev=$($srv_pin blazy serve "$@") || die "blazy serve $* failed"
	devs="$devs $dev"
	wait_for 10 test -b "$dev" || die "$dev did not appear"
	pid=$(list_pid "${dev#/dev/ublkb}")
	{ [ -n "$pid" ] && [ -d "/proc/$pid" ]; } || die "no server pid for $dev"
	if [ "$pin" = 1 ]; then
		echo "vm-reqlog: server $pid ($dev): $(grep Cpus_allowed_list "/proc/$pid/status" | tr -s '\t' ' ')"
	fi
}

# run DEV JOBS SECONDS: fio's "IOPS I/Os"
run() {
	fio $fio_pin --name=randread --filename="$1" --rw=randread --bs=4k --direct=1 --ioengine=io_uring \
		--iodepth=32 --numjobs="$2" --group_reporting --time_based --runtime="$3" \
		--randrepeat=0 --norandommap --minimal 2>"$W/fio.err" |
		awk -F';' '$1 == 3 && $5 == 0 { print $8, $6 / 4; f = 1 } END { exit !f }' ||
		{ cat "$W/fio.err"; die "fio on $1 failed"; }
}

ticks() { # PID -> utime+stime
	proc_ticks "$1" | awk '{ print $1 + $2 }'
}

vm_busy() { # -> the VM's busy ticks so far, all CPUs (/proc/stat: all but idle and iowait)
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

qsum() { # DEV FIELD -> the sum over the server's queues of FIELD (blazy status --json)
	blazy status --json "$1" | grep -o "\"$2\":[0-9]*" | awk -F: '{ s += $2 } END { print s + 0 }'
}

writer_ns() { # PID -> ns on a CPU of its log writer thread (schedstat), 0 without one
	for _t in /proc/"$1"/task/*; do
		if [ "$(cat "$_t/comm" 2>/dev/null)" = blazy-reqlog ]; then
			cut -d' ' -f1 "$_t/schedstat" 2>/dev/null && return 0
		fi
	done
	echo 0
}

median_f() { # decimal numbers on stdin -> their median (sorted in awk: busybox sort -n is for integers)
	awk '{ v[NR] = $1 + 0 } END { for (i = 2; i <= NR; i++) for (k = i; k > 1 && v[k - 1] > v[k]; k--) { t = v[k]; v[k] = v[k - 1]; v[k - 1] = t }
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
quartiles() { # decimal numbers on stdin -> "Q1-Q3" (nearest rank)
	awk '{ v[NR] = $1 + 0 } END { for (i = 2; i <= NR; i++) for (k = i; k > 1 && v[k - 1] > v[k]; k--) { t = v[k]; v[k] = v[k - 1]; v[k - 1] = t }
		a = int((NR + 3) / 4); b = int((3 * NR + 3) / 4); if (a < 1) a = 1; if (b < 1) b = 1; printf "%.3f-%.3f\n", v[a], v[b] }'
}
mean_ci() { # decimal numbers on stdin -> "MEAN (95% interval LOW-HIGH)": mean -+ 1.96 standard errors
	# (square roots by Newton's method: the VM's busybox awk has no sqrt)
	awk 'function root(x,  r, i) { if (x <= 0) return 0; r = x > 1 ? x : 1; for (i = 0; i < 60; i++) r = (r + x / r) / 2; return r }
		{ s += $1; q += $1 * $1 } END { m = s / NR; v = NR > 1 ? (q - NR * m * m) / (NR - 1) : 0; h = 1.96 * root(v / NR)
		printf "%.3f (95%% interval %.3f-%.3f)\n", m, m - h, m + h }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

command -v fio >/dev/null || die "fio is missing"
rm -rf "$W"
mkdir -p "$W"
echo "vm-reqlog: $(nproc) cpus; $(fio --version); runtime ${runtime}s, $reps rep(s), pinned: $pin, one server with the log toggled: $toggle, windows: ${windows}s"
serve --backend null,size=1G --queues 2 --depth 64 --log "$W/off.log"
off_dev=$dev off_pid=$pid
if [ "$toggle" = 1 ] || [ "$windows" -gt 0 ]; then
	on_dev=$dev on_pid=$pid
else
	serve --backend null,size=1G --queues 2 --depth 64 --log "$W/on.log" --log-requests "$reqlog"
	on_dev=$dev on_pid=$pid
fi
toggled_lines=0
log_on() { # WHICH: starts the toggled log before an "on" run
	[ "$toggle" = 1 ] && [ "$1" = on ] || return 0
	blazy log --start "$reqlog" "$on_dev" >/dev/null || die "blazy log --start"
}
log_off() { # WHICH: stops it after the run; counts its lines, fails on any dropped
	{ [ "$toggle" = 1 ] || [ "$windows" -gt 0 ]; } && [ "$1" = on ] || return 0
	_o=$(blazy log --stop "$on_dev") || die "blazy log --stop"
	set -- $(echo "$_o" | tr -dc '0-9 \n' | awk '{ print $1, $2 }')
	[ ! -f "$reqlog" ] || [ "$(wc -l <"$reqlog")" -gt "$1" ] || die "the toggled log has fewer lines than blazy log said: $_o"
	toggled_lines=$((toggled_lines + $1))
	[ "${2:-0}" = 0 ] || echo "vm-reqlog: the log dropped lines: $_o"
}
uptime_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# windowed JOBS: one fio run of N = 2 * (runtime / windows) + 1 windows of $windows seconds,
# the log on in every second one (the first is off), fio's IOPS every 250 ms. Appends to
# $W/wpairs "JOBS RATIO ON OFF" per "on" window: its mean IOPS over the mean of the "off"
# windows either side. fio's clock starts when its job does, a little after the shell's
# (unknown: no finer clock in busybox than /proc/uptime): samples from 1 s before a
# window's nominal start to 750 ms after its toggle was done are left out.
windowed() {
	_n=$((2 * (runtime / windows) + 1))
	[ "$_n" -ge 3 ] || _n=3
	rm -f "$W"/iops_iops.*.log "$W/toggles"
	fio $fio_pin --name=randread --filename="$on_dev" --rw=randread --bs=4k --direct=1 \
		--ioengine=io_uring --iodepth=32 --numjobs="$1" --time_based \
		--runtime="$((_n * windows + 2))" --randrepeat=0 --norandommap \
		--write_iops_log="$W/iops" --log_avg_msec=250 >/dev/null 2>"$W/fio.err" &
	_fio=$!
	_t0=$(uptime_ms)
	_k=1
	while [ "$_k" -lt "$_n" ]; do
		_at=$((_t0 + _k * windows * 1000))
		while [ "$(uptime_ms)" -lt "$_at" ]; do sleep 0.05; done
		if [ $((_k % 2)) = 1 ]; then
			blazy log --start "$reqlog" "$on_dev" >/dev/null || die "blazy log --start"
		else
			log_off on
		fi
		echo "$_k $(($(uptime_ms) - _t0))" >>"$W/toggles"
		_k=$((_k + 1))
	done
	[ $((_n % 2)) = 1 ] || log_off on
	wait "$_fio" || { cat "$W/fio.err"; die "fio (windowed) failed"; }
	cat "$W"/iops_iops.*.log | awk -F', *' -v w=$((windows * 1000)) -v n="$_n" -v j="$1" \
		-v tf="$W/toggles" '
		BEGIN { while ((getline l < tf) > 0) { split(l, a, " "); done_at[a[1]] = a[2] } }
		{ sum[int(($1 + 125) / 250)] += $2 } # 250 ms samples, summed over the jobs
		END {
			for (b in sum) {
				t = b * 250; k = int((t - 250) / w)
				if (k < 0 || k >= n || t > (k + 1) * w - 1000) continue
				if (t - 250 < (k in done_at ? done_at[k] : 0) + 750) continue
				s[k] += sum[b]; c[k]++
			}
			for (k = 1; k < n - 1; k += 2)
				if (c[k] && c[k - 1] && c[k + 1]) {
					off = (s[k - 1] / c[k - 1] + s[k + 1] / c[k + 1]) / 2
					printf "%d %.4f %.0f %.0f\n", j, s[k] / c[k] / off, s[k] / c[k], off
				}
		}' >>"$W/wpairs"
}

if [ "$windows" -gt 0 ]; then
	: >"$W/wpairs"
	rep=1
	while [ "$rep" -le "$reps" ]; do
		for jobs in $jobs_list; do
			run "$on_dev" "$jobs" 1 >/dev/null
			before=$(wc -l <"$W/wpairs")
			windowed "$jobs"
			tail -n +$((before + 1)) "$W/wpairs" | awk -v r="$rep" \
				'{ printf "vm-reqlog-window: rep=%d jobs=%d on/off=%s on=%s off=%s\n", r, $1, $2, $3, $4 }'
		done
		rep=$((rep + 1))
	done
	for d in $devs; do blazy stop "$d" >/dev/null || die "blazy stop $d"; done
	devs=""
	echo "vm-reqlog: the toggled logs: $toggled_lines lines in all"
	for jobs in $jobs_list; do
		awk -v j="$jobs" '$1 == j { print $2 }' "$W/wpairs" >"$W/wr"
		[ -s "$W/wr" ] || die "no complete window for $jobs job(s)"
		echo "vm-reqlog: jobs=$jobs windows of ${windows}s: $(wc -l <"$W/wr") on windows," \
			"median on/off=$(median_f <"$W/wr") (target >= 0.95; quartiles $(quartiles <"$W/wr"))," \
			"mean $(mean_ci <"$W/wr"), ratio of mean IOPS" \
			"$(awk -v j="$jobs" '$1 == j { on += $3; off += $4 } END { printf "%.3f", on / off }' "$W/wpairs")"
	done
	echo "vm-reqlog: ---- end ----"
	exit 0
fi

hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
: >"$W/results"
: >"$W/pairs"
rep=1
while [ "$rep" -le "$reps" ]; do
	for jobs in $jobs_list; do
		# alternate which goes first
		if [ $((rep % 2)) = 1 ]; then order="off on"; else order="on off"; fi
		for which in $order; do
			eval d=\$${which}_dev p=\$${which}_pid
			log_on "$which"
			run "$d" "$jobs" 1 >/dev/null
			s0=$(qsum "$d" sleeps) b0=$(qsum "$d" batches)
			t0=$(ticks "$p") v0=$(vm_busy) w0=$(writer_ns "$p")
			set -- $(run "$d" "$jobs" "$runtime")
			t1=$(ticks "$p") v1=$(vm_busy) w1=$(writer_ns "$p")
			s1=$(qsum "$d" sleeps) b1=$(qsum "$d" batches)
			log_off "$which"
			us=$(awk -v t=$((t1 - t0)) -v n="$2" -v hz="$hz" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')
			vus=$(awk -v t=$((v1 - v0)) -v n="$2" -v hz="$hz" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')
			wus=$(awk -v a="$w0" -v b="$w1" -v n="$2" 'BEGIN { printf "%.3f", n ? (b - a) / 1000 / n : 0 }')
			sk=$(awk -v s=$((s1 - s0)) -v n="$2" 'BEGIN { printf "%.1f", (n ? s * 1000 / n : 0) }')
			ipb=$(awk -v b=$((b1 - b0)) -v n="$2" 'BEGIN { printf "%.2f", (b ? n / b : 0) }')
			echo "vm-reqlog-run: rep=$rep jobs=$jobs log=$which iops=$1 server_us_per_io=$us vm_us_per_io=$vus writer_us_per_io=$wus sleeps_per_kio=$sk ios_per_batch=$ipb"
			echo "$jobs $which $1 $us $vus $wus $sk $ipb" >>"$W/results"
			eval "${which}_iops=$1"
		done
		echo "$jobs $(awk -v a="$on_iops" -v b="$off_iops" 'BEGIN { printf "%.4f", a / b }')" >>"$W/pairs"
	done
	rep=$((rep + 1))
done
if [ "$perf" = 1 ]; then
	for which in off on; do
		eval d=\$${which}_dev
		log_on "$which"
		perf record -q -a -F 499 -e cpu-clock -o "$W/perf.$which" -- \
			fio $fio_pin --name=randread --filename="$d" --rw=randread --bs=4k --direct=1 --ioengine=io_uring \
			--iodepth=32 --numjobs=1 --time_based --runtime="$runtime" --randrepeat=0 --norandommap \
			>/dev/null 2>&1 || die "perf record of fio on the log-$which server failed"
		log_off "$which"
		echo "vm-reqlog-perf: log=$which (1 job, under perf record -a: not a measurement)"
		perf report -i "$W/perf.$which" --stdio --no-children --sort comm,dso 2>/dev/null |
			grep -E '^ +[0-9]' | head -n 15 | sed "s/^/vm-reqlog-perf: $which: /"
		perf report -i "$W/perf.$which" --stdio --no-children --sort comm,dso,sym 2>/dev/null |
			grep -E '^ +[0-9]' | head -n 45 | sed "s/^/vm-reqlog-perf: $which: /"
		rm -f "$W/perf.$which"
	done
fi
if [ "$toggle" = 1 ]; then
	for d in $devs; do blazy stop "$d" >/dev/null || die "blazy stop $d"; done
	devs=""
	echo "vm-reqlog: the toggled logs: $toggled_lines lines in all"
else
	lines_before=$(wc -l <"$reqlog")
	for d in $devs; do blazy stop "$d" >/dev/null || die "blazy stop $d"; done
	devs=""
	grep 'request log off' "$W/on.log" | sed 's/^/vm-reqlog: server: /'
	if [ -f "$reqlog" ]; then
		lines=$(($(wc -l <"$reqlog") - 1))
		echo "vm-reqlog: the log: $lines lines ($(du -m "$reqlog" | cut -f1) MiB; $lines_before before the stop)"
	fi
fi
col() { # JOBS WHICH FIELD: that field of the results of those runs, one a line
	awk -v j="$1" -v w="$2" -v f="$3" '$1 == j && $2 == w { print $f }' "$W/results"
}
for jobs in $jobs_list; do
	off=$(col "$jobs" off 3 | median) on=$(col "$jobs" on 3 | median)
	off_us=$(col "$jobs" off 4 | median_f) on_us=$(col "$jobs" on 4 | median_f)
	off_vus=$(col "$jobs" off 5 | median_f) on_vus=$(col "$jobs" on 5 | median_f)
	on_wus=$(col "$jobs" on 6 | median_f)
	off_sk=$(col "$jobs" off 7 | median_f) on_sk=$(col "$jobs" on 7 | median_f)
	off_ipb=$(col "$jobs" off 8 | median_f) on_ipb=$(col "$jobs" on 8 | median_f)
	pair=$(awk -v j="$jobs" '$1 == j { print $2 }' "$W/pairs" | median_f)
	quart=$(awk -v j="$jobs" '$1 == j { print $2 }' "$W/pairs" | quartiles)
	echo "vm-reqlog: jobs=$jobs off=$off on=$on ratio of medians=$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f", a / b }')" \
		"median of pair ratios on/off=$pair (target >= 0.95; quartiles $quart); server us/IO off=$off_us on=$on_us"
	echo "vm-reqlog: jobs=$jobs CPU: the VM's busy us/IO off=$off_vus on=$on_vus; the log writer thread's us/IO=$on_wus," \
		"$(awk -v w="$on_wus" -v v="$off_vus" 'BEGIN { printf "%.1f", (v > 0 ? 100 * w / v : 0) }')% of the VM's CPU per I/O without the log" \
		"(the IOPS the writer costs while the VM's CPUs are the limit; the queue threads' ring copies not included);" \
		"queue threads' sleeps per 1000 I/Os off=$off_sk on=$on_sk, I/Os per batch off=$off_ipb on=$on_ipb"
done
echo "vm-reqlog: ---- end ----"
