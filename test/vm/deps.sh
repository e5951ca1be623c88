#!/bin/bash
# Install what the VM test scripts need (Debian/Ubuntu). Idempotent, quiet:
# prints nothing and touches nothing when everything is there.
# Usage: deps.sh [--extras]   (--extras: also btrfs-progs and fio, for --extra)
set -eu

pkgs=(qemu-system-x86 busybox-static kmod xz-utils zstd cpio gzip debian-archive-keyring
	util-linux coreutils perl-base apt dpkg)
[[ ${1:-} != --extras ]] || pkgs+=(btrfs-progs fio)

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -gt 0 ]] || exit 0

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
