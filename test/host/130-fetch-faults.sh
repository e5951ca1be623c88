#!/bin/bash
# The fetch engine (lib/fetch) against the fault-injecting server, through `blazy store
# prefetch`: a stall, a reset mid-body, 5xx, 429 with Retry-After, a short body and a
# dropped connection each end in a retry then success (the chunk verified into the cache);
# wrong bytes are never used (the next store gives the chunk); a trickled body arrives whole;
# a chunk that stalls for ever, or one every store lacks, is a clear error within the deadline.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"

src=$TEST_DIR/src img=$TEST_DIR/seed.img
mkdir -p "$src"
faults="stall reset e500 e429 short drop wrong trickle"
for f in $faults; do head -c 200000 /dev/urandom >"$src/$f"; done
run_check "$BLAZY" mkseed --lazy --rootdir "$src" "$img" >/dev/null
store=$img.store
chunk() { # FILE: the chunk path of a one-chunk file (its bytes padded to 4 KiB), relative
	local h n
	n=$(stat -c %s "$src/$1")
	h=$( (cat "$src/$1"; head -c $(((4096 - n % 4096) % 4096)) /dev/zero) | sha256sum | cut -d' ' -f1)
	[ -f "$store/${h:0:2}/$h" ] || fail "$1 is not one chunk"
	echo "${h:0:2}/$h"
}
rules=(--rule "/$(chunk stall)=stall,times=1" --rule "/$(chunk reset)=reset-body=1000,times=2"
	--rule "/$(chunk e500)=status=500,times=2" --rule "/$(chunk e429)=status=429,retry-after=1,times=1"
	--rule "/$(chunk short)=short=1000,times=1" --rule "/$(chunk drop)=drop,times=1"
	--rule "/$(chunk wrong)=wrong" --rule "/$(chunk trickle)=trickle=50000/100")
# The wrong bytes come from the first web server only: a second one has them right.
start_fault good --root "$store"
good=http://127.0.0.1:$FAULT_PORT/
good_log=$FAULT_LOG
start_fault web --root "$store" "${rules[@]}"
url=http://127.0.0.1:$FAULT_PORT/

printf '%s\n' $faults >"$TEST_DIR/list"
t0=$(date +%s%N)
out=$(run_check "$BLAZY" store prefetch "$img" --list "$TEST_DIR/list" --store "$url" \
	--store "$good" --cache-dir "$TEST_DIR/cache" --fetch-timeout 8s 2>"$TEST_DIR/err")
ms=$((($(date +%s%N) - t0) / 1000000))
echo "$out"
cat "$TEST_DIR/err"
grep -q "8 chunks .* 0 failed" <<<"$out" || fail "not every fault was ridden out: $out"
[ "$ms" -lt 12000 ] || fail "prefetch took ${ms}ms"
# every chunk in the cache is good: verify with the cache as the only store
for f in $faults; do
	[ -f "$TEST_DIR/cache/$(chunk "$f")" ] || fail "$f is not in the cache"
done
run_check "$BLAZY" store verify "$img" --store "$TEST_DIR/cache" >/dev/null
# each fault was met, then retried
for f in stall reset e500 e429 short drop; do
	n=$(grep -c "GET /$(chunk "$f") " "$FAULT_LOG")
	[ "$n" -ge 2 ] || fail "$f: $n requests, no retry"
done
[ "$(grep -c "GET /$(chunk e500) " "$FAULT_LOG")" -ge 3 ] || fail "e500 was not retried twice"
grep -q "chunk $(basename "$(chunk wrong)") from store $url: bad chunk" "$TEST_DIR/err" ||
	fail "the wrong bytes were not reported"
[ "$(grep -c "GET /$(chunk wrong) " "$good_log")" = 1 ] || fail "the second store did not give the chunk"
[ "$(grep -c "GET /$(chunk stall) " "$good_log")" = 0 ] || fail "the second store was asked for a retried chunk"

# ---- errors within the deadline: a chunk stalled for ever; a chunk no store has ----
start_fault dead --root "$store" --rule "/$(chunk stall)=stall"
echo stall >"$TEST_DIR/list2"
t0=$(date +%s%N)
run_mustfail_msg "chunk [0-9a-f]{64} not fetched" "$BLAZY" store prefetch "$img" --list "$TEST_DIR/list2" \
	--store "http://127.0.0.1:$FAULT_PORT/" --cache-dir "$TEST_DIR/cache2" --fetch-timeout 2s
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 2000 ] && [ "$ms" -lt 4500 ] || fail "a stalled chunk ended after ${ms}ms (deadline 2 s)"
[ "$(grep -c "GET /$(chunk stall) " "$FAULT_LOG")" -ge 2 ] || fail "the stalled fetch was not retried"
mkdir -p "$TEST_DIR/empty"
t0=$(date +%s%N)
run_mustfail_msg "not fetched" "$BLAZY" store prefetch "$img" --list "$TEST_DIR/list2" \
	--store "$TEST_DIR/empty" --store "http://127.0.0.1:$FAULT_PORT/nothing/" \
	--cache-dir "$TEST_DIR/cache3" --fetch-timeout 5s
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1500 ] || fail "a missing chunk took ${ms}ms (404 is not retried)"
assert_no_leaks
