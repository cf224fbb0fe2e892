#!/bin/bash
# The image is the device at one instant: stamped-sector checker (tests/tools/
# stamp.c) with 2 writers writing through the take, over a raw device, ext4
# and xfs, O_DIRECT and buffered.  BK_STAMP_ITERATIONS takes in all.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

STAMP=$BK_BUILD_DIR/tests/tools/stamp
ITERATIONS=${BK_STAMP_ITERATIONS:-54}
BLOCKS=4096	# 16 MiB of stamps
bk_load_module
modprobe xfs
dev=$(bk_disk 1)
diff=$(bk_disk 2)
scratch=$(bk_disk 3)
mnt=/tmp/origin
img_mnt=/tmp/image
mkdir -p $mnt $img_mnt

# prepare KIND: make the target and print its path.
prepare() {
	case $1 in
	raw) echo "$dev" ;;
	ext4) mkfs.ext4 -q -F "$dev" >/dev/null ;;&
	xfs) mkfs.xfs -q -f "$dev" >/dev/null ;;&
	ext4 | xfs)
		mount "$dev" $mnt
		echo $mnt/stamps ;;
	esac
}

# image_target KIND IMAGE: where the stamps are in the image.
image_target() {
	case $1 in
	raw) echo "$2" ;;
	ext4) mount -o ro,noload "$2" $img_mnt && echo $img_mnt/stamps ;;
	xfs) mount -o ro,norecovery,nouuid "$2" $img_mnt && echo $img_mnt/stamps ;;
	esac
}

i=0
while [ $i -lt "$ITERATIONS" ]; do
	for kind in ${BK_STAMP_KINDS:-raw ext4 xfs}; do
		for mode in direct buffered; do
			[ $i -lt "$ITERATIONS" ] || break 2
			i=$((i + 1))
			target=$(prepare $kind)
			"$STAMP" init "$target" $BLOCKS
			"$BKSNAPCTL" attach "$dev"
			direct=
			[ $mode = direct ] && direct=1
			STAMP_DIRECT=$direct STAMP_BEFORE_MS=$((200 + RANDOM % 500)) \
				STAMP_AFTER_MS=$((100 + RANDOM % 300)) \
				"$STAMP" run "$target" $BLOCKS /tmp/stamp.log "$diff" "$dev" >/tmp/snap
			id=$(sed -n 's/^id=//p' /tmp/snap)
			image=$(sed -n 's/.*image=//p' /tmp/snap)
			itarget=$(image_target $kind "$image") || bk_fail "$kind: image does not mount"
			STAMP_DIRECT=1 "$STAMP" check "$itarget" /tmp/stamp.log ||
				bk_fail "iteration $i ($kind, $mode): image is not the device at the take"
			if [ $kind != raw ]; then
				umount $img_mnt
				# The filesystem check costs more than the take: first round only
				# (snapshot_image checks images of busy filesystems at length).
				[ $i -gt 6 ] || bk_fsck_image "$image" $kind "$scratch"
				umount $mnt
			fi
			"$BKSNAPCTL" release "$id"
			"$BKSNAPCTL" detach "$dev"
			bk_log "iteration $i: $kind $mode ok"
		done
	done
done
bk_unload_module
