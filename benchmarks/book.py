"""Throughput of the simulated exchange's order book (``sor_sim/book.py``).

    .venv/bin/python -m benchmarks.book [--events N] [--seed S] [--repeats R] [--json FILE]

A seeded stream of order events on one symbol around a drifting price is generated once
(untimed), then replayed through a fresh ``OrderBook`` in-process several times, each
replay timed with ``time.perf_counter``. The mix: about 60% limit submits near the touch
(some of them icebergs, hidden or post-only), 25% cancels of live orders, 10% marketable
orders (IOC limits through the touch, market orders, a few FOK) and 5% replaces of live
orders. Every replay is the same sequence of calls with the same outcome, so the figures
are events per second of the book alone (no I/O, no FIX, no market-data encoding).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sor_daemon.core.domain import Side, TimeInForce
from sor_sim.book import OrderBook

BUY, SELL = Side.BUY, Side.SELL
DAY, IOC = TimeInForce.DAY, TimeInForce.IOC

TARGET_EVENTS_PER_SECOND = 200_000

# Event tuples, replayed by ``run``:
#   (SUBMIT, order_id, side, qty, price, tif, all_or_none, post_only, display_qty)
#   (CANCEL, order_id)
#   (REPLACE, order_id, new_qty, new_price)
SUBMIT, CANCEL, REPLACE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Mix:
    limit: float = 0.60
    cancel: float = 0.25
    marketable: float = 0.10
    replace: float = 0.05
    iceberg: float = 0.05  # share of limit submits that are icebergs
    hidden: float = 0.02  # ... fully hidden
    post_only: float = 0.05  # ... post-only
    fok: float = 0.10  # share of marketable orders that are FOK


def generate(n: int, seed: int, mix: Mix = Mix(), mid: int = 10_000) -> list[tuple]:
    """``n`` events; cancels and replaces always name an order resting at that point."""
    rng = random.Random(seed)
    book = OrderBook("BENCH")
    live: list[str] = []  # resting order ids, for O(1) random pick and removal
    where: dict[str, int] = {}
    events: list[tuple] = []
    cut_cancel = mix.limit + mix.cancel
    cut_marketable = cut_cancel + mix.marketable
    next_id = 0

    def forget(oid: str) -> None:
        i = where.pop(oid)
        last = live.pop()
        if last != oid:
            live[i] = last
            where[last] = i

    def settle(trades: Sequence, taker: str, rested: bool) -> None:
        for t in trades:
            if not t.maker_leaves and t.maker_id in where:
                forget(t.maker_id)
        if rested and taker not in where:
            where[taker] = len(live)
            live.append(taker)
        elif not rested and taker in where:
            forget(taker)

    while len(events) < n:
        mid += rng.choice((-1, 0, 0, 1)) if rng.random() < 0.05 else 0
        r = rng.random()
        if r < mix.limit or not live:
            oid = f"L{next_id}"
            next_id += 1
            side = BUY if rng.random() < 0.5 else SELL
            # Near the touch: mostly 1-5 ticks behind the mid, sometimes at or through it.
            offset = rng.choice((-1, 0, 1, 1, 2, 2, 3, 3, 4, 5))
            price = mid - offset if side is BUY else mid + offset
            qty = rng.choice((100, 100, 100, 200, 300, 500, 1000))
            k = rng.random()
            display = post_only = None
            if k < mix.iceberg:
                display = 100
            elif k < mix.iceberg + mix.hidden:
                display = 0
            elif k < mix.iceberg + mix.hidden + mix.post_only:
                post_only = True
            ev = (SUBMIT, oid, side, qty, price, DAY, False, bool(post_only), display)
            res = book.submit(oid, "u", side, qty, price, DAY, post_only=bool(post_only),
                              display_qty=display)
            settle(res.trades, oid, res.rested is not None)
        elif r < cut_cancel:
            oid = live[rng.randrange(len(live))]
            ev = (CANCEL, oid)
            book.cancel(oid)
            forget(oid)
        elif r < cut_marketable:
            oid = f"M{next_id}"
            next_id += 1
            side = BUY if rng.random() < 0.5 else SELL
            qty = rng.choice((100, 200, 300, 500, 1000, 2000))
            m = rng.random()
            fok = m < mix.fok
            price = None if m > 0.8 else (mid + 3 if side is BUY else mid - 3)
            ev = (SUBMIT, oid, side, qty, price, IOC, fok, False, None)
            res = book.submit(oid, "t", side, qty, price, IOC, all_or_none=fok)
            settle(res.trades, oid, False)
        else:
            oid = live[rng.randrange(len(live))]
            order = book.get(oid)
            assert order is not None
            if rng.random() < 0.5:  # quantity down in place, keeps priority
                new_qty = max(order.cum + 1, order.qty - 100)
                new_price = order.price
            else:  # re-price by a tick, loses priority (may cross)
                new_qty = order.qty
                step = rng.choice((-1, 1))
                new_price = order.price + step
            ev = (REPLACE, oid, new_qty, new_price)
            res = book.replace(oid, new_qty, new_price)
            assert res is not None
            settle(res.trades, oid, res.rested is not None)
        events.append(ev)
    return events


def run(events: list[tuple]) -> tuple[float, int, OrderBook]:
    """Replay ``events`` into a fresh book: (seconds, trades, book)."""
    book = OrderBook("BENCH")
    submit, cancel, replace = book.submit, book.cancel, book.replace
    trades = 0
    start = time.perf_counter()
    for ev in events:
        kind = ev[0]
        if kind == SUBMIT:
            _, oid, side, qty, price, tif, aon, post_only, display = ev
            trades += len(
                submit(oid, "u", side, qty, price, tif, all_or_none=aon, post_only=post_only,
                       display_qty=display).trades
            )
        elif kind == CANCEL:
            cancel(ev[1])
        else:
            trades += len(replace(ev[1], ev[2], ev[3]).trades)
    return time.perf_counter() - start, trades, book


def measure(events: int, seed: int, repeats: int) -> dict:
    t0 = time.perf_counter()
    stream = generate(events, seed)
    generated = time.perf_counter() - t0
    counts = {"submit": 0, "cancel": 0, "replace": 0}
    for ev in stream:
        counts[("submit", "cancel", "replace")[ev[0]]] += 1
    rates: list[float] = []
    trades = 0
    book = OrderBook("BENCH")
    for _ in range(repeats):
        gc.collect()
        seconds, trades, book = run(stream)
        rates.append(len(stream) / seconds)
    bids, asks = book.depth(10**9)
    return {
        "events": len(stream),
        "seed": seed,
        "repeats": repeats,
        "event_counts": counts,
        "events_per_second_median": statistics.median(rates),
        "events_per_second_best": max(rates),
        "events_per_second_all": rates,
        "trades": trades,
        "book_orders_at_end": len(book),
        "book_levels_at_end": {"bids": len(bids), "asks": len(asks)},
        "generate_seconds": generated,
        "target_events_per_second": TARGET_EVENTS_PER_SECOND,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events per replay")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the event mix")
    parser.add_argument("--repeats", type=int, default=5, help="timed replays")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write figures here")
    args = parser.parse_args(argv)
    if args.events <= 0 or args.repeats <= 0:
        parser.error("--events and --repeats must be positive")
    r = measure(args.events, args.seed, args.repeats)
    c = r["event_counts"]
    rows = [
        ("events per replay", f"{r['events']:,} (submit {c['submit']:,}, cancel "
                              f"{c['cancel']:,}, replace {c['replace']:,})"),
        ("seed / repeats", f"{r['seed']} / {r['repeats']}"),
        ("events/s median", f"{r['events_per_second_median']:,.0f}"),
        ("events/s best", f"{r['events_per_second_best']:,.0f}"),
        ("target", f"{TARGET_EVENTS_PER_SECOND:,} events/s: "
                   + ("met" if r["events_per_second_median"] >= TARGET_EVENTS_PER_SECOND
                      else "NOT met")),
        ("trades per replay", f"{r['trades']:,}"),
        ("book at end", f"{r['book_orders_at_end']:,} orders, "
                        f"{r['book_levels_at_end']['bids']} bid / "
                        f"{r['book_levels_at_end']['asks']} ask displayed levels"),
        ("python", f"{r['python']} ({r['machine']})"),
    ]
    width = max(len(k) for k, _ in rows)
    print("OrderBook benchmark")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(r, indent=2) + "\n")
        print(f"  figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
