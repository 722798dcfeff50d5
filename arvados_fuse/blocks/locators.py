"""Keep block locators: their grammar and Keep's block size, in one place
(the manifest parser, the by_id and project names, and the Keep client use
them).

    LOCATOR = HASH "+" SIZE ("+" HINT)*
    HASH    = 32 lowercase hex digits (the block's MD5)
    SIZE    = decimal digits
    HINT    = [A-Z][A-Za-z0-9@_-]+   e.g. A<signature>@<expiry>, K@<cluster>

as the SDK's `KeepLocator` reads them: a hint is a capital letter and at
least one more character.  A portable data hash is a locator without hints
(of the manifest's text).
"""

import re

# Keep stores blocks of at most 64 MiB: a locator claiming more names a
# block no Keep server holds.
MAX_BLOCK_SIZE = 64 * 1024 * 1024

# The parts, as regular expression text without groups or anchors, for
# patterns that find locators inside larger text (manifest lines).
HASH = r'[0-9a-f]{32}'
SIZE = r'[0-9]+'
HINT = r'\+[A-Z][A-Za-z0-9@_-]+'
LOCATOR = r'%s\+%s(?:%s)*' % (HASH, SIZE, HINT)

# A whole string that is a locator, hints or not: groups hash, size and
# the hints ('' or '+...').
locator_pattern = re.compile(r'^(%s)\+(%s)((?:%s)*)$' % (HASH, SIZE, HINT))
# A bare portable data hash, `hash+size`.
portable_data_hash_pattern = re.compile(r'^%s\+%s$' % (HASH, SIZE))


def strip_hints(locator):
    """`hash+size` of a locator."""
    return '+'.join(locator.split('+')[:2])


def signature_of(locator):
    """The `A...` permission hint of a locator ('' when unsigned): what a
    Keep server checks against the request's token."""
    for hint in locator.split('+')[2:]:
        if hint.startswith('A'):
            return hint
    return ''
