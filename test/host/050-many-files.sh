#!/bin/bash
# A tree of >= 100,000 files, from a directory and as a tar stream: btrfs check is clean and
# the mounted seed matches the source.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs tar

src=$TEST_DIR/src
mktree "$src" many
n=$(find "$src" -type f | wc -l)
[ "$n" -ge 100000 ] || fail "the generated tree has only $n files"
for how in dir tar; do
	img=$TEST_DIR/$how.img mnt=$TEST_DIR/mnt-$how
	if [ $how = dir ]; then
		run_check "$BLAZY" mkseed -q --rootdir "$src" "$img"
	else
		tar --format=pax -C "$src" -cf - . | run_check "$BLAZY" mkseed -q --tar - "$img"
	fi
	json=$("$BLAZY" inspect --json "$img")
	[ "$(jnum files <<<"$json")" -ge $((n + 1)) ] || fail "$how: inspect counts $(jnum files <<<"$json") files"
	seed_full "$img"
	check_seed "$img"
	mount_seed "$img" "$mnt"
	run_check "$TREECMP" --ignore .blazy "$src" "$mnt"
	unmount_seed "$mnt"
	rm -f "$img"
done
assert_no_leaks
