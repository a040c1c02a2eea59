"""`sor-daemon demo`: simulated venues, the daemon and a demo order flow."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    demo = sub.add_parser("demo", help="simulated venues + daemon + a demo order flow",
                          description="Start the simulated venues and the daemon, send a demo "
                                      "order flow from the OMS client, print fills and a "
                                      "summary, stop everything.")
    demo.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    demo.add_argument("--market", help="simulated market or scenario file (default: the "
                                       "config's [sim] market), e.g. config/scenarios/normal.toml")
    demo.add_argument("--orders", type=int, default=300, help="orders in the flow")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the flow")
    demo.add_argument("--quiet", action="store_true", help="print only the summary")
    demo.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config, market, _ = load(args.config, with_market=True, market_file=args.market,
                                 credentials=True)
    except ConfigError as exc:
        return problems(exc)
    configured(config)
    from sor_daemon.tools.demo import run_demo

    assert market is not None
    return serve(lambda stop: run_demo(Path(args.config), config, market, args.orders,
                                       args.seed, stop, verbose=not args.quiet,
                                       market_path=args.market))
