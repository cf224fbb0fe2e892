# VM tests of the bksnap module itself (tracker, CBT, control interface).
# Included from tests/vm/CMakeLists.txt after bk_vm_test() is defined.
bk_vm_test(NAME tracker_errno SCRIPT cases/tracker_errno.sh DISKS "64M 64M" TIMEOUT 90)
