#!/bin/sh
# VM side of bench/remote-cache (busybox sh): /dev/vda holds seed.img (+ .map, an empty
# .store), web/ (the store) and chunks (the file's chunk files in order). httpfault serves
# web/ on 127.0.0.1; the persistent cache lives on the disk (/disk/cache).
#   cold: curl -K (every chunk file in order) against blazy mount + dd of /big, per ahead
#   warm: fio 4 KiB random reads of /big, --store URL (all cached) against --store DIR
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
D=/disk M=/mnt/c W=/tmp/rc
export BLAZY_STATE_DIR=/tmp/state
arg() { sed -n "s/.*rcache\.$1=\([0-9,]*\).*/\1/p" /proc/cmdline; }
reps=$(arg reps) runtime=$(arg runtime) aheads=$(arg ahead) perf=$(arg perf)
reps=${reps:-3} runtime=${runtime:-10} aheads=${aheads:-0,8}
say() { echo "remote-cache: $*"; }
web_pid=""
bench_cleanup() {
	_rc=$?
	[ -n "$web_pid" ] && kill "$web_pid" 2>/dev/null
	blazy umount "$M" >/dev/null 2>&1
	for m in "$M" "$D"; do grep -q " $m " /proc/mounts && umount "$m"; done
	(exit "$_rc")
	ublk_cleanup
}
trap bench_cleanup EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
mibs() { echo "$(($1 * 100 / $2 / 1048576))"; } # BYTES CS -> MiB/s
# the VM's CPU ticks: "busy total" (busy: all but idle and iowait), for how busy a phase kept it
ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
busy() { # "B0 T0" "B1 T1" -> percent of both vCPUs busy in between
	echo "$1 $2" | awk '{ d = $4 - $2; print (d > 0) ? int(($3 - $1) * 100 / d) : 0 }'
}

mkdir -p "$D" "$M" "$W"
wait_until 10 test -b /dev/vda || { fail "no /dev/vda"; finish; }
mount -t btrfs /dev/vda "$D" || { fail "cannot mount the disk"; finish; }
rm -rf "$D/cache"
httpfault --root "$D/web" --port-file "$W/port" --lifetime 3000 >/dev/null &
web_pid=$!
wait_until 10 test -s "$W/port" || { fail "httpfault did not start"; finish; }
url=http://127.0.0.1:$(cat "$W/port")
nchunks=$(wc -l <"$D/chunks")
awk -v u="$url" '{ print "url = \"" u "/" $1 "\""; print "output = \"/dev/null\"" }' "$D/chunks" >"$W/curl.cfg"
say "$(nproc) cpus, $nchunks chunks, $(curl --version | head -n1 | cut -d' ' -f1-2)"

mount_lazy() { # STORE [options]
	_s=$1
	shift
	rm -rf /tmp/state /tmp/rw.img
	blazy mount -q "$D/seed.img" "$M" --rw /tmp/rw.img --rw-size 256M --store "$_s" "$@"
}

# ---- cold: curl, then blazy per ahead value ----
drop
c0=$(ticks)
t0=$(now_cs)
curl -sf -K "$W/curl.cfg" || fail "curl of the chunk files"
t1=$(now_cs)
c1=$(ticks)
cb=$(awk -v d="$D/web" '{ print d "/" $1 }' "$D/chunks" | xargs ls -ln | awk '{ s += $5 } END { print s }')
tc=$((t1 - t0))
[ "$tc" -gt 0 ] || tc=1
say "cold curl: $nchunks chunk files, $cb bytes in $((tc / 100)).$((tc % 100 / 10)) s: $(mibs "$cb" "$tc") MiB/s; VM busy $(busy "$c0" "$c1")%"
fsize=0
# ahead 0 with the persistent cache in memory (tmpfs, 64 MiB, evicting: what writing the
# chunks to the disk costs), then each ahead value with it on the disk (the last one leaves
# every chunk in the cache for the warm runs), then the profile
profile=""
[ "${perf:-0}" = 1 ] && profile=perf
for k in tmpfs $(echo "$aheads" | tr ',' ' ') $profile; do
	[ "$k" = tmpfs ] || rm -rf "$D/cache"
	if [ "$k" = perf ]; then
		mount_lazy "$url/" --cache-dir "$D/cache" || { fail "blazy mount (cold, perf)"; continue; }
	elif [ "$k" = tmpfs ]; then
		rm -rf "$W/cache"
		mount_lazy "$url/" --cache-dir "$W/cache" --cache-size 64M ||
			{ fail "blazy mount (cold, cache on tmpfs)"; continue; }
	else
		mount_lazy "$url/" --cache-dir "$D/cache" --fetch-ahead "$k" || { fail "blazy mount (cold, ahead $k)"; continue; }
	fi
	# (stat, not wc -c: busybox's wc reads the whole file, which fetched every chunk
	# before the timed read and made it a read of the persistent cache)
	fsize=$(stat -c %s "$M/big" 2>/dev/null || echo 0)
	drop
	c0=$(ticks)
	t0=$(now_cs)
	if [ "$k" = perf ]; then
		perf record -q -a -F 499 -e cpu-clock -o "$W/perf.data" -- \
			dd if="$M/big" of=/dev/null bs=1M 2>/dev/null || fail "dd of the file (cold, perf)"
	else
		dd if="$M/big" of=/dev/null bs=1M 2>/dev/null || fail "dd of the file (cold, ahead $k)"
	fi
	t1=$(now_cs)
	c1=$(ticks)
	tb=$((t1 - t0))
	[ "$tb" -gt 0 ] || tb=1
	js=$(blazy status --json "$M")
	f=$(echo "$js" | grep -o '"fetches":[0-9]*' | head -n1 | cut -d: -f2)
	blazy umount "$M" || fail "blazy umount"
	if [ "$k" = perf ]; then
		say "perf: the cold read again under perf record -a (not a measurement: $((tb / 100)) s)"
		perf report -i "$W/perf.data" --stdio --no-children --sort comm,dso 2>/dev/null |
			grep -E '^ +[0-9]' | head -n 25 | sed 's/^/remote-cache: perf: /'
		perf report -i "$W/perf.data" --stdio --no-children --sort comm,dso,sym 2>/dev/null |
			grep -E '^ +[0-9]' | head -n 60 | sed 's/^/remote-cache: perf: /'
		continue
	fi
	say "cold blazy ahead=$k: $fsize bytes in $((tb / 100)).$((tb % 100 / 10)) s: $(mibs "$fsize" "$tb") MiB/s, $f fetches, VM busy $(busy "$c0" "$c1")%; blazy/curl $((fsize * tc * 100 / (tb * cb)))% (target >= 100%)"
done

# ---- warm: every chunk in the cache (the cold run above) ----
fio_iops() { # FILE -> IOPS
	fio --name=warm --filename="$1" --rw=randread --bs=4k --direct=1 --ioengine=io_uring \
		--iodepth=32 --time_based --runtime="$runtime" --randrepeat=0 --norandommap \
		--minimal 2>"$W/fio.err" | awk -F';' '$1 == 3 && $5 == 0 { print int($8); f = 1 } END { exit !f }'
}
: >"$W/http"; : >"$W/dir"
for i in $(seq "$reps"); do
	for kind in http dir; do
		if [ "$kind" = http ]; then
			mount_lazy "$url/" --cache-dir "$D/cache" || { fail "blazy mount (warm http)"; continue; }
		else
			mount_lazy "$D/web" || { fail "blazy mount (warm dir)"; continue; }
		fi
		iops=$(fio_iops "$M/big") || { cat "$W/fio.err"; fail "fio ($kind)"; iops=0; }
		js=$(blazy status --json "$M")
		f=$(echo "$js" | grep -o '"fetches":[0-9]*' | head -n1 | cut -d: -f2)
		blazy umount "$M" || fail "blazy umount"
		echo "$iops" >>"$W/$kind"
		say "rep $i warm $kind: $iops IOPS (store 0 fetches: ${f:-none})"
	done
done
h=$(median <"$W/http") d=$(median <"$W/dir")
[ "$d" -gt 0 ] || d=1
say "warm: http (all cached) $h IOPS, dir $d IOPS: http/dir $((h * 100 / d))% (target >= 95%; medians of $reps)"
say "---- end ----"
finish
