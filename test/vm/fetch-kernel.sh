#!/bin/bash
# Fetch Debian 13 (trixie)'s amd64 kernel into a cache directory, for the VM
# tests. Usage: fetch-kernel.sh [CACHE_DIR]
#
# Uses a private apt directory under CACHE_DIR; the system's apt configuration
# is read (for the mirror URI) but never changed. The version comes from the
# linux-image-amd64 metapackage. With the cache present nothing is downloaded;
# set BLAZY_VM_KERNEL_REFRESH=1 to look for a newer kernel.
#
# Prints the kernel directory on stdout. It holds:
#   vmlinuz         the kernel image
#   release         the kernel release (uname -r)
#   lib/modules/<release>/   modules (the default set decompressed), modules.dep
#
# Environment: BLAZY_CACHE (default ~/.cache/blazy), BLAZY_DEBIAN_MIRROR (a
# mirror URI, overrides the one found in the apt configuration),
# BLAZY_DEBIAN_KEYRING (keyring for the trixie Release file).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[[ $# -le 1 ]] || vm_die "usage: $0 [CACHE_DIR]"
cache=${1:-$(vm_default_cache)}
suite=trixie
arch=amd64

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# One fetch at a time per cache directory.
exec 9>"$cache/.lock"
flock 9

if [[ -z ${BLAZY_VM_KERNEL_REFRESH:-} && -f $cache/current/.complete ]]; then
	vm_log "cached: $(cat "$cache/current/release") in $cache"
	printf '%s\n' "$(cd "$cache/current" && pwd -P)"
	exit 0
fi

for tool in apt-get apt-cache dpkg-deb depmod xz; do
	command -v "$tool" >/dev/null || vm_die "$tool is missing (run test/vm/deps.sh)"
done

mirror=${BLAZY_DEBIAN_MIRROR:-$(vm_find_mirror | head -n 1)}
[[ -n $mirror ]] || vm_die "no Debian mirror found in /etc/apt (set BLAZY_DEBIAN_MIRROR)"

keyring=${BLAZY_DEBIAN_KEYRING:-}
if [[ -z $keyring ]]; then
	for k in /usr/share/keyrings/debian-archive-keyring.gpg /usr/share/keyrings/debian-archive-trixie-stable.gpg; do
		if [[ -r $k ]]; then
			keyring=$k
			break
		fi
	done
fi
[[ -n $keyring && -r $keyring ]] || vm_die "no Debian archive keyring (apt-get install debian-archive-keyring)"

# Private apt tree: its own sources, lists, caches and an empty dpkg status.
apt_dir=$cache/apt
mkdir -p "$apt_dir/sources.list.d" "$apt_dir/preferences.d" "$apt_dir/lists/partial" \
	"$apt_dir/cache/archives/partial"
printf 'deb [arch=%s signed-by=%s] %s %s main\n' "$arch" "$keyring" "$mirror" "$suite" >"$apt_dir/sources.list"
: >"$apt_dir/status"
apt_opts=(
	-o "Dir::Etc::SourceList=$apt_dir/sources.list"
	-o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
	-o "Dir::Etc::Preferences=$apt_dir/preferences"
	-o "Dir::Etc::PreferencesParts=$apt_dir/preferences.d"
	-o "Dir::State=$apt_dir"
	-o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::State::status=$apt_dir/status"
	-o "Dir::State::extended_states=$apt_dir/extended_states"
	-o "Dir::Cache=$apt_dir/cache"
	-o "Dir::Cache::archives=$apt_dir/cache/archives"
	-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
	-o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
	-o "APT::Default-Release=" -o "Acquire::Languages=none"
	-o "APT::Get::List-Cleanup=true"
	-o "APT::Sandbox::User=root"
)

vm_log "reading the $suite package list from the configured mirror"
if ! apt-get -qq "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1 ||
	grep -qE '^(E:|W: GPG|W: Failed)' "$apt_dir/update.log"; then
	cat "$apt_dir/update.log" >&2
	vm_die "apt-get update for $suite failed (keyring: $keyring)"
fi

# linux-image-amd64 -> Depends: linux-image-<release>
pkg=$(apt-cache "${apt_opts[@]}" depends linux-image-amd64 |
	awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
[[ -n $pkg ]] || vm_die "could not resolve linux-image-amd64 in $suite"
release=${pkg#linux-image-}
pkgver=$(apt-cache "${apt_opts[@]}" show --no-all-versions "$pkg" | awk '$1 == "Version:" { print $2; exit }')
vm_log "$suite's linux-image-amd64 -> $pkg ($pkgver)"

kdir=$cache/$release
if [[ -f $kdir/.complete ]]; then
	vm_log "already cached"
else
	work=$(mktemp -d "$cache/.fetch.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	vm_log "downloading $pkg"
	start=$SECONDS
	(cd "$work" && apt-get -qq "${apt_opts[@]}" download "$pkg") >&2 ||
		vm_die "apt-get download $pkg failed"
	deb=$(find "$work" -maxdepth 1 -name '*.deb' | head -n 1)
	[[ -n $deb ]] || vm_die "apt-get download produced no .deb"
	vm_log "downloaded $(du -h "$deb" | cut -f1) in $((SECONDS - start)) s; unpacking"
	dpkg-deb -x "$deb" "$work/root"
	rm -f "$deb"

	kroot=$work/root
	vmlinuz=$kroot/boot/vmlinuz-$release
	[[ -f $vmlinuz ]] || vm_die "$pkg has no boot/vmlinuz-$release"
	mv "$vmlinuz" "$kroot/vmlinuz"
	# trixie installs modules under /usr/lib/modules (merged /usr); the
	# cache keeps them under lib/modules, where depmod -b looks.
	moddir=$kroot/lib/modules/$release
	if [[ ! -d $moddir && -d $kroot/usr/lib/modules/$release ]]; then
		mkdir -p "$kroot/lib/modules"
		mv "$kroot/usr/lib/modules/$release" "$moddir"
		rmdir -p "$kroot/usr/lib/modules" 2>/dev/null || true
	fi
	[[ -d $moddir ]] || vm_die "$pkg has no modules for $release"
	printf '%s\n' "$release" >"$kroot/release"
	printf '%s\n' "$pkgver" >"$kroot/package-version"
	rm -rf "$kroot/usr/share/doc"

	# depmod needs the tree as lib/modules/<release> under its base dir.
	depmod -b "$kroot" "$release"
	n=0
	while IFS= read -r m; do
		case $m in
		*.ko.xz) xz -d "$moddir/$m" && n=$((n + 1)) ;;
		*.ko.zst) zstd -q -d --rm "$moddir/$m" && n=$((n + 1)) ;;
		*.ko.gz) gzip -d "$moddir/$m" && n=$((n + 1)) ;;
		esac
	done < <(vm_resolve_modules "$moddir" "${BLAZYVM_DEFAULT_MODULES[@]}" 2>/dev/null)
	depmod -b "$kroot" "$release"
	vm_log "decompressed $n modules, ran depmod"

	touch "$kroot/.complete"
	rm -rf "$kdir"
	mv "$kroot" "$kdir"
fi

ln -sfn "$release" "$cache/current"
vm_log "kernel $release ready in $kdir"
printf '%s\n' "$kdir"
