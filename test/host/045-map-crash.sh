#!/bin/bash
# A durable map across crashes: `blazy map` and `blazy map --clone` killed at every named point
# (BLAZY_CRASH_AT, util/crash.h: _exit at once, as kill -9) leave the journal and the
# filesystem consistent. A crashed append adds all of its file's records or none (a torn batch
# is dropped and truncated away by the next writer); every acknowledged file's bytes read back
# from its records; a crashed --clone leaves no file at all, or (after the link) the whole
# file; the next map works. The --clone part runs on a sprout made with loop devices (no
# ublk), with a state file as blazy mount writes it.
. "$(dirname "$0")/lib.sh"
require_root
requires btrfs

export BLAZY_STATE_DIR=$TEST_DIR/state
src=$TEST_DIR/src seed=$TEST_DIR/seed.img mnt=$TEST_DIR/mnt rw=$TEST_DIR/rw.img
mkdir -p "$src" "$BLAZY_STATE_DIR" && echo base >"$src/base"
run_check "$BLAZY" mkseed -q --virtual-size 1T --rootdir "$src" "$seed"

# The records of the map, as "N records, M bytes", with their chunks written into the
# seed image at their device offsets (the seed image is the device's file).
records() { "$BLZTEST" materialize "$seed" "$seed" | sed -n 's/^\([0-9]*\) records.*/\1/p'; }
# check_at FILE DEVICE_OFFSET: the device bytes at the offset are FILE's.
check_at() {
	local size
	size=$(stat -c %s "$1")
	cmp <(dd if="$seed" iflag=skip_bytes,count_bytes skip="$2" count="$size" status=none) "$1" ||
		fail "the bytes mapped at $2 are not $1's"
}
devoff() { sed -n 's/.*"device_offset":\([0-9]*\).*/\1/p'; }

# ---- the journal: blazy map SEED FILE ----
run_check "$BLZTEST" gen 1 3500K "$TEST_DIR/f0"   # 4 records of 1 MiB
out=$("$BLAZY" map --json "$seed" "$TEST_DIR/f0") || fail "map f0"
acked="$TEST_DIR/f0:$(devoff <<<"$out")"
n=$(records)
[ "$n" = 4 ] || fail "4 records expected, $n"
i=1
for point in map-stored map-torn map-written map-synced; do
	i=$((i + 1))
	run_check "$BLZTEST" gen $i 3500K "$TEST_DIR/c-$point"
	rc=0
	BLAZY_CRASH_AT=$point "$BLAZY" map --json "$seed" "$TEST_DIR/c-$point" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 86 ] || fail "$point: the crash point was not reached (exit $rc)"
	case $point in
	map-torn) [ $(( ($(stat -c %s "$seed.map") - 64) % 80 )) = 0 ] &&
		[ $(( $(stat -c %s "$seed.map") )) -gt $((64 + 80 * n)) ] ||
		fail "map-torn: no torn batch in the journal" ;;
	esac
	m=$(records)
	# All of the crashed file's records or none: a process crash keeps what was written.
	case $point in
	map-stored|map-torn) [ "$m" = "$n" ] || fail "$point: $n records before, $m after" ;;
	*) [ "$m" = $((n + 4)) ] || fail "$point: $n records before, $m after (not all 4)" ;;
	esac
	run_check "$BLZTEST" gen $((i + 100)) 1500K "$TEST_DIR/a-$point"
	out=$("$BLAZY" map --json "$seed" "$TEST_DIR/a-$point") || fail "$point: the next map fails"
	acked="$acked $TEST_DIR/a-$point:$(devoff <<<"$out")"
	n=$(records)
	[ "$n" = $((m + 2)) ] || fail "$point: the next map added $((n - m)) records, not 2"
	[ $(( ($(stat -c %s "$seed.map") - 64) % 80 )) = 0 ] || fail "$point: a torn tail is left"
done
for a in $acked; do check_at "${a%%:*}" "${a##*:}"; done

# ---- map --clone into a sprout ----
mount_seed "$seed" "$mnt"
seed_dev=$SEED_DEV
truncate -s 512M "$rw"
loop_attach "$rw"
run_check "$BLZTEST" add-dev "$mnt" "$LOOP_DEV"
run_check "$BLZTEST" remount "$mnt" nodatasum
state_name() {
	local p=${1#/} out="" c i
	for ((i = 0; i < ${#p}; i++)); do
		c=${p:i:1}
		case $c in
		[A-Za-z0-9._]) out+=$c ;;
		/) out+=- ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	echo "$out.state"
}
mkdir -p "$mnt/in"
printf '%s\n' "mountpoint=$mnt" "seed=$seed" "map=$seed.map" "store=$seed.store" \
	"backing=$rw" "mounted=1" >"$BLAZY_STATE_DIR/$(state_name "$mnt")"
names() { LC_ALL=C ls -A "$mnt/in" | tr '\n' ' '; }
for point in map-torn clone-cloned clone-synced clone-linked; do
	run_check "$BLZTEST" gen $((i + 200)) 2500K "$TEST_DIR/k-$point"
	chmod 0640 "$TEST_DIR/k-$point"
	before=$(names)
	rc=0
	BLAZY_CRASH_AT=$point "$BLAZY" map --clone "$mnt/in/k-$point" "$TEST_DIR/k-$point" \
		>/dev/null 2>&1 || rc=$?
	[ "$rc" = 86 ] || fail "$point: the crash point was not reached (exit $rc)"
	if [ "$point" = clone-linked ]; then
		[ "$(stat -c '%s %a' "$mnt/in/k-$point")" = "$(stat -c '%s %a' "$TEST_DIR/k-$point")" ] ||
			fail "$point: the linked file is not whole"
		[ "$(names)" = "$(printf '%s\n' $before "k-$point" | LC_ALL=C sort | tr '\n' ' ')" ] ||
			fail "$point: names: $(names)"
	else
		[ "$(names)" = "$before" ] || fail "$point: a crashed clone left a name: $(names)"
	fi
	i=$((i + 1))
	run_check "$BLAZY" map --clone "$mnt/in/n-$point" "$TEST_DIR/k-$point"
done
[ $(( ($(stat -c %s "$seed.map") - 64) % 80 )) = 0 ] || fail "a torn tail is left"
records >/dev/null # the chunks of every record, in the seed device's file
for f in "$mnt"/in/*; do
	cmp "$f" "$TEST_DIR/k-$(basename "$f" | cut -d- -f2-)" || fail "$f does not read back"
done
[ "$(ls "$mnt/in" | wc -l)" = 5 ] || fail "5 files expected in $mnt/in: $(names)"
run_check "$BLZTEST" umount "$mnt"
run_check "$BLZTEST" loop-detach "$LOOP_DEV"
run_check "$BLZTEST" loop-detach "$seed_dev"
assert_no_leaks
