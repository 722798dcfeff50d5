"""Record storage: SQLite on disk, a full in-memory copy for queries.

Every record is a JSON document in table ``objects`` (keyed by uuid);
log records live in ``logs`` with their integer id. All records are also
kept in memory, because the list language and the permission model are
evaluated in Python (simple, and fast enough for tens of thousands of
records); SQLite gives durability and atomicity.

Writes go through :meth:`Store.write`, a transaction: changes are staged,
then written to SQLite in one ``BEGIN ... COMMIT`` together with their log
records, and only after the commit applied to memory and announced to
subscribers (:meth:`Store.subscribe`, the hook for an event service). A
failure anywhere before the commit leaves nothing behind.

The store is used from one thread (the asyncio loop); it has no locks.
"""

import contextlib
import copy
import json
import secrets
import sqlite3

from . import records
from .records import KINDS, SYSTEM_USER_UUID

# Attributes copied into log records' old/new_attributes, as upstream does.
LOGGED_ATTRIBUTES = ("is_trashed", "name", "owner_uuid", "portable_data_hash",
                     "requesting_container_uuid", "state")


class StoreError(Exception):
    pass


class Store:
    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS objects (
                uuid TEXT PRIMARY KEY, tbl TEXT NOT NULL, data TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS logs (
                id INTEGER PRIMARY KEY, data TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """)
        # uuid -> record; table name -> {uuid: record}. Records in memory
        # are never mutated in place: a write replaces the dict.
        self.objects = {}
        self.tables = {t: {} for t in KINDS}
        # (owner_uuid, name) -> {uuid: record}: what a real API server's
        # index on them gives a lookup by name in a big project.
        self.by_owner_name = {}
        self.logs = []          # log records in id order
        self.generation = 0     # bumped by every commit; caches key on it
        self._subscribers = []
        for uuid, tbl, data in self.db.execute("SELECT uuid, tbl, data FROM objects"):
            rec = json.loads(data)
            if tbl == "collections":
                # Stored before collections had versions: their own current one.
                rec.setdefault("current_version_uuid", uuid)
            self.objects[uuid] = rec
            self.tables[tbl][uuid] = rec
            self._index(rec)
        for (data,) in self.db.execute("SELECT data FROM logs ORDER BY id"):
            self.logs.append(json.loads(data))
        self._tokens = None

    # -- reading ---------------------------------------------------------

    def get(self, uuid):
        return self.objects.get(uuid)

    def table(self, tbl):
        return self.tables[tbl].values()

    def named(self, owner_uuid, names):
        """The records owned by `owner_uuid` named one of `names`."""
        out = []
        for name in names:
            out.extend(self.by_owner_name.get((owner_uuid, name), {}).values())
        return out

    def _index(self, rec):
        self.by_owner_name.setdefault((rec.get("owner_uuid"), rec.get("name")), {})[rec["uuid"]] = rec

    def _unindex(self, rec):
        key = (rec.get("owner_uuid"), rec.get("name"))
        held = self.by_owner_name.get(key)
        if held is not None:
            held.pop(rec["uuid"], None)
            if not held:
                del self.by_owner_name[key]

    def meta(self, key, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key, value):
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        (key, json.dumps(value)))

    def token_record(self, token):
        """The api_client_authorization record for a presented token, or None."""
        if self._tokens is None or self._tokens[0] != self.generation:
            by_secret = {r["api_token"]: r for r in self.table("api_client_authorizations")}
            self._tokens = (self.generation, by_secret)
        by_secret = self._tokens[1]
        if token.startswith("v2/"):
            parts = token.split("/")
            if len(parts) != 3:
                return None
            rec = by_secret.get(parts[2])
            return rec if rec and rec["uuid"] == parts[1] else None
        return by_secret.get(token)

    # -- events ----------------------------------------------------------

    def subscribe(self, callback):
        """Call ``callback(log_record)`` after each committed change.

        Called on the event-loop thread right after the commit; exceptions
        are swallowed so a broken subscriber cannot fail a write. Returns a
        function that removes the subscription.
        """
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    # -- writing ---------------------------------------------------------

    @contextlib.contextmanager
    def write(self, user_uuid=SYSTEM_USER_UUID):
        """Transaction context: ``with store.write(user) as tx: tx.create(...)``."""
        tx = _Transaction(self, user_uuid)
        yield tx
        tx.commit()


class _Transaction:
    def __init__(self, store, user_uuid):
        self.store = store
        self.user_uuid = user_uuid
        self.staged = {}        # uuid -> new record, or None for a deletion
        self.events = []        # (event_type, old, new)

    def current(self, uuid):
        if uuid in self.staged:
            return self.staged[uuid]
        return self.store.get(uuid)

    def create(self, tbl, attrs, uuid=None, keep_times=False):
        """keep_times: the record keeps the modified_at and
        modified_by_user_uuid of `attrs` (an old version of a collection)."""
        kind = KINDS[tbl]
        now = records.now_ts()
        rec = copy.deepcopy(kind.defaults)
        rec.update(copy.deepcopy(attrs))
        rec.update({
            "kind": kind.kind,
            "uuid": uuid or kind.new_uuid(),
            "etag": secrets.token_hex(13),
            "created_at": rec.get("created_at") or now,
            "modified_at": now,
            "modified_by_user_uuid": self.user_uuid,
        })
        if keep_times:
            rec["modified_at"] = attrs.get("modified_at") or now
            rec["modified_by_user_uuid"] = attrs.get("modified_by_user_uuid") or self.user_uuid
        if tbl == "collections" and not (keep_times and rec.get("current_version_uuid")):
            # A new collection is its own current version (Arvados' create
            # ignores a given current_version_uuid); only an old version,
            # made by the API with its times kept, points elsewhere.
            rec["current_version_uuid"] = rec["uuid"]
        rec.setdefault("owner_uuid", self.user_uuid)
        if rec["uuid"] in self.store.objects or rec["uuid"] in self.staged:
            raise StoreError("uuid %s already exists" % rec["uuid"])
        self.staged[rec["uuid"]] = rec
        self.events.append(("create", None, rec))
        return rec

    def update(self, uuid, changes, event_type="update", log=True, touch=True):
        """log False: no log record (as Rails' update_all); touch False:
        modified_at and modified_by_user_uuid stay."""
        old = self.current(uuid)
        if old is None:
            raise StoreError("no such object %s" % uuid)
        rec = dict(old)
        rec.update(copy.deepcopy(changes))
        rec["etag"] = secrets.token_hex(13)
        if touch:
            rec["modified_at"] = records.now_ts()
            rec["modified_by_user_uuid"] = self.user_uuid
        self.staged[uuid] = rec
        if log:
            self.events.append((event_type, old, rec))
        return rec

    def delete(self, uuid):
        old = self.current(uuid)
        if old is None:
            raise StoreError("no such object %s" % uuid)
        self.staged[uuid] = None
        self.events.append(("delete", old, None))
        return old

    def _log_record(self, log_id, event_type, old, new):
        obj = new or old
        now = records.now_ts()

        def attrs(rec):
            return {k: rec[k] for k in LOGGED_ATTRIBUTES if rec and k in rec}
        return {
            "kind": "arvados#log", "etag": secrets.token_hex(13),
            "uuid": KINDS["logs"].new_uuid(), "id": log_id,
            "owner_uuid": self.user_uuid, "created_at": now, "modified_at": now,
            "modified_by_user_uuid": self.user_uuid,
            "object_uuid": obj["uuid"], "object_owner_uuid": obj.get("owner_uuid"),
            "event_type": event_type, "event_at": now, "summary": None,
            "properties": {"old_attributes": attrs(old), "new_attributes": attrs(new)},
        }

    def commit(self):
        st = self.store
        if not self.staged:
            return
        next_id = (st.logs[-1]["id"] + 1) if st.logs else 1
        logs = []
        for event_type, old, new in self.events:
            if (new or old)["kind"] == "arvados#apiClientAuthorization":
                continue    # tokens are not logged (they would leak secrets)
            logs.append(self._log_record(next_id, event_type, old, new))
            next_id += 1
        db = st.db
        db.execute("BEGIN")
        try:
            for uuid, rec in self.staged.items():
                if rec is None:
                    db.execute("DELETE FROM objects WHERE uuid=?", (uuid,))
                else:
                    tbl = records.kind_by_name(rec["kind"]).table
                    db.execute("INSERT OR REPLACE INTO objects (uuid, tbl, data) VALUES (?, ?, ?)",
                               (uuid, tbl, json.dumps(rec)))
            for log in logs:
                db.execute("INSERT INTO logs (id, data) VALUES (?, ?)", (log["id"], json.dumps(log)))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for uuid, rec in self.staged.items():
            old = st.objects.pop(uuid, None)
            if old is not None:
                st.tables[records.kind_by_name(old["kind"]).table].pop(uuid, None)
                st._unindex(old)
            if rec is not None:
                st.objects[uuid] = rec
                st.tables[records.kind_by_name(rec["kind"]).table][uuid] = rec
                st._index(rec)
        st.logs.extend(logs)
        st.generation += 1
        for log in logs:
            for cb in list(st._subscribers):
                try:
                    cb(log)
                except Exception:   # a subscriber must not fail a committed write
                    pass
