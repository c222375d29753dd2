"""`main.py bench [--json]`: start-up, controller speed, planning cold vs warm, overhead, memory."""

from __future__ import annotations

import json

from app.cli import EXIT_FAILED, EXIT_OK


def add_parser(commands) -> None:
    bench = commands.add_parser("bench", help="measure where a request's time goes (prints one table)")
    bench.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    bench.add_argument("--controller", metavar="PATH.gguf", help="controller GGUF (default: the setting)")
    bench.add_argument("--fast", action="store_true", help="one round of each figure (a quick check, noisier)")
    bench.set_defaults(handler=cmd_bench)


def cmd_bench(args) -> int:
    from app.bench import format_table, run_bench
    from app.settings import Settings
    from app.wiring import controller_path, planner_for

    settings = Settings.load()
    if args.controller:
        settings.controller_path = args.controller
    figures = run_bench(settings, controller_path(settings), planner_for(settings), fast=args.fast)
    print(json.dumps(figures, indent=2) if args.json else format_table(figures))
    return EXIT_FAILED if figures["missing"] else EXIT_OK
