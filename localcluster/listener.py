"""A loopback listening socket for an aiohttp app that can go down and up.

The ``down`` fault must really refuse connections, so instead of an
aiohttp site we own the asyncio server: going down closes the listening
socket and drops open connections; coming up listens on the same port.
"""

import asyncio

from aiohttp import web

SHUTDOWN_GRACE = 2.0


class Listener:
    def __init__(self, app, *, host="127.0.0.1", port=0, ssl_context=None):
        self.app = app
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.runner = None
        self.server = None

    async def start(self):
        # Stopping waits this long for requests in flight: a request held
        # by a `latency` fault (an API that never answers) must not hold up
        # the cluster's shutdown for aiohttp's default minute.
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                    shutdown_timeout=SHUTDOWN_GRACE)
        await self.runner.setup()
        await self._open()

    async def _open(self):
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            self.runner.server, self.host, self.port, ssl=self.ssl_context,
            reuse_address=True, backlog=256)
        self.port = self.server.sockets[0].getsockname()[1]

    def _drop_connections(self):
        for handler in list(getattr(self.runner.server, "connections", ())):
            try:
                handler.force_close()
                if handler.transport is not None:
                    handler.transport.close()
            except Exception:   # already closing: nothing to drop
                pass

    async def set_down(self, down):
        """Close (down=True) or reopen (down=False) the listening socket."""
        if down and self.server is not None:
            self.server.close()
            self.server = None
            self._drop_connections()
        elif not down and self.server is None:
            await self._open()

    async def stop(self):
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.runner is not None:
            self._drop_connections()
            await self.runner.cleanup()
            self.runner = None
