#!/bin/sh
# Agent benchmarks (not a test): image streaming over loopback mTLS vs dd and
# vs a bare TLS pipe of the same image (socat); bench/repo's mixed image
# streamed and backed up remotely, raw and zstd on the wire, over loopback and
# a paced 1 Gbit/s link; changed-extent queries on a 2 TiB device with 1%
# changed.
# Usage: bench/agent/run.sh [BUILD_DIR] [IMAGE_MIB]   (defaults: build, 2048)
set -eu
build=${1:-build}
mib=${2:-2048}
ninja -C "$build" agent_bench fake_bkagentd bkagent >/dev/null
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -r)"
"$build/bench/agent/agent_bench" read "$mib"
"$build/bench/agent/agent_bench" backup "$mib"
"$build/bench/agent/agent_bench" changes
