#!/bin/sh
# A --lazy seed whose store is served over HTTP (test/http/httpfault on the VM's loopback),
# mounted with `blazy mount --store URL` and an empty persistent cache: every file reads
# back identical; after umount + mount (a new server) nothing is fetched again (the cache
# answers); with a fresh cache, a chunk removed on the web server gives EIO for its file only
# and the log names it, a corrupted one gives EIO (never wrong bytes); with the web server
# stopped a reader gets EIO within the deadline (no process in D state), and reads work
# again once it is back.
set -u
. "$(dirname "$0")/ublk-lib.inc"
command -v httpfault >/dev/null 2>&1 || skip "requires httpfault (test/vm/run.sh --extra build/test/http/httpfault)"
ublk_setup

W=/tmp/130
M=/mnt/h
export BLAZY_STATE_DIR=$W/state
web_pid=""
cleanup_all() {
	_rc=$?
	[ -n "$web_pid" ] && kill "$web_pid" 2>/dev/null
	(exit "$_rc")
	blazy_mount_cleanup
}
trap cleanup_all EXIT

rm -rf "$W"
mkdir -p "$W/src" "$M"
i=0
while [ $i -lt 12 ]; do
	head -c $(( (i * 7919) % 200000 + 50000 )) /dev/urandom >"$W/src/f$i"
	i=$((i + 1))
done
head -c 3000000 /dev/urandom >"$W/src/big"
echo small >"$W/src/small"
check "mkseed --lazy" blazy mkseed -q --lazy --virtual-size 1T --rootdir "$W/src" "$W/seed.img"
# The store goes to the web root; the seed's own store is left empty.
mv "$W/seed.img.store" "$W/web"
mkdir "$W/seed.img.store"
nchunks=$(find "$W/web" -type f | wc -l)
echo "$nchunks chunks on the web server"

start_web() { # [PORT]
	rm -f "$W/port"
	if [ $# -gt 0 ]; then
		httpfault --root "$W/web" --port "$1" --port-file "$W/port" --lifetime 900 --log "$W/web.log" >/dev/null &
	else
		httpfault --root "$W/web" --port-file "$W/port" --lifetime 900 --log "$W/web.log" >/dev/null &
	fi
	web_pid=$!
	wait_until 10 test -s "$W/port"
	port=$(cat "$W/port")
}
start_web
url=http://127.0.0.1:$port/
echo "web server on $url"

mount_http() { # CACHE-DIR
	blazy mount -q "$W/seed.img" "$M" --rw "$W/rw.img" --rw-size 256M --store "$url" \
		--cache-dir "$1" --fetch-timeout 3s --fetch-retries 1
}
json_field() { # NAME JSON: the first integer member NAME
	printf '%s\n' "$2" | tr ',' '\n' | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" | head -n 1
}
same_all() {
	_bad=0
	for f in "$W/src"/*; do cmp -s "$f" "$M/$(basename "$f")" || { echo "differs: $f"; _bad=$((_bad + 1)); }; done
	[ "$_bad" = 0 ]
}
dev_of_mount() { grep "^ublk=" "$W/state/"*.state | head -n1 | cut -d= -f2; }

# ---- an empty cache: everything fetched over HTTP, identical ----
check "blazy mount --store URL" mount_http "$W/cache"
dev=$(dev_of_mount)
ublk_devs="$ublk_devs $dev"
# An upgrade before the first read: the new server must fetch from the same store, with the
# same options (nothing is cached yet, so every read below goes to the web server).
if blazy upgrade "$M"; then
	echo "ok: blazy upgrade of the mount"
else
	fail "blazy upgrade of the mount"
	tail -n 30 "$W/state/"*.serve.log 2>/dev/null | sed 's/^/server log: /'
fi
check "the upgraded server serves the same store" sh -c "blazy status $dev | grep -q 'store 0: *http://127.0.0.1'"
check "every file reads back identical over HTTP" same_all
js=$(blazy status --json "$dev")
echo "$js" | sed 's/.*"stores"/"stores"/'
check "the store's fetches are counted" [ "$(json_field fetches "$(echo "$js" | sed 's/.*"stores"//')")" -ge 1 ]
check "blazy status shows the store" sh -c "blazy status $dev | grep -q 'store 0: *http://127.0.0.1'"
check "the web server was asked" [ "$(grep -c GET "$W/web.log")" -ge 1 ]
check "blazy umount" blazy umount "$M"

# ---- a new server, the same cache: nothing fetched again ----
: >"$W/web.log"
check "blazy mount again (a new server)" mount_http "$W/cache"
dev=$(dev_of_mount)
ublk_devs="$ublk_devs $dev"
check "every file reads back identical from the cache" same_all
js=$(blazy status --json "$dev")
check "no fetch after the restart" [ "$(json_field fetches "$(echo "$js" | sed 's/.*"stores"//')")" = 0 ]
check "the disk cache answered" [ "$(json_field disk_cache_hits "$js")" -ge 1 ]
check "the web server was not asked" [ "$(grep -c GET "$W/web.log")" = 0 ]
check "blazy umount" blazy umount "$M"

# ---- a fresh cache; one chunk removed, one corrupted on the web server ----
sum() { # FILE: the digest of its chunk (the bytes padded to 4 KiB)
	_n=$(stat -c %s "$1")
	{ cat "$1"; head -c $(((4096 - _n % 4096) % 4096)) /dev/zero; } | sha256sum | cut -d' ' -f1
}
h1=$(sum "$W/src/f1") h2=$(sum "$W/src/f2")
c1=$W/web/$(echo "$h1" | cut -c1-2)/$h1
c2=$W/web/$(echo "$h2" | cut -c1-2)/$h2
check "f1 and f2 are one chunk each" test -f "$c1" -a -f "$c2"
mv "$c1" "$W/c1.saved"
cp "$c2" "$W/c2.saved"
chmod u+w "$c2"
printf '\125' | dd of="$c2" bs=1 seek=1000 conv=notrunc 2>/dev/null
check "blazy mount, a fresh cache" mount_http "$W/cache2"
dev=$(dev_of_mount)
ublk_devs="$ublk_devs $dev"
log=$(ls "$W/state/"*.serve.log | head -n 1)
check "a missing chunk: EIO" sh -c "! cat $M/f1 >/dev/null 2>$W/err1 && grep -q 'Input/output error' $W/err1"
check "the log names the missing chunk" grep -q "$h1" "$log"
check "a corrupt chunk: EIO" sh -c "! cat $M/f2 >/dev/null 2>$W/err2 && grep -q 'Input/output error' $W/err2"
check "never wrong bytes" sh -c "! cmp -s $W/src/f2 $M/f2"
check "the log names the corrupt chunk" grep -q "$h2.*bad chunk" "$log"
check "the other files are not affected" sh -c "for i in 3 4 5 6 7 8 9 10 11; do cmp -s $W/src/f\$i $M/f\$i || exit 1; done; cmp -s $W/src/big $M/big"
mv "$W/c1.saved" "$c1"
cp "$W/c2.saved" "$c2"
check "once the store is mended, they read" sh -c "echo 3 >/proc/sys/vm/drop_caches; cmp $W/src/f1 $M/f1 && cmp $W/src/f2 $M/f2"

# ---- the web server stopped while a reader waits ----
kill "$web_pid"
wait "$web_pid" 2>/dev/null
web_pid=""
waiting_read "$M/f0" "$W/err0"
check "the waiting reader is not in D state" [ "${read_state:-S}" != D ]
check "the reader got an error" [ "$read_rc" != 0 ]
check "within the deadline (3 s per request; 20 s in all)" [ "$read_cs" -lt 2000 ]
start_web "$port"
check "the web server is back on its port" [ "$(cat "$W/port")" = "$port" ]
check "reads work again without a restart" sh -c "echo 3 >/proc/sys/vm/drop_caches; cmp $W/src/f0 $M/f0"
check "the log says the store answers again" grep -q "answering again" "$log"
check "blazy umount" blazy umount "$M"
check "nothing left behind" blazy_mount_gone
exit $fails
