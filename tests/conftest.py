"""Shared fixtures: a local Arvados-compatible cluster (localcluster).

``cluster``: one per test session, with the demo data (see
docs/localcluster.md for demo.json); tests must not change its data in
ways others could see. ``fresh_cluster``: an empty cluster per test (users
admin/alice/bob exist, nothing else); ``module_cluster``: an empty one per test
module, for tests that set fault knobs or change data. Both always stop at the end.

Every test is in one tier (a marker, registered in pytest.ini); the plain
``./test.sh`` runs them all, ``./test.sh -m unit`` only the first (under 15 s):
- ``unit``: no network, no kernel, no waits on the clock (the model, the
  adapter, the fake client, the parser, the read path, the import and lint rules);
- ``slow``: no network, no kernel either, but seconds of real time per test:
  the renewer's real-clock waits, the big fuzz runs (the unit tier runs
  smaller ones of the same kind);
- ``packaging``: builds the wheel and installs it into a fresh virtualenv
  (pip, the package index);
- ``cluster``: a local cluster, no mount (its own tests, the real client);
- ``mount``: the arv-mount daemon (ours or upstream's) in a subprocess,
  mounted through the kernel.
A test marked explicitly keeps its marker; otherwise its file name decides
(test_mount_*, test_command_*, test_seed_*: mount; test_packaging*: packaging;
test_cluster_*: cluster), then whether it asks for a cluster fixture or a
mount point.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from localcluster.testing import LocalCluster  # noqa: E402


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("cluster"), demo=True) as c:
        yield c


@pytest.fixture(scope="module")
def module_cluster(tmp_path_factory):
    """The test module's own empty cluster: faults and changes made there
    cannot hurt other modules' tests."""
    with LocalCluster(tmp_path_factory.mktemp("module-cluster")) as c:
        yield c


@pytest.fixture
def fresh_cluster(tmp_path):
    with LocalCluster(tmp_path / "cluster") as c:
        yield c


@pytest.fixture
def mnt(tmp_path):
    """An empty mount point, unmounted (if a test left something on it) and
    removed afterwards."""
    from mountutil import force_unmount
    path = tmp_path / 'mnt'
    path.mkdir()
    try:
        yield str(path)
    finally:
        force_unmount(str(path))


TIERS = ('unit', 'slow', 'packaging', 'cluster', 'mount')
MOUNT_FILES = ('test_mount_', 'test_command_', 'test_seed_')
CLUSTER_FIXTURES = {'cluster', 'fresh_cluster'}


def _tier(item):
    name = os.path.basename(str(item.fspath))
    if name.startswith(MOUNT_FILES) or 'mnt' in item.fixturenames:
        return 'mount'
    if name.startswith('test_packaging'):
        return 'packaging'
    if name.startswith('test_cluster_') or CLUSTER_FIXTURES & set(item.fixturenames):
        return 'cluster'
    return 'unit'


def pytest_collection_modifyitems(items):
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(getattr(pytest.mark, _tier(item)))
