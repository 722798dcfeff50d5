"""Errors the model understands, independent of the SDK's exception types
(the API module translates those)."""


class NotFound(Exception):
    """The object does not exist or is not readable with this token."""
