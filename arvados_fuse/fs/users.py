"""`users`: one directory per user this token may see, named by username,
each that user's home project as far as this token may read it (the Go
mount's `users/`).  A user the server does not list is absent; a user
without a username is left out (as the Go mount does, and as a project
leaves out an item without a name)."""

from .directory import ListedDirectory
from .inodes import kind_key
from .project import ProjectDirectory


def username(record):
    """The name a user's home has here (before the name rule): None for
    a user without a username."""
    return record.get('username') or None


class UsersDirectory(ListedDirectory):
    """Users by username.  Listed only when opened (one paged users.list);
    a lookup of one name before that asks for that username alone.

    Usernames are shown by the mount's name rule (names.NameRule); when
    two users end up with the same name, the one whose username is shown
    as it is wins, then the oldest, then the smallest uuid."""

    answers_names = True

    # --filters apply to what each home lists, not to users.list.

    def describe(self):
        return 'users'

    def event_uuids(self):
        # A user created, renamed or deleted.
        return (kind_key('arvados#user'),)

    def fetch(self):
        return self.api.list_users(num_retries=self.num_retries)

    def apply(self, users):
        self.merge(self._ranked(users), username, self._same, self._home)

    def fetch_name(self, name):
        """The users that may be shown as `name`: asked for by username
        (every spelling the name rule allows), or, where a spelling is a
        pattern (a name with `_`, which no Arvados username has), every
        user."""
        exact, patterns = self.inodes.name_rule.spellings(name)
        if patterns:
            return self.api.list_users(num_retries=self.num_retries)
        return self.api.list_users(usernames=exact, num_retries=self.num_retries)

    def apply_name(self, name, users):
        return self.merge_name(name, self._ranked(users), username, self._same, self._home)

    def _ranked(self, users):
        rule = self.inodes.name_rule
        return sorted((u for u in users if username(u)),
                      key=lambda u: (not rule.literal(username(u)), u.get('created_at') or '', u['uuid']))

    @staticmethod
    def _same(entry, record):
        return isinstance(entry, ProjectDirectory) and entry.uuid == record['uuid']

    def _home(self, record):
        return ProjectDirectory(self.inode, self.inodes, self.api, self.num_retries, record,
                                poll=True, poll_time=self._poll_time, filters=self._filters)
