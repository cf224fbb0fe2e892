#!/usr/bin/python3
"""Runs a guest test case (tests/vm/cases/*.sh) in a QEMU VM; see README.md.

Exit status: 0 pass, 1 case failed, 2 kernel log reports a problem,
3 timeout, 4 guest stopped without a status, 5 harness error,
6 the guest kernel failed before the module was loaded (after one retry).
"""
import argparse
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
from bkvm import vm  # noqa: E402


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(vm.HARNESS_ERROR, f'vmrun.py: error: {message}\n')


def main():
    p = _Parser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('case', help='guest script, run as root in the VM')
    p.add_argument('--run-dir', required=True, help='scratch dir: disks, work share, logs')
    p.add_argument('--cache-dir', required=True, help='where the extracted vmlinux is kept')
    p.add_argument('--disks', default='', help='scratch disk sizes, e.g. "64M 1G"')
    p.add_argument('--timeout', type=int, default=120, help='wall seconds before QEMU is killed')
    p.add_argument('--smp', type=int, default=2)
    p.add_argument('--mem', type=int, default=1024, help='guest RAM in MiB')
    p.add_argument('--kmod', help='kernel module for the case (BK_KMOD in the guest)')
    p.add_argument('--env', action='append', default=[], metavar='NAME=VALUE',
                   help='extra environment for the case (repeatable)')
    p.add_argument('--kver', help="guest kernel release (default: --kmod's vermagic, else newest in /boot)")
    p.add_argument('--kernel-root', default='/', metavar='DIR',
                   help='system whose boot/vmlinuz-<kver> and lib/modules the guest boots, '
                        'e.g. a chroot of another Debian suite (default: the host)')
    p.add_argument('--share', action='append', default=[], metavar='DIR',
                   help='host tree the guest must see at the same path even if a guest '
                        'tmpfs hides it (e.g. a clone in /tmp), read-only (repeatable)')
    p.add_argument('--systemd', action='store_true',
                   help='boot systemd as PID 1 on a writable overlay root; it runs the case')
    p.add_argument('--root-disk', type=int, metavar='N',
                   help='with --systemd: scratch disk N (ext4, made at boot 1) keeps the '
                        "overlay root's changes, so the installed system persists across --boots")
    p.add_argument('--accel', choices=['auto', 'tcg', 'kvm'], default='auto')
    p.add_argument('--hung-task-secs', type=int, default=30)
    p.add_argument('--keep-disks', action='store_true')
    p.add_argument('--boots', type=int, default=1,
                   help='boot N times on the same disks and work share, running the case '
                        'once per boot with BK_BOOT=1..N (see README.md, "Multi-boot")')
    p.add_argument('--between-boots', metavar='SCRIPT',
                   help='host script run before the first boot (BK_BOOT=0, the disks made) and '
                        'after each boot but the last, with BK_BOOT and BK_RUN_DIR (the disks '
                        'are $BK_RUN_DIR/diskN.img)')
    p.add_argument('--initrd', metavar='FILE',
                   help="boot this initramfs instead of the harness's (it may be made by "
                        '--between-boots at BK_BOOT=0); its root must start stage 2')
    p.add_argument('--append', metavar='ARGS', help='more kernel command line, e.g. root=...')
    p.add_argument('--quiet', action='store_true', help="don't echo the case's output")
    args = p.parse_args()
    if args.root_disk and not args.systemd:
        p.error('--root-disk needs --systemd')
    return vm.run(args)


if __name__ == '__main__':
    sys.exit(main())
