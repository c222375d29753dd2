"""`main.py experts serve [--address RAY_ADDRESS] [--host HOST] [--port PORT] [--route /experts]
[--replicas N] [--gpus-per-replica F]`: this machine's experts as a Ray Serve app.

Starts a Ray cluster here (or joins the one at --address: a head started with `ray start
--head`), deploys the expert service (`app/cluster/service.py`) and serves it over HTTP until
Ctrl+C. Desktops and `ask`/`run` then use `--experts-url http://HOST:PORT/ROUTE`. Ray is an
optional extra (`pip install -e .[cluster]`); only this command imports it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from app.cli import EXIT_FAILED, EXIT_OK, UsageError

APP_NAME = "jarvis-experts"


def add_parser(commands) -> None:
    experts = commands.add_parser("experts", help="serve this machine's experts to others (Ray Serve)")
    kinds = experts.add_subparsers(dest="experts_command", required=True)
    serve = kinds.add_parser("serve", help="start or join a Ray cluster and serve the experts over HTTP")
    serve.add_argument("--address", metavar="RAY_ADDRESS", help="join this Ray cluster (default: start one here)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address the HTTP endpoint listens on (default 127.0.0.1; 0.0.0.0 for other machines)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    serve.add_argument("--route", default="/experts", help="route prefix (default /experts)")
    serve.add_argument("--replicas", type=int, default=1, help="replicas of the expert service (default 1)")
    serve.add_argument("--gpus-per-replica", type=float, default=0.0, metavar="F",
                       help="GPUs each replica reserves, a fraction allowed (default 0: CPU)")
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args) -> int:
    if not args.route.startswith("/") or args.route == "/":
        raise UsageError(f"--route must look like /experts, got {args.route!r}")
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be from 1 to 65535, got {args.port}")
    if args.replicas < 1 or args.gpus_per_replica < 0:
        raise UsageError("--replicas must be at least 1 and --gpus-per-replica at least 0")
    try:
        import ray
        from ray import serve
    except ImportError:
        raise UsageError("Ray is not installed: pip install -e '.[cluster]'") from None
    from dataclasses import asdict

    from app.cluster.service import application
    from app.settings import Settings
    from core.offline import netguard

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray reports nothing to its makers
    # Serve kills its HTTP proxy when it is not ready within 5 s, and `serve.run` then fails: on a
    # busy 2-core workstation the proxy's start-up alone can take longer (seen in CI). Give it a
    # minute; these reach the processes of a cluster this command starts, not one already running.
    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
    os.environ.setdefault("RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S", "30")
    if args.address:
        host = args.address.split("://")[-1].rsplit(":", 1)[0]
        netguard.allow(host)  # the cluster's head: the one outside host this command may reach
    settings = Settings.load()
    try:
        ray.init(address=args.address, include_dashboard=False, log_to_driver=False,
                 **({} if args.address else {"_node_ip_address": "127.0.0.1"}))
        # One HTTP entry, on the head node: desktops are pointed at it, and replicas on other
        # nodes are reached through it (a proxy per node would need the port free on each).
        serve.start(proxy_location="HeadOnly", http_options={"host": args.host, "port": args.port})
        serve.run(application(asdict(settings), args.replicas, args.gpus_per_replica), name=APP_NAME,
                  route_prefix=args.route, blocking=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        print(f"error: the expert service could not start: {str(error).splitlines()[0] if str(error) else error}",
              file=sys.stderr)
        return EXIT_FAILED
    print(f"serving experts at http://{args.host}:{args.port}{args.route} (Ctrl+C stops)", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    serve.shutdown()
    ray.shutdown()
    return EXIT_OK
