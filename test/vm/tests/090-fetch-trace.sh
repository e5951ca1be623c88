#!/bin/sh
# Fetch accounting: a --lazy seed of a generated tree, mounted with blazy mount; the test
# reads exactly some files (whole files, the first 4 KiB of another, an inline file, a name
# with a space, one with a newline, a hard link pair) and leaves others unread. Then
# `blazy status MNT`, `--json` and `--trace T`: T lists exactly the files read (inline files
# never fetch: not listed; the newline name: left out with a warning); the byte counts match
# what was read; the same through a `blazy map --clone`d file; the bare device lists ranges
# and refuses --trace; an unwritable trace path fails with exit 1. blazy umount leaves nothing.
#
# What is asserted exactly and why: a file read whole has every 4 KiB block of its extent
# touched (touched_bytes = its size rounded up to 4 KiB) and nothing else of it can be; a
# file not read has no block touched, since btrfs reads data only through the extents of the
# file read (readahead stays within that file) and mounting reads metadata only. For the
# file read 4 KiB at a time, only bounds: readahead may fetch more of that same file.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

W=/tmp/090
M=/mnt/f
export BLAZY_STATE_DIR=$W/state
trap blazy_mount_cleanup EXIT

# jfile JSON PATH FIELD: FIELD of the "files" entry whose first name is PATH (empty if none).
jfile() {
	printf '%s\n' "$1" | sed 's/},{"paths"/}\n{"paths"/g' |
		grep -F "{\"paths\":[\"$2\"" | head -n1 | sed "s/.*\"$3\":\([0-9]*\).*/\1/"
}

# has PATTERN / hasnt PATTERN: whether $js matches the basic regular expression.
has() { printf '%s' "$js" | grep -q -- "$1"; }
hasnt() { ! has "$1"; }

rm -rf "$W"
NL='nl
x'
mkdir -p "$W/src/big" "$W/src/small" "$W/src/unread" "$W/in" "$M"
head -c 3145728 /dev/urandom >"$W/src/big/a.bin"
head -c 2097152 /dev/urandom >"$W/src/big/b.bin"
head -c 102400 /dev/urandom >"$W/src/small/c.txt"
ln "$W/src/small/c.txt" "$W/src/small/c-link"
head -c 100 /dev/urandom >"$W/src/small/tiny"
head -c 50000 /dev/urandom >"$W/src/small/we ird name"
head -c 20000 /dev/urandom >"$W/src/small/$NL"
head -c 1048576 /dev/urandom >"$W/src/unread/d.bin"
head -c 300000 /dev/urandom >"$W/src/unread/e.bin"
check "mkseed --lazy" blazy mkseed -q --lazy --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
check "blazy mount" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 256M
dev=$(grep "^ublk=" "$W/state/"*.state | head -n1 | cut -d= -f2)
ublk_devs="$ublk_devs $dev"
echo "served by $dev"

js=$(blazy status --json "$M")
check "nothing read yet: no file in the list" has '"files":\[\]'

# The workload.
cat "$M/big/a.bin" "$M/small/c.txt" "$M/small/tiny" "$M/small/we ird name" "$M/small/$NL" >/dev/null
dd if="$M/big/b.bin" of=/dev/null bs=4096 count=1 2>/dev/null

blazy status "$M" >"$W/status.txt" 2>"$W/status.err"
rc=$?
cat "$W/status.txt" "$W/status.err"
check "status MOUNTPOINT exits 0" [ "$rc" = 0 ]
check "status lists the files read" grep -q '^files read: *5 ' "$W/status.txt"
check "status names a.bin" grep -q ' big/a.bin$' "$W/status.txt"
check "status shows the hard link's other name" grep -q ' small/c-link (+1 more names)$' "$W/status.txt"
check "status escapes the newline" grep -q ' small/nl\\nx$' "$W/status.txt"
check "status does not name unread files" sh -c "! grep -q 'unread/\|tiny' $W/status.txt"

js=$(blazy status --json "$M")
echo "$js"
check "json: five files" [ "$(printf '%s' "$js" | grep -o '{"paths":' | wc -l)" = 5 ]
check "json: a.bin touched exactly its 3 MiB" [ "$(jfile "$js" big/a.bin touched_bytes)" = 3145728 ]
check "json: a.bin served at least its 3 MiB lazily" [ "$(jfile "$js" big/a.bin lazy_bytes)" -ge 3145728 ]
check "json: a.bin's 3 chunks came from the store" [ "$(jfile "$js" big/a.bin store_fetches)" -ge 3 ]
bt=$(jfile "$js" big/b.bin touched_bytes)
echo "b.bin: 4096 bytes read, $bt bytes touched (readahead), $(jfile "$js" big/b.bin lazy_bytes) served"
check "json: b.bin touched its first block, far from all of it" [ "$bt" -ge 4096 -a "$bt" -lt 2097152 ]
check "json: c.txt touched exactly 100 KiB, under both names" \
	has '"paths":\["small/c-link","small/c.txt"\],[^}]*"touched_bytes":102400}'
check "json: the name with a space: 50000 bytes in 13 blocks" [ "$(jfile "$js" "small/we ird name" touched_bytes)" = 53248 ]
check "json: the newline name is listed (escaped)" has '"small/nl\\u000ax"'
check "json: unread and inline files are absent" hasnt 'unread/\|tiny'
check "json: nothing read outside any file" has '"fetch_outside_bytes":0,'

blazy status --trace "$W/t1" "$M" >"$W/out" 2>"$W/err"
rc=$?
cat "$W/out" "$W/err"
check "status --trace exits 0" [ "$rc" = 0 ]
printf 'big/a.bin\nbig/b.bin\nsmall/c-link\nsmall/c.txt\nsmall/we ird name\n' >"$W/want1"
check "the trace is exactly the files read, sorted" cmp "$W/want1" "$W/t1"
check "status says how many it wrote" grep -q '^trace: *5 names written to ' "$W/out"
check "the newline name is left out with a warning" grep -q 'warning: 1 file name holding a newline' "$W/err"
check "no temporary file is left" [ "$(ls "$W" | grep -c 't1\.tmp')" = 0 ]

# Through a clone of the virtual area: only the clone that is read appears.
head -c 1500000 /dev/urandom >"$W/in/x.bin"
head -c 700000 /dev/urandom >"$W/in/y.bin"
mkdir -p "$M/cl"
check "map --clone x" blazy map --clone "$M/cl/x.bin" "$W/in/x.bin"
check "map --clone y" blazy map --clone "$M/cl/y.bin" "$W/in/y.bin"
cat "$M/cl/x.bin" >/dev/null
js=$(blazy status --json --trace "$W/t2" "$M")
echo "$js"
check "json: the clone read touched exactly its size in blocks" [ "$(jfile "$js" cl/x.bin touched_bytes)" = 1503232 ]
check "json: ...served lazily" [ "$(jfile "$js" cl/x.bin lazy_bytes)" -ge 1503232 ]
check "json: the trace's count" has '"written":6,"skipped_newline":1,'
printf 'big/a.bin\nbig/b.bin\ncl/x.bin\nsmall/c-link\nsmall/c.txt\nsmall/we ird name\n' >"$W/want2"
check "the trace adds the clone read, not the other" cmp "$W/want2" "$W/t2"

# The bare device: ranges, no names.
blazy status "$dev" >"$W/dev.txt"
cat "$W/dev.txt"
check "status DEV lists ranges" grep -q '^ranges read:' "$W/dev.txt"
js=$(blazy status --json "$dev")
check "status DEV --json has the ranges" has '"ranges":\[{"area":"local"'
check "...the import records read" has '{"area":"import","offset":[0-9]*,"length":1048576,'
check "...and no files" hasnt '"files"'
blazy status --trace "$W/t3" "$dev" 2>"$W/err"
rc=$?
cat "$W/err"
check "status --trace DEV is refused (exit 2)" [ "$rc" = 2 ]
check "...saying why" grep -q 'needs a blazy MOUNTPOINT' "$W/err"
check "...and writes nothing" [ ! -e "$W/t3" ]
blazy status --trace /proc/nonexistent/t "$M" >/dev/null 2>"$W/err"
rc=$?
cat "$W/err"
check "an unwritable trace path fails (exit 1)" [ "$rc" = 1 ]
check "...with a clear message" grep -q "error: cannot write the trace '/proc/nonexistent/t': No such file" "$W/err"
blazy status --trace "$W" "$M" >/dev/null 2>"$W/err"
rc=$?
cat "$W/err"
check "a directory as the trace fails (exit 1)" [ "$rc" = 1 ]
check "...and leaves it and no temporary file" sh -c "[ -d $W ] && ! ls /tmp | grep -q '090.tmp'"

check "blazy umount" blazy umount "$M"
check "nothing left (mount, loop, ublk, server)" wait_until 10 blazy_mount_gone

# A seed that keeps its data in the image (no --lazy): files read from the local region are
# listed too, so a trace fed back to mkseed keeps naming them.
rm -rf "$W/src2"
mkdir -p "$W/src2"
head -c 200000 /dev/urandom >"$W/src2/read-me"
head -c 200000 /dev/urandom >"$W/src2/leave-me"
M=/mnt/g # a mount point's state names its seed: another seed, another mount point
mkdir -p "$M"
check "mkseed (local data)" blazy mkseed -q --virtual-size 1T --rootdir "$W/src2" "$W/seed2.img"
check "blazy mount (local data)" blazy mount -q "$W/seed2.img" "$M" --rw "$W/rw2.img" --rw-size 256M
dev=$(grep -h "^ublk=/dev/" "$W/state/"*.state | head -n1 | cut -d= -f2)
ublk_devs="$ublk_devs $dev"
cat "$M/read-me" >/dev/null
js=$(blazy status --json --trace "$W/t4" "$M")
echo "$js"
check "json: the local file read: 200000 bytes in 49 blocks" [ "$(jfile "$js" read-me touched_bytes)" = 200704 ]
check "json: ...none of it lazy" [ "$(jfile "$js" read-me lazy_bytes)" = 0 ]
check "json: ...served from the image" [ "$(jfile "$js" read-me bytes)" -ge 200704 ]
printf 'read-me\n' >"$W/want4"
check "the trace lists the local file read, not the other" cmp "$W/want4" "$W/t4"
check "blazy umount (local data)" blazy umount "$M"
check "nothing left (local data)" wait_until 10 blazy_mount_gone
finish
