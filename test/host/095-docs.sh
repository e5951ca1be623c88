#!/bin/bash
# The command reference cannot drift: every command of the command table has a page in
# docs/commands/ whose generated block is exactly its current `--help` (scripts/gen-docs
# --check) and which the index links, and the check fails on a changed help, a missing, stale
# or unlisted page or an edited block, while regenerating keeps the hand-written parts of a page.
. "$(dirname "$0")/lib.sh"

gen=$SRC_ROOT/scripts/gen-docs
docs=$SRC_ROOT/docs/commands

# drift RE ARGS...: gen-docs --check ARGS must exit 1 and report /RE/.
drift() {
	local re=$1 rc=0 out
	shift
	out=$("$gen" --check "$@" 2>&1) || rc=$?
	echo "$out" >&2
	[ "$rc" = 1 ] || fail "gen-docs --check $* exited $rc, want 1 (drift: /$re/)"
	grep -Eq -- "$re" <<<"$out" || fail "gen-docs --check $* does not report /$re/"
}

# The pages in the tree match this binary.
run_check "$gen" --check --blazy "$BLAZY"

# Every command `blazy help` lists has its page, holding its help verbatim.
cmds=$("$BLAZY" help | sed -n '/^commands:$/,/^$/p' | awk 'NF && !/commands:/ {print $1}')
[ -n "$cmds" ] || fail "blazy help lists no commands"
for c in $cmds; do
	[ -f "$docs/$c.md" ] || fail "no page docs/commands/$c.md"
	"$BLAZY" "$c" --help >"$TEST_DIR/help"
	grep -qxF "$(head -n1 "$TEST_DIR/help")" "$docs/$c.md" || fail "$c.md lacks its usage line"
	grep -qF "($c.md)" "$docs/README.md" || fail "no link to $c.md in docs/commands/README.md"
done

# A help string that changes (here: a binary whose `stop --help` gained a line) is drift.
cat >"$TEST_DIR/blazy-changed" <<EOF
#!/bin/sh
"$BLAZY" "\$@" || exit
[ "\$1 \$2" = "stop --help" ] && echo "  --new-option  a line the page does not have"
exit 0
EOF
chmod +x "$TEST_DIR/blazy-changed"
drift 'differs: .*/stop\.md' --blazy "$TEST_DIR/blazy-changed"
drift '\+  --new-option' --blazy "$TEST_DIR/blazy-changed"

# A copy of the pages to break in turn.
fresh() { rm -rf "$TEST_DIR/pages"; cp -r "$docs" "$TEST_DIR/pages"; }
fresh
run_check "$gen" --check --blazy "$BLAZY" --dir "$TEST_DIR/pages"

rm "$TEST_DIR/pages/umount.md"                             # a command without a page
drift 'missing: .*/umount\.md' --blazy "$BLAZY" --dir "$TEST_DIR/pages"
fresh
cp "$TEST_DIR/pages/stop.md" "$TEST_DIR/pages/frobnicate.md" # a page without a command
drift 'stale: .*/frobnicate\.md' --blazy "$BLAZY" --dir "$TEST_DIR/pages"
fresh
sed -i 's/(serve\.md)/(serve.txt)/g' "$TEST_DIR/pages/README.md"  # a page the index does not link
drift 'unlisted: .*/serve\.md' --blazy "$BLAZY" --dir "$TEST_DIR/pages"
fresh
sed -i 's/^  -h, --help.*/  -h, --help   edited by hand/' "$TEST_DIR/pages/inspect.md" # an edited block
drift 'differs: .*/inspect\.md' --blazy "$BLAZY" --dir "$TEST_DIR/pages"

# Regenerating restores the block and keeps the hand-written text around it.
echo "a hand-written line below the block" >>"$TEST_DIR/pages/inspect.md"
run_check "$gen" --blazy "$BLAZY" --dir "$TEST_DIR/pages"
run_check "$gen" --check --blazy "$BLAZY" --dir "$TEST_DIR/pages"
grep -qx "a hand-written line below the block" "$TEST_DIR/pages/inspect.md" ||
	fail "gen-docs dropped a hand-written line"
[ "$(grep -c 'BEGIN GENERATED' "$TEST_DIR/pages/inspect.md")" = 1 ] || fail "inspect.md has not one block"

# A command without a page gets one from the skeleton, which then passes the check.
rm "$TEST_DIR/pages/list.md"
run_check "$gen" --blazy "$BLAZY" --dir "$TEST_DIR/pages"
[ -f "$TEST_DIR/pages/list.md" ] || fail "gen-docs did not create list.md"
run_check "$gen" --check --blazy "$BLAZY" --dir "$TEST_DIR/pages"

# A page whose block lost its end line is an error, not a silent rewrite.
fresh
sed -i '/^<!-- END GENERATED -->$/d' "$TEST_DIR/pages/map.md"
run_mustfail_msg 'map\.md: the generated block has no end line' "$gen" --blazy "$BLAZY" --dir "$TEST_DIR/pages"
assert_no_leaks
