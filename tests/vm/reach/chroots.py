"""Debian chroots of other suites: their compiler, linux-headers and kernels.

Made once with debootstrap and cached; the suite is named only in the
chroot's own APT sources, never in the host's. Needs root and Debian's mirror.
"""
import contextlib
import pathlib
import re
import shutil
import subprocess

BASE_PACKAGES = ['make', 'gcc', 'initramfs-tools']  # initramfs-tools: keeps sid off dracut
STAMP = '.bk-reach-packages'  # the packages installed
BASE_STAMP = '.bk-reach-base'  # debootstrap finished


def host_mirror():
    """The Debian mirror the host's APT sources already use."""
    texts = []
    for f in [pathlib.Path('/etc/apt/sources.list'),
              *sorted(pathlib.Path('/etc/apt/sources.list.d').glob('*'))]:
        if f.is_file():
            texts += [ln for ln in f.read_text().splitlines() if not ln.lstrip().startswith('#')]
    for line in texts:
        m = re.search(r'(https?://\S+/debian)/?(\s|$)', line)
        if m:
            return m.group(1)
    raise RuntimeError('no Debian mirror in /etc/apt/sources.list*')


def _chroot(root, *cmd, log):
    env = ['env', 'DEBIAN_FRONTEND=noninteractive', 'LC_ALL=C']
    subprocess.run(['chroot', str(root), *env, *cmd], check=True,
                   stdout=log, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def proc_mounted(root):
    """/proc inside the chroot: 7.x's objtool and dpkg's scripts read it."""
    proc = pathlib.Path(root) / 'proc'
    subprocess.run(['mount', '-t', 'proc', 'proc', str(proc)], check=True)
    try:
        yield
    finally:
        subprocess.run(['umount', '-l', str(proc)], check=False)


def ensure(cache, suite, packages, log, refresh=False):
    """Returns the chroot of `suite` holding `packages` (made if missing).
    refresh=True upgrades a cached chroot to the suite's current packages."""
    root = pathlib.Path(cache) / suite
    stamp, base = root / STAMP, root / BASE_STAMP
    wanted = ' '.join(sorted(set(BASE_PACKAGES + packages))) + '\n'
    if stamp.exists() and stamp.read_text() == wanted and not refresh:
        return root
    if not base.exists():
        if root.exists():
            subprocess.run(['umount', '-l', str(root / 'proc')], check=False,
                           stderr=subprocess.DEVNULL)
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(['debootstrap', '--variant=minbase', suite, str(root), host_mirror()],
                       check=True, stdout=log, stderr=subprocess.STDOUT)
        # No initrd: the harness packs its own initramfs.
        _chroot(root, 'dpkg-divert', '--local', '--rename', '--add',
                '/usr/sbin/update-initramfs', log=log)
        (root / 'usr/sbin/update-initramfs').symlink_to('/bin/true')
        base.touch()
    stamp.unlink(missing_ok=True)
    with proc_mounted(root):
        if refresh:
            # A mirror snapshot may carry a Release file past its Valid-Until
            # date; debootstrap does not check it, apt would refuse it.
            _chroot(root, 'apt-get', '-o', 'Acquire::Check-Valid-Until=false',
                    'update', '-q', log=log)
            _chroot(root, 'apt-get', 'dist-upgrade', '-y', '-q', log=log)
        _chroot(root, 'apt-get', 'install', '-y', '-q', '--no-install-recommends',
                *wanted.split(), log=log)
        _chroot(root, 'apt-get', 'clean', log=log)
    stamp.write_text(wanted)
    return root


def package_version(root, package):
    out = subprocess.run(['chroot', str(root), 'dpkg-query', '-W', '-f=${Version}', package],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ''
