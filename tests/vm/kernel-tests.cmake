# VM tests of the bksnap module itself (tracker, CBT, control interface).
# Included from tests/vm/CMakeLists.txt after bk_vm_test() is defined.
bk_vm_test(NAME tracker_errno SCRIPT cases/tracker_errno.sh DISKS "64M 64M 64M" TIMEOUT 90)
bk_vm_test(NAME tracker_cbt SCRIPT cases/tracker_cbt.sh DISKS "256M 512M 256M 128M" TIMEOUT 300 COST 77)
bk_vm_test(NAME tracker_cycles SCRIPT cases/tracker_cycles.sh DISKS "256M 512M" TIMEOUT 600 COST 101)
bk_vm_test(NAME tracker_stack SCRIPT cases/tracker_stack.sh DISKS "256M 128M" TIMEOUT 200 COST 45)
bk_vm_test(NAME tracker_drain SCRIPT cases/tracker_drain.sh DISKS "64M" TIMEOUT 90)
bk_vm_test(NAME snapshot_stamp SCRIPT cases/snapshot_stamp.sh DISKS "512M 512M 512M" TIMEOUT 900 COST 200)
bk_vm_test(NAME snapshot_image SCRIPT cases/snapshot_image.sh DISKS "512M 512M 256M 512M" TIMEOUT 300 COST 132)
bk_vm_test(NAME snapshot_storage SCRIPT cases/snapshot_storage.sh DISKS "256M 256M" TIMEOUT 300 COST 75)
bk_vm_test(NAME snapshot_group SCRIPT cases/snapshot_group.sh DISKS "64M 64M 64M 64M" TIMEOUT 200 COST 33)
bk_vm_test(NAME snapshot_destroy SCRIPT cases/snapshot_destroy.sh DISKS "256M 256M" TIMEOUT 400 COST 42)
# 887 s at load ~10 (CI runs it beside another guest): the timeout is for a hang.
bk_vm_test(NAME repo_backup SCRIPT cases/repo_backup.sh DISKS "64M 300M 1G 300M" TIMEOUT 1500 COST 595)
# Restore points mounted over NBD and files restored from them (issue 16).
bk_vm_test(NAME repo_mount SCRIPT cases/repo_mount.sh DISKS "64M 96M 128M" TIMEOUT 600 COST 116)
