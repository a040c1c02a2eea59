"""`sor-daemon check-config`: every problem in a config and the market it names."""

from __future__ import annotations

import argparse
import sys

from sor_daemon.config import check_config
from sor_daemon.tools.cli.common import Subparsers


def add(sub: Subparsers) -> None:
    check = sub.add_parser("check-config", help="validate a config file",
                           description="Validate a daemon config and the simulated market it "
                                       "names; print every problem, exit 1 if any.")
    check.add_argument("file", help="daemon config (TOML)")
    check.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    problems = check_config(args.file)
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        print(f"{args.file}: ok")
    return 1 if problems else 0
