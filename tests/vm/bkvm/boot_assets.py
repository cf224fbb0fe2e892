"""The guest's kernel image and initramfs, made from the host's Debian packages.

The kernel is Debian's linux-image; booting its uncompressed vmlinux through
QEMU's PVH entry saves the ~4 s that xz decompression costs under TCG. The
initramfs holds busybox, the virtio/9p modules and guest/init.sh, which mounts
the host's root read-only over 9p.
"""
import lzma
import os
import pathlib
import stat

# Load order of the modules /init needs to reach the host root over 9p.
INIT_MODULES = [
    'drivers/virtio/virtio_ring', 'drivers/virtio/virtio',
    'drivers/virtio/virtio_pci_legacy_dev', 'drivers/virtio/virtio_pci_modern_dev',
    'drivers/virtio/virtio_pci', 'drivers/block/virtio_blk',
    'fs/netfs/netfs', 'fs/fscache/fscache',
    'net/9p/9pnet', 'net/9p/9pnet_virtio', 'fs/9p/9p',
]
_XZ_MAGIC = b'\xfd7zXZ\x00'


def module_kernel_version(ko):
    """The kernel release a module was built for (the first word of its vermagic)."""
    data = pathlib.Path(ko).read_bytes()
    start = data.find(b'vermagic=')
    if start < 0:
        raise ValueError(f'{ko}: no vermagic, not a kernel module?')
    return data[start + len('vermagic='):].split(b' ', 1)[0].decode()


def newest_kernel_version():
    images = sorted(pathlib.Path('/boot').glob('vmlinuz-*-amd64'))
    if not images:
        raise FileNotFoundError('no /boot/vmlinuz-*-amd64: run deploy/install-deps.sh')
    return max((p.name[len('vmlinuz-'):] for p in images),
               key=lambda v: [int(x) if x.isdigit() else x for x in v.replace('-', '.').split('.')])


def kernel_image(kver, cache_dir):
    """Returns the vmlinux extracted from /boot/vmlinuz-<kver> (cached), or the
    bzImage itself when it is not xz-compressed."""
    bzimage = pathlib.Path(f'/boot/vmlinuz-{kver}')
    vmlinux = pathlib.Path(cache_dir) / f'vmlinux-{kver}'
    if vmlinux.exists() and vmlinux.stat().st_mtime >= bzimage.stat().st_mtime:
        return vmlinux
    data = bzimage.read_bytes()
    start = data.find(_XZ_MAGIC)
    if start < 0:
        return bzimage
    vmlinux.parent.mkdir(parents=True, exist_ok=True)
    tmp = vmlinux.with_suffix(f'.tmp{os.getpid()}')
    # The xz stream is followed by bzImage trailer bytes: decompress the first stream only.
    tmp.write_bytes(lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:]))
    os.replace(tmp, vmlinux)
    return vmlinux


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


def _module_bytes(kver, rel):
    base = pathlib.Path(f'/lib/modules/{kver}/kernel/{rel}')
    if base.with_suffix('.ko').exists():
        return base.with_suffix('.ko').read_bytes()
    xz = base.with_suffix('.ko.xz')
    if xz.exists():
        return lzma.decompress(xz.read_bytes())
    raise FileNotFoundError(f'{base}.ko: install linux-image-{kver}')


def write_initramfs(path, kver, init_script):
    with open(path, 'wb') as f:
        cpio = _Cpio(f)
        for d in ('bin', 'dev', 'proc', 'sys', 'newroot', 'mods'):
            cpio.dir(d)
        cpio.chardev('dev/console', 5, 1)
        cpio.file('bin/busybox', pathlib.Path('/bin/busybox').read_bytes(), 0o755)
        cpio.file('init', pathlib.Path(init_script).read_bytes(), 0o755)
        names = [os.path.basename(rel) for rel in INIT_MODULES]
        for rel, name in zip(INIT_MODULES, names):
            cpio.file(f'mods/{name}.ko', _module_bytes(kver, rel))
        cpio.file('mods/order', '\n'.join(names).encode() + b'\n')
        cpio.close()
