#!/bin/sh
# The demo's VM part, continued: a Debian root imported on the host with `blazy mkseed --lazy`
# (seed, map and store on /dev/vda) is mounted lazily and used at once; only what the
# commands read is fetched, and blazy status says which files that was.
set -eu
step() { echo; echo "== $*"; }
run() { echo "\$ $*"; "$@"; }
D=/disk M=/mnt/root
export BLAZY_STATE_DIR=/tmp/demo-root-state
mkdir -p "$D" "$M"
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mount -t btrfs /dev/vda "$D"
trap 'blazy umount "$M" >/dev/null 2>&1 || true; umount "$D" 2>/dev/null || true' EXIT

step "a Debian root as a lazy seed: $(du -k "$D/seed.img" | cut -f1) KiB of metadata, $(du -sk "$D/seed.img.store" | cut -f1) KiB of zstd chunks in the store"
s=$(cut -d' ' -f1 /proc/uptime)
run blazy mount -q "$D/seed.img" "$M" --rw /tmp/root-rw.img --rw-size 256M
run chroot "$M" /bin/sh -c '. /etc/os-release; echo "$PRETTY_NAME"; dpkg -l | grep -c ^ii; ls /usr/bin | wc -l'
e=$(cut -d' ' -f1 /proc/uptime)
echo "from nothing to that output: $(echo "$s $e" | awk '{ printf "%.1f", $2 - $1 }') s (under TCG emulation)"
step "what was fetched, and for which files"
run blazy status "$M"
step "blazy status --trace: the files to keep local next time (mkseed --local-list)"
run blazy status --trace /tmp/hot.list "$M"
head -n 5 /tmp/hot.list
run blazy umount "$M"
trap - EXIT
umount "$D"
