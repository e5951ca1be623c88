#!/bin/bash
# Build the initramfs for the blazy test VM.
#
# Usage: mkinitramfs.sh OUT.cpio.gz --blazy PATH [--tests DIR] [--extra BINARY]...
#                       [--file SRC:DST]... [--module NAME]... [--kernel DIR]
#
#   --blazy PATH     the (static) blazy executable, installed as /bin/blazy
#   --tests DIR      test scripts, installed as /tests (default: test/vm/tests)
#   --extra BINARY   a program (dynamic ones bring the libraries ldd lists and
#                    the loader), installed as /usr/local/bin/NAME
#   --file SRC:DST   copy a file or directory SRC to DST in the image
#   --module NAME    load this module too (with its dependencies)
#   --kernel DIR     kernel directory from fetch-kernel.sh (default: run it)
#
# Contents: busybox-static with every applet linked in /bin, the modules in
# BLAZYVM_DEFAULT_MODULES (lib.sh) and their dependencies (decompressed, with
# a modules.dep so busybox modprobe works), /etc/blazyvm/modules (load order)
# and vm-init.sh as /init.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() { vm_die "usage: $0 OUT.cpio.gz --blazy PATH [--tests DIR] [--extra BIN]... [--file SRC:DST]... [--module NAME]... [--kernel DIR]"; }

out="" blazy="" tests=$here/tests kernel=""
extras=() files=() modules=("${BLAZYVM_DEFAULT_MODULES[@]}")
while [[ $# -gt 0 ]]; do
	case $1 in
	--blazy) blazy=${2:?}; shift 2 ;;
	--tests) tests=${2:?}; shift 2 ;;
	--extra) extras+=("${2:?}"); shift 2 ;;
	--file) files+=("${2:?}"); shift 2 ;;
	--module) modules+=("${2:?}"); shift 2 ;;
	--kernel) kernel=${2:?}; shift 2 ;;
	-h | --help) usage ;;
	-*) vm_die "unknown option $1" ;;
	*) [[ -z $out ]] || usage; out=$1; shift ;;
	esac
done
[[ -n $out && -n $blazy ]] || usage
[[ -f $blazy && -x $blazy ]] || vm_die "--blazy $blazy: not an executable file"
[[ -d $tests ]] || vm_die "--tests $tests: not a directory"
busybox=$(command -v busybox) || vm_die "busybox is missing (run test/vm/deps.sh)"
ldd "$busybox" >/dev/null 2>&1 && vm_die "$busybox is not static (apt-get install busybox-static)"
for tool in cpio gzip depmod xz; do
	command -v "$tool" >/dev/null || vm_die "$tool is missing (run test/vm/deps.sh)"
done

if [[ -z $kernel ]]; then
	kernel=$("$here/fetch-kernel.sh")
fi
release=$(cat "$kernel/release")
moddir=$kernel/lib/modules/$release
[[ -f $moddir/modules.dep ]] || vm_die "$kernel: no modules.dep (run fetch-kernel.sh)"

stage=$(mktemp -d "${TMPDIR:-/tmp}/blazy-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,dev,etc/blazyvm,lib64,proc,root,run,sys,tmp,tests,usr/local/bin,usr/local/sbin}
mkdir -p "$stage/lib/modules/$release" "$stage/usr/lib"
chmod 1777 "$stage/tmp"
ln -s bin "$stage/sbin"
ln -s ../bin "$stage/usr/bin"
ln -s ../bin "$stage/usr/sbin"

# busybox and its applets
cp "$busybox" "$stage/bin/busybox"
# (perl makes the ~400 links in one process; ln would fork for each)
"$busybox" --list | BB_DIR=$stage/bin perl -nle \
	'$_ eq "busybox" or symlink("busybox", "$ENV{BB_DIR}/$_") or die "$_: $!\n"'

# /dev/console for the kernel's first open (vm-init.sh copes without it)
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true

printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\n' >"$stage/etc/group"
ln -s /proc/mounts "$stage/etc/mtab"

# copy_with_libs SRC DST: install a program, plus its libraries if dynamic.
copy_with_libs() {
	local src=$1 dst=$2 lib
	install -D -m 755 "$src" "$stage$dst"
	ldd "$src" >/dev/null 2>&1 || return 0
	# "libx.so.1 => /path/libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
	while read -r lib; do
		[[ -e $stage$lib ]] || install -D -m 755 "$lib" "$stage$lib"
	done < <(ldd "$src" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

if ldd "$blazy" >/dev/null 2>&1; then
	vm_log "warning: $blazy is dynamically linked; copying its libraries too"
fi
copy_with_libs "$blazy" /bin/blazy

for x in "${extras[@]}"; do
	p=$(command -v "$x") || vm_die "--extra $x: not found"
	copy_with_libs "$p" "/usr/local/bin/${p##*/}"
done

for f in "${files[@]}"; do
	[[ $f == *:/* ]] || vm_die "--file $f: want SRC:/ABSOLUTE/DST"
	src=${f%:*} dst=${f##*:}
	[[ -e $src ]] || vm_die "--file $f: $src does not exist"
	mkdir -p "$stage$(dirname "$dst")"
	cp -a "$src" "$stage$dst"
done

cp -a "$tests/." "$stage/tests/"
chmod -R a+rX "$stage/tests"

# Modules: dependencies first; decompressed (busybox insmod takes plain .ko).
: >"$stage/etc/blazyvm/modules"
while IFS= read -r m; do
	plain=${m%.xz}
	plain=${plain%.zst}
	plain=${plain%.gz}
	mkdir -p "$(dirname "$stage/lib/modules/$release/$plain")"
	case $m in
	*.xz) xz -dc "$moddir/$m" ;;
	*.zst) zstd -qdc "$moddir/$m" ;;
	*.gz) gzip -dc "$moddir/$m" ;;
	*) cat "$moddir/$m" ;;
	esac >"$stage/lib/modules/$release/$plain"
	printf '%s\n' "$plain" >>"$stage/etc/blazyvm/modules"
done < <(vm_resolve_modules "$moddir" "${modules[@]}")
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[[ ! -f $moddir/$f ]] || cp "$moddir/$f" "$stage/lib/modules/$release/"
done
depmod -b "$stage" "$release"

install -m 755 "$here/vm-init.sh" "$stage/init"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) |
	gzip -6 >"$out.tmp"
mv "$out.tmp" "$out"
vm_log "$out: $(du -h "$out" | cut -f1), $(wc -l <"$stage/etc/blazyvm/modules") modules, kernel $release"
