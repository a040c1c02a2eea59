"""The execution monitor's in-process cost per fill, with and without Prometheus export.

A seeded stream of fills across six routes and three symbols, with a quote after each
fill (so 1 s / 10 s / 60 s markouts come due and resolve); the figure is the wall time
of one fill's bookkeeping: ``ExecutionMonitor.fill`` plus the quotes that follow it,
and the same again with the daemon's per-fill metric observations. Measured side by
side in one run, interleaved in rounds (this machine is shared and noisy).

    .venv/bin/python -m benchmarks.monitor [--fills N] [--seed S]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from decimal import Decimal

from sor_daemon.core.analytics.monitor import ExecutionMonitor
from sor_daemon.core.domain import Side
from sor_daemon.service.metrics import (
    FILL_SLIPPAGE,
    FILLED_SHARES,
    FILLS,
    MARKOUT,
    PRICE_IMPROVEMENT,
)

ROUTES = ("XNAS", "ARCX", "BATX", "DARKA", "DARKB", "BRKA>XNAS")
SYMBOLS = {"AAPL": Decimal("190.00"), "MSFT": Decimal("415.00"), "SPY": Decimal("560.00")}
TICK = Decimal("0.01")


def run(fills: int, seed: int, export: bool) -> list[int]:
    rng = random.Random(seed)
    monitor = ExecutionMonitor()
    timings = []
    now = 0
    for i in range(fills):
        symbol = rng.choice(list(SYMBOLS))
        mid = SYMBOLS[symbol] + TICK * rng.randint(-20, 20)
        side = rng.choice((Side.BUY, Side.SELL))
        parent = f"P{i // 4}"
        if i % 4 == 0:
            monitor.parent_arrived(parent, "sweep", symbol, side, 1000, mid, now)
        route = rng.choice(ROUTES)
        price = mid + side.sign * TICK
        now += 5_000_000  # a fill every 5 ms: 200 fills/s, markouts always pending
        started = time.perf_counter_ns()
        record = monitor.fill(parent, route, 100, price, Decimal("0.30"), mid - TICK,
                              mid + TICK, None, now)
        markouts = monitor.quote(symbol, mid, now)
        if export:
            FILLS.labels(route, "sweep").inc()
            FILLED_SHARES.labels(route).inc(100)
            FILL_SLIPPAGE.labels(route).observe(record.slippage_bps)
            PRICE_IMPROVEMENT.labels(route).observe(record.price_improvement_bps)
            for markout in markouts:
                MARKOUT.labels(markout.route, markout.horizon).observe(markout.markout_bps)
        timings.append(time.perf_counter_ns() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[int]] = {"monitor": [], "monitor + metrics": []}
    for _ in range(args.rounds):
        results["monitor"] += run(args.fills // args.rounds, args.seed, False)
        results["monitor + metrics"] += run(args.fills // args.rounds, args.seed, True)
    print(f"Execution monitor per fill: {args.fills} fills x 6 routes x 3 symbols, markouts "
          f"resolving, seed {args.seed}, python {platform.python_version()}")
    print(f"  {'':<20}{'mean us':>9}{'p50 us':>9}{'p99 us':>9}")
    for name, timings in results.items():
        ordered = sorted(timings)
        print(f"  {name:<20}{statistics.fmean(timings) / 1e3:>9.2f}"
              f"{ordered[len(ordered) // 2] / 1e3:>9.2f}"
              f"{ordered[int(len(ordered) * 0.99)] / 1e3:>9.2f}")


if __name__ == "__main__":
    main()
