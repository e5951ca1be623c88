#!/bin/sh
# blazy serve SEED and blazy map: the local region reads byte-identical to the image; mapped
# files read back byte-identical (whole, at odd offsets and sizes, with concurrent readers on
# both queues); gaps read zeros; unmapped lazy ranges give EIO; writes fail. Immutability:
# the same bytes after a clean restart and after kill -9; a torn record appended to the map
# is dropped with a warning; a corrupted store chunk gives EIO and a log line naming it,
# and nothing else is affected.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup

W=/tmp/050
rm -rf "$W"
mkdir -p "$W/src/d"
dd if=/dev/urandom of="$W/src/d/local.bin" bs=1000 count=3000 2>/dev/null
echo hello >"$W/src/hello"
check "mkseed" blazy mkseed -q --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
json=$(blazy inspect --json --chunks "$W/seed.img")
voff=$(echo "$json" | sed 's/.*"virtual":{"offset":\([0-9]*\).*/\1/')
# The end of the last local chunk (everything below the virtual area).
lend=$(echo "$json" | tr '{' '\n' | grep '"logical"' |
	sed 's/"logical":\([0-9]*\),"length":\([0-9]*\).*/\1 \2/' |
	awk -v v="$voff" '$1 < v && $1 + $2 > m { m = $1 + $2 } END { printf "%.0f\n", m }')
echo "virtual area at $voff, local chunks end at $lend"

# range FILE OFFSET LENGTH OUT: bytes of FILE (or a device) into OUT
range() {
	dd if="$1" of="$4" bs=65536 iflag=skip_bytes,count_bytes skip="$2" count="$3" 2>/dev/null
}

serve_bg --log "$W/serve.log" "$W/seed.img"
check "blazy serve SEED prints the device" [ -n "$dev" ]
[ -n "$dev" ] || finish
n=$(dev_id "$dev")
check "$dev is a block device" wait_until 5 test -b "$dev"
size=$(blockdev --getsize64 "$dev")
check "device size is the seed's ($size)" [ "$size" = "$(echo "$json" | sed 's/.*"device_size":\([0-9]*\).*/\1/')" ]

# Local region: the chunks and the superblock copies.
range "$dev" 0 "$lend" "$W/dev-local"
range "$W/seed.img" 0 "$lend" "$W/img-local"
check "local region [0, $lend) is byte-identical" cmp "$W/dev-local" "$W/img-local"
for sb in 65536 67108864 274877906944; do
	range "$dev" $sb 4096 "$W/a"; range "$W/seed.img" $sb 4096 "$W/b"
	check "superblock copy at $sb is identical" cmp "$W/a" "$W/b"
done

# Map two files through the running server's device; read them back.
dd if=/dev/urandom of="$W/m1" bs=1000 count=3150 2>/dev/null   # 3,150,000 bytes
dd if=/dev/urandom of="$W/m2" bs=4096 count=700 2>/dev/null
out=$(blazy map --json "$dev" "$W/m1" "$W/m2")
check "blazy map DEV exits 0" [ -n "$out" ]
d1=$(echo "$out" | tr '{' '\n' | grep '/m1"' | sed 's/.*"device_offset":\([0-9]*\).*/\1/')
d2=$(echo "$out" | tr '{' '\n' | grep '/m2"' | sed 's/.*"device_offset":\([0-9]*\).*/\1/')
echo "m1 at $d1, m2 at $d2"
check "m1 is in the virtual area" [ "$d1" -ge "$voff" ]
check "m2 follows m1 (fresh offsets, 4 KiB aligned)" [ "$d2" -ge $((d1 + 3153920)) ] && [ $((d2 % 4096)) = 0 ]
range "$dev" "$d1" 3150000 "$W/r1"
check "m1 reads back identical" cmp "$W/r1" "$W/m1"
range "$dev" "$d2" 2867200 "$W/r2"
check "m2 reads back identical" cmp "$W/r2" "$W/m2"
# Odd offsets and sizes, four readers at once.
i=0
for spec in "12345 777777" "1048575 2" "2097153 1052847" "1 3149999"; do
	set -- $spec
	range "$W/m1" "$1" "$2" "$W/want$i"
	range "$dev" $((d1 + $1)) "$2" "$W/got$i" &
	i=$((i + 1))
done
wait
for j in 0 1 2 3; do check "concurrent odd read $j identical" cmp "$W/got$j" "$W/want$j"; done
# The tail of m1's last 4 KiB block is zeros.
range "$dev" $((d1 + 3150000)) 3920 "$W/tail"
check "the tail after m1 reads as zeros" [ "$(tr -d '\000' <"$W/tail" | wc -c)" = 0 ]
# The gap below the virtual area reads zeros; unmapped lazy bytes fail; writes fail.
range "$dev" $((voff - 1048576)) 65536 "$W/gap"
check "the gap below the virtual area reads zeros" [ "$(tr -d '\000' <"$W/gap" | wc -c)" = 0 ] && [ "$(wc -c <"$W/gap")" = 65536 ]
check "an unmapped lazy range gives an I/O error" sh -c "! dd if=$dev of=/dev/null bs=4096 iflag=skip_bytes,direct skip=$((d2 + 16 * 1048576)) count=1 2>/dev/null"
check "writes fail" sh -c "! dd if=/dev/zero of=$dev bs=4096 count=1 seek=1000 conv=notrunc 2>/dev/null"
st=$(blazy status --json "$dev")
echo "$st"
check "status counts lazy bytes" sh -c "echo '$st' | grep -q '\"lazy_bytes\":[1-9]'"
check "status counts the unmapped read" sh -c "echo '$st' | grep -q '\"unmapped\":[1-9]'"
# The control socket: malformed, oversized and unauthorised requests are refused and the
# server keeps serving.
sock=/run/blazy/ublkb$n.sock
chmod 755 / /run # as on a real system (the initramfs makes / root-only)
check "the control socket exists" [ -S "$sock" ]
check "an oversized request is refused" sh -c "ctlpoke $sock @5000 | grep -q 'error: request too long'"
check "a binary request is refused" sh -c "ctlpoke $sock 7374000175730a | grep -q 'error: malformed request'"
check "an unknown request is refused" sh -c "ctlpoke $sock 66726f620a | grep -q 'error: unknown request'"
ctlpoke --uid 4242 "$sock" 7374617475730a >"$W/poke" 2>&1; cat "$W/poke"
check "another user is refused" grep -q "permission denied" "$W/poke"
check "a request without a newline times out" sh -c "ctlpoke $sock =status | grep -q 'error: request timed out'"
range "$dev" "$d1" 3150000 "$W/r1"
check "the server still serves after bad requests" cmp "$W/r1" "$W/m1"
st=$(blazy status --json "$dev")
check "status counts the rejected requests" sh -c "echo '$st' | grep -q '\"control_rejected\":[4-9]'"
check "blazy status prints a summary" sh -c "blazy status $dev | grep -q 'map:.*2 records\\|map:.*[0-9] records'"

# Immutability: a clean restart, then kill -9.
check "blazy stop" blazy stop "$dev"
check "device gone after stop" wait_until 10 dev_gone "$n"
chown 4242 "$W/seed.img" # the seed's owner may talk to its server
serve_bg --log "$W/serve.log" "$W/seed.img"
range "$dev" "$d1" 3150000 "$W/r1"
check "m1 identical after a restart" cmp "$W/r1" "$W/m1"
sock=/run/blazy/ublkb$(dev_id "$dev").sock
check "the seed's owner may ask for status" sh -c "ctlpoke --uid 4242 $sock 7374617475730a | grep -q '^ok'"
check "another user still may not" sh -c "ctlpoke --uid 4343 $sock 7374617475730a | grep -q 'permission denied'"
chown 0 "$W/seed.img"
pid=$(list_pid "$(dev_id "$dev")")
kill -KILL "$pid"
wait_until 10 sh -c "! [ -d /proc/$pid ]"
check "blazy stop removes the dead device" blazy stop "$dev"
serve_bg --log "$W/serve.log" "$W/seed.img"
range "$dev" "$d2" 2867200 "$W/r2"
check "m2 identical after kill -9" cmp "$W/r2" "$W/m2"
check "blazy stop" blazy stop "$dev"

# A torn record at the end of the map (a crash mid-append): dropped with a warning.
printf 'BZMR\001\002torn' >>"$W/seed.img.map"
serve_bg --log "$W/serve.log" "$W/seed.img"
check "the server starts despite a torn record" [ -n "$dev" ]
check "the log warns about the torn record" grep -q 'torn record' "$W/serve.log"
range "$dev" "$d1" 3150000 "$W/r1"
check "m1 identical after the torn record" cmp "$W/r1" "$W/m1"
check "blazy stop" blazy stop "$dev"

# Corrupt the store chunk holding m1's second MiB.
h=$(dd if="$W/m1" bs=1048576 skip=1 count=1 2>/dev/null | sha256sum | cut -d' ' -f1)
chunk="$W/seed.img.store/$(echo "$h" | cut -c1-2)/$h"
check "m1's second chunk is in the store" [ -f "$chunk" ]
chmod u+w "$chunk"
printf '\377\377\377\377' | dd of="$chunk" bs=1 seek=200 conv=notrunc 2>/dev/null
serve_bg --log "$W/serve.log" "$W/seed.img"
check "reading the corrupted chunk's range fails" sh -c "! dd if=$dev of=/dev/null bs=4096 iflag=skip_bytes,direct skip=$((d1 + 1048576)) count=1 2>/dev/null"
check "the log names the corrupt chunk" grep -q "chunk .*$h.* is corrupt" "$W/serve.log"
range "$dev" "$d1" 1048576 "$W/r1a"; range "$W/m1" 0 1048576 "$W/m1a"
check "m1's first MiB still reads" cmp "$W/r1a" "$W/m1a"
range "$dev" "$d2" 2867200 "$W/r2"
check "m2 is unaffected" cmp "$W/r2" "$W/m2"
range "$dev" 0 "$lend" "$W/dev-local"
check "the local region is unaffected" cmp "$W/dev-local" "$W/img-local"
check "blazy stop" blazy stop "$dev"
check "nothing is left in /run/blazy" [ -z "$(ls /run/blazy 2>/dev/null)" ]
cat "$W/serve.log"
finish
