"""`sor-daemon bestex`: the best-execution report per venue."""

from __future__ import annotations

import argparse
from pathlib import Path

from sor_daemon.tools.cli.common import Subparsers
from sor_daemon.tools.reports.bestex import parse_when


def add(sub: Subparsers) -> None:
    bestex = sub.add_parser(
        "bestex", help="best-execution report per venue (RTS 28 top-venues shape)",
        description="Per-venue execution quality over a period, in the shape of the MiFID II "
                    "RTS 28 top-five-venues table (share of volume and orders, passive vs "
                    "aggressive), with average slippage, price improvement, markouts, fill "
                    "and reject rates, from the records the daemon appended.")
    bestex.add_argument("--records", default="var/tca.jsonl", help="the daemon's record file")
    bestex.add_argument("--since", type=parse_when,
                        help="UTC, inclusive: 2026-11-24 or 2026-11-24T10:00[:00Z]")
    bestex.add_argument("--until", type=parse_when, help="UTC, exclusive")
    bestex.add_argument("--top", type=int, default=5, help="venues listed")
    bestex.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from sor_daemon.tools.reports.bestex import main as bestex

    return bestex(Path(args.records), args.since, args.until, args.top)
