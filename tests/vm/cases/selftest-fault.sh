#!/bin/bash
# Harness self-test: load the fixture module with fault=$BK_FAULT (warn, bug,
# hang or none) and unload it. The harness must fail all runs but fault=none.
. "$(dirname "$0")/../lib/guest.sh"
# A 10 s hang is a hung task once the limit is 2 s.
[ "$BK_FAULT" != hang ] || sysctl -qw kernel.hung_task_timeout_secs=2
bk_load_module fault="$BK_FAULT"
bk_unload_module
