#!/bin/sh
# VM side of bench/remote-rootfs (busybox sh): /dev/vda holds seed.img (+ .map, .store),
# rootfs.tar.gz and mkseed.json; httpfault serves it on 127.0.0.1 at remote.rate bytes/s
# with remote.delay ms per request. Per run, page cache dropped first and a fresh web
# server (its log counts the requests):
#   image:  mkfs.btrfs on brd + mount + curl | gzip -dc | tar -x + chroot /bin/ls /
#   lazy:   curl seed.tar.gz (the seed and its map) | tar -x, blazy mount --store URL
#           (empty cache, --fetch-ahead N), chroot /bin/ls /; "provisioned": the seed and
#           map unpacked beforehand
# and then python3 -c 'import json' in the same root. Each rep also runs the lazy root with
# --fetch-ahead 0 behind a server without the per-request delay (same rate): the time that
# leaves is what removing every round trip (the most that packing small runs into larger
# chunks could ever save, without its extra bytes) would win.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
D=/disk M=/mnt/lazy T=/mnt/img N=/tmp/n
export BLAZY_STATE_DIR=/tmp/state
arg() { sed -n "s/.*remote\.$1=\([0-9,]*\).*/\1/p" /proc/cmdline; }
reps=$(arg reps) aheads=$(arg ahead) rate=$(arg rate) delay=$(arg delay)
reps=${reps:-3} aheads=${aheads:-0,8} rate=${rate:-3000000} delay=${delay:-20}
say() { echo "remote-rootfs: $*"; }
web_pid=""
bench_cleanup() {
	_rc=$?
	[ -n "$web_pid" ] && kill "$web_pid" 2>/dev/null
	blazy umount "$M" >/dev/null 2>&1
	for m in "$T" "$M" "$D"; do grep -q " $m " /proc/mounts && umount "$m"; done
	(exit "$_rc")
	ublk_cleanup
}
trap bench_cleanup EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
secs() { echo "$(($1 / 100)).$(($1 % 100 / 10))"; } # centiseconds -> "S.d"
json_u64() { grep -o "\"$1\":[0-9]*" | head -n1 | cut -d: -f2; }

start_web() { # [DELAY_MS]: a fresh server and log
	[ -n "$web_pid" ] && kill "$web_pid" 2>/dev/null && wait "$web_pid" 2>/dev/null
	rm -f /tmp/port /tmp/web.log
	httpfault --root "$D" --port-file /tmp/port --lifetime 3000 --log /tmp/web.log \
		--rate "$rate" --delay "${1:-$delay}" >/dev/null &
	web_pid=$!
	wait_until 10 test -s /tmp/port || { fail "httpfault did not start"; finish; }
	url=http://127.0.0.1:$(cat /tmp/port)
}
# requests for store chunks in the web log, and the bytes of the files they named
store_requests() { grep -c ' GET /seed.img.store/' /tmp/web.log; }
store_wire_bytes() {
	grep ' GET /seed.img.store/.* -> 200' /tmp/web.log | awk -v d="$D" '{ print d $4 }' |
		xargs -r ls -ln | awk '{ s += $5 } END { print s + 0 }'
}

mkdir -p "$D" "$M" "$T"
wait_until 10 test -b /dev/vda || { fail "no /dev/vda"; finish; }
mount -t btrfs /dev/vda "$D" || { fail "cannot mount the disk"; finish; }
store_bytes=$(find "$D/seed.img.store" -type f | xargs ls -ln | awk '{ s += $5 } END { print s + 0 }')
store_chunks=$(find "$D/seed.img.store" -type f | wc -l)
gz=$(wc -c <"$D/rootfs.tar.gz")
seedb=$(wc -c <"$D/seed.tar.gz")
modprobe -r brd 2>/dev/null
modprobe brd rd_nr=1 rd_size=$((600 * 1024)) || { fail "brd"; finish; }
say "store $store_bytes bytes in $store_chunks chunks; seed.tar.gz $seedb bytes; rootfs.tar.gz $gz bytes; rate $rate B/s, delay $delay ms"

# ---- the image: download and extract, then the commands ----
start_web
drop
t0=$(now_cs)
/usr/local/bin/mkfs.btrfs -q -f /dev/ram0 >/dev/null && mount /dev/ram0 "$T" &&
	curl -sf "$url/rootfs.tar.gz" | /usr/local/bin/gzip -dc |
	/usr/local/bin/tar --numeric-owner --xattrs --xattrs-include='*' -C "$T" -xf - ||
	fail "image: download and extract"
out=$(chroot "$T" /bin/ls /)
t1=$(now_cs)
echo "$out" | grep -qx usr || fail "image: no output from ls"
chroot "$T" /usr/bin/python3 -c 'import json' || fail "image: python3"
t2=$(now_cs)
umount "$T"
ti=$((t1 - t0)) ti2=$((t2 - t1))
say "image: $(secs $ti) s to the first output (download $gz bytes at $rate B/s alone: $((gz * 10 / rate / 10)).$((gz * 10 / rate % 10)) s); python3 then $(secs $ti2) s"

# ---- lazy runs: MODE (fetch|prov) AHEAD [DELAY_MS] -> one line, and files of figures ----
lazy_run() {
	mode=$1 k=$2 tag=$1-$2 d=${3:-$delay}
	[ "$d" = "$delay" ] || tag=$tag-d$d
	blazy umount "$M" >/dev/null 2>&1
	rm -rf /tmp/state /tmp/rw.img "$N" /tmp/cache
	mkdir -p "$N"
	if [ "$mode" = prov ]; then
		/usr/local/bin/gzip -dc "$D/seed.tar.gz" | /usr/local/bin/tar -C "$N" -xSf - ||
			{ fail "lazy $tag: seed unpack"; return; }
	fi
	start_web "$d"
	drop
	t0=$(now_cs)
	if [ "$mode" = fetch ]; then
		curl -sf "$url/seed.tar.gz" | /usr/local/bin/gzip -dc | /usr/local/bin/tar -C "$N" -xSf - ||
			{ fail "lazy $tag: seed download"; return; }
	fi
	td=$(now_cs)
	blazy mount -q "$N/seed.img" "$M" --rw /tmp/rw.img --rw-size 256M \
		--store "$url/seed.img.store/" --cache-dir /tmp/cache --fetch-ahead "$k" ||
		{ fail "lazy $tag: blazy mount"; return; }
	out=$(chroot "$M" /bin/ls /)
	t1=$(now_cs)
	echo "$out" | grep -qx usr || fail "lazy $tag: no output from ls"
	rq1=$(store_requests) wb1=$(store_wire_bytes)
	chroot "$M" /usr/bin/python3 -c 'import json' || fail "lazy $tag: python3"
	t2=$(now_cs)
	rq2=$(store_requests) wb2=$(store_wire_bytes)
	js=$(blazy status --json "$M")
	fb=$(echo "$js" | json_u64 store_bytes)
	blazy umount "$M" || fail "lazy $tag: blazy umount"
	echo $((t1 - t0)) >>"/tmp/t1.$tag"
	echo $((t2 - t1)) >>"/tmp/t2.$tag"
	echo "$rq1" >>"/tmp/rq1.$tag"; echo "$wb1" >>"/tmp/wb1.$tag"
	echo "$rq2" >>"/tmp/rq2.$tag"; echo "$wb2" >>"/tmp/wb2.$tag"
	echo $((td - t0)) >>"/tmp/td.$tag"
	say "rep $i lazy $tag: $(secs $((t1 - t0))) s to the first output (seed download and unpack $(secs $((td - t0))) s; $rq1 store requests, $wb1 bytes on the wire); python3 then $(secs $((t2 - t1))) s (in all $rq2 requests, $wb2 bytes; $fb chunk bytes loaded)"
}

for i in $(seq "$reps"); do
	for k in $(echo "$aheads" | tr ',' ' '); do
		lazy_run fetch "$k"
		lazy_run prov "$k"
	done
	[ "$delay" -gt 0 ] && lazy_run fetch 0 0 && lazy_run prov 0 0
done
[ -n "$web_pid" ] && kill "$web_pid" 2>/dev/null
web_pid=""

pct() { echo "$(($1 * 1000 / $2 / 10)).$(($1 * 1000 / $2 % 10))"; } # part whole -> "P.p"
ratio() { echo "$(($1 * 100 / $2 / 100)).$(($1 * 100 / $2 % 100 / 10))$(($1 * 100 / $2 % 10))"; }
for k in $(echo "$aheads" | tr ',' ' '); do
	for mode in fetch prov; do
		tag=$mode-$k
		[ -s "/tmp/t1.$tag" ] || continue
		a=$(median <"/tmp/t1.$tag") b=$(median <"/tmp/t2.$tag") dl=$(median <"/tmp/td.$tag")
		r1=$(median <"/tmp/rq1.$tag") w1=$(median <"/tmp/wb1.$tag")
		r2=$(median <"/tmp/rq2.$tag") w2=$(median <"/tmp/wb2.$tag")
		[ "$a" -gt 0 ] || a=1
		what="seed and map downloaded"
		[ "$mode" = prov ] && what="seed and map provisioned"
		say "ahead=$k, $what: first output $(secs "$a") s, image/lazy $(ratio "$ti" "$a")x (target >= 10: $([ "$ti" -ge $((a * 10)) ] && echo met || echo NOT met); of it the seed's download and unpack $(secs "$dl") s); $r1 store requests, $w1 bytes = $(pct "$w1" "$store_bytes")% of the store (target <= 5%: $([ $((w1 * 20)) -le "$store_bytes" ] && echo met || echo NOT met)); python3 then $(secs "$b") s (image $(secs "$ti2") s), $r2 requests, $w2 bytes = $(pct "$w2" "$store_bytes")% in all (medians of $reps)"
	done
done
# the round trips' share: ahead 0 with the delay against the same without it
if [ "$delay" -gt 0 ]; then
	for mode in fetch prov; do
		[ -s "/tmp/t1.$mode-0" ] && [ -s "/tmp/t1.$mode-0-d0" ] || continue
		a=$(median <"/tmp/t1.$mode-0") a0=$(median <"/tmp/t1.$mode-0-d0")
		b=$(median <"/tmp/t2.$mode-0") b0=$(median <"/tmp/t2.$mode-0-d0")
		[ "$a" -gt 0 ] || a=1
		[ "$b" -gt 0 ] || b=1
		say "round trips ($mode, ahead=0): first output $(secs "$a") s with $delay ms per request, $(secs "$a0") s without: at most $(secs $((a > a0 ? a - a0 : 0))) s ($(pct $((a > a0 ? a - a0 : 0)) "$a")%) to win by fewer requests; python3 $(secs "$b") s vs $(secs "$b0") s: at most $(secs $((b > b0 ? b - b0 : 0))) s ($(pct $((b > b0 ? b - b0 : 0)) "$b")%) (medians of $reps)"
	done
fi
say "---- end ----"
finish
