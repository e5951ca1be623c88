#!/bin/bash
# Regenerates the seed corpora in test/fuzz/corpus/<harness>/ from real inputs: tars made
# by tar(1) in every format and compression, seeds, map journals and store chunks made by
# blazy mkseed, OCI layouts like test/host/085-oci.sh builds. Run by hand after a format
# changes (scripts/fuzz only replays what is committed); keep the total small.
#   test/fuzz/make-corpus.sh BLAZY FUZZ_BUILD_DIR
set -euo pipefail
blazy=$1
seedpages=$2/test/fuzz/seed-pages
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/test/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SOURCE_DATE_EPOCH=1700000000
rm -rf "$out"
mkdir -p "$out"/{tar,inflate,json,oci,seed,map,chunk,control,fetches,exec,diskcache}

# A small tree with every file type tar and blazy handle.
src=$tmp/src
mkdir -p "$src/dir/sub" "$src/empty"
echo hello >"$src/a"
head -c 3000 /dev/urandom >"$src/dir/random"
printf 'x%.0s' $(seq 5000) >"$src/dir/sub/text"
ln -s a "$src/link"
ln "$src/a" "$src/hard"
mkfifo "$src/fifo"
setfattr -n user.note -v blazy "$src/a"
long=$src/dir/$(printf 'n%.0s' $(seq 120))
mkdir -p "$long" && echo deep >"$long/$(printf 'f%.0s' $(seq 110))"
truncate -s 20000 "$src/sparse"

# tar: each format, plain, gzip and zstd
for fmt in ustar pax gnu; do
	tar --format=$fmt --xattrs --owner=0 --group=0 --mtime=@1700000000 -C "$src" -cf \
		"$tmp/$fmt.tar" . 2>/dev/null || tar --format=$fmt -C "$src" -cf "$tmp/$fmt.tar" .
	cp "$tmp/$fmt.tar" "$out/tar/$fmt.tar"
	gzip -n -9 <"$tmp/$fmt.tar" >"$out/tar/$fmt.tar.gz"
	zstd -q -19 <"$tmp/$fmt.tar" >"$out/tar/$fmt.tar.zst"
done

# inflate: the first byte is the piece size (0: all at once)
for f in "$out"/tar/*.gz; do
	for step in '\000' '\001' '\007'; do
		{ printf "$step"; cat "$f"; } >"$out/inflate/$(basename "$f").$(printf "$step" | od -An -tu1 | tr -d ' ')"
	done
done
{ printf '\000'; printf 'stored' | gzip -n -1; printf 'again' | gzip -n -9; } >"$out/inflate/two-members"

# oci: oci-layout NUL index NUL manifest NUL config NUL layer ($L/$l $C/$c $M/$m: digests, sizes)
oci() { # oci NAME MEDIATYPE LAYERFILE
	local mt=$2
	{
		printf '{"imageLayoutVersion":"1.0.0"}\0'
		printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$M","size":$m,"annotations":{"org.opencontainers.image.ref.name":"latest"},"platform":{"architecture":"amd64","os":"linux"}}]}\0'
		printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$C","size":$c},"layers":[{"mediaType":"%s","digest":"$L","size":$l}]}\0' "$mt"
		printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["$L"]}}\0'
		cat "$3"
	} >"$out/oci/$1"
}
oci plain application/vnd.oci.image.layer.v1.tar "$out/tar/pax.tar"
oci gzip application/vnd.oci.image.layer.v1.tar+gzip "$out/tar/ustar.tar.gz"
oci zstd application/vnd.oci.image.layer.v1.tar+zstd "$out/tar/gnu.tar.zst"

# json: the OCI documents above, and the grammar's corners
i=0
while IFS= read -r -d '' part; do
	i=$((i + 1))
	[ $i -le 4 ] && printf '%s' "$part" >"$out/json/oci-$i.json"
done <"$out/oci/plain"
printf '%s' '[1,-0.5e+10,"\u00e9\ud83d\ude00\n",true,false,null,{"a":{"b":[[]]}},12345678901234567890]' >"$out/json/values.json"
printf '%s' '{"k":"caf\u00e9 \u4e2d","e":"\"\\\/\b\f\n\r\t","n":0}' >"$out/json/strings.json"

# seed, map, chunk: from blazy mkseed (local, and lazy with a store and a map)
"$blazy" mkseed -q --rootdir "$src" --virtual-size 1T --uuid 01234567-89ab-cdef-0123-456789abcdef \
	"$tmp/local.img"
"$blazy" mkseed -q --lazy --rootdir "$src" --virtual-size 1P \
	--uuid 01234567-89ab-cdef-0123-456789abcdee "$tmp/lazy.img"
"$blazy" mkseed -q --rootdir "$src" --virtual-size 0 --label "no virtual area" \
	--uuid 01234567-89ab-cdef-0123-456789abcded "$tmp/novirt.img"
for s in local lazy novirt; do
	"$seedpages" "$tmp/$s.img" >"$out/seed/$s"
done
{ printf '\003'; cat "$tmp/lazy.img.map"; } >"$out/map/lazy"
{ printf '\000'; cat "$tmp/lazy.img.map"; } >"$out/map/lazy-nofix"
{ printf '\001'; head -c 64 "$tmp/lazy.img.map"; } >"$out/map/empty"
n=0
for c in $(find "$tmp/lazy.img.store" -type f | sort | head -n 6); do
	n=$((n + 1))
	cp "$c" "$out/chunk/chunk-$n"
	chmod 644 "$out/chunk/chunk-$n"
done
printf 'raw chunk' >"$tmp/raw"
# a raw (codec 0) chunk by hand: magic, version 1, codec 0, length, stored length, digest, crc
{
	printf 'BLZCHUNK\001\000\000\000\011\000\000\000\011\000\000\000'
	sha256sum "$tmp/raw" | cut -c1-64 | xxd -r -p
	printf '\000\000\000\000'
	cat "$tmp/raw"
} >"$out/chunk/raw" 2>/dev/null || rm -f "$out/chunk/raw"

# control: first byte even = a request to the server, odd = a reply to the client
printf '\000status\n' >"$out/control/status"
printf '\000stop\n' >"$out/control/stop"
printf '\000fetches\n' >"$out/control/fetches"
printf '\000no such verb\n' >"$out/control/unknown"
printf '\001ok\n{"device":"/dev/ublkb0"}\n' >"$out/control/reply-ok"
printf '\001error: unknown request\n' >"$out/control/reply-error"

# fetches: the wire format of lazy/fetches.h
printf 'blazy-fetches 1 0\nlocal 0 1048576 3 12288 0 0+8192,65536+4096\nimport 549755813888 4194304 1 16384 1 0+16384\nvirtual 562949953421312 8192 2 8192 1 0+8192\n' >"$out/fetches/three"
printf 'blazy-fetches 1 7\n' >"$out/fetches/empty"
# exec: what contrib/fetchers/blazy-fetch-dir answers (byte 0: piece size, byte 1: bound)
exec_corpus() { # exec_corpus NAME PIECE BOUND STORE [REQUEST...]
	local name=$1 piece=$2 bound=$3 store=$4
	shift 4
	{
		printf "\\$(printf %03o "$piece")\\$(printf %03o "$bound")"
		{ echo "blazy-fetch 1"; for r in "$@"; do echo "get $r"; done; } |
			sh "$top/contrib/fetchers/blazy-fetch-dir" "$store"
	} >"$out/exec/$name"
}
chunks=$(find "$tmp/lazy.img.store" -type f -name '[0-9a-f]*' | sort | head -n 3)
hexes=$(for c in $chunks; do basename "$c"; done)
# shellcheck disable=SC2086
exec_corpus three 0 0 "$tmp/lazy.img.store" $hexes
# shellcheck disable=SC2086
exec_corpus three-bytewise 1 0 "$tmp/lazy.img.store" $hexes
exec_corpus missing 7 0 "$tmp/lazy.img.store" "$(printf '0%.0s' $(seq 64))" bad
exec_corpus too-big 3 200 "$tmp/lazy.img.store" $(echo "$hexes" | head -n 1)
printf '\000\000blazy-fetch 1\nerror transient throttled\nerror permanent access denied\nok 3\nabcmissing\n' >"$out/exec/errors"
printf '\005\000blazy-fetch 2\n' >"$out/exec/version"

# diskcache: records "u8 kind, u32 mtime, u16 length, bytes" (test/fuzz/fuzz_diskcache.c)
dc_rec() { # dc_rec KIND MTIME FILE
	local n
	n=$(stat -c %s "$3")
	printf "\\$(printf %03o "$1")"
	printf '%08x' "$2" | sed -E 's/(..)(..)(..)(..)/\4\3\2\1/' | xxd -r -p
	printf '%04x' "$n" | sed -E 's/(..)(..)/\2\1/' | xxd -r -p
	cat "$3"
}
# the chunks above (mkseed's two and the raw one, whose crc kind 0 fixes up)
set -- "$out"/chunk/chunk-1 "$out"/chunk/chunk-2 "$out"/chunk/raw
{ printf '\077'; dc_rec 0 1700000000 "$1"; dc_rec 0 1700000100 "$2"; } >"$out/diskcache/two"
{ printf '\001'; dc_rec 0 1700000000 "$1"; dc_rec 1 1600000000 "$2"; dc_rec 0 1800000000 "$3"; } >"$out/diskcache/evict"
{ printf '\020'; dc_rec 8 1700000000 "$1"; dc_rec 3 1 "$2"; dc_rec 4 1 "$3"; dc_rec 5 1 "$3"; dc_rec 6 1 "$2"; dc_rec 7 1 "$1"; } >"$out/diskcache/odd-files"
head -c 100 "$1" >"$tmp/torn"
{ printf '\040'; dc_rec 1 1700000000 "$tmp/torn"; dc_rec 0 1700000000 "$1"; } >"$out/diskcache/torn"
du -sh "$out"
