#!/bin/bash
# 100 attach/detach cycles while verifying writers run on mounted ext4 and
# xfs: no data lost, no kernel warning, filesystems clean afterwards.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

CYCLES=${BK_CYCLES:-100}
bk_load_module
modprobe xfs
declare -A fs_of=([1]=ext4 [2]=xfs)
# Writes in flight at every attach and detach, at a pace that leaves the
# emulated CPUs time for the cycles themselves.
declare -A flags_of=([1]="--direct=1 --ioengine=libaio --iodepth=8 --rate_iops=400"
	[2]="--ioengine=psync --fsync=4 --rate_iops=400")
done_flag=/tmp/cycles-done

# fio writes every block with a checksum, then reads them all back.
verifying_writer() {
	local n=$1 rounds=0
	while [ ! -e $done_flag ]; do
		# shellcheck disable=SC2086
		fio --name=verify$n --directory=/tmp/mnt$n --size=16m --rw=randwrite \
			--bs=4k --verify=crc32c --do_verify=1 --verify_fatal=1 \
			--randseed=$RANDOM ${flags_of[$n]} --output=/tmp/fio$n.log ||
			{ cat /tmp/fio$n.log; return 1; }
		rounds=$((rounds + 1))
	done
	bk_log "writer $n: $rounds verified rounds"
}

pids=()
for n in 1 2; do
	dev=$(bk_disk $n)
	mkdir -p /tmp/mnt$n
	mkfs -t "${fs_of[$n]}" -q "$dev" >/dev/null
	mount "$dev" /tmp/mnt$n
	verifying_writer $n &
	pids+=($!)
done

# Each device cycles on its own, at the same time as the other.
cycles() {
	local dev i
	dev=$(bk_disk "$1")
	for i in $(seq 1 "$CYCLES"); do
		"$BKSNAPCTL" attach "$dev" || bk_fail "cycle $i: attach disk$1"
		sleep "0.0$((RANDOM % 10))"
		"$BKSNAPCTL" detach "$dev" || bk_fail "cycle $i: detach disk$1"
	done
}

sleep 1
start=$(date +%s.%N)
cycles 1 &
c1=$!
cycles 2 &
c2=$!
wait $c1 || bk_fail "attach/detach cycles of disk1 failed"
wait $c2 || bk_fail "attach/detach cycles of disk2 failed"
bk_log "$CYCLES attach/detach cycles of each disk in $(echo "$(date +%s.%N) - $start" | bc) s"
touch $done_flag
for pid in "${pids[@]}"; do
	wait "$pid" || bk_fail "a verifying writer found corrupted data"
done

for n in 1 2; do
	umount /tmp/mnt$n
	bk_fsck "$(bk_disk $n)" "${fs_of[$n]}"
done
bk_log "filesystems clean"
bk_unload_module
