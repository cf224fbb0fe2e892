#!/bin/bash
# Harness self-test: a case that fails; the harness must report its status.
. "$(dirname "$0")/../lib/guest.sh"
bk_log "exiting with status 3 on purpose"
exit 3
