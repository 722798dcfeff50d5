"""ruff over the code, with the rule set of pyproject.toml ([tool.ruff]):
CI runs ./test.sh, so this is the lint in CI.  ruff is in the test extra
(pinned in constraints.txt); a missing ruff fails, it never skips."""

import os
import subprocess
import sys

from mountutil import ROOT

PATHS = ('arvados_fuse', 'localcluster', 'tests', 'bench')


def test_ruff_is_clean():
    r = subprocess.run([sys.executable, '-m', 'ruff', 'check', '--no-cache', '--output-format', 'concise',
                        '--config', os.path.join(ROOT, 'pyproject.toml')] + list(PATHS),
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert 'No module named ruff' not in r.stderr, \
        "ruff is not installed: pip install -c constraints.txt -e '.[test]'"
    assert r.returncode == 0, 'ruff check %s:\n%s%s' % (' '.join(PATHS), r.stdout, r.stderr)
