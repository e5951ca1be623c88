#!/bin/sh
# A stalled web server, a --lazy seed mounted with `blazy mount --store URL`
# (test/http/httpfault on the VM's loopback, 20 ms added to every answer):
# 1. isolation: while one chunk is stalled at the server (a rule that never answers its path,
#    read again and again by a background reader), readers of other files are not held: the
#    p99 latency of their reads (readlat, 16 KiB reads, every chunk fetched) stays within 2x
#    of the same reads of an equal set of files without the stall;
# 2. a server that accepts the connection and then stalls (httpfault --stall-while: every
#    request held unanswered): a reader gets EIO within the deadline; a waiting reader is
#    killable (its D state is TASK_KILLABLE: SIGKILL ends it at once) and no process stays
#    in D state; reads work again once the server answers (no restart).
set -u
. "$(dirname "$0")/ublk-lib.inc"
for t in httpfault readlat; do
	command -v $t >/dev/null 2>&1 || skip "requires $t (test/vm/run.sh --extra build/test/http/httpfault --extra build/vm-tools/readlat)"
done
ublk_setup

W=/tmp/132
M=/mnt/h132
export BLAZY_STATE_DIR=$W/state
web_pid="" stuck_pid=""
cleanup_all() {
	_rc=$?
	[ -n "$stuck_pid" ] && kill "$stuck_pid" 2>/dev/null
	[ -n "$web_pid" ] && kill "$web_pid" 2>/dev/null
	(exit "$_rc")
	blazy_mount_cleanup
}
trap cleanup_all EXIT

rm -rf "$W"
mkdir -p "$W/src/a" "$W/src/b" "$W/src/c" "$M"
# Two equal sets of 24 files of 256 KiB (one chunk each), the stalled file, and files for
# the accept-then-stall part.
i=0
while [ $i -lt 24 ]; do
	head -c 262144 /dev/urandom >"$W/src/a/f$i"
	head -c 262144 /dev/urandom >"$W/src/b/f$i"
	i=$((i + 1))
done
head -c 200000 /dev/urandom >"$W/src/stuck"
head -c 200000 /dev/urandom >"$W/src/c/g1"
head -c 200000 /dev/urandom >"$W/src/c/g2"
head -c 200000 /dev/urandom >"$W/src/c/warm"
check "mkseed --lazy" blazy mkseed -q --lazy --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
mv "$W/seed.img.store" "$W/web"
mkdir "$W/seed.img.store"

# the chunk of a file of one chunk: its bytes padded to 4 KiB
n=$(stat -c %s "$W/src/stuck")
h=$({ cat "$W/src/stuck"; head -c $(((4096 - n % 4096) % 4096)) /dev/zero; } | sha256sum | cut -d' ' -f1)
stuck_path=/$(echo "$h" | cut -c1-2)/$h
check "the stalled file is one chunk" test -f "$W/web$stuck_path"

httpfault --root "$W/web" --port-file "$W/port" --lifetime 900 --log "$W/web.log" --delay 20 \
	--rule "$stuck_path=stall" --stall-while "$W/hold" >/dev/null &
web_pid=$!
wait_until 10 test -s "$W/port"
url=http://127.0.0.1:$(cat "$W/port")/
check "blazy mount --store URL" blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 256M \
	--store "$url" --cache-dir "$W/cache" --fetch-timeout 5s --fetch-retries 0
log=$(ls "$W/state/"*.serve.log | head -n 1)
field() { echo " $2" | sed -n "s/.* $1 \([0-9]*\).*/\1/p"; }

# ---- 1. isolation ----
check "a first read (connections made)" cmp "$W/src/c/warm" "$M/c/warm"
echo 3 >/proc/sys/vm/drop_caches
base=$(readlat --bs 16384 "$M"/a/*) || fail "readlat of the first set"
echo "without a stall: $base"
# A reader of the stalled chunk, again and again (each try ends in EIO at the deadline).
(while :; do cat "$M/stuck" >/dev/null 2>&1; done) &
stuck_pid=$!
check "the stalled chunk is asked for" wait_until 10 grep -q "$stuck_path -> stall" "$W/web.log"
echo 3 >/proc/sys/vm/drop_caches
stalled=$(readlat --bs 16384 "$M"/b/*) || fail "readlat of the second set"
echo "with one chunk stalled: $stalled"
inflight() { [ "$(blazy status --json "$M" | sed 's/.*"stores"//' | grep -o '"inflight":[0-9]*' | head -n1 | cut -d: -f2)" -ge 1 ]; }
check "the stalled chunk was still being fetched" wait_until 3 inflight
kill "$stuck_pid"
wait "$stuck_pid" 2>/dev/null
stuck_pid=""
p99a=$(field p99_us "$base") p99b=$(field p99_us "$stalled")
check "the same number of reads ($(field reads "$base"), $(field reads "$stalled"))" \
	[ "$(field reads "$base")" = "$(field reads "$stalled")" ]
check "p99 with the stall ($p99b us) within 2x of without ($p99a us)" \
	sh -c '[ -n "$1" ] && [ -n "$2" ] && [ "$2" -le $((2 * $1)) ]' _ "$p99a" "$p99b"
check "other files read identical meanwhile" sh -c "for i in 0 5 23; do cmp -s $W/src/b/f\$i $M/b/f\$i || exit 1; done"
check "the stalled chunk's EIO is logged" wait_until 10 grep -q "$h" "$log"

# ---- 2. a server that accepts and then stalls ----
touch "$W/hold"
waiting_read "$M/c/g1" "$W/err"
check "the server held the request" grep -q -- "-> held" "$W/web.log"
check "the reader got EIO" sh -c "[ $read_rc != 0 ] && grep -q 'Input/output error' $W/err"
check "within the deadline (5 s a request, no retries; the kernel asks again for a failed page: 15 s)" \
	[ "$read_cs" -lt 1500 ]
# A reader waiting for a page shows as D (TASK_KILLABLE): it must end at once on SIGKILL,
# not when its request ends (2.5 s later).
echo 3 >/proc/sys/vm/drop_caches
cat "$M/c/g2" >/dev/null 2>&1 &
reader=$!
sleep 1
echo "second reader's state after 1 s: $(sed 's/.*) //' "/proc/$reader/stat" 2>/dev/null | cut -d' ' -f1)"
kill -9 "$reader"
gone() { ! pid_alive "$1"; }
check "a waiting reader ends at once on SIGKILL (killable, not stuck)" wait_until 1 gone "$reader"
wait "$reader" 2>/dev/null
check "no process stays in D state" wait_until 10 no_dstate
rm -f "$W/hold"
check "reads work again once the server answers" sh -c "echo 3 >/proc/sys/vm/drop_caches; cmp $W/src/c/g1 $M/c/g1"
check "blazy umount" blazy umount "$M"
kill "$web_pid"
wait "$web_pid" 2>/dev/null
web_pid=""
check "nothing left behind" blazy_mount_gone
exit $fails
