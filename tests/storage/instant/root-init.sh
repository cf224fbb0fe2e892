#!/bin/busybox sh
# /sbin/init of the root filesystem the instant recovery test backs up and boots: it
# proves it reads the point (a checksum of a file the test wrote before the backup) and
# writes to its disk (a file that must land in the overlay), then powers off.
export PATH=/bin
mount -t proc proc /proc
echo "BK_INSTANT_SHELL $(cat /etc/bk-token)"
echo "BK_INSTANT_SHA256 $(sha256sum /data | cut -d' ' -f1)"
echo "written at boot: $(cat /etc/bk-token)" >/root/written-at-boot
sync
mount -o remount,ro /
echo BK_INSTANT_WRITTEN
poweroff -f
