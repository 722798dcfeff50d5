"""Change events from the cluster's websocket service, decoded into
`Change` records for a sink (fs/changes.py) that marks the directories
showing the changed objects stale.

Written here rather than taken from `arvados.events` because the SDK's
clients end the whole process (`interrupt_main`) after a run of failures; a
mount must outlive a websocket outage.  While the socket is down nothing is
lost: every mutable directory also goes stale after --refresh-time, so the
outage only delays freshness to that bound.

The connection itself (URL, token, TLS) is `SafeApi.connect_events`: this
module only keeps it up and decodes its messages.
"""

import collections
import json
import logging
import random
import threading

from ..fs.uuids import group_uuid_pattern
from ..host import metrics

_logger = logging.getLogger('arvados.arvados_fuse')

SUBSCRIBE = {'method': 'subscribe', 'filters': [['event_type', 'in', ['create', 'update', 'delete']]]}
# Reconnect backoff: quick at first (a restart of the service), then at
# most once a minute for a long outage.  Each wait is drawn at random from
# its upper half (jitter), so that the nodes of a fleet that lost the
# service together do not all come back in the same instant.
BACKOFF_START = 0.5
BACKOFF_MAX = 60


SUBSCRIBE_TIMEOUT = 30


def jittered(backoff):
    return random.uniform(backoff / 2, backoff)


# What an event says changed: the object, its kind ("arvados#collection"),
# the owners it had before and has now, and whether it is a project that
# was deleted or trashed (its contents are then gone from every listing).
Change = collections.namedtuple('Change', 'uuid kind owners trashed_project')


def decode(ev):
    """The Change an event message announces, or None if it announces none
    (not a create, update or delete)."""
    if not isinstance(ev, dict) or ev.get('event_type') not in ('create', 'update', 'delete'):
        return None
    props = ev.get('properties') or {}
    old = props.get('old_attributes') or {}
    new = props.get('new_attributes') or {}
    uuid = ev.get('object_uuid')
    owners = tuple(o for o in (ev.get('object_owner_uuid'), old.get('owner_uuid'), new.get('owner_uuid'))
                   if isinstance(o, str) and o)
    trashed = bool(isinstance(uuid, str) and group_uuid_pattern.match(uuid)
                   and (ev['event_type'] == 'delete' or new.get('is_trashed')))
    kind = ev.get('object_kind')
    return Change(uuid if isinstance(uuid, str) else None, kind if isinstance(kind, str) else None,
                  owners, trashed)


class EventListener(object):
    """Background thread: websocket -> `sink`, which has on_change(Change),
    on_reconnect(replayed) and on_disconnect() (fs/changes.Changes)."""

    def __init__(self, api, sink, poll_time=15):
        self.api = api
        self.sink = sink
        self.poll_time = poll_time
        self._stop = threading.Event()
        self._thread = None
        self._socket = None
        self.connected = threading.Event()
        # The newest log id before the mount served anything: the first
        # subscription asks the server to replay every change after it, so
        # what was listed before the subscription took effect needs no
        # second listing (which for big projects doubles the startup cost).
        self._replay_from = None

    def start(self):
        url = self.api.websocket_url()
        if not url:
            _logger.info('the cluster has no websocket service; relying on --refresh-time polling')
            return
        self._url = url
        self._replay_from = self._newest_log_id()
        self._thread = threading.Thread(target=self._run, name='events', daemon=True)
        self._thread.start()

    def _newest_log_id(self):
        """Called before the mount serves a request; None if it cannot
        be had (then the first connection refreshes everything loaded)."""
        try:
            return self.api.newest_log_id()
        except Exception as e:
            _logger.debug('change events: no log id to replay from (%s); will refresh on connect', e)
            return None

    def stop(self):
        self._stop.set()
        sock = self._socket
        if sock is not None:
            try:
                sock.close()
            except Exception:
                pass
        if self._thread is not None:
            self._thread.join(5)

    def _connect(self):
        return self.api.connect_events(self._url)

    def _run(self):
        backoff = BACKOFF_START
        failures = 0
        subscribed = False
        while not self._stop.is_set():
            try:
                with self._connect() as sock:
                    self._socket = sock
                    # stop() may have run while we were connecting (it found
                    # no socket to close): then nothing would end the loop.
                    if self._stop.is_set():
                        break
                    replay_from, self._replay_from = self._replay_from, None
                    subscribe = dict(SUBSCRIBE)
                    if replay_from is not None:
                        subscribe['last_log_id'] = replay_from
                    sock.send(json.dumps(subscribe))
                    self._await_subscribed(sock)
                    if failures:
                        _logger.warning('event stream reconnected')
                    if subscribed:
                        metrics.websocket_reconnects.inc()
                    subscribed = True
                    metrics.websocket_connected.set(1)
                    # Changes made before the subscription took effect (at
                    # mount time, or during an outage) were not seen.  The
                    # server replays them when the first try at mount time
                    # works; after failed tries everything loaded is listed
                    # again, as after any outage.
                    self.sink.on_reconnect(replayed=replay_from is not None and not failures)
                    failures = 0
                    backoff = BACKOFF_START
                    self.connected.set()
                    for message in sock:
                        self._handle(message)
                    raise ConnectionError('closed by the server')
            except Exception as e:
                if self._stop.is_set():
                    break
                failures += 1
                if failures == 1:
                    _logger.warning('event stream lost (%s); retrying, directories refresh every %gs meanwhile',
                                    e, self.poll_time)
            finally:
                self._socket = None
                self.connected.clear()
                metrics.websocket_connected.set(0)
                if not self._stop.is_set():
                    self.sink.on_disconnect()
            self._stop.wait(jittered(backoff))
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _await_subscribed(self, sock):
        """Wait for the server's {"status": 200}: only from then on is no
        change missed, so only then may the listings be refreshed."""
        while True:
            msg = json.loads(sock.recv(timeout=SUBSCRIBE_TIMEOUT))
            if isinstance(msg, dict) and 'status' in msg and not msg.get('event_type'):
                if msg['status'] != 200:
                    raise IOError('subscription refused: %r' % (msg,))
                return
            self._handle(json.dumps(msg))

    def _handle(self, message):
        try:
            ev = json.loads(message)
        except ValueError:
            _logger.debug('ignored a malformed event message')
            return
        change = decode(ev)
        if change is not None:
            try:
                self.sink.on_change(change)
            except Exception as e:
                _logger.warning('event handling failed: %s', e)
