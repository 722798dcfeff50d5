#!/usr/bin/env bash
# Installs what is needed, then runs the whole test suite (unit tests, the
# local cluster against the real SDK, and real FUSE mounts).  Arguments go
# to pytest: `./test.sh -m unit` runs only the tier without network, kernel
# or waits (seconds); the tiers are `unit`, `slow`, `packaging`, `cluster`
# and `mount` (see tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")"
# Reinstall only when the environment is missing or the dependencies changed.
stale=0
for f in setup.py pyproject.toml constraints.txt install.sh; do
  [ "$f" -nt .venv/.installed ] && stale=1
done
if [ ! -x .venv/bin/python ] || [ "$stale" = 1 ]; then
  ./install.sh
  touch .venv/.installed
fi
exec .venv/bin/python -m pytest -q "$@"
