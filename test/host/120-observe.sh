#!/bin/bash
# blazy trace draws a request log (docs/request-log.md) that a real browser renders: a
# synthetic log of 200000 requests over a 4 EiB layout (local region, import area, a few
# GiB used of a virtual area at 2 EiB) becomes an SVG that is well-formed XML with one
# group per outcome, bounded in size, and that headless chromium opens and screenshots
# without an error. A malformed log is refused with the line named; misuse exits 2. The
# parts of `blazy log` and `blazy serve --filter` that need no ublk: misuse exits 2 before
# anything starts, and no server means exit 1 with FILE as it was.
. "$(dirname "$0")/lib.sh"
requires chromium python3

log=$TEST_DIR/work.log
python3 - "$log" <<'PY'
import random, sys
random.seed(18)
G, T, E = 1 << 30, 1 << 40, 1 << 60
outs = {'local': ['image'], 'import': ['cache', 'fetch', 'fetch'], 'virtual': ['fetch', 'unmapped'],
        'gap': ['zero']}
with open(sys.argv[1], 'w') as f:
    f.write("# blazy request log 1 t0_unix_ns=1796548329120533120\n")
    t = 0
    for i in range(200000):
        t += random.randint(100, 20000)
        a = random.choice(['local'] * 3 + ['import'] * 4 + ['virtual'] * 2 + ['gap'])
        off = {'local': random.randrange(0, 256 << 20), 'import': T + random.randrange(0, 4 * G),
               'virtual': 2 * E + random.randrange(0, 6 * G),
               'gap': 512 * G + random.randrange(0, G)}[a] // 4096 * 4096
        ln = 4096 << random.randrange(0, 6)
        f.write("%d %d %d read %d %d %s %s %d\n" % (t, i % 2, i % 64, off, ln, a,
                random.choice(outs[a]), random.randint(2000, 3000000)))
    f.write("%d 0 0 flush 0 0 - ok 900\n" % (t + 1))
    f.write("%d 1 1 write 8192 4096 - error 900\n" % (t + 2))
PY

svg=$TEST_DIR/work.svg
out=$("$BLAZY" trace --svg "$svg" "$log")
echo "$out"
grep -Eq '^200002 requests, [0-9]+ bands, [0-9]+ marks' <<<"$out" || fail "unexpected summary: $out"
size=$(stat -c %s "$svg")
[ "$size" -lt $((4 << 20)) ] || fail "the picture is $size bytes"
python3 - "$svg" <<'PY' || fail "the SVG is not what it should be"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = '{http://www.w3.org/2000/svg}'
assert root.tag == ns + 'svg', root.tag
ids = [g.get('id') for g in root.iter(ns + 'g')]
outcomes = ['ok', 'zero', 'image', 'cache', 'fetch', 'unmapped', 'error']
for o in outcomes:
    assert ids.count('outcome-' + o) == 1, (o, ids)
marks = {o: len(list(next(g for g in root.iter(ns + 'g') if g.get('id') == 'outcome-' + o)))
         for o in outcomes}
print('marks per outcome:', marks)
for o in ['image', 'fetch', 'unmapped', 'zero']:
    assert marks[o] > 0, o
text = ' '.join(t.text or '' for t in root.iter(ns + 'text'))
assert 'elided' in text and 'EiB' in text, text[:500]
assert 'hottest ranges' in text
PY

# A real browser: headless chromium screenshots it; errors would show on stderr.
png=$TEST_DIR/work.png
rc=0
timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
	--user-data-dir="$TEST_DIR/chromium" --window-size=1200,800 \
	--screenshot="$png" "file://$svg" >"$TEST_DIR/chromium.out" 2>&1 || rc=$?
cat "$TEST_DIR/chromium.out"
[ "$rc" = 0 ] || fail "chromium exited $rc"
[ -s "$png" ] || fail "chromium wrote no screenshot"
[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
	fail "the screenshot is not a PNG"
# a drawn picture, not a blank page: many distinct colours
python3 - "$png" <<'PY' || fail "the screenshot looks blank"
import sys, zlib, struct
data = open(sys.argv[1], 'rb').read()
pos, idat, w, h = 8, b'', 0, 0
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
print('screenshot %dx%d, %d bytes of pixels' % (w, h, len(raw)))
assert w >= 1000 and h >= 700
assert len(set(raw[i:i + 3] for i in range(0, len(raw) - 3, 97))) > 20
PY
grep -Ei 'error|fail' "$TEST_DIR/chromium.out" | grep -Evi 'dbus|gpu|vaapi|viz|gcm|sandbox|ERROR:bus' &&
	fail "chromium reported errors"

# A malformed log: refused, naming the line.
printf '# blazy request log 1 t0_unix_ns=5\n1 0 0 read 0 4096 local image 9\n1 0 0 read x\n' >"$TEST_DIR/bad.log"
run_mustfail_msg "line 3 is not a request log line" "$BLAZY" trace --svg "$TEST_DIR/bad.svg" "$TEST_DIR/bad.log"
[ ! -e "$TEST_DIR/bad.svg" ] || fail "a picture was written for a malformed log"
rc=0
"$BLAZY" trace "$log" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "trace without --svg: exit $rc (want 2)"
rc=0
"$BLAZY" trace --svg x.svg --files list "$log" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--files without --mount: exit $rc (want 2)"
# blazy serve --filter: a bad filter is misuse, checked before anything is started
run_mustfail_msg "bad --filter 'error:rate=2'" "$BLAZY" serve --backend null,size=1G --filter error:rate=2
for f in delay:ms=x error: slow:ms=1 "error:rate=0.5,bogus=1"; do
	rc=0
	"$BLAZY" serve --backend null,size=1G --filter "$f" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "serve --filter $f: exit $rc (want 2)"
done
# blazy log
for args in "" "--start" "--stop" "--start x --stop 0" "--stop nodev" "--stop 0 1"; do
	rc=0
	# shellcheck disable=SC2086
	"$BLAZY" log $args >/dev/null 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "blazy log $args: exit $rc (want 2)"
done
run_mustfail_msg "no blazy server for /dev/ublkb4095" "$BLAZY" log --stop 4095
run_mustfail_msg "no blazy server for /dev/ublkb4095" "$BLAZY" log --start "$TEST_DIR/l.log" 4095
[ ! -e "$TEST_DIR/l.log" ] || fail "a failed 'blazy log --start' left the file it created"
# an existing file is left as it was (the server truncates it only once the log starts)
printf 'keep me\n' >"$TEST_DIR/old.log"
run_mustfail_msg "no blazy server for /dev/ublkb4095" "$BLAZY" log --start "$TEST_DIR/old.log" 4095
[ "$(cat "$TEST_DIR/old.log")" = "keep me" ] || fail "a failed 'blazy log --start' changed the file"
echo "observe ok"
