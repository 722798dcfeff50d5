#!/usr/bin/env bash
# Installs what arv-mount, its tests and its demo need on a fresh Debian
# machine: FUSE (kernel helper and headers for llfuse), then a virtualenv in
# .venv with this project and its dependencies, pinned by constraints.txt.  Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v fusermount >/dev/null 2>&1 || need_apt+=(fuse)
[ -e /usr/include/fuse/fuse_lowlevel.h ] || need_apt+=(libfuse-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
[ -e /dev/fuse ] || { echo "install.sh: /dev/fuse is missing; this machine cannot mount FUSE filesystems" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Exact versions from constraints.txt; pyproject.toml only states ranges.
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'

# mount -t fuse.arv-mount and fstab lines: /sbin/mount.fuse runs the type's
# program, `arv-mount`, through /bin/sh with PATH=/usr/local/sbin:/usr/local/bin:
# /usr/sbin:/usr/bin:/sbin:/bin, so link it where that PATH finds it (as root
# only; nothing else on the machine is changed).
if [ "$(id -u)" = 0 ] && [ -d /usr/local/sbin ]; then
  ln -sfn "$PWD/.venv/bin/arv-mount" /usr/local/sbin/arv-mount
fi
