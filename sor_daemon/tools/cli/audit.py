"""`sor-daemon audit`: one order's lifecycle from the audit trail."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sor_daemon.config import ConfigError, oms_counterparty
from sor_daemon.tools.cli.common import DEFAULT_CONFIG, Subparsers, load, problems


def add(sub: Subparsers) -> None:
    audit = sub.add_parser(
        "audit", help="one order's full lifecycle from the audit trail",
        description="Reconstruct a parent order from the audit trail ([audit] path): every "
                    "OMS message in and out, routing decisions, children, venue messages and "
                    "fills, in time order. Any ClOrdID of the order works (original, "
                    "replacement, cancel) and so does a child's.")
    audit.add_argument("cl_ord_id", metavar="CLORDID")
    audit.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    audit.add_argument("--trail", help="audit trail file (default: the config's)")
    audit.add_argument("--session", help="OMS CompID, when two sessions used the ClOrdID")
    audit.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if args.trail:
        return _show(args, Path(args.trail))
    try:
        config, _, _ = load(args.config)
    except ConfigError as exc:
        return problems(exc)
    if not config.audit.path:
        print(f"{args.config}: [audit] path is empty: no audit trail", file=sys.stderr)
        return 1
    return _show(args, Path(config.audit.path))


def _show(args: argparse.Namespace, trail: Path) -> int:
    from sor_daemon.tools.reports.audit import main as audit

    return audit(trail, args.cl_ord_id, args.session and oms_counterparty(args.session))
