#!/bin/bash
# Snapshots released under heavy writes: 20 take/release cycles while
# verifying writers run (some released at once, with copies and held writes
# in flight; one with its image held open by a reader), and module unload
# refused while a snapshot lives.  No data lost, clean kernel log and fsck.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

CYCLES=${BK_DESTROY_CYCLES:-20}
bk_load_module
dev=$(bk_disk 1)
diff=$(bk_disk 2)
mkfs.ext4 -q "$dev"
mkdir -p /tmp/m
mount "$dev" /tmp/m
"$BKSNAPCTL" attach "$dev"

writer() {	# fio writes every block with a checksum, then reads them back
	local n=$1 rounds=0
	while [ ! -e /tmp/stop ]; do
		fio --name=w$n --directory=/tmp/m --size=24m --rw=randwrite \
			--bsrange=4k-128k --direct=1 --ioengine=libaio --iodepth=16 \
			--verify=crc32c --do_verify=1 --verify_fatal=1 \
			--randseed=$RANDOM --output=/tmp/fio$n.log ||
			{ cat /tmp/fio$n.log; return 1; }
		rounds=$((rounds + 1))
	done
	bk_log "writer $n: $rounds verified rounds"
}
writer 1 &
w1=$!
writer 2 &
w2=$!
sleep 2

for i in $(seq 1 "$CYCLES"); do
	"$BKSNAPCTL" snapshot "$diff" "$dev" >/tmp/snap || bk_fail "cycle $i: snapshot"
	id=$(sed -n 's/^id=//p' /tmp/snap)
	image=$(sed -n 's/.*image=\([^ ]*\).*/\1/p' /tmp/snap)
	case $((i % 4)) in
	0) ;;	# released at once: copies and held writes in flight
	1) if rmmod bksnap 2>/dev/null; then bk_fail "rmmod succeeded with a snapshot alive"; fi ;;
	2) exec 3<"$image" ;;	# a reader holds the image open across the release
	3) sleep "0.$((RANDOM % 10))" ;;
	esac
	"$BKSNAPCTL" release "$id" || bk_fail "cycle $i: release"
	if [ $((i % 4)) = 2 ]; then
		# A released image reads as empty (capacity 0) or fails.
		got=$(dd bs=4k count=1 iflag=direct status=none <&3 2>/dev/null | wc -c)
		[ "$got" = 0 ] || bk_fail "a released image still returns data"
		exec 3<&-
	fi
done
bk_log "$CYCLES take/release cycles under load"
touch /tmp/stop
wait $w1 || bk_fail "writer 1 found corrupted data"
wait $w2 || bk_fail "writer 2 found corrupted data"
"$BKSNAPCTL" detach "$dev"
umount /tmp/m
bk_fsck "$dev" ext4
bk_unload_module
