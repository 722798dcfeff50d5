"""The cluster's settings that tests change: ForwardSlashNameSubstitution
and collection versioning (``Collections`` of Arvados' config.yml).

Set on the command line (``--forward-slash-name-substitution S``,
``--no-forward-slash-name-substitution-key``, ``--collection-versioning``,
``--preserve-version-if-idle SECONDS``) or, while the cluster runs, with
``POST /_localcluster/settings`` (admin token), which takes the same names
with ``_`` for ``-``: ``{"forward_slash_name_substitution": "%2f"}``.
"""

from .calls import ApiError

# Arvados' default PreserveVersionIfIdle (lib/config/config.default.yml: 10s).
DEFAULT_PRESERVE_VERSION_IF_IDLE = 10.0


class Settings:
    def __init__(self, *, forward_slash_name_substitution="", collection_versioning=False,
                 preserve_version_if_idle=DEFAULT_PRESERVE_VERSION_IF_IDLE, users_visible_to_others=True):
        # None: the config has no such key (a server older than Arvados
        # 2.0, which accepted any name).
        self.forward_slash_name_substitution = forward_slash_name_substitution
        self.collection_versioning = collection_versioning
        # 0: a new version at every update; < 0: only when preserve_version
        # is set; > 0: when the collection was last modified this long ago.
        self.preserve_version_if_idle = preserve_version_if_idle
        # Users.ActivatedUsersAreVisibleToOthers (default true): Arvados gives
        # the "All users" group can_read on every user it sets up, so users
        # see each other; false, a user sees another only through a
        # permission path to that user's record (an admin sees everyone).
        self.users_visible_to_others = users_visible_to_others

    def state(self):
        return {"forward_slash_name_substitution": self.forward_slash_name_substitution,
                "collection_versioning": self.collection_versioning,
                "preserve_version_if_idle": self.preserve_version_if_idle,
                "users_visible_to_others": self.users_visible_to_others}

    def update(self, body):
        if not isinstance(body, dict):
            raise ApiError(422, "request body must be a JSON object")
        unknown = set(body) - set(self.state())
        if unknown:
            raise ApiError(422, "unknown settings: %s" % ", ".join(sorted(unknown)))
        if "forward_slash_name_substitution" in body:
            value = body["forward_slash_name_substitution"]
            if value is not None and not isinstance(value, str):
                raise ApiError(422, "forward_slash_name_substitution must be a string or null")
        for flag in ("collection_versioning", "users_visible_to_others"):
            if flag in body and not isinstance(body[flag], bool):
                raise ApiError(422, "%s must be true or false" % flag)
        if "preserve_version_if_idle" in body and (
                isinstance(body["preserve_version_if_idle"], bool)
                or not isinstance(body["preserve_version_if_idle"], (int, float))):
            raise ApiError(422, "preserve_version_if_idle must be a number of seconds")
        for key, value in body.items():
            setattr(self, key, value)

    def collections_config(self):
        """What the ``Collections`` section of /arvados/v1/config says of them."""
        out = {"CollectionVersioning": self.collection_versioning,
               "PreserveVersionIfIdle": _duration(self.preserve_version_if_idle)}
        if self.forward_slash_name_substitution is not None:
            out["ForwardSlashNameSubstitution"] = self.forward_slash_name_substitution
        return out


def _duration(seconds):
    """Seconds as Arvados' config shows a duration ("10s", "-1s", "1.5s")."""
    if float(seconds).is_integer():
        return "%ds" % int(seconds)
    return "%gs" % seconds
