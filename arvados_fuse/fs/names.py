"""Turning server-side names into names a Linux directory can hold."""

import logging
import re

_logger = logging.getLogger('arvados.arvados_fuse')

# FUSE and Linux cannot hold NUL or '/' in a name component.
_disallowed_filename_characters = re.compile('[\x00/]')

# The kernel cannot address a component longer than this (NAME_MAX).
NAME_MAX = 255


def sanitize_filename(dirty):
    """Replace what Linux cannot hold with '_' (same length): '' -> '_',
    '.' -> '_', '..' -> '__', NUL and '/' -> '_'."""
    if dirty is None:
        return None
    elif dirty == '':
        return '_'
    elif dirty == '.':
        return '_'
    elif dirty == '..':
        return '__'
    else:
        return _disallowed_filename_characters.sub('_', dirty)


class NameEncoder(object):
    """Encodes entry names for the kernel with the mount's --encoding.

    A name that cannot be encoded, or is longer than NAME_MAX bytes, is left
    out of listings; it is logged once, not on every `ls`."""

    def __init__(self, encoding='utf-8'):
        self.encoding = encoding
        self._reported = set()

    def encode(self, name):
        try:
            raw = name.encode(self.encoding)
        except UnicodeError:
            self._report(name, 'cannot be encoded as %s' % self.encoding)
            return None
        if len(raw) > NAME_MAX:
            self._report(name, 'is %d bytes long, over the kernel limit of %d' % (len(raw), NAME_MAX))
            return None
        return raw

    def decode(self, raw):
        try:
            return raw.decode(self.encoding)
        except UnicodeError:
            return None

    def _report(self, name, why):
        if name in self._reported:
            return
        if len(self._reported) < 100000:
            self._reported.add(name)
        _logger.warning('left out of listings: name %s %s', ascii(name)[:300], why)
