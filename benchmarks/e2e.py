"""End-to-end order latency through real FIX, with Prometheus metrics on and off.

The whole stack in one process on loopback (simulated venues, the daemon, an OMS client,
each its own quickfix engine): the OMS client sends a marketable IOC buy, the daemon routes
it to a venue, the venue fills it, the daemon reports to the OMS. The figure is the time
from the client handing the NewOrderSingle to quickfix to the client reading the parent's
first report, one order at a time (no queueing).

"Metrics off" turns every metric update into a no-op (prometheus_client's ``labels``,
``inc``, ``set`` and ``observe``); "on" is the daemon as shipped, with the endpoint scraped
every second as Prometheus would. The two alternate in rounds, in one run, so the machine's
noise falls on both alike.

    .venv/bin/python -m benchmarks.e2e [--orders N] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal

import uvloop
from prometheus_client.metrics import Counter, Gauge, Histogram, MetricWrapperBase

from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.service.logs import configure_logging
from sor_daemon.tools.oms_client import OmsOrder
from tests.integration.conftest import Stack, running_stack


@contextlib.contextmanager
def metrics_off() -> Iterator[None]:
    """Every metric update a no-op for the duration (restored after)."""
    saved = [(cls, name, cls.__dict__[name]) for cls, name in (
        (MetricWrapperBase, "labels"), (Counter, "inc"), (Gauge, "set"), (Gauge, "inc"),
        (Gauge, "dec"), (Histogram, "observe"))]
    MetricWrapperBase.labels = lambda self, *a, **k: self  # type: ignore[method-assign]
    for cls, name, _ in saved[1:]:
        setattr(cls, name, lambda self, *a, **k: None)
    try:
        yield
    finally:
        for cls, name, original in saved:
            setattr(cls, name, original)


def scrape_every_second(port: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()


async def batch(stack: Stack, orders: int, acked: dict[str, int]) -> list[float]:
    """Seconds from send to first report, for ``orders`` orders sent one at a time."""
    latencies = []
    for i in range(orders):
        symbol = ("AAPL", "MSFT", "SPY")[i % 3]
        price = {"AAPL": Decimal("190.10"), "MSFT": Decimal("415.10"),
                 "SPY": Decimal("560.10")}[symbol]
        sent = time.perf_counter_ns()
        order = stack.oms.new_order(symbol, Side.BUY, 100, OrdType.LIMIT, price,
                                    TimeInForce.IOC)
        if not await stack.oms.wait_for(lambda o=order: o.is_terminal, 10):
            raise RuntimeError(f"order {order.cl_ord_id} got no final report")
        latencies.append((acked[order.cl_ord_id] - sent) / 1e9)
    return latencies


async def main(orders: int, rounds: int) -> None:
    with open(os.devnull, "wb") as devnull:
        configure_logging("info", devnull)  # JSON lines, as shipped; not shown
        results = await measure(orders, rounds)
    report(results, orders, rounds)


async def measure(orders: int, rounds: int) -> dict[str, list[float]]:
    acked: dict[str, int] = {}

    def first_report(order: OmsOrder | None, message: object) -> None:
        if order is not None:
            acked.setdefault(order.cl_ord_id, time.perf_counter_ns())

    async with running_stack() as stack:
        stack.oms._listener = first_report
        port = stack.config.metrics.port
        await batch(stack, 100, acked)  # warm up both paths
        with metrics_off():
            await batch(stack, 100, acked)
        results: dict[str, list[float]] = {"on": [], "off": []}
        for r in range(rounds):
            for mode in (("on", "off") if r % 2 == 0 else ("off", "on")):
                if mode == "off":
                    with metrics_off():
                        results["off"] += await batch(stack, orders, acked)
                    continue
                stop = threading.Event()
                scraper = threading.Thread(target=scrape_every_second, args=(port, stop))
                scraper.start()
                try:
                    results["on"] += await batch(stack, orders, acked)
                finally:
                    stop.set()
                    scraper.join()
    return results


def report(results: dict[str, list[float]], orders: int, rounds: int) -> None:
    print(f"end-to-end order latency (send -> first report), {platform.python_version()}, "
          f"{rounds} rounds x {orders} orders per mode, interleaved")
    quantiles = {}
    for mode, values in results.items():
        values.sort()
        q = quantiles[mode] = {p: values[int(p / 100 * (len(values) - 1))] * 1e6
                               for p in (50, 90, 99)}
        print(f"  metrics {mode:<3}  p50 {q[50]:8.1f} us  p90 {q[90]:8.1f} us  "
              f"p99 {q[99]:8.1f} us  mean {statistics.fmean(values) * 1e6:8.1f} us")
    for p in (50, 90, 99):
        print(f"  on / off at p{p}: {quantiles['on'][p] / quantiles['off'][p]:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200, help="orders per round and mode")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    uvloop.run(main(args.orders, args.rounds))
