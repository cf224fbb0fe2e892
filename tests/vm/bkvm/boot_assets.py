"""The guest's kernel image and initramfs, made from the host's Debian packages.

The kernel is Debian's linux-image; booting its uncompressed vmlinux through
QEMU's PVH entry saves the ~4 s that xz decompression costs under TCG. The
initramfs holds busybox, the virtio/9p modules and guest/init.sh, which mounts
the host's root read-only over 9p.
"""
import argparse
import lzma
import os
import pathlib
import stat
import struct
import subprocess

# What /init needs to reach the host root over 9p; modprobe adds what these
# depend on (the set differs between kernels: 6.12 builds virtio in).
INIT_MODULES = ['virtio_pci', 'virtio_blk', '9pnet_virtio', '9p']
_XZ_MAGIC = b'\xfd7zXZ\x00'
_ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'


def module_kernel_version(ko):
    """The kernel release a module was built for (the first word of its vermagic)."""
    data = pathlib.Path(ko).read_bytes()
    start = data.find(b'vermagic=')
    if start < 0:
        raise ValueError(f'{ko}: no vermagic, not a kernel module?')
    return data[start + len('vermagic='):].split(b' ', 1)[0].decode()


def newest_kernel_version(root='/'):
    images = sorted(pathlib.Path(root, 'boot').glob('vmlinuz-*-amd64'))
    if not images:
        raise FileNotFoundError('no /boot/vmlinuz-*-amd64: run deploy/install-deps.sh')
    return max((p.name[len('vmlinuz-'):] for p in images),
               key=lambda v: [int(x) if x.isdigit() else x for x in v.replace('-', '.').split('.')])


def kernel_image(kver, cache_dir, root='/'):
    """Returns the vmlinux extracted from <root>/boot/vmlinuz-<kver> (cached), or
    the bzImage itself when its payload is neither xz (6.1) nor zstd (6.12+)."""
    bzimage = pathlib.Path(root, f'boot/vmlinuz-{kver}')
    vmlinux = pathlib.Path(cache_dir) / f'vmlinux-{kver}'
    if vmlinux.exists() and vmlinux.stat().st_mtime >= bzimage.stat().st_mtime:
        return vmlinux
    payload = _bzimage_payload(bzimage.read_bytes())
    if payload.startswith(_XZ_MAGIC):
        # The xz stream may be followed by padding: decompress the first stream only.
        data = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    elif payload.startswith(_ZSTD_MAGIC):
        # Kbuild appends the uncompressed size (le32) to the frame.
        zstd = subprocess.run(['zstd', '-dcq'], input=payload[:-4], capture_output=True)
        if zstd.returncode != 0:
            raise ValueError(f'{bzimage}: zstd: {zstd.stderr.decode().strip()}')
        data = zstd.stdout
    else:
        return bzimage
    vmlinux.parent.mkdir(parents=True, exist_ok=True)
    tmp = vmlinux.with_suffix(f'.tmp{os.getpid()}')
    tmp.write_bytes(data)
    os.replace(tmp, vmlinux)
    return vmlinux


def _bzimage_payload(data):
    """The compressed kernel inside a bzImage, located by its x86 boot header
    (setup_sects, payload_offset, payload_length: Documentation/x86/boot.rst)."""
    setup_sects = data[0x1f1] or 4
    offset, length = struct.unpack_from('<II', data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    return data[start:start + length]


class _Cpio:
    """Writes a newc cpio archive, the format the kernel unpacks as initramfs."""

    def __init__(self, f):
        self._f, self._ino = f, 0

    def _entry(self, name, mode, data=b'', rdev=(0, 0)):
        self._ino += 1
        name_b = name.encode() + b'\0'
        fields = [self._ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
        self._f.write(b'070701' + b''.join(b'%08X' % v for v in fields) + name_b)
        self._pad()
        self._f.write(data)
        self._pad()

    def _pad(self):
        self._f.write(b'\0' * (-self._f.tell() % 4))

    def dir(self, name):
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def chardev(self, name, major, minor):
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def close(self):
        self._entry('TRAILER!!!', 0)


def init_modules(kver, root='/', names=INIT_MODULES):
    """The .ko files of the modules `names` and their dependencies, in load order."""
    out = subprocess.run(['modprobe', '-d', str(root), '-S', kver, '--show-depends', '-a',
                          *names], capture_output=True, text=True)
    if out.returncode != 0:
        raise FileNotFoundError(f'{root}/lib/modules/{kver}: {out.stderr.strip()} '
                                f'(install linux-image-{kver})')
    paths = [line.split()[1] for line in out.stdout.splitlines() if line.startswith('insmod ')]
    return [pathlib.Path(p) for p in dict.fromkeys(paths)]


def _module_bytes(path):
    data = path.read_bytes()
    return lzma.decompress(data) if path.name.endswith('.xz') else data


def write_initramfs(path, kver, init_script, root='/', modules=INIT_MODULES, extra=()):
    """busybox, init_script as /init, `modules` of root's kernel kver (with
    their dependencies, in /mods/order) and `extra` files: (host path, path)."""
    ko_files = init_modules(kver, root, modules)
    extra = [(pathlib.Path(src), dst.lstrip('/')) for src, dst in extra]
    dirs = {'bin', 'dev', 'proc', 'sys', 'newroot', 'mods'}
    dirs |= {str(d) for _, dst in extra for d in pathlib.PurePath(dst).parents if str(d) != '.'}
    with open(path, 'wb') as f:
        cpio = _Cpio(f)
        for d in sorted(dirs):
            cpio.dir(d)
        cpio.chardev('dev/console', 5, 1)
        cpio.file('bin/busybox', pathlib.Path('/bin/busybox').read_bytes(), 0o755)
        cpio.file('init', pathlib.Path(init_script).read_bytes(), 0o755)
        names = [p.name.split('.ko')[0] for p in ko_files]
        for p, name in zip(ko_files, names):
            cpio.file(f'mods/{name}.ko', _module_bytes(p))
        cpio.file('mods/order', '\n'.join(names).encode() + b'\n')
        for src, dst in extra:
            cpio.file(dst, src.read_bytes(), 0o755)
        cpio.close()


def main(argv=None):
    """For host tests that boot a guest of their own, without the harness (the
    instant recovery test in tests/storage): writes an initramfs with INIT as
    /init and the modules of the newest /boot kernel, prints the kernel to boot."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument('cache_dir', help='where the extracted vmlinux is kept')
    p.add_argument('init', help='the /init script')
    p.add_argument('initramfs', help='the cpio archive to write')
    p.add_argument('modules', nargs='+', help='modules /init loads (with their dependencies)')
    a = p.parse_args(argv)
    kver = newest_kernel_version()
    write_initramfs(a.initramfs, kver, a.init, modules=a.modules)
    print(kernel_image(kver, a.cache_dir))


if __name__ == '__main__':
    main()
