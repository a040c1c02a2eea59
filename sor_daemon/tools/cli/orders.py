"""`sor-daemon orders`: an order as the journal recorded it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sor_daemon.config import ConfigError
from sor_daemon.tools.cli.common import DEFAULT_CONFIG, Subparsers, load, problems


def add(sub: Subparsers) -> None:
    orders = sub.add_parser(
        "orders", help="an order as the journal recorded it (working or completed)",
        description="Look a parent order up in the journal ([journal] path) by OrderID or "
                    "by any ClOrdID it has had: its state, its children and every fill "
                    "with the venue's ExecID. Without an ID: totals. Safe while the "
                    "daemon runs (read-only).")
    orders.add_argument("key", metavar="ID", nargs="?", help="OrderID (37) or ClOrdID (11)")
    orders.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    orders.add_argument("--journal", help="journal file (default: the config's)")
    orders.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if args.journal:
        return _show(args.key, Path(args.journal))
    try:
        config, _, _ = load(args.config)
    except ConfigError as exc:
        return problems(exc)
    if not config.journal.path:
        print(f"{args.config}: [journal] path is empty: no journal", file=sys.stderr)
        return 1
    return _show(args.key, Path(config.journal.path))


def _show(key: str | None, path: Path) -> int:
    from sor_daemon.service.journal import JournalError, describe_parent, open_read_only

    try:
        journal = open_read_only(path)
    except JournalError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        if journal.unapplied:
            print(f"{path}: {journal.unapplied} transactions in its redo log are not "
                  "applied yet (the daemon is busy, or stopped abruptly: its next start "
                  "applies them)", file=sys.stderr)
        if key is None:
            parents, shares = journal.totals()
            print(f"{path}: {parents} parent orders, {shares} shares filled")
            return 0
        found = journal.find(key)
        if not found:
            print(f"no order with OrderID or ClOrdID {key!r} in {path}", file=sys.stderr)
            return 1
        for parent in found:
            print(describe_parent(parent, journal.fills(parent.order_id)))
        return 0
    finally:
        journal.close()
