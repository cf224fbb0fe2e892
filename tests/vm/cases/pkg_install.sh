#!/bin/bash
# The life of an installed agent on a booted system (vmrun.py --systemd):
# install both packages with apt from local files (the guest is offline: every
# dependency is on the host root), DKMS builds the module for the running
# kernel and signs it with the configured MOK key, bkagentd reaches READY; a backup job on a busy ext4 makes points
# started by its systemd timer, retention prunes them, each kept point restores
# to exactly what its snapshot image held (the job's post-thaw hook copies the
# image while it exists) and to a consistent file system; a job with a wrong passphrase fails its unit and
# shows in the metrics that prometheus-node-exporter serves; a second run of a
# running job is refused; an upgrade to a newer build keeps conffile edits,
# state and jobs; purge leaves no module, unit or state, and a repository stays
# intact.
# BK_DEBS: directory with old/ and new/ builds and mok/ (tests/vm/pkg-debs.sh).
. "$(dirname "$0")/../lib/guest.sh"
export DEBIAN_FRONTEND=noninteractive
data=$(bk_disk 1)
conf=/etc/bkagent/bkagentd.conf
jobs=/etc/bkagent/jobs
repo=/srv/bkrepo
# Difference storage (at least 64 MiB a snapshot) is an O_TMPFILE on a block device's filesystem (the
# module writes to its extents): the guest's overlay root (6.1: no O_TMPFILE
# on overlayfs, EOPNOTSUPP) cannot hold it, so it goes on scratch disk 2.
diff=/srv/bkdiff
# The nightly job's post-thaw hook copies its snapshot's image here (sparse:
# the disk is mostly zeros), one file per snapshot id.
images=/srv/images
# The nightly job's pre-freeze hook holds one run inside the job while the
# test asks for it here (the "already running" check).
hold=/srv/hold
restore_to=$(bk_disk 3)

apt_install() {
	local t0=$SECONDS
	apt-get install -y -q -o Dpkg::Options::=--force-confdef "$@" ||
		bk_fail "apt-get install $*"
	bk_log "apt-get install took $((SECONDS - t0)) s (DKMS build included)"
}

# DKMS built bksnap VERSION for the running kernel; logs how long make took
# (its log starts with the date; the file is last written when make ends).
dkms_built() {
	local log=/var/lib/dkms/bksnap/$1/$(uname -r)/$(uname -m)/log/make.log
	[[ $(dkms status "bksnap/$1" -k "$(uname -r)") == *installed* ]] ||
		bk_fail "dkms status: $(dkms status bksnap)"
	bk_log "DKMS built bksnap $1 in $(($(stat -c %Y "$log") - $(date -d "$(sed -n 2p "$log")" +%s))) s"
	local signer
	signer=$(modinfo -k "$(uname -r)" -F signer bksnap) || bk_fail "modinfo bksnap"
	[ "$signer" = "bkagent test MOK" ] || bk_fail "bksnap $1 signed by '$signer', not the MOK key"
}

# Type=notify: active only after READY=1; the CLI answers over the socket.
agent_ready() {
	systemctl is-active -q bkagentd || {
		systemctl status bkagentd --no-pager || true
		bk_fail "bkagentd is not active"
	}
	bkagent status >/tmp/status.txt || bk_fail "bkagent status: exit $?"
	grep -q "^module .* loaded" /tmp/status.txt || bk_fail "status: $(cat /tmp/status.txt)"
	bk_log "bkagentd ready: $(head -n 2 /tmp/status.txt | tr '\n' ' ')"
}

# A busy file system whose consistency a restore can check: every file is
# written to a temporary name, synced and renamed to the sha256 of its
# content; old ones are deleted. In any crash-consistent image each file
# not named *.tmp holds what its name says.
writer() {
	local i=0 f sum
	while :; do
		i=$((i + 1))
		f=/srv/data/w/$i.tmp
		head -c $(((RANDOM % 32 + 1) * 4096)) /dev/urandom >"$f"
		sync "$f"
		sum=$(sha256sum <"$f")
		mv "$f" "/srv/data/w/${sum%% *}"
		[ $((i % 3)) -ne 0 ] || find /srv/data/w -name '[0-9a-f]*' -mmin +1 -delete
		sleep 0.2
	done
}

# Restores POINT (taken as snapshot SNAPSHOT) to the third disk: it must
# equal the snapshot's image byte for byte (and so by sha256) as the hook
# copied it, and hold a sound file system.
check_point() {
	local point=$1 snapshot=$2 n=0 f size
	bkagent restore --repo $repo --passphrase-file $jobs/nightly.pass "$point" "$restore_to" >/dev/null ||
		bk_fail "restore $point"
	size=$(blockdev --getsize64 "$data")
	[ "$(stat -c %s "$images/$snapshot" 2>/dev/null)" = "$size" ] ||
		bk_fail "point $point: the hook copied no whole image of snapshot $snapshot: $(ls -l $images)"
	cmp -n "$size" "$restore_to" "$images/$snapshot" || bk_fail "point $point differs from the image of snapshot $snapshot"
	e2fsck -fn "$restore_to" >/tmp/fsck.txt 2>&1 || bk_fail "point $point: e2fsck: $(tail -n 5 /tmp/fsck.txt)"
	mkdir -p /mnt/point && mount -o ro,noload "$restore_to" /mnt/point || bk_fail "mount point $point"
	for f in /mnt/point/w/*; do
		[[ $f == *.tmp ]] && continue
		[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "${f##*/}" ] || bk_fail "point $point: $f does not hold its content"
		n=$((n + 1))
	done
	umount /mnt/point
	[ $n -gt 0 ] || bk_fail "point $point holds no file"
	bk_log "point $point: equals the image of snapshot $snapshot, e2fsck clean, $n files hold what their names say"
}

# Waits until unit UNIT has finished N runs (systemd logs "Finished" for each
# successful run of a oneshot), at most LIMIT seconds.
wait_runs() {
	local unit=$1 n=$2 limit=$3 t0=$SECONDS got
	while :; do
		got=$(journalctl -b -q -u "$unit" -o cat | grep -c '^Finished ' || true)
		[ "$got" -ge "$n" ] && break
		[ $((SECONDS - t0)) -lt "$limit" ] || {
			journalctl -b -q -u "$unit" --no-pager | tail -n 40
			bk_fail "$unit: $got of $n runs in $limit s"
		}
		sleep 5
	done
	bk_log "$unit: $got runs finished after $((SECONDS - t0)) s"
}

# man-db's trigger would re-index every manual page of the host over 9p.
rm -f /var/lib/man-db/auto-update
# docs/admin.md: DKMS signs the module with the machine owner's key.
printf 'mok_signing_key=%s\nmok_certificate=%s\n' "$BK_DEBS/mok/mok.key" "$BK_DEBS/mok/mok.der" \
	>/etc/dkms/framework.conf.d/mok.conf
bk_mark_module_load "bksnap from bksnap-dkms"
apt_install "$BK_DEBS"/old/bkagent_*.deb "$BK_DEBS"/old/bksnap-dkms_*.deb
old=$(dpkg-query -W -f='${Version}' bkagent)
dkms_built "$old"
grep -q '^bksnap ' /proc/modules || bk_fail "bksnap is not loaded"
agent_ready
# The reboot seal's pieces: the shutdown hook, initramfs-tools' hook and
# script (packaged files), its conf.d file (a conffile); purge removes them.
seal_files=(/usr/lib/systemd/system-shutdown/bkagent-seal /usr/share/initramfs-tools/hooks/bkagent-seal
	/usr/share/initramfs-tools/scripts/local-premount/bkagent-seal /etc/initramfs-tools/conf.d/bkagent-seal)
for f in "${seal_files[@]}"; do
	[ -e "$f" ] || bk_fail "the package did not install $f"
done

# A conffile edit that the upgrade must keep; difference storage on ext4.
sed -i 's/"log_level": "info"/"log_level": "debug"/' $conf
mkfs.ext4 -q "$(bk_disk 2)" || bk_fail "mkfs.ext4 for $diff"
mkdir -p $diff && mount "$(bk_disk 2)" $diff || bk_fail "mount $diff"
sed -i "s|\"diff_dir\": \"[^\"]*\"|\"diff_dir\": \"$diff\"|" $conf
grep -q "\"diff_dir\": \"$diff\"" $conf || bk_fail "diff_dir not set in $conf"
# What bkagentd.conf(5) tells the admin: the unit may write only its state
# directory unless a drop-in allows more (its hooks run in the unit too).
mkdir -p /etc/systemd/system/bkagentd.service.d $images $hold
printf '[Service]\nReadWritePaths=%s %s %s\n' $diff $images $hold >/etc/systemd/system/bkagentd.service.d/diff.conf
mkdir -p /etc/bkagent/hooks
cat >/etc/bkagent/hooks/copy-image <<-EOF
	#!/bin/sh
	# bkagent-job(5): the image is there while the post-thaw hook runs.
	set -e
	cp --sparse=always "\$BKAGENT_SNAPSHOT_IMAGES" "$images/\$BKAGENT_SNAPSHOT_ID.tmp"
	mv "$images/\$BKAGENT_SNAPSHOT_ID.tmp" "$images/\$BKAGENT_SNAPSHOT_ID"
EOF
cat >/etc/bkagent/hooks/hold <<-EOF
	#!/bin/sh
	# While $hold/wanted exists, the first run to get here makes $hold/inside
	# and stays (before the freeze, holding the job's lock) until
	# $hold/release appears, at most 300 s; other runs pass.
	[ -e $hold/wanted ] && mkdir $hold/inside 2>/dev/null || exit 0
	i=0
	until [ -e $hold/release ]; do
		i=\$((i + 1))
		[ \$i -le 1500 ] || { echo "hold: no release in 300 s" >&2; exit 1; }
		sleep 0.2
	done
EOF
chmod 755 /etc/bkagent/hooks/copy-image /etc/bkagent/hooks/hold
# Reading a whole image under TCG may take longer than the default minute.
sed -i 's/"hook_timeout_seconds": [0-9]*/"hook_timeout_seconds": 600/' $conf
grep -q '"hook_timeout_seconds": 600' $conf || bk_fail "hook_timeout_seconds not set in $conf"
systemctl daemon-reload
systemctl restart bkagentd || {
	journalctl -b -q -u bkagentd --no-pager | tail -n 20
	bk_fail "bkagentd does not start with diff_dir $diff"
}

# The data disk: ext4, mounted, tracked, written all the time.
mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 "$data" || bk_fail "mkfs.ext4 $data"
mkdir -p /srv/data && mount -o noatime "$data" /srv/data && mkdir /srv/data/w || bk_fail "mount $data"
bkagent track add "$data" >/dev/null
writer &
writer_pid=$!

# Two jobs: nightly (the real one, every 20 s here, so that its three timer
# runs need not wait for three minute boundaries) and bad (wrong passphrase).
echo guest-secret >$jobs/nightly.pass
echo not-the-secret >$jobs/bad.pass
chmod 600 $jobs/*.pass
BKAGENT_PASSPHRASE=guest-secret bkagent init --repo $repo >/dev/null || bk_fail "bkagent init"
for j in nightly bad; do
	hook=
	[ $j = bad ] || hook='"pre_freeze_hook": "hold", "post_thaw_hook": "copy-image",'
	cat >$jobs/$j.conf <<-EOF
		{
		  $hook
		  "devices": ["$data"],
		  "repository": "$repo",
		  "passphrase_file": "$jobs/$j.pass",
		  "schedule": "*:*:00/20",
		  "retention": {"keep_last": 2},
		  "verify_sample": 0.05
		}
	EOF
done
bkagent job enable nightly || bk_fail "bkagent job enable nightly"
# The test cannot wait for the default randomized delay of up to 15 minutes.
mkdir -p /etc/systemd/system/bkagent-job@nightly.timer.d
printf '[Timer]\nRandomizedDelaySec=0\nAccuracySec=1s\n' >/etc/systemd/system/bkagent-job@nightly.timer.d/zz-test.conf
systemctl daemon-reload
systemctl restart bkagent-job@nightly.timer
systemctl list-timers --no-pager 'bkagent-job@*' || true

# Three runs started by the timer: one full, then incrementals; keep_last 2.
wait_runs bkagent-job@nightly.service 3 600
bkagent job disable nightly || bk_fail "bkagent job disable nightly"
# disable drops the timer's drop-in directory, the test's file with it.
[ ! -e /etc/systemd/system/bkagent-job@nightly.timer.d ] || bk_fail "disable left the timer's drop-ins"
while systemctl is-active -q bkagent-job@nightly.service; do sleep 2; done
journalctl -b -q -u bkagent-job@nightly.service -o cat >/tmp/nightly.log
grep -q "^backup $data: point .* full" /tmp/nightly.log || bk_fail "no full point: $(cat /tmp/nightly.log)"
[ "$(grep -c "^backup $data: point .* incremental from " /tmp/nightly.log)" -ge 2 ] ||
	bk_fail "fewer than two incremental points: $(cat /tmp/nightly.log)"
bkagent points --repo $repo --passphrase-file $jobs/nightly.pass --json >/tmp/points.json
points=$(bk_json '[.[].id] | join(" ")' </tmp/points.json)
[ "$(wc -w <<<"$points")" -eq 2 ] || bk_fail "retention keep_last 2 left: $points"
bk_log "timer runs: $(grep -c '^backup .*: point' /tmp/nightly.log) points made, kept: $points"
# The run's log names its point, then the snapshot it was read from.
for p in $points; do
	s=$(awk -v p="$p" '/^backup .*: point / && $4 == p { hit = 1 }
		hit && /^backup: committed, snapshot / { print $4; exit }' /tmp/nightly.log)
	[ -n "$s" ] || bk_fail "no snapshot named for point $p: $(cat /tmp/nightly.log)"
	check_point "$p" "$s"
done
bkagent job status nightly --json >/tmp/status.json || bk_fail "bkagent job status"
bk_json '.last_success.exit_code == 0 and .points == 2' </tmp/status.json >/dev/null ||
	bk_fail "job status: $(cat /tmp/status.json)"

# A run while another is inside the job (its pre-freeze hook holds it there,
# the job's lock taken) does nothing and says so (10); the held run then
# completes.
t0=$SECONDS
touch $hold/wanted
bkagent job run nightly >/tmp/run1.log 2>&1 &
run1=$!
until [ -d $hold/inside ]; do
	kill -0 $run1 2>/dev/null || bk_fail "the first run ended before its hook held it: $(cat /tmp/run1.log)"
	[ $((SECONDS - t0)) -lt 300 ] || bk_fail "the first run is not in its pre-freeze hook after 300 s"
	sleep 0.5
done
rc=0
bkagent job run nightly >/tmp/run2.log 2>&1 || rc=$?
[ $rc -eq 10 ] || bk_fail "second run while one runs: exit $rc, not 10: $(cat /tmp/run2.log)"
grep -q "another run of job nightly is active" /tmp/run2.log || bk_fail "second run says: $(cat /tmp/run2.log)"
kill -0 $run1 2>/dev/null || bk_fail "the first run left its hook before the release: $(cat /tmp/run1.log)"
touch $hold/release
wait $run1 || bk_fail "the held run failed: $(cat /tmp/run1.log)"
grep -q "^job nightly: OK" /tmp/run1.log || bk_fail "the held run: $(cat /tmp/run1.log)"
rm -rf "${hold:?}"/*
bk_log "a run while one runs: exit 10 ($(tail -n 1 /tmp/run2.log | sed 's/^ *//')); the held run then: $(grep '^job nightly' /tmp/run1.log); $((SECONDS - t0)) s"
kill $writer_pid

# The wrong passphrase fails the unit, the journal says why, the metrics too.
! systemctl start bkagent-job@bad.service || bk_fail "bkagent-job@bad.service succeeded"
systemctl is-failed -q bkagent-job@bad.service || bk_fail "bkagent-job@bad.service is not failed"
journalctl -b -q -u bkagent-job@bad.service -o cat >/tmp/bad.log
grep -qi "passphrase\|authentic\|key" /tmp/bad.log || bk_fail "journal of the bad job: $(cat /tmp/bad.log)"
bk_log "bad job: $(grep -i 'passphrase\|authentic\|key' /tmp/bad.log | head -n 1)"
systemctl start prometheus-node-exporter || bk_fail "prometheus-node-exporter"
for _ in $(seq 60); do curl -sf http://127.0.0.1:9100/metrics >/tmp/metrics.txt && break; sleep 1; done
grep -Eq '^bkagent_job_last_exit_code\{job="bad"\} [1-9]' /tmp/metrics.txt ||
	bk_fail "node-exporter: no failed last_exit_code of job bad: $(grep bkagent_ /tmp/metrics.txt)"
grep -Eq '^bkagent_job_last_exit_code\{job="nightly"\} 0$' /tmp/metrics.txt ||
	bk_fail "node-exporter: nightly's last_exit_code is not 0"
grep -Eq '^bkagent_job_last_success_timestamp_seconds\{job="nightly"\} [1-9]' /tmp/metrics.txt ||
	bk_fail "node-exporter: no last success of nightly"
bk_log "node-exporter serves: $(grep -E '^bkagent_job_last_exit_code' /tmp/metrics.txt | tr '\n' ' ')"
systemctl stop prometheus-node-exporter

# The repository as the upgrade and the purge must leave it: every entry
# (empty directories too) with its type and mode, every file's sha256.
repo_state() {
	(cd $repo && find . -printf '%y %m %p\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
repo_state >/tmp/repo.before
state=$(stat -c %i /var/lib/bkagent/cbt)

apt_install "$BK_DEBS"/new/bkagent_*.deb "$BK_DEBS"/new/bksnap-dkms_*.deb
new=$(dpkg-query -W -f='${Version}' bkagent)
dpkg --compare-versions "$new" gt "$old" || bk_fail "upgrade: $old -> $new"
dkms_built "$new"
grep -q '"log_level": "debug"' $conf || bk_fail "upgrade lost the edit of $conf"
[ "$(stat -c %i /var/lib/bkagent/cbt)" = "$state" ] || bk_fail "upgrade replaced the state"
[ -e $jobs/nightly.conf ] || bk_fail "upgrade lost the job file"
agent_ready
bkagent track status "$data" | grep -q "$data" || bk_fail "upgrade forgot the tracked $data"
bk_log "upgraded $old -> $new: conffile edit, state, jobs and tracking kept"

t0=$SECONDS
apt-get purge -y -q bkagent bksnap-dkms || bk_fail "apt-get purge"
bk_log "apt-get purge took $((SECONDS - t0)) s"
! grep -q '^bksnap ' /proc/modules || bk_fail "bksnap still loaded after purge"
for u in bkagentd.service bkagent-seal.service bkagent-track@.service bkagent-job@.service bkagent-job@.timer; do
	! systemctl cat $u >/dev/null 2>&1 || bk_fail "$u still there"
done
running=$(systemctl list-units --state=active --plain --no-legend 'bkagent*')
[ -z "$running" ] || bk_fail "units still active after purge: $running"
# The admin's own drop-in for bkagentd stays, like any file of theirs.
left=$(find /etc/systemd/system -name 'bkagent*' ! -path '*/bkagentd.service.d*')
[ -z "$left" ] || bk_fail "left in /etc/systemd/system: $left"
[ ! -e /var/lib/bkagent ] || bk_fail "state left: $(ls -A /var/lib/bkagent)"
[ ! -e $conf ] || bk_fail "$conf left after purge"
[ ! -e /var/lib/prometheus/node-exporter/bkagent.prom ] || bk_fail "metrics file left after purge"
[ ! -e /sys/module/bksnap ] || bk_fail "/sys/module/bksnap still there"
[ -z "$(find /lib/modules -name 'bksnap.ko*')" ] || bk_fail "module file left"
for f in "${seal_files[@]}"; do
	[ ! -e "$f" ] || bk_fail "$f left after purge"
done
[ -z "$(dkms status bksnap)" ] && [ ! -e /var/lib/dkms/bksnap ] && [ -z "$(ls -d /usr/src/bksnap-* 2>/dev/null)" ] ||
	bk_fail "DKMS still knows bksnap: $(dkms status bksnap; ls -d /var/lib/dkms/bksnap /usr/src/bksnap-* 2>&1)"
repo_state >/tmp/repo.after
cmp -s /tmp/repo.before /tmp/repo.after || bk_fail "the upgrade or purge changed the repository: $(diff /tmp/repo.before /tmp/repo.after | head -n 20)"
bk_log "purged: no module (loaded, file or in DKMS), unit, timer or state; the repository's $(grep -c "^f " /tmp/repo.before) files and $(grep -c "^d " /tmp/repo.before) directories unchanged"
# CI time (tests/README.md): the case's wall time and what the guest's CPUs did.
bk_log "case took $SECONDS s; guest CPU busy $(awk '/^cpu / { printf "%d", ($2 + $3 + $4 + $7 + $8) / 100 }' /proc/stat) s on $(nproc) vCPUs"
