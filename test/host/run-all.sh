#!/bin/bash
# run-all.sh [BUILD_DIR [GLOB...]]: run the host integration tests test/host/[0-9]*.sh
# (only those whose name matches a GLOB, when given), print "ok NAME", "FAIL NAME" (followed
# by the test's log) or "skip NAME (reason)" for each, then "N passed, N failed, N skipped".
# Exit 1 if any test failed. BUILD_DIR defaults to $BUILD_DIR, else build/ at the top of the
# source tree. Each test runs under `timeout` (BLZ_TEST_TIMEOUT seconds, default 900).
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-${BUILD_DIR:-$here/../../build}}
[ $# -gt 0 ] && shift
[ -d "$build" ] || { echo "run-all: error: build directory '$build' does not exist" >&2; exit 2; }
BUILD_DIR=$(cd "$build" && pwd)
export BUILD_DIR
export BLAZY=${BLAZY:-$BUILD_DIR/cmd/blazy}
export BLZTEST=${BLZTEST:-$BUILD_DIR/test/host/blztest}
export TREECMP=${TREECMP:-$BUILD_DIR/test/host/treecmp}
timeout_s=${BLZ_TEST_TIMEOUT:-900}

passed=0 failed=0 skipped=0
log=$(mktemp "${TMPDIR:-/tmp}/blazy-run-all.XXXXXX")
trap 'rm -f "$log"' EXIT

selected() {
	local name=$1 g
	[ ${#globs[@]} -eq 0 ] && return 0
	for g in "${globs[@]}"; do
		# shellcheck disable=SC2053
		[[ $name == $g ]] && return 0
	done
	return 1
}
globs=("$@")

for t in "$here"/[0-9]*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	selected "$name" || continue
	rc=0
	if command -v timeout >/dev/null; then
		timeout -k 10 "$timeout_s" bash "$t" >"$log" 2>&1 </dev/null || rc=$?
	else
		bash "$t" >"$log" 2>&1 </dev/null || rc=$?
	fi
	case $rc in
	0)
		echo "ok $name"
		passed=$((passed + 1))
		;;
	77)
		reason=$(grep -m1 '^skip: ' "$log" | sed 's/^skip: //')
		echo "skip $name${reason:+ ($reason)}"
		skipped=$((skipped + 1))
		;;
	*)
		[ "$rc" = 124 ] && echo "timed out after ${timeout_s}s" >>"$log"
		echo "FAIL $name"
		sed 's/^/    /' "$log"
		failed=$((failed + 1))
		;;
	esac
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
