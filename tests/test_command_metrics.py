"""What a running mount reports about itself, through real mounts:
--crunchstat-interval lines as Arvados' crunchstat-summary reads them, and
the --prometheus-port endpoint."""

import errno
import os
import re
import socket
import sys
import urllib.request

import pytest

from mountutil import mounted, run_arv_mount
from test_command_options import check_md5_output, md5_with_crunchstat, wait_until
from test_mount_errors import _collection_with

pytestmark = pytest.mark.timeout(120)

# crunchstat-summary (tools/crunchstat-summary/crunchstat_summary/
# summarizer.py in the arvados repository) matches each line of a
# container's stderr log, which the container runtime prefixes with a
# timestamp, with this expression ("crunch2" logs), then reads the current
# and interval parts as "value name" pairs.
CRUNCHSTAT_SUMMARY_RE = re.compile(
    r'^(?P<timestamp>\S+) (?P<crunchstat>crunchstat: )?(?P<category>\S+) (?P<current>.*?)'
    r'( -- interval (?P<interval>.*))?\n$')

UPSTREAM_CATEGORIES = ['keepcalls', 'net:keep0', 'keepcache', 'blkio:0:0', 'fuseops']


def summarize(stderr):
    """{category: (totals, interval deltas)} of the last line of each
    category, parsed the way crunchstat-summary parses them."""
    out = {}
    for line in stderr.splitlines():
        m = CRUNCHSTAT_SUMMARY_RE.search('2026-12-02T00:00:00.000000000Z ' + line + '\n')
        assert m and m.group('crunchstat'), 'not a crunchstat line: %r' % line
        parsed = []
        for group in ('current', 'interval'):
            words = m.group(group).split(' ')
            assert len(words) % 2 == 0, line
            parsed.append({stat: (float(val) if '.' in val else int(val))
                           for val, stat in zip(words[::2], words[1::2])})
        assert parsed[1]['seconds'] > 0, line
        out[m.group('category')] = parsed
    return out


def test_crunchstat_lines_parse_with_crunchstat_summary_expression(cluster, mnt):
    r, coll, total = md5_with_crunchstat(cluster, mnt)
    # Nothing but bare crunchstat lines on stderr: no logging prefix.
    assert r.stderr and all(line.startswith('crunchstat: ') for line in r.stderr.splitlines()), r.stderr
    stats = summarize(r.stderr)
    categories = [line.split()[1] for line in r.stderr.splitlines()]
    # Upstream's order within each report, then one fuseop line per operation, then ours.
    first = categories[:categories.index('apicalls') + 1]
    assert first[:5] == UPSTREAM_CATEGORIES and first[-1] == 'apicalls'
    ops = {c.split(':', 1)[1] for c in first[5:-1]}
    assert all(c.startswith('fuseop:') for c in first[5:-1])
    assert {'lookup', 'getattr', 'open', 'read', 'release', 'opendir', 'readdir', 'write', 'statfs'} <= ops
    current = {c: v[0] for c, v in stats.items()}
    assert current["blkio:0:0"]["read"] == total and current['blkio:0:0']['write'] == 0
    assert current['fuseops']['read'] == current['fuseop:read']['count'] > 0
    assert current['fuseops']['write'] == 0
    assert current['fuseop:lookup']['count'] > 0 and isinstance(current['fuseop:lookup']['time'], float)
    assert current['fuseop:open']['count'] >= len(coll['files'])
    assert current['net:keep0']['rx'] >= total and current['keepcalls']['get'] > 0
    assert current['apicalls']['calls'] >= 2
    # The deltas of all intervals add up to the totals.
    deltas = {}
    for line in r.stderr.splitlines():
        if line.startswith('crunchstat: fuseop:read '):
            deltas.setdefault('n', 0)
            deltas['n'] += int(line.split(' -- interval ')[1].split()[2])
    assert deltas['n'] == current['fuseop:read']['count']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def scrape(port):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=10) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith('#'):
            name, value = line.rsplit(' ', 1)
            values[name] = float(value)
    return values


def test_prometheus_endpoint_values_move_while_reading(cluster):
    coll = cluster.demo['collections']['odd_names']
    total = sum(f['size'] for f in coll['files'])
    port = free_port()
    with mounted(cluster.full_env('alice'), '--prometheus-port', str(port), '--collection', coll['uuid']) as m:
        # A uuid collection listens for change events.
        wait_until(lambda: scrape(port).get('arvmount_websocket_connected') == 1, what='the event stream')
        before = scrape(port)
        assert before.get('arvmount_read_bytes_total', 0) == 0
        assert before['arvmount_websocket_reconnects_total'] == 0
        assert before['arvmount_inodes'] >= 1
        out = run_md5(m.path)
        check_md5_output(out, coll)
        after = scrape(port)
        assert after['arvmount_read_bytes_total'] == total
        assert after['arvmount_fuse_operation_seconds_count{op="read"}'] > 0
        assert after['arvmount_fuse_operation_seconds_count{op="lookup"}'] > \
            before.get('arvmount_fuse_operation_seconds_count{op="lookup"}', 0)
        assert after['arvmount_fuse_operation_seconds_bucket{le="+Inf",op="read"}'] == \
            after['arvmount_fuse_operation_seconds_count{op="read"}']
        assert after['arvmount_block_cache_misses_total'] > 0
        assert after['arvmount_block_cache_bytes'] > 0
        assert after['arvmount_inodes'] > before['arvmount_inodes']
        fetched = {k: v for k, v in after.items() if k.startswith('arvmount_keep_fetches_total{server=')}
        got = {k: v for k, v in after.items() if k.startswith('arvmount_keep_fetched_bytes_total{server=')}
        assert fetched and sum(got.values()) >= total
        assert after['arvmount_api_calls_total'] >= 2
        # An open file shows as an open handle.
        with open(m.join(coll['files'][0]['path']), 'rb'):
            assert scrape(port)['arvmount_open_handles'] >= 1
        wait_until(lambda: scrape(port)['arvmount_open_handles'] == 0, what='the handle to be released')


def run_md5(path):
    import subprocess
    from test_command_options import MD5_SCRIPT
    return subprocess.run([sys.executable, '-c', MD5_SCRIPT, path], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_prometheus_port_in_use_is_a_startup_error(cluster, mnt):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        s.listen(1)
        port = s.getsockname()[1]
        coll = cluster.demo['collections']['odd_names']
        r = run_arv_mount(cluster.full_env('alice'), '--prometheus-port', str(port), '--collection', coll['uuid'],
                          mnt, '--exec', 'true')
    assert r.returncode == 1
    assert '--prometheus-port' in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_prometheus_counts_keep_failures_retries_and_eio_by_cause(module_cluster):
    c = module_cluster
    data = os.urandom(1 << 16)
    coll = _collection_with(c, 'metrics keep fault', data)
    port = free_port()
    with mounted(c.full_env('alice'), '--collection', coll['uuid'], '--retries', '1',
                 '--prometheus-port', str(port)) as m:
        path = m.join('data.bin')
        assert os.path.getsize(path) == len(data)
        try:
            for server in c.info['servers']:
                if server.startswith('keep'):
                    c.set_fault(server, status=500)
            with pytest.raises(OSError) as err:
                with open(path, 'rb') as f:
                    f.read()
            assert err.value.errno == errno.EIO
        finally:
            c.clear_faults()
        values = scrape(port)
        assert values['arvmount_eio_answers_total{cause="keep",op="read"}'] >= 1
        failures = sum(v for k, v in values.items() if k.startswith('arvmount_keep_failures_total{'))
        retries = sum(v for k, v in values.items() if k.startswith('arvmount_keep_retries_total{'))
        assert failures >= 2 and retries >= 1
        with open(path, 'rb') as f:
            assert f.read() == data


def test_websocket_reconnects_back_off_with_jitter():
    from arvados_fuse.api.events import BACKOFF_MAX, jittered
    for backoff in (0.5, 8, BACKOFF_MAX):
        waits = {jittered(backoff) for _ in range(50)}
        assert all(backoff / 2 <= w <= backoff for w in waits) and len(waits) > 1


def test_prometheus_shows_the_event_stream_reconnecting(module_cluster):
    c = module_cluster
    coll = _collection_with(c, 'metrics events', b'events')
    port = free_port()
    with mounted(c.full_env('alice'), '--collection', coll['uuid'], '--prometheus-port', str(port)):
        wait_until(lambda: scrape(port).get('arvmount_websocket_connected') == 1, what='the event stream')
        try:
            # Drops the websocket connection (the API server serves it).
            c.set_fault('api', down=True)
        finally:
            c.clear_faults('api')
        wait_until(lambda: scrape(port)['arvmount_websocket_reconnects_total'] >= 1, timeout=60,
                   what='a reconnect')
        wait_until(lambda: scrape(port)['arvmount_websocket_connected'] == 1, what='the stream back')
