#!/bin/bash
# Guest stage 2, PID 1 on the host's read-only root (or, with vmrun.py
# --systemd, systemd's bkvm-case.service on the overlay root): run the case
# named in /tmp/work/env, save its output, status and the whole kernel log on
# the work share, then power off (QEMU exits 0).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C
W=/tmp/work
# The host times the boot by this line: print it while the console is still
# quiet, so no kernel message splits it.
echo "BKVM_STAGE2 uptime=$(cut -d' ' -f1 /proc/uptime)"
# Every kernel message goes to the serial console too, so the host sees
# warnings even if the guest hangs or panics before the dmesg dump below.
dmesg -n 8
set -a
. $W/env
set +a
cd /tmp
bash "$BK_CASE" >$W/output.txt 2>&1 </dev/null
echo $? >$W/status.tmp
dmesg >$W/dmesg.txt
mv $W/status.tmp $W/status
echo "BKVM_DONE status=$(cat $W/status) uptime=$(cut -d' ' -f1 /proc/uptime)"
# A case under systemd that touched clean-shutdown ends its boot with
# systemd's own shutdown (units stopped, filesystems unmounted, shutdown
# hooks), as a real poweroff does.
if [ -e $W/clean-shutdown ] && [ -d /run/systemd/system ]; then
	systemctl --no-block poweroff && exit 0
fi
/bin/busybox poweroff -f
