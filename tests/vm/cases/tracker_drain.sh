#!/bin/bash
# In-flight writes at attach (docs/kernel.md): a raw O_DIRECT write submitted
# before the tracker existed and still in flight when attach is called is
# waited for by attach on a blk-mq device, so the first snapshot's drain is
# complete. null_blk (blk-mq, memory-backed) completes each request 2 s after
# it was queued, which keeps the write in flight across the attach.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

bk_load_module
diff=$(bk_disk 1)
modprobe null_blk nr_devices=1 queue_mode=2 memory_backed=1 gb=1 \
	irqmode=2 completion_nsec=2000000000 || bk_fail "modprobe null_blk"
dev=/dev/nullb0
[ -b $dev ] || bk_fail "$dev did not appear"

writes_in_flight() {
	local reads writes
	read -r reads writes </sys/block/nullb0/inflight
	echo "$writes"
}

head -c $((64 << 10)) /dev/urandom >/tmp/pattern
dd if=/tmp/pattern of=$dev bs=64k seek=16 count=1 oflag=direct status=none &
writer=$!
for _ in $(seq 1 100); do
	[ "$(writes_in_flight)" -gt 0 ] && break
	sleep 0.05
done
[ "$(writes_in_flight)" -gt 0 ] || bk_fail "the raw write never showed in flight"
start=$(cut -d' ' -f1 /proc/uptime)
"$BKSNAPCTL" attach $dev
left=$(writes_in_flight)
bk_log "attach took $(echo "$(cut -d' ' -f1 /proc/uptime) - $start" | bc) s; writes in flight after it: $left"
[ "$left" -eq 0 ] || bk_fail "attach returned with $left write(s) in flight that it did not wait for"
wait $writer || bk_fail "the raw write failed"

"$BKSNAPCTL" snapshot "$diff" $dev >/tmp/snap || bk_fail "snapshot"
id=$(sed -n 's/^id=//p' /tmp/snap)
image=$(sed -n 's/.*image=\([^ ]*\).*/\1/p' /tmp/snap)
dd if="$image" bs=64k skip=16 count=1 iflag=direct status=none | cmp - /tmp/pattern ||
	bk_fail "the image does not hold the write completed before the snapshot"
"$BKSNAPCTL" release "$id"
"$BKSNAPCTL" detach $dev
rmmod null_blk
bk_unload_module
