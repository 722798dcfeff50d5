"""Who keeps a mount busy: the processes with an open file, a working
directory or a root directory at or under it, as one line each.

Read from /proc with readlink only: resolving or stat()ing a path under the
mount would ask its daemon, which may be this very process, or hung.
Processes of other users are invisible without privileges; they are simply
not listed.
"""

import os

PROC = '/proc'


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


def _command(pid):
    try:
        with open(os.path.join(PROC, pid, 'cmdline'), 'rb') as f:
            argv = f.read().split(b'\0')
        # One line, however the arguments were written.
        text = ' '.join(b' '.join(argv).decode('utf-8', 'replace').split())
        if text:
            return text if len(text) <= 120 else text[:117] + '...'
    except OSError:
        pass
    try:
        with open(os.path.join(PROC, pid, 'comm')) as f:
            return f.read().strip()
    except OSError:
        return '?'


def find(path):
    """[(pid, command, what, path)] for every process using `path` or
    anything under it; `what` is 'cwd', 'root' or 'open'."""
    path = path.rstrip('/') or '/'
    prefix = path + '/'

    def under(target):
        return target is not None and (target == path or target.startswith(prefix))
    out = []
    try:
        pids = [p for p in os.listdir(PROC) if p.isdigit()]
    except OSError:
        return out
    for pid in sorted(pids, key=int):
        found = []
        for what in ('cwd', 'root'):
            target = _readlink(os.path.join(PROC, pid, what))
            if under(target) and not (what == 'root' and target == '/'):
                found.append((what, target))
        try:
            fds = os.listdir(os.path.join(PROC, pid, 'fd'))
        except OSError:
            fds = []
        for fd in sorted(fds, key=lambda n: int(n) if n.isdigit() else -1):
            target = _readlink(os.path.join(PROC, pid, 'fd', fd))
            if under(target):
                found.append(('open', target))
        if found:
            command = _command(pid)
            out.extend((int(pid), command, what, target) for what, target in found)
    return out


def describe(path):
    """One line per culprit, for the log."""
    return ['%s is busy: pid %d (%s) %s %s' % (path, pid, command, 'has open' if what == 'open' else
                                               'has its %s in' % ('working directory' if what == 'cwd' else 'root'),
                                               target)
            for pid, command, what, target in find(path)]
