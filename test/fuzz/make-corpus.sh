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
mkdir -p "$out"/{tar,inflate,json,oci,seed,map,chunk,control,fetches}

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
du -sh "$out"
