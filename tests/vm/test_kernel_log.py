#!/usr/bin/python3
"""Unit test of the VM harness's kernel-log judge (bkvm/kernel_log.py)."""
import sys
import unittest

sys.dont_write_bytecode = True
from bkvm import kernel_log  # noqa: E402

# Real report lines from 6.1 kernels, as they appear on the serial console.
BAD = [
    '[    2.725734] WARNING: CPU: 0 PID: 127 at fs/x.c:20 f+0x20/0x1000 [m]',
    '[    2.557867] kernel BUG at fs/x.c:22!',
    '[   10.000001] BUG: kernel NULL pointer dereference, address: 0000000000000008',
    '[   10.000002] BUG: sleeping function called from invalid context at mm/slab.h:1',
    '[   10.000003] BUG: soft lockup - CPU#1 stuck for 22s! [fio:321]',
    '[   10.000004] Oops: 0000 [#1] PREEMPT SMP NOPTI',
    '[   10.000005] general protection fault, probably for non-canonical address 0xdead: 0000',
    '[   10.000006] WARNING: possible circular locking dependency detected',
    '[   10.000007] INFO: task kworker/0:1:42 blocked for more than 30 seconds.',
    '[   10.000008] rcu: INFO: rcu_preempt self-detected stall on CPU',
    '[   10.000009] Call Trace:',
    '[   10.000010] Kernel panic - not syncing: Fatal exception',
    '[   10.000011] UBSAN: shift-out-of-bounds in drivers/x.c:1:2',
    '[   10.000012] Watchdog detected hard LOCKUP on cpu 1',
]
GOOD = [
    '[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)',
    '[    2.700000] bkfixture: module verification failed: signature and/or '
    'required key missing - tainting kernel',
    '[    3.100000] XFS (vdb): Mounting V5 Filesystem',
    '[    3.200000] EXT4-fs (vda): mounted filesystem with ordered data mode.',
    '[    4.000000] vdb: detected capacity change from 65536 to 0',
    # ext4 after an unclean stop, mounting a root read-only (vm_seal_root).
    '[    7.741625] EXT4-fs (vda): INFO: recovery required on readonly filesystem',
    # User-space text on the console is not a kernel report.
    '  WARNING: This metadata update is NOT backed up.',
    'BUG: this line has no printk stamp',
]


class KernelLogTest(unittest.TestCase):
    def test_each_report_is_found(self):
        for line in BAD:
            self.assertEqual(kernel_log.reports(line), [line], line)

    def test_normal_messages_and_user_text_are_not_reports(self):
        self.assertEqual(kernel_log.reports('\n'.join(GOOD)), [])

    def test_report_glued_after_user_text_is_found(self):
        line = 'partial output without newline' + BAD[0]
        self.assertEqual(kernel_log.reports(line), [BAD[0]])

    def test_console_and_dmesg_copies_are_reported_once_in_order(self):
        console = '\n'.join(GOOD[:2] + BAD[:3])
        dmesg = '\n'.join(BAD[1:4]).replace('[   10.', '[   11.')
        found = kernel_log.reports(console, dmesg)
        self.assertEqual(found, BAD[:3] + [BAD[3].replace('[   10.', '[   11.')])


# sid's 7.2 under TCG, before any module of the harness was loaded.
INT3_AT_BOOT = [
    '[    1.800000] Oops: int3: 0000 [#1] SMP NOPTI',
    '[    1.800001] CPU: 1 UID: 0 PID: 0 Comm: swapper/1 Not tainted 7.2.0-1-amd64 #1',
    '[    1.800002] RIP: 0010:ktime_get+0x1/0xb0',
    '[    1.800003] Modules linked in: virtio_blk 9p 9pnet_virtio',
]
MARK = f'[    5.000000] {kernel_log.MODULE_LOAD_MARK} /work/build/kernel/kmod/bksnap.ko'


class GuestKernelFailureTest(unittest.TestCase):
    def test_report_before_the_module_load_is_the_guest_kernels(self):
        self.assertTrue(kernel_log.guest_kernel_failure('\n'.join(GOOD[:1] + INT3_AT_BOOT)))

    def test_report_after_the_mark_may_be_the_modules(self):
        later = [line.replace('[    1.', '[    6.') for line in INT3_AT_BOOT]
        self.assertFalse(kernel_log.guest_kernel_failure('\n'.join([MARK] + later)))

    def test_report_naming_the_module_is_never_the_guest_kernels(self):
        # Loaded without the mark (e.g. by modprobe from a package's unit).
        oops = INT3_AT_BOOT[:3] + ['[    1.800003] Modules linked in: bksnap(OE) xfs']
        self.assertFalse(kernel_log.guest_kernel_failure('\n'.join(oops)))

    def test_clean_log_is_no_failure(self):
        self.assertFalse(kernel_log.guest_kernel_failure('\n'.join(GOOD + [MARK])))


if __name__ == '__main__':
    unittest.main()
