#!/bin/bash
# The reboot test: two VM boots sharing a virtio disk (test/vm/reboot/). The first makes a
# seed, mounts it with blazy, writes and clones, unmounts; the second, a fresh kernel, mounts
# again with the same arguments and checks everything. Prints "N passed, N failed".
#   test/vm/run-reboot.sh --blazy PATH [--extra BIN]... [--kernel stable|backports]
# (the arguments go to run.sh; the kernel defaults to $BLAZY_VM_KERNEL, else stable)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
args=("$@")
disk=$(mktemp /tmp/blazy-reboot-disk.XXXXXX)
trap 'rm -f "$disk"' EXIT
truncate -s 4G "$disk"
mkfs.btrfs -q -f "$disk" >/dev/null
passed=0 failed=0
for boot in 010-boot1 020-boot2; do
	if "$here/run.sh" "${args[@]}" --tests "$here/reboot" --only "$boot" --disk "$disk" \
		--file "$here/tests/ublk-lib.inc:/tests/ublk-lib.inc" \
		--timeout 600 >"$disk.log" 2>&1; then
		passed=$((passed + 1))
		echo "ok reboot/$boot"
	else
		failed=$((failed + 1))
		echo "FAIL reboot/$boot"
		sed 's/^/    /' "$disk.log"
		break
	fi
	grep -E '^(ok|FAIL):|backing' "$disk.log" | sed 's/^/    /' || true
done
rm -f "$disk.log"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
