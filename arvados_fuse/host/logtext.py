"""Exceptions as one line of a log message or of an error the command
prints: the first line of the message (SDK and HTTP errors carry whole
response bodies), cut to a length a terminal shows."""


def one_line(exc, named=False, limit=300):
    """The first line of `exc`'s message, at most `limit` characters.
    `named`: prefixed by the exception's class (`KeyError: 'x'`), for logs
    where the class tells the cause.  Without it, an exception with no
    message is its class name."""
    lines = str(exc).strip().splitlines()
    if named:
        return (type(exc).__name__ + ': ' + (lines[0] if lines else '')).strip()[:limit]
    return lines[0][:limit] if lines else type(exc).__name__
