#!/usr/bin/env bash
# Installs what is needed, then runs the whole test suite (unit tests, the
# local cluster against the real SDK, and real FUSE mounts).
set -euo pipefail
cd "$(dirname "$0")"
./install.sh
exec .venv/bin/python -m pytest -q "$@"
