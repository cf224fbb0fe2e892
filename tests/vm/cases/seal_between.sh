#!/bin/bash
# Host side of vm_seal_reboot, between boots: after boot 2 (its clean stop
# sealed both data disks) another system writes their filesystems, as the
# tracker cannot see: ext4 through debugfs, xfs through xfs_admin (a new
# label rewrites the superblock). Boot 3 must refuse both seals.
set -euo pipefail
[ "$BK_BOOT" = 2 ] || exit 0
debugfs -w -R 'mkdir written-by-the-host' "$BK_RUN_DIR/disk1.img" >/dev/null 2>&1
xfs_admin -L elsewhere "$BK_RUN_DIR/disk2.img" >/dev/null
echo "bkvm: host wrote both data disks' filesystems after boot $BK_BOOT"
