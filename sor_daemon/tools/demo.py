"""`sor-daemon demo`: simulated venues + the daemon as processes, and a demo order flow.

The flow is what an OMS might send in a busy minute: marketable IOC and Day limits,
market orders, passive limits that are later cancelled or replaced, and a few orders
that must be refused. Fills are printed as they arrive; the summary compares average
prices with the arrival mid the router reports (BenchmarkPrice, 662).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import sys
import tempfile
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sor_daemon.config import SorConfig, load_market, market_path
from sor_daemon.core.analytics.tca import slippage_bps
from sor_daemon.core.domain import ExecType, OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.core.messages import CancelReject, ExecutionReport, NewOrderFields
from sor_daemon.tools.oms_client import OmsClient, OmsOrder, describe
from sor_sim.config import MarketConfig

QTYS = (100, 200, 300, 500, 800, 1200, 2000)
CENT = Decimal("0.01")


def load_flow_market(config_path: str, config: SorConfig) -> MarketConfig:
    location = market_path(config, config_path)
    if location is None:
        raise SystemExit("the demo flow needs a [sim] market for reference prices")
    return load_market(location, config)


@dataclass
class Summary:
    orders: list[OmsOrder] = field(default_factory=list)
    rejected_on_purpose: list[str] = field(default_factory=list)
    cancels: int = 0
    replaces: int = 0

    def render(self) -> str:
        orders = self.orders
        lines = ["", "=== summary ==="]
        by_status: dict[str, int] = defaultdict(int)
        for order in orders:
            by_status[order.status.name.lower()] += 1
        lines.append(f"orders sent:     {len(orders)} + {len(self.rejected_on_purpose)} bad "
                     f"orders (all rejected: {', '.join(self.rejected_on_purpose)})")
        lines.append(f"final states:    {dict(sorted(by_status.items()))}")
        lines.append(f"cancels sent:    {self.cancels}   replaces sent: {self.replaces}")
        fills = [f for o in orders for f in o.fills]
        venues: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for qty, _, venue in fills:
            venues[venue][0] += 1
            venues[venue][1] += qty
        lines.append(f"filled:          {sum(q for q, _, _ in fills)} shares in {len(fills)} "
                     "fills; " + ", ".join(f"{v}: {n} fills / {q} sh"
                                           for v, (n, q) in sorted(venues.items())))
        lines.append("")
        lines.append(f"{'symbol':<7}{'side':<6}{'orders':>7}{'filled':>9}{'avg px':>12}"
                     f"{'arrival mid':>13}{'slippage bps':>14}")
        groups: dict[tuple[str, Side], list[OmsOrder]] = defaultdict(list)
        for order in orders:
            if order.cum_qty and order.arrival_mid is not None:
                groups[(order.symbol, order.side)].append(order)
        total_cost = 0.0
        total_notional = 0.0
        for (symbol, side), group in sorted(groups.items(), key=lambda kv: (kv[0][0],
                                                                            kv[0][1].value)):
            qty = sum(o.cum_qty for o in group)
            notional = sum(o.avg_px * o.cum_qty for o in group)
            arrival = sum(o.arrival_mid * o.cum_qty for o in group) / qty  # type: ignore
            avg = notional / qty
            bps = slippage_bps(side, avg, arrival)
            total_cost += bps * float(notional)
            total_notional += float(notional)
            lines.append(f"{symbol:<7}{side.name.lower():<6}{len(group):>7}{qty:>9}"
                         f"{avg:>12.4f}{arrival:>13.4f}{bps:>14.2f}")
        if total_notional:
            lines.append(f"notional-weighted slippage vs arrival mid: "
                         f"{total_cost / total_notional:.2f} bps (positive = cost; crossing "
                         "the spread costs half of it)")
        return "\n".join(lines)


def _bad_orders(config: SorConfig) -> list[tuple[str, NewOrderFields]]:
    symbol = next(iter(config.symbols))
    return [
        ("unknown symbol", NewOrderFields("", "ZZZZ", "1", "100", "2", "10.00")),
        ("zero quantity", NewOrderFields("", symbol, "1", "0", "2", "10.00")),
        ("price off tick", NewOrderFields("", symbol, "2", "100", "2", "10.001")),
    ]


async def run_flow(client: OmsClient, config: SorConfig, market: MarketConfig, count: int,
                   seed: int, verbose: bool = True) -> Summary:
    from sor_daemon.fix import codec

    rng = random.Random(seed)
    summary = Summary()
    symbols = list(config.symbols)
    for label, fields in _bad_orders(config):
        cl_ord_id = client.next_id()
        client.orders[cl_ord_id] = OmsOrder(cl_ord_id, fields.symbol or "", Side.BUY, 0,
                                            OrdType.LIMIT, None, TimeInForce.DAY,
                                            current=cl_ord_id)
        pairs = [(11, cl_ord_id), (21, "1"), (55, fields.symbol or ""), (54, fields.side or ""),
                 (60, codec.utc_timestamp()), (38, fields.order_qty or ""),
                 (40, fields.ord_type or ""), (44, fields.price or "")]
        client.send_raw("D", pairs)
        summary.rejected_on_purpose.append(label)
    resting: list[OmsOrder] = []
    for i in range(count):
        symbol = rng.choice(symbols)
        ref = market.symbols[symbol].reference_price
        tick = config.symbols[symbol].tick_size
        side = rng.choice((Side.BUY, Side.SELL))
        qty = rng.choice(QTYS)
        kind = rng.random()
        if kind < 0.40:  # marketable IOC limit, 1-4 ticks through the reference
            price = ref + side.sign * tick * rng.randint(1, 4)
            order = client.new_order(symbol, side, qty, OrdType.LIMIT, price, TimeInForce.IOC)
        elif kind < 0.55:  # market order
            order = client.new_order(symbol, side, qty, OrdType.MARKET, None)
        elif kind < 0.80:  # passive Day limit: rests, later cancelled or replaced
            price = ref - side.sign * tick * rng.randint(3, 8)
            order = client.new_order(symbol, side, qty, OrdType.LIMIT, price, TimeInForce.DAY)
            resting.append(order)
        else:  # marketable Day limit: sweeps, rests any remainder
            price = ref + side.sign * tick * rng.randint(1, 3)
            order = client.new_order(symbol, side, qty, OrdType.LIMIT, price, TimeInForce.DAY)
            resting.append(order)
        summary.orders.append(order)
        await asyncio.sleep(0.004)
        if i % 10 == 9 and resting:
            await _amend(client, rng, resting.pop(rng.randrange(len(resting))), config, market,
                         summary)
    await client.wait_for(lambda: all(o.status is not OrdStatus.PENDING_NEW
                                      for o in summary.orders), 10)
    await _cancel_what_works(client, summary)
    return summary


PENDING = frozenset({OrdStatus.PENDING_NEW, OrdStatus.PENDING_CANCEL, OrdStatus.PENDING_REPLACE})


async def _cancel_what_works(client: OmsClient, summary: Summary, timeout: float = 20.0) -> None:
    """Whatever still works at the end is cancelled, as a desk would at the close: once
    each, as soon as it is not waiting for an answer (an order being replaced is cancelled
    when the replace is done)."""
    asked: set[str] = set()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for order in summary.orders:
            if (not order.is_terminal and order.status not in PENDING
                    and order.cl_ord_id not in asked):
                asked.add(order.cl_ord_id)
                client.cancel(order)
                summary.cancels += 1
        left = deadline - asyncio.get_running_loop().time()
        if await client.wait_for(lambda: all(o.is_terminal for o in summary.orders),
                                 min(0.2, max(left, 0))) or left <= 0:
            return


async def _amend(client: OmsClient, rng: random.Random, order: OmsOrder, config: SorConfig,
                 market: MarketConfig, summary: Summary) -> None:
    await client.wait_for(lambda: order.status is not OrdStatus.PENDING_NEW, 2)
    if order.is_terminal or order.status in (OrdStatus.PENDING_CANCEL,
                                             OrdStatus.PENDING_REPLACE):
        return
    if rng.random() < 0.5:
        client.cancel(order)
        summary.cancels += 1
        return
    tick = config.symbols[order.symbol].tick_size
    ref = market.symbols[order.symbol].reference_price
    # Reprice through the touch (it fills) or resize (it keeps resting).
    if rng.random() < 0.5:
        client.replace(order, price=ref + order.side.sign * tick * 2)
    else:
        client.replace(order, qty=max(order.cum_qty + 100, order.qty // 2))
    summary.replaces += 1


def _show_price(price: Decimal) -> Decimal:
    """At least two decimals: 190 reads as 190.00, 190.005 stays as it is."""
    return price if price.as_tuple().exponent <= -2 else price.quantize(CENT)


def _printer(verbose: bool):
    def show(order: OmsOrder | None, message: ExecutionReport | CancelReject) -> None:
        if isinstance(message, CancelReject):
            if verbose:
                print(f"  cancel-reject {describe(message)}", flush=True)
            return
        if message.exec_type is ExecType.TRADE and verbose:
            side = message.side.name.lower() if isinstance(message.side, Side) else message.side
            print(f"  fill   {message.symbol:<5} {side:<4} {message.last_qty:>5} @ "
                  f"{_show_price(message.last_px or Decimal(0))} on {message.last_mkt:<5} "
                  f"order {message.cl_ord_id} "
                  f"{message.cum_qty}/{message.order_qty}", flush=True)
        elif message.exec_type is ExecType.REJECTED:
            print(f"  reject {message.cl_ord_id}: {message.text}", flush=True)
    return show


async def wait_ready(config: SorConfig, procs: list[asyncio.subprocess.Process],
                      timeout: float = 60.0) -> None:
    url = f"http://{config.metrics.host}:{config.metrics.port}/metrics"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pattern = re.compile(r'^sor_fix_session_up\{counterparty="(\w+)"\} 1\.0$', re.M)
    while loop.time() < deadline:
        if any(p.returncode is not None for p in procs):
            raise RuntimeError("a demo process exited early; see its log")
        with contextlib.suppress(OSError):
            text = await asyncio.to_thread(
                lambda: urllib.request.urlopen(url, timeout=1).read().decode())
            if {v.name for v in config.venues} <= set(pattern.findall(text)):
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("the daemon did not connect to every venue in time")


async def stop_process(proc: asyncio.subprocess.Process, timeout: float = 20.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``; its exit code."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode if proc.returncode is not None else -1


async def run_demo(config_path: Path, config: SorConfig, market: MarketConfig, orders: int,
                   seed: int, stop: asyncio.Event, verbose: bool = True,
                   market_path: str | None = None) -> int:
    logs = Path(tempfile.mkdtemp(prefix="sor-demo-"))
    print(f"sor-daemon demo: simulated venues {', '.join(v.name for v in config.venues)}, "
          f"daemon on OMS port {config.oms.port}, metrics on "
          f"http://{config.metrics.host}:{config.metrics.port}/metrics", flush=True)
    print(f"logs (JSON lines): {logs}/sim.log, {logs}/daemon.log", flush=True)
    base = [sys.executable, "-m", "sor_daemon"]
    procs: list[asyncio.subprocess.Process] = []
    with (logs / "sim.log").open("wb") as sim_log, (logs / "daemon.log").open("wb") as d_log:
        market_args = ["--market", market_path] if market_path else []
        sim = await asyncio.create_subprocess_exec(*base, "sim", "--config", str(config_path),
                                                   *market_args,
                                                   stdin=asyncio.subprocess.DEVNULL,
                                                   stdout=sim_log, stderr=sim_log)
        procs.append(sim)
        daemon = await asyncio.create_subprocess_exec(*base, "run", "--config",
                                                      str(config_path),
                                                      stdin=asyncio.subprocess.DEVNULL,
                                                      stdout=d_log, stderr=d_log)
        procs.append(daemon)
        client = OmsClient.for_config(config, listener=_printer(verbose))
        summary: Summary | None = None
        try:
            await wait_ready(config, procs)
            print("daemon connected to every venue; logging on as the OMS", flush=True)
            if not await client.start():
                raise RuntimeError("the OMS client could not log on")
            flow = asyncio.ensure_future(run_flow(client, config, market, orders, seed,
                                                  verbose))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({flow, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if flow.done():
                summary = flow.result()
            else:
                flow.cancel()
                print("interrupted", flush=True)
        except RuntimeError as exc:
            print(f"demo failed: {exc}", file=sys.stderr)
        finally:
            await client.stop()
            daemon_rc = await stop_process(daemon)
            sim_rc = await stop_process(sim)
    if summary is not None:
        print(summary.render())
    print(f"\ndaemon exited {daemon_rc} (SIGTERM, sessions logged out), simulator exited "
          f"{sim_rc}; logs in {logs}")
    open_orders = [o for o in summary.orders if not o.is_terminal] if summary else []
    if summary is None or daemon_rc != 0 or open_orders:
        if open_orders:
            print(f"{len(open_orders)} orders did not reach a final state", file=sys.stderr)
        return 1
    return 0
