"""Names for the mount's threads as the operating system sees them.

Python's thread names live only inside the interpreter; `top -H`, `ps -L`
and /proc/<pid>/task/*/comm show every thread as the process.  Naming the
busy ones (Keep fetches, lookups) lets an operator, and the read benchmark,
tell which work the CPU goes to.  Linux only; elsewhere a no-op."""

import ctypes
import ctypes.util
import sys

_PR_SET_NAME = 15
_prctl = None
if sys.platform.startswith('linux'):
    try:
        _prctl = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True).prctl
    except (OSError, AttributeError):
        _prctl = None


def name_this_thread(name):
    """Name the calling thread (at most 15 bytes are kept)."""
    if _prctl is not None:
        _prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode('ascii', 'replace')[:15]), 0, 0, 0)
