#!/bin/sh
# Reading a restore point without restoring it: the NBD export (`bkagent serve`) vs
# `bkagent restore` of the same point, beside restic 0.14's `restore` and `mount` of the
# same image, in one run. Sequential: nbdcopy to null: and to a file, `cat` of the
# restic-mounted file, alternating, BK_BENCH_ROUNDS rounds. Random 4 KiB reads: fio's nbd
# engine on the export, fio psync on the restic-mounted file (latency at queue depth 1,
# IOPS at 16 in flight). The image is bench/repo's mixed image (1/3 random, 1/3 text,
# 1/3 zeros), 1 MiB chunks.
# usage: bench/nbd/run.sh [BUILD_DIR]     env: BK_BENCH_MIB (1024), BK_BENCH_ROUNDS (3),
#        BK_BENCH_FIO_SECONDS (10); installs restic and fuse with apt-get when missing
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-$HERE/../../build}" && pwd)
CLI=$BUILD/agent/bkagent
BENCH=$BUILD/bench/repo/repo_bench
export BKAGENT_NBDKIT_PLUGIN=$BUILD/storage/nbd/nbdkit-bkagent-plugin.so
WORK=${BK_BENCH_DIR:-/var/tmp/bk-bench-nbd}
OUT=${BK_BENCH_OUT:-/dev/shm/bk-bench-nbd}  # restores and nbdcopy write here (tmpfs)
SIZE_MIB=${BK_BENCH_MIB:-1024}
ROUNDS=${BK_BENCH_ROUNDS:-3}
FIO_S=${BK_BENCH_FIO_SECONDS:-10}

for f in "$CLI" "$BENCH" "$BKAGENT_NBDKIT_PLUGIN"; do
	[ -e "$f" ] || { echo "build first: $f is missing" >&2; exit 2; }
done
if ! command -v restic >/dev/null || ! command -v fusermount >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q restic fuse >/dev/null
fi
export BK_PASSPHRASE=bench BKAGENT_PASSPHRASE=bench RESTIC_PASSWORD=bench
export RESTIC_REPOSITORY=$WORK/restic RESTIC_CACHE_DIR=$WORK/restic-cache
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$WORK" "$OUT" && mkdir -p "$WORK" "$OUT"
python3 "$HERE/../repo/make_image.py" "$SIZE_MIB" 1 "$WORK/image"
"$BENCH" init "$WORK/repo"
point=$("$BENCH" backup "$WORK/repo" "$WORK/image" dev | sed 's/.*"point":"\([0-9a-f]*\)".*/\1/')
restic init -q >/dev/null
restic backup -q "$WORK/image" >/dev/null
sha_image=$(sha256sum < "$WORK/image" | cut -c1-16)
rm -f "$WORK/image"  # the source stays out of the page cache's way; packs stay cached

SOCK=$WORK/nbd.sock
URI="nbd+unix:///?socket=$SOCK"
MNT=$WORK/restic-mnt
mkdir -p "$MNT"
"$CLI" serve "$point" --repo "$WORK/repo" --listen "unix:$SOCK" --daemon --pid-file "$WORK/pid" >/dev/null
for _ in $(seq 100); do [ -e "$WORK/pid" ] && break; sleep 0.1; done
restic_pid=""
restic_mount() {
	restic mount -q "$MNT" >/dev/null 2>&1 &
	restic_pid=$!
	for _ in $(seq 300); do [ -e "$MNT/snapshots/latest$WORK/image" ] && return; sleep 0.1; done
	echo "restic mount did not come up" >&2; exit 1
}
restic_umount() {
	[ -n "$restic_pid" ] || return 0
	fusermount -u "$MNT" 2>/dev/null || true
	wait "$restic_pid" 2>/dev/null || true
	restic_pid=""
}
trap 'restic_umount; kill "$(cat "$WORK/pid")" 2>/dev/null; rm -rf "$WORK" "$OUT"' EXIT

now() { date +%s.%N; }
elapsed() { echo "$(now) $1" | awk '{printf "%.2f", $1 - $2}'; }
mibs() { echo "$SIZE_MIB $1" | awk '{printf "%.0f", $1 / $2}'; }
cat "$WORK"/repo/packs/*/*.pack "$WORK"/restic/data/*/* >/dev/null  # packs page-cached for every way alike

restore_s="" null_s="" file_s="" restic_restore_s="" restic_cat_s=""
for r in $(seq "$ROUNDS"); do
	rm -rf "${OUT:?}"/*; t=$(now); "$CLI" restore "$point" "$OUT/restored" --repo "$WORK/repo" >/dev/null
	restore_s="$restore_s $(elapsed "$t")"
	t=$(now); nbdcopy "$URI" null:; null_s="$null_s $(elapsed "$t")"
	rm -rf "${OUT:?}"/*; t=$(now); nbdcopy "$URI" "$OUT/copy"; file_s="$file_s $(elapsed "$t")"
	rm -rf "${OUT:?}"/*; t=$(now); restic restore -q latest --target "$OUT" >/dev/null
	restic_restore_s="$restic_restore_s $(elapsed "$t")"
	rm -rf "${OUT:?}"/*
	restic_mount  # a fresh mount each round: nothing of the file in the page cache
	t=$(now); cat "$MNT/snapshots/latest$WORK/image" >/dev/null; restic_cat_s="$restic_cat_s $(elapsed "$t")"
	restic_umount
done
sha_export=$(nbdcopy "$URI" - | sha256sum | cut -c1-16)
"$CLI" restore "$point" "$OUT/restored" --repo "$WORK/repo" >/dev/null
sha_restore=$(sha256sum < "$OUT/restored" | cut -c1-16)
rm -rf "${OUT:?}"/*

# Random 4 KiB reads over the whole image (the zero third answers without decoding).
# fio_stats: fio's JSON (after the nbd engine's "connected" line) as "IOPS p50_us p99_us".
fio_stats() {
	python3 -c 'import json,sys
t = sys.stdin.read()
j = json.loads(t[t.index("{"):])["jobs"]
iops = sum(x["read"]["iops"] for x in j)
p = j[0]["read"]["clat_ns"]["percentile"]
print("%.0f %.0f %.0f" % (iops, p["50.000000"] / 1e3, p["99.000000"] / 1e3))'
}
fio_common="--name=rand --rw=randread --bs=4k --time_based --runtime=$FIO_S --group_reporting --output-format=json"
# shellcheck disable=SC2086
nbd_qd1=$(fio $fio_common --ioengine=nbd --uri="$URI" --iodepth=1 | fio_stats)
# shellcheck disable=SC2086
nbd_qd16=$(fio $fio_common --ioengine=nbd --uri="$URI" --iodepth=16 | fio_stats)
restic_mount
# shellcheck disable=SC2086
restic_qd1=$(fio $fio_common --ioengine=psync --filename="$MNT/snapshots/latest$WORK/image" --readonly | fio_stats)
# shellcheck disable=SC2086
restic_qd16=$(fio $fio_common --ioengine=psync --numjobs=16 --filename="$MNT/snapshots/latest$WORK/image" --readonly | fio_stats)
restic_umount

best() { echo "$1" | tr ' ' '\n' | grep . | sort -n | head -1; }
b_restore=$(best "$restore_s"); b_null=$(best "$null_s"); b_file=$(best "$file_s")
b_rr=$(best "$restic_restore_s"); b_rc=$(best "$restic_cat_s")
pct() { echo "$1 $2" | awk '{printf "%.0f%%", 100 * $1 / $2}'; }
row() { echo "| $1 |$2 | $3 | $(mibs "$3") | $(pct "$b_restore" "$3") |"; }
fio_row() { set -- "$1" $2; echo "| $1 | $2 | $3 | $4 |"; }
cat <<END
machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u '+%Y-%m-%d %H:%M UTC')
load average at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)
image: $SIZE_MIB MiB mixed, sha256 $sha_image; point $point; sha256 export $sha_export, restore $sha_restore
| way | seconds per round | best | MiB/s (best) | vs bkagent restore |
|---|---|---|---|---|
$(row "bkagent restore to tmpfs file" "$restore_s" "$b_restore")
$(row "nbdcopy export to null:" "$null_s" "$b_null")
$(row "nbdcopy export to tmpfs file" "$file_s" "$b_file")
$(row "restic restore to tmpfs" "$restic_restore_s" "$b_rr")
$(row "restic mount + cat to /dev/null" "$restic_cat_s" "$b_rc")

random 4 KiB reads, ${FIO_S} s each:
| way | IOPS | p50 latency (us) | p99 latency (us) |
|---|---|---|---|
$(fio_row "export, fio nbd engine, queue depth 1" "$nbd_qd1")
$(fio_row "export, fio nbd engine, queue depth 16" "$nbd_qd16")
$(fio_row "restic mount, fio psync, 1 job" "$restic_qd1")
$(fio_row "restic mount, fio psync, 16 jobs" "$restic_qd16")
END
