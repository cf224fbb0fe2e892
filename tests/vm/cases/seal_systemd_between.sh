#!/bin/bash
# Host side of vm_seal_systemd, after boot 2 (its poweroff sealed the data
# disk): another system writes the disk's ext4, as the tracker cannot see.
set -euo pipefail
[ "$BK_BOOT" = 2 ] || exit 0
debugfs -w -R 'mkdir written-by-the-host' "$BK_RUN_DIR/disk1.img" >/dev/null 2>&1
echo "bkvm: host wrote the data disk's filesystem after boot $BK_BOOT"
