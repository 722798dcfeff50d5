"""What the inode table and the adapter rely on in every entry they hold.

Files and directories (through FreshBase) and PendingName derive from
`Entry`; the hooks below do nothing unless a kind of entry needs them.  The
adapter also calls what each kind defines for itself: `st_mode()`,
`size()`, `mtime()`, `atime()`, `immutable()`, `xattrs()`, `describe()`;
files `read_now()`, `readfrom()`, `closed()`; directories (directory.py)
their listing, lookup and refresh halves.
"""


class Entry(object):
    __slots__ = ()

    # The uuid of the project whose trashing this entry must hear of (a
    # by_id object found by uuid; see byid.py), or None.
    owner_watch = None

    # The table (rowtable.py) it is a row of, at `index`, or None: an entry
    # of its own in the inode table, with its own `nlookup`.
    row_table = None

    def attached(self):
        """It was given an inode number (Inodes.add_entry)."""

    def event_uuids(self):
        """The uuids whose change events concern it (the inode table
        indexes it by them)."""
        return ()

    def record(self):
        """The API record of the object it shows, if any."""
        return None

    def take_children(self):
        """Being removed: give up the {name: entry} below it (or None)."""
        return None

    def ready_files(self):
        """A directory's FileTable (filetable.py) a lookup may be answered
        from as it is (no refresh due, nothing left to build), or None."""
        return None

    def ready_rows(self):
        """What a collection's directory shows (fs/subdirs.py: a FileTable,
        a SubdirTable or both), when a lookup may be answered from it as it
        is; or None."""
        return None

    def row_tables(self):
        """The row tables (rowtable.py) a collection's directory shows, built
        first: its subdirectories' then its files', either or both or none;
        what the adapter lists without a tuple per row.  None for any other
        entry (kernel_listing)."""
        return None

    def state_slot(self):
        """(list, index): where a directory that is a row of a SubdirTable
        keeps what it shows (fs/subdirs.py), so that a listing's lookups
        can check it still shows the same rows in one step; None for any
        other entry (ask ready_rows)."""
        return None

    def times(self):
        """(st_atime, st_mtime), unix time."""
        return self.atime(), self.mtime()

    def take_rows(self):
        """Being removed: give up the tables of rows below it (rowtable.py)."""
        return []

    def special_entries(self):
        """Entries outside its listing that go with it (a record file)."""
        return []

    def kernel_forgot(self):
        """The kernel holds no reference to it any more (still attached)."""

    def release(self):
        """Freed from the inode table."""
