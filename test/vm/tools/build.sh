#!/bin/sh
# Build the VM test tools (static, so they run unchanged in the VM's initramfs):
#   test/vm/tools/build.sh [OUTDIR]     (default: build/vm-tools)
# Prints the path of each tool built. Pass them to test/vm/run.sh with --extra PATH.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../../build/vm-tools}
mkdir -p "$out"
cc=${CC:-cc}
for src in "$here"/*.c; do
	name=$(basename "$src" .c)
	# Tools may use the project's SHA-256 and CRC32C (lib/util).
	"$cc" -std=gnu11 -O2 -Wall -Wextra -static -I"$here/../../../lib" -o "$out/$name" "$src" \
		"$here/../../../lib/util/sha256.c" "$here/../../../lib/util/crc32c.c"
	echo "$(cd "$out" && pwd)/$name"
done
