#!/bin/bash
# Harness self-test: a case that never ends; the harness must kill QEMU.
. "$(dirname "$0")/../lib/guest.sh"
bk_log "sleeping past the harness timeout on purpose"
sleep 100000
