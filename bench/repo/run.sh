#!/bin/sh
# Full and incremental backup of a 2 GiB mixed image (random, text, zeros; page-cached):
# bk_storage (repo_bench) beside `borg create` (zstd,3, fixed 4 MiB chunks) and restic.
# The incremental changes 1% of the image; bk_storage is given the changed-chunk list
# (what CBT reports), borg and restic re-read the whole image as they must.
# usage: bench/repo/run.sh [BUILD_DIR]    (installs borgbackup and restic with apt-get)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../../build}
BENCH=$BUILD/bench/repo/repo_bench
WORK=${BK_BENCH_DIR:-/var/tmp/bk-bench-repo}
SIZE_MIB=${BK_BENCH_MIB:-2048}
CHUNK=1048576

[ -x "$BENCH" ] || { echo "build repo_bench first (ninja -C $BUILD repo_bench)" >&2; exit 2; }
if ! command -v borg >/dev/null || ! command -v restic >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends borgbackup restic >/dev/null
fi

export BK_PASSPHRASE=bench BORG_PASSPHRASE=bench RESTIC_PASSWORD=bench
export BORG_BASE_DIR=$WORK/borg-home RESTIC_CACHE_DIR=$WORK/restic-cache
rm -rf "$WORK" && mkdir -p "$WORK"
IMG=$WORK/image
python3 "$HERE/make_image.py" "$SIZE_MIB" 1 "$IMG"

now() { date +%s.%N; }
# elapsed START: seconds since START, 2 decimals
elapsed() { echo "$(now) $1" | awk '{printf "%.2f", $1 - $2}'; }
# Page-cached source, and no dirty data left for the tools' fsyncs to flush.
cache() { cat "$IMG" >/dev/null; sync; }

"$BENCH" init "$WORK/bk"
borg init -e repokey "$WORK/borg" 2>/dev/null
restic init -q --repo "$WORK/restic" >/dev/null

cache; t=$(now); dd if="$IMG" of=/dev/null bs=4M status=none; dd_s=$(elapsed "$t")

cache; t=$(now); full=$("$BENCH" backup "$WORK/bk" "$IMG" dev); bk_full=$(elapsed "$t")
point=$(echo "$full" | sed 's/.*"point":"\([0-9a-f]*\)".*/\1/')
cache; t=$(now); borg create --compression zstd,3 --chunker-params fixed,4194304 "$WORK/borg::full" "$IMG"
borg_full=$(elapsed "$t")
cache; t=$(now); restic backup -q --repo "$WORK/restic" "$IMG" >/dev/null; restic_full=$(elapsed "$t")

# incremental: 1% of the image, as whole 1 MiB blocks (writes clustered like a filesystem's)
python3 "$HERE/change_blocks.py" "$IMG" 0.01 $CHUNK $CHUNK 2 "$WORK/changed"
cache; t=$(now); "$BENCH" backup "$WORK/bk" "$IMG" dev "$point" "$WORK/changed" >/dev/null; bk_inc=$(elapsed "$t")
cache; t=$(now); borg create --compression zstd,3 --chunker-params fixed,4194304 "$WORK/borg::inc" "$IMG"
borg_inc=$(elapsed "$t")
cache; t=$(now); restic backup -q --repo "$WORK/restic" "$IMG" >/dev/null; restic_inc=$(elapsed "$t")
changed_chunks=$(wc -l < "$WORK/changed")

ratio() { echo "$1 $2" | awk '{printf "%.1fx", $1 / $2}'; }
du_mib() { du -sm "$1" | cut -f1; }
cat <<END
machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)
image: $SIZE_MIB MiB mixed (1/3 random, 1/3 text, 1/3 zeros), dd read: ${dd_s}s
| | bk_storage | borg 1.2 | restic 0.14 | bk vs borg | bk vs restic |
|---|---|---|---|---|---|
| full backup (s) | $bk_full | $borg_full | $restic_full | $(ratio "$borg_full" "$bk_full") | $(ratio "$restic_full" "$bk_full") |
| incremental, 1% changed (s) | $bk_inc | $borg_inc | $restic_inc | $(ratio "$borg_inc" "$bk_inc") | $(ratio "$restic_inc" "$bk_inc") |
| repository size after both (MiB) | $(du_mib "$WORK/bk") | $(du_mib "$WORK/borg") | $(du_mib "$WORK/restic") | | |
incremental: $changed_chunks chunks of 1 MiB changed; bk_storage full summary: $full
END
rm -rf "$WORK"
