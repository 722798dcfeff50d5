"""Errors the model understands, independent of the SDK's exception types
(the API module translates those)."""


class NotFound(Exception):
    """The object does not exist or is not readable with this token."""


class Answered(Exception):
    """The model has decided the request's answer: the errno `errno` (the
    cause, if any, is logged already).  The adapter passes it to the kernel
    as it is."""

    def __init__(self, errno):
        super().__init__(errno)
        self.errno = errno
