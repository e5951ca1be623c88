# Shared helpers for the host integration tests, test/host/NNN-what-it-checks.sh (bash).
#
#   #!/bin/bash
#   . "$(dirname "$0")/lib.sh"
#   require_root
#   requires mkfs.btrfs
#   mktree "$TEST_DIR/src" basic
#   loop_attach "$TEST_DIR/seed.img" --ro     # sets LOOP_DEV, detached at exit
#   ...
#   assert_no_leaks
#
# Exit status: 0 pass, 1 fail, 77 skip (the reason printed as "skip: REASON").
# Sourcing this file turns on `set -e -o pipefail`, creates $TEST_DIR (a fresh directory on
# /dev/shm, removed at exit) and installs an EXIT trap that runs the cleanup stack in reverse,
# then fails the test if a mount or loop device under $TEST_DIR is left.
#
# Variables (each may be set in the environment first):
#   BUILD_DIR  the meson build directory (default: build/ at the top of the source tree)
#   BLAZY      the blazy binary (default: $BUILD_DIR/cmd/blazy)
#   BLZTEST    the test helper (default: $BUILD_DIR/test/host/blztest); exported for mktree.sh
#   TREECMP    the tree comparer (default: $BUILD_DIR/test/host/treecmp)
#   MKTREE     test/host/mktree.sh
#   TEST_NAME  the test's file name without .sh
#   TEST_DIR   the test's private temporary directory
#   BLZ_TEST_TMP  where TEST_DIR is created (default /dev/shm, else ${TMPDIR:-/tmp})

set -e -o pipefail
# (With pipefail, `cmd | grep -q RE` can fail although RE matched: grep exits at the first
# match and cmd, still writing, dies of SIGPIPE. Use `grep -q RE <<<"$text"`, or
# `cmd | grep RE >/dev/null`, which reads everything.)

HOST_TEST_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$HOST_TEST_SRC/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC_ROOT/build}
BLAZY=${BLAZY:-$BUILD_DIR/cmd/blazy}
BLZTEST=${BLZTEST:-$BUILD_DIR/test/host/blztest}
TREECMP=${TREECMP:-$BUILD_DIR/test/host/treecmp}
MKTREE=${MKTREE:-$HOST_TEST_SRC/mktree.sh}
export BLAZY BLZTEST TREECMP
TEST_NAME=$(basename "$0" .sh)

# ---- outcomes ----

# fail MSG...: end the test as failed.
fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

# skip MSG...: end the test as skipped (exit 77), printing the reason.
skip() {
	echo "skip: $*"
	exit 77
}

# requires CMD...: skip unless every CMD (a name on $PATH, or a path) can be run.
requires() {
	local c
	for c in "$@"; do
		if [[ $c == */* ]]; then
			[ -x "$c" ] || skip "requires $c"
		else
			command -v "$c" >/dev/null 2>&1 || skip "requires $c"
		fi
	done
}

require_root() {
	[ "$(id -u)" = 0 ] || skip "requires root"
}

# ---- running commands ----

_cmdline() { printf '%q ' "$@"; }

# run_check CMD...: run CMD (stdout and stderr pass through); fail the test if it exits non-zero.
run_check() {
	echo "+ $(_cmdline "$@")" >&2
	local rc=0
	"$@" || rc=$?
	[ "$rc" = 0 ] || fail "exit status $rc from: $(_cmdline "$@")"
}

# run_mustfail CMD...: CMD must exit non-zero, but not from a signal or "not found" (>= 126).
run_mustfail() {
	echo "+ (must fail) $(_cmdline "$@")" >&2
	local rc=0
	"$@" || rc=$?
	[ "$rc" != 0 ] || fail "unexpected success: $(_cmdline "$@")"
	[ "$rc" -lt 126 ] || fail "exit status $rc (crash or not run) from: $(_cmdline "$@")"
}

# run_mustfail_msg REGEX CMD...: as run_mustfail, and CMD's stderr must match the extended
# regular expression REGEX (grep -E).
run_mustfail_msg() {
	local re=$1
	shift
	echo "+ (must fail with /$re/) $(_cmdline "$@")" >&2
	local rc=0 err
	err=$(mktemp "$TEST_DIR/stderr.XXXXXX")
	"$@" 2>"$err" || rc=$?
	cat "$err" >&2
	[ "$rc" != 0 ] || fail "unexpected success: $(_cmdline "$@")"
	[ "$rc" -lt 126 ] || fail "exit status $rc (crash or not run) from: $(_cmdline "$@")"
	grep -Eq -- "$re" "$err" || fail "stderr does not match /$re/: $(_cmdline "$@")"
	rm -f "$err"
}

# ---- the cleanup stack ----

_cleanup_stack=()

# cleanup_fn CMD...: run CMD at exit (last registered runs first), whatever the outcome.
cleanup_fn() {
	_cleanup_stack+=("$(_cmdline "$@")")
}

_is_mounted() {
	mountpoint -q -- "$1" 2>/dev/null
}

# Unmount MNT if it is still a mount point (lazily as a last resort).
_try_umount() {
	local mnt=$1 i
	for i in 1 2 3 4 5; do
		_is_mounted "$mnt" || return 0
		umount -- "$mnt" 2>/dev/null && continue
		sleep 0.2
	done
	_is_mounted "$mnt" || return 0
	echo "cleanup: lazily unmounting $mnt" >&2
	umount -l -- "$mnt"
}

# The file backing /dev/loopN, or nothing when it is not attached.
_loop_backing() {
	local n=${1#/dev/}
	cat "/sys/block/$n/loop/backing_file" 2>/dev/null || true
}

# Detach DEV if it is still attached to FILE (so that a device reused by someone else since
# is left alone). A device still in use (mounted) is only marked for autoclear by the kernel
# and goes away on its last close; the leak check at exit waits for that.
_try_loop_detach() {
	local dev=$1 file=$2 i
	[ "$(_loop_backing "$dev")" = "$file" ] || return 0
	"$BLZTEST" loop-detach "$dev" 2>/dev/null || losetup -d "$dev" 2>/dev/null || true
	for i in 1 2 3 4 5 6 7 8 9 10; do
		[ "$(_loop_backing "$dev")" = "$file" ] || return 0
		sleep 0.1
	done
	echo "cleanup: $dev is busy; the kernel will detach it on its last close" >&2
}

# cleanup_umount MNT: unmount MNT at exit if it is still mounted.
cleanup_umount() {
	cleanup_fn _try_umount "$1"
}

# cleanup_loop DEV FILE: detach DEV at exit if it is still backed by FILE.
cleanup_loop() {
	cleanup_fn _try_loop_detach "$1" "$(realpath -- "$2")"
}

# loop_attach FILE [--ro]: attach FILE with blztest, set LOOP_DEV, detach at exit.
loop_attach() {
	local file=$1
	shift
	LOOP_DEV=$("$BLZTEST" loop-attach "$file" "$@") || fail "cannot attach $file"
	cleanup_loop "$LOOP_DEV" "$file"
	echo "+ loop $LOOP_DEV -> $file" >&2
}

# mktree DIR KIND: generate a test tree with mktree.sh (see there for KIND).
mktree() {
	run_check bash "$MKTREE" "$@"
}

# Mount points under $TEST_DIR, one per line (mountinfo field 5, octal escapes decoded).
_mounts_under() {
	local dir=$1 mp
	while read -r _ _ _ _ mp _; do
		mp=$(printf '%b' "${mp//\\/\\0}")
		case $mp in "$dir"|"$dir"/*) echo "$mp" ;; esac
	done </proc/self/mountinfo
}

# Loop devices whose backing file lies under $TEST_DIR, as "DEV FILE" lines.
_loops_under() {
	local dir=$1 f b
	for f in /sys/block/loop*/loop/backing_file; do
		[ -e "$f" ] || continue
		b=$(cat "$f" 2>/dev/null) || continue
		case $b in "$dir"/*) echo "/dev/$(basename "$(dirname "$(dirname "$f")")") $b" ;; esac
	done
}

# assert_no_leaks: fail if a mount or a loop device under $TEST_DIR remains.
assert_no_leaks() {
	local m l
	m=$(_mounts_under "$TEST_DIR")
	l=$(_loops_under "$TEST_DIR")
	[ -z "$m" ] && [ -z "$l" ] && return 0
	[ -z "$m" ] || echo "leaked mounts:"$'\n'"$m" >&2
	[ -z "$l" ] || echo "leaked loop devices:"$'\n'"$l" >&2
	fail "mounts or loop devices left behind"
}

_on_exit() {
	local rc=$? i
	set +e
	for ((i = ${#_cleanup_stack[@]} - 1; i >= 0; i--)); do
		eval "${_cleanup_stack[i]}" || echo "cleanup failed: ${_cleanup_stack[i]}" >&2
	done
	if [ -n "${TEST_DIR:-}" ] && [ -d "$TEST_DIR" ]; then
		local m l dev file
		for i in $(seq 30); do # autocleared loop devices may take a moment
			m=$(_mounts_under "$TEST_DIR")
			l=$(_loops_under "$TEST_DIR")
			[ -n "$m$l" ] || break
			sleep 0.1
		done
		if [ -n "$m$l" ]; then
			[ -z "$m" ] || echo "leaked mounts after cleanup:"$'\n'"$m" >&2
			[ -z "$l" ] || echo "leaked loop devices after cleanup:"$'\n'"$l" >&2
			echo "FAIL: $TEST_NAME: leaks after cleanup" >&2
			rc=1
			# Remove them anyway, so that later tests start clean: mounts innermost first.
			while IFS= read -r mnt; do
				[ -n "$mnt" ] && { umount -- "$mnt" 2>/dev/null || umount -l -- "$mnt"; }
			done < <(printf '%s\n' "$m" | sort -r)
			while read -r dev file; do
				[ -n "$dev" ] && _try_loop_detach "$dev" "$file"
			done <<<"$l"
			m=$(_mounts_under "$TEST_DIR")
			l=$(_loops_under "$TEST_DIR")
		fi
		if [ -n "$m$l" ]; then
			echo "still left after forced cleanup; $TEST_DIR kept" >&2
		elif [ -z "${BLZ_KEEP_TEST_DIR:-}" ]; then
			rm -rf --one-file-system -- "$TEST_DIR"
		else
			echo "kept $TEST_DIR" >&2
		fi
	fi
	exit "$rc"
}

_tmp_base=${BLZ_TEST_TMP:-}
if [ -z "$_tmp_base" ]; then
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then _tmp_base=/dev/shm; else _tmp_base=${TMPDIR:-/tmp}; fi
fi
TEST_DIR=$(mktemp -d "$_tmp_base/blazy-test.$TEST_NAME.XXXXXX")
trap _on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- seeds ----

# jnum KEY [OBJECT] < JSON: an exact integer field of blazy's JSON output (jq would round
# values above 2^53 through doubles). With OBJECT, the field inside "OBJECT":{...}.
jnum() {
	local key=$1 obj=${2:-}
	if [ -n "$obj" ]; then
		grep -o "\"$obj\":{[^}]*" | grep -o "\"$key\":[0-9]*" | head -n1 | cut -d: -f2
	else
		grep -o "\"$key\":[0-9]*" | head -n1 | cut -d: -f2
	fi
}

# seed_full IMG: extend IMG in place (sparsely) to the device size its superblock declares,
# so the kernel and btrfs check see the whole address space.
seed_full() {
	local dev
	dev=$("$BLAZY" inspect --json "$1" | jnum device_size)
	[ -n "$dev" ] || fail "cannot read the device size of $1"
	truncate -s "$dev" "$1"
}

# check_seed IMG: btrfs check --readonly must report no error (IMG at full size).
check_seed() {
	local out rc=0
	out=$(btrfs check --readonly "$1" 2>&1) || rc=$?
	if [ $rc -ne 0 ] || grep -qiE '^(ERROR|WARNING)' <<<"$out"; then
		echo "$out" >&2
		fail "btrfs check found problems in $1"
	fi
	echo "+ btrfs check $1: clean" >&2
}

# mount_seed IMG MNT: present IMG at full size, attach it read-only and mount it read-only.
# Sets SEED_DEV. Unmounted and detached at exit.
mount_seed() {
	seed_full "$1"
	mkdir -p "$2"
	loop_attach "$1" --ro
	SEED_DEV=$LOOP_DEV
	run_check "$BLZTEST" mount-ro "$SEED_DEV" "$2"
	cleanup_umount "$2"
}

# unmount_seed MNT: unmount MNT and detach the loop device mount_seed attached for it.
unmount_seed() {
	local dev
	dev=$(findmnt -n -o SOURCE --target "$1")
	run_check umount "$1"
	run_check "$BLZTEST" loop-detach "$dev"
}

# tar_ignores DIR: prints treecmp --ignore options (NUL-separated) for what GNU tar cannot
# carry: sockets, and hard links between non-regular files (it stores each name separately).
tar_ignores() {
	local p
	while IFS= read -r -d '' p; do
		printf '%s\0%s\0' --ignore "${p#"$1"/}"
	done < <(find "$1" \( -type s -o \( -type p -o -type c -o -type b \) -links +1 \) -print0)
}
