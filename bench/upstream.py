"""The upstream arv-mount (PyPI arvados-fuse 3.2.1), in a virtualenv of its
own: it depends on arvados-llfuse, which clashes with llfuse."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSTREAM_VERSION = '3.2.1'
VENV = os.environ.get('ARV_MOUNT_UPSTREAM_VENV', os.path.join(REPO, '.venv-upstream'))


def upstream_arv_mount():
    """Path of upstream's arv-mount, building its virtualenv if needed.
    Raises RuntimeError with pip's output if it cannot be built."""
    exe = os.path.join(VENV, 'bin', 'arv-mount')
    if os.path.exists(exe):
        return exe
    steps = [[sys.executable, '-m', 'venv', VENV],
             [os.path.join(VENV, 'bin', 'pip'), 'install', '-q', '--disable-pip-version-check',
              'arvados-fuse==' + UPSTREAM_VERSION]]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError('cannot build the upstream arv-mount virtualenv (%s): %s'
                               % (' '.join(cmd), (r.stdout + r.stderr)[-3000:]))
    return exe
