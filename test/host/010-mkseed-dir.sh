#!/bin/bash
# mkseed --rootdir: for every kind of generated tree, btrfs check is clean and the seed,
# mounted read-only on the host kernel, matches the source exactly.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs setfattr

for kind in basic full wide empty; do
	src=$TEST_DIR/src-$kind
	img=$TEST_DIR/$kind.img
	mnt=$TEST_DIR/mnt-$kind
	mktree "$src" "$kind"
	run_check "$BLAZY" mkseed -q --rootdir "$src" --virtual-size 1T "$img"
	json=$("$BLAZY" inspect --json "$img")
	[ "$(jnum size virtual <<<"$json")" = $((1 << 40)) ] || fail "$kind: virtual size"
	grep -q '"seeding":true' <<<"$json" || fail "$kind: not flagged as a seed"
	# The image costs O(metadata + data), not O(address space).
	used=$(( $(stat -c %b "$img") * 512 ))
	srcbytes=$(du -sb --apparent-size "$src" | cut -f1)
	[ "$used" -lt $(( srcbytes + (32 << 20) )) ] || fail "$kind: image uses $used bytes on disk"
	seed_full "$img"
	check_seed "$img"
	mount_seed "$img" "$mnt"
	run_check "$TREECMP" --ignore .blazy "$src" "$mnt"
	[ "$(stat -c %s "$mnt/.blazy/virtual")" = $((1 << 40)) ] || fail "$kind: /.blazy/virtual size"
	unmount_seed "$mnt"
done
assert_no_leaks
