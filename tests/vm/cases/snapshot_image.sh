#!/bin/bash
# Images of busy filesystems mount read-only, pass fsck, and hold the files
# synced before the take, while the origin keeps being written.  Difference
# storage: a file on the snapshotted filesystem itself (ext4), and a
# separate disk (xfs).  Then a raw image read over and over while its
# chunks are being copied: reads meet chunks being read from the origin and
# chunks whose old data is on its way to the difference storage.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

bk_load_module
modprobe xfs
scratch=$(bk_disk 4)

# check FS ORIGIN DIFF: DIFF "same" puts the storage in the origin's fs.
check() {
	local fs=$1 dev=$2 diff=$3 mnt=/tmp/o-$1 img=/tmp/i-$1 opts
	mkdir -p $mnt $img
	mkfs -t "$fs" -q "$dev" >/dev/null
	mount "$dev" $mnt
	mkdir $mnt/data
	for i in $(seq 1 40); do head -c $((RANDOM * 8)) /dev/urandom >$mnt/data/f$i; done
	if [ "$diff" = same ]; then
		diff=$mnt/.bksnap-diff
		dd if=/dev/zero of="$diff" bs=1M count=96 conv=fsync status=none
		chmod 600 "$diff"
	fi
	sync
	(cd $mnt/data && sha256sum f*) >/tmp/sums-$fs
	"$BKSNAPCTL" attach "$dev"
	fio --name=busy --directory=$mnt --size=48m --rw=randwrite --bs=4k \
		--bsrange=4k-64k --ioengine=libaio --iodepth=8 --direct=1 \
		--runtime=25 --time_based --output=/dev/null &
	local writer=$!
	sleep 2
	"$BKSNAPCTL" snapshot "$diff" "$dev" >/tmp/snap-$fs || bk_fail "snapshot of $fs"
	local id image
	id=$(sed -n 's/^id=//p' /tmp/snap-$fs)
	image=$(sed -n 's/.*image=\([^ ]*\).*/\1/p' /tmp/snap-$fs)
	# Change every file in the origin while the image is checked.
	for i in $(seq 1 40); do head -c 4096 /dev/urandom >>$mnt/data/f$i; done
	opts=ro,noload
	[ "$fs" = xfs ] && opts=ro,norecovery,nouuid
	mount -o $opts "$image" $img || bk_fail "$fs image does not mount"
	(cd $img/data && sha256sum --quiet -c /tmp/sums-$fs) ||
		bk_fail "$fs image: files synced before the take differ"
	umount $img
	bk_fsck_image "$image" "$fs" "$scratch"
	(cd $mnt/data && sha256sum --quiet -c /tmp/sums-$fs) >/dev/null 2>&1 &&
		bk_fail "origin files did not change: the test proves nothing"
	wait $writer
	"$BKSNAPCTL" snapshot-info "$id" | grep -q state=ok || bk_fail "$fs snapshot failed"
	bk_log "$fs: image of the busy filesystem mounts, fsck clean, files intact ($("$BKSNAPCTL" snapshot-info "$id" | sed -n 's/used_sectors=//p') sectors copied)"
	"$BKSNAPCTL" release "$id"
	"$BKSNAPCTL" detach "$dev"
	umount $mnt
	bk_fsck "$dev" "$fs"
}

# race DEV DIFF: full reads of the image while random writes overwrite DEV.
race() {
	local dev=$1 diff=$2 want got bs n id image writer
	dd if=/dev/urandom of="$dev" bs=1M count=128 oflag=direct status=none
	want=$(dd if="$dev" bs=1M count=128 iflag=direct status=none | sha256sum)
	"$BKSNAPCTL" attach "$dev"
	"$BKSNAPCTL" snapshot "$diff" "$dev" >/tmp/snap-raw || bk_fail "snapshot of raw"
	id=$(sed -n 's/^id=//p' /tmp/snap-raw)
	image=$(sed -n 's/.*image=\([^ ]*\).*/\1/p' /tmp/snap-raw)
	# Rate-limited, so that chunks are still being copied at the last read.
	fio --name=race --filename="$dev" --size=128m --rw=randwrite \
		--bsrange=4k-1m --rate=16m --ioengine=libaio --iodepth=8 --direct=1 \
		--runtime=600 --time_based --output=/dev/null &
	writer=$!
	sleep 1
	for n in 1 2 3 4; do
		bs=$((4 << (RANDOM % 9)))
		got=$(dd if="$image" bs=${bs}k count=$((131072 / bs)) iflag=direct \
			status=none | sha256sum)
		[ "$got" = "$want" ] ||
			bk_fail "raw image read $n (bs ${bs}k) differs from the take"
		kill -0 $writer || bk_fail "the writer stopped before read $n ended"
	done
	kill $writer
	wait $writer || true
	"$BKSNAPCTL" snapshot-info "$id" | grep -q state=ok || bk_fail "raw snapshot failed"
	bk_log "raw: $n full image reads during overwrites equal the take ($("$BKSNAPCTL" snapshot-info "$id" | sed -n 's/used_sectors=//p') sectors copied)"
	"$BKSNAPCTL" release "$id"
	"$BKSNAPCTL" detach "$dev"
}

check ext4 "$(bk_disk 1)" same
check xfs "$(bk_disk 2)" "$(bk_disk 3)"
race "$(bk_disk 1)" "$(bk_disk 3)"
bk_unload_module
