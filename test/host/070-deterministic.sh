#!/bin/bash
# Same input + fixed --uuid and --timestamp => byte-identical images, from a directory and from
# a tar; a different timestamp or uuid changes the image.
. "$(dirname "$0")/lib.sh"
requires tar

src=$TEST_DIR/src
mkdir -p "$src/a/b"
for i in $(seq 1 200); do echo "file $i" >"$src/a/f$i"; done
head -c 3000000 /dev/urandom >"$src/a/b/big"
ln -s f1 "$src/a/link"
ln "$src/a/f2" "$src/a/b/hard"
# A second copy of the tree, created in another order (readdir order differs).
cp -a "$src" "$TEST_DIR/copy0"
mkdir -p "$TEST_DIR/copy"
cp -a "$src/a" "$TEST_DIR/copy/"
touch -r "$src" "$TEST_DIR/copy"
tar --format=pax -C "$src" -cf "$TEST_DIR/t.tar" .

fixed=(--uuid 2f1c3a5e-8b7d-4e21-9c0f-1a2b3c4d5e6f --timestamp 1700000000 -q)
mk() { run_check "$BLAZY" mkseed "${fixed[@]}" "$@"; }
mk --rootdir "$src" "$TEST_DIR/d1.img"
mk --rootdir "$src" "$TEST_DIR/d2.img"
"$BLZTEST" cmp "$TEST_DIR/d1.img" "$TEST_DIR/d2.img" || fail "two runs over the same directory differ"
mk --tar "$TEST_DIR/t.tar" "$TEST_DIR/t1.img"
mk --tar - "$TEST_DIR/t2.img" <"$TEST_DIR/t.tar"
"$BLZTEST" cmp "$TEST_DIR/t1.img" "$TEST_DIR/t2.img" || fail "two runs over the same tar differ"
SOURCE_DATE_EPOCH=1700000000 run_check "$BLAZY" mkseed -q --uuid 2f1c3a5e-8b7d-4e21-9c0f-1a2b3c4d5e6f \
	--tar "$TEST_DIR/t.tar" "$TEST_DIR/t3.img"
"$BLZTEST" cmp "$TEST_DIR/t1.img" "$TEST_DIR/t3.img" || fail "SOURCE_DATE_EPOCH is not the default timestamp"
mk --rootdir "$TEST_DIR/copy" "$TEST_DIR/c1.img"
[ "$(stat -c %s "$TEST_DIR/c1.img")" = "$(stat -c %s "$TEST_DIR/d1.img")" ] || fail "copy: image sizes differ"

run_check "$BLAZY" mkseed -q --uuid 2f1c3a5e-8b7d-4e21-9c0f-1a2b3c4d5e6f --timestamp 1700000001 \
	--tar "$TEST_DIR/t.tar" "$TEST_DIR/x1.img"
"$BLZTEST" cmp "$TEST_DIR/t1.img" "$TEST_DIR/x1.img" >/dev/null && fail "a different timestamp gave the same image"
run_check "$BLAZY" mkseed -q --uuid 3f1c3a5e-8b7d-4e21-9c0f-1a2b3c4d5e6f --timestamp 1700000000 \
	--tar "$TEST_DIR/t.tar" "$TEST_DIR/x2.img"
"$BLZTEST" cmp "$TEST_DIR/t1.img" "$TEST_DIR/x2.img" >/dev/null && fail "a different uuid gave the same image"
run_check "$BLAZY" mkseed -q --tar "$TEST_DIR/t.tar" "$TEST_DIR/r1.img"
run_check "$BLAZY" mkseed -q --tar "$TEST_DIR/t.tar" "$TEST_DIR/r2.img"
"$BLZTEST" cmp "$TEST_DIR/r1.img" "$TEST_DIR/r2.img" >/dev/null && fail "two images without --uuid share everything"
assert_no_leaks
