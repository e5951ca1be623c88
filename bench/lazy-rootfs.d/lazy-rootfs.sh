#!/bin/sh
# VM side of bench/lazy-rootfs (busybox sh): /dev/vda holds seed.img (+ .map, .store),
# rootfs.tar and mkseed.json. Per rep, page cache dropped first:
#   lazy: blazy mount (from nothing) + chroot /bin/ls /
#   tar:  mkfs.btrfs on brd + mount + GNU tar -x + chroot /bin/ls /
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
D=/disk M=/mnt/lazy T=/mnt/tar
export BLAZY_STATE_DIR=/tmp/state
reps=$(sed -n 's/.*lazyrootfs\.reps=\([0-9]*\).*/\1/p' /proc/cmdline)
reps=${reps:-3}
say() { echo "lazy-rootfs: $*"; }
bench_cleanup() {
	_rc=$?
	blazy umount "$M" >/dev/null 2>&1
	for m in "$T" "$M" "$D"; do grep -q " $m " /proc/mounts && umount "$m"; done
	(exit "$_rc")
	ublk_cleanup
}
trap bench_cleanup EXIT
field() { grep -o "\"$1\":[0-9]*" | head -n1 | cut -d: -f2; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

mkdir -p "$D" "$M" "$T"
wait_until 10 test -b /dev/vda || { fail "no /dev/vda"; finish; }
mount -t btrfs /dev/vda "$D" || { fail "cannot mount the disk"; finish; }
stored=$(field stored_bytes <"$D/mkseed.json")
tarsize=$(wc -c <"$D/rootfs.tar")
modprobe -r brd 2>/dev/null
modprobe brd rd_nr=1 rd_size=$((600 * 1024)) || { fail "brd"; finish; }
: >/tmp/t.lazy; : >/tmp/t.tar; : >/tmp/fetched
for i in $(seq "$reps"); do
	rm -rf /tmp/state /tmp/rw.img
	drop
	t0=$(now_cs)
	blazy mount -q "$D/seed.img" "$M" --rw /tmp/rw.img --rw-size 256M || { fail "blazy mount"; break; }
	out=$(chroot "$M" /bin/ls /)
	t1=$(now_cs)
	echo "$out" | grep -qx usr || fail "lazy: no output from ls"
	echo $((t1 - t0)) >>/tmp/t.lazy
	f=$(blazy status --json "$M" | field store_bytes)
	echo "$f" >>/tmp/fetched
	blazy umount "$M" || fail "blazy umount"
	say "rep $i lazy: $((t1 - t0)) cs to the first output, $f bytes fetched"

	drop
	t0=$(now_cs)
	/usr/local/bin/mkfs.btrfs -q -f /dev/ram0 >/dev/null && mount /dev/ram0 "$T" &&
		/usr/local/bin/tar --numeric-owner --xattrs --xattrs-include='*' -C "$T" -xf "$D/rootfs.tar" ||
		{ fail "tar baseline"; break; }
	out=$(chroot "$T" /bin/ls /)
	t1=$(now_cs)
	echo "$out" | grep -qx usr || fail "tar: no output from ls"
	echo $((t1 - t0)) >>/tmp/t.tar
	umount "$T"
	say "rep $i tar: $((t1 - t0)) cs to the first output"
done
tl=$(median </tmp/t.lazy) tt=$(median </tmp/t.tar) fm=$(median </tmp/fetched)
[ "$tl" -gt 0 ] || tl=1
say "stored bytes $stored, rootfs tar $tarsize bytes"
say "lazy (blazy mount + chroot ls /): median $((tl / 100)).$((tl % 100 / 10)) s; tar -x onto btrfs on brd + chroot ls /: median $((tt / 100)).$((tt % 100 / 10)) s ($reps reps)"
say "ratio tar/lazy: $((tt * 100 / tl / 100)).$((tt * 100 / tl % 100))x (target >= 5): $([ $((tt)) -ge $((tl * 5)) ] && echo met || echo NOT met)"
say "fetched: $fm of $stored stored bytes = $((fm * 1000 / stored / 10)).$((fm * 1000 / stored % 10))% (target <= 10%): $([ $((fm * 10)) -le "$stored" ] && echo met || echo NOT met)"
say "---- end ----"
finish
