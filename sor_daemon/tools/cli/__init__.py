"""The `sor-daemon` command: one module per subcommand, each with ``add`` (its parser)
and ``main`` (what it does)."""

from __future__ import annotations

import argparse

from sor_daemon.tools.cli import (
    admin,
    audit,
    bench,
    bestex,
    chaos,
    check_config,
    demo,
    lab,
    oms,
    orders,
    run,
    sim,
    tca,
)

SUBCOMMANDS = (run, check_config, sim, demo, lab, tca, bestex, admin, audit, chaos, orders, bench,
               oms)
"""In the order ``--help`` lists them."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sor-daemon",
        description="Smart order router: FIX in from the OMS, FIX out to venues.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS:
        command.add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.handler(args)
