#!/bin/bash
# Builds the disk for the lazy-rootfs VM test and benchmark:
#   test/vm/rootfs-disk.sh --blazy PATH --treesum PATH --out DISK.img [--with-tar]
# From the Debian root of test/vm/fetch-rootfs.sh: `blazy mkseed --lazy --tar ROOTFS.tar`
# (seed.img, seed.img.map, seed.img.store), the manifest of the extracted tree (treesum),
# two victim files for the integrity checks (unique content, one store chunk each: their
# chunk names and original bytes), the mkseed summary (mkseed.json), with --with-tar the
# rootfs tar itself; all on a btrfs filesystem in DISK.img (the VM's /dev/vda). The
# extracted tree is left in DISK.img.src for host checks (removed by the caller).
# Prints the mkseed JSON.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

blazy="" treesum="" out="" with_tar=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--blazy) blazy=${2:?}; shift 2 ;;
	--treesum) treesum=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	--with-tar) with_tar=1; shift ;;
	*) vm_die "unknown argument $1" ;;
	esac
done
[[ -n $blazy && -n $treesum && -n $out ]] || vm_die "usage: $0 --blazy PATH --treesum PATH --out DISK.img [--with-tar]"
[[ $(id -u) == 0 ]] || vm_die "needs root (extracting the rootfs with its owners, a loop mount)"

tarball=$("$here/fetch-rootfs.sh")
stage=$out.stage src=$out.src mnt=$out.mnt
rm -rf "$stage" "$src"
mkdir -p "$stage/orig" "$src" "$mnt"
cleanup() {
	if mountpoint -q "$mnt"; then umount "$mnt"; fi
	rmdir "$mnt" 2>/dev/null || true
	rm -rf "$stage"
}
trap cleanup EXIT

tar --numeric-owner --xattrs --xattrs-include='*' -C "$src" -xf "$tarball"
"$treesum" "$src" >"$stage/manifest"
json=$("$blazy" mkseed --json --lazy --tar "$tarball" "$stage/seed.img")
echo "$json" >"$stage/mkseed.json"

# Victims: files with content no other file has, 8 KiB..1 MiB, so each is one store chunk
# (its bytes zero-padded to the block size) that no other file shares.
awk '$2 == "f" { n[$13]++; p[$13] = $1; s[$13] = $6 }
     END { for (h in n) if (n[h] == 1 && s[h] > 8192 && s[h] <= 1048576) print p[h] }' \
	"$stage/manifest" | grep -E '^usr/bin/[A-Za-z0-9._+-]+$' | sort | head -n 2 >"$stage/victim-paths"
[[ $(wc -l <"$stage/victim-paths") == 2 ]] || vm_die "no two victim files found in the rootfs"
: >"$stage/victims"
i=0
while read -r p; do
	size=$(stat -c %s "$src/$p")
	pad=$(( (4096 - size % 4096) % 4096 ))
	hex=$( { cat "$src/$p"; head -c "$pad" /dev/zero; } | sha256sum | cut -d' ' -f1)
	chunk=seed.img.store/${hex:0:2}/$hex
	[[ -f $stage/$chunk ]] || vm_die "victim $p: no store chunk $chunk (chunking assumption broken)"
	i=$((i + 1))
	cp "$src/$p" "$stage/orig/victim$i"
	echo "$p $chunk" >>"$stage/victims"
done <"$stage/victim-paths"
rm "$stage/victim-paths"
[[ $with_tar == 0 ]] || cp "$tarball" "$stage/rootfs.tar"

# The disk: btrfs, big enough for all of it and a backing file.
need=$(du -sm --apparent-size --exclude=seed.img "$stage" | cut -f1)
rm -f "$out"
truncate -s $(( (need * 2 + 1024) ))M "$out"
mkfs.btrfs -q -f "$out" >/dev/null
mount -o loop "$out" "$mnt"
cp -a --sparse=always "$stage/." "$mnt/"
umount "$mnt"
echo "$json"
