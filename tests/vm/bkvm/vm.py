"""Boots one guest under QEMU, runs one case in it and judges the result."""
import os
import pathlib
import selectors
import shlex
import shutil
import subprocess
import time

from . import boot_assets, kernel_log
from .qmp import Qmp, QmpError

GUEST_DIR = pathlib.Path(__file__).resolve().parent.parent / 'guest'
# Host paths the guest cannot see: guest/init.sh mounts tmpfs over them.
GUEST_TMPFS = ('/tmp', '/run', '/var/tmp', '/var/log', '/var/cache', '/var/lib/lvm')

# Harness exit codes, one per verdict.
PASS, SCRIPT_FAILED, KERNEL_LOG, TIMEOUT, NO_STATUS, HARNESS_ERROR, GUEST_KERNEL = range(7)
# Seconds a guest has to get from QEMU's start to its init's BKVM_ROOT
# (a few under TCG, ~30 at load ~20).
INIT_DEADLINE_S = 240
VERDICTS = {PASS: 'pass', SCRIPT_FAILED: 'script', KERNEL_LOG: 'kernel-log',
            TIMEOUT: 'timeout', NO_STATUS: 'no-status', HARNESS_ERROR: 'harness',
            GUEST_KERNEL: 'guest-kernel'}
# Modules the initramfs loads on top of boot_assets.INIT_MODULES for an
# overlay root (--systemd).
OVERLAY_MODULES = ['overlay']


def _qemu_base(accel, smp, mem, kernel, initrd):
    cpu = 'host' if accel == 'kvm' else 'max'
    return ['qemu-system-x86_64', '-accel', accel, '-cpu', cpu, '-smp', str(smp),
            '-m', str(mem), '-nodefaults', '-display', 'none', '-no-reboot',
            '-serial', 'stdio', '-kernel', str(kernel), '-initrd', str(initrd)]


def choose_accel(requested, cache_dir, kernel, initrd):
    """KVM if asked for, or if `auto` and a quick boot under KVM works; else TCG.
    The probe's answer is cached: on hosts where KVM is broken it costs seconds."""
    if requested != 'auto':
        return requested
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        return 'tcg'
    answer = pathlib.Path(cache_dir) / 'accel'
    if not answer.exists():
        cmd = _qemu_base('kvm', 1, 256, kernel, initrd) + [
            '-append', 'console=ttyS0 quiet panic=-1 bkvm_probe=1']
        try:
            out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                 timeout=15).stdout
        except subprocess.TimeoutExpired:
            out = b''
        answer.write_text('kvm\n' if b'BKVM_PROBE_OK' in out else 'tcg\n')
    return answer.read_text().strip()


class Run:
    """One guest boot: run_dir holds the disks, the work share and the logs."""

    def __init__(self, args):
        self.a = args
        self.run_dir = pathlib.Path(args.run_dir).resolve()
        self.work = self.run_dir / 'work'
        self.requests = self.work / 'requests'
        self.boot_no = getattr(args, 'boot', 1)
        self.multi = getattr(args, 'boots', 1) > 1
        self.console_log = self.run_dir / (f'console.boot{self.boot_no}.log' if self.multi
                                           else 'console.log')
        self.disks = []
        self.accel = None
        self.stage2_at = None  # seconds from QEMU start to the guest's stage 2
        self.root_at = None  # seconds to the harness's init saying BKVM_ROOT
        self.no_init = False  # killed: the harness's init did not get to its root
        self.wall = 0.0
        self._out_pos = 0
        self._qmp = None
        # Host trees hidden by a guest tmpfs, shared at the same path instead
        # (a tree inside another shared one comes with it).
        hidden = {p for p in (pathlib.Path(d).resolve() for d in args.share)
                  if any(p.is_relative_to(t) for t in GUEST_TMPFS)}
        self.shares = sorted(p for p in hidden
                             if not any(p != q and p.is_relative_to(q) for q in hidden))

    def log(self, msg):
        print(f'bkvm: {msg}', flush=True)

    def _guest_visible(self, path):
        path = pathlib.Path(path).resolve()
        if not path.exists():
            raise ValueError(f'{path} does not exist (not built yet?)')
        if (any(path.is_relative_to(d) for d in GUEST_TMPFS)
                and not any(path.is_relative_to(d) for d in self.shares)):
            raise ValueError(f'{path} is hidden from the guest by a tmpfs: keep it out of '
                             f'{", ".join(GUEST_TMPFS)} or pass --share for its tree')
        return str(path)

    def prepare(self):
        if self.boot_no == 1 and self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        # A later boot keeps the disks and the work share, not the last result.
        for name in ('status', 'status.tmp', 'output.txt', 'dmesg.txt', 'expect-reset',
                     'clean-shutdown'):
            (self.work / name).unlink(missing_ok=True)
        self.requests.mkdir(parents=True, exist_ok=True)
        cache = pathlib.Path(self.a.cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        # Boot the kernel the module under test was built for.
        root = self.a.kernel_root
        kver = self.a.kver or (boot_assets.module_kernel_version(self.a.kmod) if self.a.kmod
                               else boot_assets.newest_kernel_version(root))
        self.kernel = boot_assets.kernel_image(kver, cache, root)
        self.initrd = self.run_dir / 'initramfs.cpio'
        modules = boot_assets.INIT_MODULES + (OVERLAY_MODULES if self.a.systemd else [])
        modules += ['ext4'] if self.a.root_disk else []
        boot_assets.write_initramfs(self.initrd, kver, GUEST_DIR / 'init.sh', root, modules)
        for i, size in enumerate(self.a.disks.split(), 1):
            img = self.run_dir / f'disk{i}.img'
            if self.boot_no == 1:
                with open(img, 'wb') as f:
                    f.truncate(_bytes(size))
                if i == self.a.root_disk:
                    subprocess.run(['mkfs.ext4', '-q', '-F', '-L', 'bkvm-root', str(img)],
                                   check=True)
            self.disks.append(img)
        if self.boot_no == 1 and getattr(self.a, 'between_boots', None):
            _between(self.a, 0)  # before the first boot: e.g. fill a disk, build an initramfs
        # --initrd: the guest boots that initramfs (e.g. one of initramfs-tools),
        # which mounts a root disk whose init starts stage 2.
        self.boot_initrd = pathlib.Path(self.a.initrd) if getattr(self.a, 'initrd', None) else self.initrd
        if not self.boot_initrd.exists():
            raise ValueError(f'{self.boot_initrd} does not exist')
        env = {'BK_CASE': self._guest_visible(self.a.case),
               'BK_KMOD': self._guest_visible(self.a.kmod) if self.a.kmod else '',
               'BK_BOOT': str(self.boot_no), 'BK_BOOTS': str(getattr(self.a, 'boots', 1))}
        env.update(kv.split('=', 1) for kv in self.a.env)
        (self.work / 'env').write_text(
            ''.join(f'{k}={shlex.quote(v)}\n' for k, v in env.items()))
        (self.work / 'shares').write_text(''.join(f'{d}\n' for d in self.shares))
        self.accel = choose_accel(self.a.accel, cache, self.kernel, self.initrd)

    def qemu_command(self):
        cmd = _qemu_base(self.accel, self.a.smp, self.a.mem, self.kernel, self.boot_initrd)
        cmd += ['-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,'
                           'readonly=on,multidevs=remap',
                '-virtfs', f'local,path={self.work},mount_tag=work,security_model=none',
                '-qmp', f'unix:{self.run_dir}/qmp.sock,server=on,wait=off']
        kmods = []
        if pathlib.Path(self.a.kernel_root).resolve() != pathlib.Path('/'):
            # The guest kernel's modules replace the host's /lib/modules.
            modules = pathlib.Path(self.a.kernel_root, 'lib/modules').resolve()
            cmd += ['-virtfs', f'local,path={modules},mount_tag=kmods,security_model=none,'
                               'readonly=on']
            kmods = ['bkvm_kmods=1']
        for i, share in enumerate(self.shares, 1):
            cmd += ['-virtfs', f'local,path={share},mount_tag=share{i},security_model=none,'
                               'readonly=on,multidevs=remap']
        init = []
        if self.a.systemd:
            # The host's timers (apt-daily, man-db, ...) have no business here.
            init = ['bkvm_systemd=1', 'systemd.unit=bkvm.target', 'systemd.mask=timers.target']
            if self.a.root_disk:
                init.append(f'bkvm_upper=disk{self.a.root_disk}')
        for i, img in enumerate(self.disks, 1):
            # The device id and the serial are both diskN: the guest finds
            # disks by serial, the host unplugs them by id.
            cmd += ['-drive', f'if=none,id=drive{i},file={img},format=raw,cache=unsafe',
                    '-device', f'virtio-blk-pci,drive=drive{i},id=disk{i},serial=disk{i}']
        cmd += ['-append', ' '.join([
            'console=ttyS0', 'quiet', 'panic=-1', 'oops=panic', 'log_buf_len=4M',
            # Under TCG on a loaded host a vCPU can starve for 20 s and more:
            # the default soft-lockup threshold then reports false lockups.
            # A real lockup never ends and is still reported (after 120 s).
            'watchdog_thresh=60',
            # The boot-time IO-APIC timer check times ticks against the
            # emulated CPU and panics when the host is loaded; VMs skip it.
            'no_timer_check',
            f'sysctl.kernel.hung_task_timeout_secs={self.a.hung_task_secs}',
            f'bkvm_stage2={GUEST_DIR / "stage2.sh"}', *kmods, *init,
            *(getattr(self.a, 'append', None) or '').split()])]
        return cmd

    def _stream_output(self):
        """Echoes what the case has written to its output file so far."""
        out = self.work / 'output.txt'
        if not out.exists():
            return
        with open(out, 'rb') as f:
            f.seek(self._out_pos)
            data = f.read()
        self._out_pos += len(data)
        if data and not self.a.quiet:
            print(data.decode(errors='replace'), end='', flush=True)

    def _serve_requests(self):
        """Performs what the guest asked the host to do (lib/guest.sh bk_unplug)."""
        for req in sorted(self.requests.glob('*.req')):
            verb, _, arg = req.read_text().strip().partition(' ')
            try:
                if verb != 'unplug':
                    raise QmpError(f'unknown request {verb!r}')
                if self._qmp is None:
                    self._qmp = Qmp(str(self.run_dir / 'qmp.sock'))
                self._qmp.unplug(arg)
                answer = 'ok'
                self.log(f'unplugged {arg}')
            except (QmpError, OSError) as e:
                answer = f'error {e}'
                self.log(f'request {verb} {arg}: {answer}')
            tmp = req.with_suffix('.tmp')
            tmp.write_text(answer + '\n')
            os.replace(tmp, req.with_suffix('.ack'))
            req.unlink()

    def boot(self):
        """Runs QEMU to the end or the deadline; returns True on timeout."""
        self.t0 = time.monotonic()
        deadline = self.t0 + self.a.timeout
        cmd = self.qemu_command()
        (self.run_dir / 'qemu.cmd').write_text(shlex.join(cmd) + '\n')
        qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            timed_out = self._follow(qemu, deadline)
        finally:
            if qemu.poll() is None:
                qemu.kill()
            qemu.wait()
        self._stream_output()
        if self._qmp:
            self._qmp.close()
        self.wall = time.monotonic() - self.t0
        return timed_out

    def _follow(self, qemu, deadline):
        """Logs the console and serves the guest until QEMU exits; returns
        True if the deadline passed first."""
        sel = selectors.DefaultSelector()
        sel.register(qemu.stdout, selectors.EVENT_READ)
        # A kernel hung in early boot (seen under TCG) is not left to the
        # case's timeout.
        init_by = self.t0 + INIT_DEADLINE_S if self.own_init() else None
        with open(self.console_log, 'wb') as console:
            tail = b''
            while time.monotonic() < deadline:
                if init_by and self.root_at is None and time.monotonic() > init_by:
                    self.no_init = True
                    return True
                if sel.select(timeout=0.2):
                    chunk = os.read(qemu.stdout.fileno(), 65536)
                    if not chunk:
                        return False
                    console.write(chunk)
                    console.flush()
                    # The console trickles in: the marker may span chunks.
                    if self.stage2_at is None and b'BKVM_STAGE2' in tail + chunk:
                        self.stage2_at = time.monotonic() - self.t0
                    if self.root_at is None and b'BKVM_ROOT' in tail + chunk:
                        self.root_at = time.monotonic() - self.t0
                    tail = (tail + chunk)[-16:]
                self._stream_output()
                self._serve_requests()
        return True

    def own_init(self):
        """True if the guest boots the harness's initramfs (guest/init.sh,
        which says BKVM_ROOT), not one of the case's own (--initrd)."""
        return self.boot_initrd == self.initrd

    def judge(self, timed_out):
        """Returns the verdict code and a one-line reason."""
        console = self.console_log.read_text(errors='replace')
        dmesg_file = self.work / 'dmesg.txt'
        dmesg = dmesg_file.read_text(errors='replace') if dmesg_file.exists() else ''
        found = kernel_log.reports(console, dmesg)
        status_file = self.work / 'status'
        if found:
            self.log('guest kernel log reports problems:')
            for line in found[:40]:
                print(f'  {line}')
            if kernel_log.guest_kernel_failure(console if kernel_log.reports(console) else dmesg):
                return GUEST_KERNEL, f'guest kernel failed before the module was loaded: {found[0]}'
            return KERNEL_LOG, found[0]
        if self.no_init:
            return GUEST_KERNEL, f'the guest did not get to its init\'s root within {INIT_DEADLINE_S} s (QEMU killed)'
        if timed_out:
            code, reason = TIMEOUT, f'no result within {self.a.timeout} s (QEMU killed)'
        elif not status_file.exists() and self.multi and (self.work / 'expect-reset').exists():
            return PASS, 'the guest was reset, as the case announced'
        elif not status_file.exists():
            code, reason = NO_STATUS, 'the guest stopped without a case status'
        elif int(status_file.read_text()) != 0:
            code, reason = SCRIPT_FAILED, f'case exited with status {status_file.read_text().strip()}'
        else:
            return PASS, 'case passed, kernel log clean'
        # What the kernel said last often explains the failure.
        tail = '\n'.join(list(kernel_log.kernel_lines(dmesg or console))[-25:])
        print(f'--- guest kernel log, last lines ---\n{tail}\n--- end ---')
        return code, reason

    def cleanup(self):
        if not self.a.keep_disks:
            for img in self.disks:
                img.unlink(missing_ok=True)


def _bytes(size):
    units = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}
    return int(size[:-1]) * units[size[-1].upper()] if size[-1].upper() in units else int(size)


def _run_once(args):
    r = Run(args)
    try:
        r.prepare()
        r.log(f'case {args.case}, {args.smp} vCPU, accel {r.accel}, '
              f'disks [{args.disks}], timeout {args.timeout} s, logs in {r.run_dir}')
        code, reason = r.judge(r.boot())
    except (OSError, ValueError) as e:
        code, reason = HARNESS_ERROR, str(e)
    finally:
        r.cleanup()
    return r, code, reason


def run(args):
    """Boots `--boots` times on the same disks; stops at the first boot that fails."""
    boots, keep = getattr(args, 'boots', 1), args.keep_disks
    for i in range(1, boots + 1):
        args.boot, args.keep_disks = i, keep or i < boots
        code = _run_boot(args)
        if code != PASS:
            return code
        if i < boots and getattr(args, 'between_boots', None):
            try:
                _between(args, i)
            except ValueError as e:
                print(f'bkvm: FAIL (harness): {e}', flush=True)
                return HARNESS_ERROR
    return PASS


def _between(args, boot):
    """Runs the --between-boots script after boot `boot` (0: before the first)."""
    # The case's environment too (BK_BUILD_DIR, BK_KMOD, ...).
    env = dict(os.environ, **dict(kv.split('=', 1) for kv in args.env), BK_KMOD=args.kmod or '',
               BK_BOOT=str(boot), BK_RUN_DIR=str(pathlib.Path(args.run_dir).resolve()))
    if subprocess.run([args.between_boots], env=env).returncode != 0:
        raise ValueError(f'{args.between_boots} failed after boot {boot}')


def _run_boot(args):
    keep = args.keep_disks
    if args.boot > 1:
        args.keep_disks = True  # a boot that fails early runs again on them
    r, code, reason = _run_once(args)
    # A later boot goes again only if its init never got to mount anything.
    if code == GUEST_KERNEL and (args.boot == 1 or (r.own_init() and r.root_at is None)):
        # Such failures come and go (sid's kernel under TCG; 6.1 hung in
        # early boot beside another guest): boot once more, keeping the failed
        # boot's logs beside the new ones. A first boot starts over on fresh
        # disks; a later one goes again on the disks the previous boot left.
        if args.boot == 1:
            failed = r.run_dir.with_name(r.run_dir.name + '.guest-kernel-failure')
            shutil.rmtree(failed, ignore_errors=True)
            r.run_dir.rename(failed)
        else:
            failed = r.console_log.with_suffix('.guest-kernel-failure.log')
            r.console_log.rename(failed)
        r.log(f'FAIL ({VERDICTS[code]}): {reason}; logs in {failed}; booting once more')
        r, code, reason = _run_once(args)
    args.keep_disks = keep
    r.cleanup()
    boot = f'{r.stage2_at:.1f} s' if r.stage2_at is not None else 'n/a'
    word = 'PASS' if code == PASS else f'FAIL ({VERDICTS[code]})'
    which = f'boot {args.boot}/{args.boots}, ' if getattr(args, 'boots', 1) > 1 else ''
    r.log(f'{word}: {reason} [{which}wall {r.wall:.1f} s, boot-to-shell {boot}]')
    return code
