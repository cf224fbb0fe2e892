#!/bin/bash
# The agent against the real module, as a backup server uses it: track a
# busy ext4 disk, snapshot, pull the full image through the gRPC stream,
# write more, snapshot again, pull only the changed extents onto the first
# copy: the copy equals the second image (sha256). Then reload the module
# and check the agent answers "full read needed" (CBT_RESET). Also the admin
# view: `bkagent snapshot` human and --json. The difference storage is larger
# than the device, so the busy writer cannot overflow it.
. "$(dirname "$0")/../lib/guest.sh"

AGENT=$BK_BUILD_DIR/agent/bkagentd
CLI=$BK_BUILD_DIR/agent/bkagent
SOCK=/run/bkagent-test.sock
bk_load_module
dev=$(bk_disk 1)
copy=$(bk_disk 2)
diffdisk=$(bk_disk 3)

mkfs.ext4 -q "$diffdisk"
mkdir -p /tmp/diffs /tmp/mnt
mount "$diffdisk" /tmp/diffs
cat >/tmp/bkagentd.conf <<CONF
{ "unix_socket": "$SOCK", "state_dir": "/tmp/diffs/state", "diff_dir": "/tmp/diffs",
  "diff_storage_min_bytes": 301989888, "log_level": "debug" }
CONF

start_agent() {
	"$AGENT" --config /tmp/bkagentd.conf 2>>/tmp/agent.log &
	agent_pid=$!
	for _ in $(seq 1 100); do
		"$CLI" --socket $SOCK status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat /tmp/agent.log
	bk_fail "bkagentd did not start"
}
stop_agent() {
	kill -TERM "$agent_pid"
	wait "$agent_pid" || bk_fail "bkagentd exit status $?"
}
cli() { "$CLI" --socket $SOCK "$@"; }
fail() {
	tail -n 40 /tmp/agent.log
	bk_fail "$@"
}

start_agent
mkfs.ext4 -q "$dev"
mount "$dev" /tmp/mnt
for i in $(seq 1 30); do head -c $((RANDOM * 16)) /dev/urandom >/tmp/mnt/f$i; done
sync
cli track add "$dev" >/dev/null || fail "track add"
fio --name=busy --directory=/tmp/mnt --size=64m --rw=randwrite --bs=4k --bsrange=4k-64k \
	--ioengine=libaio --iodepth=8 --direct=1 --runtime=60 --time_based --output=/dev/null &
writer=$!
sleep 2

cli --json snapshot "$dev" --lease 10m --label full >/tmp/s1.json || fail "snapshot 1: $(cat /tmp/s1.json)"
id1=$(bk_json '.id' </tmp/s1.json)
img1=$(bk_json '.devices[0].image' </tmp/s1.json)
tok1=$(bk_json '.devices[0].token' </tmp/s1.json)
cli --json image pull "$id1" "$dev" "$copy" --streams 2 >/tmp/pull1.json || fail "full pull: $(cat /tmp/pull1.json)"
[ "$(head -c "$(blockdev --getsize64 "$dev")" "$copy" | sha256sum)" = "$(sha256sum <"$img1")" ] ||
	fail "full copy differs from image 1"
cli cbt commit "$dev" --snapshot "$id1" >/dev/null || fail "commit 1"
cli release "$id1" >/dev/null
bk_log "full: $(bk_json '.bytes' </tmp/pull1.json) bytes, token $tok1"

sleep 3 # more writes from fio
for i in $(seq 1 10); do head -c 100000 /dev/urandom >>/tmp/mnt/f$i; done
sync
cli snapshot "$dev" --lease 10m >/tmp/s2.txt || fail "snapshot 2 (human)"
grep -q "bksnap-img" /tmp/s2.txt || fail "human snapshot output lacks the image: $(cat /tmp/s2.txt)"
cli --json snapshots >/tmp/s2.json
id2=$(bk_json '.[0].id' </tmp/s2.json)
img2=$(bk_json '.[0].devices[0].image' </tmp/s2.json)
tok2=$(bk_json '.[0].devices[0].token' </tmp/s2.json)
cli --json image pull "$id2" "$dev" "$copy" --since "$tok1" --streams 2 >/tmp/pull2.json ||
	fail "incremental pull: $(cat /tmp/pull2.json)"
size=$(blockdev --getsize64 "$dev")
inc=$(bk_json '.bytes' </tmp/pull2.json)
[ "$inc" -lt "$size" ] || fail "incremental pulled the whole device"
[ "$(head -c "$size" "$copy" | sha256sum)" = "$(sha256sum <"$img2")" ] ||
	fail "incremental copy differs from image 2"
bk_log "incremental: $inc of $size bytes; copy == image 2"
cli release "$id2" >/dev/null
kill "$writer" 2>/dev/null || true
wait "$writer" 2>/dev/null || true

# Module reload: the agent must not hand out an incremental across it.
# Tracking is dropped behind the agent's back (as an admin unloading the
# module would), so the agent has to notice the new generation itself.
stop_agent
umount /tmp/mnt
"$BK_BUILD_DIR/tests/tools/bksnapctl" detach "$dev" || fail "detach"
bk_unload_module
bk_load_module
start_agent
cli track add "$dev" >/dev/null || fail "track add after reload"
rc=0
cli --json cbt changes "$dev" --since "$tok2" >/tmp/reset.json || rc=$?
[ $rc -eq 5 ] || fail "changes after reload: exit $rc, want 5: $(cat /tmp/reset.json)"
[ "$(bk_json '.error.reason' </tmp/reset.json)" = CBT_RESET ] ||
	fail "reason after reload: $(cat /tmp/reset.json)"
bk_log "after module reload: full read needed (CBT_RESET)"
stop_agent
"$BK_BUILD_DIR/tests/tools/bksnapctl" detach "$dev" || fail "detach"

umount /tmp/diffs
bk_unload_module
