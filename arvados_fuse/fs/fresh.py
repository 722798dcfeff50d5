"""Freshness bookkeeping shared by every file and directory, and the
timestamp parser (API times are RFC 3339 UTC with fractional seconds)."""

import calendar
import functools
import re
import time

from .entry import Entry

_TIME_RE = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$')


def convert_time(t):
    """Arvados timestamp -> unix time as a float; 0 when missing or unparsable."""
    if not isinstance(t, str):
        return 0
    return _parse_time(t)


# Attributes ask for the same few timestamps again and again (every file of
# a collection has its collection's modified_at): strptime costs ~10 us.
@functools.lru_cache(maxsize=8192)
def _parse_time(t):
    m = _TIME_RE.match(t)
    if not m:
        return 0
    try:
        whole = calendar.timegm(time.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S'))
    except ValueError:
        return 0
    return whole + (float(m.group(2)) if m.group(2) else 0.0)


convertTime = convert_time  # the seed's name


# How long a directory stays fresh when its maker does not say: the seed's
# default for every class.  A mount always says: --refresh-time (15 s unless
# given), for every directory it makes.
DEFAULT_POLL_TIME = 60


class FreshBase(Entry):
    """Tracks when an object was last loaded and whether it must be reloaded.

    `invalidate()` marks it stale (an event said it changed); with polling on,
    it also goes stale `_poll_time` seconds after the last load."""

    # Slots, so that a collection's subdirectory (collection.py), of which
    # a deep tree has 10^5, carries no attribute dict; kinds of entry
    # without slots of their own still get one.
    __slots__ = ('nlookup', '_stale', '_poll', '_last_update', '_atime', '_poll_time', '_generation',
                 '_loaded_once')

    def __init__(self):
        # References the kernel holds (lookups not yet forgotten); kept by
        # the inode table.
        self.nlookup = 0
        self._stale = True
        self._poll = False
        self._last_update = time.time()
        self._atime = time.time()
        self._poll_time = DEFAULT_POLL_TIME
        # Bumped by every invalidate(): a refresh whose fetch started before
        # an invalidation must not leave the object marked fresh.
        self._generation = 0
        self._loaded_once = False

    def invalidate(self):
        self._stale = True
        self._generation += 1

    def stale(self):
        if self._stale:
            return True
        if self._polling():
            return (self._last_update + self._poll_time) < time.time()
        return False

    def _polling(self):
        """Whether it goes stale with time (--refresh-time)."""
        return self._poll

    def fresh(self):
        self._stale = False
        self._loaded_once = True
        self._last_update = time.time()

    def generation(self):
        """How many times it was invalidated: a refresh compares it before
        and after its fetch to see whether an invalidation came meanwhile."""
        return self._generation

    def accessed(self):
        """It was opened (st_atime)."""
        self._atime = time.time()

    def atime(self):
        return self._atime
