#!/bin/bash
# mkseed --oci: OCI image layouts built here with shell tools (tar, gzip, zstd, sha256sum,
# printf for the JSON). Three layers (plain, gzip, zstd) with whiteouts (deleted files, an
# opaque directory, an overwritten file) give the tree that tar -x of the layers gives with
# the whiteouts applied by hand, with and without --lazy; a REF picks one of two images; an
# index picks the platform. Blobs that are not what their descriptors say, bad JSON, bad
# media types and bad tars each exit 1 with a message naming the layer (and the entry), and
# leave neither OUTPUT nor OUTPUT.map.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs tar gzip zstd sha256sum setfattr

MT_TAR=application/vnd.oci.image.layer.v1.tar
MT_GZIP=application/vnd.oci.image.layer.v1.tar+gzip
MT_ZSTD=application/vnd.oci.image.layer.v1.tar+zstd
MT_DOCKER_GZIP=application/vnd.docker.image.rootfs.diff.tar.gzip
MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_INDEX=application/vnd.oci.image.index.v1+json
MT_CONFIG=application/vnd.oci.image.config.v1+json

# ---- building image layouts ----

sha() { sha256sum "$1" | cut -d' ' -f1; }

# put_blob LAYOUT FILE: moves FILE to LAYOUT/blobs/sha256/HEX; prints "sha256:HEX SIZE"
put_blob() {
	local h s
	h=$(sha "$2")
	s=$(stat -c %s "$2")
	mkdir -p "$1/blobs/sha256"
	mv "$2" "$1/blobs/sha256/$h"
	echo "sha256:$h $s"
}

# desc MEDIATYPE "DIGEST SIZE" [MORE-JSON]: a descriptor
desc() {
	printf '{"mediaType":"%s","digest":"%s","size":%s%s}' "$1" "${2% *}" "${2#* }" "${3:+,$3}"
}

blob_path() { echo "$1/blobs/sha256/${2#sha256:}"; } # blob_path LAYOUT DIGEST

# layer LAYOUT KIND TAR: stores TAR as a layer blob (KIND: tar, gzip, zstd, docker-gzip);
# appends its descriptor to DESCS, its diff_id to DIFFS, its digest to DIGESTS. $MT, if
# set, replaces the media type.
DESCS=() DIFFS=() DIGESTS=()
layer() {
	local t=$TEST_DIR/blob.tmp mt d
	case $2 in
	tar) cp "$3" "$t"; mt=$MT_TAR ;;
	gzip) gzip -c "$3" >"$t"; mt=$MT_GZIP ;;
	zstd) zstd -q -c "$3" >"$t"; mt=$MT_ZSTD ;;
	docker-gzip) gzip -9 -c "$3" >"$t"; mt=$MT_DOCKER_GZIP ;;
	esac
	d=$(put_blob "$1" "$t")
	DESCS+=("$(desc "${MT:-$mt}" "$d")")
	DIFFS+=("\"sha256:$(sha "$3")\"")
	DIGESTS+=("${d% *}")
}

# image LAYOUT [REF [PLATFORM-JSON]]: config and manifest blobs for DESCS and DIFFS, then
# oci-layout and index.json listing this manifest after those in ENTRIES; sets MANIFEST
# ("DIGEST SIZE") and appends the index entry to ENTRIES. Clears DESCS, DIFFS, DIGESTS.
ENTRIES=()
image() {
	local IFS=, cfg extra=""
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"${DIFFS[*]}" >"$TEST_DIR/config.tmp"
	cfg=$(put_blob "$1" "$TEST_DIR/config.tmp")
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_MANIFEST" \
		"$(desc "$MT_CONFIG" "$cfg")" "${DESCS[*]}" >"$TEST_DIR/manifest.tmp"
	MANIFEST=$(put_blob "$1" "$TEST_DIR/manifest.tmp")
	[ -z "${2:-}" ] || extra="\"annotations\":{\"org.opencontainers.image.ref.name\":\"$2\"}"
	[ -z "${3:-}" ] || extra="${extra:+$extra,}\"platform\":$3"
	ENTRIES+=("$(desc "$MT_MANIFEST" "$MANIFEST" "$extra")")
	printf '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
	printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' "$MT_INDEX" "${ENTRIES[*]}" \
		>"$1/index.json"
	DESCS=() DIFFS=() DIGESTS_LAST=("${DIGESTS[@]}") DIGESTS=()
}

new_layout() { rm -rf "$1"; mkdir -p "$1"; ENTRIES=(); }

# ---- the layers ----

ptar() { # ptar DIR TAR: a pax archive of DIR's contents, with xattrs
	tar --format=pax --xattrs --xattrs-include='*' -C "$1" -cf "$2" . 2>/dev/null
}

l1=$TEST_DIR/l1 l2=$TEST_DIR/l2 l3=$TEST_DIR/l3
mktree "$l1" basic
ptar "$l1" "$TEST_DIR/l1.tar"

# layer 2: a deleted file, an overwritten one, an opaque directory refilled, a whiteout of
# nothing, a new directory with a lazy-sized file
mkdir -p "$l2/files" "$l2/links" "$l2/emptydir" "$l2/newdir/sub"
: >"$l2/files/.wh.text"
"$BLZTEST" gen 7 5000 "$l2/files/size-2048"
: >"$l2/links/.wh..wh..opq"
echo "the only file left in links" >"$l2/links/new-in-opaque"
: >"$l2/emptydir/.wh.nothing-there"
"$BLZTEST" gen 8 300000 "$l2/newdir/big"
echo small >"$l2/newdir/sub/small"
ln "$l2/newdir/big" "$l2/newdir/big-link"
touch -d @1600000000.25 "$l2/newdir/sub/small" "$l2/newdir"
ptar "$l2" "$TEST_DIR/l2.tar"

# layer 3: a deleted directory, a file replaced by a directory, an opaque directory with
# new entries, a file of layer 2 overwritten, a symlink replacing a file
mkdir -p "$l3/files" "$l3/modes/file-0644" "$l3/newdir" "$l3/owners"
: >"$l3/.wh.deep"
echo inner >"$l3/modes/file-0644/inner"
: >"$l3/files/.wh..wh..opq"
"$BLZTEST" gen 9 70000 "$l3/files/after-opaque"
echo "overwritten in layer 3" >"$l3/newdir/big"
ln -s ../files/after-opaque "$l3/owners/dir-1000"
ptar "$l3" "$TEST_DIR/l3.tar"

# expect DEST TAR...: the tree of the layers by tar -x, with the whiteouts of each layer
# applied by hand before it is extracted, and directories that a layer replaces by
# something else removed (tar -x cannot replace a non-empty directory)
expect() {
	local dest=$1 t p d b
	shift
	mkdir -p "$dest"
	for t in "$@"; do
		while IFS= read -r p; do
			p=${p#./}
			[ -n "$p" ] || continue
			[[ $p != */ ]] || continue # directories: merged
			b=${p##*/}
			d=.
			[[ $p != */* ]] || d=${p%/*}
			case $b in
			.wh..wh..opq) find "$dest/$d" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + ;;
			.wh.*) rm -rf -- "${dest:?}/$d/${b#.wh.}" ;;
			*) if [ -d "$dest/$p" ] && [ ! -L "$dest/$p" ]; then rm -rf -- "${dest:?}/$p"; fi ;;
			esac
		done < <(tar -tf "$t")
		tar -C "$dest" -xf "$t" --exclude='.wh.*' --numeric-owner --xattrs --xattrs-include='*'
	done
}
want=$TEST_DIR/want
expect "$want" "$TEST_DIR/l1.tar" "$TEST_DIR/l2.tar" "$TEST_DIR/l3.tar"
[ ! -e "$want/files/text" ] && [ ! -e "$want/deep" ] && [ ! -e "$want/links/sym-a" ] &&
	[ -f "$want/links/new-in-opaque" ] && [ -d "$want/modes/file-0644" ] &&
	[ -L "$want/owners/dir-1000" ] || fail "the expected tree lacks the layers' changes"
mapfile -d '' ign < <(tar_ignores "$l1")

good=$TEST_DIR/good
new_layout "$good"
layer "$good" tar "$TEST_DIR/l1.tar"
layer "$good" gzip "$TEST_DIR/l2.tar"
layer "$good" zstd "$TEST_DIR/l3.tar"
image "$good" latest
LAYERS=("${DIGESTS_LAST[@]}")
MANIFEST_GOOD=${MANIFEST% *}

# ---- the tree, with and without --lazy ----

out=$TEST_DIR/out
mkdir -p "$out"
n=0
check_image() { # check_image WANT-DIR MKSEED-ARGS...: the seed holds WANT-DIR
	local want=$1 img=$out/seed.img mnt=$TEST_DIR/mnt$((n++))
	shift
	rm -rf "$img" "$img.map" "$img.store"
	run_check "$BLAZY" mkseed -q --virtual-size 1T "$@" "$img"
	seed_full "$img"
	check_seed "$img"
	[[ " $* " != *" --lazy "* ]] || run_check "$BLZTEST" materialize "$img" "$img"
	mount_seed "$img" "$mnt"
	run_check "$TREECMP" --ignore .blazy "${ign[@]}" "$want" "$mnt"
	unmount_seed "$mnt"
	rm -rf "$img" "$img.map" "$img.store"
}
check_image "$want" --oci "$good"
check_image "$want" --oci "$good:latest" --lazy
# the same layers as tars give the same tree
check_image "$want" --tar "$TEST_DIR/l1.tar" --tar "$TEST_DIR/l2.tar" --tar "$TEST_DIR/l3.tar"

# over --rootdir, and followed by a --tar (applied in command-line order)
base=$TEST_DIR/base over=$TEST_DIR/over
mkdir -p "$base/from-rootdir" "$over/added-after"
echo "under the image" >"$base/from-rootdir/f"
echo "on top" >"$over/added-after/f"
ptar "$over" "$TEST_DIR/over.tar"
want2=$TEST_DIR/want2
cp -a "$base" "$want2"
expect "$want2" "$TEST_DIR/l1.tar" "$TEST_DIR/l2.tar" "$TEST_DIR/l3.tar" "$TEST_DIR/over.tar"
check_image "$want2" --rootdir "$base" --oci "$good" --tar "$TEST_DIR/over.tar"

# ---- choosing an image ----

small() { # small DIR TAR TEXT: a one-file layer
	rm -rf "$1"
	mkdir -p "$1"
	echo "$3" >"$1/which"
	ptar "$1" "$2"
}
two=$TEST_DIR/two
new_layout "$two"
small "$TEST_DIR/s1" "$TEST_DIR/s1.tar" one
small "$TEST_DIR/s2" "$TEST_DIR/s2.tar" two
layer "$two" gzip "$TEST_DIR/s1.tar"
image "$two" v1
layer "$two" docker-gzip "$TEST_DIR/s2.tar"
image "$two" v2
ign=()
check_image "$TEST_DIR/s2" --oci "$two:v2"
check_image "$TEST_DIR/s1" --oci "$two:v1"
run_mustfail_msg "lists 2 images.*name one as DIR:REF.*v1 sha256:.*v2 sha256:" \
	"$BLAZY" mkseed -q --oci "$two" "$out/s.img"
run_mustfail_msg "no image named 'v3' in '$two/index.json' \\(names: v1, v2\\)" \
	"$BLAZY" mkseed -q --oci "$two:v3" "$out/s.img"

# a nested index: this machine's platform, or --platform; ambiguous ones are listed
host=$(uname -m)
case $host in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$host ;; esac
multi=$TEST_DIR/multi
new_layout "$multi"
layer "$multi" tar "$TEST_DIR/s1.tar"
image "$multi"
m_host=$MANIFEST
layer "$multi" zstd "$TEST_DIR/s2.tar"
image "$multi"
m_other=$MANIFEST
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s,%s]}' "$MT_INDEX" \
	"$(desc "$MT_MANIFEST" "$m_other" '"platform":{"architecture":"riscv64","os":"linux"}')" \
	"$(desc "$MT_MANIFEST" "$m_host" "\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"}")" \
	>"$TEST_DIR/index.tmp"
nested=$(put_blob "$multi" "$TEST_DIR/index.tmp")
printf '{"schemaVersion":2,"manifests":[%s]}' \
	"$(desc "$MT_INDEX" "$nested" '"annotations":{"org.opencontainers.image.ref.name":"multi"}')" \
	>"$multi/index.json"
check_image "$TEST_DIR/s1" --oci "$multi:multi"
check_image "$TEST_DIR/s2" --oci "$multi" --platform linux/riscv64
run_mustfail_msg "index sha256:[0-9a-f]{64} has no image for linux/s390x \\(it has: sha256:.*linux/riscv64; sha256:.*linux/$arch\\)" \
	"$BLAZY" mkseed -q --oci "$multi" --platform linux/s390x "$out/s.img"
run_check "$BLAZY" mkseed --oci "$multi" --platform linux/riscv64/v9 "$out/s.img"
rm -f "$out/s.img"

# ---- bad input: exit 1, the layer (and entry) named, no OUTPUT or OUTPUT.map ----

# must_fail REGEX MKSEED-ARGS...: mkseed exits 1, stderr matches, nothing is left in $out
must_fail() {
	local re=$1 rc=0
	shift
	echo "+ (must fail with /$re/) blazy mkseed $*" >&2
	"$BLAZY" mkseed -q "$@" "$out/s.img" 2>"$TEST_DIR/stderr" || rc=$?
	cat "$TEST_DIR/stderr" >&2
	[ "$rc" = 1 ] || fail "exit status $rc (want 1) from mkseed $*"
	grep -Eq -- "$re" "$TEST_DIR/stderr" || fail "stderr does not match /$re/: mkseed $*"
	local left
	left=$(ls -A "$out")
	[ -z "$left" ] || fail "left behind after mkseed $*: $left"
}

bad=$TEST_DIR/bad
# copy_good: a fresh copy of the good layout in $bad
copy_good() { rm -rf "$bad"; cp -a "$good" "$bad"; }
# flip FILE OFFSET: invert one byte
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf '%03o' $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
L1=${LAYERS[0]} L2=${LAYERS[1]} L3=${LAYERS[2]}

# a flipped byte in the gzip layer (it also breaks the stream: the digest is the reason
# given), and in the plain layer's file data (the tar reads fine: found at the layer's end)
copy_good
flip "$(blob_path "$bad" "$L2")" 5000
must_fail "error: layer 2/3 $L2: digest mismatch \\(got sha256:[0-9a-f]{64}\\)" --oci "$bad"
copy_good
off=$(grep -abo 'hello, world' "$(blob_path "$bad" "$L1")" | head -n1 | cut -d: -f1)
[ -n "$off" ] || fail "no file data found in layer 1"
flip "$(blob_path "$bad" "$L1")" "$off"
must_fail "error: layer 1/3 $L1: digest mismatch" --oci "$bad"
must_fail "error: layer 1/3 $L1: digest mismatch" --oci "$bad" --lazy

# a blob missing; one of another size than its descriptor says
copy_good
rm "$(blob_path "$bad" "$L3")"
must_fail "error: layer 3/3 $L3: cannot open '$bad/blobs/sha256/${L3#sha256:}': No such file" --oci "$bad"
copy_good
echo extra >>"$(blob_path "$bad" "$L3")"
must_fail "error: layer 3/3 $L3: size mismatch: the descriptor says [0-9]+ bytes, the blob has [0-9]+" --oci "$bad"

# the manifest blob changed (same size), a diff_id that is not the layer's
copy_good
sed -i 's/"schemaVersion":2/"schemaVersion":3/' "$(blob_path "$bad" "$MANIFEST_GOOD")"
must_fail "error: manifest $MANIFEST_GOOD: digest mismatch \\(got sha256:" --oci "$bad"

rebuild() { # rebuild KIND1 KIND2 KIND3 [TAR1 TAR2 TAR3]: $bad from layers, $MT/$DIFF hooks
	new_layout "$bad"
	layer "$bad" "$1" "${4:-$TEST_DIR/l1.tar}"
	layer "$bad" "$2" "${5:-$TEST_DIR/l2.tar}"
	layer "$bad" "$3" "${6:-$TEST_DIR/l3.tar}"
	[ -z "${DIFF2:-}" ] || DIFFS[1]="\"sha256:$DIFF2\""
	image "$bad" latest
}
DIFF2=$(sha "$TEST_DIR/l3.tar") rebuild tar gzip zstd
must_fail "error: layer 2/3 ${DIGESTS_LAST[1]}: diff_id mismatch: the uncompressed layer is sha256:$(sha "$TEST_DIR/l2.tar"), the config says sha256:$(sha "$TEST_DIR/l3.tar")" --oci "$bad"

# media types: unknown, non-distributable, encrypted, one that lies about the compression
MT=application/x-foo rebuild tar gzip zstd
must_fail "error: layer 1/3 sha256:[0-9a-f]{64}: unsupported layer media type 'application/x-foo'" --oci "$bad"
MT=application/vnd.oci.image.layer.nondistributable.v1.tar+gzip rebuild gzip gzip gzip
must_fail "unsupported layer media type 'application/vnd.oci.image.layer.nondistributable.v1.tar\\+gzip' \\(non-distributable layers are not supported\\)" --oci "$bad"
MT=application/vnd.oci.image.layer.v1.tar+gzip+encrypted rebuild gzip gzip gzip
must_fail "\\(encrypted layers are not supported\\)" --oci "$bad"
new_layout "$bad"
layer "$bad" tar "$TEST_DIR/l1.tar"
MT=$MT_GZIP layer "$bad" zstd "$TEST_DIR/l2.tar"
image "$bad"
must_fail "error: layer 2/2 ${DIGESTS_LAST[1]}: the media type '${MT_GZIP//+/\\+}' says gzip, but the data is zstd" --oci "$bad"

# digests: a path in one, another algorithm
copy_good
sed -i "s|$L2|sha256:../../../../etc/passwd|" "$bad/blobs/sha256/${MANIFEST_GOOD#sha256:}"
mv "$bad/blobs/sha256/${MANIFEST_GOOD#sha256:}" "$TEST_DIR/manifest.tmp"
printf '{"schemaVersion":2,"manifests":[%s]}' "$(desc "$MT_MANIFEST" "$(put_blob "$bad" "$TEST_DIR/manifest.tmp")")" >"$bad/index.json"
must_fail "error: layer 2/3: invalid digest 'sha256:../../../../etc/passwd'" --oci "$bad"
copy_good
printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"sha512:%0128d","size":10}]}' \
	"$MT_MANIFEST" 0 >"$bad/index.json"
must_fail "unsupported digest algorithm in 'sha512:0000.*' \\(only sha256\\)" --oci "$bad"

# malformed JSON; not a layout
copy_good
printf '{"schemaVersion":2,"manifests":[],}' >"$bad/index.json"
must_fail "'$bad/index.json': invalid JSON: expected a member name \\(a string\\), found '\\}' at line 1, column 35" --oci "$bad"
rm "$bad/oci-layout"
must_fail "cannot open '$bad/oci-layout': No such file or directory" --oci "$bad"

# bad tars inside layers: truncated gzip, '..', an absurd size, a hard link to nothing
{ gzip -c "$TEST_DIR/l2.tar" || true; } | head -c 30000 >"$TEST_DIR/trunc.gz"
new_layout "$bad"
cp "$TEST_DIR/trunc.gz" "$TEST_DIR/blob.tmp"
DESCS=("$(desc "$MT_GZIP" "$(put_blob "$bad" "$TEST_DIR/blob.tmp")")")
DIFFS=("\"sha256:$(sha "$TEST_DIR/l2.tar")\"")
image "$bad"
must_fail "error: layer 1/1 sha256:[0-9a-f]{64}: unexpected end of archive in '[^']+' \\(gzip stream truncated\\)" --oci "$bad"

t=$TEST_DIR/t
mkdir -p "$t/d"
echo data >"$t/d/file"
tar -C "$t" -cf "$TEST_DIR/dotdot.tar" --transform 's,^d/file$,../x,' d/file
new_layout "$bad"
layer "$bad" gzip "$TEST_DIR/dotdot.tar"
image "$bad"
must_fail "error: layer 1/1 ${DIGESTS_LAST[0]}: refusing path '../x' with a '..' component" --oci "$bad"

tar -C "$t" -cf "$TEST_DIR/huge.tar" d/file
# the size field (bytes 124-135) as base-256 2^88-1, and the header checksum redone
printf '\x80\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff' |
	dd of="$TEST_DIR/huge.tar" bs=1 seek=124 conv=notrunc status=none
printf '        ' | dd of="$TEST_DIR/huge.tar" bs=1 seek=148 conv=notrunc status=none
sum=$(od -An -tu1 -v -N 512 "$TEST_DIR/huge.tar" | tr -s ' ' '\n' | awk '{s += $1} END {print s}')
printf '%06o\0 ' "$sum" | dd of="$TEST_DIR/huge.tar" bs=1 seek=148 conv=notrunc status=none
new_layout "$bad"
layer "$bad" zstd "$TEST_DIR/huge.tar"
image "$bad"
must_fail "error: layer 1/1 ${DIGESTS_LAST[0]}: size out of range in header at offset 0 \\(entry 'd/file'\\)" --oci "$bad"

ln "$t/d/file" "$t/d/link"
tar -C "$t" -cf "$TEST_DIR/hl.tar" --transform 's,^d/file$,d/other,' d/file d/link 2>/dev/null
tar --delete -f "$TEST_DIR/hl.tar" d/other 2>/dev/null || true
new_layout "$bad"
layer "$bad" tar "$TEST_DIR/hl.tar"
image "$bad"
must_fail "error: layer 1/1 ${DIGESTS_LAST[0]}: hard link 'd/link' points to 'd/other', which is not in the archive" --oci "$bad" --lazy

# misuse
rc=0
"$BLAZY" mkseed --oci "$good" --oci "$good" "$out/s.img" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "--oci twice: exit status $rc (want 2)"
rc=0
"$BLAZY" mkseed --platform linux/amd64 --tar "$TEST_DIR/l1.tar" "$out/s.img" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "--platform without --oci: exit status $rc (want 2)"
must_fail "invalid platform 'linux'" --oci "$good" --platform linux
[ -z "$(ls -A "$out")" ] || fail "left behind: $(ls -A "$out")"
grep -q -- '--oci DIR\[:REF\]' <<<"$("$BLAZY" mkseed --help)" || fail "mkseed --help lacks --oci"
assert_no_leaks
