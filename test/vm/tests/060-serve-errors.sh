#!/bin/sh
# blazy serve SEED with bad input exits 1 with a clear message and leaves no device behind:
# a missing seed, a file that is not a seed, a store directory without permission, a map
# made for another seed, a registry that cannot be written; and `blazy map` on something
# that is not served or not a seed.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

W=/tmp/060
rm -rf "$W"
mkdir -p "$W/src"
echo x >"$W/src/f"
blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/a.img" || fail "mkseed a"
blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/b.img" || fail "mkseed b"
before=$(ls /sys/class/ublk-char 2>/dev/null | wc -l)

must_fail() { # must_fail REGEX CMD...: exit 1 with stderr matching REGEX
	re=$1
	shift
	"$@" >/dev/null 2>"$W/err"
	rc=$?
	cat "$W/err"
	check "exit 1 from: $*" [ "$rc" = 1 ]
	check "message /$re/" grep -q "$re" "$W/err"
}
must_fail "cannot open '$W/missing.img'" blazy serve "$W/missing.img"
echo "not a seed" >"$W/junk.img"
must_fail "not a usable seed" blazy serve "$W/junk.img"
mkdir -p "$W/locked"
chmod 000 "$W/locked"
# root bypasses permissions: a store that is a file instead of a directory
echo file >"$W/notdir"
must_fail "cannot open the store '$W/notdir'" blazy serve --store "$W/notdir" "$W/a.img"
blazy map "$W/b.img" "$W/src/f" >/dev/null || fail "map into b"
must_fail "does not fit this seed\|cannot use the map" blazy serve --map "$W/b.img.map" "$W/a.img"
must_fail "no blazy seed server" blazy map /dev/ublkb999 "$W/src/f"
must_fail "not a usable seed" blazy map "$W/junk.img" "$W/src/f"
must_fail "no blazy server" blazy status 999
# A server that cannot register (its socket and registry entry) is of no use to mount,
# map or stop: it fails before it reports ready, and takes its device down.
rm -rf /run/blazy.saved
[ -e /run/blazy ] && mv /run/blazy /run/blazy.saved
echo "not a directory" >/run/blazy
must_fail "cannot register the server in /run/blazy" blazy serve "$W/a.img"
rm -f /run/blazy
[ -e /run/blazy.saved ] && mv /run/blazy.saved /run/blazy
after=$(ls /sys/class/ublk-char 2>/dev/null | wc -l)
check "no device was created ($before -> $after)" [ "$before" = "$after" ]
finish
