#!/bin/bash
# Difference storage that grows on demand and then overflows: LOW_SPACE
# events answered by adding storage, up to a limit; then OVERFLOW fails the
# snapshot (its image returns EIO) while the origin's writes go on intact.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

GROW_MB=16
MAX_ADDS=6
bk_load_module
origin=$(bk_disk 1)
mkfs.ext4 -q "$(bk_disk 2)"
mkdir -p /tmp/diffs
mount "$(bk_disk 2)" /tmp/diffs

# Storage files, fully written as the module needs, made ahead: writing one
# under TCG takes longer than the writer below takes to fill one.
for n in $(seq 0 $MAX_ADDS); do
	dd if=/dev/zero of=/tmp/diffs/diff.$n bs=1M count=$GROW_MB conv=fsync status=none
	chmod 600 /tmp/diffs/diff.$n
done

"$BKSNAPCTL" attach "$origin"
"$BKSNAPCTL" events >/dev/null
# Low space at 3/4 of a file free: the poll loop below is slow under TCG.
"$BKSNAPCTL" snapshot -l $((GROW_MB * 1536)) /tmp/diffs/diff.0 "$origin" >/tmp/snap ||
	bk_fail "snapshot"
id=$(sed -n 's/^id=//p' /tmp/snap)
image=$(sed -n 's/.*image=\([^ ]*\).*/\1/p' /tmp/snap)

# The agent's part: answer low space with more storage, up to a limit.
grower() {
	local adds=0
	while [ ! -e /tmp/stop-grower ]; do
		"$BKSNAPCTL" events >>/tmp/events
		while [ "$(grep -c "^type=1 .*id=$id" /tmp/events)" -gt $adds ] &&
			[ $adds -lt $MAX_ADDS ]; do
			adds=$((adds + 1))
			"$BKSNAPCTL" add-storage "$id" /tmp/diffs/diff.$adds ||
				bk_fail "add-storage $adds"
		done
		sleep 0.2
	done
	echo $adds >/tmp/adds
}
grower &
grower_pid=$!

# Rewrite 192 MiB of the origin: more than 16 + 6 x 16 MiB can hold.
fio --name=origin --filename="$origin" --rw=write --bs=1m --direct=1 \
	--ioengine=libaio --iodepth=4 --size=192m --rate=4m --verify=crc32c --do_verify=1 \
	--verify_fatal=1 --output=/tmp/fio.log || { cat /tmp/fio.log; bk_fail "origin writes failed or lost data"; }
sleep 1
touch /tmp/stop-grower
wait $grower_pid
"$BKSNAPCTL" events >>/tmp/events
adds=$(cat /tmp/adds)
[ "$adds" -ge 3 ] || { cat /tmp/events; bk_fail "storage grew only $adds times"; }
grep -q "^type=2 .*error=-28 .*id=$id" /tmp/events || { cat /tmp/events; bk_fail "no OVERFLOW event"; }
"$BKSNAPCTL" snapshot-info "$id" | grep -q '^state=failed' || bk_fail "snapshot not failed"
if dd if="$image" of=/dev/null bs=1M count=4 iflag=direct status=none 2>/tmp/dd.err; then
	bk_fail "image of a failed snapshot still reads"
fi
grep -q "Input/output error" /tmp/dd.err || bk_fail "image read failed without EIO: $(cat /tmp/dd.err)"
bk_log "storage grew $adds times by $GROW_MB MiB, then overflowed; image EIO, origin verified"
"$BKSNAPCTL" release "$id"
"$BKSNAPCTL" detach "$origin"
umount /tmp/diffs
bk_unload_module
