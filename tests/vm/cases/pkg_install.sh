#!/bin/bash
# The Debian packages on a booted system (vmrun.py --systemd): install both
# with apt from local files (the guest is offline: every dependency is on the
# host root), DKMS builds the module for the running kernel, bkagentd reaches
# READY; an upgrade to a newer build keeps conffile edits and state; purge
# leaves no module, unit or state, and a repository stays intact.
# BK_DEBS: directory with old/ and new/ builds (tests/vm/pkg-debs.sh).
. "$(dirname "$0")/../lib/guest.sh"
export DEBIAN_FRONTEND=noninteractive BKAGENT_PASSPHRASE=guest-secret
dev=$(bk_disk 1)
conf=/etc/bkagent/bkagentd.conf
repo=/srv/bkrepo
# Difference storage is an O_TMPFILE on a block device's filesystem (the
# module writes to its extents): the guest's overlay root (6.1: no O_TMPFILE
# on overlayfs, EOPNOTSUPP) cannot hold it, so it goes on scratch disk 2.
diff=/srv/bkdiff

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

# man-db's trigger would re-index every manual page of the host over 9p.
rm -f /var/lib/man-db/auto-update
bk_mark_module_load "bksnap from bksnap-dkms"
apt_install "$BK_DEBS"/old/bkagent_*.deb "$BK_DEBS"/old/bksnap-dkms_*.deb
old=$(dpkg-query -W -f='${Version}' bkagent)
dkms_built "$old"
grep -q '^bksnap ' /proc/modules || bk_fail "bksnap is not loaded"
agent_ready

# State and a conffile edit that the upgrade must keep; a repository outside.
bkagent track add "$dev" >/dev/null
sed -i 's/"log_level": "info"/"log_level": "debug"/' $conf
mkfs.ext4 -q "$(bk_disk 2)" || bk_fail "mkfs.ext4 for $diff"
mkdir -p $diff && mount "$(bk_disk 2)" $diff || bk_fail "mount $diff"
sed -i "s|\"diff_dir\": \"[^\"]*\"|\"diff_dir\": \"$diff\"|" $conf
grep -q "\"diff_dir\": \"$diff\"" $conf || bk_fail "diff_dir not set in $conf"
systemctl restart bkagentd
bkagent init --repo $repo >/dev/null
bkagent backup --repo $repo "$dev" >/dev/null
repo_sum=$(cd $repo && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
state=$(stat -c %i /var/lib/bkagent/cbt)

apt_install "$BK_DEBS"/new/bkagent_*.deb "$BK_DEBS"/new/bksnap-dkms_*.deb
new=$(dpkg-query -W -f='${Version}' bkagent)
dpkg --compare-versions "$new" gt "$old" || bk_fail "upgrade: $old -> $new"
dkms_built "$new"
grep -q '"log_level": "debug"' $conf || bk_fail "upgrade lost the edit of $conf"
[ "$(stat -c %i /var/lib/bkagent/cbt)" = "$state" ] || bk_fail "upgrade replaced the state"
agent_ready
bkagent track status "$dev" | grep -q "$dev" || bk_fail "upgrade forgot the tracked $dev"
bk_log "upgraded $old -> $new: conffile edit, state and tracking kept"

t0=$SECONDS
apt-get purge -y -q bkagent bksnap-dkms || bk_fail "apt-get purge"
bk_log "apt-get purge took $((SECONDS - t0)) s"
! grep -q '^bksnap ' /proc/modules || bk_fail "bksnap still loaded after purge"
! systemctl cat bkagentd.service >/dev/null 2>&1 || bk_fail "bkagentd.service still there"
[ ! -e /var/lib/bkagent ] || bk_fail "state left: $(ls -A /var/lib/bkagent)"
[ ! -e $conf ] || bk_fail "$conf left after purge"
[ -z "$(find /lib/modules -name 'bksnap.ko*')" ] || bk_fail "module file left"
[ "$(cd $repo && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)" = "$repo_sum" ] ||
	bk_fail "purge changed the repository"
bk_log "purged: no module, unit, state or conffile; repository intact"
