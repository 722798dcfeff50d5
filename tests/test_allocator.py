"""host/allocator.py: glibc told to keep one arena and a fixed mmap
threshold, unless the user's environment says otherwise.  Run in a child
process: mallopt changes the process it runs in."""

import subprocess
import sys

CHILD = '''
import sys
from arvados_fuse.host import allocator
env = dict(a.split("=", 1) for a in sys.argv[1:])
print(",".join(allocator.tune(env)))
'''


def _tuned(*env):
    return subprocess.run([sys.executable, '-c', CHILD] + list(env), capture_output=True, text=True,
                          timeout=60, check=True).stdout.strip()


def test_both_settings_applied_on_glibc():
    assert _tuned() == 'arena_max,mmap_threshold'


def test_the_user_s_own_settings_win():
    assert _tuned('MALLOC_ARENA_MAX=4') == 'mmap_threshold'
    assert _tuned('MALLOC_ARENA_MAX=4', 'MALLOC_MMAP_THRESHOLD_=65536') == ''
