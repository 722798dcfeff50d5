"""arv-mount startup through real runs against the local cluster: a good
start daemonizes only once mounted (exit 0, mount up); every startup error
is one clear line on stderr, exit 1, nothing mounted, no daemon left."""

import os

import pytest

from arvados_fuse import __version__
from arvados_fuse.host import mountpoint
from mountutil import force_unmount, run_arv_mount

pytestmark = pytest.mark.timeout(120)


def arv_mount_pids(path):
    """Processes whose command line names this mount point."""
    pids = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                args = f.read().split(b'\0')
        except OSError:
            continue
        if path.encode() in args and any(a.endswith(b'arv-mount') for a in args):
            pids.append(int(pid))
    return pids


def assert_one_line_failure(result, *needles):
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith('arv-mount: '), lines
    assert 'Traceback' not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_daemonizes_only_after_the_mount_is_up(cluster, mnt):
    coll = cluster.demo['collections']['odd_names']
    r = run_arv_mount(cluster.full_env('alice'), '--collection', coll['uuid'], mnt)
    try:
        assert r.returncode == 0, r.stderr
        # Up the moment the parent returned: no waiting.
        assert mountpoint.is_mounted(mnt)
        assert 'with space.txt' in os.listdir(mnt)
        daemons = arv_mount_pids(mnt)
        assert len(daemons) == 1
        # The daemon left the terminal's session and works from /.
        assert os.getsid(daemons[0]) == daemons[0]
        assert os.readlink('/proc/%d/cwd' % daemons[0]) == '/'
    finally:
        force_unmount(mnt)


def test_daemon_logs_reach_the_terminal_until_mounted(cluster, mnt):
    coll = cluster.demo['collections']['odd_names']
    r = run_arv_mount(cluster.full_env('alice'), '--debug', '--collection', coll['uuid'], mnt)
    try:
        assert r.returncode == 0, r.stderr
        daemon = arv_mount_pids(mnt)[0]
        # Written by the forked child while it set up and mounted.
        assert 'arv-mount[%d] INFO: arv-mount %s: mounted %s' % (daemon, __version__, mnt) in r.stderr
        assert 'arv-mount[%d] DEBUG: ' % daemon in r.stderr
    finally:
        force_unmount(mnt)


def test_daemon_startup_error_reaches_the_terminal(cluster, mnt):
    # The error happens in the forked child (the collection load), yet the
    # user sees it and the exit status.
    r = run_arv_mount(cluster.full_env('alice'), '--collection', 'zzzzz-4zz18-000000000000000', mnt)
    assert_one_line_failure(r, 'zzzzz-4zz18-000000000000000', 'not found')
    assert not mountpoint.is_mounted(mnt)
    assert arv_mount_pids(mnt) == []


def test_no_token(cluster, mnt, tmp_path):
    env = cluster.full_env('alice')
    del env['ARVADOS_API_TOKEN']
    env['HOME'] = str(tmp_path)          # no settings.conf to fall back on
    env.pop('XDG_CONFIG_HOME', None)
    r = run_arv_mount(env, mnt)
    assert_one_line_failure(r, 'ARVADOS_API_TOKEN is not set')
    assert not mountpoint.is_mounted(mnt)


def test_refused_host_fails_fast_and_clearly(cluster, mnt):
    env = cluster.full_env('alice')
    env['ARVADOS_API_HOST'] = '127.0.0.1:1'
    # --retries 10 (the default) would back off for many minutes; the
    # startup check uses few retries (this test's timeout is the bound).
    r = run_arv_mount(env, '--foreground', mnt, timeout=60)
    assert_one_line_failure(r, 'cannot connect to the API server at 127.0.0.1:1', 'Connection refused')
    assert not mountpoint.is_mounted(mnt)


def test_unknown_host(cluster, mnt):
    env = cluster.full_env('alice')
    env['ARVADOS_API_HOST'] = 'no-such-host.invalid'
    r = run_arv_mount(env, '--retries', '0', mnt, timeout=60)
    assert_one_line_failure(r, 'cannot connect to the API server at no-such-host.invalid')


def test_bad_token(cluster, mnt):
    env = cluster.full_env('alice')
    env['ARVADOS_API_TOKEN'] = 'v2/zzzzz-gj3su-000000000000000/nosuchsecret'
    r = run_arv_mount(env, mnt)
    assert_one_line_failure(r, 'refused the token', '401')
    assert not mountpoint.is_mounted(mnt)


def test_untrusted_certificate(cluster, mnt):
    env = cluster.full_env('alice')
    del env['ARVADOS_API_HOST_INSECURE']
    env.pop('SSL_CERT_FILE', None)
    r = run_arv_mount(env, '--retries', '0', mnt, timeout=60)
    assert_one_line_failure(r, 'TLS', 'ARVADOS_API_HOST_INSECURE')


def test_missing_mount_point(cluster, tmp_path):
    r = run_arv_mount(cluster.full_env('alice'), str(tmp_path / 'nope'))
    assert_one_line_failure(r, 'does not exist')


def test_mount_point_not_a_directory(cluster, tmp_path):
    f = tmp_path / 'file'
    f.write_text('x')
    r = run_arv_mount(cluster.full_env('alice'), str(f))
    assert_one_line_failure(r, 'not a directory')


def test_already_mounted(cluster, mnt):
    env = cluster.full_env('alice')
    coll = cluster.demo['collections']['odd_names']
    assert run_arv_mount(env, '--collection', coll['uuid'], mnt).returncode == 0
    r = run_arv_mount(env, '--collection', coll['uuid'], mnt)
    assert_one_line_failure(r, 'already mounted')
    # The first mount is untouched.
    assert 'with space.txt' in os.listdir(mnt)


@pytest.mark.parametrize('args,needles', [
    (['--collection', 'zzzzz-4zz18-000000000000000'], ['not found or not readable']),
    (['--collection', 'not-a-locator'], ['neither a collection uuid nor a portable data hash']),
    (['--project', 'zzzzz-j7d0g-000000000000000'], ['not found or not readable']),
    (['--filters', '[["name", "=", '], ['--filters']),
    (['--filters', '{"name": 1}'], ['--filters', 'not a list']),
    (['--filters', '["(created_at <)"]'], ['--filters', 'invalid syntax']),
    (['--filters', '[["name", "="]]'], ['--filters', 'three items']),
    (['--storage-classes', 'archive'], ['--storage-classes is not supported', 'read-only']),
    (['--filters', '/nonexistent/filters.json'], ['--filters', 'No such file']),
    (['--read-write'], ['--read-write is not supported', 'read-only']),
    (['--mount-tmp', 'tmp'], ['--mount-tmp is not supported', 'read-only']),
    (['--retries', '-1'], ['--retries']),
    (['--refresh-time', '0'], ['--refresh-time']),
])
def test_startup_errors(cluster, mnt, args, needles):
    r = run_arv_mount(cluster.full_env('alice'), *args, mnt)
    assert_one_line_failure(r, *needles)
    assert not mountpoint.is_mounted(mnt)
    assert arv_mount_pids(mnt) == []


def test_unreadable_project_of_another_user(cluster, mnt):
    bob_private = cluster.demo['projects']['bob_private']['uuid']
    r = run_arv_mount(cluster.full_env('alice'), '--project', bob_private, mnt)
    assert_one_line_failure(r, bob_private, 'not found or not readable')


def test_version():
    r = run_arv_mount(os.environ, '--version')
    assert r.returncode == 0
    assert r.stdout.strip() == 'arv-mount ' + __version__


def test_credentials_from_settings_conf(cluster, mnt, tmp_path):
    """No ARVADOS_* in the environment: HOME/.config/arvados/settings.conf."""
    conf = tmp_path / '.config' / 'arvados'
    conf.mkdir(parents=True)
    creds = cluster.env('alice')
    (conf / 'settings.conf').write_text(''.join(
        '%s=%s\n' % (k, creds[k]) for k in ('ARVADOS_API_HOST', 'ARVADOS_API_TOKEN', 'ARVADOS_API_HOST_INSECURE')))
    env = cluster.full_env('alice')
    for k in [k for k in env if k.startswith('ARVADOS_')]:
        del env[k]
    env['HOME'] = str(tmp_path)
    env.pop('XDG_CONFIG_HOME', None)
    coll = cluster.demo['collections']['odd_names']
    r = run_arv_mount(env, '--collection', coll['uuid'], mnt, '--exec', 'cat', os.path.join(mnt, 'plus+name.txt'))
    assert r.returncode == 0, r.stderr
    import hashlib
    want = [f['md5'] for f in coll['files'] if f['path'] == 'plus+name.txt'][0]
    assert hashlib.md5(r.stdout.encode()).hexdigest() == want


def test_credentials_from_environment_override_settings_conf(cluster, mnt, tmp_path):
    conf = tmp_path / '.config' / 'arvados'
    conf.mkdir(parents=True)
    (conf / 'settings.conf').write_text('ARVADOS_API_HOST=127.0.0.1:1\nARVADOS_API_TOKEN=wrong\n')
    env = cluster.full_env('alice')
    env['HOME'] = str(tmp_path)
    r = run_arv_mount(env, '--home', '--exec', 'ls', mnt, '--', mnt)
    assert r.returncode == 0, r.stderr
    assert cluster.demo['projects']['project_a']['name'] in r.stdout.splitlines()
