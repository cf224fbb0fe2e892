#!/bin/bash
# Issue 16: a restore point opened without restoring it. One backup (the real
# module and bkagentd) of an ext4 disk without a partition table and of a disk
# whose one partition holds xfs; then `bkagent mount` of each point shows the
# files written before the backup (sha256) and nothing written after, read-only;
# `bkagent restore --files` copies files out with their owners, modes,
# timestamps, symlinks and hard links; refusals (wrong passphrase, unknown
# point, a mounted target, a missing partition) and `bkagent umount` leave no
# NBD connection, nbdkit process or mount record behind.
. "$(dirname "$0")/../lib/guest.sh"

BIN=$BK_BUILD_DIR/agent
SOCK=/run/bkagent/bkagentd.sock
export BKAGENT_NBDKIT_PLUGIN=$BK_BUILD_DIR/storage/nbd/nbdkit-bkagent-plugin.so
bk_load_module
ext4=$(bk_disk 1)
xdisk=$(bk_disk 2)
store=$(bk_disk 3)
cli() { "$BIN/bkagent" --socket $SOCK "$@"; }
fail() {
	tail -n 30 /tmp/bkagentd.log
	bk_fail "$@"
}
# nothing_left: no NBD device connected, no nbdkit, no mount record.
nothing_left() {
	local what=$1
	! ls /sys/block/nbd*/pid >/dev/null 2>&1 || fail "$what: an NBD device is still connected"
	! pgrep -x nbdkit >/dev/null || fail "$what: nbdkit still runs"
	[ -z "$(ls -A /run/bkagent/mounts 2>/dev/null)" ] || fail "$what: left $(ls /run/bkagent/mounts)"
}
# listing DIR: sha256 of every file, then owner, mode, type and mtime of every path.
listing() {
	(cd "$1" && find . -type f ! -name marker-after -print0 | sort -z | xargs -0 sha256sum &&
		find . -mindepth 1 ! -name lost+found ! -path './lost+found/*' ! -name marker-after -print0 | sort -z |
		xargs -0 stat -c '%n %u:%g %a %F %y %h')
}

echo ',,L' | sfdisk -q "$xdisk" || bk_fail "sfdisk $xdisk"
xfs=${xdisk}1
for _ in $(seq 1 50); do [ -b "$xfs" ] && break; sleep 0.1; done
mkfs.ext4 -q "$ext4"
# A 96 MiB xfs keeps the backup short; mkfs.xfs allows under 300 MiB only for fstests.
TEST_DIR=/tmp TEST_DEV=$xfs QA_CHECK_FS=1 mkfs.xfs -q "$xfs"
mkfs.ext4 -q "$store"
mkdir -p /tmp/mnt/ext4 /tmp/mnt/xfs /tmp/backup /tmp/pm /tmp/bkagent /run/bkagent
mount "$ext4" /tmp/mnt/ext4
mount "$xfs" /tmp/mnt/xfs
mount "$store" /tmp/backup
for fs in ext4 xfs; do
	d=/tmp/mnt/$fs
	mkdir -p $d/etc/app $d/home/ann
	head -c 3145728 /dev/urandom >$d/home/ann/big # spans chunks
	head -c 1000 /dev/urandom >$d/etc/app/conf
	echo "$fs secret" >$d/home/ann/secret
	ln $d/home/ann/secret $d/home/ann/secret.link # a hard link
	ln -s ../../etc/app/conf $d/home/ann/conf.sym
	chown 1001:1002 $d/home/ann $d/home/ann/secret
	chown -h 1003:1004 $d/home/ann/conf.sym
	chown 0:1005 $d/etc/app/conf
	chmod 0750 $d/home/ann
	chmod 0640 $d/home/ann/secret
	chmod 4711 $d/etc/app/conf
	touch -d '2021-03-04 05:06:07.123456789' $d/home/ann/secret $d/etc/app/conf
	touch -h -d '2020-01-02 03:04:05.5' $d/home/ann/conf.sym
	touch -d '2019-06-07 08:09:10' $d/home/ann $d/etc/app
	listing $d >/tmp/expect.$fs
done
sync

cat >/tmp/bkagent/bkagentd.conf <<CONF
{ "unix_socket": "$SOCK", "state_dir": "/tmp/backup/state", "diff_dir": "/tmp/backup/diff",
  "log_level": "info" }
CONF
mkdir -p /tmp/backup/state /tmp/backup/diff
"$BIN/bkagentd" -c /tmp/bkagent/bkagentd.conf >/tmp/bkagentd.log 2>&1 &
daemon=$!
for _ in $(seq 1 100); do cli status >/dev/null 2>&1 && break; sleep 0.1; done
cli status >/dev/null 2>&1 || fail "bkagentd did not start"
cli track add "$ext4" >/dev/null || fail "track add $ext4"
cli track add "$xdisk" >/dev/null || fail "track add $xdisk"
export BKAGENT_REPO=/tmp/backup/repo BKAGENT_PASSPHRASE="repo_mount passphrase"
cli init >/dev/null || fail "init"
cli --json backup "$ext4" "$xdisk" >/tmp/backup.json || fail "backup: $(cat /tmp/backup.json)"
pe=$(bk_json '.points[0].id' </tmp/backup.json)
px=$(bk_json '.points[1].id' </tmp/backup.json)
bk_log "backed up: ext4 point $pe, xfs disk point $px"
for fs in ext4 xfs; do echo after >/tmp/mnt/$fs/marker-after; done
sync

# Refusals, each leaving nothing behind.
expect_exit() {
	local want=$1 what=$2
	shift 2
	local got=0
	"$@" >/tmp/refused.out 2>&1 || got=$?
	[ $got = "$want" ] || fail "$what: exit $got, want $want: $(cat /tmp/refused.out)"
	nothing_left "$what"
	bk_log "refused $what (exit $got): $(tail -n 1 /tmp/refused.out)"
}
expect_exit 6 "a wrong passphrase" env BKAGENT_PASSPHRASE=wrong "$BIN/bkagent" mount "$pe" /tmp/pm
expect_exit 4 "an unknown point" "$BIN/bkagent" mount 0000000000000000 /tmp/pm
expect_exit 5 "a mounted target" "$BIN/bkagent" mount "$pe" /tmp/mnt/ext4
expect_exit 4 "a missing partition" "$BIN/bkagent" mount "$px" /tmp/pm --partition 3
expect_exit 4 "umount of a directory not mounted by bkagent" "$BIN/bkagent" umount /tmp/pm

# check_mount FS POINT PARTITION: the point mounted on /tmp/pm/FS equals the source.
check_mount() {
	local fs=$1 point=$2 part=$3
	mkdir -p /tmp/pm/$fs
	"$BIN/bkagent" --json mount "$point" /tmp/pm/$fs >/tmp/mount.$fs.json || fail "mount $fs point"
	[ "$(bk_json '"\(.fstype) \(.partition)"' </tmp/mount.$fs.json)" = "$fs $part" ] ||
		fail "mount $fs: $(cat /tmp/mount.$fs.json)"
	listing /tmp/pm/$fs >/tmp/got.$fs
	diff /tmp/expect.$fs /tmp/got.$fs || fail "$fs point differs from the files written before the backup"
	[ ! -e /tmp/pm/$fs/marker-after ] || fail "$fs point has a file written after the backup"
	! touch /tmp/pm/$fs/new 2>/dev/null || fail "$fs point mounted writable"
	bk_log "$fs point mounted from $(bk_json '.source' </tmp/mount.$fs.json): $(grep -c '^[0-9a-f]\{64\} ' /tmp/got.$fs) files equal by sha256, metadata equal"
}
check_mount ext4 "$pe" 0
check_mount xfs "$px" 1
cli umount /tmp/pm/ext4 >/dev/null || fail "umount ext4"
cli umount /tmp/pm/xfs >/dev/null || fail "umount xfs"
nothing_left "umount"

# Two mounts started at once: each gets an NBD device of its own.
mkdir -p /tmp/pm/a /tmp/pm/b
"$BIN/bkagent" --json mount "$pe" /tmp/pm/a >/tmp/mount.a.json &
first=$!
"$BIN/bkagent" --json mount "$pe" /tmp/pm/b >/tmp/mount.b.json &
second=$!
wait $first || fail "the first of two concurrent mounts: $(cat /tmp/mount.a.json)"
wait $second || fail "the second of two concurrent mounts: $(cat /tmp/mount.b.json)"
da=$(bk_json '.device' </tmp/mount.a.json)
db=$(bk_json '.device' </tmp/mount.b.json)
[ "$da" != "$db" ] || fail "two concurrent mounts both on $da"
cmp /tmp/pm/a/home/ann/big /tmp/pm/b/home/ann/big || fail "two concurrent mounts read differently"
cli umount /tmp/pm/a >/dev/null || fail "umount a"
cli umount /tmp/pm/b >/dev/null || fail "umount b"
nothing_left "two concurrent mounts"
bk_log "two concurrent mounts of $pe on $da and $db"

for fs in ext4 xfs; do
	[ $fs = ext4 ] && point=$pe || point=$px
	cli --json restore "$point" --files home/ann /etc/app/conf --to /tmp/out.$fs >/tmp/restore.$fs.json ||
		fail "restore --files from the $fs point"
	nothing_left "restore --files"
	# The listed paths and what is under them; the parents cp creates are not compared.
	restored='(^| )\./(home/ann|etc/app/conf)( |/|$)'
	grep -E "$restored" /tmp/expect.$fs >/tmp/want.$fs
	listing /tmp/out.$fs | grep -E "$restored" >/tmp/restored.$fs
	[ "$(wc -l </tmp/want.$fs)" = 10 ] || fail "the expected listing has $(wc -l </tmp/want.$fs) lines, not 10"
	diff /tmp/want.$fs /tmp/restored.$fs || fail "restore --files from the $fs point: content or metadata differ"
	bk_log "$fs restore --files: $(wc -l </tmp/restored.$fs) lines of sha256 and owner/mode/mtime/links equal"
done

# Into an existing directory: what is there stays, the restored paths are replaced.
echo mine >/tmp/out.ext4/unrelated
echo changed >/tmp/out.ext4/home/ann/secret
cli restore "$pe" --files home/ann --to /tmp/out.ext4 >/dev/null || fail "restore --files into an existing directory"
[ "$(cat /tmp/out.ext4/unrelated)" = mine ] || fail "restore --files removed a file of the target directory"
listing /tmp/out.ext4 | grep -E "$restored" | diff /tmp/want.ext4 - || fail "restore --files into an existing directory differs"
nothing_left "restore --files into an existing directory"
bk_log "restore --files into an existing directory: its files kept, the restored ones equal"

cli track remove "$ext4" >/dev/null
cli track remove "$xdisk" >/dev/null
kill "$daemon"
wait "$daemon" || true
umount /tmp/mnt/ext4 /tmp/mnt/xfs /tmp/backup
bk_unload_module
bk_log "done: ext4 and partitioned xfs points mounted and files restored; nothing left"
