#!/bin/bash
# Harness self-test: the guest kernel crashes (sysrq c: panic) with no module
# under test loaded. The harness must call it a guest-kernel failure, retry
# the boot once, and fail with verdict guest-kernel.
. "$(dirname "$0")/../lib/guest.sh"
echo c >/proc/sysrq-trigger
