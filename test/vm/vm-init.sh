#!/bin/sh
# /init of the blazy test VM (busybox sh); mkinitramfs.sh installs it.
# Mounts the basics, loads the modules listed in /etc/blazyvm/modules, runs
# /tests/*.sh (or those named by blazy.tests=a.sh,b.sh on the kernel command
# line), each under a time limit (blazy.test_timeout=SECONDS, default 300),
# and reports on the console:
#   BLAZYVM: BEGIN name / test output / BLAZYVM: END name rc=N
#   BLAZYVM: TIMEOUT name after Ns   (before END, when the limit hit)
#   BLAZYVM: DONE passed=N failed=N skipped=N
# then powers off. rc 0 = pass, 77 = skip, anything else = fail.
# blazy.shell=1 starts a shell on the console after the tests (interactive use).
# Not set -e: pid 1 must never exit early.
set -u

export PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/root TMPDIR=/tmp BLAZYVM=1

mount -t devtmpfs -o mode=0755 devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm /run /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo /sbin/modprobe >/proc/sys/kernel/modprobe
ip link set lo up 2>/dev/null
hostname blazyvm

release=$(uname -r)
echo "BLAZYVM: kernel $release, $(nproc) cpus, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)"

# Modules, in dependency order (computed when the initramfs was built).
loaded=""
if [ -r /etc/blazyvm/modules ]; then
	while read -r m; do
		[ -n "$m" ] || continue
		name=${m##*/}
		name=${name%.ko}
		if err=$(insmod "/lib/modules/$release/$m" 2>&1); then
			loaded="$loaded $name"
		else
			echo "BLAZYVM: insmod $name failed: $err"
		fi
	done </etc/blazyvm/modules
fi
echo "BLAZYVM: modules loaded:$loaded"

selected=""
test_timeout=300
shell=0
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	blazy.tests=*) selected=$(echo "${arg#blazy.tests=}" | tr ',' ' ') ;;
	blazy.test_timeout=*) test_timeout=${arg#blazy.test_timeout=} ;;
	blazy.shell=1) shell=1 ;;
	esac
done
if [ -z "$selected" ]; then
	for t in /tests/*.sh; do
		[ -f "$t" ] && selected="$selected ${t##*/}"
	done
fi

mkdir -p /run/blazyvm
passed=0 failed=0 skipped=0
for name in $selected; do
	path=/tests/$name
	[ -f "$path" ] || [ ! -f "$path.sh" ] || path=$path.sh
	[ ! -f "$path" ] || name=${path##*/}
	echo "BLAZYVM: BEGIN $name"
	start=$(cut -d. -f1 /proc/uptime)
	klines=$(dmesg | wc -l)
	if [ ! -f "$path" ]; then
		echo "no such test: $path"
		rc=127
	else
		rm -f /run/blazyvm/timeout
		# The test runs in its own session so that a timeout kills all of it.
		(cd /tmp && BLAZYVM_TEST=$name exec setsid sh "$path" </dev/null) &
		tpid=$!
		# shellcheck disable=SC2016  # expanded by the watchdog's own sh
		setsid sh -c 'sleep "$1"; echo "BLAZYVM: TIMEOUT $2 after $1s"; : >/run/blazyvm/timeout
			kill -KILL -"$3" "$3" 2>/dev/null' watchdog "$test_timeout" "$name" "$tpid" &
		wpid=$!
		wait "$tpid"
		rc=$?
		kill -KILL -"$wpid" "$wpid" 2>/dev/null
		wait "$wpid" 2>/dev/null
		[ ! -e /run/blazyvm/timeout ] || rc=124
	fi
	end=$(cut -d. -f1 /proc/uptime)
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		# the kernel's messages during a failed test ("quiet" hides most)
		dmesg | tail -n +"$((klines + 1))" | tail -n 60 | sed 's/^/dmesg: /'
	fi
	echo "BLAZYVM: TIME $name $((end - start))s"
	echo "BLAZYVM: END $name rc=$rc"
	case $rc in
	0) passed=$((passed + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)) ;;
	esac
done
echo "BLAZYVM: DONE passed=$passed failed=$failed skipped=$skipped"

if [ "$shell" = 1 ]; then
	echo "BLAZYVM: shell (exit to power off)"
	setsid cttyhack sh
fi
sync
poweroff -f
# Not reached unless poweroff failed: ask the kernel directly.
echo o >/proc/sysrq-trigger
while :; do sleep 60; done
