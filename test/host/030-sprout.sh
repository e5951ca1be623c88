#!/bin/bash
# Sprouting a seed by syscalls alone (blztest: mount(2), BTRFS_IOC_ADD_DEV, BTRFS_IOC_SCAN_DEV,
# FICLONERANGE): mount ro, add a fresh loop device, remount rw,nodatasum, write and change files,
# clone a range of /.blazy/virtual, put bytes into the seed device's backing file at the
# physical offset blazy inspect reports and read them through the clone; unmount, mount the
# sprout with both devices, and find everything intact.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs setfattr

src=$TEST_DIR/src img=$TEST_DIR/seed.img mnt=$TEST_DIR/mnt rw=$TEST_DIR/rw.img
mktree "$src" basic
run_check "$BLAZY" mkseed -q --rootdir "$src" --virtual-size 1P "$img"
json=$("$BLAZY" inspect --json "$img")
voff=$(jnum offset virtual <<<"$json")
[ -n "$voff" ] || fail "no virtual offset"

mount_seed "$img" "$mnt"
seed_dev=$SEED_DEV
run_mustfail touch "$mnt/nope"                      # read-only until sprouted
truncate -s 2G "$rw"
loop_attach "$rw"
rw_dev=$LOOP_DEV
run_check "$BLZTEST" add-dev "$mnt" "$rw_dev"
run_check "$BLZTEST" remount "$mnt" nodatasum

# Writes: new files, overwrite, rename, delete, a new directory.
echo "new data" >"$mnt/new.txt"
run_check "$BLZTEST" gen 7 3M "$mnt/new-3m"
cp "$mnt/new-3m" "$TEST_DIR/expect-3m"
echo "overwritten" >"$mnt/files/one"
mv "$mnt/files/empty" "$mnt/renamed-empty"
rm -rf "$mnt/deep"
mkdir -p "$mnt/newdir/sub"

# Clone 1 MiB at virtual offset 5 GiB + 12 KiB into a new file, and put known bytes at the
# matching physical offset in the seed device's backing file.
vo=$(( (5 << 30) + 12288 ))
run_check "$BLZTEST" clone "$mnt/.blazy/virtual" "$vo" 1M "$mnt/cloned" 0
run_check "$BLZTEST" gen 99 1M "$TEST_DIR/lazy-bytes"
run_check "$BLZTEST" pwrite "$img" $(( voff + vo )) "@$TEST_DIR/lazy-bytes"
# The seed's loop device may have cached nothing of this range yet; read through the clone.
cmp "$mnt/cloned" "$TEST_DIR/lazy-bytes" || fail "the clone does not show the bytes at the physical offset"
[ "$(stat -c %s "$mnt/cloned")" = $((1 << 20)) ] || fail "clone size"
# The clone shares the virtual extent (no data written to the rw device).
"$BLZTEST" fiemap "$mnt/cloned" | awk -v p=$(( voff + vo )) '$2 == p {ok = 1} END {exit !ok}' ||
	fail "the clone's extent is not at the virtual area's physical offset"
sync

# Unmount, mount the sprout again with both devices registered by BTRFS_IOC_SCAN_DEV.
run_check "$BLZTEST" umount "$mnt"
run_check "$BLZTEST" scan-dev "$seed_dev"
run_check "$BLZTEST" mount "$rw_dev" "$mnt" nodatasum --device "$seed_dev"
[ "$(cat "$mnt/new.txt")" = "new data" ] || fail "new.txt lost"
cmp "$mnt/new-3m" "$TEST_DIR/expect-3m" || fail "new-3m changed"
[ "$(cat "$mnt/files/one")" = "overwritten" ] || fail "overwrite lost"
[ -f "$mnt/renamed-empty" ] && [ ! -e "$mnt/files/empty" ] || fail "rename lost"
[ ! -e "$mnt/deep" ] || fail "deleted directory came back"
[ -d "$mnt/newdir/sub" ] || fail "new directory lost"
cmp "$mnt/cloned" "$TEST_DIR/lazy-bytes" || fail "clone content changed after remount"
# Every subtree not touched still matches the source.
for d in "$src"/*; do
	d=$(basename "$d")
	case $d in files|deep) continue ;; esac
	"$TREECMP" "$src/$d" "$mnt/$d" || fail "untouched seed subtree $d changed"
done
# The seed image itself was never written (only our pwrite into the virtual area).
"$BLAZY" inspect "$img" >/dev/null || fail "the seed no longer reads as a seed"
run_check "$BLZTEST" umount "$mnt"
run_check "$BLZTEST" loop-detach "$rw_dev"
run_check "$BLZTEST" loop-detach "$seed_dev"
assert_no_leaks
