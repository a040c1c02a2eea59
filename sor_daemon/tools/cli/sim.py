"""`sor-daemon sim`: the simulated venues of a config, as FIX acceptors."""

from __future__ import annotations

import argparse

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
    sim = sub.add_parser("sim", help="run the simulated venues of a config",
                         description="Start, as FIX acceptors, the simulated venues that the "
                                     "daemon config connects to; run until SIGTERM/SIGINT.")
    sim.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    sim.add_argument("--fill-ledger", metavar="FILE",
                     help="append every fill to FILE (JSON lines) before reporting it")
    sim.add_argument("--market", help="simulated market file (default: the config's "
                                      "[sim] market)")
    sim.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config, market, _ = load(args.config, with_market=True, market_file=args.market)
    except ConfigError as exc:
        return problems(exc)
    configured(config)
    from sor_sim.runner import run_sim

    assert market is not None
    return serve(lambda stop: run_sim(config, market, stop, args.fill_ledger))
