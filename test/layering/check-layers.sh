#!/bin/sh
# Proves the layering is enforced by the build. For every pair of modules (M, N): with M's
# include path (the one meson gives M's library), a header of N must be found when N is M or a
# module M may use, and must NOT be found otherwise (__has_include, one preprocessor run per
# module). Then one real compile: lib/util/json.c with an upward #include of a lib/server
# header added must fail, and must succeed without it (so the failure is the include's).
#   check-layers.sh LAYER_ROOT LIB_DIR MOD:USE,USE... ... -- CC [ARGS...]
set -u
root=$1 lib=$2
shift 2
specs=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	specs="$specs $1"
	shift
done
[ $# -gt 1 ] || { echo "usage: $0 LAYER_ROOT LIB_DIR MOD:USES... -- CC [ARGS...]" >&2; exit 2; }
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0 pairs=0
for spec in $specs; do
	mod=${spec%%:*}
	uses=",${spec#*:},$mod,"
	: >"$tmp/t.c"
	for other in $specs; do
		n=${other%%:*}
		hdr=$(cd "$lib/$n" && ls ./*.h 2>/dev/null | head -n 1)
		[ -n "$hdr" ] || { echo "module $n has no header"; bad=$((bad + 1)); continue; }
		printf '#if __has_include("%s/%s")\nseen %s\n#else\nunseen %s\n#endif\n' \
			"$n" "${hdr#./}" "$n" "$n" >>"$tmp/t.c"
	done
	if ! "$@" -E -P -I"$root/$mod" "$tmp/t.c" >"$tmp/out" 2>"$tmp/err"; then
		echo "cannot preprocess with $mod's include path:"; cat "$tmp/err"
		bad=$((bad + 1)); continue
	fi
	for other in $specs; do
		n=${other%%:*}
		pairs=$((pairs + 1))
		case $uses in
		*",$n,"*) grep -qx "seen $n" "$tmp/out" || { echo "$mod may use $n but cannot include it"; bad=$((bad + 1)); } ;;
		*) grep -qx "unseen $n" "$tmp/out" || { echo "$mod may not use $n but can include it"; bad=$((bad + 1)); } ;;
		esac
	done
done
# The real thing, once: an upward include in a file of lib/util.
ok() { "$@" -fsyntax-only -D_GNU_SOURCE -I"$root/util" "$tmp/up.c" 2>"$tmp/err"; }
cp "$lib/util/json.c" "$tmp/up.c"
if ! ok "$@"; then echo "lib/util/json.c does not compile with util's include path:"; cat "$tmp/err"; bad=$((bad + 1)); fi
{ echo '#include "server/control.h"'; cat "$lib/util/json.c"; } >"$tmp/up.c"
if ok "$@"; then
	echo "lib/util/json.c including server/control.h compiled: the layering is not enforced"
	bad=$((bad + 1))
elif ! grep -q 'server/control.h' "$tmp/err"; then
	echo "the upward include failed for another reason:"; cat "$tmp/err"; bad=$((bad + 1))
fi
echo "layering: $pairs pairs checked, 1 upward include refused, $bad wrong"
[ $bad -eq 0 ] && [ $pairs -gt 0 ]
