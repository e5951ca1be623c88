#!/bin/bash
# From fetched device ranges to files (lib/orch/fetched.c, through `blztest fetched`): a
# --lazy seed materialised on a loop device, sprouted, with a partial clone of
# /.blazy/virtual and a deleted file. Hand-made "fetches" replies (device ranges from FIEMAP;
# logical = physical on the seed) must resolve to exactly the files whose extents cover the
# touched addresses: all names of a hard-linked file, only the cloned part of the virtual
# area, nothing for metadata, freed data or the virtual file itself; a range shared by two
# files credits both; the trace skips a name holding a newline.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs

src=$TEST_DIR/src img=$TEST_DIR/seed.img mnt=$TEST_DIR/mnt rw=$TEST_DIR/rw.img
mkdir -p "$src/files" "$src/other"
run_check "$BLZTEST" gen 1 300000 "$src/files/a"
ln "$src/files/a" "$src/files/a-link"
run_check "$BLZTEST" gen 2 $(( (2 << 20) + 5 )) "$src/files/b"
run_check "$BLZTEST" gen 3 50000 "$src/files/c"
run_check "$BLZTEST" gen 4 100000 "$src/other/z"
run_check "$BLZTEST" gen 5 20000 "$src/nl
name"
echo tiny >"$src/tiny"
run_check "$BLAZY" mkseed -q --lazy --rootdir "$src" --virtual-size 1T "$img"
voff=$("$BLAZY" inspect --json "$img" | jnum offset virtual)
seed_full "$img"
run_check "$BLZTEST" materialize "$img" "$img"
mount_seed "$img" "$mnt"
seed_dev=$SEED_DEV
truncate -s 1G "$rw"
loop_attach "$rw"
rw_dev=$LOOP_DEV
run_check "$BLZTEST" add-dev "$mnt" "$rw_dev"
run_check "$BLZTEST" remount "$mnt" nodatasum

# ext FILE: "physical length" of each of FILE's extents.
ext() { "$BLZTEST" fiemap "$1" | awk '{print $2, $3}'; }
# line AREA FILE READS: one fetched range per extent of FILE, every byte touched.
line() { ext "$2" | while read -r p l; do echo "$1 $p $l $3 $l 1 0+$l"; done; }

# A clone of 8 KiB of /.blazy/virtual; c is deleted (its extent freed).
vo=$((64 << 20))
run_check "$BLZTEST" clone "$mnt/.blazy/virtual" "$vo" 8192 "$mnt/cl" 0
read -r cphys clen < <(ext "$mnt/files/c")
read -r aphys _ < <(ext "$mnt/files/a")
rm "$mnt/files/c"
sync

f=$TEST_DIR/fetches
{
	echo "blazy-fetches 1 0"
	echo "local 0 1048576 1 4096 0 65536+4096"          # the superblock: not file data
	line import "$mnt/files/b" 3
	echo "import $aphys 4096 1 4096 1 0+4096"             # a's first block only
	line import "$mnt/nl
name" 1
	echo "virtual $((voff + vo - 4096)) 16384 1 16384 0 0+16384" # 4 KiB each side of the clone
	echo "import $cphys $clen 1 $clen 1 0+$clen"          # the deleted file
} >"$f"
cat "$f"
out=$("$BLZTEST" fetched "$mnt" "$f")
echo "$out"

bsize=$(stat -c %s "$mnt/files/b")
field() { grep "$1" <<<"$out" | grep -o " $2=[0-9]*" | cut -d= -f2; }
[ "$(grep -c '^file ' <<<"$out")" = 4 ] || fail "want exactly 4 files (a, b, the newline name, cl)"
[ "$(field 'paths=files/b$' touched)" = $(( (bsize + 4095) / 4096 * 4096 )) ] || fail "b: touched"
[ "$(field 'paths=files/b$' bytes)" = $(( (bsize + 4095) / 4096 * 4096 )) ] || fail "b: bytes"
[ "$(field 'paths=files/b$' lazy)" = "$(field 'paths=files/b$' bytes)" ] || fail "b: lazy bytes"
grep -q 'touched=4096 .*paths=files/a|files/a-link$' <<<"$out" || fail "a: one block, both names"
grep -q 'touched=20480 .*paths=nl$' <<<"$out" || fail "the newline name: 20000 bytes in 5 blocks"
grep -q 'touched=8192 bytes=8192 lazy=8192 reads=1 store=0 paths=cl$' <<<"$out" ||
	fail "cl: exactly its 8 KiB of the virtual range, half of the range's bytes"
grep -q "outside=$((8192 + clen)) not_data=4096 " <<<"$out" ||
	fail "outside any file: the virtual range's uncloned 8 KiB and the deleted file"
grep -q '^trace written=4 skipped=1 unnamed=0$' <<<"$out" || fail "trace counts"
[ "$(sed -n '/^trace /,$p' <<<"$out" | tail -n +2)" = "$(printf 'cl\nfiles/a\nfiles/a-link\nfiles/b')" ] ||
	fail "trace: the four names, sorted"

# One range over the boundary of two files' adjacent extents: both are credited.
all=$(find "$mnt/files" "$mnt/other" -type f | while read -r p; do ext "$p" | sed "s|\$| $p|"; done | sort -n)
pair=$(awk 'prev_end == $1 { print prev, $3; exit } { prev_end = $1 + $2; prev = $3 }' <<<"$all")
[ -n "$pair" ] || fail "no two files with adjacent extents: $all"
read -r left right <<<"$pair"
bound=$(awk -v f="$right" '$3 == f {print $1; exit}' <<<"$all")
printf 'blazy-fetches 1 0\nimport %s 8192 2 8192 1 0+8192\n' $((bound - 4096)) >"$f"
out=$("$BLZTEST" fetched "$mnt" "$f")
echo "$out"
for p in "$left" "$right"; do
	grep -q "touched=4096 bytes=4096 lazy=4096 reads=2 store=1 paths=${p#"$mnt/"}" <<<"$out" ||
		fail "$p: half of the shared range"
done

# Bad input: not a fetches reply, and a directory that is not btrfs.
echo junk >"$f"
run_mustfail_msg "not a fetches reply" "$BLZTEST" fetched "$mnt" "$f"
printf 'blazy-fetches 1 0\n' >"$f"
run_mustfail_msg "not a btrfs" "$BLZTEST" fetched "$TEST_DIR" "$f"

run_check "$BLZTEST" umount "$mnt"
run_check "$BLZTEST" loop-detach "$rw_dev"
run_check "$BLZTEST" loop-detach "$seed_dev"
assert_no_leaks
