"""The event service: Arvados websocket protocol v0 at ``/websocket``.

What the unmodified ``arvados.events.EventClient`` (and so upstream
arv-mount) expects, as upstream ``services/ws`` v0 sessions do it:

* the token comes only from ``?api_token=``; a bad or missing token is
  not refused, it just sees no events (nothing is readable to nobody);
* each text frame ``{"method": "subscribe", "filters": [...],
  "last_log_id": N}`` adds a subscription and is answered
  ``{"status": 200}``; ``unsubscribe`` removes the subscription with equal
  filters (``{"status": 400}`` if there is none, as for unknown methods
  and frames that are not JSON objects);
* with ``last_log_id``, logs with a larger id from the last 10 minutes are
  replayed (in id order, after the status reply), so a client that
  reconnects misses nothing;
* every committed change (the store's subscriber hook) becomes one frame
  shaped like the ``logs`` record (``msgID`` counts frames per session),
  sent if any subscription matches and the token's user may read the
  object (or, once it is gone, its owner); filters interpreted are those v0
  interprets: ``["event_type", "in", [...]]`` and
  ``["created_at", op, timestamp]``; other filters are ignored.

A session whose client cannot keep up (queue over ``QUEUE_LIMIT`` frames)
is closed; the client reconnects and catches up through ``last_log_id``.
"""

import asyncio
import bisect
import json
import logging
import time

from aiohttp import WSMsgType, web

from . import records
from .permissions import READ

log = logging.getLogger("localcluster.websocket")

REPLAY_WINDOW_NS = 600 * 1_000_000_000     # upstream replays the last 10 minutes
QUEUE_LIMIT = 10000     # frames; far more than any test or mount makes, yet bounded
MAX_MESSAGE = 1 << 20                      # the client's own limit on frames
_CLOSE_TRY_AGAIN = 1013
_CLOSE_GOING_AWAY = 1001

_COMPARE = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class BadFrame(ValueError):
    pass


class Subscription:
    """One subscribe frame's filters, compiled to predicates on log records."""

    def __init__(self, filters):
        if filters is None:
            filters = []
        if not isinstance(filters, list) or not all(isinstance(f, list) for f in filters):
            raise BadFrame("filters must be a list of [attribute, operator, operand]")
        self.filters = filters
        self.tests = []
        for f in filters:
            test = self._compile(f)
            if test is not None:
                self.tests.append(test)

    @staticmethod
    def _compile(f):
        if len(f) != 3:
            return None
        attr, op, operand = f
        if attr == "event_type" and op == "in" and isinstance(operand, list):
            wanted = set(x for x in operand if isinstance(x, str))
            return lambda rec: rec["event_type"] in wanted
        if attr == "created_at" and op in _COMPARE:
            t = records.parse_ts(operand)
            if t is None:
                return None     # upstream ignores an unparsable time
            cmp = _COMPARE[op]
            return lambda rec: cmp(records.parse_ts(rec["created_at"]), t)
        return None

    def matches(self, rec):
        return all(test(rec) for test in self.tests)


def event_frame(rec, msg_id):
    """A log record as a v0 event frame."""
    kind = records.kind_of_uuid(rec["object_uuid"])
    return {
        "msgID": msg_id,
        "id": rec["id"],
        "uuid": rec["uuid"],
        "object_uuid": rec["object_uuid"],
        "object_owner_uuid": rec["object_owner_uuid"],
        "object_kind": kind.kind if kind else None,
        "event_type": rec["event_type"],
        "event_at": rec["event_at"],
        "properties": {
            "old_attributes": rec["properties"].get("old_attributes") or {},
            "new_attributes": rec["properties"].get("new_attributes") or {},
        },
    }


class _Session:
    def __init__(self, service, ws, token):
        self.service = service
        self.ws = ws
        self.token = token
        self.subscriptions = []
        self.queue = asyncio.Queue()
        self.msg_id = 0
        self.closing = False

    def wants(self, rec):
        if not any(s.matches(rec) for s in self.subscriptions):
            return False
        return self.service.may_read(self.token, rec)

    def push_event(self, rec):
        self.msg_id += 1
        self.push(event_frame(rec, self.msg_id))

    def push(self, frame):
        if self.closing:
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            # Too slow a reader: drop it rather than grow without bound.
            self.closing = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(frame)

    async def writer(self):
        while True:
            frame = await self.queue.get()
            if frame is None:
                await self.ws.close(code=_CLOSE_TRY_AGAIN, message=b"event queue overflow")
                return
            await self.ws.send_str(json.dumps(frame))

    def handle_frame(self, text):
        """Act on one client frame; returns the status reply."""
        try:
            msg = json.loads(text)
            if not isinstance(msg, dict):
                raise BadFrame("frame is not a JSON object")
            method = msg.get("method")
            if method == "subscribe":
                sub = Subscription(msg.get("filters"))
                last_log_id = msg.get("last_log_id")
                if last_log_id is not None and (isinstance(last_log_id, bool)
                                                or not isinstance(last_log_id, int)):
                    raise BadFrame("last_log_id must be an integer")
                self.subscriptions.append(sub)
                self.push({"status": 200})
                if last_log_id is not None:
                    self._replay(sub, last_log_id)
                return
            if method == "unsubscribe":
                filters = msg.get("filters") or []
                for i, sub in enumerate(self.subscriptions):
                    if sub.filters == filters:
                        del self.subscriptions[i]
                        self.push({"status": 200})
                        return
                raise BadFrame("no subscription with these filters")
            raise BadFrame("unknown method %r" % (method,))
        except (ValueError, TypeError) as e:
            log.debug("websocket: bad frame %r: %s", text[:200], e)
            self.push({"status": 400})

    def _replay(self, sub, last_log_id):
        oldest = time.time_ns() - REPLAY_WINDOW_NS
        logs = self.service.store.logs      # in id order
        start = bisect.bisect_right(logs, last_log_id, key=lambda r: r["id"])
        for rec in logs[start:]:
            if (records.parse_ts(rec["created_at"]) or 0) < oldest:
                continue
            if sub.matches(rec) and self.service.may_read(self.token, rec):
                self.push_event(rec)


class EventService:
    """Websocket sessions fed by the store's commit hook."""

    def __init__(self, store, perms, user_for_token):
        self.store = store
        self.perms = perms
        self.user_for_token = user_for_token    # callable(token) -> user record or None
        self.sessions = set()
        self._unsubscribe = None
        # The "websocket" fault knob `down`: sessions are closed and new
        # ones refused while the API itself keeps answering.
        self.down = False

    def attach(self):
        """Start receiving the store's committed changes."""
        self._unsubscribe = self.store.subscribe(self._on_log)

    def may_read(self, token, rec):
        # Checked per event, not per session: a token revoked mid-session
        # stops seeing events, as upstream re-checks permissions.
        user = self.user_for_token(token) if token else None
        if user is None:
            return False
        obj = self.store.get(rec["object_uuid"])
        if obj is not None:
            # The object as the API would show it (e.g. a permission link
            # is visible to its tail user, not only to the link's owner).
            return self.perms.level(user, obj) >= READ
        # Gone for good: the log record's own rule (its owner is reachable).
        return self.perms.level(user, rec) >= READ

    def _on_log(self, rec):
        for session in list(self.sessions):
            if session.wants(rec):
                session.push_event(rec)

    async def set_down(self, down):
        self.down = down
        if down:
            for session in list(self.sessions):
                await session.ws.close(code=_CLOSE_GOING_AWAY, message=b"event service down")

    async def handle(self, request):
        if self.down:
            raise web.HTTPServiceUnavailable(text="event service down")
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE)
        await ws.prepare(request)
        session = _Session(self, ws, request.query.get("api_token"))
        self.sessions.add(session)
        writer = asyncio.create_task(session.writer())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    session.handle_frame(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    session.push({"status": 400})
        finally:
            self.sessions.discard(session)
            writer.cancel()
            try:
                await writer
            except (asyncio.CancelledError, ConnectionError, RuntimeError):
                pass    # the connection is gone: frames still queued are moot
        return ws



async def start(cluster):
    """Cluster start hook (``Cluster.start_hooks``): serve ``/websocket``."""
    service = EventService(cluster.store, cluster.perms, cluster.user_for_token)
    service.attach()
    cluster.faults.register("websocket", service.set_down)
    cluster.set_websocket_handler(service.handle)
    return service
