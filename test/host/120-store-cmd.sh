#!/bin/bash
# blazy store verify|prefetch|gc on a real store (mkseed --lazy), as a directory and over http
# from the fault-injecting server: verify names each missing or bad chunk with its store and
# device range (exit 1) and rides out transient 503s; prefetch puts exactly the chunks of the
# listed files into the persistent cache (verified: the cache then serves as a store for
# them), fetches nothing the second time, and fails on a chunk no store has; gc trims the
# cache, least recently used first. The exec: fetcher contrib/fetchers/blazy-fetch-dir serves
# verify too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"

src=$TEST_DIR/src img=$TEST_DIR/seed.img cache=$TEST_DIR/cache
mkdir -p "$src/sub"
head -c $((3 << 20)) /dev/urandom >"$src/big"
head -c 300000 /dev/urandom >"$src/mid"
head -c 700000 /dev/urandom >"$src/sub/other"
cp "$src/mid" "$src/sub/mid-copy" # the same chunks as mid
echo small >"$src/small"           # inline: no chunk
run_check "$BLAZY" mkseed --lazy --rootdir "$src" "$img" >/dev/null
store=$img.store
nchunks=$(find "$store" -type f -name '????????????????????????????????????????????????????????????????' | wc -l)
[ "$nchunks" -ge 4 ] || fail "expected several chunks, the store has $nchunks"

# ---- verify: a complete store ----
out=$(run_check "$BLAZY" store verify "$img")
echo "$out"
grep -q "^$nchunks chunks .* 0 missing, 0 bad, 0 unreachable" <<<"$out" || fail "verify: $out"
# and through the example external fetcher
out=$(run_check "$BLAZY" store verify "$img" --store "exec:$SRC_ROOT/contrib/fetchers/blazy-fetch-dir $store")
grep -q " 0 missing, 0 bad, 0 unreachable" <<<"$out" || fail "verify over exec: $out"

# ---- verify: one chunk removed, one corrupted: both named, with their store and range ----
bad=$TEST_DIR/bad.store
cp -a "$store" "$bad"
chunks=$(find "$bad" -type f -name '????????????????????????????????????????????????????????????????' | sort)
gone=$(sed -n 1p <<<"$chunks") flip=$(sed -n 2p <<<"$chunks")
rm -f "$gone"
chmod u+w "$flip"
printf '\x55' | dd of="$flip" bs=1 seek=100 conv=notrunc status=none
run_mustfail_msg "chunk $(basename "$gone") missing in '$bad' \((import|virtual) area, device [0-9]+\+[0-9]+" \
	"$BLAZY" store verify "$img" --store "$bad"
run_mustfail_msg "chunk $(basename "$flip") bad in '$bad'" "$BLAZY" store verify "$img" --store "$bad"
out=$("$BLAZY" store verify "$img" --store "$store" --store "$bad" 2>&1) && fail "verify of two stores passed"
grep -q "1 missing, 1 bad, 0 unreachable" <<<"$out" || fail "verify of two stores: $out"
[ "$(grep -c "^blazy: error: chunk" <<<"$out")" = 2 ] || fail "verify named other chunks: $out"

# ---- over http: the same, and a chunk that answers 503 twice is retried ----
rel=$(basename "$(dirname "$flip")")/$(basename "$flip")
start_fault web --root "$store" --rule "/$rel=status=503,times=2"
url=http://127.0.0.1:$FAULT_PORT/
out=$(run_check "$BLAZY" store verify "$img" --store "$url")
grep -q " 0 missing, 0 bad, 0 unreachable" <<<"$out" || fail "verify over http: $out"
[ "$(grep -c "GET /$rel " "$FAULT_LOG")" -ge 3 ] || fail "the 503s were not retried"
start_fault badweb --root "$bad"
run_mustfail_msg "chunk $(basename "$gone") missing in 'http://127.0.0.1:$FAULT_PORT/'" \
	"$BLAZY" store verify "$img" --store "http://127.0.0.1:$FAULT_PORT/"
web_log=$TEST_DIR/web.log

# ---- prefetch: the chunks of the listed files, into the cache ----
printf '%s\n' big sub/mid-copy nothere small >"$TEST_DIR/list"
: >"$web_log"
out=$(run_check "$BLAZY" store prefetch "$img" --list "$TEST_DIR/list" --store "$url" --cache-dir "$cache" 2>"$TEST_DIR/err")
echo "$out"
cat "$TEST_DIR/err"
grep -q "'nothere' is not a file of the seed" "$TEST_DIR/err" || fail "prefetch did not name the missing file"
got=$(find "$cache" -type f -name '????????????????????????????????????????????????????????????????' | wc -l)
[ "$got" -ge 2 ] && [ "$got" -lt "$nchunks" ] || fail "prefetch cached $got chunks of $nchunks"
grep -q "^4 files (1 not in the seed): $got chunks .* 0 cached already, $got fetched, 0 failed" <<<"$out" ||
	fail "prefetch: $out"
# exactly those of big and mid: the cache, as a store, has them all and lacks those of other
out=$("$BLAZY" store verify "$img" --store "$cache" 2>&1) && fail "the cache has every chunk"
grep -q " $((nchunks - got)) missing, 0 bad" <<<"$out" || fail "cache contents: $out"
grep "^blazy: error: chunk" <<<"$out" | grep "device" >/dev/null || fail "$out"
# the second time, nothing is fetched
reqs=$(wc -l <"$web_log")
out=$(run_check "$BLAZY" store prefetch "$img" --list "$TEST_DIR/list" --store "$url" --cache-dir "$cache" 2>/dev/null)
grep -q ": $got chunks .* $got cached already, 0 fetched, 0 failed" <<<"$out" || fail "prefetch again: $out"
[ "$(wc -l <"$web_log")" = "$reqs" ] || fail "the second prefetch fetched again"
# a chunk no store has (an empty one, then one that refuses connections): exit 1, named
mkdir "$TEST_DIR/empty.store"
printf '%s\n' mid >"$TEST_DIR/list3"
run_mustfail_msg "chunk [0-9a-f]{64} not fetched \((import|virtual) area" "$BLAZY" store prefetch "$img" \
	--list "$TEST_DIR/list3" --store "$TEST_DIR/empty.store" --store "http://127.0.0.1:1/" \
	--cache-dir "$TEST_DIR/cache3" --fetch-timeout 3s

# ---- on btrfs the cache is NOCOW (no data checksums for what SHA-256 verifies), its
# subdirectories made before too ----
if command -v mkfs.btrfs >/dev/null && command -v lsattr >/dev/null; then
	truncate -s 256M "$TEST_DIR/cfs.img"
	run_check mkfs.btrfs -q "$TEST_DIR/cfs.img"
	loop_attach "$TEST_DIR/cfs.img"
	mkdir -p "$TEST_DIR/cfs"
	mount "$LOOP_DEV" "$TEST_DIR/cfs" || fail "cannot mount the cache's btrfs"
	cleanup_umount "$TEST_DIR/cfs"
	c=$TEST_DIR/cfs/cache
	mkdir -p "$c"/{00..ff}
	run_check "$BLAZY" store prefetch "$img" --list "$TEST_DIR/list" --store "$url" --cache-dir "$c" >/dev/null 2>&1
	nocow() { lsattr -d "$1" | awk '{ exit ($1 !~ /C/) }'; }
	nocow "$c" || fail "the cache directory is not NOCOW: $(lsattr -d "$c")"
	n=0
	while read -r f; do
		nocow "$f" || fail "a cached chunk is not NOCOW: $(lsattr "$f")"
		nocow "$(dirname "$f")" || fail "an older subdirectory is not NOCOW: $(lsattr -d "$(dirname "$f")")"
		n=$((n + 1))
	done < <(find "$c" -type f)
	[ "$n" = "$got" ] || fail "the btrfs cache holds $n chunks, not $got"
	umount "$TEST_DIR/cfs"
	"$BLZTEST" loop-detach "$LOOP_DEV" || fail "cannot detach $LOOP_DEV"
else
	echo "mkfs.btrfs or lsattr missing: not testing the cache on btrfs"
fi

# ---- gc ----
bytes=$(du -sb "$cache" | cut -f1)
out=$(run_check "$BLAZY" store gc --cache-dir "$cache" --to 1G)
grep -q "removed 0 chunks" <<<"$out" || fail "gc above the size removed chunks: $out"
out=$(run_check "$BLAZY" store gc --cache-dir "$cache" --to 1)
grep -q "removed $got chunks .*; 0 chunks (0 B) remain" <<<"$out" || fail "gc to 1 byte: $out"
[ "$(find "$cache" -type f | wc -l)" = 0 ] || fail "gc left files"
[ "$bytes" -gt 0 ]
# misuse
run_mustfail "$BLAZY" store
run_mustfail "$BLAZY" store frobnicate "$img"
run_mustfail "$BLAZY" store prefetch "$img"
run_mustfail "$BLAZY" store gc
run_mustfail_msg "cannot open" "$BLAZY" store gc --cache-dir "$TEST_DIR/none"
assert_no_leaks
