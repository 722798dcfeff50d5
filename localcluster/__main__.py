"""``python -m localcluster --data-dir DIR [--demo] [--no-blob-signing] [--keep-servers N]``

Starts the cluster in the foreground; writes DIR/cluster.json and the env
files (and DIR/demo.json with --demo) and only then prints one line
``localcluster ready ...`` on stdout. Stops cleanly on SIGINT/SIGTERM.
Logs go to stderr.
"""

import argparse
import asyncio
import logging
import signal
import sys

try:
    from . import websocket
    from .cluster import Cluster
    from .settings import DEFAULT_PRESERVE_VERSION_IF_IDLE, Settings
except ModuleNotFoundError as e:
    # Installed without the cluster extra: say what to install, in one line.
    if e.name and e.name.split(".")[0] in ("aiohttp", "trustme", "cryptography"):
        sys.exit("python -m localcluster needs %s: pip install 'arv-mount[cluster]'" % e.name.split(".")[0])
    raise


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m localcluster", description=__doc__.split("\n")[2])
    p.add_argument("--data-dir", required=True, help="where records, blocks and keys live")
    p.add_argument("--demo", action="store_true", help="create the sample data (idempotent)")
    p.add_argument("--no-blob-signing", action="store_true",
                   help="Keep accepts unsigned locators; manifests are returned unsigned")
    p.add_argument("--keep-servers", type=int, default=2, help="number of Keep servers (>= 1)")
    p.add_argument("--blob-signature-ttl", type=int, default=None,
                   help="seconds a Keep signature stays valid (default 14 days)")
    p.add_argument("--gc-threshold", type=int, default=None, metavar="N",
                   help="run Python's garbage collector every N allocations (stress tests: "
                        "finalizers then run at any point of the event loop)")
    p.add_argument("--forward-slash-name-substitution", metavar="S", default="",
                   help="Collections.ForwardSlashNameSubstitution: names may hold '/' when not empty "
                        "(default: empty, names with '/' are refused)")
    p.add_argument("--no-forward-slash-name-substitution-key", action="store_true",
                   help="the config has no ForwardSlashNameSubstitution key, and any name is accepted "
                        "(as a server older than Arvados 2.0)")
    p.add_argument("--collection-versioning", action="store_true",
                   help="Collections.CollectionVersioning: keep old versions of collections")
    p.add_argument("--preserve-version-if-idle", type=float, metavar="SECONDS",
                   default=DEFAULT_PRESERVE_VERSION_IF_IDLE,
                   help="Collections.PreserveVersionIfIdle: 0 a version at every update, -1 only when "
                        "preserve_version is set (default %(default)g)")
    p.add_argument("--users-not-visible-to-others", action="store_true",
                   help="Users.ActivatedUsersAreVisibleToOthers false: a user sees only the users "
                        "a permission path reaches")
    p.add_argument("--debug", action="store_true", help="verbose logging on stderr")
    args = p.parse_args(argv)
    if args.keep_servers < 1:
        p.error("--keep-servers must be at least 1")
    return args


async def run(args):
    kwargs = {}
    if args.blob_signature_ttl:
        kwargs["blob_ttl"] = args.blob_signature_ttl
    settings = Settings(
        forward_slash_name_substitution=(None if args.no_forward_slash_name_substitution_key
                                         else args.forward_slash_name_substitution),
        collection_versioning=args.collection_versioning,
        preserve_version_if_idle=args.preserve_version_if_idle,
        users_visible_to_others=not args.users_not_visible_to_others)
    cluster = Cluster(args.data_dir, keep_servers=args.keep_servers,
                      blob_signing=not args.no_blob_signing, settings=settings, **kwargs)
    cluster.start_hooks.append(websocket.start)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await cluster.start()
    try:
        if args.demo:
            from . import demo
            await demo.ensure(cluster)
        print("localcluster ready api=https://%s/ keep=%s data_dir=%s"
              % (cluster.api_host, ",".join(cluster.keep_urls), cluster.data_dir), flush=True)
        await stop.wait()
    finally:
        await cluster.stop()


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.gc_threshold:
        import gc
        gc.set_threshold(args.gc_threshold, 1, 1)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
