#!/usr/bin/python3
"""Builds bksnap.ko for other Debian kernels and runs the VM suites on them.

For each target kernel: a debootstrap chroot of its suite (cached) builds the
module with the suite's own gcc and linux-headers, then every selected VM test
of BUILD_DIR (the same `ctest -L vm` commands, unchanged cases) boots that
kernel with `vmrun.py --kernel-root <chroot>`. The guest runs the host's
userland over 9p; the chroot's /lib/modules replaces the host's in the guest.
Writes a Markdown result table. Needs root (debootstrap, chroot).
"""
import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

sys.dont_write_bytecode = True
import chroots  # noqa: E402
import initramfs_check  # noqa: E402

SRC = pathlib.Path(__file__).resolve().parents[3]
NO_9P = 'no 9p in kernel'  # the verdict of VM tests a kernel cannot run (skipped)


@dataclass
class Target:
    name: str
    suite: str
    flavour: str  # the suffix of Debian's linux-image-* / linux-headers-* metapackages
    note: str = ''


TARGETS = [
    Target('6.1', 'bookworm', 'amd64'),
    Target('6.1-cloud', 'bookworm', 'cloud-amd64',
           'CONFIG_NET_9P is not set: the VM harness (host root over 9p) cannot run on it, '
           'so only initramfs_check runs'),
    Target('6.1-rt', 'bookworm', 'rt-amd64',
           'PREEMPT_RT: spinlocks sleep. Debian builds it without DEBUG_ATOMIC_SLEEP and '
           'lockdep, so only a real sleep in atomic context is caught ("BUG: scheduling '
           'while atomic"), not every might_sleep() violation'),
    Target('6.12', 'trixie', 'amd64'),
    Target('7.2', 'sid', 'amd64'),
]


@dataclass
class Result:
    """One target's row of the table (kept in <build>/reach/results.json)."""
    target: str
    suite: str
    timeout_factor: float = 1.0
    commit: str = ''  # of the module's build, which all this run's tests use
    env: str = ''  # extra case environment (--env)
    chroot: str = ''
    kver: str = ''
    image: str = ''
    gcc: str = ''
    build: str = 'not run'
    build_secs: float = 0.0
    tests: dict = field(default_factory=dict)  # name -> (verdict, seconds, UTC time, commit)

    def add(self, name, verdict, secs):
        self.tests[name] = (verdict, secs, _now(), self.commit)


def _packages(suite):
    return [f'linux-{kind}-{t.flavour}' for t in TARGETS if t.suite == suite
            for kind in ('image', 'headers')]


def _kernel_release(root, flavour):
    """The release the linux-headers-<flavour> metapackage points at."""
    deps = subprocess.run(['chroot', str(root), 'dpkg-query', '-W', '-f=${Depends}',
                           f'linux-headers-{flavour}'], capture_output=True, text=True,
                          check=True).stdout
    m = re.search(r'linux-headers-(\S+)', deps)
    if not m:
        raise RuntimeError(f'linux-headers-{flavour}: no versioned dependency in {deps!r}')
    return m.group(1)


def _vm_tests(build_dir, pattern):
    """The `ctest -L vm` tests of build_dir whose name matches pattern: name,
    command and timeout. The harness's own self-tests and build steps are left out."""
    out = subprocess.run(['ctest', '--test-dir', str(build_dir), '-L', '^vm$',
                          '--show-only=json-v1'], capture_output=True, text=True, check=True)
    tests = []
    for t in json.loads(out.stdout)['tests']:
        name = t['name']
        # vm_pkg_*: DKMS builds for the guest kernel from the host's headers.
        if re.match(r'vm_(build|selftest|pkg)_', name) or not re.search(pattern, name):
            continue
        props = {p['name']: p['value'] for p in t.get('properties', [])}
        tests.append((name, t['command'], int(props.get('TIMEOUT', 600))))
    return tests


def _retarget(cmd, kmod, run_dir, cache_dir, root, timeout, env):
    """The VM test's command with the module, run and cache dirs of this target."""
    cmd = list(cmd)
    for opt, value in (('--kmod', kmod), ('--run-dir', run_dir), ('--cache-dir', cache_dir),
                       ('--timeout', timeout)):
        if opt not in cmd:
            raise RuntimeError(f'{opt} missing from {cmd}')
        cmd[cmd.index(opt) + 1] = str(value)
    return cmd + ['--kernel-root', str(root)] + [a for kv in env for a in ('--env', kv)]


class Matrix:
    def __init__(self, args):
        self.a = args
        self.build = pathlib.Path(args.build_dir).resolve()
        self.cache = pathlib.Path(args.cache or os.environ.get('BK_REACH_CACHE')
                                  or self.build / 'reach-cache').resolve()
        self.out = self.build / 'reach'
        self.out.mkdir(parents=True, exist_ok=True)

    def log(self, msg):
        print(f'reach: {msg}', flush=True)

    def chroot(self, suite, res):
        t0 = time.monotonic()
        with open(self.out / f'chroot-{suite}.log', 'a') as log:
            fresh = not (self.cache / suite / chroots.STAMP).exists()
            extra = ['dkms'] if self.a.dkms else []
            root = chroots.ensure(self.cache, suite, _packages(suite) + extra, log,
                                  self.a.refresh)
        res.chroot = f"{'made' if fresh else 'cached'} {time.monotonic() - t0:.0f} s"
        self.log(f'{suite} chroot: {res.chroot}')
        return root

    def build_module(self, root, res):
        """Builds kernel/ in the chroot; returns the .ko copied where the guest sees it."""
        name = res.target
        tree = root / 'build' / f'bksnap-{name}'
        shutil.rmtree(tree, ignore_errors=True)
        shutil.copytree(SRC / 'kernel', tree, ignore=shutil.ignore_patterns('CMakeLists.txt'))
        shutil.copy(SRC / 'VERSION', tree / 'VERSION')  # as in the DKMS tree
        t0 = time.monotonic()
        with chroots.proc_mounted(root):
            make = subprocess.run(
                ['chroot', str(root), 'make', '-C', f'/usr/src/linux-headers-{res.kver}',
                 f'M=/build/{tree.name}', 'modules'],
                capture_output=True, text=True)
        res.build_secs = time.monotonic() - t0
        (self.out / f'build-{name}.log').write_text(make.stdout + make.stderr)
        warnings = len(re.findall(r'\bwarning:', make.stdout + make.stderr))
        if make.returncode != 0:
            res.build = 'FAIL'
            self.log(f'{name}: build failed, see {self.out}/build-{name}.log')
            sys.stdout.write(make.stderr[-4000:])
            return None
        res.build = 'ok' if not warnings else f'ok, {warnings} warnings'
        ko = self.out / name / 'bksnap.ko'
        ko.parent.mkdir(exist_ok=True)
        shutil.copy(tree / 'bksnap.ko', ko)
        self.log(f'{name}: built {res.kver} in {res.build_secs:.0f} s ({res.build})')
        return ko

    def dkms_check(self, root, res):
        """Installs the bksnap-dkms package in the chroot and has DKMS build
        and install the module for this target's kernel. A failure names the
        kernel and shows the end of DKMS's make.log."""
        deb = pathlib.Path(self.a.dkms).resolve()
        if deb.is_dir():  # e.g. <build>/tests/vm/debs/old
            deb, = deb.glob('bksnap-dkms_*.deb')
        version = subprocess.run(['dpkg-deb', '-f', str(deb), 'Version'], capture_output=True,
                                 text=True, check=True).stdout.strip()
        shutil.copy(deb, root / 'tmp' / deb.name)
        log_path = self.out / f'dkms-{res.target}.log'
        t0 = time.monotonic()
        env = ['env', 'DEBIAN_FRONTEND=noninteractive', 'LC_ALL=C']
        with chroots.proc_mounted(root), open(log_path, 'w') as log:
            steps = [['apt-get', 'install', '-y', '-q', '--no-install-recommends',
                      f'/tmp/{deb.name}'],
                     ['dkms', 'install', '-m', 'bksnap', '-v', version, '-k', res.kver],
                     ['sh', '-c', f'dkms status -m bksnap -v {version} -k {res.kver} | '
                                  'grep -q installed']]
            for cmd in steps:
                log.write(f'$ {" ".join(cmd)}\n')
                log.flush()
                if subprocess.run(['chroot', str(root), *env, *cmd], stdout=log,
                                  stderr=subprocess.STDOUT).returncode != 0:
                    verdict = 'FAIL'
                    break
            else:
                verdict = 'pass'
            subprocess.run(['chroot', str(root), *env, 'apt-get', 'purge', '-y', '-q',
                            'bksnap-dkms'], stdout=log, stderr=subprocess.STDOUT)
        secs = time.monotonic() - t0
        res.add('dkms', verdict, secs)
        self.log(f'{res.target} dkms ({version}, {res.kver}): {verdict} ({secs:.0f} s), '
                 f'log {log_path}')
        if verdict != 'pass':
            make_log = root / f'var/lib/dkms/bksnap/{version}/build/make.log'
            tail = make_log.read_text(errors='replace').splitlines()[-30:] if make_log.exists() \
                else log_path.read_text(errors='replace').splitlines()[-30:]
            self.log(f'{res.target}: DKMS could not build bksnap {version} for kernel '
                     f'{res.kver}; end of {make_log if make_log.exists() else log_path}:')
            sys.stdout.write('\n'.join(tail) + '\n')

    def initramfs_check(self, root, ko, res):
        t0 = time.monotonic()
        verdict, console = initramfs_check.run(
            root, res.kver, ko, self.build / 'tests/tools/bksnapctl',
            self.out / 'runs' / res.target / 'initramfs_check', self.out / 'vmcache')
        res.add('initramfs_check', verdict, time.monotonic() - t0)
        self.log(f'{res.target} initramfs_check: {verdict} ({time.monotonic() - t0:.0f} s)')
        if verdict != 'pass':
            sys.stdout.write('\n'.join(console.splitlines()[-40:]) + '\n')

    def run_tests(self, root, ko, tests, res):
        for name, cmd, ctest_timeout in tests:
            vm_timeout = int(cmd[cmd.index('--timeout') + 1])
            scaled = round(vm_timeout * self.a.timeout_factor)
            cmd = _retarget(cmd, ko, self.out / 'runs' / res.target / name,
                            self.out / 'vmcache', root, scaled, self.a.env)
            t0 = time.monotonic()
            try:
                proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, timeout=ctest_timeout - vm_timeout + scaled)
                last = (proc.stdout.strip().splitlines() or [''])[-1]
                m = re.search(r'bkvm: (PASS|FAIL \((\S+)\))', last)
                verdict = 'pass' if proc.returncode == 0 else (m.group(2) if m and m.group(2)
                                                               else f'exit {proc.returncode}')
            except subprocess.TimeoutExpired:
                proc, verdict = None, 'timeout'
            secs = time.monotonic() - t0
            res.add(name, verdict, secs)
            self.log(f'{res.target} {name}: {verdict} ({secs:.0f} s)')
            if verdict != 'pass' and proc is not None:
                sys.stdout.write('\n'.join(proc.stdout.splitlines()[-40:]) + '\n')

    def run(self):
        wanted = self.a.targets.split(',') if self.a.targets else [t.name for t in TARGETS]
        unknown = set(wanted) - {t.name for t in TARGETS}
        if unknown:
            raise SystemExit(f'unknown targets {sorted(unknown)}; known: '
                             f'{", ".join(t.name for t in TARGETS)}')
        tests = _vm_tests(self.build, self.a.tests) if self.a.tests else []
        if not tests and not self.a.dkms:
            raise SystemExit(f'no VM tests match {self.a.tests!r} in {self.build}')
        results = []
        by_name = {t.name: t for t in TARGETS}
        for target in (by_name[name] for name in wanted):  # in the order asked for
            res = Result(target.name, target.suite, self.a.timeout_factor, _commit(),
                         ' '.join(self.a.env))
            results.append(res)
            try:
                root = self.chroot(target.suite, res)
                res.kver = _kernel_release(root, target.flavour)
                res.image = chroots.package_version(root, f'linux-headers-{res.kver}')
                res.gcc = subprocess.run(['chroot', str(root), 'gcc', '-dumpfullversion'],
                                         capture_output=True, text=True).stdout.strip()
                if self.a.dkms:
                    self.dkms_check(root, res)
                ko = self.build_module(root, res) if tests else None
                if ko:
                    self.initramfs_check(root, ko, res)
                if ko and _has_9p(root, res.kver):
                    self.run_tests(root, ko, tests, res)
                elif ko:  # the VM harness reaches the host's userland over 9p only
                    for name, _, _ in tests:
                        res.add(name, NO_9P, 0)
            except (subprocess.CalledProcessError, RuntimeError, OSError) as e:
                res.build = f'FAIL ({e})'
                self.log(f'{target.name}: {e}')
            write_table(self.a.doc, self.record(res))
            self.log(f'wrote {self.a.doc}')
        ok = all((r.build.startswith('ok') or (not tests and r.build == 'not run'))
                 and (not self.a.dkms or 'dkms' in r.tests)
                 and all(t[0] in ('pass', NO_9P) for t in r.tests.values()) for r in results)
        return 0 if ok else 1

    def record(self, res):
        """Adds a target's results to the earlier runs': a test not run this
        time keeps its last result on the same kernel release. Returns all
        rows in TARGETS order."""
        path = self.out / 'results.json'
        rows = json.loads(path.read_text()) if path.exists() else {}
        old = rows.get(res.target)
        rows[res.target] = asdict(res)
        if old and old['kver'] == res.kver:
            rows[res.target]['tests'] = {**old['tests'], **res.tests}
            if res.build == 'not run':  # a --dkms run only: keep the last module build
                rows[res.target].update(build=old['build'], build_secs=old['build_secs'])
        path.write_text(json.dumps(rows, indent=1) + '\n')
        return [Result(**rows[t.name]) for t in TARGETS if t.name in rows]


def _now():
    return f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}'


def _commit():
    git = ['git', '-C', str(SRC)]
    head = subprocess.run(git + ['rev-parse', '--short', 'HEAD'], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(git + ['status', '--porcelain', '--', 'kernel'],
                           capture_output=True, text=True).stdout.strip()
    return head + ('+kernel changes' if dirty else '')


def _has_9p(root, kver):
    return subprocess.run(['modprobe', '-d', str(root), '-S', kver, '--show-depends', '9p'],
                          capture_output=True).returncode == 0


def write_table(path, rows):
    host_kernel = subprocess.run(['uname', '-r'], capture_output=True, text=True).stdout.strip()
    qemu = subprocess.run(['qemu-system-x86_64', '--version'], capture_output=True,
                          text=True).stdout.splitlines()[0]
    names = list(dict.fromkeys(n for r in rows for n in r.tests))
    notes = {t.name: t.note for t in TARGETS}
    lines = [
        '# Support matrix',
        '',
        'Written by `tests/vm/reach/run-matrix.sh` (see tests/vm/reach/README.md).',
        "The module is built in a chroot of the kernel's Debian suite with that suite's",
        "gcc and headers; the kernel boots under QEMU/TCG with the host's userland over",
        '9p and runs the unchanged VM cases of tests/vm. initramfs_check needs no 9p:',
        'busybox and bksnapctl check CBT marks and a snapshot image (initramfs-check.sh).',
        'Cells: verdict and wall seconds (VM boot included).',
        f'Host: {os.cpu_count()} CPUs, Debian 12 (kernel {host_kernel}), {qemu}.',
        '',
    ]
    table = [('Debian suite', [r.suite for r in rows]),
             ('release (headers package)', [f'{r.kver} ({r.image})' for r in rows]),
             ('gcc', [r.gcc for r in rows]),
             ('measured (UTC)', [_span(r) for r in rows]),
             ('commit', [' '.join(dict.fromkeys(t[3] for t in r.tests.values())) for r in rows]),
             ('chroot', [r.chroot for r in rows]),
             ('case environment', [r.env or 'default' for r in rows]),
             ('build', [f'{r.build} {r.build_secs:.0f} s' for r in rows])]
    table += [(n.removeprefix('vm_'), [_cell(r.tests.get(n)) for r in rows]) for n in names]
    lines += ['| kernel | ' + ' | '.join(r.target for r in rows) + ' |',
              '|---|' + '---|' * len(rows)]
    lines += [f'| {label} | ' + ' | '.join(cells) + ' |' for label, cells in table]
    lines += [''] + [f'- {r.target}: {notes[r.target]}' for r in rows if notes.get(r.target)]
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(lines) + '\n')


def _span(r):
    when = sorted(t[2] for t in r.tests.values())
    scaled = f', timeouts x{r.timeout_factor:g}' if r.timeout_factor != 1 else ''
    return (f'{when[0]} – {when[-1][-5:]}' if when else 'not run') + scaled


def _cell(result):
    if result is None:
        return 'not run'
    verdict, secs = result[:2]
    return 'n/a (no 9p)' if verdict == NO_9P else f'{verdict} {secs:.0f} s'


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('build_dir', help='a build configured with -DBK_VM_TESTS=ON and built')
    p.add_argument('--targets', default='',
                   help=f'comma-separated, default all: {",".join(t.name for t in TARGETS)}')
    p.add_argument('--tests', default='.',
                   help='regex on the VM test names (default: all; empty: none)')
    p.add_argument('--dkms', metavar='DEB',
                   help='also install this bksnap-dkms package in each chroot and have DKMS '
                        "build and install the module for the target's kernel (test 'dkms')")
    p.add_argument('--cache', help='chroot cache (default $BK_REACH_CACHE or <build>/reach-cache)')
    p.add_argument('--refresh', action='store_true',
                   help="upgrade cached chroots to their suite's current packages")
    p.add_argument('--env', action='append', default=[], metavar='NAME=VALUE',
                   help="extra environment for every case, e.g. a smaller workload (repeatable)")
    p.add_argument('--timeout-factor', type=float, default=1.0,
                   help="scale the tests' timeouts (a machine shared with other jobs)")
    p.add_argument('--doc', default=str(SRC / 'docs' / 'support-matrix.md'),
                   help='result table to write')
    return Matrix(p.parse_args()).run()


if __name__ == '__main__':
    sys.exit(main())
