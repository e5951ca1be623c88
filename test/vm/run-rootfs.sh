#!/bin/bash
# The lazy-rootfs test: a real Debian root (debootstrap minbase, test/vm/fetch-rootfs.sh)
# imported with `blazy mkseed --lazy`. On the host: the seed image is at most 3% of the
# data bytes and `btrfs check` finds it clean. Then one VM boot (test/vm/rootfs/) mounts it
# lazily with `blazy mount`, runs programs from it in a chroot, reports the fraction of the
# stored bytes fetched, reads every file against the source's manifest, and checks that a
# corrupted and a missing store chunk give EIO for their files only; 008-remote-rootfs.sh
# does the same with the store served over HTTP and through the example external fetcher.
#   test/vm/run-rootfs.sh --blazy PATH --treesum PATH [--extra BIN]... [--kernel stable|backports]
#                         [--only a.sh,b.sh]
# (the kernel defaults to $BLAZY_VM_KERNEL, else stable; --only runs only those tests of
# test/vm/rootfs/ in the VM, and the --local-list check only when 010 is among them)
# Prints "ok NAME" / "FAIL NAME" lines and "N passed, N failed".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

blazy="" treesum="" extra=() only=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--blazy) blazy=${2:?}; shift 2 ;;
	--treesum) treesum=${2:?}; shift 2 ;;
	--extra) extra+=(--extra "${2:?}"); shift 2 ;;
	--kernel) extra+=(--kernel "${2:?}"); shift 2 ;;
	--only) only=${2:?}; extra+=(--only "$only"); shift 2 ;;
	*) vm_die "unknown argument $1" ;;
	esac
done
[[ -n $blazy && -n $treesum ]] || vm_die "usage: $0 --blazy PATH --treesum PATH [--extra BIN]... [--kernel stable|backports] [--only a.sh,b.sh]"

tmp=$([[ -d /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")
work=$(mktemp -d "$tmp/blazy-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
result() { # result NAME OK(0/1) [DETAIL]
	if [[ $2 == 0 ]]; then
		passed=$((passed + 1))
		echo "ok rootfs/$1${3:+: $3}"
	else
		failed=$((failed + 1))
		echo "FAIL rootfs/$1${3:+: $3}"
	fi
}

disk=$work/disk.img
json=$("$here/rootfs-disk.sh" --blazy "$blazy" --treesum "$treesum" --out "$disk")
num() { grep -o "\"$1\":[0-9]*" <<<"$json" | head -n1 | cut -d: -f2; }
data=$(num data_bytes) seed=$(num seed_disk_bytes) stored=$(num stored_bytes)
echo "rootfs: $(num files) files, $data data bytes; seed image $seed bytes on disk;" \
	"store $(num store_disk_bytes) bytes for $stored bytes stored"
pct=$(awk -v s="$seed" -v d="$data" 'BEGIN { printf "%.2f", 100 * s / d }')
result seed-size $(( seed * 100 <= data * 3 ? 0 : 1 )) "seed image $pct% of the data bytes (limit 3%)"

# btrfs check on a sparse copy grown to the device size (the image holds the local region).
rm -rf "$disk.src"
mnt=$work/mnt
mkdir -p "$mnt"
mount -o loop,ro "$disk" "$mnt"
cp --sparse=always "$mnt/seed.img" "$work/check.img"
umount "$mnt"
dev_size=$("$blazy" inspect --json "$work/check.img" | grep -o '"device_size":[0-9]*' | cut -d: -f2)
truncate -s "$dev_size" "$work/check.img"
if out=$(btrfs check --readonly "$work/check.img" 2>&1) && ! grep -qiE '^(ERROR|WARNING)' <<<"$out"; then
	result btrfs-check 0 "clean"
else
	echo "$out" | sed 's/^/    /'
	result btrfs-check 1
fi
rm -f "$work/check.img"

log=$work/vm.log
if "$here/run.sh" --blazy "$blazy" --tests "$here/rootfs" --disk "$disk" --extra "$treesum" \
	"${extra[@]}" --file "$here/tests/ublk-lib.inc:/tests/ublk-lib.inc" \
	--timeout 1200 --test-timeout 1100 >"$log" 2>&1; then
	result vm 0
else
	result vm 1
	sed 's/^/    /' "$log"
fi
grep -E '^(ok|FAIL):|^(first output|fetched|read all|trace|over HTTP|through the fetcher)' "$log" | sed 's/^/    /' || true

# The trace of the VM's workload as --local-list: exactly those files' data stays in the
# image (files over the lazy inline limit, each rounded up to 4 KiB).
mount -o loop,ro "$disk" "$mnt"
cp "$mnt/hot.list" "$mnt/manifest" "$work/" 2>/dev/null || true
umount "$mnt"
if [[ -n $only && ,$only, != *,010-lazy-rootfs,* && ,$only, != *,010-lazy-rootfs.sh,* ]]; then
	echo "skip rootfs/local-list: 010-lazy-rootfs.sh did not run (--only $only)"
elif [[ -s $work/hot.list ]]; then
	tarball=$("$here/fetch-rootfs.sh")
	want=$(awk 'NR == FNR { hot[$1] = 1; next }
		$2 == "f" && ($1 in hot) && $6 > 512 { s += int(($6 + 4095) / 4096) * 4096 }
		END { print s + 0 }' "$work/hot.list" "$work/manifest")
	got=$("$blazy" mkseed --json --lazy --local-list "$work/hot.list" --tar "$tarball" "$work/hot.img" |
		grep -o '"local_data_bytes":[0-9]*' | cut -d: -f2)
	result local-list $([[ $got == "$want" && $want -gt 0 ]] && echo 0 || echo 1) \
		"mkseed --local-list of the VM's trace ($(wc -l <"$work/hot.list") files) keeps $got bytes in the image (expected $want)"
	rm -rf "$work/hot.img"*
else
	result local-list 1 "the VM wrote no trace"
fi
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
