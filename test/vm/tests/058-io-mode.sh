#!/bin/sh
# The ublk I/O commands a server uses: on kernels with UBLK_F_BATCH_IO (7.0+) the batched
# ones (one multishot fetch and one commit per round for all tags of a queue,
# lib/ublk/batch.c) by default, for a recoverable device (the default of blazy serve) as
# for one that is not (--recovery-timeout 0); BLAZY_UBLK_IO=tag keeps one FETCH_REQ /
# COMMIT_AND_FETCH_REQ per tag; on older kernels (6.12) the per-tag commands whatever
# BLAZY_UBLK_IO says. Each mode serves
# the pattern backend on 2 queues x depth 64 and is verified by concurrent readers on both
# CPUs (direct and buffered, odd offsets and sizes, patcheck); the server log names the
# commands it uses. Short completions, asynchronous backends, STOP and recovery with the
# default mode are covered by the rest of the suite (052, 056, 075, 110-119) on each kernel;
# upgrades and kills of a batched server by 115.
set -u
. "$(dirname "$0")/ublk-lib.inc"
command -v patcheck >/dev/null ||
	skip "patcheck is not in the VM (build it with test/vm/tools/build.sh, pass --extra PATH)"
ublk_setup

S=$((256 * 1024 * 1024))
M=$((1024 * 1024))
rel=$(uname -r)
major=${rel%%.*}
has_batch=0
[ "$major" -ge 7 ] && has_batch=1
echo "info: kernel $rel, UBLK_F_BATCH_IO expected: $has_batch"

# mode_run LABEL ENV EXPECTED [SERVE OPTIONS]: serve with BLAZY_UBLK_IO=ENV, expect
# "EXPECTED I/O commands"
mode_run() {
	log=/tmp/058-$1.log
	export BLAZY_UBLK_IO="$2"
	_label=$1 _want=$3
	shift 3
	serve_bg --backend "pattern,size=$S" --queues 2 --depth 64 --log "$log" "$@"
	unset BLAZY_UBLK_IO
	set -- "$_label" "" "$_want"
	check "$1: blazy serve exits 0" [ -n "$dev" ]
	[ -n "$dev" ] || return 0
	check "$1: $dev is a block device" wait_until 5 test -b "$dev"
	got=$(grep -o '[a-z-]* I/O commands' "$log" | head -n 1)
	check "$1: the server uses $3 I/O commands (log: '$got')" [ "$got" = "$3 I/O commands" ]
	pin 0 patcheck --direct --bs 4K "$dev" 0 16M >/tmp/058-r1 2>&1 &
	p1=$!
	pin 1 patcheck --bs 65537 "$dev" $((100 * M + 512)) 40M >/tmp/058-r2 2>&1 &
	p2=$!
	pin 0 patcheck --bs 4097 "$dev" 3 $((5 * M)) >/tmp/058-r3 2>&1 &
	p3=$!
	pin 1 patcheck --bs 999999 "$dev" $((200 * M)) $((S - 200 * M)) >/tmp/058-r4 2>&1 &
	p4=$!
	pin 0 patcheck --direct --bs 512K "$dev" $((150 * M)) 50M >/tmp/058-r5 2>&1 &
	p5=$!
	wait_readers /tmp/058-r $p1 $p2 $p3 $p4 $p5
	check "$1: last byte" patcheck "$dev" $((S - 1)) 1
	pid=$(list_pid "$(dev_id "$dev")")
	kill -USR1 "$pid"
	sleep 1
	for q in 0 1; do
		r=$(grep "queue $q: " "$log" | tail -n 1 | sed 's/.*queue [0-9]*: \([0-9]*\) reads.*/\1/')
		check "$1: queue $q served reads ($r)" [ "${r:-0}" -gt 0 ]
		e=$(grep "queue $q: " "$log" | tail -n 1 | sed 's/.* \([0-9]*\) errors.*/\1/')
		check "$1: queue $q had no errors" [ "${e:-1}" = 0 ]
	done
	check "$1: blazy stop" blazy stop "$dev"
	check "$1: the server exits" wait_until 10 sh -c "! [ -d /proc/$pid ]"
	# stopped: nothing left for ublk_cleanup
	# shellcheck disable=SC2034  # (read by ublk-lib.inc's ublk_cleanup)
	ublk_devs="" ublk_pids=""
}

if [ "$has_batch" = 1 ]; then
	mode_run default "" batched
	mode_run default-not-recoverable "" batched --recovery-timeout 0
	mode_run batch batch batched
	mode_run tag tag per-tag
	mode_run tag-not-recoverable tag per-tag --recovery-timeout 0
else
	mode_run default "" per-tag
	mode_run batch-fallback batch per-tag --recovery-timeout 0
fi
finish
