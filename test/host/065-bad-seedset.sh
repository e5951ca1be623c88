#!/bin/bash
# Bad seed sets (docs/bad-inputs.md): a damaged seed image (superblock, tree block), a torn or
# tampered map journal, a missing input file, and a full disk under the store of `blazy map`
# and of `mkseed --lazy`. Each failure exits 1 with a message naming the file and the damage,
# and leaves the journal as it was and no output or temporary file behind; a torn journal tail
# (a crash during an append) is cut away and the append goes on. A map that fails part-way
# leaves no chunk it wrote (only those that were there before).
. "$(dirname "$0")/lib.sh"
require_root

w=$TEST_DIR
mkdir -p "$w/src" "$w/in"
echo x >"$w/src/f"
head -c 3000000 /dev/urandom >"$w/in/big"
run_check "$BLAZY" mkseed -q --virtual-size 1T --rootdir "$w/src" "$w/seed.img"
run_check "$BLAZY" map "$w/seed.img" "$w/src/f"
run_check "$BLAZY" map "$w/seed.img" "$w/in/big"
cp "$w/seed.img.map" "$w/good.map"

flip() { # flip FILE OFFSET: xor the byte at OFFSET with 0x5a
	local b
	b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
	printf "\\x$(printf %02x $((b ^ 0x5a)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
same_map() { # the journal is byte for byte what it was
	cmp -s "$w/seed.img.map" "$w/good.map" || fail "the map journal was changed"
}

# A damaged seed image: the superblock (checksummed), the root tree block (its logical address
# in the superblock at byte 80; a seed's metadata chunk maps it 1:1 onto the image).
cp --sparse=always "$w/seed.img" "$w/bad.img"
flip "$w/bad.img" $((65536 + 100))
run_mustfail_msg "^blazy: error: '$w/bad.img': the superblock checksum is wrong \\(or not crc32c\\)$" \
	"$BLAZY" inspect "$w/bad.img"
run_mustfail_msg "^blazy: error: '$w/bad.img' is not a usable seed: the superblock checksum is wrong" \
	"$BLAZY" map --map "$w/seed.img.map" "$w/bad.img" "$w/src/f"
same_map
cp --sparse=always "$w/seed.img" "$w/bad.img"
root=$(od -An -tu8 -j $((65536 + 80)) -N 8 "$w/bad.img" | tr -d ' ')
flip "$w/bad.img" $((root + 200))
run_mustfail_msg "^blazy: error: '$w/bad.img': tree block $root has a bad checksum$" \
	"$BLAZY" inspect "$w/bad.img"
rm -f "$w/bad.img"

# A tampered journal: a flipped byte in the first record, with valid records after it, is
# corruption (not a torn tail): refused, nothing written.
flip "$w/seed.img.map" $((64 + 20))
cp "$w/seed.img.map" "$w/good.map"
run_mustfail_msg "^blazy: error: cannot open the map '$w/seed.img.map': record 0 at byte 64: bad magic or checksum, and a valid record follows at byte 144$" \
	"$BLAZY" map "$w/seed.img" "$w/src/f"
same_map
flip "$w/seed.img.map" $((64 + 20))
cp "$w/seed.img.map" "$w/good.map"
# A journal made for another seed.
run_check "$BLAZY" mkseed -q --virtual-size 1T --rootdir "$w/src" "$w/other.img"
run_mustfail_msg "^blazy: error: cannot open the map '$w/seed.img.map': the journal belongs to another seed \\(fsid [-0-9a-f]{36}, the seed's is [-0-9a-f]{36}\\)$" \
	"$BLAZY" map --map "$w/seed.img.map" "$w/other.img" "$w/src/f"
same_map

# A torn tail (a crash in the middle of an append): cut away, then the new record is appended.
size=$(stat -c %s "$w/seed.img.map")
head -c 33 /dev/urandom >>"$w/seed.img.map"
run_check "$BLAZY" map "$w/seed.img" "$w/src/f"
[ "$(stat -c %s "$w/seed.img.map")" = $((size + 80)) ] ||
	fail "the torn tail was not replaced by one record: $(stat -c %s "$w/seed.img.map") bytes, not $((size + 80))"
cmp -s -n "$size" "$w/seed.img.map" "$w/good.map" || fail "the records before the torn tail changed"
cp "$w/seed.img.map" "$w/good.map"

# A missing or unreadable input file.
run_mustfail_msg "^blazy: error: cannot open '$w/in/nope': No such file or directory$" \
	"$BLAZY" map "$w/seed.img" "$w/in/nope"
run_mustfail_msg "^blazy: error: cannot read '$w/in': Is a directory$" "$BLAZY" map "$w/seed.img" "$w/in"
same_map

# A full disk under the store of `blazy map`: exit 1, the journal unchanged, no temporary file
# in the store (only whole, verified chunks, which a later map of the same bytes reuses).
mkdir -p "$w/small"
mount -t tmpfs -o size=1m tmpfs "$w/small"
cleanup_umount "$w/small"
run_mustfail_msg "^blazy: error: cannot store a chunk of '$w/in/big': No space left on device$" \
	"$BLAZY" map --store "$w/small/store" "$w/seed.img" "$w/in/big"
same_map
left=$(find "$w/small/store" -type f | grep -Ev '/[0-9a-f]{2}/[0-9a-f]{62}$|/[0-9a-f]{64}$' || true)
[ -z "$left" ] || fail "temporary files left in the store: $left"
umount "$w/small"

# A map that fails part-way removes the whole chunks it wrote, which nothing references, and
# keeps the one that was there before (content-addressed: another map's chunk is not its to
# remove): a 4 MiB file whose first MiB is mapped already, on a 3 MiB disk.
mkdir -p "$w/in2"
head -c 4194304 /dev/urandom >"$w/in2/four"
head -c 1048576 "$w/in2/four" >"$w/in2/first"
mount -t tmpfs -o size=3m tmpfs "$w/small"
run_check "$BLAZY" map --store "$w/small/store" "$w/seed.img" "$w/in2/first"
cp "$w/seed.img.map" "$w/good.map"
run_mustfail_msg "^blazy: error: cannot store a chunk of '$w/in2/four': No space left on device$" \
	"$BLAZY" map --store "$w/small/store" "$w/seed.img" "$w/in2/four"
same_map
want=$(sha256sum "$w/in2/first" | cut -c1-64)
chunks=$(find "$w/small/store" -type f)
[ "$(echo "$chunks" | wc -l)" = 1 ] && grep -Eq "/${want:0:2}/(${want:2}|$want)$" <<<"$chunks" ||
	fail "after the failed map the store holds $chunks, not only the chunk $want mapped before"
umount "$w/small"

# A full disk under the store of `mkseed --lazy`: exit 1, no seed, no map, no store left.
mount -t tmpfs -o size=1m tmpfs "$w/small"
run_mustfail_msg "^blazy: error: cannot store the data of '$w/in/big': No space left on device$" \
	"$BLAZY" mkseed -q --lazy --store "$w/small/store" --rootdir "$w/in" "$w/out.img"
[ -z "$(ls -A "$w/small")" ] || fail "left in the full store's disk: $(ls -A "$w/small")"
ls "$w/out.img"* >/dev/null 2>&1 && fail "left behind: $(ls "$w/out.img"*)"
umount "$w/small"
assert_no_leaks
