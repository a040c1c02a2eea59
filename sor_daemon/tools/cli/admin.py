"""`sor-daemon admin`: control a running daemon over its control socket."""

from __future__ import annotations

import argparse
import sys

from sor_daemon.config import ConfigError
from sor_daemon.tools.cli.common import DEFAULT_CONFIG, Subparsers, load, problems


def add(sub: Subparsers) -> None:
    admin = sub.add_parser(
        "admin", help="control a running daemon: status, halt, resume, cancel-all",
        description="Talk to a running daemon over its control socket ([admin] socket, a Unix "
                    "socket of mode 0600). status: sessions, kill switch, open orders, venue "
                    "health. halt: engage the kill switch (new orders refused; working "
                    "children cancelled if [risk] cancel_children_on_halt). resume: lift every "
                    "halt and route open orders again. cancel-all: cancel every open order.")
    admin.add_argument("action", choices=["status", "halt", "resume", "cancel-all"])
    admin.add_argument("--reason", help="why (logged and kept in the audit trail)")
    admin.add_argument("--config", default=DEFAULT_CONFIG, help="daemon config (TOML)")
    admin.add_argument("--socket", help="control socket (default: the config's)")
    admin.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if args.socket:
        return _request(args, args.socket)
    try:
        config, _, _ = load(args.config)
    except ConfigError as exc:
        return problems(exc)
    return _request(args, config.admin.socket)


def _request(args: argparse.Namespace, socket: str) -> int:
    from sor_daemon.service.admin import AdminError, print_reply, request

    try:
        reply = request(socket, args.action, **({"reason": args.reason} if args.reason else {}))
    except AdminError as exc:
        print(exc, file=sys.stderr)
        return 1
    return print_reply(args.action, reply)
