"""What an API handler receives and how it fails: :class:`Call` (one
authenticated request, already parsed) and :class:`ApiError` (an HTTP
status and message). Shared by handlers.py and grouplists.py, so neither
needs the other; app.py turns them into and out of HTTP.
"""


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Call:
    def __init__(self, user, token, params, body, host, route):
        self.user, self.token, self.params = user, token, params
        self.body, self.host, self.route = body, host, route

    def p(self, name, default=None):
        v = self.params.get(name)
        return default if v is None else v


def not_found(uuid=None):
    return ApiError(404, "Path not found" if uuid is None else "Object not found: %s" % uuid)
