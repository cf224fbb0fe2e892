#!/bin/bash
# The agent's incremental chain across CBT sequence wraps (a generation has
# 254 snapshots): BK_WRAP_SNAPSHOTS (600) snapshots of a raw disk, one small
# direct write before each. The agent takes the snapshots it backs up
# (every BK_WRAP_PULL_EVERY-th) and those around the first wrap, so that
# wrap happens in an agent snapshot anchored at the one before; the others,
# and so the second wrap, are taken behind its back by `bksnapctl cycle`
# (cheap under TCG: each run between two agent snapshots in one process,
# difference storage on a scratch disk). The
# first snapshot is pulled in full onto a copy disk; each later backup is
# an incremental pull --since the previous one, which must move a small
# part of the device and leave the copy equal to the image (sha256), and is
# committed. Finally a token older than the baseline gets a full read.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

AGENT=$BK_BUILD_DIR/agent/bkagentd
CLI=$BK_BUILD_DIR/agent/bkagent
SOCK=/run/bkagent-test.sock
N=${BK_WRAP_SNAPSHOTS:-600}
EVERY=${BK_WRAP_PULL_EVERY:-100}
bk_load_module
dev=$(bk_disk 1)
copy=$(bk_disk 2)
diffdisk=$(bk_disk 3)
tooldiff=$(bk_disk 4)
size=$(blockdev --getsize64 "$dev")

mkfs.ext4 -q "$diffdisk"
mkdir -p /tmp/diffs
mount "$diffdisk" /tmp/diffs
cat >/tmp/bkagentd.conf <<CONF
{ "unix_socket": "$SOCK", "state_dir": "/tmp/diffs/state", "diff_dir": "/tmp/diffs",
  "diff_storage_min_bytes": 1048576, "log_level": "info" }
CONF
"$AGENT" --config /tmp/bkagentd.conf 2>>/tmp/agent.log &
agent_pid=$!
cli() { "$CLI" --socket $SOCK "$@"; }
fail() {
	tail -n 40 /tmp/agent.log
	bk_fail "$@"
}
for _ in $(seq 1 100); do
	cli status >/dev/null 2>&1 && break
	sleep 0.1
done
# A field of the CLI's indented JSON (the first one of that name).
field() { sed -n "s/^ *\"$1\": \"\\{0,1\\}\\([^\",]*\\)\"\\{0,1\\},\\{0,1\\}\$/\\1/p" "$2" | head -n 1; }

cli track add "$dev" >/dev/null || fail "track add"
dd if=/dev/urandom of="$dev" bs=1M count=4 oflag=direct status=none
snap() {
	cli --json snapshot "$dev" --lease 10m --diff-storage 1048576 >/tmp/s.json || fail "snapshot $i: $(cat /tmp/s.json)"
	id=$(field id /tmp/s.json)
	img=$(field image /tmp/s.json)
	tok=$(field token /tmp/s.json)
}
same() { [ "$(head -c "$size" "$copy" | sha256sum)" = "$(sha256sum <"$img")" ]; }

i=1
snap
cli --json image pull "$id" "$dev" "$copy" >/tmp/pull.json || fail "full pull: $(cat /tmp/pull.json)"
same || fail "full copy differs from image 1"
cli cbt commit "$dev" --snapshot "$id" >/dev/null || fail "commit 1"
cli release "$id" >/dev/null
first_tok=$tok
pulled_tok=$tok
gen=${tok%%:*}
seq=${tok##*:}
pulls=0
wraps=0
by_agent=1
start=$(date +%s)
# The agent's turns: every EVERY-th snapshot, the last, and from sequence 250
# up to the first wrap.
agent_turn() { [ $(($1 % EVERY)) -eq 0 ] || [ "$1" = "$N" ] || { [ $wraps -eq 0 ] && [ "$seq" -ge 250 ]; }; }
wrapped() {
	if [ "$gen" != "$last_gen" ]; then
		wraps=$((wraps + 1))
		bk_log "snapshot $1 ($2): wrap to $gen:$seq"
	fi
	last_gen=$gen
}
i=2
last_gen=$gen
while [ "$i" -le "$N" ]; do
	if agent_turn "$i"; then
		dd if=/dev/urandom of="$dev" bs=4k count=1 seek=$((RANDOM % (size / 4096))) oflag=direct status=none
		snap
		by_agent=$((by_agent + 1))
		gen=${tok%%:*}
		seq=${tok##*:}
		if [ $((i % EVERY)) -eq 0 ] || [ "$i" = "$N" ] || [ "$seq" = 1 ]; then
			cli --json image pull "$id" "$dev" "$copy" --since "$pulled_tok" >/tmp/pull.json ||
				fail "incremental pull at snapshot $i ($pulled_tok -> $tok): $(cat /tmp/pull.json)"
			bytes=$(field bytes /tmp/pull.json)
			[ "$bytes" -lt $((size / 4)) ] || fail "pull at snapshot $i moved $bytes of $size bytes"
			same || fail "copy differs from image $i ($tok) after an incremental since $pulled_tok"
			cli cbt commit "$dev" --snapshot "$id" >/dev/null || fail "commit at $i"
			bk_log "snapshot $i: incremental $pulled_tok -> $tok: $bytes bytes, copy == image"
			pulled_tok=$tok
			pulls=$((pulls + 1))
		fi
		cli release "$id" >/dev/null || fail "release $i"
		wrapped "$i" agent
		i=$((i + 1))
		continue
	fi
	# Up to the agent's next turn: the next multiple of EVERY, the last
	# snapshot, or sequence 250 before the first wrap.
	k=$(((i / EVERY + 1) * EVERY - i))
	[ $((i + k)) -le "$N" ] || k=$((N - i))
	[ $wraps -ne 0 ] || [ $((250 - seq)) -ge "$k" ] || k=$((250 - seq))
	"$BKSNAPCTL" cycle "$k" "$tooldiff" "$dev" >/tmp/t.txt || fail "bksnapctl cycle at snapshot $i"
	n=0
	while read -r member; do # parsed without forks: TCG
		gen=${member##*generation=}
		seq=${member#* sequence=}
		seq=${seq%% *}
		wrapped $((i + n)) bksnapctl
		n=$((n + 1))
	done </tmp/t.txt
	[ "$n" = "$k" ] || fail "bksnapctl cycle $k at snapshot $i printed $n members"
	i=$((i + k))
done
secs=$(($(date +%s) - start))
[ "$wraps" -ge 2 ] || [ "$N" -lt 509 ] || fail "$N snapshots but $wraps wraps"
bk_log "$N snapshots ($by_agent by the agent), $wraps wraps, $pulls incremental pulls, copies exact; snapshots 2..$N took $secs s"

# Older than the committed baseline: a full read, never an incremental.
rc=0
cli --json cbt changes "$dev" --since "$first_tok" >/tmp/old.json || rc=$?
[ $rc -eq 5 ] || fail "changes since the first token: exit $rc, want 5: $(cat /tmp/old.json)"
bk_log "token older than the baseline: $(field reason /tmp/old.json)"

kill -TERM "$agent_pid"
wait "$agent_pid" || bk_fail "bkagentd exit status $?"
"$BKSNAPCTL" detach "$dev" || bk_fail "detach"
umount /tmp/diffs
bk_unload_module
