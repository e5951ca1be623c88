#!/bin/bash
# mkseed --tar: the same trees fed as pax tar streams (plain, zstd, gzip, on stdin, GNU
# format) give seeds that match the source; a tar applied over --rootdir overrides it.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs tar zstd gzip setfattr

n=0
check_tar_seed() { # check_tar_seed SRC IMG -- MKSEED-ARGS...
	local src=$1 img=$2 mnt=$TEST_DIR/mnt$((n++)) ign
	shift 3
	run_check "$BLAZY" mkseed -q --virtual-size 1T "$@" "$img"
	seed_full "$img"
	check_seed "$img"
	mount_seed "$img" "$mnt"
	mapfile -d '' ign < <(tar_ignores "$src")
	run_check "$TREECMP" --ignore .blazy "${ign[@]}" "$src" "$mnt"
	unmount_seed "$mnt"
	rm -f "$img"
}

for kind in basic wide; do
	src=$TEST_DIR/src-$kind
	mktree "$src" "$kind"
	tar --format=pax --xattrs --xattrs-include='*' -C "$src" -cf "$TEST_DIR/$kind.tar" . 2>/dev/null
	check_tar_seed "$src" "$TEST_DIR/a.img" -- --tar "$TEST_DIR/$kind.tar"
	zstd -q -T0 "$TEST_DIR/$kind.tar" -o "$TEST_DIR/$kind.tar.zst"
	check_tar_seed "$src" "$TEST_DIR/b.img" -- --tar "$TEST_DIR/$kind.tar.zst"
	check_tar_seed "$src" "$TEST_DIR/c.img" -- --tar - <"$TEST_DIR/$kind.tar.zst"
	# gzip (tar -z, and gzip -9 of the same archive on standard input)
	tar --format=pax --xattrs --xattrs-include='*' -C "$src" -czf "$TEST_DIR/$kind.tgz" . 2>/dev/null
	check_tar_seed "$src" "$TEST_DIR/d.img" -- --tar "$TEST_DIR/$kind.tgz"
	gzip -9 -c "$TEST_DIR/$kind.tar" >"$TEST_DIR/$kind.tar.gz"
	check_tar_seed "$src" "$TEST_DIR/e.img" -- --tar - <"$TEST_DIR/$kind.tar.gz"
	rm -f "$TEST_DIR/$kind.tar" "$TEST_DIR/$kind.tar.zst" "$TEST_DIR/$kind.tgz" "$TEST_DIR/$kind.tar.gz"
done

# GNU format (long names as 'L' entries) of the basic tree, without xattrs.
src=$TEST_DIR/src-basic
tar --format=gnu -C "$src" -cf "$TEST_DIR/gnu.tar" . 2>/dev/null
img=$TEST_DIR/gnu.img
run_check "$BLAZY" mkseed -q --tar "$TEST_DIR/gnu.tar" "$img"
seed_full "$img"
check_seed "$img"
mount_seed "$img" "$TEST_DIR/mnt-gnu"
mapfile -d '' ign < <(tar_ignores "$src")
# GNU format has no xattrs and only whole-second times: compare what it carries.
listing() { # path, type, mode, owner, device numbers, mtime seconds, size (not dirs), link
	(cd "$1" && find . -path ./.blazy -prune -o ! -type s -print0 |
		xargs -0 stat -c '%n|%F|%a|%u|%g|%t:%T|%Y|%s|%N' |
		awk -F'|' -v OFS='|' '$2 == "directory" {$8 = "-"} {print}' | LC_ALL=C sort)
}
[ "$(listing "$src")" = "$(listing "$TEST_DIR/mnt-gnu")" ] || {
	diff <(listing "$src") <(listing "$TEST_DIR/mnt-gnu") >&2
	fail "the GNU-format seed differs from the source"
}
(cd "$src" && find . -type f -print0) | while IFS= read -r -d '' f; do
	cmp -s "$src/$f" "$TEST_DIR/mnt-gnu/$f" || fail "content of $f differs (GNU format)"
done
unmount_seed "$TEST_DIR/mnt-gnu"

# The full tree (a > 4 GiB sparse file) streamed through a pipe.
src=$TEST_DIR/src-full
mktree "$src" full
img=$TEST_DIR/full.img
tar --format=pax --xattrs --xattrs-include='*' -C "$src" -cf - . 2>/dev/null |
	run_check "$BLAZY" mkseed -q --tar - "$img"
seed_full "$img"
check_seed "$img"
mount_seed "$img" "$TEST_DIR/mnt-full"
mapfile -d '' ign < <(tar_ignores "$src")
run_check "$TREECMP" --ignore .blazy "${ign[@]}" "$src" "$TEST_DIR/mnt-full"
unmount_seed "$TEST_DIR/mnt-full"

# Tar over a directory: replace a file by a directory and a directory by a file, change
# contents and metadata, add a hard link to a directory-sourced file.
base=$TEST_DIR/base over=$TEST_DIR/over want=$TEST_DIR/want
mkdir -p "$base/d1/sub" "$base/d2" "$over/d2/new"
echo one >"$base/f1"; echo keep >"$base/d1/sub/k"; echo old >"$base/d2/x"; echo f >"$base/d3"
mkdir "$over/d3"; echo inner >"$over/d3/inner"; echo replaced >"$over/d2/x"
echo file >"$over/d1"; chmod 600 "$over/d2/x"; touch -d @1000000000.5 "$over/d2"
cp -a "$base" "$want"
rm -rf "$want/d1" "$want/d3"
tar -C "$over" -cf "$TEST_DIR/over.tar" .
tar -C "$want" -xf "$TEST_DIR/over.tar"
img=$TEST_DIR/over.img
run_check "$BLAZY" mkseed -q --rootdir "$base" --tar "$TEST_DIR/over.tar" "$img"
seed_full "$img"
check_seed "$img"
mount_seed "$img" "$TEST_DIR/mnt-over"
run_check "$TREECMP" --ignore .blazy "$want" "$TEST_DIR/mnt-over"
unmount_seed "$TEST_DIR/mnt-over"
assert_no_leaks
