#!/bin/bash
# A real Debian root filesystem for the lazy-import test and benchmark:
#   test/vm/fetch-rootfs.sh [CACHE_DIR]
# runs `debootstrap --variant=minbase --include=python3,perl` of this machine's Debian
# release (its codename from /etc/os-release; BLAZY_ROOTFS_SUITE overrides) from the mirror
# this machine's apt already uses (BLAZY_DEBIAN_MIRROR overrides), drops the downloaded
# .debs and package lists, and packs the tree as one tar (numeric owners, xattrs, names
# sorted): about 200 MB of installed files. Prints the tar's path. Cached in CACHE_DIR
# (default ${BLAZY_CACHE:-$HOME/.cache/blazy}/rootfs); with the cache present it does
# nothing. Needs root and debootstrap (scripts/deps installs it); 1-4 minutes.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

cache=${1:-${BLAZY_CACHE:-$HOME/.cache/blazy}/rootfs}
suite=${BLAZY_ROOTFS_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}
[[ -n $suite ]] || vm_die "cannot tell this machine's Debian codename (set BLAZY_ROOTFS_SUITE)"
include=${BLAZY_ROOTFS_INCLUDE:-python3,perl}
out=$cache/$suite-minbase+${include//,/+}.tar
if [[ -s $out ]]; then
	echo "$out"
	exit 0
fi
[[ $(id -u) == 0 ]] || vm_die "debootstrap needs root"
command -v debootstrap >/dev/null || vm_die "debootstrap is missing (run scripts/deps)"
mirror=${BLAZY_DEBIAN_MIRROR:-$(vm_find_mirror | head -n 1)}
[[ -n $mirror ]] || vm_die "no Debian mirror found in /etc/apt (set BLAZY_DEBIAN_MIRROR)"

mkdir -p "$cache"
work=$(mktemp -d "$cache/.build.XXXXXX")
cleanup() {
	# debootstrap mounts proc and sys in the target; never leave them behind.
	local m
	for m in $(awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

vm_log "debootstrap --variant=minbase --include=$include $suite from $mirror (1-4 minutes)"
if ! debootstrap --variant=minbase --include="$include" "$suite" "$work/root" "$mirror" >"$work/log" 2>&1; then
	tail -n 30 "$work/log" >&2
	vm_die "debootstrap failed (log above)"
fi
# Drop what a run leaves behind and what differs per build: apt's package lists and caches.
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
	"$work/root/var/log/"*.log "$work/root/var/cache/debconf/"*-old
tar --numeric-owner --xattrs --xattrs-include='*' --sort=name --format=pax -C "$work/root" \
	-cf "$work/rootfs.tar" .
mv "$work/rootfs.tar" "$out"
vm_log "rootfs: $out ($(du -m "$out" | cut -f1) MB)"
echo "$out"
