#!/bin/sh
# Random operations on a blazy mount (issue 17): randops (test/vm/tools/randops.c) runs a
# seeded random sequence of operations (map --clone and map + clone of new files, reads of
# random ranges, writes, truncates, renames and deletes on the writable layer, umount + mount,
# stop --force and kill -9 of the server) and checks every read against its model of what each
# file holds: 0 mismatches, nothing left behind. RANDOPS_SEED and RANDOPS_OPS (kernel command
# line blazy.randops_seed= / blazy.randops_ops=, or the environment) choose the run; the seed
# is printed so that a failure replays exactly. With blazy.randops_disk=1 the files live on the
# btrfs disk /dev/vda (run.sh --disk, for long runs) instead of the VM's tmpfs.
set -u
. "$(dirname "$0")/ublk-lib.inc"
ublk_setup
command -v randops >/dev/null || skip "randops not in the VM (pass test/vm/tools' build with --extra)"

W=/tmp/120
M=/mnt/120
export BLAZY_STATE_DIR=$W/state
trap blazy_mount_cleanup EXIT
for a in $(cat /proc/cmdline); do
	case $a in
	blazy.randops_seed=*) RANDOPS_SEED=${a#*=} ;;
	blazy.randops_ops=*) RANDOPS_OPS=${a#*=} ;;
	blazy.randops_disk=1) disk=1 ;;
	esac
done
seed=${RANDOPS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
ops=${RANDOPS_OPS:-10000}

rm -rf "$W"
mkdir -p "$W" "$M"
if [ "${disk:-0}" = 1 ]; then
	mount -t btrfs /dev/vda "$W" || { fail "cannot mount /dev/vda"; finish; }
fi
check "randops: seed $seed, $ops operations, 0 mismatches" \
	randops --seed "$seed" --ops "$ops" --work "$W" --mount "$M"
check "nothing left: no mount, loop device, ublk device or server" wait_until 10 blazy_mount_gone
[ "${disk:-0}" = 1 ] && umount "$W"
rm -rf "$W"
finish
