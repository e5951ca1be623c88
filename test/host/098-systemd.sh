#!/bin/bash
# contrib/systemd: `systemd-analyze verify` of blazy-mount@.service instantiated with a
# scratch config (the unit's /etc/blazy and /usr/local/bin/blazy pointed at the test's) must
# print nothing; the unit keeps the choices its comments explain (oneshot, KillMode=process,
# Restart=on-failure); a broken copy is reported (the check can fail).
. "$(dirname "$0")/lib.sh"
requires systemd-analyze

top=$(cd "$(dirname "$0")/../.." && pwd)
unit=$top/contrib/systemd/blazy-mount@.service
d=$TEST_DIR/units
mkdir -p "$d/etc"
cp "$top/contrib/systemd/example.conf" "$d/etc/scratch.conf"

# verify UNIT_FILE: copies it into $d with the test's paths; prints what verify says.
verify() {
	sed "s|/usr/local/bin/blazy|$BLAZY|g; s|/etc/blazy/|$d/etc/|g" "$1" >"$d/blazy-mount@.service"
	(cd "$d" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$d/blazy-mount@scratch.service" 2>&1)
}

out=$(verify "$unit") || fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify reports: $out"
for kv in Type=oneshot RemainAfterExit=yes KillMode=process Restart=on-failure \
	"EnvironmentFile=/etc/blazy/%i.conf" "ExecStop=/usr/local/bin/blazy umount \${MOUNTPOINT}"; do
	grep -qxF "$kv" "$unit" || fail "the unit lacks '$kv'"
done
grep -q '^ExecStart=/usr/local/bin/blazy mount .*\${SEED} \${MOUNTPOINT} --rw \${BACKING}$' "$unit" ||
	fail "ExecStart does not run blazy mount SEED MOUNTPOINT --rw BACKING"

sed 's/^KillMode=process/KilMode=process/' "$unit" >"$TEST_DIR/broken.service"
out=$(verify "$TEST_DIR/broken.service")
echo "$out"
grep -q "KilMode" <<<"$out" || fail "verify did not report a broken unit"
