"""`sor-daemon chaos`: kill the daemon, the venues, the OMS link mid-flow."""

from __future__ import annotations

import argparse
import sys

from sor_daemon.tools.cli.common import Subparsers


def add(sub: Subparsers) -> None:
    chaos = sub.add_parser(
        "chaos", help="kill the daemon, the venues, the OMS link mid-flow; check nothing "
                      "is lost",
        description="Trials on loopback, each with its own simulated venues and brokers, "
                    "daemon (with a journal) and OMS: an order flow, a SIGKILL of the daemon "
                    "or of the venues and brokers (or an OMS disconnect) at a random "
                    "moment, a restart, then checks: no overfill, every fill the venues "
                    "reported applied once and reported to the OMS, every order ended. Exit 1 "
                    "if any trial failed; a failed trial's directory (logs, journal, ledger) "
                    "is kept.")
    chaos.add_argument("--trials", type=int, default=9, help="trials (kinds in turn)")
    chaos.add_argument("--orders", type=int, default=30, help="parent orders per trial")
    chaos.add_argument("--seed", type=int, default=1, help="random seed (timings, flow)")
    chaos.add_argument("--kills", type=int, default=2,
                       help="kills (each then restarted) per trial, at random moments")
    chaos.add_argument("--kinds", default="daemon,venue,oms",
                       help="what to kill, in turn: daemon, venue, oms")
    chaos.add_argument("--keep", action="store_true", help="keep every trial's directory")
    chaos.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from sor_daemon.service.logs import configure_logging
    from sor_daemon.tools.chaos import KINDS, ChaosOptions, report, run_chaos

    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds or min(args.trials, args.orders, args.kills) < 1:
        print(f"--kinds takes {', '.join(KINDS)}; --trials, --orders, --kills at least 1",
              file=sys.stderr)
        return 2
    configure_logging("warning")
    options = ChaosOptions(trials=args.trials, orders=args.orders, seed=args.seed,
                           kinds=kinds, kills=args.kills, keep=args.keep)
    import uvloop

    results = uvloop.run(run_chaos(options))
    print(report(results))
    return 1 if any(r.failures for r in results) else 0
