"""`sor-daemon tca`: TCA tables and charts from the daemon's records."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sor_daemon.tools.cli.common import Subparsers


def add(sub: Subparsers) -> None:
    tca = sub.add_parser("tca", help="TCA tables and charts from the daemon's records",
                         description="Per-strategy and per-route tables (slippage, shortfall, "
                                     "price improvement, markouts, latency) from the records "
                                     "the daemon appended ([monitor] records), and PNG charts.")
    tca.add_argument("--records", default="var/tca.jsonl", help="the daemon's record file")
    tca.add_argument("--out", default="var/tca", help="directory for the PNG charts")
    tca.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from sor_daemon.tools.reports.tca import ReportError, report

    try:
        charts = report(Path(args.records), Path(args.out))
    except ReportError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("charts: " + ", ".join(str(c) for c in charts))
    return 0
