"""One line for an exception in a log message (host/logtext.py)."""

from arvados_fuse.host.logtext import one_line


def test_one_line():
    assert one_line(ValueError('first\nsecond')) == 'first'
    assert one_line(ValueError('  \n')) == 'ValueError'
    assert one_line(ValueError('x' * 1000)) == 'x' * 300
    assert one_line(KeyError('k'), named=True) == "KeyError: 'k'"
    assert one_line(TimeoutError(), named=True) == 'TimeoutError:'
    assert len(one_line(OSError('y' * 1000), named=True, limit=400)) == 400
