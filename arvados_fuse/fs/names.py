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


# A looked-up name with more spellings on the server than this is asked
# for with one LIKE pattern instead of `name in [...]`.
MAX_SPELLINGS = 16


def _like_escape(text):
    return text.replace('\\', '\\\\').replace('%', '\\%')


class NameRule(object):
    """How the names of projects, collections, tags and other objects are
    shown: the cluster's Collections.ForwardSlashNameSubstitution (`S`)
    stands for each `/`, as every Arvados client shows it; then what Linux
    cannot hold is replaced as sanitize_filename does ('' and '.' -> '_',
    '..' -> '__', NUL -> '_').

    A setting of '' or '/' means no substitution, and a config without
    the key (an old cluster) means '_', as upstream arv-mount reads them:
    either way `/` shows as `_`."""

    def __init__(self, substitute='_'):
        self.substitute = substitute if substitute not in (None, '', '/') else '_'

    @classmethod
    def for_setting(cls, setting):
        """The rule for the cluster's ForwardSlashNameSubstitution (None:
        the config has no such key)."""
        return cls('_' if setting is None else setting)

    def clean(self, dirty):
        if dirty is None:
            return None
        if self.substitute == '_':
            return sanitize_filename(dirty)
        if dirty in ('', '.', '..'):
            return sanitize_filename(dirty)
        clean = dirty.replace('/', self.substitute).replace('\x00', '_')
        # A substitute of dots may spell `.` or `..` (never a name here).
        return sanitize_filename(clean) if clean in ('.', '..') else clean

    def literal(self, dirty):
        """Whether `dirty` is shown as it is (it wins its name over one
        that only looks like it once substituted)."""
        return dirty is not None and self.clean(dirty) == dirty

    def spellings(self, name):
        """What the server may call an object shown as `name`: (names,
        patterns), `names` exact, `patterns` SQL LIKE patterns (`\\`
        escapes); a superset, to be checked with clean().  Where `name` has
        `S`, the server's name may have `/`; where it has `_`, a NUL (or a
        `/` when `S` is `_`), and `_`, `__` may be '', '.', '..'."""
        subst = self.substitute
        if subst not in name and '_' not in name:
            return [name], []
        if subst == '_' or '_' in name:
            return [], [self._pattern(name)]
        found = []

        def expand(i, prefix):
            if len(found) > MAX_SPELLINGS:
                return
            if i == len(name):
                found.append(prefix)
                return
            if name.startswith(subst, i):
                expand(i + len(subst), prefix + '/')
            expand(i + 1, prefix + name[i])
        expand(0, '')
        if len(found) > MAX_SPELLINGS:
            return [], [self._pattern(name)]
        return found, []

    def _pattern(self, name):
        """One LIKE pattern matching every server name shown as `name`:
        each `_` any one character; each stretch of `S` occurrences, one
        character each if `S` is one character, else any text."""
        subst = self.substitute
        covered = [False] * len(name)
        start = name.find(subst)
        while start >= 0:
            for j in range(start, start + len(subst)):
                covered[j] = True
            start = name.find(subst, start + 1)
        out = []
        for i, c in enumerate(name):
            if covered[i] and len(subst) > 1:
                if not (out and out[-1] == '%' and covered[i - 1]):
                    out.append('%')
            elif covered[i] or c == '_':
                out.append('_')
            else:
                out.append(_like_escape(c))
        return ''.join(out)


class NameEncoder(object):
    """Encodes entry names for the kernel with the mount's --encoding.

    A name that cannot be encoded, or is longer than NAME_MAX bytes, is left
    out of listings; it is logged once, not on every `ls`."""

    def __init__(self, encoding='utf-8'):
        self.encoding = encoding
        # Names are encoded at C speed, a listing at once, in this encoding.
        self._utf8 = encoding.replace('-', '').lower() == 'utf8'
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

    def encode_all(self, names):
        """[encode(name) for name in names], at C speed when every name is
        valid UTF-8 text of at most NAME_MAX bytes (a listing of 10^6)."""
        if len(names) == 1:  # most directories of a deep tree
            return [self.encode(names[0])]
        if names and self._utf8:
            try:
                parts = '\n'.join(names).encode('utf-8').split(b'\n')
            except UnicodeError:
                parts = None
            if parts is not None and len(parts) == len(names) and max(map(len, parts)) <= NAME_MAX:
                return parts
        return [self.encode(name) for name in names]

    def encode_rows(self, table):
        """encode_all(table.names()) of a RowTable (rowtable.py), from the
        strings it keeps its names in, when it can: no list of names made
        to be joined again (a directory of 100 names of 190 characters,
        36 -> 13 us)."""
        texts = table.name_texts()
        if texts is not None and self._utf8:
            parts = []
            try:
                for text in texts:
                    parts.extend(text.encode('utf-8')[1:-1].split(b'\n'))
            except UnicodeError:
                parts = None
            if parts is not None and len(parts) == len(table) and max(map(len, parts)) <= NAME_MAX:
                return parts
        return self.encode_all(table.names())

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
