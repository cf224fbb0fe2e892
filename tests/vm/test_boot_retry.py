#!/usr/bin/python3
"""Unit test of the VM harness's retry of a guest kernel that failed early
(bkvm/vm.py, _run_boot): which boots go again, and on which disks."""
import argparse
import pathlib
import sys
import tempfile
import unittest
from unittest import mock

sys.dont_write_bytecode = True
from bkvm import vm  # noqa: E402


class FakeRun:
    """What _run_once returns: a run dir with a disk and the boot's console,
    whose BKVM_ROOT says the harness's init got to its root."""

    def __init__(self, args, console):
        self.a = args
        self.run_dir = pathlib.Path(args.run_dir)
        self.run_dir.mkdir(exist_ok=True)
        self.disks = [self.run_dir / 'disk1.img']
        self.disks[0].touch()
        self.console_log = self.run_dir / f'console.boot{args.boot}.log'
        self.console_log.write_bytes(console)
        self.stage2_at, self.wall = None, 1.0
        self.root_at = 2.8 if b'BKVM_ROOT' in console else None

    def own_init(self):
        return not self.a.initrd

    def log(self, msg):
        pass

    def cleanup(self):
        if not self.a.keep_disks:
            for img in self.disks:
                img.unlink(missing_ok=True)


class BootRetry(unittest.TestCase):
    def run_boot(self, boot, verdicts, initrd=None):
        """Runs _run_boot for `boot` of 3 with _run_once answering `verdicts`
        (code, console) in turn; returns (code, attempts, run dir)."""
        tmp = pathlib.Path(self.enterContext(tempfile.TemporaryDirectory()))
        args = argparse.Namespace(run_dir=str(tmp / 'run'), boot=boot, boots=3,
                                  keep_disks=boot < 3, initrd=initrd)  # as run() sets it
        answers, attempts = list(verdicts), []

        def run_once(a):
            code, console = answers.pop(0)
            attempts.append(a.keep_disks)
            return FakeRun(a, console), code, 'reason'

        with mock.patch.object(vm, '_run_once', run_once):
            code = vm._run_boot(args)
        return code, attempts, tmp / 'run'

    def test_a_later_boot_that_failed_before_the_root_goes_again_on_its_disks(self):
        code, attempts, run = self.run_boot(3, [(vm.GUEST_KERNEL, b'rcu: stall'), (vm.PASS, b'BKVM_ROOT')])
        self.assertEqual(code, vm.PASS)
        self.assertEqual(attempts, [True, True])  # the disks outlive the first attempt
        self.assertTrue((run / 'console.boot3.guest-kernel-failure.log').exists())
        self.assertFalse((run / 'disk1.img').exists())  # the last boot's end removes them

    def test_a_later_boot_that_failed_after_the_root_does_not(self):
        code, attempts, run = self.run_boot(2, [(vm.GUEST_KERNEL, b'BKVM_ROOT uptime=3\nrcu: stall')])
        self.assertEqual(code, vm.GUEST_KERNEL)
        self.assertEqual(len(attempts), 1)

    def test_a_boot_of_the_cases_own_initramfs_does_not(self):
        code, attempts, _ = self.run_boot(2, [(vm.GUEST_KERNEL, b'rcu: stall')], initrd='initrd.img')
        self.assertEqual(code, vm.GUEST_KERNEL)
        self.assertEqual(len(attempts), 1)

    def test_a_first_boot_starts_over_on_fresh_disks(self):
        code, attempts, run = self.run_boot(1, [(vm.GUEST_KERNEL, b'BKVM_ROOT\nrcu: stall'), (vm.PASS, b'')])
        self.assertEqual(code, vm.PASS)
        self.assertEqual(len(attempts), 2)
        self.assertTrue(run.with_name('run.guest-kernel-failure').is_dir())

    def test_a_second_failure_is_the_verdict(self):
        code, attempts, _ = self.run_boot(3, [(vm.GUEST_KERNEL, b''), (vm.GUEST_KERNEL, b'')])
        self.assertEqual(code, vm.GUEST_KERNEL)
        self.assertEqual(len(attempts), 2)

    def test_other_failures_are_not_retried(self):
        code, attempts, _ = self.run_boot(2, [(vm.SCRIPT_FAILED, b'')])
        self.assertEqual(code, vm.SCRIPT_FAILED)
        self.assertEqual(len(attempts), 1)


if __name__ == '__main__':
    unittest.main()
