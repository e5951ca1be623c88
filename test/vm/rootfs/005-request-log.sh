#!/bin/sh
# The request log of a lazy Debian root at work (disk from test/vm/rootfs-disk.sh on
# /dev/vda): `blazy mount` it, start the server's request log (`blazy log`), run a workload
# in a chroot (ls /, dpkg -l, python3 -c 'import json'), stop the log. The log's totals per
# outcome and per area match what `blazy status` counted meanwhile; `blazy trace` draws it,
# with the hottest ranges named after the files read (`blazy status --trace`); the SVG is
# well-formed XML with one group per outcome (python3 of the Debian root checks it). The log
# and the picture are left on the disk (/disk/reqlog/) for run-rootfs.sh.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
D=/disk
M=/mnt/root
export BLAZY_STATE_DIR=/tmp/state-reqlog

W=/tmp/005 # no loop devices of its own
# the mount (blazy_mount_cleanup) once the disk under it is unmounted too
trap '_r=$?; blazy umount "$M" >/dev/null 2>&1; grep -q " $D " /proc/mounts && umount "$D"; (exit $_r); blazy_mount_cleanup' EXIT

mkdir -p "$D" "$M"
wait_until 10 test -b /dev/vda || { fail "no /dev/vda"; finish; }
mount -t btrfs /dev/vda "$D" || { fail "cannot mount the disk"; finish; }
rm -rf "$D/reqlog"
mkdir -p "$D/reqlog"
check "blazy mount" blazy mount -q "$D/seed.img" "$M" --rw /tmp/rw-reqlog.img --rw-size 256M
dev=$(blazy status --json "$M" | sed 's/.*"device":"\([^"]*\)".*/\1/')
echo "device: $dev"

# the counters of one outcome (latency.NAME.count) or area (area_bytes.NAME) in a status
lat() { echo "$1" | sed 's/.*"latency":{//' | tr '}' '\n' | grep "\"$2\":" | sed 's/.*"count":\([0-9]*\).*/\1/'; }
areab() { echo "$1" | sed 's/.*"area_bytes":{\([^}]*\)}.*/\1/' | tr ',' '\n' | grep "^\"$2\":" | cut -d: -f2; }

L=$D/reqlog/debian.log
st0=$(blazy status --json "$dev")
check "blazy log --start" blazy log --start "$L" "$dev"
t0=$(now_cs)
chroot "$M" /bin/ls / >/dev/null
n=$(chroot "$M" /usr/bin/dpkg -l 2>/dev/null | grep -c '^ii ')
py=$(chroot "$M" /usr/bin/python3 -c 'import json; print(json.dumps({"ok": 1}))' 2>&1)
t1=$(now_cs)
check "the workload ran (dpkg -l: $n packages; python3: $py)" [ "$n" -ge 50 ] && [ "$py" = '{"ok": 1}' ]
out=$(blazy log --stop "$dev")
st1=$(blazy status --json "$dev")
echo "workload: $(( (t1 - t0) / 100 )).$(( (t1 - t0) % 100 )) s; log: $out"
lines=$(($(wc -l <"$L") - 1))
check "the log holds the lines stop counted ($lines)" [ "$lines" = "$(echo "$out" | cut -d' ' -f1)" ]
check "none dropped" sh -c "echo '$out' | grep -q ', 0 dropped'"
for o in ok zero image cache fetch unmapped error; do
	n=$(awk -v o="$o" 'NR > 1 && $8 == o { n++ } END { print n + 0 }' "$L")
	want=$(( $(lat "$st1" "$o") - $(lat "$st0" "$o") ))
	check "outcome $o: $n in the log, $want counted by the server" [ "$n" = "$want" ]
done
for a in local import virtual gap; do
	n=$(awk -v a="$a" 'NR > 1 && $4 == "read" && $7 == a && $8 != "unmapped" && $8 != "error" { n += $6 } END { printf "%.0f\n", n }' "$L")
	want=$(( $(areab "$st1" "$a") - $(areab "$st0" "$a") ))
	check "area $a: $n bytes in the log, $want counted by the server" [ "$n" = "$want" ]
done
awk 'NR > 1 { o[$7 " " $8]++ } END { for (k in o) print "  " k ": " o[k] }' "$L" | sort

check "blazy status --trace" blazy status --trace "$D/reqlog/read.list" "$M"
check "blazy trace --files" blazy trace --svg "$D/reqlog/debian.svg" --files "$D/reqlog/read.list" --mount "$M" "$L"
ls -l "$D/reqlog"
cp "$D/reqlog/debian.svg" "$M/tmp/check.svg"
res=$(chroot "$M" /usr/bin/python3 - <<'PY' 2>&1
import xml.etree.ElementTree as ET
root = ET.parse('/tmp/check.svg').getroot()
ns = '{http://www.w3.org/2000/svg}'
ids = [g.get('id') for g in root.iter(ns + 'g')]
outs = ['ok', 'zero', 'image', 'cache', 'fetch', 'unmapped', 'error']
bad = [o for o in outs if ids.count('outcome-' + o) != 1]
named = [t.text for t in root.iter(ns + 'text') if t.text and '/' in t.text]
print('groups ok' if not bad else 'bad groups %s' % bad, '; names:', ', '.join(named[:4]))
PY
)
echo "python3 on the SVG: $res"
check "the SVG is well-formed XML with one group per outcome" sh -c "echo '$res' | grep -q '^groups ok'"
rm -f "$M/tmp/check.svg"
blazy status "$dev" | grep -E '^(read sizes|alignments|area bytes|latency|request log)'
check "blazy umount" blazy umount "$M"
finish
