"""``groups.contents`` and ``groups.shared``: listings across kinds.

``groups.contents`` lists what a user (home project) or a group owns,
across groups (projects and filter groups only), workflows and
collections; collections come without ``manifest_text``. Unlike upstream,
which pages class by class, the classes are merged and sorted together by
the requested order, so keyset paging over mixed classes is consistent.

``groups.shared`` lists the readable projects whose owner is another
user, is unreadable, or is not a project (the upstream ``exclude_home``
rule), with the readable owners in ``included``.
"""

from . import queries
from .calls import ApiError, not_found
from .records import KINDS, is_past_version

CONTENTS_TABLES = ("groups", "workflows", "collections")


def _include_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise queries.QueryError("include must be an array of strings")


class GroupLists:
    """Mixed into handlers.Api (needs store, perms, visible, present, run_list)."""

    def _owner_included(self, call, include, page):
        if "owner_uuid" not in include:
            return None
        seen, out = set(), []
        for rec in page:
            owner = self.store.get(rec.get("owner_uuid"))
            if owner is None or owner["uuid"] in seen:
                continue
            if owner["kind"] in ("arvados#user", "arvados#group") and \
                    self.perms.readable(call.user, owner):
                seen.add(owner["uuid"])
                out.append(self.present(call, owner))
        return out

    def groups_contents(self, call):
        include_trash = call.p("include_trash", False)
        include = _include_list(call.p("include"))
        kinds = [KINDS[t] for t in CONTENTS_TABLES]

        def listable(rec):
            return rec["kind"] != "arvados#group" or rec.get("group_class") in ("project", "filter")

        uuid = call.p("uuid") or ""
        if uuid:
            parent = self.store.get(uuid)
            if parent is None or parent["kind"] not in ("arvados#user", "arvados#group") or \
                    not self.visible(call, parent, include_trash):
                raise not_found(uuid)
            if parent.get("group_class") == "filter":
                recs = self._filter_group_members(call, parent, kinds, include_trash)
            elif call.p("recursive", False):
                recs = self._descendants(call, uuid, include_trash)
            else:
                names = queries.names_asked(call.p("filters", []))
                if names is not None:   # the (owner_uuid, name) index
                    contents_kinds = {k.kind for k in kinds}
                    recs = [r for r in self.store.named(uuid, names)
                            if r["kind"] in contents_kinds and self.visible(call, r, include_trash)]
                else:
                    recs = [r for t in CONTENTS_TABLES for r in self.store.table(t)
                            if r["owner_uuid"] == uuid and self.visible(call, r, include_trash)]
        else:
            recs = [r for t in CONTENTS_TABLES for r in self.store.table(t)
                    if self.visible(call, r, include_trash)]
            if call.p("exclude_home_project", False):
                recs = self._shared_roots(call, recs)
        old_versions = call.p("include_old_versions", False)
        recs = [r for r in recs if listable(r) and (old_versions or not is_past_version(r))]
        if not isinstance(call.p("filters", []), list):
            raise ApiError(422, "filters must be an array")
        return self.run_list(call, kinds, recs, list_kind="arvados#objectList", manifest=False,
                             included=lambda page: self._owner_included(call, include, page))

    def _descendants(self, call, uuid, include_trash):
        out, stack = [], [uuid]
        by_owner = {}
        for t in CONTENTS_TABLES:
            for r in self.store.table(t):
                by_owner.setdefault(r["owner_uuid"], []).append(r)
        while stack:
            for r in by_owner.get(stack.pop(), ()):
                if self.visible(call, r, include_trash):
                    out.append(r)
                    if r["kind"] == "arvados#group":
                        stack.append(r["uuid"])
        return out

    def _filter_group_members(self, call, group, kinds, include_trash):
        filters = (group.get("properties") or {}).get("filters") or []
        try:
            filters = queries.parse_filters(filters)
        except queries.QueryError:
            return []
        tables = [k.table for k in kinds]
        out = []
        for k in kinds:
            try:
                pred = queries.compile_filters(filters, k, tables)
            except queries.QueryError:
                pred = None
            if pred is None:
                continue
            out.extend(r for r in self.store.table(k.table)
                       if r["uuid"] != group["uuid"] and self.visible(call, r, include_trash)
                       and pred(r))
        return out

    def _shared_roots(self, call, recs):
        """Readable items not in the caller's home whose owner the caller cannot read."""
        me = call.user["uuid"]
        out = []
        for r in recs:
            owner = self.store.get(r["owner_uuid"])
            if r["owner_uuid"] == me:
                continue
            if owner is None or not self.perms.readable(call.user, owner) or \
                    (owner["kind"] == "arvados#user" and owner["uuid"] != me):
                out.append(r)
        return out

    def groups_shared(self, call):
        include_trash = call.p("include_trash", False)
        include = _include_list(call.p("include"))
        me = call.user["uuid"]
        recs = []
        for g in self.store.table("groups"):
            if not self.visible(call, g, include_trash):
                continue
            owner = self.store.get(g["owner_uuid"])
            if owner is None or not self.perms.readable(call.user, owner) or \
                    (owner["kind"] == "arvados#user" and owner["uuid"] != me) or \
                    (owner["kind"] == "arvados#group" and owner.get("group_class") != "project"):
                recs.append(g)
        out = self.run_list(call, [KINDS["groups"]], recs, list_kind="arvados#groupList",
                            manifest=False,
                            included=lambda page: self._owner_included(call, include, page))
        out.setdefault("included", [])
        return out

