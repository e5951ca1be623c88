#!/bin/bash
# lib/http against the fault-injecting server (test/http/httpfault, through the test tool
# test/http/httpget): every fault ends in a retry-able error classified right, or a clear
# error, within the deadline (elapsed time measured); retries then succeed; keep-alive reuse,
# the stale-connection retry, the pool bound, redirects (bounded; no credentials across
# origins), the auth file and its rotation, and an http proxy (absolute-form and CONNECT).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"

root=$TEST_DIR/root
mkdir -p "$root"
head -c 300000 /dev/urandom >"$root/file"
sum=$(sha256sum "$root/file" | cut -d' ' -f1)
for f in stall stallbody slow trickle reset short wrong chunked flaky flakyreset drop auth; do
	cp "$root/file" "$root/$f"
done
echo "Bearer one" >"$TEST_DIR/server-auth"
echo "Bearer one" >"$TEST_DIR/client-auth"

start_fault origin --root "$root" \
	--rule /stall=stall --rule /stallbody=stall-body=1000 --rule /slow=trickle=100/200 \
	--rule /trickle=trickle=30000/20 --rule /reset=reset-body=1000 --rule /short=short=1000 \
	--rule /e500=status=500 --rule /e429=status=429,retry-after=3 --rule /wrong=wrong \
	--rule /chunked=chunked --rule /flaky=status=503,times=2 \
	--rule /flakyreset=reset-body=10,times=1 --rule /drop=drop,times=1 \
	--rule /redir=redirect=301:/file --rule /redir2=redirect=308:redir \
	--rule /loop=redirect=302:/loop --rule /sameauth=redirect=303:/auth \
	--rule "/auth=auth-file=$TEST_DIR/server-auth"
P=$FAULT_PORT
origin_log=$FAULT_LOG
u=http://127.0.0.1:$P

# ---- faults: the right error, within the deadline (1 s; allow 600 ms of slack) ----
get --timeout 1000 $u/stall $u/stallbody $u/slow $u/reset $u/short $u/e500 $u/e429 $u/missing
expect 1 rc=ETIMEDOUT retryable=1
expect 2 rc=ETIMEDOUT retryable=1 status=200
expect 3 rc=ETIMEDOUT retryable=1 status=200
for i in 1 2 3; do elapsed_at_most $i 1600; done
for i in 1 2 3; do
	ms=$(field ms "$(printf '%s\n' "$OUT" | sed -n "${i}p")")
	[ "$ms" -ge 1000 ] || fail "result $i ended before its deadline (${ms}ms)"
done
expect 4 rc=ECONNRESET retryable=1
expect 5 rc=EIO retryable=1
expect 6 rc=EAGAIN retryable=1 status=500
expect 7 rc=EAGAIN retryable=1 status=429 retry_after=3
expect 8 rc=ENOENT retryable=0 status=404
# a connection that stalls before even connecting: a listening socket nobody accepts on
# is covered by the stall above; an unused port is refused at once
get --timeout 1000 http://127.0.0.1:1/x
expect 1 rc=ECONNREFUSED retryable=1
elapsed_at_most 1 500

# ---- retries then success; wrong bytes are delivered as such (the store's digest catches
# them); chunked and trickled bodies are whole ----
get --timeout 5000 --retries 3 $u/flaky $u/flakyreset $u/wrong $u/chunked $u/trickle
expect 1 rc=0 attempts=3 sha256=$sum
expect 2 rc=0 attempts=2 sha256=$sum
expect 3 rc=0 bytes=300000
[ "$(field sha256 "$(printf '%s\n' "$OUT" | sed -n 3p)")" != "$sum" ] || fail "wrong bytes not served as such"
expect 4 rc=0 sha256=$sum
expect 5 rc=0 sha256=$sum

# ---- keep-alive: one connection for many requests; a connection the server dropped is
# retried once on a new one ----
: >"$origin_log"
get $u/file $u/file $u/file $u/drop $u/file
expect 1 rc=0 reused=0 connects=1
expect 2 rc=0 reused=1 connects=0
expect 3 rc=0 reused=1 connects=0
expect 4 rc=0 reused=0 connects=1 sha256=$sum
expect 5 rc=0 reused=1 connects=0
conns=$(sed 's/ .*//' "$origin_log" | sort -u | wc -l)
[ "$conns" = 2 ] || fail "expected 2 connections, the server saw $conns"

# ---- the pool bound: 6 threads, at most 2 connections ----
: >"$origin_log"
get --threads 6 --max-conns 2 --timeout 10000 $u/trickle $u/file
[ "$(printf '%s\n' "$OUT" | grep -c '^rc=0 ')" = 12 ] || fail "pool: not every request succeeded"
conns=$(sed 's/ .*//' "$origin_log" | sort -u | wc -l)
[ "$conns" -le 2 ] || fail "pool bound 2 exceeded: $conns connections"

# a request waiting for a pool slot is bounded by its deadline too (which of the threads
# waits for the slot, and whether it gets it when the first one gives up, is a race)
get --threads 3 --max-conns 1 --timeout 1000 $u/stall
[ "$(printf '%s\n' "$OUT" | grep -c '^rc=ETIMEDOUT ')" = 3 ] || fail "pool wait: not 3 timeouts"
for i in 1 2 3; do elapsed_at_most $i 1600; done

# ---- redirects ----
get $u/redir $u/redir2 $u/loop
expect 1 rc=0 redirects=1 sha256=$sum
expect 2 rc=0 redirects=2 sha256=$sum
expect 3 rc=ELOOP redirects=5
get --no-redirects $u/redir
expect 1 rc=EPROTO status=301

# ---- auth: sent, rotated without a restart, never across origins, never printed ----
get --auth-file "$TEST_DIR/client-auth" $u/auth \
	--sh "echo 'Bearer two' >'$TEST_DIR/server-auth'" $u/auth \
	--sh "echo 'Bearer two' >'$TEST_DIR/client-auth'" $u/auth
expect 1 rc=0 status=200
expect 2 rc=EACCES status=401 retryable=0
expect 3 rc=0 status=200 reused=1
get $u/auth
expect 1 rc=EACCES status=401
get --auth-file "$TEST_DIR/missing-auth" $u/auth
expect 1 rc=ENOENT status=0
printf 'Bearer a\001b\n' >"$TEST_DIR/bad-auth"
get --auth-file "$TEST_DIR/bad-auth" $u/auth
expect 1 rc=EINVAL

# a redirect within the origin keeps the credentials; one to another origin (localhost is
# not 127.0.0.1), or back from it, drops them
start_fault other --root "$root" --rule "/auth=auth-file=$TEST_DIR/server-auth" \
	--rule "/back=redirect=302:$u/auth"
O=$FAULT_PORT
get --auth-file "$TEST_DIR/client-auth" $u/sameauth http://127.0.0.1:$O/back
expect 1 rc=0 status=200 redirects=1
expect 2 rc=EACCES status=401 redirects=1
start_fault hop --root "$root" --rule "/cross=redirect=302:http://localhost:$O/auth"
get --auth-file "$TEST_DIR/client-auth" http://127.0.0.1:$FAULT_PORT/cross
expect 1 rc=EACCES status=401 redirects=1
grep -q 'Bearer' <<<"$OUT" && fail "a credential was printed"

# ---- proxy: absolute-form for http (https through CONNECT: the nginx test), NO_PROXY ----
start_fault proxy --root "$root" --proxy
PX=$FAULT_PORT
proxy_log=$FAULT_LOG
get --proxy http://127.0.0.1:$PX $u/file $u/file
expect 1 rc=0 sha256=$sum
expect 2 rc=0 reused=1
grep -q "GET $u/file -> proxy" "$proxy_log" || fail "the proxy did not see the absolute-form request"
: >"$proxy_log"
get --proxy http://127.0.0.1:$PX --no-proxy "localhost,127.0.0.1" $u/file
expect 1 rc=0
[ ! -s "$proxy_log" ] || fail "NO_PROXY ignored"
HTTP_PROXY=http://127.0.0.1:$PX NO_PROXY= get --env-proxy $u/file
expect 1 rc=0
grep -q "GET $u/file -> proxy" "$proxy_log" || fail "HTTP_PROXY ignored"
get --proxy http://127.0.0.1:1 $u/file
expect 1 rc=ECONNREFUSED

# ---- bad URLs ----
get "ftp://x/y" "http://user:pw@127.0.0.1:$P/file" "http://127.0.0.1:99999/" "http://[::1/" "http://no.such.host.invalid/x"
expect 1 rc=EINVAL
expect 2 rc=EINVAL
expect 3 rc=EINVAL
expect 4 rc=EINVAL
expect 5 rc=EHOSTUNREACH
grep -q 'pw' <<<"$OUT" && fail "URL credentials were printed"
get "$u/missing?X-Signature=s3cr3t"
expect 1 rc=ENOENT
grep -q 's3cr3t' <<<"$OUT" && fail "a URL's query was printed"
echo "ok"
