#!/bin/bash
# Every bad input to the control interface (trackers and snapshots) returns its documented errno, an
# unprivileged caller gets EPERM, and nothing warns in the kernel log.
. "$(dirname "$0")/../lib/guest.sh"

bk_load_module
disk=$(bk_disk 1)
other=$(bk_disk 2)
diff=$(bk_disk 3)
[ "$(stat -c %a /dev/bksnap-ctl)" = 600 ] || bk_fail "/dev/bksnap-ctl mode is not 0600"
"$BK_BUILD_DIR/tests/tools/ctl_errno_test" "$disk" "$other" "$diff" || bk_fail "errno cases failed"
bk_unload_module
