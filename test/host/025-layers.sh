#!/bin/bash
# Layered tars (--tar repeated): three layers with OCI whiteouts (a deleted file, a deleted
# directory, an opaque directory), overwritten files, a file replacing a directory and a
# directory replacing a file, import to exactly the tree that extracting the layers in order
# with `tar -x` (whiteouts applied by this script) gives; plain and --lazy. Then --local and
# --local-list keep the chosen files' data in the image and only those.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs tar

L=$TEST_DIR/layers img=$TEST_DIR/seed.img mnt=$TEST_DIR/mnt ref=$TEST_DIR/ref
mkdir -p "$L"/{1,2,3}

# Layer 1: the base.
mkdir -p "$L/1/etc/conf.d" "$L/1/opq/sub" "$L/1/gone-dir/x" "$L/1/becomes-file" "$L/1/keep"
echo base >"$L/1/etc/motd"
echo a >"$L/1/etc/conf.d/a"
echo b >"$L/1/etc/conf.d/b"
head -c 300000 /dev/urandom >"$L/1/opq/old-big"
echo old >"$L/1/opq/sub/old"
echo x >"$L/1/gone-dir/x/y"
echo f >"$L/1/becomes-file/inner"
echo file >"$L/1/becomes-dir"
head -c 200000 /dev/urandom >"$L/1/keep/big1"
head -c 100000 /dev/urandom >"$L/1/deleted-big"
ln -s etc/motd "$L/1/motd-link"
# Layer 2: whiteouts of a file and a directory, an opaque directory with new contents
# (including one entry listed before the marker), an overwrite, type changes.
mkdir -p "$L/2/etc/conf.d" "$L/2/opq" "$L/2/becomes-dir" "$L/2/keep"
touch "$L/2/etc/conf.d/.wh.a" "$L/2/.wh.gone-dir" "$L/2/.wh.deleted-big" "$L/2/.wh.not-there"
echo new >"$L/2/opq/new"
touch "$L/2/opq/.wh..wh..opq"
echo layer2 >"$L/2/etc/motd"
echo now-a-file >"$L/2/becomes-file.tmp"
echo inside >"$L/2/becomes-dir/inside"
head -c 250000 /dev/urandom >"$L/2/keep/big2"
# Layer 3: re-create something deleted in layer 2, overwrite again, whiteout of an entry
# added in layer 3 itself (must not apply: whiteouts only hide lower layers).
mkdir -p "$L/3/etc/conf.d" "$L/3/gone-dir"
echo back >"$L/3/etc/conf.d/a"
echo layer3 >"$L/3/etc/motd"
echo reborn >"$L/3/gone-dir/z"
echo same-layer >"$L/3/self"
touch "$L/3/.wh.self"
head -c 400000 /dev/urandom >"$L/3/big3"
head -c 1000 /dev/urandom >"$L/3/mid"

tars=()
for n in 1 2 3; do
	# Layer 2 turns the directory becomes-file into a file: the archive needs a whiteout
	# of the directory (as image builders emit) and the file itself.
	if [ "$n" = 2 ]; then
		touch "$L/2/.wh.becomes-file"
		mv "$L/2/becomes-file.tmp" "$L/2/becomes-file"
	fi
	tar --format=pax -C "$L/$n" -cf "$TEST_DIR/l$n.tar" .
	tars+=(--tar "$TEST_DIR/l$n.tar")
done
# Layer 1 also replaces becomes-dir (a file) by a directory in layer 2 without a whiteout:
# an entry of another type replaces the old one, as with tar -x.

# The reference: extract the layers in order, applying whiteouts by hand before each layer.
mkdir -p "$ref"
for n in 1 2 3; do
	while IFS= read -r -d '' wh; do
		rel=${wh#"$L/$n"/}
		dir=$(dirname "$rel") base=$(basename "$rel")
		if [ "$base" = .wh..wh..opq ]; then
			[ -d "$ref/$dir" ] && find "$ref/$dir" -mindepth 1 -delete
		else
			rm -rf "${ref:?}/$dir/${base#.wh.}"
		fi
	done < <(find "$L/$n" -name '.wh.*' -print0)
	# tar -x merges directories and replaces files, but does not replace a directory by a
	# file or the other way round: remove those first.
	while IFS= read -r -d '' p; do
		rel=${p#"$L/$n"/}
		isdir() { [ -d "$1" ] && [ ! -L "$1" ]; }
		if { [ -e "$ref/$rel" ] || [ -L "$ref/$rel" ]; } && { isdir "$p" && ! isdir "$ref/$rel" || ! isdir "$p" && isdir "$ref/$rel"; }; then
			rm -rf "${ref:?}/$rel"
		fi
	done < <(find "$L/$n" -mindepth 1 -not -name '.wh.*' -print0)
	tar -C "$ref" --exclude='.wh.*' -xf "$TEST_DIR/l$n.tar"
done
# Layer 3 added "self" and whited it out in the same layer: it stays.
[ -f "$ref/self" ] || fail "reference: self missing"
[ ! -e "$ref/etc/conf.d/b" ] || [ -f "$ref/etc/conf.d/b" ] || fail "reference: conf.d/b"
[ ! -e "$ref/opq/old-big" ] && [ ! -e "$ref/opq/sub" ] && [ -f "$ref/opq/new" ] ||
	fail "reference: the opaque directory is not as expected"
[ "$(cat "$ref/etc/motd")" = layer3 ] || fail "reference: motd"

run_check "$BLAZY" mkseed -q "${tars[@]}" --virtual-size 0 "$img"
check_seed "$img"
mount_seed "$img" "$mnt"
run_check "$TREECMP" --ignore .blazy "$ref" "$mnt"
for p in opq/old-big opq/sub gone-dir/x etc/conf.d/.wh.a .wh.gone-dir opq/.wh..wh..opq deleted-big; do
	[ ! -e "$mnt/$p" ] && [ ! -L "$mnt/$p" ] || fail "$p should not exist in the seed"
done
[ "$(cat "$mnt/self")" = same-layer ] || fail "a same-layer whiteout was applied"
[ -d "$mnt/becomes-dir" ] && [ -f "$mnt/becomes-file" ] || fail "type changes were not applied"
unmount_seed "$mnt"

# --lazy, with --local for one directory and --local-list for one file.
rm -f "$img"
printf '# hot\n/big3\n' >"$TEST_DIR/hot.list"
json=$(run_check "$BLAZY" mkseed --json --lazy "${tars[@]}" --virtual-size 1T --local 'keep/*' \
	--local-list "$TEST_DIR/hot.list" "$img")
echo "$json"
local_bytes=$(jnum local_data_bytes <<<"$json")
want=$(( (200000 + 4095) / 4096 * 4096 + (250000 + 4095) / 4096 * 4096 + (400000 + 4095) / 4096 * 4096 ))
[ "$local_bytes" = "$want" ] || fail "local data is $local_bytes bytes, expected $want (keep/* and big3)"
seed_full "$img"
check_seed "$img"
run_check "$BLZTEST" materialize "$img" "$img"
mount_seed "$img" "$mnt"
run_check "$TREECMP" --ignore .blazy "$ref" "$mnt"
lazy_start=$((512 << 30))
for f in keep/big1 keep/big2 big3 opq/new; do
	phys=$("$BLZTEST" fiemap "$mnt/$f" | awk 'NR == 1 {print $2}')
	case $f in
	opq/new) ;; # inline: no extent
	*) [ -n "$phys" ] && [ "$phys" -lt "$lazy_start" ] || fail "$f is not in the local region ($phys)" ;;
	esac
done
# With --lazy, files over 512 bytes are lazy (the default inline limit of lazy seeds).
phys=$("$BLZTEST" fiemap "$mnt/mid" | awk 'NR == 1 {print $2}')
[ -n "$phys" ] && [ "$phys" -ge "$lazy_start" ] || fail "mid (1000 bytes) is not lazy ($phys)"
unmount_seed "$mnt"
# --inline-max 2048 keeps it inline (FIEMAP_EXTENT_DATA_INLINE).
rm -rf "$img" "$img.map" "$img.store"
run_check "$BLAZY" mkseed -q --lazy --inline-max 2048 "${tars[@]}" --virtual-size 1T "$img"
seed_full "$img"
run_check "$BLZTEST" materialize "$img" "$img"
mount_seed "$img" "$mnt"
flags=$("$BLZTEST" fiemap "$mnt/mid" | awk 'NR == 1 {print $4}')
[ $(( ${flags:-0} & 0x200 )) != 0 ] || fail "mid is not inline with --inline-max 2048 (flags $flags)"
cmp "$L/3/mid" "$mnt/mid" || fail "mid differs"
unmount_seed "$mnt"
run_mustfail_msg "invalid --inline-max" "$BLAZY" mkseed -f --lazy --inline-max 4096 "${tars[@]}" "$img"
# Everything else that is not inline went to the import area.
rm -rf "$img" "$img.map" "$img.store"
json=$(run_check "$BLAZY" mkseed --json --lazy "${tars[@]}" --virtual-size 1T "$img")
[ "$(jnum local_data_bytes <<<"$json")" = 0 ] || fail "without --local, data stayed in the image"

# A bad layer names its number, file and entry, and leaves no image, map or store behind.
bad=$TEST_DIR/bad
mkdir -p "$bad/d"
head -c 50000 /dev/urandom >"$bad/d/file"
tar -C "$bad" -cf "$TEST_DIR/dotdot.tar" --transform 's,^d/file$,../escape,' d/file
tar -C "$bad" -cf "$TEST_DIR/full.tar" d/file
head -c 30000 "$TEST_DIR/full.tar" >"$TEST_DIR/trunc.tar"
ln "$bad/d/file" "$bad/d/link"
tar -C "$bad" -cf "$TEST_DIR/hl-missing.tar" --transform 's,^d/file$,d/other,' d/file d/link 2>/dev/null
tar --delete -f "$TEST_DIR/hl-missing.tar" d/other
for case in "dotdot.tar:refusing path '../escape'" "trunc.tar:unexpected end of archive in 'd/file'" \
	"hl-missing.tar:hard link 'd/link' points to 'd/other'"; do
	t=${case%%:*} msg=${case#*:}
	rm -rf "$TEST_DIR/x.img"*
	run_mustfail_msg "layer 3/3 \($TEST_DIR/$t\): $msg" "$BLAZY" mkseed --lazy --tar "$TEST_DIR/l1.tar" \
		--tar "$TEST_DIR/l2.tar" --tar "$TEST_DIR/$t" "$TEST_DIR/x.img"
	[ ! -e "$TEST_DIR/x.img" ] && [ ! -e "$TEST_DIR/x.img.map" ] || fail "$t: an image or map was left"
	[ -z "$(find "$TEST_DIR/x.img.store" -name '.tmp*' 2>/dev/null)" ] || fail "$t: temporary chunks left"
done

# Bad list: a NUL byte; an unreadable list; --local without --lazy.
printf 'a\0b\n' >"$TEST_DIR/bad.list"
run_mustfail_msg "line 1 is not a path" "$BLAZY" mkseed -f --lazy "${tars[@]}" --local-list "$TEST_DIR/bad.list" "$img"
run_mustfail_msg "cannot read the list" "$BLAZY" mkseed -f --lazy "${tars[@]}" --local-list "$TEST_DIR/none" "$img"
run_mustfail_msg "go with --lazy" "$BLAZY" mkseed -f "${tars[@]}" --local 'x' "$img"
assert_no_leaks
