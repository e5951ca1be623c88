#!/bin/sh
# blazy map --clone / --clone-into: 200 files of mixed sizes (0 B, 1 B, 4095 B, 4096 B,
# 1 MiB + 1, 100 MiB, ...) mapped into a blazy mount at run time appear at once with their
# size, mode and times; the server fetches lazy bytes only for what is read; everything reads
# back identical; the clones survive umount + mount; paths outside the mount are refused.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

W=/tmp/080
M=/mnt/c
export BLAZY_STATE_DIR=$W/state
trap blazy_mount_cleanup EXIT

rm -rf "$W"
mkdir -p "$W/src" "$W/in" "$M"
echo base >"$W/src/base"
check "mkseed" blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
check "blazy mount" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 512M
dev=$(grep "^ublk=" "$W/state/"*.state | head -n1 | cut -d= -f2)
[ -n "$dev" ] || dev=$(ls /dev/ublkb* | head -n1)
ublk_devs="$ublk_devs $dev"
echo "served by $dev"

# 200 inputs: the edge sizes, then a spread of sizes, one of 100 MiB.
i=0
for n in 0 1 4095 4096 1048577 104857600; do
	dd if=/dev/urandom of="$W/in/f$i" bs=1 count=0 seek=0 2>/dev/null
	[ "$n" -gt 0 ] && head -c "$n" /dev/urandom >"$W/in/f$i"
	i=$((i + 1))
done
while [ $i -lt 200 ]; do
	head -c $(( (i * 7919) % 300000 + 1 )) /dev/urandom >"$W/in/f$i"
	i=$((i + 1))
done
chmod 0640 "$W/in/f3"
touch -d "2001-02-03 04:05:06" "$W/in/f3"
total=$(cat "$W/in"/f* | wc -c)

mkdir -p "$M/lazy"
out=$(blazy map --json --clone-into "$M/lazy" "$W/in"/f*)
check "map --clone-into of 200 files exits 0" [ -n "$out" ]
check "200 files appeared" [ "$(ls "$M/lazy" | wc -l)" = 200 ]
check "sizes are exact" sh -c "for f in $W/in/f*; do [ \$(stat -c %s \$f) = \$(stat -c %s $M/lazy/\$(basename \$f)) ] || exit 1; done"
check "mode is copied" [ "$(stat -c %a "$M/lazy/f3")" = 640 ]
check "mtime is copied" [ "$(stat -c %Y "$M/lazy/f3")" = "$(stat -c %Y "$W/in/f3")" ]
lazy0=$(blazy status --json "$dev" | sed 's/.*"lazy_bytes":\([0-9]*\).*/\1/')
echo "lazy bytes fetched before reading: $lazy0 of $total mapped"
check "nothing lazy was fetched by cloning" [ "$lazy0" -lt 65536 ]
# Read half of the small files: fetched bytes grow by about what was read, not the rest.
sync; echo 3 >/proc/sys/vm/drop_caches
half=0
for j in $(seq 100 199); do
	cat "$M/lazy/f$j" >/dev/null
	half=$((half + $(stat -c %s "$W/in/f$j")))
done
lazy1=$(blazy status --json "$dev" | sed 's/.*"lazy_bytes":\([0-9]*\).*/\1/')
echo "after reading $half bytes: $lazy1 lazy bytes fetched"
check "reading fetched what was read" [ "$lazy1" -ge "$half" ]
check "and not the 100 MiB file nor the rest" [ "$lazy1" -lt $((half + 16 * 1048576)) ]
st=$(blazy status --json "$M")
echo "$st"
check "status MOUNTPOINT names the mount" sh -c "echo '$st' | grep -q '\"mountpoint\":\"$M\"'"
check "status MOUNTPOINT reports the backing's use" sh -c "echo '$st' | grep -q '\"backing_used_bytes\":[1-9]'"
check "status MOUNTPOINT (text)" sh -c "blazy status $M | grep -q 'lazy data fetched'"
bad=0
for f in "$W/in"/f*; do cmp -s "$f" "$M/lazy/$(basename "$f")" || { echo "differs: $f"; bad=$((bad + 1)); }; done
check "all 200 files read back identical" [ "$bad" = 0 ]

# The single form, and refusals.
head -c 5000 /dev/urandom >"$W/one"
check "map --clone PATH FILE" blazy map --clone "$M/one-clone" "$W/one"
check "the clone is identical" cmp "$W/one" "$M/one-clone"
blazy map --clone "$W/outside" "$W/one" 2>"$W/err"
rc=$?
cat "$W/err"
check "a path outside the mount is refused (exit 1)" [ "$rc" = 1 ] && grep -q "not inside a blazy mount" "$W/err"
check "nothing was created outside" [ ! -e "$W/outside" ]
blazy map --clone "$M/one-clone" "$W/one" 2>"$W/err"
check "an existing path is refused" [ $? = 1 ] && grep -q "cannot create" "$W/err"

# kill -9 the server while a lazy file is being read: the reader fails instead of hanging,
# blazy umount cleans up, blazy mount brings back identical data, no device is left over.
sync; echo 3 >/proc/sys/vm/drop_caches
cat "$M/lazy/f5" >/dev/null 2>"$W/reader.err" &
reader=$!
sleep 1
spid=$(list_pid "$(dev_id "$dev")")
check "the server runs (pid $spid)" pid_alive "$spid"
kill -KILL "$spid"
check "the reader ends within 60 s" wait_until 60 sh -c "! [ -d /proc/$reader ] || grep -q '^[^)]*) Z' /proc/$reader/stat 2>/dev/null"
wait "$reader" 2>/dev/null
check "blazy umount after the kill" blazy umount "$M"
check "no ublk device left" [ -z "$(ls /sys/class/ublk-char 2>/dev/null)" ]
check "blazy mount after the kill" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img"
check "the 100 MiB clone reads back identical" cmp "$W/in/f5" "$M/lazy/f5"
check "blazy umount" blazy umount "$M"
check "blazy mount" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img"

# Clones survive umount + mount.
check "blazy umount" blazy umount "$M"
check "blazy mount again" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img"
bad=0
for j in 0 1 2 3 4 5 50 150; do cmp -s "$W/in/f$j" "$M/lazy/f$j" || bad=$((bad + 1)); done
check "clones identical after umount + mount" [ "$bad" = 0 ]
check "blazy umount" blazy umount "$M"
finish
