#!/bin/bash
# /.blazy/virtual has exactly the requested size and one regular extent per DATA chunk at the
# expected addresses, for 1 TiB, 1 PiB and 4 EiB (and a size that is not a chunk multiple):
# checked through the mounted filesystem (stat, FIEMAP, the chunk tree by TREE_SEARCH) and
# through btrfs-progs' dump of the fs tree.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs

CHUNK=$((1 << 47))
mkdir -p "$TEST_DIR/src"
echo hello >"$TEST_DIR/src/f"
for size in 1T 1P 4E 129T; do
	case $size in
	1T) bytes=$((1 << 40)) ;;
	1P) bytes=$((1 << 50)) ;;
	4E) bytes=$((4 << 60)) ;;
	129T) bytes=$((129 << 40)) ;;
	esac
	img=$TEST_DIR/seed-$size.img mnt=$TEST_DIR/mnt-$size
	run_check "$BLAZY" mkseed -q --rootdir "$TEST_DIR/src" --virtual-size "$size" "$img"
	json=$("$BLAZY" inspect --json "$img")
	voff=$(jnum offset virtual <<<"$json")
	nchunks=$(( (bytes + CHUNK - 1) / CHUNK ))
	[ "$(jnum size virtual <<<"$json")" = "$bytes" ] || fail "$size: inspect size"
	[ "$(jnum chunks virtual <<<"$json")" = "$nchunks" ] || fail "$size: inspect chunk count"
	[ "$(jnum device_size <<<"$json")" = $((voff + bytes)) ] || fail "$size: device size"
	# Extent items of the virtual inode, from btrfs-progs: "item N key (INO EXTENT_DATA OFF)"
	# followed by "... disk byte B nr N".
	ino=$(jnum inode virtual <<<"$json")
	seed_full "$img"
	check_seed "$img"
	btrfs inspect-internal dump-tree -t fs "$img" 2>/dev/null | awk -v ino="$ino" '
		$0 ~ "key \\(" ino " EXTENT_DATA " { split($0, a, "EXTENT_DATA "); split(a[2], b, ")"); off = b[1]; want = 1; next }
		want && /disk byte/ { for (i = 1; i <= NF; i++) { if ($i == "byte") d = $(i + 1); if ($i == "nr") n = $(i + 1) }
		                      print off, d, n; want = 0 }' >"$TEST_DIR/extents"
	[ "$(wc -l <"$TEST_DIR/extents")" = "$nchunks" ] || fail "$size: $(wc -l <"$TEST_DIR/extents") extents, want $nchunks"
	awk -v voff="$voff" -v chunk="$CHUNK" -v total="$bytes" '
		{ want_off = (NR - 1) * chunk; len = total - want_off; if (len > chunk) len = chunk
		  if ($1 != want_off || $2 != voff + want_off || $3 != len) { print "bad extent " NR ": " $0; bad = 1 } }
		END { exit bad }' "$TEST_DIR/extents" || fail "$size: extents are not one per chunk at the expected addresses"

	mount_seed "$img" "$mnt"
	[ "$(stat -c %s "$mnt/.blazy/virtual")" = "$bytes" ] || fail "$size: file size"
	# FIEMAP merges physically contiguous extents: together they must cover [voff, voff+bytes).
	"$BLZTEST" fiemap "$mnt/.blazy/virtual" | awk -v voff="$voff" -v total="$bytes" '
		{ if ($1 != next_off || $2 != voff + next_off) bad = 1; next_off += $3 }
		END { exit (bad || next_off != total) }' || fail "$size: FIEMAP does not cover the virtual area"
	# The chunk tree: DATA chunks tiling the virtual area, each <= 128 TiB, logical = physical.
	"$BLZTEST" chunks "$mnt" | awk -v voff="$voff" -v total="$bytes" -v chunk="$CHUNK" -v n="$nchunks" '
		$1 >= voff { if ($1 != voff + covered || $2 > chunk || $4 != $1 || $3 != 1) bad = 1; covered += $2; count++ }
		END { exit (bad || covered != total || count != n) }' || fail "$size: chunk tree does not tile the virtual area"
	unmount_seed "$mnt"
	rm -f "$img"
done
assert_no_leaks
