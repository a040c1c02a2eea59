"""`sor-daemon lab`: the routing lab (`sor_daemon.tools.lab`)."""

from __future__ import annotations

import argparse

from sor_daemon.tools.cli.common import DEFAULT_CONFIG, Subparsers


def add(sub: Subparsers) -> None:
    from sor_daemon.tools.lab.cli import add_parser

    add_parser(sub, DEFAULT_CONFIG)
    sub.choices["lab"].set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from sor_daemon.tools.lab.cli import main as lab

    return lab(args)
