"""`sor-daemon run`: the daemon until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable

from sor_daemon.config import ConfigError
from sor_daemon.tools.cli.common import (
    DEFAULT_CONFIG,
    Subparsers,
    configured,
    load,
    problems,
    serve,
)


def add(sub: Subparsers) -> None:
    run = sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT",
                         description="Run the router daemon until SIGTERM or SIGINT, then log "
                                     "out every FIX session and exit 0.")
    run.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    run.add_argument("--accept-empty-journal", action="store_true",
                     help="start with an empty (or missing) journal even though the FIX "
                          "store has session history (the orders it held are forgotten)")
    run.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config, _, credentials = load(args.config, credentials=True)
    except ConfigError as exc:
        return problems(exc)
    configured(config)
    import faulthandler

    from sor_daemon.service.daemon import Daemon, quiet_gc

    # A frozen loop killed by systemd's watchdog (SIGABRT) leaves every thread's
    # Python stack on stderr (the journal): where the loop was stuck.
    faulthandler.enable()

    def daemon(stop: asyncio.Event) -> Awaitable[int | None]:
        running = Daemon(config, credentials, args.accept_empty_journal)
        quiet_gc()  # once what lives as long as the process exists
        return running.run(stop)

    from sor_daemon.service.journal import JournalError

    try:
        return serve(daemon)
    except JournalError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
