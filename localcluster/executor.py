"""The event loop's default executor, safe from garbage-collector re-entry.

aiohttp's `FileResponse.prepare` (how Keep servers send blocks, with
sendfile) closes its file in a `finally` through `loop.run_in_executor`.
When a connection is dropped mid-response (a `down` fault flapping under
load), that coroutine is left to the garbage collector, which runs its
`finally` wherever a collection happens to start: once inside
`ThreadPoolExecutor.submit` on the event loop's thread, which holds the
executor's (non-reentrant) locks, so the nested submit waited for itself
and every request after it hung.  Here a submit runs with the collector
off, so no collection, and no finalizer, can start inside it.
"""

import concurrent.futures
import gc


class GcSafeExecutor(concurrent.futures.ThreadPoolExecutor):
    def submit(self, *args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return super().submit(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()


def install(loop):
    """Make it `loop`'s default executor (run_in_executor(None, ...))."""
    loop.set_default_executor(GcSafeExecutor(thread_name_prefix="localcluster"))
