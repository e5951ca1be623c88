# shellcheck shell=bash
# Host-side helpers for the VM benches (bench/vm-ublk, bench/vm-e2e). Sourced, not executed.
# The caller sets $bench (its name, for messages).
: "${bench:=bench}"

# bench_wait_other: a second VM on this 2-core machine would skew the ratios; wait (at most
# an hour) until no other qemu runs.
bench_wait_other() {
	local waited=0
	while pgrep -f '^qemu-system' >/dev/null; do
		[[ $waited -gt 0 ]] || echo "$bench: another qemu is running ($(pgrep -d' ' -f '^qemu-system')); waiting (--no-wait to skip)" >&2
		sleep 10
		waited=$((waited + 10))
		if [[ $waited -ge 3600 ]]; then
			echo "$bench: still another qemu after an hour; giving up" >&2
			exit 1
		fi
	done
}

# bench_monitor_start: samples the host every 5 s while the VM runs: whether another qemu
# runs alongside, and the host's CPU time (/proc/stat) split into qemu's, everyone else's and
# steal (this machine may itself be a VM). bench_monitor_stop prints the host's load, the
# split, and a warning when another qemu ran or others took more than half a core.
bench_monitor_start() {
	bench_others=$(mktemp)
	bench_cpu=$(mktemp)
	trap 'rm -f "$bench_others" "$bench_cpu"; [[ -z ${bench_mon:-} ]] || kill "$bench_mon" 2>/dev/null || true' EXIT
	(
		# prints "busy steal qemu" ticks: busy = user+nice+system+irq+softirq
		sample() {
			local q=0 p t
			for p in $(pgrep -f '^qemu-system'); do
				t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
				q=$((q + ${t:-0}))
			done
			awk -v q="$q" '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $9, q; exit }' /proc/stat
		}
		prev=$(sample)
		while sleep 5; do
			n=$(pgrep -c -f '^qemu-system' || true)
			[[ ${n:-0} -le 1 ]] || echo "another qemu ran alongside at $(date -u +%H:%M:%S)" >>"$bench_others"
			cur=$(sample)
			echo "$prev $cur" >>"$bench_cpu"
			prev=$cur
		done
	) >/dev/null 2>&1 &
	bench_mon=$!
	bench_load0=$(cut -d' ' -f1-3 /proc/loadavg)
}

bench_monitor_stop() {
	kill "$bench_mon" 2>/dev/null || true
	bench_mon=""
	echo
	echo "$bench: host load average before: $bench_load0, after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
	# per 5 s sample, in cores: qemu, the others (busy - qemu), steal
	awk -v hz="$(getconf CLK_TCK)" -v b="$bench" '
	{ d = 5 * hz; q = ($6 - $3) / d; o = ($4 - $1) / d - q; st = ($5 - $2) / d
	  if (o < 0) o = 0
	  Q += q; O += o; S += st; n++; if (o > mo) mo = o; if (st > ms) ms = st; if (o > 0.5) hi++ }
	END { if (n) printf "%s: host CPU while the VM ran (%d samples of 5 s), in cores: qemu %.2f, others %.2f (max %.2f), steal %.2f (max %.2f)%s\n", \
		b, n, Q / n, O / n, mo, S / n, ms, hi ? sprintf("; others took more than half a core in %d samples: the ratios may be skewed", hi) : "" }' "$bench_cpu"
	if [[ -s $bench_others ]]; then
		echo "$bench: warning: $(sort -u "$bench_others" | head -n 1) (and $(($(wc -l <"$bench_others") - 1)) more samples): the ratios may be skewed"
	fi
}

# bench_new_log: a new console log file name
bench_new_log() {
	mktemp "${TMPDIR:-/tmp}/blazy-vm-$(date +%Y%m%d-%H%M%S).XXXXXX.log"
}

# bench_kernels CHOICE: the kernels a bench boots, one word each: stable, backports, or both
# (test/vm/fetch-kernel.sh). Fails on anything else.
bench_kernels() {
	case $1 in
	both) echo stable backports ;;
	stable | backports) echo "$1" ;;
	*) return 1 ;;
	esac
}

# bench_run_kernels KERNELS LOG END RUN_ARG...: one VM boot per kernel of KERNELS
# (bench_kernels' words): test/vm/run.sh RUN_ARG... --kernel K --log LOG (LOG-K.log when
# there are several kernels), with the host monitored (bench_monitor_*). After each boot it
# prints what the caller's `bench_show LOG` picks from the console log; a boot whose log has
# no line matching the regex END failed. Then, for several kernels, what `bench_summary LOG`
# picks, per kernel. Returns 0 when every boot reached END.
bench_run_kernels() {
	local kernels=$1 log=$2 end=$3 k klog kdir name rc failed=0 l
	shift 3
	local -a lines=()
	# several kernels: LOG only names their logs
	[[ $kernels != *" "* || -s $log ]] || rm -f "$log"
	for k in $kernels; do
		klog=$log
		[[ $kernels != *" "* ]] || klog=${log%.log}-$k.log
		kdir=$("$top/test/vm/fetch-kernel.sh" --kernel "$k") || return 1
		name="$k kernel $(cat "$kdir/release")"
		echo "$bench: booting the $name; log: $klog" >&2
		bench_monitor_start
		rc=0
		"$top/test/vm/run.sh" "$@" --kernel "$k" --log "$klog" >/dev/null || rc=$?
		bench_monitor_stop
		echo "$bench: the $name:"
		bench_show "$klog" || true
		if [[ $rc != 0 ]] || ! grep -qE "$end" "$klog"; then
			echo "$bench: the VM run on the $name failed (run.sh exit $rc); see $klog" >&2
			grep -E "${bench#bench/}: error|FAIL|BLAZYVM: (TIMEOUT|END)" "$klog" >&2 || true
			failed=1
			continue
		fi
		while IFS= read -r l; do
			lines+=("$name: $l")
		done < <(bench_summary "$klog")
	done
	if [[ $kernels == *" "* && ${#lines[@]} -gt 0 ]]; then
		echo
		echo "$bench: per kernel"
		printf '%s\n' "${lines[@]}"
	fi
	return "$failed"
}
