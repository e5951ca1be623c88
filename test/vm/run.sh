#!/bin/bash
# Run blazy's VM tests: boot a Debian 13 kernel under qemu (TCG) with an
# initramfs holding blazy and the tests, and collect the results.
#
# Usage: run.sh --blazy PATH [--timeout SECONDS] [--disk FILE]... [--tests DIR]
#               [--extra BIN]... [--file SRC:DST]... [--only a.sh,b.sh]
#               [--log FILE] [--test-timeout SECONDS] [--append ARGS] [--shell]
#               [--kernel stable|backports]
#
#   --blazy PATH         static blazy executable (/bin/blazy in the VM)
#   --timeout SECONDS    wall-clock limit for the whole VM run (default 600)
#   --disk FILE          attach FILE as a raw virtio disk (/dev/vda, vdb, ...)
#   --tests DIR          test scripts (default test/vm/tests)
#   --extra BIN          extra program (with its libraries) in /usr/local/bin
#   --file SRC:DST       extra file or directory in the image
#   --only LIST          run only these tests (comma-separated; ".sh" optional, or a
#                        prefix of one test's name: 057)
#   --log FILE           console log (default: a new file in $TMPDIR or /tmp)
#   --test-timeout SECS  per-test limit inside the VM (default 300)
#   --append ARGS        extra kernel command-line arguments
#   --shell              after the tests, a shell on the console (interactive)
#   --kernel CHOICE      stable: trixie's kernel (6.12), backports: trixie-backports'
#                        (7.x); default $BLAZY_VM_KERNEL, else stable
#
# BLAZY_VM_APPEND adds kernel command-line arguments too (after --append), for benchmarks
# run through other scripts (e.g. BLAZY_VM_APPEND=mitigations=off bench/vm-e2e).
#
# The console streams to stdout and the log. At the end: one line per test
# ("ok NAME", "FAIL NAME", "skip NAME") and "N passed, N failed, N skipped".
# Exit status 0 only if no test failed or timed out and the VM reported DONE.
# The kernel comes from fetch-kernel.sh (cached; see BLAZY_CACHE); the log
# and the summary name its release.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

timeout=600 tests=$here/tests only="" log="" blazy="" test_timeout="" append="" shell=0
kchoice=${BLAZY_VM_KERNEL:-stable}
disks=() mkargs=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--blazy) blazy=${2:?}; shift 2 ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--disk) disks+=("${2:?}"); shift 2 ;;
	--tests) tests=${2:?}; shift 2 ;;
	--extra | --file | --module) mkargs+=("$1" "${2:?}"); shift 2 ;;
	--only) only=${2:?}; shift 2 ;;
	--log) log=${2:?}; shift 2 ;;
	--test-timeout) test_timeout=${2:?}; shift 2 ;;
	--append) append=${2:?}; shift 2 ;;
	--shell) shell=1; shift ;;
	--kernel) kchoice=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	*) vm_die "unknown argument $1 (see --help)" ;;
	esac
done
[[ -n $blazy ]] || vm_die "--blazy PATH is required"
vm_kernel_suite "$kchoice" >/dev/null
[[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || vm_die "--timeout wants seconds"
for d in "${disks[@]}"; do
	[[ -f $d || -b $d ]] || vm_die "--disk $d: no such file"
done
command -v qemu-system-x86_64 >/dev/null || vm_die "qemu-system-x86_64 is missing (run test/vm/deps.sh)"

# --only names: a test's file name, without ".sh", or a prefix of one name (057): resolved
# here, so that a wrong name fails before the boot.
if [[ -n $only ]]; then
	resolved=()
	IFS=, read -ra wanted <<<"$only"
	for w in "${wanted[@]}"; do
		if [[ -f $tests/$w ]]; then
			resolved+=("$w")
			continue
		fi
		if [[ -f $tests/$w.sh ]]; then
			resolved+=("$w.sh")
			continue
		fi
		m=()
		for f in "$tests/$w"*.sh; do [[ -f $f ]] && m+=("${f##*/}"); done
		if [[ ${#m[@]} -ne 1 ]]; then
			vm_die "--only $w: ${#m[@]} tests in $tests match (${m[*]:-none})"
		fi
		resolved+=("${m[0]}")
	done
	only=$(IFS=,; echo "${resolved[*]}")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/blazy-vm.XXXXXX")
cleanup() {
	local pid
	if [[ -s $work/qemu.pid ]]; then
		pid=$(cat "$work/qemu.pid")
		if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == qemu-system-* ]]; then
			kill -TERM "$pid" 2>/dev/null || true
			sleep 1
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

if [[ -z $log ]]; then
	log=$(mktemp "${TMPDIR:-/tmp}/blazy-vm-$(date +%Y%m%d-%H%M%S).XXXXXX.log")
fi
mkdir -p "$(dirname "$log")"
: >"$log"

kernel=$("$here/fetch-kernel.sh" --kernel "$kchoice")
"$here/mkinitramfs.sh" "$work/initrd.cpio.gz" --kernel "$kernel" --blazy "$blazy" \
	--tests "$tests" "${mkargs[@]}"

cmdline="console=ttyS0 panic=-1 quiet"
[[ -z $only ]] || cmdline+=" blazy.tests=$only"
[[ -z $test_timeout ]] || cmdline+=" blazy.test_timeout=$test_timeout"
[[ $shell == 0 ]] || cmdline+=" blazy.shell=1"
[[ -z $append ]] || cmdline+=" $append"
[[ -z ${BLAZY_VM_APPEND:-} ]] || cmdline+=" $BLAZY_VM_APPEND"

qemu=(qemu-system-x86_64 -accel tcg -cpu max -m 2G -smp 2 -nographic -no-reboot -nic none
	-kernel "$kernel/vmlinuz" -initrd "$work/initrd.cpio.gz" -append "$cmdline"
	-pidfile "$work/qemu.pid")
for d in "${disks[@]}"; do
	qemu+=(-drive "file=${d//,/,,},format=raw,if=virtio")
done

# One VM at a time on this machine: TCG guests share two cores, and a second one
# would slow the first past its time limits and skew benchmarks.
# A caller that holds the lock already (flock LOCK test/vm/run.sh ...) passed its open lock
# file down: locking that same open file again succeeds at once, where a new open would wait
# for the caller forever.
lock=${TMPDIR:-/tmp}/blazy-vm.lock
exec 9>>"$lock"
for fd in /proc/$$/fd/*; do
	if [[ ${fd##*/} != 9 && $(readlink "$fd") == "$(readlink -f "$lock")" ]] && flock -n "${fd##*/}"; then
		exec 9>&"${fd##*/}"
		break
	fi
done
if ! flock -n 9; then
	vm_log "another VM run holds $lock; waiting for it"
	flock 9
fi
# A boot that panics before the first test begins is a TCG emulation flake (seen: an int3
# Oops in the kernel's own code patching while booting on a loaded host), not a test
# result: it is booted once more, and said so.
for attempt in 1 2; do
	vm_log "booting $(cat "$kernel/release") ($kchoice kernel; timeout ${timeout}s), console log: $log"
	start=$SECONDS
	# The pipeline runs in the background and the script waits for it: bash runs
	# the INT/TERM traps (which kill qemu) only once a foreground command ends,
	# but a wait is interrupted at once.
	exec 3<&0
	if [[ $shell == 1 ]]; then
		{
			timeout --foreground -k 10 "$timeout" "${qemu[@]}" <&3 2>&1
			echo $? >"$work/qemu.rc"
		} | sed -u -e 's/\r$//' | tee "$log" &
	else
		{
			timeout -k 10 "$timeout" "${qemu[@]}" </dev/null 2>&1
			echo $? >"$work/qemu.rc"
		} | sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' | tee "$log" &
	fi
	wait $! || true
	exec 3<&-
	if [[ $attempt == 1 ]] && grep -q 'Kernel panic' "$log" && ! grep -q 'BLAZYVM: BEGIN' "$log"; then
		cp "$log" "$log.panic"
		vm_log "the kernel panicked while booting, before any test (log kept in $log.panic); booting again"
		continue
	fi
	break
done
qemu_rc=$(cat "$work/qemu.rc" 2>/dev/null || echo 255)
elapsed=$((SECONDS - start))

vm_timed_out=0
if [[ $qemu_rc == 124 || $qemu_rc == 137 ]]; then
	vm_timed_out=1
	vm_log "VM timed out after ${timeout}s; qemu killed"
elif [[ $qemu_rc != 0 ]]; then
	vm_log "qemu exited with status $qemu_rc"
fi

# Parse the markers (they may follow other text on a line).
declare -A rcs=() timed_out=()
order=() done_seen=0
while IFS= read -r line; do
	if [[ $line =~ BLAZYVM:\ BEGIN\ ([^[:space:]]+) ]]; then
		order+=("${BASH_REMATCH[1]}")
	elif [[ $line =~ BLAZYVM:\ END\ ([^[:space:]]+)\ rc=([0-9]+) ]]; then
		rcs[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
	elif [[ $line =~ BLAZYVM:\ TIMEOUT\ ([^[:space:]]+) ]]; then
		timed_out[${BASH_REMATCH[1]}]=1
	elif [[ $line =~ BLAZYVM:\ DONE\  ]]; then
		done_seen=1
	fi
done <"$log"

passed=0 failed=0 skipped=0 results=()
for name in "${order[@]}"; do
	rc=${rcs[$name]:-}
	if [[ -n ${timed_out[$name]:-} ]]; then
		vm_log "$name: timed out inside the VM"
		results+=("FAIL $name")
		failed=$((failed + 1))
	elif [[ -z $rc ]]; then
		vm_log "$name: did not finish (VM timeout or crash)"
		results+=("FAIL $name")
		failed=$((failed + 1))
	elif [[ $rc == 0 ]]; then
		results+=("ok $name")
		passed=$((passed + 1))
	elif [[ $rc == 77 ]]; then
		results+=("skip $name")
		skipped=$((skipped + 1))
	else
		vm_log "$name: exit status $rc"
		results+=("FAIL $name")
		failed=$((failed + 1))
	fi
done
if [[ $done_seen == 0 ]]; then
	grep -q 'Kernel panic' "$log" && vm_log "the kernel panicked (see $log)"
	vm_log "the VM did not report DONE"
	if [[ $failed == 0 ]]; then
		results+=("FAIL vm")
		failed=1
	fi
fi

vm_log "VM ran ${elapsed}s on $(cat "$kernel/release"); log: $log"
echo
[[ ${#results[@]} -eq 0 ]] || printf '%s\n' "${results[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed == 0 && $done_seen == 1 && $vm_timed_out == 0 ]]
