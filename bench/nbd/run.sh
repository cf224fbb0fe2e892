#!/bin/sh
# Sequential read of a restore point: the NBD export (`bkagent serve`, nbdcopy to null:
# and to a file) vs `bkagent restore` of the same point, alternating, in one run.
# The image is bench/repo's mixed image (1/3 random, 1/3 text, 1/3 zeros), 1 MiB chunks.
# usage: bench/nbd/run.sh [BUILD_DIR]     env: BK_BENCH_MIB (1024), BK_BENCH_ROUNDS (3)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-$HERE/../../build}" && pwd)
CLI=$BUILD/agent/bkagent
BENCH=$BUILD/bench/repo/repo_bench
export BKAGENT_NBDKIT_PLUGIN=$BUILD/storage/nbd/nbdkit-bkagent-plugin.so
WORK=${BK_BENCH_DIR:-/var/tmp/bk-bench-nbd}
OUT=${BK_BENCH_OUT:-/dev/shm/bk-bench-nbd.img}  # restore and nbdcopy write here (tmpfs)
SIZE_MIB=${BK_BENCH_MIB:-1024}
ROUNDS=${BK_BENCH_ROUNDS:-3}

for f in "$CLI" "$BENCH" "$BKAGENT_NBDKIT_PLUGIN"; do
	[ -e "$f" ] || { echo "build first: $f is missing" >&2; exit 2; }
done
export BK_PASSPHRASE=bench BKAGENT_PASSPHRASE=bench
rm -rf "$WORK" && mkdir -p "$WORK"
python3 "$HERE/../repo/make_image.py" "$SIZE_MIB" 1 "$WORK/image"
"$BENCH" init "$WORK/repo"
point=$("$BENCH" backup "$WORK/repo" "$WORK/image" dev | sed 's/.*"point":"\([0-9a-f]*\)".*/\1/')
rm -f "$WORK/image"  # the source stays out of the page cache's way; packs stay cached

SOCK=$WORK/nbd.sock
URI="nbd+unix:///?socket=$SOCK"
"$CLI" serve "$point" --repo "$WORK/repo" --listen "unix:$SOCK" --daemon --pid-file "$WORK/pid" >/dev/null
for _ in $(seq 100); do [ -e "$WORK/pid" ] && break; sleep 0.1; done
trap 'kill "$(cat "$WORK/pid")" 2>/dev/null; rm -rf "$WORK" "$OUT"' EXIT

now() { date +%s.%N; }
elapsed() { echo "$(now) $1" | awk '{printf "%.2f", $1 - $2}'; }
mibs() { echo "$SIZE_MIB $1" | awk '{printf "%.0f", $1 / $2}'; }
cat "$WORK"/repo/packs/*/*.pack >/dev/null  # packs page-cached for every way alike

restore_s="" null_s="" file_s=""
for r in $(seq "$ROUNDS"); do
	rm -f "$OUT"; t=$(now); "$CLI" restore "$point" "$OUT" --repo "$WORK/repo" >/dev/null
	restore_s="$restore_s $(elapsed "$t")"
	t=$(now); nbdcopy "$URI" null:; null_s="$null_s $(elapsed "$t")"
	rm -f "$OUT"; t=$(now); nbdcopy "$URI" "$OUT"; file_s="$file_s $(elapsed "$t")"
done
sha_export=$(nbdcopy "$URI" - | sha256sum | cut -c1-16)
"$CLI" restore "$point" "$OUT" --repo "$WORK/repo" >/dev/null
sha_restore=$(sha256sum < "$OUT" | cut -c1-16)

best() { echo "$1" | tr ' ' '\n' | grep . | sort -n | head -1; }
b_restore=$(best "$restore_s"); b_null=$(best "$null_s"); b_file=$(best "$file_s")
pct() { echo "$1 $2" | awk '{printf "%.0f%%", 100 * $1 / $2}'; }
cat <<END
machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u '+%Y-%m-%d %H:%M UTC')
load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)
image: $SIZE_MIB MiB mixed, point $point; sha256 export $sha_export, restore $sha_restore
| way | seconds per round | best | MiB/s (best) | vs restore |
|---|---|---|---|---|
| bkagent restore to tmpfs file |$restore_s | $b_restore | $(mibs "$b_restore") | 100% |
| nbdcopy export to null: |$null_s | $b_null | $(mibs "$b_null") | $(pct "$b_restore" "$b_null") |
| nbdcopy export to tmpfs file |$file_s | $b_file | $(mibs "$b_file") | $(pct "$b_restore" "$b_file") |
END
