"""API method implementations (everything but the group listings).

Each handler takes a :class:`Call` (authenticated user, token, typed
parameters, request body) and returns a JSON-able dict, or raises
:class:`ApiError` (both in calls.py). Handlers never see HTTP; app.py does
the wire work.
Group listings (``groups.contents``, ``groups.shared``) are in
grouplists.py.
"""

import time

from . import manifests, queries, records
from .calls import ApiError, not_found
from .grouplists import GroupLists
from .permissions import WRITE, MANAGE
from .records import KINDS, UUID_RE, PDH_RE, is_past_version


# Attributes a client may set, per table (anything else is ignored).
WRITABLE = {
    "groups": ("name", "description", "group_class", "properties", "owner_uuid",
               "trash_at", "delete_at", "is_trashed"),
    "collections": ("name", "description", "properties", "owner_uuid", "manifest_text",
                    "replication_desired", "storage_classes_desired", "trash_at",
                    "delete_at", "is_trashed", "preserve_version", "portable_data_hash"),
    "links": ("link_class", "name", "tail_uuid", "head_uuid", "properties", "owner_uuid"),
    "workflows": ("name", "description", "definition", "owner_uuid", "collection_uuid"),
}
_NAME_UNIQUE = ("groups", "collections")
# An update of one of these makes a new version (Arvados' collection.rb
# versionable_updates?), ...
VERSIONABLE = ("manifest_text", "description", "properties", "name")
# ... and a change of one of these is copied to the old versions
# (syncable_attrs; a change of uuid is not possible here).
SYNCABLE = ("owner_uuid", "delete_at", "trash_at", "is_trashed", "replication_desired",
            "storage_classes_desired")


class Api(GroupLists):
    """The API's behaviour, independent of HTTP."""

    def __init__(self, store, perms, signer, *, config, settings, keep_services, blob_ttl):
        self.store, self.perms, self.signer = store, perms, signer
        self.config = config                    # callable -> /arvados/v1/config
        self.settings = settings                # settings.Settings
        self.keep_services = keep_services      # callable -> list of service records
        self.blob_ttl = blob_ttl

    # -- presentation ----------------------------------------------------

    def present(self, call, rec, select=None, manifest=None):
        """A stored record as the API shows it to call.user.

        manifest: True (single-object responses) = include the signed
        manifest_text unless ``select`` leaves it out; None (lists) = only
        if selected; False (groups.contents) = never.
        """
        out = dict(rec)
        kind = rec["kind"]
        if kind in ("arvados#group", "arvados#user"):
            lvl = self.perms.level(call.user, rec)
            out["can_write"] = lvl >= WRITE
            out["can_manage"] = lvl >= MANAGE
            if kind == "arvados#user":
                out["full_name"] = ("%s %s" % (rec.get("first_name") or "",
                                               rec.get("last_name") or "")).strip()
        if kind == "arvados#collection":
            out["current_version_uuid"] = rec.get("current_version_uuid") or rec["uuid"]
            text = out.pop("manifest_text", "")
            selected = select is not None and "manifest_text" in select
            if manifest is not False and (selected or (manifest and select is None)):
                out["manifest_text"] = self.sign_manifest(call, rec, text)
            if select is not None and "unsigned_manifest_text" in select:
                out["unsigned_manifest_text"] = text
        if kind == "arvados#apiClientAuthorization" and rec["owner_uuid"] != call.user["uuid"]:
            out["api_token"] = ""
        return queries.project(out, select)

    def sign_manifest(self, call, rec, text):
        if self.signer is None or rec.get("is_trashed") or not text:
            return text
        expiry = int(time.time()) + self.blob_ttl
        trash_at = records.parse_ts(rec.get("trash_at"))
        if trash_at is not None:
            expiry = min(expiry, trash_at // 1_000_000_000)
        return manifests.sign(text, self.signer, call.token, expiry)

    def trashed(self, rec):
        """True if rec is trashed or inside a trashed project."""
        return rec["uuid"] in self.perms.trashed()

    def visible(self, call, rec, include_trash=False):
        if rec is None or not self.perms.readable(call.user, rec):
            return False
        if not include_trash and rec["kind"] in ("arvados#group", "arvados#collection",
                                                  "arvados#workflow") and self.trashed(rec):
            return False
        return True

    def lookup(self, call, table, uuid, include_trash=False):
        if not isinstance(uuid, str) or not UUID_RE.match(uuid):
            raise not_found(uuid)     # upstream also answers 404 for malformed uuids
        rec = self.store.get(uuid)
        if rec is None or KINDS[table].kind != rec["kind"] or \
                not self.visible(call, rec, include_trash):
            raise not_found(uuid)
        return rec

    # -- generic methods -------------------------------------------------

    def get(self, call):
        table = call.route.resource
        rec = self.lookup(call, table, call.params["uuid"], call.p("include_trash", False))
        return self.present(call, rec, queries.check_select(call.p("select"), [KINDS[table]]),
                            manifest=True)

    def list(self, call):
        table = call.route.resource
        return self.run_list(call, [KINDS[table]], self.candidates(call, table),
                             list_kind="arvados#%sList" % KINDS[table].name,
                             manifest=None)

    def candidates(self, call, table):
        include_trash = call.p("include_trash", False)
        if table == "logs":
            return [r for r in self.store.logs if self.perms.readable(call.user, r)]
        if table == "keep_services":
            return list(self.keep_services())
        cheap = queries.prefilter(call.p("filters", []))
        old_versions = table == "collections" and call.p("include_old_versions", False)
        return [r for r in self.store.table(table) if cheap(r) and (old_versions or not is_past_version(r))
                and self.visible(call, r, include_trash)]

    def run_list(self, call, kinds, recs, *, list_kind, manifest, included=None):
        """Apply the list language to candidate records; build the response."""
        filters = queries.parse_filters(call.p("filters"), call.p("where"))
        queries.check_filters(filters, kinds)
        order = queries.parse_order(call.p("order"))
        limit = queries.parse_limit(call.p("limit"))
        offset = queries.parse_offset(call.p("offset"))
        count = queries.parse_count(call.p("count"))
        select = queries.check_select(call.p("select"), kinds)
        tables = [k.table for k in kinds] if len(kinds) > 1 else None
        preds = {}
        for k in kinds:
            preds[k.kind] = queries.compile_filters(filters, k, tables)
        matched = [r for r in recs if preds.get(r["kind"]) and preds[r["kind"]](r)]
        default = (("id", True),) if kinds[0].table == "logs" else (("modified_at", True),)
        queries.sort_records(matched, order, default=default)
        if call.p("distinct", False):
            matched = queries.distinct(matched, select)
        page = matched[offset:offset + limit]
        out = {"kind": list_kind, "etag": "", "self_link": "", "offset": offset,
               "limit": limit,
               "items": [self.present(call, r, select, manifest=manifest) for r in page]}
        if count:
            out["items_available"] = len(matched)
        if included is not None:
            inc = included(page)
            if inc is not None:
                out["included"] = inc
        return out

    def create(self, call):
        table = call.route.resource
        attrs = self._body_attrs(call, table)
        owner = attrs.setdefault("owner_uuid", call.user["uuid"])
        self._check_owner(call, owner)
        with self.store.write(call.user["uuid"]) as tx:
            self._validate(call, table, attrs, None, tx)
            rec = tx.create(table, attrs)
        return self.present(call, rec, queries.check_select(call.p("select"), [KINDS[table]]),
                            manifest=True)

    def _writable(self, call, table):
        """The record named in the call, if the caller may change it."""
        rec = self.lookup(call, table, call.params["uuid"], include_trash=True)
        if self.perms.level(call.user, rec) < WRITE:
            raise ApiError(403, "Forbidden: no write permission on %s" % rec["uuid"])
        return rec

    def update(self, call):
        table = call.route.resource
        rec = self._writable(call, table)
        attrs = self._body_attrs(call, table)
        if is_past_version(rec):
            raise ApiError(422, "past versions cannot be updated")
        if table == "collections":
            # The collections controller: preserve_version is false unless asked.
            attrs["preserve_version"] = bool(attrs.get("preserve_version"))
        if "owner_uuid" in attrs and attrs["owner_uuid"] != rec["owner_uuid"]:
            self._check_owner(call, attrs["owner_uuid"])
            if attrs["owner_uuid"] == rec["uuid"]:
                raise ApiError(422, "owner_uuid cannot be the object itself")
        with self.store.write(call.user["uuid"]) as tx:
            self._validate(call, table, attrs, rec, tx)
            if table == "collections":
                self._versioning(tx, rec, attrs)
            new = tx.update(rec["uuid"], attrs)
            if table == "collections":
                self._sync_past_versions(tx, rec, attrs)
        return self.present(call, new, queries.check_select(call.p("select"), [KINDS[table]]),
                            manifest=True)

    def delete(self, call):
        table = call.route.resource
        rec = self._writable(call, table)
        if is_past_version(rec):
            raise ApiError(422, "past versions cannot be updated")
        with self.store.write(call.user["uuid"]) as tx:
            if table in ("groups", "collections"):
                # Upstream "delete" trashes; the record stays, hidden.
                now = records.now_ts()
                trash = {"is_trashed": True, "trash_at": now, "delete_at": now}
                new = tx.update(rec["uuid"], trash, event_type="delete")
                if table == "collections":
                    self._sync_past_versions(tx, rec, trash)
            else:
                new = tx.delete(rec["uuid"])
        return self.present(call, new, manifest=False)

    # -- collection versions ----------------------------------------------

    def _versioning(self, tx, old, attrs):
        """Before an update of the current version `old` with `attrs`: keep
        its state as an old version when Arvados would (collection.rb
        manage_versioning, should_preserve_version?), and set the new
        record's version and preserve_version."""
        settings = self.settings
        merged = dict(old)
        merged.update(attrs)
        versionable = any(k in attrs and attrs[k] != old.get(k) for k in VERSIONABLE)
        preserve = False
        if settings.collection_versioning and versionable and not merged.get("is_trashed"):
            idle = settings.preserve_version_if_idle
            modified = records.parse_ts(old.get("modified_at")) or 0
            preserve = bool(old.get("preserve_version") or attrs.get("preserve_version") or idle == 0
                            or (idle > 0 and modified <= records.parse_ts(records.now_ts()) - idle * 1e9))
        if not preserve:
            # Once true, preserve_version stays true until a version is made.
            attrs["preserve_version"] = bool(old.get("preserve_version") or attrs.get("preserve_version"))
            return
        snapshot = {k: v for k, v in old.items() if k not in ("uuid", "etag", "kind")}
        snapshot["current_version_uuid"] = old["uuid"]
        snapshot.update({k: attrs[k] for k in SYNCABLE if k in attrs})
        tx.create("collections", snapshot, keep_times=True)
        attrs["version"] = old.get("version", 1) + 1

    def _sync_past_versions(self, tx, current, attrs):
        """Old versions follow their current version's owner, trash and
        replication (sync_past_versions: no log record, no modified_at)."""
        changes = {k: attrs[k] for k in SYNCABLE if k in attrs and attrs[k] != current.get(k)}
        if not changes:
            return
        for r in list(self.store.table("collections")):
            if r.get("current_version_uuid") == current["uuid"] and r["uuid"] != current["uuid"]:
                tx.update(r["uuid"], changes, log=False, touch=False)

    # -- validation ------------------------------------------------------

    def _body_attrs(self, call, table):
        """The writable attributes from the body.

        Both ``{"collection": {...}}`` and the bare attributes (which the
        Python SDK sends) are accepted, as upstream does.
        """
        key = call.route.request_key
        body = call.body if isinstance(call.body, dict) else {}
        attrs = body[key] if key in body else body
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, dict):
            raise ApiError(422, "request body %r must be an object" % key)
        return {k: v for k, v in attrs.items() if k in WRITABLE[table]}

    def _check_owner(self, call, owner_uuid):
        owner = self.store.get(owner_uuid) if isinstance(owner_uuid, str) else None
        if owner is None or owner["kind"] not in ("arvados#user", "arvados#group"):
            raise ApiError(422, "owner_uuid %r does not exist or cannot own objects" % (owner_uuid,))
        if owner["kind"] == "arvados#group" and owner.get("group_class") == "filter":
            raise ApiError(422, "a filter group cannot own objects")
        if self.perms.level(call.user, owner) < WRITE:
            raise ApiError(403, "Forbidden: cannot write to owner %s" % owner_uuid)

    def _validate(self, call, table, attrs, old, tx):
        merged = dict(old or KINDS[table].defaults)
        merged.update(attrs)
        for field in ("name", "description"):
            if field in attrs and attrs[field] is not None and not isinstance(attrs[field], str):
                raise ApiError(422, "%s must be a string" % field)
        if "properties" in attrs and not isinstance(attrs["properties"] or {}, dict):
            raise ApiError(422, "properties must be an object")
        if table == "groups":
            if merged.get("group_class") not in ("project", "filter", "role"):
                raise ApiError(422, "group_class must be project, filter or role")
        if table == "collections" or (table == "groups" and merged.get("group_class") != "role"):
            self._filesystem_compatible_name(merged.get("name"))
        if table == "collections":
            self._validate_collection(call, attrs, old)
        if table == "links":
            self._validate_link(call, merged)
        if table in _NAME_UNIQUE and ("name" in attrs or "owner_uuid" in attrs) and \
                merged.get("name") and not merged.get("is_trashed"):
            self._unique_name(call, table, attrs, merged, old)

    def _filesystem_compatible_name(self, name):
        """As Arvados' ensure_filesystem_compatible_name (collections,
        projects and filter groups); a cluster whose config has no
        ForwardSlashNameSubstitution is older than that rule: any name."""
        if self.settings.forward_slash_name_substitution is None:
            return
        if name in (".", ".."):
            raise ApiError(422, "Name cannot be '.' or '..'")
        if self.settings.forward_slash_name_substitution == "" and isinstance(name, str) and "/" in name:
            raise ApiError(422, "Name cannot contain a '/' character")

    def _unique_name(self, call, table, attrs, merged, old):
        def taken(name):
            return any(r["owner_uuid"] == merged["owner_uuid"] and r.get("name") == name
                       and not r.get("is_trashed") and (old is None or r["uuid"] != old["uuid"])
                       and not is_past_version(r)
                       and (table != "groups" or r.get("group_class") != "role")
                       for r in self.store.table(table))
        if not taken(merged["name"]):
            return
        if not call.p("ensure_unique_name", False):
            raise ApiError(422, "name %r has already been taken by another %s owned by %s"
                           % (merged["name"], KINDS[table].name, merged["owner_uuid"]))
        base = merged["name"]
        for i in range(1, 10000):
            candidate = "%s (%s)" % (base, records.now_ts()) if i == 1 else "%s (%d)" % (base, i)
            if not taken(candidate):
                attrs["name"] = candidate
                return

    def _validate_collection(self, call, attrs, old):
        if "manifest_text" in attrs or old is None:
            text = attrs.get("manifest_text") or ""
            try:
                normalized, count, size = manifests.normalize(text)
            except manifests.ManifestError as e:
                raise ApiError(422, "Invalid manifest_text: %s" % e)
            self._check_block_signatures(call, text)
            attrs["manifest_text"] = normalized
            attrs["file_count"], attrs["file_size_total"] = count, size
            pdh = manifests.portable_data_hash(normalized)
            claimed = attrs.get("portable_data_hash")
            if claimed and "+".join(claimed.split("+")[:2]) not in (
                    pdh, manifests.portable_data_hash(text)):
                raise ApiError(422, "portable_data_hash %s does not match manifest (%s)"
                               % (claimed, pdh))
            attrs["portable_data_hash"] = pdh
        else:
            attrs.pop("portable_data_hash", None)
        if "storage_classes_desired" in attrs and not (
                isinstance(attrs["storage_classes_desired"], list)
                and all(isinstance(s, str) for s in attrs["storage_classes_desired"])):
            raise ApiError(422, "storage_classes_desired must be an array of strings")

    def _check_block_signatures(self, call, text):
        """Non-admins may only reference blocks they hold a valid signature for
        (as upstream), so a manifest cannot grant access to others' data."""
        if self.signer is None or call.user.get("is_admin"):
            return
        from .signing import SignatureError
        for tok in text.split():
            if PDH_RE.match(tok) and not tok.startswith(manifests.EMPTY_BLOCK):
                try:
                    self.signer.verify(tok, call.token)
                except SignatureError as e:
                    raise ApiError(422, "Invalid block locator %s: %s" % (tok.split("+")[0], e))

    def _validate_link(self, call, link):
        if not link.get("link_class"):
            raise ApiError(422, "link_class is required")
        head = link.get("head_uuid")
        if link["link_class"] == "permission":
            if link.get("name") not in ("can_read", "can_write", "can_manage"):
                raise ApiError(422, "permission link name must be can_read, can_write or can_manage")
            target = self.store.get(head) if isinstance(head, str) else None
            if target is None or self.perms.level(call.user, target) < MANAGE:
                raise ApiError(422 if target is None else 403,
                               "head_uuid %r: not found or not manageable" % (head,))
            if not isinstance(link.get("tail_uuid"), str) or self.store.get(link["tail_uuid"]) is None:
                raise ApiError(422, "tail_uuid %r does not exist" % (link.get("tail_uuid"),))
        elif head is not None:
            if not isinstance(head, str):
                raise ApiError(422, "head_uuid must be a string")
            if PDH_RE.match(head):
                return
            target = self.store.get(head)
            if target is None or not self.perms.readable(call.user, target):
                raise ApiError(422, "head_uuid %r does not exist" % head)

    # -- specific methods ------------------------------------------------

    def users_current(self, call):
        return self.present(call, call.user)

    def collections_get(self, call):
        ident = call.params["uuid"]
        m = PDH_RE.match(ident)
        if not m:
            return self.get(call)
        pdh = "%s+%s" % (m.group(1), m.group(2))
        found = [c for c in self.store.table("collections")
                 if c["portable_data_hash"] == pdh and self.visible(call, c)]
        if not found:
            raise not_found(ident)
        # The readable one that stays longest: no trash_at first, then latest.
        found.sort(key=lambda c: (c.get("trash_at") is None, c.get("trash_at") or ""))
        best = found[-1]
        out = {"kind": "arvados#collection", "uuid": pdh, "portable_data_hash": pdh,
               "trash_at": best.get("trash_at"),
               "manifest_text": self.sign_manifest(call, best, best["manifest_text"])}
        return out

    def keep_services_accessible(self, call):
        items = [self.present(call, s) for s in self.keep_services()]
        return {"kind": "arvados#keepServiceList", "etag": "", "self_link": "", "offset": 0,
                "limit": len(items), "items": items, "items_available": len(items)}

    def api_client_authorizations_current(self, call):
        rec = self.store.token_record(call.token)
        out = dict(self.present(call, rec))
        out["api_token"] = call.token
        return out

    def configs_get(self, call):
        return self.config()

    def vocabularies_get(self, call):
        return {"strict_tags": False, "tags": {}}
