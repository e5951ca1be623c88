#!/bin/bash
# The command line: help for every command, version, exit statuses for misuse.
. "$(dirname "$0")/lib.sh"

out=$("$BLAZY" help)
grep -q '^usage: blazy' <<<"$out" || fail "blazy help has no usage line"
cmds=$(sed -n '/^commands:/,/^$/p' <<<"$out" | awk 'NF && !/commands:/ {print $1}')
[ -n "$cmds" ] || fail "blazy help lists no commands"
for c in $cmds; do
	h=$("$BLAZY" "$c" --help) || fail "blazy $c --help failed"
	grep -q "^usage: blazy $c" <<<"$h" || fail "blazy $c --help does not start with its usage"
	[ "$("$BLAZY" help "$c")" = "$h" ] || fail "blazy help $c differs from blazy $c --help"
done
grep -q -- '--virtual-size' <<<"$("$BLAZY" mkseed --help)" || fail "mkseed --help lacks --virtual-size"
grep -q -- '--trace FILE' <<<"$("$BLAZY" status --help)" || fail "status --help lacks --trace"

v=$("$BLAZY" --version)
[[ $v =~ ^blazy\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "bad version line: $v"
[ "$("$BLAZY" version)" = "$v" ] || fail "blazy version differs from --version"

expect_rc() { # expect_rc RC CMD...
	local want=$1 rc=0
	shift
	"$@" >/dev/null 2>&1 || rc=$?
	[ "$rc" = "$want" ] || fail "exit status $rc (want $want) from: $*"
}
expect_rc 2 "$BLAZY"
expect_rc 2 "$BLAZY" no-such-command
expect_rc 2 "$BLAZY" mkseed
expect_rc 2 "$BLAZY" mkseed --rootdir /
expect_rc 2 "$BLAZY" mkseed --bogus x
expect_rc 2 "$BLAZY" mkseed --rootdir / a b
expect_rc 2 "$BLAZY" mkseed --rootdir / --virtual-size 5E "$TEST_DIR/x"
expect_rc 2 "$BLAZY" mkseed --rootdir / --virtual-size 1000 "$TEST_DIR/x"
expect_rc 2 "$BLAZY" mkseed --rootdir / --virtual-size 1Q "$TEST_DIR/x"
expect_rc 2 "$BLAZY" mkseed --rootdir / --uuid not-a-uuid "$TEST_DIR/x"
expect_rc 2 "$BLAZY" mkseed --tar - --tar - "$TEST_DIR/x"
expect_rc 2 "$BLAZY" inspect
expect_rc 2 "$BLAZY" inspect --frob x
expect_rc 2 "$BLAZY" help no-such-command
# Options may follow the operands (git style), for every command.
"$BLAZY" mkseed "$TEST_DIR/late.img" --rootdir "$TEST_DIR/src-late" >/dev/null 2>"$TEST_DIR/late.err" &&
	fail "mkseed of a missing directory succeeded"
grep -q "src-late" "$TEST_DIR/late.err" || fail "mkseed OUTPUT --rootdir DIR: the option after the operand was not taken: $(cat "$TEST_DIR/late.err")"
expect_rc 1 "$BLAZY" serve /nonexistent/seed.img --queues 1
expect_rc 2 "$BLAZY" serve --backend null,size=1M --supervise-pid 1               # needs --recover
expect_rc 2 "$BLAZY" serve --backend null,size=1M --recover 0 --supervise-pid 1   # and --foreground
expect_rc 2 "$BLAZY" serve --backend null,size=1M --recover 0 --foreground --supervise-pid x
expect_rc 1 "$BLAZY" store verify /nonexistent/seed.img --jobs 2
expect_rc 1 "$BLAZY" inspect "$TEST_DIR/missing.img"
expect_rc 2 "$BLAZY" status
expect_rc 2 "$BLAZY" status --top x /dev/ublkb0
expect_rc 2 "$BLAZY" status --trace
expect_rc 2 "$BLAZY" status --trace "$TEST_DIR/x" /dev/ublkb0 # names need a mount point
expect_rc 1 "$BLAZY" status "$TEST_DIR"                      # not a blazy mount point
[ ! -e "$TEST_DIR/x" ] || fail "a misused mkseed left an output file"

run_mustfail_msg "^blazy: error: unknown command 'frobnicate'" "$BLAZY" frobnicate
run_mustfail_msg "^usage: blazy mkseed" "$BLAZY" mkseed
run_mustfail_msg "^blazy: error: --trace needs a blazy MOUNTPOINT" "$BLAZY" status --trace "$TEST_DIR/x" 7
echo "not btrfs" >"$TEST_DIR/junk"
run_mustfail_msg "^blazy: error: .*junk.*not a btrfs image" "$BLAZY" inspect "$TEST_DIR/junk"
# `serve --supervise-pid PID` supervises only the server of the device as the registry names
# it: refused (exit 1) before ublk is needed, and nothing is written or left running.
sid=4093 # a device number nobody uses here
sup_args=(serve --backend null,size=1M --recover "$sid" --foreground)
[ ! -e /run/blazy/ublkb$sid.super ] && [ ! -e /run/blazy/ublkb$sid.info ] ||
	fail "/run/blazy already has an entry for ublkb$sid"
expect_rc 1 "$BLAZY" "${sup_args[@]}" --supervise-pid 1
run_mustfail_msg "^blazy: error: /dev/ublkb$sid has no server in /run/blazy" \
	"$BLAZY" "${sup_args[@]}" --supervise-pid 1
[ -d /run/blazy ] || { mkdir -p /run/blazy && cleanup_fn rmdir /run/blazy; }
sleep 1000 &
named=$!
cleanup_fn kill "$named"
cleanup_fn rm -f /run/blazy/ublkb$sid.super
printf 'supervisor=0\nserver=%d\nstate=live\nrestarts=0\ncause=\n' "$named" >/run/blazy/ublkb$sid.super
cp /run/blazy/ublkb$sid.super "$TEST_DIR/super.before"
expect_rc 1 "$BLAZY" "${sup_args[@]}" --supervise-pid 1
run_mustfail_msg "^blazy: error: pid 1 is not the server of /dev/ublkb$sid \(/run/blazy/ublkb$sid.super names $named\)" \
	"$BLAZY" "${sup_args[@]}" --supervise-pid 1
# the named server passes the registry check; here (no ublk) the kernel's check fails
run_mustfail_msg "^blazy: error: (cannot open /dev/ublk-control|no device /dev/ublkb$sid|pid $named is not the server)" \
	"$BLAZY" "${sup_args[@]}" --supervise-pid "$named"
cmp -s /run/blazy/ublkb$sid.super "$TEST_DIR/super.before" || fail "a refused --supervise-pid changed ublkb$sid.super"
[ -z "$(pgrep -f -- "--recover $sid" || true)" ] || fail "a refused --supervise-pid left a process"
assert_no_leaks
