"""Operating arv-mount like any other filesystem (issue 23), through real
mounts: ownership and modes (--uid, --gid, --file-mode, --dir-mode, and
another user reading with --allow-other), negative caching
(--negative-cache-ttl), systemd's notification socket, and mount -t
fuse.arv-mount / fstab through the real mount(8) and umount(8)."""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from mountutil import ARV_MOUNT, ROOT, mounted, run_arv_mount
from test_command_metrics import free_port, scrape
from test_command_options import wait_until
from test_mount_errors import _collection_with

pytestmark = pytest.mark.timeout(180)


# -- ownership and modes ----------------------------------------------------

def _home_paths(m, coll):
    return {'dir': m.path, 'coll': m.join(coll['name']), 'file': m.join(coll['name'], 'data.bin'),
            'json': m.join(coll['name'], '.arvados#collection')}


def test_default_modes_and_owner_are_todays(module_cluster):
    coll = _collection_with(module_cluster, 'modes default', b'modes')
    with mounted(module_cluster.full_env('alice'), '--home') as m:
        p = _home_paths(m, coll)
        modes = {k: stat.S_IMODE(os.stat(v).st_mode) for k, v in p.items()}
        assert modes == {'dir': 0o555, 'coll': 0o555, 'file': 0o555, 'json': 0o444}
        st = os.stat(p['file'])
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_uid_gid_file_mode_dir_mode_show_in_stat(module_cluster):
    coll = _collection_with(module_cluster, 'modes set', b'modes set')
    with mounted(module_cluster.full_env('alice'), '--home', '--uid', '4242', '--gid', '4343',
                 '--file-mode', '0640', '--dir-mode', '750') as m:
        p = _home_paths(m, coll)
        for kind, path in p.items():
            st = os.stat(path)
            assert (st.st_uid, st.st_gid) == (4242, 4343), kind
            assert stat.S_IMODE(st.st_mode) == (0o750 if kind in ('dir', 'coll') else 0o640), kind
            assert stat.S_ISDIR(st.st_mode) == (kind in ('dir', 'coll'))
        with open(p['file'], 'rb') as f:
            assert f.read() == b'modes set'


def _as_nobody(*argv):
    return subprocess.run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', *argv],
                          capture_output=True, timeout=60)


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which('setpriv'), reason='needs root and setpriv')
def test_another_user_reads_with_allow_other(module_cluster):
    data = os.urandom(1 << 16)
    coll = _collection_with(module_cluster, 'other user', data)
    env = module_cluster.full_env('alice')
    with mounted(env, '--home') as m:
        denied = _as_nobody('cat', m.join(coll['name'], 'data.bin'))
        assert denied.returncode != 0 and b'ermission denied' in denied.stderr, denied
    with mounted(env, '--home', '--allow-other', '--uid', 'nobody', '--file-mode', '0444',
                 '--dir-mode', '0555', '--default-permissions') as m:
        r = _as_nobody('cat', m.join(coll['name'], 'data.bin'))
        assert r.returncode == 0 and r.stdout == data, r.stderr
        st = os.stat(m.join(coll['name'], 'data.bin'))
        assert stat.S_IMODE(st.st_mode) == 0o444
    # With default_permissions the kernel enforces the modes: 0400 files of
    # another owner are closed to nobody.
    with mounted(env, '--home', '--allow-other', '--file-mode', '0400', '--default-permissions') as m:
        r = _as_nobody('cat', m.join(coll['name'], 'data.bin'))
        assert r.returncode != 0 and b'ermission denied' in r.stderr, r


def test_bad_modes_and_users_are_refused(module_cluster, mnt):
    env = module_cluster.full_env('alice')
    for args in (['--file-mode', '999'], ['--dir-mode', '-1'], ['--uid', 'no-such-user-here'],
                 ['--negative-cache-ttl', '-1']):
        r = run_arv_mount(env, *args, mnt, '--exec', 'true')
        assert r.returncode != 0 and r.stderr.strip(), (args, r)


# -- negative caching ---------------------------------------------------------

def _lookups(port):
    return scrape(port).get('arvmount_fuse_operation_seconds_count{op="lookup"}', 0)


def _probe(path, times):
    for _ in range(times):
        assert not os.path.exists(path)


def test_a_probe_loop_costs_one_lookup_per_ttl(module_cluster):
    env = module_cluster.full_env('alice')
    port = free_port()
    with mounted(env, '--home', '--negative-cache-ttl', '600', '--prometheus-port', str(port)) as m:
        path = m.join('never there')
        _probe(path, 1)
        before = _lookups(port)
        _probe(path, 1000)
        assert _lookups(port) == before
    # Off: every probe is a FUSE lookup, as before.
    with mounted(env, '--home', '--negative-cache-ttl', '0', '--prometheus-port', str(port)) as m:
        path = m.join('never there')
        _probe(path, 1)
        before = _lookups(port)
        _probe(path, 1000)
        assert _lookups(port) - before >= 1000
    # A TTL of 1 s: probing for 3 s costs a lookup each time it expires.
    with mounted(env, '--home', '--negative-cache-ttl', '1', '--prometheus-port', str(port)) as m:
        path = m.join('never there')
        _probe(path, 1)
        before = _lookups(port)
        start = time.monotonic()
        probes = 0
        while time.monotonic() - start < 3:
            _probe(path, 1)
            probes += 1
        elapsed = time.monotonic() - start
        spent = _lookups(port) - before
        print('negative TTL 1 s: %d probes in %.1f s cost %d lookups' % (probes, elapsed, spent))
        assert 1 <= spent <= elapsed / 1 + 2 and probes > 10 * spent


def test_a_name_created_appears_within_the_ttl_without_events(module_cluster):
    env = module_cluster.full_env('alice')
    with mounted(env, '--home', '--disable-event-listening', '--refresh-time', '1',
                 '--negative-cache-ttl', '2') as m:
        path = m.join('appears by polling')
        _probe(path, 3)
        _collection_with(module_cluster, 'appears by polling', b'polled')
        start = time.monotonic()
        wait_until(lambda: os.path.exists(path), timeout=60, what='the new collection')
        print('appeared %.1f s after it was created (TTL 2 s, --refresh-time 1)' % (time.monotonic() - start))
        with open(os.path.join(path, 'data.bin'), 'rb') as f:
            assert f.read() == b'polled'


def test_an_event_drops_the_cached_miss_at_once(module_cluster):
    env = module_cluster.full_env('alice')
    port = free_port()
    # A TTL far longer than the wait below: only the event can end the miss.
    with mounted(env, '--home', '--negative-cache-ttl', '3600', '--prometheus-port', str(port)) as m:
        wait_until(lambda: scrape(port).get('arvmount_websocket_connected') == 1, what='the event stream')
        path = m.join('appears by event')
        _probe(path, 1)
        before = _lookups(port)
        _probe(path, 100)
        assert _lookups(port) == before    # cached by the kernel
        _collection_with(module_cluster, 'appears by event', b'evented')
        start = time.monotonic()
        wait_until(lambda: os.path.exists(path), timeout=60, what='the event to drop the cached miss')
        print('appeared %.2f s after it was created (TTL 3600 s, events)' % (time.monotonic() - start))
        # The same inside a collection's subdirectory-less root: a file
        # added by an update of the collection.


def test_an_event_drops_a_miss_cached_inside_a_collection(module_cluster):
    env = module_cluster.full_env('alice')
    coll = _collection_with(module_cluster, 'grows', b'first')
    port = free_port()
    with mounted(env, '--collection', coll['uuid'], '--negative-cache-ttl', '3600',
                 '--prometheus-port', str(port)) as m:
        wait_until(lambda: scrape(port).get('arvmount_websocket_connected') == 1, what='the event stream')
        path = m.join('second.bin')
        _probe(path, 5)
        api = module_cluster.api('alice')
        manifest = api.collections().get(uuid=coll['uuid']).execute()['manifest_text']
        api.collections().update(uuid=coll['uuid'], body={'collection': {
            'manifest_text': manifest.rstrip('\n').replace(' 0:5:data.bin', ' 0:5:data.bin 0:5:second.bin') + '\n'}}).execute()
        wait_until(lambda: os.path.exists(path), timeout=60, what='the event to drop the cached miss')


# -- systemd's notification socket --------------------------------------------

class FakeNotifySocket(object):
    """What systemd binds for a Type=notify service: a datagram socket
    (a path, or an abstract name when `abstract`)."""

    def __init__(self, tmp_path, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = 'arv-mount-test-%d-%d' % (os.getpid(), id(self))
            self.sock.bind('\0' + name)
            self.address = '@' + name
        else:
            self.address = str(tmp_path / 'notify.sock')
            self.sock.bind(self.address)
        self.sock.settimeout(0.2)
        self.messages = []
        self.on_message = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            fields = dict(line.split('=', 1) for line in data.decode().splitlines())
            if self.on_message is not None:
                fields['_seen'] = self.on_message(fields)
            self.messages.append(fields)

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def first(self, key):
        for message in self.messages:
            if key in message:
                return message
        return None


@pytest.mark.parametrize('abstract', [False, True], ids=['path', 'abstract'])
def test_notify_ready_only_once_the_root_lists_then_stopping(module_cluster, tmp_path, abstract):
    c = module_cluster
    project = c.api('alice').groups().create(body={'group': {
        'name': 'notify project %s' % abstract, 'group_class': 'project'}}).execute()
    fake = FakeNotifySocket(tmp_path, abstract)
    env = dict(c.full_env('alice'), NOTIFY_SOCKET=fake.address)
    try:
        c.reset_api_calls()
        # What the API server had answered when READY=1 came: the root's
        # listing (groups.contents) must be among it.
        fake.on_message = lambda fields: dict(c.api_calls()) if 'READY' in fields else None
        c.set_fault('api', latency=0.3)
        try:
            with mounted(env, '--project', project['uuid']) as m:
                wait_until(lambda: fake.first('READY'), timeout=60, what='READY=1')
                c.clear_faults('api')
                ready = fake.first('READY')
                assert ready['READY'] == '1' and ready['MAINPID'] == str(m.proc.pid)
                assert ready['_seen'].get('groups.contents', 0) >= 1, ready
                assert 'serving ' + m.path in ready['STATUS']
                statuses = [msg['STATUS'] for msg in fake.messages if 'STATUS' in msg]
                assert statuses[0].startswith('checking the API server at ')
                assert any(s.startswith('mounting ') for s in statuses)
                assert fake.messages.index(ready) == len(statuses) - 1
                m.proc.terminate()
                assert m.proc.wait(30) == 0
        finally:
            c.clear_faults('api')
        stopping = fake.first('STOPPING')
        assert stopping and stopping['STOPPING'] == '1' and 'unmounting' in stopping['STATUS']
        assert fake.messages.index(stopping) > fake.messages.index(fake.first('READY'))
    finally:
        fake.close()


def test_notify_socket_is_not_passed_to_the_exec_command_and_failure_is_a_status(module_cluster, tmp_path, mnt):
    fake = FakeNotifySocket(tmp_path)
    try:
        env = dict(module_cluster.full_env('alice'), NOTIFY_SOCKET=fake.address)
        r = run_arv_mount(env, '--home', mnt, '--exec', 'sh', '-c', 'echo "socket:${NOTIFY_SOCKET:-none}"')
        assert r.returncode == 0 and 'socket:none' in r.stdout, r
        wait_until(lambda: fake.first('STOPPING'), what='STOPPING=1')
        assert fake.first('READY')
        bad = dict(env, ARVADOS_API_TOKEN='v2/zzzzz-gj3su-000000000000000/nope')
        r = run_arv_mount(bad, '--home', mnt, '--exec', 'true')
        assert r.returncode == 1
        wait_until(lambda: any(m.get('STATUS', '').startswith('failed: ') for m in fake.messages),
                   what='the failure as a STATUS')
    finally:
        fake.close()


# -- mount -t fuse.arv-mount and fstab ------------------------------------------

HELPER = """#!/bin/sh
# arv-mount of the checkout under test, where mount.fuse looks for it.
PYTHONPATH={root} exec {python} {bin} "$@"
"""


def _in_namespace(script, tmp_path, env):
    """Run `script` (sh) in a mount namespace of its own, in which
    /usr/local/sbin (first on mount.fuse's PATH) holds an `arv-mount` that
    runs this checkout: the machine's own directories are not touched.
    The script unmounts what it mounted, also on failure (its trap)."""
    helper_dir = tmp_path / 'sbin'
    helper_dir.mkdir()
    helper = helper_dir / 'arv-mount'
    helper.write_text(HELPER.format(root=ROOT, python=sys.executable, bin=ARV_MOUNT))
    helper.chmod(0o755)
    full = 'set -eu\nmount --bind %s /usr/local/sbin\n%s' % (helper_dir, textwrap.dedent(script))
    return subprocess.run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', full],
                          env=env, capture_output=True, text=True, timeout=150)


def _settings_env(cluster, tmp_path):
    """A settings file with the cluster's credentials, and an environment
    with none (as mount(8) run from fstab at boot would have)."""
    settings = tmp_path / 'keep.conf'
    settings.write_text('# arv-mount credentials\nARVADOS_API_HOST=%s\nARVADOS_API_TOKEN=%s\n'
                        'ARVADOS_API_HOST_INSECURE=1\n' % (cluster.api_host, cluster.token('alice')))
    settings.chmod(0o600)
    env = {k: v for k, v in cluster.full_env('alice').items() if not k.startswith('ARVADOS_')}
    return settings, env


needs_root_mount = pytest.mark.skipif(
    os.getuid() != 0 or not shutil.which('unshare') or not os.path.exists('/sbin/mount.fuse'),
    reason='needs root, unshare and mount.fuse')


@needs_root_mount
def test_mount_t_fuse_arv_mount_with_options_then_umount(module_cluster, tmp_path):
    c = module_cluster
    coll = _collection_with(c, 'mounted by mount', b'by mount(8)')
    settings, env = _settings_env(c, tmp_path)
    mnt = tmp_path / 'keep'
    mnt.mkdir()
    out = tmp_path / 'out'
    r = _in_namespace("""
        trap 'umount -l {mnt} 2>/dev/null || true' EXIT
        mount -t fuse.arv-mount keep {mnt} \\
            -o settings={settings},allow_other,ro,_netdev,nofail,x-systemd.automount,defaults,uid=4242,file_mode=0440,negative_cache_ttl=2,refresh_time=5
        findmnt -n -o FSTYPE,SOURCE,OPTIONS {mnt} > {out}.findmnt
        ls {mnt} > {out}.ls
        stat -c '%u %a' "{mnt}/home/{name}/data.bin" > {out}.stat
        cat "{mnt}/home/{name}/data.bin" > {out}.data
        pgrep -f "arv-mount {mnt}" > {out}.pid || true
        umount {mnt}
        findmnt {mnt} > /dev/null && echo still mounted || echo gone > {out}.umount
        """.format(mnt=mnt, settings=settings, out=out, name=coll['name']), tmp_path, env)
    assert r.returncode == 0, r.stdout + r.stderr
    fstype, source, options = (tmp_path / 'out.findmnt').read_text().split()
    assert (fstype, source) == ('fuse.arv-mount', 'arvados') and 'ro' in options.split(',')
    assert 'allow_other' in options
    assert (tmp_path / 'out.ls').read_text().split() == ['README', 'by_id', 'by_tag', 'home', 'shared', 'users']
    assert (tmp_path / 'out.stat').read_text().split() == ['4242', '440']
    assert (tmp_path / 'out.data').read_bytes() == b'by mount(8)'
    assert (tmp_path / 'out.umount').read_text().strip() == 'gone'


@needs_root_mount
def test_an_fstab_line_mounts_and_umount_unmounts(module_cluster, tmp_path):
    c = module_cluster
    coll = _collection_with(c, 'mounted by fstab', b'by fstab')
    settings, env = _settings_env(c, tmp_path)
    mnt = tmp_path / 'keep'
    mnt.mkdir()
    fstab = tmp_path / 'fstab'
    fstab.write_text('# a test fstab\n%s %s fuse.arv-mount '
                     'settings=%s,ro,_netdev,nofail,noauto,x-systemd.automount,dir_mode=0750 0 0\n'
                     % (coll['uuid'], mnt, settings))
    out = tmp_path / 'out'
    r = _in_namespace("""
        trap 'umount -l {mnt} 2>/dev/null || true' EXIT
        mount -T {fstab} {mnt}
        findmnt -n -o FSTYPE {mnt} > {out}.findmnt
        cat {mnt}/data.bin > {out}.data
        stat -c '%a' {mnt} > {out}.stat
        umount {mnt}
        if findmnt {mnt} > /dev/null; then echo still mounted; else echo gone; fi > {out}.umount
        # A wrong option is refused, in one line, and nothing is mounted.
        if mount -t fuse.arv-mount keep {mnt} -o settings={settings},no_such_option 2> {out}.err; then
            echo mounted > {out}.bad; umount {mnt}; fi
        # So is a settings file that cannot be read.
        if mount -t fuse.arv-mount keep {mnt} -o settings={settings}.missing 2> {out}.err2; then
            echo mounted > {out}.bad; umount {mnt}; fi
        """.format(mnt=mnt, fstab=fstab, out=out, settings=settings), tmp_path, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / 'out.findmnt').read_text().strip() == 'fuse.arv-mount'
    assert (tmp_path / 'out.data').read_bytes() == b'by fstab'
    assert (tmp_path / 'out.stat').read_text().strip() == '750'
    assert (tmp_path / 'out.umount').read_text().strip() == 'gone'
    assert not (tmp_path / 'out.bad').exists()
    assert 'no-such-option' in (tmp_path / 'out.err').read_text()
    assert '--settings' in (tmp_path / 'out.err2').read_text()


def test_mount_helper_arguments_translate_to_the_command_line():
    from arvados_fuse import mountopts
    t = mountopts.translate
    assert t(['keep', '/k', '-o', 'rw,dev,suid']) == ['/k']
    assert t(['by_id', '/k', '-o', 'ro,allow_other,uid=5,file_mode=0444,nofail,dev,suid']) == \
        ['/k', '--by-id', '--allow-other', '--uid=5', '--file-mode=0444']
    assert t(['zzzzz-j7d0g-000000000000000', '/k', '-o', 'x-systemd.automount,comment=x,settings=/etc/a']) == \
        ['/k', '--project', 'zzzzz-j7d0g-000000000000000', '--settings=/etc/a']
    assert t(['d41d8cd98f00b204e9800998ecf8427e+0', '/k', '-odebug']) == \
        ['/k', '--collection', 'd41d8cd98f00b204e9800998ecf8427e+0', '--debug']
    with pytest.raises(mountopts.MountOptionError):
        t(['nonsense', '/k', '-o', 'ro'])
    with pytest.raises(mountopts.MountOptionError):
        t(['keep', '-o', 'ro'])
    assert mountopts.is_mount_helper_call(['keep', '/k', '-o', 'ro'])
    assert not mountopts.is_mount_helper_call(['--home', '/k', '--exec', 'ls', '-o'][:2])


def test_settings_file_format(tmp_path):
    from arvados_fuse import mountopts
    f = tmp_path / 's.conf'
    f.write_text('# c\n\nARVADOS_API_HOST=h:1\nARVADOS_API_TOKEN=a=b\nOTHER=1\n')
    assert mountopts.read_settings(str(f)) == {'ARVADOS_API_HOST': 'h:1', 'ARVADOS_API_TOKEN': 'a=b'}
    f.write_text('ARVADOS_API_HOST\n')
    with pytest.raises(ValueError):
        mountopts.read_settings(str(f))


def test_notifier_datagrams(tmp_path):
    from arvados_fuse.host.systemd import Notifier
    fake = FakeNotifySocket(tmp_path)
    try:
        n = Notifier(fake.address)
        assert n.status('a  b\nc') and n.ready('up') and n.ready('again') and n.stopping('down')
        wait_until(lambda: len(fake.messages) == 4, what='4 datagrams')
        assert [m.get('READY') for m in fake.messages] == [None, '1', None, None]
        assert fake.messages[0]['STATUS'] == 'a b c' and fake.messages[3]['STOPPING'] == '1'
        assert not Notifier(None).ready('x') and not Notifier(str(tmp_path / 'none')).status('x')
    finally:
        fake.close()


def test_help_lists_the_new_options_in_their_groups():
    r = subprocess.run([sys.executable, ARV_MOUNT, '--help'], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    text = r.stdout
    owners = text.split('Ownership and modes:')[1].split('\n\n')[0]
    for opt in ('--uid', '--gid', '--file-mode', '--dir-mode', '--default-permissions'):
        assert opt in owners
    assert '--negative-cache-ttl' in text.split('Caching:')[1].split('\n\n')[0]
    assert '--settings' in text
    json.dumps(text)
