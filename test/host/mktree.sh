#!/bin/bash
# mktree.sh DIR KIND: generate a reproducible source tree for the host tests.
#
#   basic  every kind of entry and attribute below, except the > 4 GiB sparse file (needs root)
#   full   basic plus a 5 GiB sparse file with data past 4 GiB (needs root)
#   wide   one directory with 12,000 entries
#   many   100,000 files in 100 directories (and a few levels above them)
#   empty  nothing but the root directory
#
# DIR must not exist or be empty. The same KIND gives the same names, bytes, modes, owners,
# xattrs and mtimes on every run. Needs bash, coreutils, setfattr (package attr) and blztest
# (env BLZTEST, else build/test/host/blztest next to this source tree) for "gen" and "mksock".
set -euo pipefail
umask 022
export LC_ALL=C

die() { echo "mktree: error: $*" >&2; exit 1; }
[ $# -eq 2 ] || { echo "usage: mktree.sh DIR basic|full|wide|many|empty" >&2; exit 2; }
DIR=$1
KIND=$2
case $KIND in basic|full|wide|many|empty) ;; *) die "unknown kind '$KIND'" ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BLZTEST=${BLZTEST:-$here/../../build/test/host/blztest}
if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then die "'$DIR' is not empty"; fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

gen() { "$BLZTEST" gen "$@"; }                # gen SEED SIZE FILE
hexof() { od -An -tx1 -v | tr -d ' \n'; }      # stdin -> hex digits
rep() { local s=$1 n=$2 out=""; for ((k = 0; k < n; k++)); do out+=$s; done; printf '%s' "$out"; }

# ---- the "everything" tree ----

make_files() {
	local d=$DIR/files
	mkdir -p "$d"
	: >"$d/empty"
	printf 'x' >"$d/one"
	local sz
	for sz in 2048 2049 4095 4096 4097 65536 131073; do gen "$sz" "$sz" "$d/size-$sz"; done
	gen 42 3146245 "$d/random-3m"           # 3 MiB + 517 bytes
	printf 'hello, world\n' >"$d/text"
}

make_sparse() {
	local d=$DIR/sparse
	mkdir -p "$d"
	# data, hole, data, hole, unaligned data, hole, data at the very end
	gen 101 65536 "$d/.blk"
	"$BLZTEST" pwrite "$d/holes-middle" 0 "@$d/.blk"
	"$BLZTEST" pwrite "$d/holes-middle" 1M "block at 1 MiB"
	"$BLZTEST" pwrite "$d/holes-middle" 5242980 "@$d/.blk"
	truncate -s 16M "$d/holes-middle"
	"$BLZTEST" pwrite "$d/holes-middle" 16777206 "last bytes"
	# data then a trailing hole; a leading hole then data; nothing but a hole
	"$BLZTEST" pwrite "$d/trailing-hole" 0 "@$d/.blk"
	truncate -s 8M "$d/trailing-hole"
	"$BLZTEST" pwrite "$d/leading-hole" 2M "data after a 2 MiB hole"
	truncate -s 10M "$d/all-hole"
	rm "$d/.blk"
}

make_huge() {
	local f=$DIR/sparse/huge-5g
	truncate -s 5369233409 "$f"                  # 5 GiB + 4097 bytes
	"$BLZTEST" pwrite "$f" 0 "start of the huge file"
	"$BLZTEST" pwrite "$f" 1073741825 "just past 1 GiB"
	"$BLZTEST" pwrite "$f" 4294967292 "straddles 4 GiB"   # 4 bytes below, 11 above
	"$BLZTEST" pwrite "$f" 4295032832 "at 4 GiB + 64 KiB"
	gen 4242 1048576 "$DIR/sparse/.mib"
	"$BLZTEST" pwrite "$f" 4831838208 "@$DIR/sparse/.mib"   # 1 MiB of data at 4.5 GiB
	rm "$DIR/sparse/.mib"
	"$BLZTEST" pwrite "$f" 5369233399 "final byte"        # ends exactly at EOF
}

make_deep() {
	local p=$DIR/deep i
	for i in 01 02 03 04 05 06 07 08 09 10; do p+=/d$i; done
	mkdir -p "$p"
	printf 'ten levels down\n' >"$p/leaf"
	printf 'level one\n' >"$DIR/deep/d01/file"
}

make_symlinks() {
	local d=$DIR/symlinks
	mkdir -p "$d"
	ln -s ../files/one "$d/relative"
	ln -s /etc/hostname "$d/absolute"
	ln -s does/not/exist "$d/dangling"
	ln -s ../deep "$d/to-dir"
	ln -s . "$d/dot"
	ln -s loop "$d/loop"
	ln -s "$(rep a 255)" "$d/target-255"
	ln -s "$(rep dir/ 1000)" "$d/target-4000"
	ln -s $'odd \n\xff target' "$d/odd-target"
}

make_links() {
	local d=$DIR/links
	mkdir -p "$d/sub/sub2" "$DIR/deep/d01"
	printf 'two names\n' >"$d/two-a"
	ln "$d/two-a" "$d/sub/two-b"
	gen 5 10000 "$d/five-1"
	ln "$d/five-1" "$d/five-2"
	ln "$d/five-1" "$d/sub/five-3"
	ln "$d/five-1" "$d/sub/sub2/five-4"
	ln "$d/five-1" "$DIR/deep/d01/five-5"
	: >"$d/empty-a"
	ln "$d/empty-a" "$d/sub/empty-b"
	ln -s two-a "$d/sym-a"                    # a hard-linked symlink
	ln -P "$d/sym-a" "$d/sub/sym-b"
	mkfifo "$d/fifo-a"                         # a hard-linked fifo
	ln "$d/fifo-a" "$d/sub/fifo-b"
}

make_special() {
	local d=$DIR/special
	mkdir -p "$d"
	mknod "$d/chr-1-3" c 1 3
	mknod "$d/chr-0-0" c 0 0
	mknod "$d/chr-10-200" c 10 200
	mknod "$d/chr-300-70000" c 300 70000
	mknod "$d/chr-4095-1048575" c 4095 1048575
	mknod "$d/blk-7-255" b 7 255
	mknod "$d/blk-7-256" b 7 256
	mknod "$d/blk-8-0" b 8 0
	mknod "$d/blk-259-1048575" b 259 1048575
	mkfifo "$d/fifo"
	"$BLZTEST" mksock "$d/socket"
}

make_modes() {
	local d=$DIR/modes m
	mkdir -p "$d"
	for m in 4755 2755 6755 1644 0000 0644 0600 0444 0777 0111; do
		printf 'mode %s\n' "$m" >"$d/file-$m"
	done
	for m in 2755 1777 0700 0555 3777; do mkdir "$d/dir-$m"; done
	printf 'inside\n' >"$d/dir-0555/inside"
}

make_owners() {
	local d=$DIR/owners
	mkdir -p "$d/dir-1000"
	printf 'u\n' >"$d/u1000"
	printf 'u\n' >"$d/u65534"
	printf 'u\n' >"$d/u123456"
	printf 'u\n' >"$d/u0-g4294967294"
	ln -s u1000 "$d/sym-65534"
	mknod "$d/chr-123456" c 1 5
	chown 1000:1000 "$d/u1000" "$d/dir-1000"
	chown 65534:65534 "$d/u65534"
	chown 123456:654321 "$d/u123456" "$d/chr-123456"
	chown 0:4294967294 "$d/u0-g4294967294"
	chown -h 65534:65534 "$d/sym-65534"
}

make_names() {
	local d=$DIR/names
	mkdir -p "$d"
	local n
	for n in "with space" " " $'new\nline' $'tab\there' "héllo-日本語-🙂" $'\xff\xfe-high' \
		"-leading-dash" ".hidden" "..." 'back\slash' '*?[glob]' "$(rep n 255)" \
		"$(rep é 127)x" "$(rep 日 85)"; do
		printf '%s\n' "${#n}" >"$d/$n"
	done
	mkdir "$d/dir with space" "$d/dir"$'\nnewline'
	printf 'x\n' >"$d/dir with space/$(rep m 255)"
	printf 'x\n' >"$d/dir"$'\nnewline/\x01\x7f'
}

make_xattrs() {
	local d=$DIR/xattrs k
	mkdir -p "$d/dir"
	printf 'xattrs\n' >"$d/text"
	setfattr -n user.text -v "hello world" "$d/text"
	setfattr -n user.comment -v "second value" "$d/text"
	printf 'b\n' >"$d/binary"
	setfattr -n user.binary -v 0x00ff7f800a0d2200 "$d/binary"
	printf 'l\n' >"$d/large"
	setfattr -n user.large -v "0x$(gen 77 3072 - | hexof)" "$d/large"
	printf 'e\n' >"$d/empty-value"
	setfattr -n user.empty "$d/empty-value"
	printf 'm\n' >"$d/many"
	for k in $(seq -w 0 29); do setfattr -n "user.k$k" -v "value $k" "$d/many"; done
	printf 'n\n' >"$d/long-name"
	setfattr -n "user.$(rep x 250)" -v "long name" "$d/long-name"
	setfattr -n user.on-dir -v "a directory's xattr" "$d/dir"
	ln -s text "$d/symlink"
	setfattr -h -n trusted.on-symlink -v "a symlink's xattr" "$d/symlink"
	mkfifo "$d/fifo"
	setfattr -n trusted.on-fifo -v "a fifo's xattr" "$d/fifo"
	printf 'cap\n' >"$d/capability"
	chmod 0755 "$d/capability"
	# VFS_CAP_REVISION_2 | EFFECTIVE, permitted = CAP_NET_BIND_SERVICE (what setcap
	# cap_net_bind_service+ep writes)
	setfattr -n security.capability -v 0x0100000200040000000000000000000000000000 "$d/capability"
	setfattr -n trusted.a -v 1 "$d/text"
}

set_modes() {
	local d=$DIR/modes m
	for m in 4755 2755 6755 1644 0000 0644 0600 0444 0777 0111; do chmod "$m" "$d/file-$m"; done
	for m in 2755 1777 0700 3777; do chmod "$m" "$d/dir-$m"; done
	chmod 0555 "$d/dir-0555"                  # after filling it
}

# touch -h -d @T PATH...
stamp() { local t=$1; shift; touch -h -d "@$t" -- "$@"; }

set_times() {
	# Children before parents, so that no later step changes a directory's mtime.
	find "$DIR" -depth -exec touch -h -d @1500000000.123456789 -- {} +
	[ "$KIND" = basic ] || [ "$KIND" = full ] || return 0
	mkdir -p "$DIR/times"
	local t=$DIR/times
	printf 't\n' >"$t/epoch"; printf 't\n' >"$t/ns-max"; printf 't\n' >"$t/before-1970"
	printf 't\n' >"$t/y2038"; printf 't\n' >"$t/y2514"; printf 't\n' >"$t/whole-second"
	ln -s epoch "$t/symlink"
	mkdir "$t/dir"
	stamp 0 "$t/epoch"
	stamp 1234567890.999999999 "$t/ns-max"
	stamp -1000000000.5 "$t/before-1970"
	stamp 2147483648.000000001 "$t/y2038"
	stamp 17179869184.25 "$t/y2514"
	stamp 1600000000 "$t/whole-second"
	stamp 1234567890.123456789 "$t/symlink" "$t/dir" "$t"
	stamp 1234567890.000000001 "$DIR/files/one" "$DIR/symlinks/relative"
	stamp 1400000000.5 "$DIR"
}

make_everything() {
	[ "$(id -u)" = 0 ] || die "kind '$KIND' needs root (mknod, chown)"
	make_files
	make_sparse
	[ "$KIND" = full ] && make_huge
	make_deep
	make_symlinks
	make_links
	make_special
	make_modes
	make_owners
	make_names
	make_xattrs
	set_modes
	mkdir -p "$DIR/emptydir"
}

make_wide() {
	local d=$DIR/wide i n
	mkdir -p "$d"
	for ((i = 0; i < 12000; i++)); do
		printf -v n 'entry-%05d' "$i"
		if ((i % 1000 == 7)); then
			mkdir "$d/$n"
		elif ((i % 100 == 3)); then
			ln -s "entry-$i-target" "$d/$n"
		elif ((i % 10 == 1)); then
			printf '%d\n' "$i" >"$d/$n"
		else
			: >"$d/$n"
		fi
	done
	# some longer names, so that directory items differ in size
	for ((i = 0; i < 50; i++)); do : >"$d/$(rep L $((100 + i * 3)))-$i"; done
}

make_many() {
	local top i j d
	for ((i = 0; i < 100; i++)); do
		printf -v top '%s/many/g%d/d%03d' "$DIR" $((i / 10)) "$i"
		mkdir -p "$top"
		for ((j = 0; j < 1000; j++)); do
			if ((j % 4 == 0)); then
				printf 'file %d.%d\n' "$i" "$j" >"$top/f$j"
			else
				: >"$top/f$j"
			fi
		done
	done
	printf 'top\n' >"$DIR/many/readme"
}

case $KIND in
basic|full) make_everything ;;
wide) make_wide ;;
many) make_many ;;
empty) ;;
esac
chmod 0755 "$DIR"
set_times
