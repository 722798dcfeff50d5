"""The permission model: which objects a user may read, write or manage.

Rules (a simplified Arvados model):

* an admin can manage everything;
* a user manages itself (its uuid is its home project) and everything it
  owns, transitively through projects;
* a ``permission`` link (``can_read`` < ``can_write`` < ``can_manage``)
  whose tail is the user, or a role group the user belongs to (a
  permission link from the user to the role), grants that level on its
  head and everything the head owns transitively;
* the level of an object is the highest over all grant paths;
* every user can read every user record (Arvados' default for active
  users: Users.ActivatedUsersAreVisibleToOthers); with that setting false
  (settings.py), only those its permission links reach.

Everything a user cannot read is reported as "not found" by the API.
Results are cached per user and store generation.
"""

READ, WRITE, MANAGE = 1, 2, 3
_LEVELS = {"can_read": READ, "can_write": WRITE, "can_manage": MANAGE}


class Permissions:
    def __init__(self, store, settings=None):
        self.store = store
        self.settings = settings
        self._cache = {}
        self._children = (None, None)

    def _children_index(self):
        gen, idx = self._children
        if gen != self.store.generation:
            idx = {}
            for tbl in ("groups", "collections", "workflows", "links"):
                for rec in self.store.table(tbl):
                    idx.setdefault(rec["owner_uuid"], []).append(rec["uuid"])
            self._children = (self.store.generation, idx)
        return idx

    def trashed(self):
        """Set of uuids that are trashed or inside a trashed project (cached)."""
        gen, found = getattr(self, "_trashed", (None, None))
        if gen != self.store.generation:
            children = self._children_index()
            stack = [r["uuid"] for t in ("groups", "collections")
                     for r in self.store.table(t) if r.get("is_trashed")]
            found = set()
            while stack:
                u = stack.pop()
                if u not in found:
                    found.add(u)
                    stack.extend(children.get(u, ()))
            self._trashed = (self.store.generation, found)
        return found

    def levels(self, user):
        """{uuid: level} of everything ``user`` (a user record) can reach.

        For admins this is None, meaning "everything at MANAGE".
        """
        if user.get("is_admin"):
            return None
        key = user["uuid"]
        hit = self._cache.get(key)
        if hit and hit[0] == self.store.generation:
            return hit[1]
        levels = self._compute(user["uuid"])
        self._cache[key] = (self.store.generation, levels)
        return levels

    def _compute(self, user_uuid):
        perm_links = [l for l in self.store.table("links") if l.get("link_class") == "permission"
                      and l.get("name") in _LEVELS]
        # Roles the user belongs to: a permission link user -> role group.
        members = {user_uuid}
        for l in perm_links:
            if l["tail_uuid"] == user_uuid:
                head = self.store.get(l["head_uuid"])
                if head and head.get("group_class") == "role":
                    members.add(head["uuid"])
        roots = {user_uuid: MANAGE}
        for l in perm_links:
            if l["tail_uuid"] in members:
                lvl = _LEVELS[l["name"]]
                if roots.get(l["head_uuid"], 0) < lvl:
                    roots[l["head_uuid"]] = lvl
        children = self._children_index()
        levels = {}
        # Descend from the strongest grants first; a node reached once at a
        # level never needs revisiting at a lower one.
        for lvl in (MANAGE, WRITE, READ):
            stack = [u for u, l in roots.items() if l == lvl and levels.get(u, 0) < lvl]
            while stack:
                u = stack.pop()
                if levels.get(u, 0) >= lvl:
                    continue
                levels[u] = lvl
                stack.extend(c for c in children.get(u, ()) if levels.get(c, 0) < lvl)
        return levels

    def level(self, user, rec):
        """Permission level of ``user`` on record ``rec`` (0 = invisible)."""
        levels = self.levels(user)
        if levels is None:
            return MANAGE
        uuid = rec["uuid"]
        kind = rec["kind"]
        if kind == "arvados#user":
            visible = self.settings is None or self.settings.users_visible_to_others
            return levels.get(uuid, READ if visible else 0)
        if kind == "arvados#keepService":
            return READ
        if kind == "arvados#apiClientAuthorization":
            return MANAGE if rec["owner_uuid"] == user["uuid"] else 0
        lvl = levels.get(uuid, 0)
        if kind == "arvados#link" and not lvl:
            # Tag/name links are visible with their head; permission links
            # also to their tail (so members see their own grants).
            if rec.get("tail_uuid") == user["uuid"]:
                return READ
            head = rec.get("head_uuid") or ""
            if levels.get(head, 0):
                return READ
            if "+" in head and self._pdh_readable(levels, head):
                return READ
        if kind == "arvados#log" and not lvl:
            obj = rec.get("object_uuid")
            if levels.get(obj, 0) or levels.get(rec.get("object_owner_uuid"), 0):
                return READ
        if kind == "arvados#group" and not lvl and rec.get("group_class") == "role":
            # Members can see the roles they belong to.
            return READ if self._is_member(user["uuid"], uuid) else 0
        return lvl

    def _is_member(self, user_uuid, role_uuid):
        return any(l.get("link_class") == "permission" and l["tail_uuid"] == user_uuid
                   and l["head_uuid"] == role_uuid for l in self.store.table("links"))

    def _pdh_readable(self, levels, pdh):
        pdh = "+".join(pdh.split("+")[:2])
        return any(c["portable_data_hash"] == pdh and levels.get(c["uuid"], 0)
                   for c in self.store.table("collections"))

    def readable(self, user, rec):
        return self.level(user, rec) >= READ
