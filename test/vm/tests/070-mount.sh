#!/bin/sh
# blazy mount / umount: a seed served by ublk, sprouted with a writable backing file and
# mounted by syscalls alone. Every seed file reads back identical; writes, renames and
# deletes persist across umount + mount; umount leaves no mount, loop device, ublk device or
# server; an already running server is used and left running; failures (missing seed, busy
# mount point, backing sprouted from another seed, too small backing) exit 1 and leave
# nothing behind.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

W=/tmp/070
M=/mnt/x
export BLAZY_STATE_DIR=$W/state

mount_cleanup() {
	_rc=$?
	for m in /mnt/x /mnt/y; do
		blazy umount "$m" >/dev/null 2>&1
		grep -q " $m " /proc/mounts && umount "$m"
	done
	grep -q " /mnt/busy " /proc/mounts && umount /mnt/busy
	for l in $(losetup -a 2>/dev/null | grep "$W/" | cut -d: -f1); do
		losetup -d "$l"
	done
	(exit "$_rc")
	ublk_cleanup
}
trap mount_cleanup EXIT

# Nothing of ours is left: no mount on $M (or /mnt/y), no loop device over a file in $W,
# no ublk device, no blazy process.
nothing_left() {
	! grep -q " $M \| /mnt/y " /proc/mounts &&
		[ -z "$(losetup -a 2>/dev/null | grep "$W/")" ] &&
		[ -z "$(ls /sys/class/ublk-char 2>/dev/null)" ] &&
		[ -z "$(pidof blazy)" ]
}

rm -rf "$W"
mkdir -p "$W/src/d/e" "$M" /mnt/y /mnt/busy
dd if=/dev/urandom of="$W/src/d/big.bin" bs=1000 count=3000 2>/dev/null
dd if=/dev/urandom of="$W/src/d/e/odd.bin" bs=1 count=12345 2>/dev/null
echo hello >"$W/src/hello"
echo gone >"$W/src/d/gone"
: >"$W/src/empty"
head -c 3000 /dev/zero | tr '\000' x >"$W/src/inline3000"
chmod 0751 "$W/src/d/e/odd.bin"
chmod 0600 "$W/src/hello"
ln -s hello "$W/src/link"
check "mkseed" blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
mkdir -p "$W/src2"
echo other >"$W/src2/other"
check "mkseed (another seed)" blazy mkseed -q --virtual-size 1T --rootdir "$W/src2" "$W/seed2.img"

# The first mount sprouts.
out=$(blazy mount "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 512M)
rc=$?
echo "$out"
check "blazy mount (first) exits 0" [ "$rc" = 0 ]
[ "$rc" = 0 ] || { cat "$W/state/"*.serve.log 2>/dev/null; dmesg | tail -30; finish; }
check "it says it sprouted" sh -c "echo '$out' | grep -q sprouted"
check "$M is a btrfs mount" grep -q " $M btrfs rw" /proc/mounts
check "the backing file is 512 MiB" [ "$(stat -c %s "$W/rw.img")" = 536870912 ]
check "a state file records the mount" grep -q "^sprout_fsid=[0-9a-f]\{32\}$" "$W/state/mnt-x.state"
# The server registers before it reports ready, so the state has its pid at once; started
# through /proc/self/exe, it still goes by the program's name.
pid0=$(grep '^server_pid=' "$W/state/mnt-x.state" | cut -d= -f2)
check "the state has the server's pid right after the first mount" [ "${pid0:-0}" -gt 0 ]
check "the server process is named blazy" [ "$(cat /proc/"${pid0:-0}"/comm 2>/dev/null)" = blazy ]
check "pidof blazy finds the server" sh -c "pidof blazy | grep -qw '${pid0:-0}'"

same_tree() { # every file of $W/src is in $M with the same bytes, mode and size
	(cd "$W/src" && find . -type f) | while read -r f; do
		cmp "$W/src/$f" "$M/$f" || { echo "differs: $f"; return 1; }
		[ "$(stat -c '%a %s' "$W/src/$f")" = "$(stat -c '%a %s' "$M/$f")" ] ||
			{ echo "stat differs: $f"; return 1; }
	done
}
check "every seed file matches its source" same_tree
check "the symlink is there" [ "$(readlink "$M/link")" = hello ]
check "/.blazy/virtual is 1 TiB" [ "$(stat -c %s "$M/.blazy/virtual")" = 1099511627776 ]

# Writes, renames, deletes.
dd if=/dev/urandom of="$W/new.bin" bs=1048576 count=20 2>/dev/null
check "write a 20 MiB file" cp "$W/new.bin" "$M/new.bin"
check "write a small file" sh -c "echo written >$M/d/written"
check "rename a seed file" mv "$M/hello" "$M/hello.renamed"
check "delete a seed file" rm "$M/d/gone"
check "modify a seed file" sh -c "echo more >>$M/d/e/odd.bin"
sync
# Map a new file into the virtual area through the served device and clone it in.
dd if=/dev/urandom of="$W/mapped.bin" bs=1000 count=2345 2>/dev/null # 2,345,000 bytes
udev=$(grep '^ublk=' "$W/state/mnt-x.state" | cut -d= -f2)
json=$(blazy map --json "$udev" "$W/mapped.bin")
echo "$json"
moff=$(echo "$json" | sed 's/.*"offset":\([0-9]*\).*/\1/')
check "blazy map gives an offset" [ -n "$moff" ]
if command -v clonetool >/dev/null; then
	check "clone the mapped range into the mount" clonetool "$M/.blazy/virtual" "$moff" 2345000 "$M/mapped.bin"
	check "the cloned file reads back identical" cmp "$W/mapped.bin" "$M/mapped.bin"
else
	echo "no clonetool (pass --extra build/vm-tools/clonetool): not cloning"
fi

out=$(blazy umount "$M")
rc=$?
echo "$out"
check "blazy umount exits 0" [ "$rc" = 0 ]
check "umount leaves nothing (mount, loop, ublk, server)" wait_until 10 nothing_left
check "the state is kept" [ -f "$W/state/mnt-x.state" ]
check "blazy umount again is harmless (idempotent)" blazy umount "$M"

# Later mount: the sprout is mounted directly, the writes are there.
out=$(blazy mount "$W/seed.img" "$M" --rw "$W/rw.img")
rc=$?
echo "$out"
check "blazy mount (again) exits 0" [ "$rc" = 0 ]
check "it did not sprout again" sh -c "! echo '$out' | grep -q sprouted"
check "the written file persisted" cmp "$W/new.bin" "$M/new.bin"
check "the small file persisted" [ "$(cat "$M/d/written")" = written ]
check "the rename persisted" sh -c "[ -f $M/hello.renamed ] && ! [ -e $M/hello ]"
check "the delete persisted" [ ! -e "$M/d/gone" ]
check "the modification persisted" sh -c "tail -c 5 $M/d/e/odd.bin | grep -q more"
[ -e "$M/mapped.bin" ] && check "the cloned file persisted" cmp "$W/mapped.bin" "$M/mapped.bin"
check "untouched seed files still match" cmp "$W/src/d/big.bin" "$M/d/big.bin"
check "mount on a busy mount point fails" sh -c "! blazy mount $W/seed.img $M --rw $W/rw.img"
check "blazy umount" blazy umount "$M"
check "nothing left" wait_until 10 nothing_left

# A server that already runs is used, and umount leaves it running.
serve_bg "$W/seed.img"
check "blazy mount with a running server" blazy mount "$W/seed.img" "$M" --rw "$W/rw.img"
check "it uses that server's device" grep -q "^ublk=$dev$" "$W/state/mnt-x.state"
check "the written file is there" cmp "$W/new.bin" "$M/new.bin"
check "blazy umount" blazy umount "$M"
check "the server still runs" [ -e "$dev" ]
check "blazy stop" blazy stop "$dev"
check "nothing left" wait_until 10 nothing_left

# Crash recovery: a stale loop device over the backing is taken over; a server killed while
# the filesystem is mounted leaves a dead device, which umount removes.
l=$(losetup -f)
losetup "$l" "$W/rw.img"
check "blazy mount with a stale loop device" blazy mount "$W/seed.img" "$M" --rw "$W/rw.img"
check "it took the stale loop device over" grep -q "^loop=$l$" "$W/state/mnt-x.state"
check "the written file is there" cmp "$W/new.bin" "$M/new.bin"
spid=$(grep '^server_pid=' "$W/state/mnt-x.state" | cut -d= -f2)
check "the state knows the server's pid" [ "${spid:-0}" -gt 0 ]
kill -KILL "$spid"
wait_until 10 sh -c "! [ -d /proc/$spid ]"
out=$(blazy umount "$M")
rc=$?
echo "$out"
check "blazy umount after the server was killed exits 0" [ "$rc" = 0 ]
check "nothing left after the crash" wait_until 10 nothing_left
check "blazy mount after the crash" blazy mount "$W/seed.img" "$M" --rw "$W/rw.img"
check "the written file survived the crash" cmp "$W/new.bin" "$M/new.bin"
check "blazy umount" blazy umount "$M"
check "nothing left" wait_until 10 nothing_left

# Failures: exit 1, nothing left.
blazy mount "$W/missing.img" "$M" --rw "$W/rw.img" 2>"$W/err"; rc=$?
cat "$W/err"
check "missing seed: exit 1" [ "$rc" = 1 ]
check "missing seed: nothing left" wait_until 10 nothing_left
mount -t tmpfs none /mnt/busy
blazy mount "$W/seed.img" /mnt/busy --rw "$W/rw.img" 2>"$W/err"; rc=$?
cat "$W/err"
check "busy mount point: exit 1" [ "$rc" = 1 ]
check "busy mount point: the message says so" grep -q "already a mount point" "$W/err"
umount /mnt/busy
check "busy mount point: nothing left" wait_until 10 nothing_left
blazy mount "$W/seed.img" /mnt/nonexistent --rw "$W/rw.img" 2>"$W/err"; rc=$?
check "missing mount point: exit 1" [ "$rc" = 1 ]
truncate -s 16M "$W/small.img"
blazy mount "$W/seed.img" "$M" --rw "$W/small.img" 2>"$W/err"; rc=$?
cat "$W/err"
check "too small backing: exit 1" [ "$rc" = 1 ]
check "too small backing: nothing left" wait_until 10 nothing_left
# A backing sprouted from another seed.
check "mount the other seed on /mnt/y" blazy mount "$W/seed2.img" /mnt/y --rw "$W/rw2.img" --rw-size 256M
check "its file is there" [ "$(cat /mnt/y/other)" = other ]
check "blazy umount /mnt/y" blazy umount /mnt/y
blazy mount "$W/seed.img" "$M" --rw "$W/rw2.img" 2>"$W/err"; rc=$?
cat "$W/err"
check "backing of another seed: exit 1" [ "$rc" = 1 ]
check "backing of another seed: the message says so" grep -q "another seed" "$W/err"
check "backing of another seed: nothing left" wait_until 10 nothing_left
check "the other backing is intact" sh -c "blazy mount $W/seed2.img /mnt/y --rw $W/rw2.img && [ \"\$(cat /mnt/y/other)\" = other ] && blazy umount /mnt/y"
# A server that cannot start (no ublk_drv): exit 1, and the backing file this command
# created is removed again.
if modprobe -r ublk_drv 2>/dev/null; then
	blazy mount "$W/seed.img" "$M" --rw "$W/rw3.img" 2>"$W/err"; rc=$?
	cat "$W/err"
	check "server fails to start: exit 1" [ "$rc" = 1 ]
	check "server fails to start: the message says why" grep -q "ublk" "$W/err"
	check "server fails to start: the new backing file is removed" [ ! -e "$W/rw3.img" ]
	modprobe ublk_drv && wait_until 5 test -c /dev/ublk-control
	check "server fails to start: nothing left" wait_until 10 nothing_left
else
	echo "ublk_drv cannot be unloaded now: not testing a server that fails to start"
fi
check "nothing left at the end" wait_until 10 nothing_left
finish
