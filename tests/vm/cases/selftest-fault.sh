#!/bin/bash
# Harness self-test: load the fixture module with fault=$BK_FAULT (warn, bug
# or none) and unload it. The harness must fail the run for warn and bug.
. "$(dirname "$0")/../lib/guest.sh"
bk_load_module fault="$BK_FAULT"
bk_unload_module
