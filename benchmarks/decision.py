"""The routing decision alone: parent in -> child plan out, per strategy.

Six lit venues with ten-level books around a price; a seeded mix of buys and sells,
limit and market, sizes from one lot to beyond the displayed depth. Each strategy plans
the same requests; the figure is the wall time of ``plan`` per request, measured
side by side in one run.

    .venv/bin/python -m benchmarks.decision [--requests N] [--seed S] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from decimal import Decimal

from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.core.market import ConsolidatedBook, Level, VenueBook
from sor_daemon.core.routing.context import RoutingContext
from sor_daemon.core.routing.registry import STRATEGIES
from sor_daemon.core.routing.strategy import RouteRequest, VenueState
from sor_daemon.tools.bench.stats import quantile

VENUES = 6
LEVELS = 10
TICK = Decimal("0.01")
MID = Decimal("190.00")


def build_market(rng: random.Random) -> tuple[ConsolidatedBook, dict[str, VenueState]]:
    market = ConsolidatedBook()
    venues = {}
    for i in range(VENUES):
        name = f"V{i}"
        # Each venue's touch is at the NBBO or a tick behind it: never locked or crossed.
        behind_bid, behind_ask = rng.randint(0, 1), rng.randint(0, 1)
        bids = tuple(Level(MID - TICK * (1 + k + behind_bid), rng.randint(1, 20) * 100)
                     for k in range(LEVELS))
        asks = tuple(Level(MID + TICK * (1 + k + behind_ask), rng.randint(1, 20) * 100)
                     for k in range(LEVELS))
        market.update(VenueBook(name, "AAPL", bids, asks, 0))
        venues[name] = VenueState(name, "lit", True, taker_fee=Decimal(rng.randint(-5, 30)) /
                                  10_000, expected_latency_ms=rng.random())
    return market, venues


def requests(rng: random.Random, count: int) -> list[RouteRequest]:
    out = []
    for _ in range(count):
        side = rng.choice((Side.BUY, Side.SELL))
        market_order = rng.random() < 0.2
        limit = None if market_order else MID + side.sign * TICK * rng.randint(-2, 8)
        out.append(RouteRequest("AAPL", side, OrdType.MARKET if market_order else OrdType.LIMIT,
                                limit, rng.choice((TimeInForce.IOC, TimeInForce.DAY)),
                                rng.choice((100, 500, 2000, 10_000, 60_000)), None,
                                frozenset()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    market, venues = build_market(rng)
    batch = requests(rng, args.requests)
    results = {}
    context = RoutingContext()
    for name, strategy in STRATEGIES.items():
        for req in batch[:500]:  # warm up
            strategy.plan(req, market, venues, 0, context)
        timings = []
        clock = time.perf_counter_ns
        for req in batch:
            start = clock()
            strategy.plan(req, market, venues, 0, context)
            timings.append((clock() - start) / 1000)
        results[name] = {
            "p50_us": round(statistics.median(timings), 2),
            "p99_us": round(quantile(sorted(timings), 99), 2),
            "p999_us": round(quantile(sorted(timings), 99.9), 2),
        }
    print(f"Routing decision benchmark: {VENUES} venues x {LEVELS} levels, "
          f"{args.requests} requests, seed {args.seed}, python {platform.python_version()}")
    print(f"  {'strategy':<20}{'p50 us':>10}{'p99 us':>10}{'p99.9 us':>10}")
    for name, figures in results.items():
        print(f"  {name:<20}{figures['p50_us']:>10}{figures['p99_us']:>10}"
              f"{figures['p999_us']:>10}")
    print("  targets (issue): sweep and cost-based p50 <= 25 us, p99 <= 100 us; Day limit "
          "orders only reach the optimal-placement solver (others sweep)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"venues": VENUES, "levels": LEVELS, "requests": args.requests,
                       "seed": args.seed, "strategies": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
