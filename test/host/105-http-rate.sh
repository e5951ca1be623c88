#!/bin/bash
# The fault-injecting server's --rate BYTES/S (server-wide, over all connections) and --delay
# MS (before every answer), which the remote-store benchmarks use: measured with httpget's
# per-request times against a server without them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"

root=$TEST_DIR/root
mkdir -p "$root"
head -c 600000 /dev/urandom >"$root/big"
echo tiny >"$root/tiny"

# ms of result LINE of $OUT
ms() { field ms "$(printf '%s\n' "$OUT" | sed -n "${1}p")"; }

start_fault plain --root "$root"
plain=http://127.0.0.1:$FAULT_PORT
get --timeout 10000 $plain/big $plain/tiny
expect 1 rc=0 bytes=600000
[ "$(ms 1)" -lt 400 ] || fail "without a rate, 600 kB took $(ms 1) ms"
[ "$(ms 2)" -lt 80 ] || fail "without a delay, a tiny file took $(ms 2) ms"

# 1 MB/s and 100 ms a request: 600 kB take >= 0.6 s + 0.1 s; the tiny file >= 0.1 s
start_fault slow --root "$root" --rate 1000000 --delay 100
slow=http://127.0.0.1:$FAULT_PORT
get --timeout 10000 $slow/big $slow/tiny $slow/tiny
expect 1 rc=0 bytes=600000
[ "$(ms 1)" -ge 680 ] || fail "at 1 MB/s, 600 kB took only $(ms 1) ms"
[ "$(ms 1)" -lt 1600 ] || fail "at 1 MB/s, 600 kB took $(ms 1) ms"
for i in 2 3; do
	[ "$(ms $i)" -ge 95 ] || fail "with --delay 100 a request took $(ms $i) ms"
	[ "$(ms $i)" -lt 600 ] || fail "with --delay 100 a request took $(ms $i) ms"
done

# the rate is the server's, not a connection's: 3 clients at once share 1 MB/s, so the last
# of 3 x 600 kB ends after >= 1.8 s
get --timeout 20000 --threads 3 $slow/big
[ "$(printf '%s\n' "$OUT" | grep -c '^rc=0 .*bytes=600000')" = 3 ] || fail "not every parallel GET succeeded"
max=$(printf '%s\n' "$OUT" | sed -n 's/.* ms=\([0-9]*\).*/\1/p' | sort -n | tail -n 1)
[ "$max" -ge 1750 ] || fail "3 x 600 kB in parallel at 1 MB/s ended after $max ms"
[ "$max" -lt 4000 ] || fail "3 x 600 kB in parallel at 1 MB/s took $max ms"
assert_no_leaks
