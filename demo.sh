#!/usr/bin/env bash
# The demo: installs what is needed, starts the local Arvados-compatible
# cluster with its sample data, mounts it with arv-mount, lists and reads
# something, and leaves both running for you to explore.
#   ./demo.sh          start (or restart) the demo
#   ./demo.sh stop     unmount and stop the cluster
set -euo pipefail
cd "$(dirname "$0")"
DEMO=${DEMO_DIR:-/tmp/arv-mount-demo}
MNT="$DEMO/keep"

stop() {
  if [ -d "$MNT" ]; then .venv/bin/arv-mount --unmount "$MNT" 2>/dev/null || true; fi
  if [ -f "$DEMO/cluster.pid" ]; then
    kill "$(cat "$DEMO/cluster.pid")" 2>/dev/null || true
    rm -f "$DEMO/cluster.pid"
  fi
}

if [ "${1:-}" = stop ]; then stop; echo "demo stopped"; exit 0; fi

./install.sh
stop
mkdir -p "$DEMO/data" "$MNT"
export NO_PROXY=127.0.0.1,localhost
nohup .venv/bin/python -m localcluster --data-dir "$DEMO/data" --demo > "$DEMO/cluster.log" 2>&1 &
echo $! > "$DEMO/cluster.pid"
for _ in $(seq 600); do
  grep -q 'localcluster ready' "$DEMO/cluster.log" 2>/dev/null && break
  kill -0 "$(cat "$DEMO/cluster.pid")" 2>/dev/null || { cat "$DEMO/cluster.log"; exit 1; }
  sleep 0.1
done
. "$DEMO/data/user.env"
export XDG_CACHE_HOME="$DEMO/cache"

.venv/bin/arv-mount "$MNT"        # daemonizes once the mount is up

set -x
ls "$MNT"
ls "$MNT/home" "$MNT/shared" "$MNT/by_tag"
ls -l "$MNT/home/Project A"
head -c 300 "$MNT/home/Odd names: é 日本 * - .../with space.txt"; echo
md5sum "$MNT/home/Big file/big.bin"
{ set +x; } 2>/dev/null
cat <<MSG

The demo cluster's data is mounted read-only at $MNT.
Use it from another shell after:   . $DEMO/data/user.env
Stop everything with:              ./demo.sh stop
MSG
