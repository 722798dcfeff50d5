"""Object kinds, their fields and types, uuids and timestamps.

Everything the rest of the cluster needs to know about the *shape* of an
Arvados record lives here: the table name, uuid infix, the attributes a
record of that kind carries (with a type used by the list language for
coercion and comparison) and the defaults a new record gets.
"""

import datetime
import re
import secrets
import string

from . import CLUSTER_ID

UUID_RE = re.compile(r"^[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{15}$")
PDH_RE = re.compile(r"^([0-9a-f]{32})\+([0-9]+)(\+\S*)?$")

SYSTEM_USER_UUID = CLUSTER_ID + "-tpzed-000000000000000"
ANONYMOUS_USER_UUID = CLUSTER_ID + "-tpzed-anonymouspublic"
ALL_USERS_GROUP_UUID = CLUSTER_ID + "-j7d0g-fffffffffffffff"

_ALNUM = string.ascii_lowercase + string.digits

# Field types understood by the list language (queries.py).
STR, INT, BOOL, TIME, JSON, ARRAY = "string", "integer", "boolean", "datetime", "hash", "array"

_COMMON = {
    "uuid": STR, "etag": STR, "kind": STR, "owner_uuid": STR,
    "created_at": TIME, "modified_at": TIME, "modified_by_user_uuid": STR,
}


class Kind:
    """One object type: ``arvados#collection`` stored in table ``collections``."""

    def __init__(self, name, table, infix, fields, defaults):
        self.name = name                    # e.g. "collection"
        self.kind = "arvados#" + name       # e.g. "arvados#collection"
        self.table = table                  # e.g. "collections"
        self.infix = infix                  # e.g. "4zz18"
        self.fields = dict(_COMMON, **fields)
        self.defaults = defaults

    def new_uuid(self):
        return "%s-%s-%s" % (CLUSTER_ID, self.infix,
                             "".join(secrets.choice(_ALNUM) for _ in range(15)))


KINDS = {}


def _kind(name, table, infix, fields, defaults=None):
    KINDS[table] = Kind(name, table, infix, fields, defaults or {})


_kind("user", "users", "tpzed", {
    "email": STR, "username": STR, "first_name": STR, "last_name": STR,
    "full_name": STR, "identity_url": STR, "is_active": BOOL, "is_admin": BOOL,
    "is_invited": BOOL, "prefs": JSON, "can_write": BOOL, "can_manage": BOOL,
}, {"email": None, "username": None, "first_name": "", "last_name": "",
    "identity_url": None, "is_active": True, "is_admin": False, "is_invited": True,
    "prefs": {}})
_kind("group", "groups", "j7d0g", {
    "name": STR, "description": STR, "group_class": STR, "properties": JSON,
    "trash_at": TIME, "delete_at": TIME, "is_trashed": BOOL, "frozen_by_uuid": STR,
    "can_write": BOOL, "can_manage": BOOL, "writable_by": ARRAY,
}, {"name": None, "description": None, "group_class": "project", "properties": {},
    "trash_at": None, "delete_at": None, "is_trashed": False, "frozen_by_uuid": None})
_kind("collection", "collections", "4zz18", {
    "name": STR, "description": STR, "properties": JSON, "portable_data_hash": STR,
    "manifest_text": STR, "unsigned_manifest_text": STR,
    "replication_desired": INT, "replication_confirmed": INT,
    "replication_confirmed_at": TIME, "storage_classes_desired": ARRAY,
    "storage_classes_confirmed": ARRAY, "storage_classes_confirmed_at": TIME,
    "trash_at": TIME, "delete_at": TIME, "is_trashed": BOOL,
    "current_version_uuid": STR, "version": INT, "preserve_version": BOOL,
    "file_count": INT, "file_size_total": INT,
}, {"name": None, "description": None, "properties": {}, "replication_desired": None,
    "replication_confirmed": None, "replication_confirmed_at": None,
    "storage_classes_desired": ["default"], "storage_classes_confirmed": [],
    "storage_classes_confirmed_at": None, "trash_at": None, "delete_at": None,
    "is_trashed": False, "version": 1, "preserve_version": False})
_kind("link", "links", "o0j2j", {
    "link_class": STR, "name": STR, "tail_uuid": STR, "head_uuid": STR,
    "properties": JSON,
}, {"link_class": None, "name": None, "tail_uuid": None, "head_uuid": None,
    "properties": {}})
_kind("workflow", "workflows", "7fd4e", {
    "name": STR, "description": STR, "definition": STR, "collection_uuid": STR,
}, {"name": None, "description": None, "definition": None, "collection_uuid": None})
_kind("log", "logs", "57u5n", {
    "id": INT, "object_uuid": STR, "object_owner_uuid": STR, "event_type": STR,
    "event_at": TIME, "summary": STR, "properties": JSON,
}, {"summary": None, "properties": {}})
_kind("keepService", "keep_services", "bi6l4", {
    "service_host": STR, "service_port": INT, "service_ssl_flag": BOOL,
    "service_type": STR, "read_only": BOOL,
})
_kind("apiClientAuthorization", "api_client_authorizations", "gj3su", {
    "api_token": STR, "scopes": ARRAY, "expires_at": TIME, "refreshes_at": TIME,
    "last_used_at": TIME, "last_used_by_ip_address": STR,
})

_BY_INFIX = {k.infix: k for k in KINDS.values()}
_BY_KIND = {k.kind: k for k in KINDS.values()}


def kind_of_uuid(uuid):
    """The Kind for a uuid string, or None."""
    if not isinstance(uuid, str) or len(uuid) < 11:
        return None
    return _BY_INFIX.get(uuid[6:11])


def kind_by_name(kind):
    """The Kind for ``arvados#collection`` etc., or None."""
    return _BY_KIND.get(kind)


def now_ts():
    """The current time as the API formats it (9 fractional digits, ``Z``)."""
    return format_ts(datetime.datetime.now(datetime.timezone.utc))


def format_ts(dt):
    dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d000Z" % dt.microsecond


_TS_RE = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d\d:?\d\d)?$")


def parse_ts(value):
    """Parse an ISO-8601 timestamp to integer nanoseconds since the epoch.

    Returns None if it is not a timestamp; naive values are taken as UTC.
    Integer nanoseconds keep the 9-digit precision the API emits.
    """
    if not isinstance(value, str):
        return None
    m = _TS_RE.match(value.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        dt = datetime.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0),
                               int(s or 0), tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        tz = tz[1:].replace(":", "")
        dt -= sign * datetime.timedelta(hours=int(tz[:2]), minutes=int(tz[2:]))
    ns = int((frac or "0").ljust(9, "0"))
    return int(dt.timestamp()) * 1_000_000_000 + ns


def random_secret(n=49):
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def is_past_version(rec):
    """An old version of a collection (Arvados' is_past_version?)."""
    return rec["kind"] == "arvados#collection" and \
        rec.get("current_version_uuid", rec["uuid"]) != rec["uuid"]
