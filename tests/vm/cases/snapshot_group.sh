#!/bin/bash
# A consistency group: two devices snapshotted at one instant.  A writer
# puts counter k on disk 1, then (after it completed) on disk 2; any single
# instant shows disk1 = disk2 or disk1 = disk2 + 1.  Images taken at two
# instants would show disk1 running ahead further.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

ROUNDS=${BK_GROUP_ROUNDS:-8}
bk_load_module
a=$(bk_disk 1)
b=$(bk_disk 2)
diff=$(bk_disk 3)

put() {	# put DEV K: counter K in the first sector, written through
	printf '%-511s\n' "$2" | dd of="$1" bs=512 count=1 oflag=direct,dsync status=none
}
get() {
	dd if="$1" bs=512 count=1 iflag=direct status=none | tr -d ' \n'
}

put "$a" 0
put "$b" 0
"$BKSNAPCTL" attach "$a"
"$BKSNAPCTL" attach "$b"
(k=0; while [ ! -e /tmp/stop ]; do k=$((k + 1)); put "$a" $k; put "$b" $k; done) &
writer=$!
for r in $(seq 1 "$ROUNDS"); do
	sleep "0.$((RANDOM % 10))"
	"$BKSNAPCTL" snapshot "$diff" "$a" "$b" >/tmp/snap || bk_fail "group snapshot"
	id=$(sed -n 's/^id=//p' /tmp/snap)
	read -r -a images <<<"$(sed -n 's/.*image=\([^ ]*\).*/\1/p' /tmp/snap | tr '\n' ' ')"
	x=$(get "${images[0]}")
	y=$(get "${images[1]}")
	bk_log "round $r: image of disk1 holds $x, of disk2 $y"
	[ "$x" = "$y" ] || [ "$x" = $((y + 1)) ] || bk_fail "round $r: not one instant ($x vs $y)"
	"$BKSNAPCTL" release "$id"
done
# Control: two snapshots taken one after the other do not show one instant
# (the check above can fail).
apart=0
for r in 1 2 3; do
	"$BKSNAPCTL" snapshot "$diff" "$a" >/tmp/snap-a
	"$BKSNAPCTL" snapshot "$(bk_disk 4)" "$b" >/tmp/snap-b
	x=$(get "$(sed -n 's/.*image=\([^ ]*\).*/\1/p' /tmp/snap-a)")
	y=$(get "$(sed -n 's/.*image=\([^ ]*\).*/\1/p' /tmp/snap-b)")
	[ "$x" = "$y" ] || [ "$x" = $((y + 1)) ] || apart=$((apart + 1))
	"$BKSNAPCTL" release "$(sed -n 's/^id=//p' /tmp/snap-a)"
	"$BKSNAPCTL" release "$(sed -n 's/^id=//p' /tmp/snap-b)"
done
bk_log "control: $apart of 3 pairs of separate snapshots were not one instant"
[ $apart -gt 0 ] || bk_fail "separate snapshots always looked like one instant: the check is blind"
touch /tmp/stop
wait $writer
[ "$(get "$a")" -gt $((ROUNDS)) ] || bk_fail "the writer hardly ran"
"$BKSNAPCTL" detach "$a"
"$BKSNAPCTL" detach "$b"
bk_unload_module
