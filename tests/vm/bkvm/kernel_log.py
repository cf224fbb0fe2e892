"""Finds the guest kernel's reports of bugs, warnings, lockups and hangs.

Only printk lines are scanned (they carry a "[ seconds.micros]" stamp), so
user-space text such as LVM's "WARNING: ..." never fails a test.
"""
import re

_STAMP = re.compile(r'\[\s*\d+\.\d{6}\] ')

# Each pattern is a report the kernel prints only when something is wrong.
_REPORTS = re.compile('|'.join([
    r'WARNING:',                      # WARN_ON and friends
    r'BUG:',                          # BUG(), sleeping in atomic, soft lockup, KASAN, ...
    r'kernel BUG at',
    r'Oops',
    r'general protection fault',
    r'possible (circular|recursive) locking',  # lockdep
    r'^(rcu: )?INFO: ',               # hung task, RCU stall (not ext4's "EXT4-fs (vda): INFO: ...")
    r'blocked for more than',         # hung task
    r'Call Trace:',
    r'Kernel panic',
    r'UBSAN:',
    r'hard LOCKUP',
    r'rcu_\w+ (self-)?detected stall',
]))


def kernel_lines(text):
    """Yields the printk lines of a console or dmesg text, stamp included."""
    for line in text.splitlines():
        m = _STAMP.search(line)
        if m:
            yield line[m.start():]


def reports(*texts):
    """Returns the distinct kernel lines that report a problem, in order."""
    seen, found = set(), []
    for text in texts:
        for line in kernel_lines(text):
            body = _STAMP.sub('', line, count=1)
            if _REPORTS.search(body) and body not in seen:
                seen.add(body)
                found.append(line)
    return found


# lib/guest.sh writes this into the kernel log (/dev/kmsg) right before it
# loads a module under test, so the log itself says what came first.
MODULE_LOAD_MARK = 'bkvm: loading module'
# The modules the harness tests: a report listing one of them as linked in
# happened while it was loaded, whoever loaded it.
_OWN_MODULE = re.compile(r'Modules linked in:.*\b(bksnap|bkfixture)\b')


def guest_kernel_failure(text):
    """True if the first report in `text` is the guest kernel's own: no
    module-load mark comes before it and no module list after it names a
    module under test (e.g. sid's "Oops: int3" in ktime_get at boot)."""
    lines = list(kernel_lines(text))
    first = next((i for i, line in enumerate(lines)
                  if _REPORTS.search(_STAMP.sub('', line, count=1))), None)
    if first is None:
        return False
    if any(MODULE_LOAD_MARK in line for line in lines[:first]):
        return False
    return not any(_OWN_MODULE.search(line) for line in lines[first:])
