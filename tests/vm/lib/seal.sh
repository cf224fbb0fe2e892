# Backups over the installed CLI (bkagent on PATH, default socket) for the
# cases of the chain across reboots; source after guest.sh. The case defines
# fail MSG (bk_fail plus its logs) and writes FIRST LAST (appends to files
# FIRST..LAST of DEV's filesystem, then syncs).

# bk_seal_agent_up: waits up to 30 s for the bkagentd just started to answer.
bk_seal_agent_up() {
	for _ in $(seq 1 300); do
		bkagent status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "bkagentd did not start"
}

# bk_seal_backup DEV COPY TOKEN [SINCE]: snapshot DEV, copy all of it (or
# what changed since SINCE, over the API) onto COPY, check COPY == the image
# (sha256), commit; the snapshot's token goes to file TOKEN; prints the
# bytes copied.
bk_seal_backup() {
	local dev=$1 copy=$2 size id img
	size=$(blockdev --getsize64 "$dev")
	bkagent --json snapshot "$dev" --lease 10m >/tmp/s.json || fail "snapshot $dev: $(cat /tmp/s.json)"
	id=$(bk_json '.id' </tmp/s.json)
	img=$(bk_json '.devices[0].image' </tmp/s.json)
	bk_json '.devices[0].token' </tmp/s.json >"$3"
	if [ -n "${4:-}" ]; then
		bkagent --json image pull "$id" "$dev" "$copy" --since "$4" >/tmp/pull.json ||
			fail "pull $dev since $4: $(cat /tmp/pull.json)"
	else
		dd if="$img" of="$copy" bs=1M conv=fsync status=none || fail "copy of $img"
		echo "{\"bytes\": $size}" >/tmp/pull.json
	fi
	[ "$(head -c "$size" "$copy" | sha256sum)" = "$(sha256sum <"$img")" ] || fail "copy of $dev differs from its image"
	bkagent cbt commit "$dev" --snapshot "$id" >/dev/null || fail "commit $dev"
	bkagent release "$id" >/dev/null
	bk_json '.bytes' </tmp/pull.json
}

# bk_seal_refused DEV TOKEN REASON: the changes of DEV since the token in
# file TOKEN are refused (a full read) with REASON.
bk_seal_refused() {
	local rc=0
	bkagent --json cbt changes "$1" --since "$(cat "$2")" >/tmp/full.json || rc=$?
	[ $rc -eq 5 ] || fail "$1: changes since the old token: exit $rc, want 5: $(cat /tmp/full.json)"
	[ "$(bk_json '.error.reason' </tmp/full.json)" = "$3" ] || fail "$1: reason: $(cat /tmp/full.json)"
}

# bk_seal_carried DEV COPY TOKEN WHAT: DEV's map came over the reboot: track
# status says so; after writes 6..10 the incremental since the token in file
# TOKEN (made before the reboot) reads less than a quarter of DEV and COPY
# equals the image; logs WHAT with the bytes read.
bk_seal_carried() {
	local dev=$1 size inc
	bkagent track status "$dev" | grep -q "carried over a clean reboot" ||
		fail "track status: $(bkagent track status "$dev")"
	writes 6 10
	size=$(blockdev --getsize64 "$dev")
	inc=$(bk_seal_backup "$dev" "$2" "$3" "$(cat "$3")")
	[ "$inc" -lt $((size / 4)) ] || fail "the incremental across the reboot read $inc of $size bytes"
	bk_log "$4: $inc of $size bytes, copy == image"
}
