# Helpers for the HTTP client tests (test/host/1NN-http-*.sh), sourced after lib.sh.
#   HTTPGET / HTTPFAULT   the test tools from test/http (default: in $BUILD_DIR/test/http)
#   start_fault NAME ARGS...   run httpfault (ARGS after --root etc.) in the background, killed
#                              at exit; sets FAULT_PORT and FAULT_LOG (its request log)
#   get ARGS...                run httpget ARGS (after $HTTPGET_WRAP, if set), keep its result
#                              lines in $OUT (never fails)
#   field KEY [LINE]           the value of KEY=... in LINE (default: the last line of $OUT)
#   expect LINE KEY=VALUE...   fail unless each KEY has VALUE in LINE (a line number of $OUT)
#   elapsed_at_most LINE MS    fail unless that request took at most MS milliseconds

HTTPGET=${HTTPGET:-$BUILD_DIR/test/http/httpget}
HTTPFAULT=${HTTPFAULT:-$BUILD_DIR/test/http/httpfault}
requires "$HTTPGET" "$HTTPFAULT"

start_fault() {
	local name=$1 pf="$TEST_DIR/$1.port"
	shift
	FAULT_LOG=$TEST_DIR/$name.log
	: >"$FAULT_LOG"
	"$HTTPFAULT" --port-file "$pf" --log "$FAULT_LOG" --lifetime 120 "$@" >/dev/null &
	local pid=$! i
	cleanup_fn kill "$pid"
	for i in $(seq 100); do
		[ -s "$pf" ] && break
		kill -0 "$pid" 2>/dev/null || fail "httpfault $name did not start"
		sleep 0.05
	done
	FAULT_PORT=$(cat "$pf")
	[ -n "$FAULT_PORT" ] || fail "httpfault $name gave no port"
}

get() {
	echo "+ httpget $*" >&2
	# shellcheck disable=SC2086 # HTTPGET_WRAP: an optional command prefix (e.g. chroot DIR)
	OUT=$(${HTTPGET_WRAP:-} "$HTTPGET" "$@" 2>&1) || true
	printf '%s\n' "$OUT" | sed 's/^/    /' >&2
}

field() {
	local key=$1 line=${2:-$(printf '%s\n' "$OUT" | tail -n 1)}
	printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$key=//p" | head -n 1
}

expect() {
	local n=$1 line kv
	shift
	line=$(printf '%s\n' "$OUT" | grep '^rc=' | sed -n "${n}p")
	[ -n "$line" ] || fail "no result line $n"
	for kv in "$@"; do
		[ "$(field "${kv%%=*}" "$line")" = "${kv#*=}" ] ||
			fail "result $n: expected $kv, got: $line"
	done
}

elapsed_at_most() {
	local line ms
	line=$(printf '%s\n' "$OUT" | grep '^rc=' | sed -n "$1p")
	ms=$(field ms "$line")
	[ -n "$ms" ] && [ "$ms" -le "$2" ] || fail "result $1 took ${ms}ms, more than $2ms: $line"
}
