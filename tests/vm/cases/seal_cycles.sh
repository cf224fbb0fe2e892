#!/bin/bash
# Randomized reboot cycles of a tracked, busy ext4 data disk (vmrun.py
# --boots N, one boot per run of this script; docs/cbt.md, "Clean reboots").
# Boot 1 draws a plan from the seed (BK_SEED of the ctest run, else the
# time; seal_cycles_between.sh hands it over): how each of boots 1..N-1 ends, each way at
# least once, the rest at random:
#   clean     bkagentd stopped, the disk unmounted, sealed (the unit's order)
#   hostwrite the same, then the host writes the filesystem while the guest
#             is down (seal_cycles_between.sh)
#   unsealed  bkagentd stopped, the disk unmounted, no seal (the unit failed)
#   reset     sysrq b while the disk is written
# Every boot restores (as bkagent-seal.service does before the disk is
# mounted), checks the verdict the previous ending calls for (carried /
# CBT_RESET / UNCLEAN_SHUTDOWN, in restore's output and `track status`),
# writes, and backs up: across a carried reboot the incremental since the
# previous boot's token goes onto the copy (disk 2) and the copy must equal
# the snapshot image (sha256); otherwise a full copy, checked the same way.
# So a wrong incremental fails the case, as does an unclean end not detected.
# Disks: 1 data (tracked), 2 its copy, 3 the agent's state and difference storage.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/seal.sh"

AGENT=$BK_BUILD_DIR/agent/bkagentd
SEAL=$BK_BUILD_DIR/agent/bkagent-seal
SOCK=/run/bkagent-test.sock
S=/tmp/state # disk 3 mounted: survives the reboots, as /var/lib/bkagent does
W=$BK_WORK   # the plan and the tally: the host's, whatever a reset loses
data=$(bk_disk 1)
copy=$(bk_disk 2)
bkagent() { "$BK_BUILD_DIR/agent/bkagent" --socket $SOCK "$@"; } # for lib/seal.sh
fail() {
	tail -n 30 $S/agent.log 2>/dev/null || true
	bk_fail "boot $BK_BOOT: $*"
}
writes() { # appends to files FIRST..LAST of the data filesystem
	for f in $(seq "$1" "$2"); do head -c $((RANDOM * 4)) /dev/urandom >>/tmp/data/f$f; done
	sync
}
busy() { # random writes for $1 seconds, in the background
	fio --name=busy --directory=/tmp/data --size=8m --rw=randwrite --bsrange=4k-64k \
		--ioengine=libaio --iodepth=8 --direct=1 --runtime="$1" --time_based --output=/dev/null &
	writer=$!
}

bk_load_module
if [ "$BK_BOOT" = 1 ]; then
	seed=$(cat $W/seed) || fail "no seed from seal_cycles_between.sh"
	python3 - "$seed" "$BK_BOOTS" >$W/plan <<-'PY' || fail "plan"
		import random, sys
		rng, n = random.Random(int(sys.argv[1])), int(sys.argv[2]) - 1
		ways = ['clean', 'hostwrite', 'unsealed', 'reset']
		plan = ways + [rng.choice(ways) for _ in range(n - len(ways))]
		rng.shuffle(plan)
		print('\n'.join(plan[:n]))
	PY
	bk_log "seed $seed (BK_SEED=$seed reproduces the plan): $(tr '\n' ' ' <$W/plan)"
	mkfs.ext4 -q "$data"
	mkfs.ext4 -q "$(bk_disk 3)"
	: >$W/tally
fi
mkdir -p $S /tmp/data
mount "$(bk_disk 3)" $S || fail "mount state"
cat >/tmp/bkagentd.conf <<-CONF
	{ "unix_socket": "$SOCK", "state_dir": "$S", "diff_dir": "$S",
	  "diff_storage_min_bytes": 67108864, "log_level": "debug" }
CONF
"$SEAL" --state-dir $S restore --wait 1 >/tmp/restore.txt || fail "restore: $(cat /tmp/restore.txt)"
mount "$data" /tmp/data || fail "mount data"
"$AGENT" --config /tmp/bkagentd.conf 2>>$S/agent.log &
agent=$!
bk_seal_agent_up

# The verdict the previous boot's end calls for, then this boot's backup.
prev=
[ "$BK_BOOT" = 1 ] || prev=$(sed -n "$((BK_BOOT - 1))p" $W/plan)
case ${prev:-first} in
first)
	bkagent track add "$data" >/dev/null || fail "track add"
	;;
clean)
	grep -q "^$data: carried " /tmp/restore.txt || fail "a sealed reboot must carry: $(cat /tmp/restore.txt)"
	;;
hostwrite)
	grep -q "^$data: seal rejected: the .* filesystem was written since the seal" /tmp/restore.txt ||
		fail "the host's write must reject the seal: $(cat /tmp/restore.txt)"
	bk_seal_refused "$data" $W/token CBT_RESET
	;;
unsealed | reset)
	grep -q "^$data: \(carried\|seal rejected\)" /tmp/restore.txt && fail "no seal may survive a $prev end"
	bkagent track add "$data" >/dev/null || fail "track add"
	bk_seal_refused "$data" $W/token UNCLEAN_SHUTDOWN
	;;
esac
writes 1 12
busy 6
sleep 2
size=$(blockdev --getsize64 "$data")
if [ "$prev" = clean ]; then
	bkagent track status "$data" | grep -q "carried over a clean reboot" ||
		fail "track status: $(bkagent track status "$data")"
	n=$(bk_seal_backup "$data" "$copy" $W/token "$(cat $W/token)")
	[ "$n" -lt $((size / 2)) ] || fail "the incremental across the reboot read $n of $size bytes"
	kind=incremental
else
	n=$(bk_seal_backup "$data" "$copy" $W/token)
	kind=full
fi
wait $writer || fail "fio failed"
echo "$BK_BOOT ${prev:-first} $kind $n" >>$W/tally
bk_log "after a ${prev:-first} end: $kind backup, $n of $size bytes, copy == image"

next=$(sed -n "${BK_BOOT}p" $W/plan)
stop() { # bkagentd and the disk, as systemd stops them before the unit's seal
	kill -TERM $agent
	wait $agent || fail "bkagentd exit status $?"
	umount /tmp/data
}
case ${next:-last} in
clean | hostwrite)
	writes 13 15
	stop
	"$SEAL" --state-dir $S seal >/tmp/seal.txt || fail "seal: $(cat /tmp/seal.txt)"
	grep -q "^$data: sealed at " /tmp/seal.txt || fail "not sealed: $(cat /tmp/seal.txt)"
	[ "$next" = clean ] || touch $W/host-write
	umount $S
	;;
unsealed)
	writes 13 15
	stop
	umount $S
	;;
reset)
	busy 30
	sleep 2
	bk_log "resetting the guest while writing"
	touch $W/expect-reset
	echo b >/proc/sysrq-trigger
	sleep 30
	fail "sysrq b did not reset the guest"
	;;
last)
	stop
	umount $S
	awk '{n[$2]++; if ($3 == "incremental") i++} END {
		printf "%d boots: %d incrementals across sealed reboots, each copy == its image;", NR, i
		for (k in n) printf " %s %d", k, n[k]; print " (ends before each boot)" }' $W/tally >/tmp/sum
	bk_log "$(cat /tmp/sum)"
	;;
esac
