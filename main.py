"""Entry point: the desktop window by default, the headless command line with a command.

Heavy libraries (torch, transformers, diffusers, llama_cpp) are imported only where they are used.
"""

from __future__ import annotations

import sys

from core.offline import netguard
from core.offline.switches import enforce_offline_env


def main(argv: list[str]) -> int:
    enforce_offline_env()
    netguard.install()  # from here on, only loopback (or a download the person starts) is reachable
    if not argv:
        from desktop.app import run_desktop

        return run_desktop()
    from app.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
