#!/bin/bash
# The disks are the truth: what `blazy mount` finds on a writable backing is decided from the
# backing's own bytes (blztest backing = blz_orch_backing_check), with no state directory. A
# sprout of this seed is recognised (and its data is there when mounted again); a sprout of
# another seed, the seed itself, a plain btrfs, ext4, random bytes and a damaged sprout are
# refused, each with a message naming what it holds; zeros are blank.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs

export BLAZY_STATE_DIR=$TEST_DIR/no-state   # empty: nothing is known but the disks
src=$TEST_DIR/src a=$TEST_DIR/a.img b=$TEST_DIR/b.img mnt=$TEST_DIR/mnt rw=$TEST_DIR/rw.img
mktree "$src" basic
run_check "$BLAZY" mkseed -q --rootdir "$src" "$a"
mkdir -p "$TEST_DIR/other" && echo other >"$TEST_DIR/other/x"
run_check "$BLAZY" mkseed -q --rootdir "$TEST_DIR/other" "$b"
fsid_of() { "$BLAZY" inspect --json "$1" | sed -n 's/.*"fsid":"\([^"]*\)".*/\1/p' | tr -d -; }
fa=$(fsid_of "$a") fb=$(fsid_of "$b")
[ ${#fa} = 32 ] && [ ${#fb} = 32 ] || fail "no seed fsids ($fa, $fb)"

truncate -s 512M "$rw"
[ "$("$BLZTEST" backing "$a" "$rw")" = blank ] || fail "a zeroed backing is not blank"

# Sprout A on rw.img as blazy mount does, write, unmount.
mount_seed "$a" "$mnt"
seed_dev=$SEED_DEV
loop_attach "$rw"
rw_dev=$LOOP_DEV
run_check "$BLZTEST" add-dev "$mnt" "$rw_dev"
run_check "$BLZTEST" remount "$mnt" nodatasum
run_check "$BLZTEST" gen 5 3M "$mnt/written"
cp "$mnt/written" "$TEST_DIR/expect"
sync
run_check "$BLZTEST" umount "$mnt"

# Recognised from its metadata alone; the fsid is the sprout's, not the seed's.
out=$("$BLZTEST" backing "$a" "$rw") || fail "the sprout of A is not recognised"
echo "$out"
case $out in "sprout "*) ;; *) fail "not recognised as a sprout: $out" ;; esac
sfsid=${out#sprout }
[ ${#sfsid} = 32 ] && [ "$sfsid" != "$fa" ] || fail "sprout fsid $sfsid"
# The same through the loop device (a block device backing).
[ "$("$BLZTEST" backing "$a" "$rw_dev")" = "$out" ] || fail "the loop device reads differently"
# Mounting it again: the data written before is there.
run_check "$BLZTEST" scan-dev "$seed_dev"
run_check "$BLZTEST" mount "$rw_dev" "$mnt" nodatasum --device "$seed_dev"
cmp "$mnt/written" "$TEST_DIR/expect" || fail "the written file changed"
run_check "$BLZTEST" umount "$mnt"
run_check "$BLZTEST" loop-detach "$rw_dev"

# Refused, each saying what the backing holds.
run_mustfail_msg "sprouted from another seed \(fsid $fa\), not from .*b\.img \(fsid $fb\)" \
	"$BLZTEST" backing "$b" "$rw"
run_mustfail_msg "seed's own filesystem" "$BLZTEST" backing "$a" "$a"
cp --sparse=always "$rw" "$TEST_DIR/bad.img"
run_check "$BLZTEST" pwrite "$TEST_DIR/bad.img" $((65536 + 0x100)) X
run_mustfail_msg "cannot read as a sprout \(the superblock checksum is wrong" \
	"$BLZTEST" backing "$a" "$TEST_DIR/bad.img"
head -c 1M /dev/urandom >"$TEST_DIR/random.img" && truncate -s 512M "$TEST_DIR/random.img"
run_mustfail_msg "holds data \(a non-zero byte at offset" "$BLZTEST" backing "$a" "$TEST_DIR/random.img"
truncate -s 512M "$TEST_DIR/late.img"
run_check "$BLZTEST" pwrite "$TEST_DIR/late.img" 1048575 Z
run_mustfail_msg "non-zero byte at offset 1048575" "$BLZTEST" backing "$a" "$TEST_DIR/late.img"
if command -v mkfs.btrfs >/dev/null; then
	truncate -s 512M "$TEST_DIR/plain.img"
	run_check mkfs.btrfs -q "$TEST_DIR/plain.img"
	run_mustfail_msg "holds a btrfs filesystem \(fsid [0-9a-f]{32}, 1 device\(s\)\) that is not a sprout" \
		"$BLZTEST" backing "$a" "$TEST_DIR/plain.img"
else
	echo "mkfs.btrfs missing: not testing a plain btrfs backing"
fi
if command -v mkfs.ext4 >/dev/null; then
	truncate -s 512M "$TEST_DIR/ext4.img"
	run_check mkfs.ext4 -q -F "$TEST_DIR/ext4.img"
	run_mustfail_msg "holds an ext2/3/4 filesystem, not a sprout of" "$BLZTEST" backing "$a" "$TEST_DIR/ext4.img"
else
	echo "mkfs.ext4 missing: not testing an ext4 backing"
fi
unmount_seed_dev=$seed_dev
run_check "$BLZTEST" loop-detach "$unmount_seed_dev"
assert_no_leaks
