#!/bin/bash
# Bad input makes mkseed exit 1 with a message naming the path, and leaves no output file and
# no temporary file behind: missing, unreadable and vanishing sources, files that lie about
# their size, a full output disk, truncated and malicious tars, a reserved name, an existing
# output.
. "$(dirname "$0")/lib.sh"
require_root
requires setpriv strace tar

out=$TEST_DIR/out
mkdir -p "$out"
nothing_left() { # nothing_left: the output directory must be empty
	[ -z "$(ls -A "$out")" ] || fail "left behind in the output directory: $(ls -A "$out")"
}

# Missing source.
run_mustfail_msg "error: cannot stat '$TEST_DIR/nope'" "$BLAZY" mkseed -q --rootdir "$TEST_DIR/nope" "$out/s.img"
run_mustfail_msg "error: cannot open '$TEST_DIR/nope.tar'" "$BLAZY" mkseed -q --tar "$TEST_DIR/nope.tar" "$out/s.img"
nothing_left

# Unreadable file and directory (as an unprivileged user; root reads everything).
src=$TEST_DIR/src
mkdir -p "$src/ok" "$src/locked"
echo data >"$src/ok/f"
echo secret >"$src/secret"
chmod 000 "$src/secret"
chmod 755 "$TEST_DIR" "$out"
chmod 777 "$out"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
run_mustfail_msg "cannot open '$src/secret': Permission denied" nobody "$BLAZY" mkseed -q --rootdir "$src" "$out/s.img"
nothing_left
chmod 644 "$src/secret"
chmod 000 "$src/locked"
run_mustfail_msg "cannot open directory '$src/locked': Permission denied" nobody "$BLAZY" mkseed -q --rootdir "$src" "$out/s.img"
nothing_left
chmod 755 "$src/locked"

# A file that vanishes between the directory walk and reading its data (large files are
# read after the walk; openat fails with ENOENT for that path only, injected by strace).
# (LeakSanitizer cannot run under ptrace: off for this one command in a sanitizer build.)
head -c $((3 << 20)) /dev/urandom >"$src/ok/big"
run_mustfail_msg "cannot open '$src/ok/big': No such file or directory" \
	env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -o /dev/null -P "$src/ok/big" -e trace=openat -e inject=openat:error=ENOENT \
	"$BLAZY" mkseed -q --rootdir "$src" "$out/s.img"
nothing_left

# Files whose size lies: sysfs attributes claim 4096 bytes and hold fewer.
if [ -d /sys/kernel/mm/transparent_hugepage ]; then
	run_mustfail_msg "shrank while mkseed was reading it" \
		"$BLAZY" mkseed -q --rootdir /sys/kernel/mm/transparent_hugepage "$out/s.img"
	nothing_left
fi

# A full output disk.
mkdir -p "$TEST_DIR/small"
mount -t tmpfs -o size=8m tmpfs "$TEST_DIR/small"
cleanup_umount "$TEST_DIR/small"
mkdir -p "$TEST_DIR/big"
head -c $((20 << 20)) /dev/urandom >"$TEST_DIR/big/f"
run_mustfail_msg "No space left on device" "$BLAZY" mkseed -q --rootdir "$TEST_DIR/big" "$TEST_DIR/small/s.img"
[ -z "$(ls -A "$TEST_DIR/small")" ] || fail "a partial image was left on the full disk: $(ls -A "$TEST_DIR/small")"
umount "$TEST_DIR/small"

# Tars: truncated in data, truncated in a header, a path escaping with '..', an absolute path,
# a hard link to a missing target, a size field larger than the data.
t=$TEST_DIR/t
mkdir -p "$t/d"
head -c 100000 /dev/urandom >"$t/d/file"
tar -C "$t" -cf "$TEST_DIR/good.tar" d
head -c 50000 "$TEST_DIR/good.tar" >"$TEST_DIR/trunc-data.tar"
run_mustfail_msg "trunc-data.tar.*d/file" "$BLAZY" mkseed -q --tar "$TEST_DIR/trunc-data.tar" "$out/s.img"
nothing_left
head -c 1100 "$TEST_DIR/good.tar" >"$TEST_DIR/trunc-hdr.tar"
run_mustfail_msg "trunc-hdr.tar" "$BLAZY" mkseed -q --tar "$TEST_DIR/trunc-hdr.tar" "$out/s.img"
nothing_left
tar -C "$t" -cf "$TEST_DIR/dotdot.tar" --transform 's,^d/file$,../../etc/evil,' d/file
run_mustfail_msg "\\.\\./\\.\\./etc/evil" "$BLAZY" mkseed -q --tar "$TEST_DIR/dotdot.tar" "$out/s.img"
nothing_left
tar -C "$t" -cf "$TEST_DIR/abs.tar" -P --transform 's,^d/file$,/etc/evil,' d/file
run_mustfail_msg "/etc/evil" "$BLAZY" mkseed -q --tar "$TEST_DIR/abs.tar" "$out/s.img"
nothing_left
ln "$t/d/file" "$t/d/link"
tar -C "$t" -cf "$TEST_DIR/hl.tar" d/link d/file
tar -C "$t" -cf "$TEST_DIR/hl-missing.tar" --transform 's,^d/file$,d/other,' d/file d/link 2>/dev/null
tar --delete -f "$TEST_DIR/hl-missing.tar" d/other 2>/dev/null || true
run_mustfail_msg "hard link 'd/link' points to 'd/other'" "$BLAZY" mkseed -q --tar "$TEST_DIR/hl-missing.tar" "$out/s.img"
nothing_left
# A size field larger than the data that follows (then end-of-archive zeros).
{ head -c $((1024 + 1024)) "$TEST_DIR/good.tar"; head -c 1024 /dev/zero; } >"$TEST_DIR/lie.tar"
run_mustfail_msg "lie.tar: unexpected end of archive in 'd/file'" "$BLAZY" mkseed -q --tar "$TEST_DIR/lie.tar" "$out/s.img"
nothing_left

# Unsupported archive members: GNU sparse files ('S' entries), named in the message.
truncate -s 8M "$t/sparse"
echo tail >>"$t/sparse"
tar --sparse --format=gnu -C "$t" -cf "$TEST_DIR/sparse.tar" sparse
run_mustfail_msg "sparse.tar: .*sparse.*not supported" "$BLAZY" mkseed -q --tar "$TEST_DIR/sparse.tar" "$out/s.img"
nothing_left

# The reserved name, unsupported sizes, an existing output.
mkdir -p "$TEST_DIR/res/.blazy"
run_mustfail_msg "\\.blazy" "$BLAZY" mkseed -q --rootdir "$TEST_DIR/res" "$out/s.img"
nothing_left
echo precious >"$out/exists.img"
run_mustfail_msg "'$out/exists.img' exists" "$BLAZY" mkseed -q --rootdir "$t" "$out/exists.img"
[ "$(cat "$out/exists.img")" = precious ] || fail "an existing output was changed without --force"
run_check "$BLAZY" mkseed -q --force --rootdir "$t" "$out/exists.img"
"$BLAZY" inspect "$out/exists.img" >/dev/null || fail "--force did not write a seed"
rm -f "$out/exists.img"

# Interrupted by a signal in the middle of a stream: no partial image, no temporary file.
mkfifo "$TEST_DIR/fifo"
"$BLAZY" mkseed -q --tar - "$out/s.img" <"$TEST_DIR/fifo" &
pid=$!
exec 3>"$TEST_DIR/fifo"
head -c 20000 "$TEST_DIR/good.tar" >&3
sleep 0.5
[ -n "$(ls -A "$out")" ] || fail "mkseed wrote no temporary file while running"
kill -INT $pid
rc=0
wait $pid || rc=$?
exec 3>&-
[ $rc -ne 0 ] || fail "mkseed ignored SIGINT"
nothing_left
assert_no_leaks
