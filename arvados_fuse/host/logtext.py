"""How errors are written in the log: one line each."""


def one_line(exc):
    """`Type: first line of the message`, at most 400 characters."""
    text = str(exc).strip().splitlines()
    return (type(exc).__name__ + ': ' + (text[0] if text else '')).strip()[:400]
