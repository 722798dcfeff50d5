"""The package as a user installs it: build the wheel, install it into a
fresh virtualenv (dependencies from the package index pip is configured
for, at the versions of constraints.txt), run what it installs."""

import email
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from mountutil import ROOT

pytestmark = pytest.mark.timeout(600)


def run(*argv, **kwargs):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('wheel')
    # Built from a copy: setuptools leaves build/ and *.egg-info in the
    # source tree it builds.
    src = tmp_path_factory.mktemp('src') / 'arv-mount'
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        '.git', '.venv*', 'build', '*.egg-info', '__pycache__', '.pytest_cache', '.hypothesis'))
    r = run(sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '-w', str(out), str(src))
    assert r.returncode == 0, r.stderr
    (path,) = [os.path.join(out, n) for n in os.listdir(out) if n.endswith('.whl')]
    return path


def test_wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith('.dist-info/METADATA')]
        meta = email.message_from_string(z.read(name).decode())
        names = z.namelist()
    assert meta['Requires-Python'] == '>=3.10'
    requires = meta.get_all('Requires-Dist')
    runtime = [r for r in requires if 'extra ==' not in r]
    assert any(r.startswith('arvados-python-client') and '~=3.2' in r for r in runtime)
    assert any(r.startswith('prometheus-client') for r in runtime)
    assert not any('==' in r for r in runtime), runtime       # ranges, not pins
    assert 'AGPL' in (meta['License'] or '') and any(n.endswith('LICENSE') for n in names)
    assert meta['Description-Content-Type'] == 'text/markdown'
    assert '# arv-mount' in meta.get_payload()
    assert 'arvados_fuse/__main__.py' in names and 'localcluster/__main__.py' in names
    # The layer folders are packages of their own, and every module of the
    # source tree is in the wheel (a folder missing from pyproject's
    # package list would install an arv-mount that fails on import).
    for sub in ('fs', 'api', 'keep', 'blocks', 'host'):
        assert 'arvados_fuse/%s/__init__.py' % sub in names, sub
    for known in ('fs/inodes.py', 'api/safeapi.py', 'keep/fetcher.py', 'blocks/manifest.py', 'host/metrics.py'):
        assert 'arvados_fuse/' + known in names, known
    source = set()
    for package in ('arvados_fuse', 'localcluster'):
        for folder, _dirs, files in os.walk(os.path.join(ROOT, package)):
            rel = os.path.relpath(folder, ROOT).replace(os.sep, '/')
            source.update(rel + '/' + f for f in files if f.endswith('.py'))
    assert source - set(names) == set()


def test_wheel_installs_into_a_fresh_virtualenv_and_runs(wheel, tmp_path):
    venv = str(tmp_path / 'venv')
    assert run(sys.executable, '-m', 'venv', venv).returncode == 0
    python = os.path.join(venv, 'bin', 'python')
    r = run(python, '-m', 'pip', 'install', '-q', '--disable-pip-version-check',
            '-c', os.path.join(ROOT, 'constraints.txt'), wheel)
    assert r.returncode == 0, r.stderr
    # Run from elsewhere, so that nothing is imported from the checkout.
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    arv_mount = os.path.join(venv, 'bin', 'arv-mount')
    version = run(arv_mount, '--version', cwd=str(tmp_path), env=env)
    assert version.returncode == 0 and version.stdout.startswith('arv-mount 3.2.1'), version.stderr
    helptext = run(arv_mount, '--help', cwd=str(tmp_path), env=env)
    assert helptext.returncode == 0 and '--prometheus-port' in helptext.stdout, helptext.stderr
    module = run(python, '-m', 'arvados_fuse', '--version', cwd=str(tmp_path), env=env)
    assert module.stdout == version.stdout
    # Without the cluster extra: one line naming what to install.
    cluster = run(python, '-m', 'localcluster', '--data-dir', str(tmp_path / 'c'), cwd=str(tmp_path), env=env)
    assert cluster.returncode == 1
    assert cluster.stderr.strip().splitlines() == [
        "python -m localcluster needs aiohttp: pip install 'arv-mount[cluster]'"]
