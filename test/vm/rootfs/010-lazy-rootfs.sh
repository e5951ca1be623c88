#!/bin/sh
# A Debian root imported with mkseed --lazy (disk from test/vm/rootfs-disk.sh on /dev/vda),
# mounted with blazy mount: programs run from it in a chroot; only a small fraction of the
# stored bytes is fetched for that; every file then matches the source's manifest (all bytes
# read); a corrupted store chunk and a missing one give EIO for their files, never wrong
# bytes, and every other file still reads correctly.
set -u
. "$(dirname "$0")/ublk-lib.inc"
. "$(dirname "$0")/rootfs.inc"
ublk_setup
D=/disk
M=/mnt/root
export BLAZY_STATE_DIR=/tmp/state

rootfs_cleanup() {
	_rc=$?
	blazy umount "$M" >/dev/null 2>&1
	grep -q " $M " /proc/mounts && umount "$M"
	grep -q " $D " /proc/mounts && umount "$D"
	(exit "$_rc")
	ublk_cleanup
}
trap rootfs_cleanup EXIT

field() { rootfs_field "$@"; }

rootfs_disk || finish
stored=$(field stored_bytes <"$D/mkseed.json")
echo "stored bytes: $stored"

# From nothing (no server, no device) to the first command's output.
t0=$(now_cs)
blazy mount -q "$D/seed.img" "$M" --rw /tmp/rw.img --rw-size 256M || { fail "blazy mount"; finish; }
out=$(chroot "$M" /bin/ls /)
t1=$(now_cs)
echo "first output after $(( (t1 - t0) / 100 )).$(( (t1 - t0) % 100 )) s (blazy mount + chroot ls /)"
rootfs_workload

st=$(blazy status --json "$M")
fetched=$(echo "$st" | field store_bytes)
echo "fetched $fetched of $stored stored bytes ($(( fetched * 1000 / stored / 10 )).$(( fetched * 1000 / stored % 10 ))%) for ls, dpkg -l and the script"
check "only a small fraction (<= 10%) of the stored bytes was fetched" [ "$((fetched * 10))" -le "$stored" ]
check "no failed reads" [ "$(echo "$st" | field errors)$(echo "$st" | field bad_chunks)" = 00 ]

# What the workload read, for `mkseed --local-list` next time (run-rootfs.sh checks that).
check "blazy status --trace" blazy status --trace "$D/hot.list" "$M"
echo "trace: $(wc -l <"$D/hot.list") files: $(head -n 8 "$D/hot.list" | tr '\n' ' ')..."
check "the trace lists usr/bin/dpkg, usr/bin/ls and var/lib/dpkg/status" sh -c "grep -qx usr/bin/dpkg '$D/hot.list' && grep -qx usr/bin/ls '$D/hot.list' && grep -qx var/lib/dpkg/status '$D/hot.list'"
check "the trace does not list unread files (usr/bin/perl)" sh -c "! grep -qx usr/bin/perl '$D/hot.list'"

py=$(chroot "$M" /usr/bin/python3 -c 'import hashlib, json; print(json.dumps({"sum": hashlib.sha256(b"blazy").hexdigest()[:12]}))' 2>&1)
echo "python3: $py"
check "python3 runs in the chroot" [ "$py" = '{"sum": "'"$(printf blazy | sha256sum | cut -c1-12)"'"}' ]

# Every file, all bytes, against the source.
rootfs_same "$stored" "a local store"
check "blazy umount" blazy umount "$M"

# Integrity: flip one byte inside victim 1's chunk, remove victim 2's chunk.
set -- $(sed -n 1p "$D/victims")
v1=$1 c1=$D/$2
set -- $(sed -n 2p "$D/victims")
v2=$1 c2=$D/$2
b=$(dd if="$c1" bs=1 skip=100 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
printf "\\$(printf %o $(( (b + 1) % 256 )))" | dd of="$c1" bs=1 seek=100 conv=notrunc 2>/dev/null
check "the chunk byte changed" [ "$(dd if="$c1" bs=1 skip=100 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')" = $(( (b + 1) % 256 )) ]
rm -f "$c2"
sync
check "blazy mount (after corrupting the store)" blazy mount -q "$D/seed.img" "$M" --rw /tmp/rw.img
for i in 1 2; do
	eval v=\$v$i
	rm -f /tmp/got
	if cat "$M/$v" >/tmp/got 2>/tmp/err; then
		fail "victim $i ($v) read without error"
	else
		echo "ok: victim $i ($v): $(cat /tmp/err)"
		grep -q "Input/output error" /tmp/err || fail "victim $i: not EIO"
	fi
	# Whatever came back before the error is the file's true prefix, never other bytes.
	n=$(wc -c </tmp/got)
	check "victim $i: the $n bytes returned are a true prefix" cmp -n "$n" /tmp/got "$D/orig/victim$i"
done
treesum --exclude .blazy --exclude "$v1" --exclude "$v2" "$M" >/tmp/vm2.sum
rc=$?
grep -v -e "^$v1 " -e "^$v2 " "$D/manifest" >/tmp/expect2
check "every other file still reads correctly (treesum exit $rc)" cmp -s /tmp/expect2 /tmp/vm2.sum
st=$(blazy status --json "$M")
echo "after corruption: bad_chunks $(echo "$st" | field bad_chunks), errors $(echo "$st" | field errors)"
check "the server counted the bad chunks" [ "$(echo "$st" | field bad_chunks)" -ge 1 ]
check "blazy umount" blazy umount "$M"
check "nothing left mounted" sh -c "! grep -q ' $M ' /proc/mounts"
finish
