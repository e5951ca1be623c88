#!/bin/bash
# mkseed --lazy: file data goes to the content store at import-area addresses, the seed keeps
# metadata (and inline files) only, and its csum tree covers every lazy block. Checked by
# writing the map's chunks into a full-size copy of the device (a stand-in for the server),
# mounting it on the host kernel (which verifies the data checksums of every block read) and
# comparing with the source; a flipped byte in a lazy block then reads as EIO.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs tar setfattr

src=$TEST_DIR/src img=$TEST_DIR/seed.img mnt=$TEST_DIR/mnt
mktree "$src" basic
cp "$src/files/random-3m" "$src/files/random-3m-copy" # identical content: deduplicated
json=$(run_check "$BLAZY" mkseed --json --lazy --rootdir "$src" --virtual-size 1T "$img")
echo "$json"
[ -f "$img.map" ] && [ -d "$img.store" ] || fail "no map or store beside the seed"
[ "$(jnum dedup_bytes import <<<"$json")" -ge $((3 << 20)) ] || fail "the copied file was not deduplicated"
info=$("$BLAZY" inspect --json "$img")
isize=$(jnum size import <<<"$info")
[ "$isize" -gt 0 ] || fail "no import area"
[ "$(jnum offset import <<<"$info")" = $((512 << 30)) ] || fail "the import area is not at 512 GiB"
[ "$(jnum offset virtual <<<"$info")" -ge $(( (512 << 30) + isize )) ] || fail "virtual area overlaps import"
[ "$(jnum local_data_bytes <<<"$info")" = 0 ] || fail "file data was kept in the image"
# The seed costs metadata only: far less than the data.
used=$(( $(stat -c %b "$img") * 512 ))
data=$(du -sb --apparent-size "$src" | cut -f1)
[ "$used" -lt $(( data / 4 )) ] || fail "the lazy seed uses $used bytes on disk for $data bytes of data"
echo "seed on disk: $used bytes for $data bytes of source"

seed_full "$img"
check_seed "$img"
run_check "$BLZTEST" materialize "$img" "$img"
mount_seed "$img" "$mnt"
run_check "$TREECMP" --ignore .blazy "$src" "$mnt"
unmount_seed "$mnt"

# Corrupt one lazy block on the device: the kernel's checksum catches it.
ext=$(btrfs inspect-internal dump-tree -t fs "$img" 2>/dev/null |
	awk '/EXTENT_DATA/ {k = 1} k && /disk byte/ { for (i = 1; i <= NF; i++) if ($i == "byte") print $(i + 1); k = 0 }' |
	awk -v a=$((512 << 30)) -v v="$(jnum offset virtual <<<"$info")" '$1 >= a && $1 < v' | head -n1)
[ -n "$ext" ] || fail "no lazy extent found"
run_check "$BLZTEST" pwrite "$img" $((ext + 100)) "CORRUPT"
mount_seed "$img" "$mnt"
bad=0
while IFS= read -r -d '' f; do
	cat "$f" >/dev/null 2>&1 || bad=$((bad + 1))
done < <(find "$mnt" -type f -not -path "$mnt/.blazy/*" -print0)
[ "$bad" -ge 1 ] || fail "a corrupted lazy block was read without error"
dmesg | tail -n 20 | grep 'csum failed' >/dev/null || fail "no checksum failure in the kernel log"
unmount_seed "$mnt"

# The same tree as a tar stream, plain and gzip-compressed (tar -z).
mapfile -d '' ign < <(tar_ignores "$src")
for z in "" z; do
	rm -rf "$img" "$img.map" "$img.store"
	tar --format=pax --xattrs --xattrs-include='*' -C "$src" -c${z}f - . 2>/dev/null |
		run_check "$BLAZY" mkseed -q --lazy --tar - "$img"
	seed_full "$img"
	check_seed "$img"
	run_check "$BLZTEST" materialize "$img" "$img"
	mount_seed "$img" "$mnt"
	run_check "$TREECMP" --ignore .blazy "${ign[@]}" "$src" "$mnt"
	unmount_seed "$mnt"
done
# An existing map is not overwritten without --force.
run_mustfail_msg "seed.img.map. exists" "$BLAZY" mkseed -q --lazy --map "$img.map" --rootdir "$src" "$TEST_DIR/other.img"
[ ! -e "$TEST_DIR/other.img" ] || fail "an image was left"
assert_no_leaks
