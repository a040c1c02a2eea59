"""`sor-daemon bench`: latency and throughput against a bare quickfix echo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sor_daemon.tools.cli.common import Subparsers


def add(sub: Subparsers) -> None:
    bench = sub.add_parser(
        "bench", help="latency and throughput against a bare quickfix echo",
        description="Start a bare quickfix echo, the daemon (with the echo as its one "
                    "venue) and two relays with no logic on the daemon's route (the "
                    "floors) on loopback, and time every path from one OMS, in turn: "
                    "ack and fill round trips in ping-pong and at half load, throughput, "
                    "the daemon's decision latency and peak RSS, with the ratios daemon / "
                    "baseline. Writes bench.json and bench.png. With --soak: the daemon "
                    "path alone at a fixed rate, latency and memory over time "
                    "(soak.json, soak.png).")
    bench.add_argument("--rounds", type=int, default=5, help="rounds (each path per round)")
    bench.add_argument("--orders", type=int, default=2000,
                       help="orders per round and path, in ping-pong and at half load")
    bench.add_argument("--throughput-orders", type=int, default=4000,
                       help="orders per round and path for throughput")
    bench.add_argument("--window", type=int, default=32, help="orders in flight for throughput")
    bench.add_argument("--no-journal", action="store_true",
                       help="run the daemon without its journal (to measure what it costs)")
    bench.add_argument("--out", default="var/bench", help="directory for the JSON and PNG")
    bench.add_argument("--soak", type=float, metavar="SECONDS",
                       help="run the soak for this long instead")
    bench.add_argument("--rate", type=float, default=1000.0, help="soak: orders per second")
    bench.add_argument("--soak-orders", type=int, default=0,
                       help="soak: stop after this many orders (0: after SECONDS)")
    bench.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from sor_daemon.tools.bench import report
    from sor_daemon.tools.bench.run import (
        BenchOptions,
        SoakOptions,
        run_bench,
        run_soak,
        write_json,
    )

    out = Path(args.out)
    try:
        if args.soak is not None:
            result = run_soak(SoakOptions(seconds=args.soak, rate=args.rate,
                                          max_orders=args.soak_orders,
                                          journal=not args.no_journal))
            print(report.soak_text(result))
            chart = report.soak_chart(result, out / "soak.png")
        else:
            result = run_bench(BenchOptions(
                orders=args.orders, rounds=args.rounds, window=args.window,
                throughput_orders=args.throughput_orders, journal=not args.no_journal))
            print(report.bench_text(result))
            chart = report.bench_chart(result, out / "bench.png")
    except (RuntimeError, TimeoutError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    print(f"\nwrote {write_json(result, out)} and {chart}")
    return 0
