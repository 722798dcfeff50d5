"""arv-mount as a mount helper: `mount -t fuse.arv-mount SOURCE DIR -o OPTS`
and the same line in /etc/fstab.

mount(8) runs /sbin/mount.fuse, which runs `arv-mount SOURCE DIR -o OPTS`
through /bin/sh with PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:
/sbin:/bin (so arv-mount must be found there: install.sh links
/usr/local/sbin/arv-mount).  mount(8) keeps `_netdev`, `x-*`, `comment=`,
`noauto` and `defaults` to itself, adds `rw` when nothing says `ro`, and
mount.fuse adds `dev,suid` for root.  `translate` turns that into the
command line:

- SOURCE is the mode: `keep` (or `arvados`, `all`) for the default --all,
  `home`, `shared`, `by_id`, `by_pdh`, `by_tag`, `custom`, or a project uuid
  (--project) or collection uuid or portable data hash (--collection);
- every long option is an `-o` option, `name=value` or `flag`, with `_` or
  `-` (`-o negative_cache_ttl=2,allow_other,settings=/etc/arvados/keep.conf`);
- the standard mount options are honoured (`allow_other`, `debug`,
  `default_permissions`, `uid=`, `gid=`, `fsname=` ignored) or quietly
  accepted: `ro` (the mount is always read-only), `rw` (ignored for the
  same reason: `defaults` means rw to mount(8)), `nofail`, `noauto`, `auto`,
  `_netdev`, `x-*`, `comment=`, `defaults`, `user`, `users`, `nouser`,
  `owner`, `group`, `dev`, `nodev`, `suid`, `nosuid`, `exec`, `noexec`,
  the atime options, `sync`, `async`, `dirsync`, `nonempty`, `silent`,
  `loud`.
"""

from .fs import uuids

# Standard mount options with nothing to do here (see the module docstring).
IGNORED = frozenset((
    'ro', 'rw', 'defaults', 'auto', 'noauto', 'nofail', '_netdev', 'user', 'users', 'nouser', 'owner',
    'group', 'dev', 'nodev', 'suid', 'nosuid', 'exec', 'noexec', 'atime', 'noatime', 'diratime',
    'nodiratime', 'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'lazytime', 'nolazytime',
    'sync', 'async', 'dirsync', 'nonempty', 'silent', 'loud', 'auto_unmount', 'iversion', 'noiversion',
    'mand', 'nomand', 'bind',
))
IGNORED_WITH_VALUE = frozenset(('comment', 'fsname', 'max_read', 'blksize', 'context', 'fscontext',
                                'defcontext', 'rootcontext'))
MODES = {'keep': None, 'arvados': None, 'all': '--all', 'home': '--home', 'shared': '--shared',
         'by_id': '--by-id', 'by-id': '--by-id', 'by_pdh': '--by-pdh', 'by-pdh': '--by-pdh',
         'by_tag': '--by-tag', 'by-tag': '--by-tag', 'custom': None}


class MountOptionError(ValueError):
    pass


def is_mount_helper_call(argv):
    """Whether `argv` (without the program name) is mount.fuse's form:
    `SOURCE DIR -o OPTS` (arv-mount's own options are all long)."""
    return any(a == '-o' or (a.startswith('-o') and not a.startswith('--')) for a in argv)


def _source_args(source):
    if source in MODES:
        mode = MODES[source]
        return [mode] if mode else []
    if uuids.group_uuid_pattern.match(source):
        return ['--project', source]
    if uuids.collection_uuid_pattern.match(source) or uuids.portable_data_hash_pattern.match(source):
        return ['--collection', source]
    raise MountOptionError('unknown source %r: use keep, home, shared, by_id, by_pdh, by_tag, '
                           'a project uuid, or a collection uuid or portable data hash' % source)


def _option_args(option):
    name, eq, value = option.partition('=')
    name = name.strip()
    if not name:
        return []
    if name.startswith('x-') or name in IGNORED or name in IGNORED_WITH_VALUE:
        return []
    flag = '--' + name.replace('_', '-')
    if eq:
        return [flag + '=' + value]
    return [flag]


def translate(argv):
    """mount.fuse's `SOURCE DIR [-o OPTS]...` (without the program name) as
    arv-mount's command line: the mount point first, then the options, so a
    value-taking option given as a flag is an error, not a silent swallow
    of the mount point."""
    positional = []
    options = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == '-o':
            if i + 1 >= len(argv):
                raise MountOptionError('-o needs a list of options')
            options.extend(argv[i + 1].split(','))
            i += 2
            continue
        if arg.startswith('-o') and not arg.startswith('--'):
            options.extend(arg[2:].split(','))
        elif arg in ('-n', '-s', '-v', '-f'):
            pass  # mount(8)'s helper flags: no mtab, sloppy, verbose, fake
        elif arg.startswith('-'):
            raise MountOptionError('unknown argument %r (mount options go in -o)' % arg)
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 2:
        raise MountOptionError('expected SOURCE MOUNTPOINT -o OPTIONS, got %r' % (argv,))
    source, mountpoint = positional
    out = [mountpoint]
    out.extend(_source_args(source))
    for option in options:
        out.extend(_option_args(option))
    return out


def read_settings(path):
    """The ARVADOS_* settings of a settings.conf-style file (KEY=VALUE
    lines, `#` comments).  OSError if it cannot be read; ValueError for a
    line that is not KEY=VALUE."""
    found = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith('#'):
                continue
            key, eq, value = text.partition('=')
            if not eq or not key.strip():
                raise ValueError('%s line %d is not KEY=VALUE' % (path, n))
            key = key.strip()
            if key.startswith('ARVADOS_'):
                found[key] = value.strip()
    return found
