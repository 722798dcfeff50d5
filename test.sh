#!/usr/bin/env bash
# Installs what is needed, then runs the whole test suite (unit tests, the
# local cluster against the real SDK, and real FUSE mounts).  Arguments go
# to pytest: `./test.sh -m unit` runs only the tier without network or
# kernel (seconds); the tiers are `unit`, `cluster` and `mount` (see
# tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")"
# Reinstall only when the environment is missing or the dependencies changed.
if [ ! -x .venv/bin/python ] || [ setup.py -nt .venv/.installed ] || [ install.sh -nt .venv/.installed ]; then
  ./install.sh
  touch .venv/.installed
fi
exec .venv/bin/python -m pytest -q "$@"
