"""The module on a kernel the 9p harness cannot boot (Debian's 6.1 cloud
flavour has no 9p): an initramfs with busybox, bksnapctl and the module runs
initramfs-check.sh (tracker CBT and a snapshot image) on two scratch disks.
"""
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from bkvm import boot_assets, kernel_log  # noqa: E402

GUEST_INIT = pathlib.Path(__file__).resolve().parent / 'initramfs-check.sh'


def _shared_libs(binary):
    """The dynamic loader and libraries `binary` needs, as ldd resolves them."""
    out = subprocess.run(['ldd', str(binary)], capture_output=True, text=True,
                         check=True).stdout
    return [w for line in out.splitlines() for w in line.split() if w.startswith('/')]


def _write_initramfs(path, kver, root, ko, bksnapctl):
    extra = [(ko, 'bksnap.ko'), (bksnapctl, 'bin/bksnapctl')]
    extra += [(lib, lib) for lib in _shared_libs(bksnapctl)]
    boot_assets.write_initramfs(path, kver, GUEST_INIT, root, ['virtio_pci', 'virtio_blk'],
                                extra)


def run(root, kver, ko, bksnapctl, run_dir, cache_dir, timeout=300):
    """Boots the kernel of `root` with the check; returns (verdict, console log)."""
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    kernel = boot_assets.kernel_image(kver, cache_dir, root)
    initrd = run_dir / 'initramfs.cpio'
    _write_initramfs(initrd, kver, root, ko, bksnapctl)
    with tempfile.TemporaryDirectory(dir=run_dir) as tmp:
        cmd = ['qemu-system-x86_64', '-accel', 'tcg', '-cpu', 'max', '-smp', '2', '-m', '1024',
               '-nodefaults', '-display', 'none', '-no-reboot', '-serial', 'stdio',
               '-kernel', str(kernel), '-initrd', str(initrd),
               '-append', 'console=ttyS0 quiet panic=-1 oops=panic']
        for i, size in enumerate((64 << 20, 64 << 20), 1):
            img = pathlib.Path(tmp, f'disk{i}.img')
            with open(img, 'wb') as f:
                f.truncate(size)
            cmd += ['-drive', f'if=none,id=drive{i},file={img},format=raw,cache=unsafe',
                    '-device', f'virtio-blk-pci,drive=drive{i},serial=disk{i}']
        (run_dir / 'qemu.cmd').write_text(' '.join(cmd) + '\n')
        try:
            out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                 timeout=timeout).stdout.decode(errors='replace')
            timed_out = False
        except subprocess.TimeoutExpired as e:
            out, timed_out = (e.stdout or b'').decode(errors='replace'), True
    (run_dir / 'console.log').write_text(out)
    if kernel_log.reports(out):
        return 'kernel-log', out
    if timed_out:
        return 'timeout', out
    return ('pass' if 'BKREACH_PASS' in out else 'script'), out


def main():
    t0 = time.monotonic()
    verdict, out = run(*sys.argv[1:7])
    print(''.join(line + '\n' for line in out.splitlines() if 'BKREACH' in line), end='')
    print(f'initramfs check: {verdict} ({time.monotonic() - t0:.0f} s)')
    return verdict != 'pass'


if __name__ == '__main__':
    sys.exit(main())
