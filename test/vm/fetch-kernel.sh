#!/bin/bash
# Fetch a Debian 13 amd64 kernel into a cache directory, for the VM tests.
# Usage: fetch-kernel.sh [--kernel stable|backports] [CACHE_DIR]
#
#   stable      the newest linux-image-amd64 of trixie (6.12 line)
#   backports   the newest linux-image-amd64 of trixie-backports (7.x)
# The choice defaults to $BLAZY_VM_KERNEL, else stable.
#
# Uses a private apt directory per choice under CACHE_DIR; the system's apt
# configuration is read (for the mirror URI) but never changed. The version
# comes from the linux-image-amd64 metapackage. Two package layouts: up to 6.x
# linux-image-<release> holds boot/vmlinuz-<release> and the modules; from 7.x
# it is a meta package and the kernel comes from linux-binary-<release>
# (usr/lib/modules/<release>/vmlinuz; linux-binary-unsigned-<release> if
# there is no signed one), linux-modules-<release> and linux-base-<release>
# (config, System.map, modules.builtin, modules.order), unpacked into one tree.
# With the cache present nothing is downloaded; set BLAZY_VM_KERNEL_REFRESH=1
# to look for a newer kernel.
#
# Prints the kernel directory on stdout. It holds:
#   vmlinuz         the kernel image
#   release         the kernel release (uname -r)
#   lib/modules/<release>/   modules (the default set decompressed), modules.dep
#
# Cache: CACHE_DIR/<release>/ per kernel, CACHE_DIR/stable and
# CACHE_DIR/backports link to the newest of each (CACHE_DIR/current is the
# stable one, for older scripts), private apt trees in CACHE_DIR/apt (stable)
# and CACHE_DIR/apt-backports.
#
# Environment: BLAZY_VM_KERNEL (stable|backports), BLAZY_CACHE (default
# ~/.cache/blazy), BLAZY_DEBIAN_MIRROR (a mirror URI, overrides the one found
# in the apt configuration), BLAZY_DEBIAN_KEYRING (keyring for the Release file).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

choice=${BLAZY_VM_KERNEL:-stable}
if [[ ${1:-} == --kernel ]]; then
	choice=${2:-}
	shift 2 || true
fi
[[ $# -le 1 ]] || vm_die "usage: $0 [--kernel stable|backports] [CACHE_DIR]"
suite=$(vm_kernel_suite "$choice")
cache=${1:-$(vm_default_cache)}
arch=amd64
if [[ $choice == stable ]]; then
	apt_name=apt
else
	apt_name=apt-$choice
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# One fetch at a time per cache directory.
exec 9>"$cache/.lock"
flock 9

# Caches made before the choice existed hold the stable kernel as "current".
if [[ $choice == stable && ! -e $cache/stable && -f $cache/current/.complete ]]; then
	ln -sfn "$(readlink "$cache/current")" "$cache/stable"
fi
if [[ -z ${BLAZY_VM_KERNEL_REFRESH:-} && -f $cache/$choice/.complete ]]; then
	vm_log "cached: $(cat "$cache/$choice/release") ($choice) in $cache"
	printf '%s\n' "$(cd "$cache/$choice" && pwd -P)"
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
apt_dir=$cache/$apt_name
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
	# 7.x layout: the image, modules and base files are packages of their own
	# (a signed linux-binary if there is one, else the unsigned one).
	pkgs=("$pkg")
	have_pkg() { apt-cache "${apt_opts[@]}" show --no-all-versions "$1" >/dev/null 2>&1; }
	if have_pkg "linux-modules-$release"; then
		if have_pkg "linux-binary-$release"; then
			pkgs+=("linux-binary-$release")
		elif have_pkg "linux-binary-unsigned-$release"; then
			pkgs+=("linux-binary-unsigned-$release")
		else
			vm_die "$suite has linux-modules-$release but no linux-binary-$release"
		fi
		pkgs+=("linux-modules-$release")
		have_pkg "linux-base-$release" && pkgs+=("linux-base-$release")
	fi
	vm_log "downloading ${pkgs[*]}"
	start=$SECONDS
	(cd "$work" && apt-get -qq "${apt_opts[@]}" download "${pkgs[@]}") >&2 ||
		vm_die "apt-get download ${pkgs[*]} failed"
	debs=$(find "$work" -maxdepth 1 -name '*.deb')
	[[ $(wc -l <<<"$debs") -eq ${#pkgs[@]} ]] || vm_die "apt-get download gave $(wc -l <<<"$debs") .deb files for ${#pkgs[@]} packages"
	vm_log "downloaded $(du -ch $debs | tail -n 1 | cut -f1) in $((SECONDS - start)) s; unpacking"
	for deb in $debs; do
		dpkg-deb -x "$deb" "$work/root"
		rm -f "$deb"
	done

	kroot=$work/root
	# trixie installs modules under /usr/lib/modules (merged /usr); the
	# cache keeps them under lib/modules, where depmod -b looks.
	moddir=$kroot/lib/modules/$release
	if [[ ! -d $moddir && -d $kroot/usr/lib/modules/$release ]]; then
		mkdir -p "$kroot/lib/modules"
		mv "$kroot/usr/lib/modules/$release" "$moddir"
		rmdir -p "$kroot/usr/lib/modules" 2>/dev/null || true
	fi
	vmlinuz=""
	for f in "$kroot/boot/vmlinuz-$release" "$moddir/vmlinuz" "$moddir/vmlinuz.unsigned"; do
		if [[ -f $f ]]; then
			vmlinuz=$f
			break
		fi
	done
	[[ -n $vmlinuz ]] || vm_die "${pkgs[*]}: no boot/vmlinuz-$release nor usr/lib/modules/$release/vmlinuz"
	mv "$vmlinuz" "$kroot/vmlinuz"
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

ln -sfn "$release" "$cache/$choice"
[[ $choice != stable ]] || ln -sfn "$release" "$cache/current"
vm_log "kernel $release ($choice) ready in $kdir"
printf '%s\n' "$kdir"
