"""Backtest/live parity: one order flow on a deterministic market, live (the simulated
venues and the daemon over FIX on 127.0.0.1) and in the routing lab (the same engine and
venues on a simulated clock); every parent gets the same children (route, quantity, price,
order type, time in force) with the same fills.

What parity requires, and so what this flow holds to:

- a market whose state does not depend on when things happen: the static default market
  (no price process, no background flow, instant refill) without the pools' adverse
  selection (it moves the price, which the quotes follow at the clock's next step, and
  steps fall at wall-clock times live);
- latencies as the live simulator applies them: nothing on the way in, the venue's
  acknowledgement latency on the way back;
- one parent at a time, each routed on the venues' current books (live, the next parent
  waits until the engine's books are the venues');
- parents one wave of children completes: a residual routed again once a wave ends sees
  whatever market data has arrived by then, and live the order of messages across
  sessions is not deterministic (so `round-robin`, which splits evenly whatever is
  displayed, is left out), and sizes within the displayed liquidity;
- strategies that do not weigh measured acknowledgement latency (`STATIC`): live it is
  wall-clock time with its jitter, in the lab the modelled latency; and no broker, as the
  choice between a direct route and a broker follows the same measurement.

Resting (Day) children differ for the same reason: their time to live, the miss holds and
the learned traded volume run on the wall clock live.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from sor_daemon.config import load_market
from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.core.messages import NewOrderFields
from sor_daemon.core.routing.registry import STRATEGIES
from sor_daemon.fix.endpoint import wait_until
from sor_daemon.tools.lab.world import MS, OMS, RouteLatency, World
from tests.conftest import DEFAULT_MARKET, default_config
from tests.integration.conftest import running_stack

pytestmark = pytest.mark.integration

SIZES = (200, 500, 800, 1200)
STATIC = ("best-price", "sweep", "dark-first")
"""Strategies whose decisions do not weigh measured acknowledgement latency."""
TOUCH = {"AAPL": Decimal("190.01"), "MSFT": Decimal("415.01"), "SPY": Decimal("560.01")}


def flow() -> list[tuple[str, Side, int, Decimal | None, str]]:
    """Market orders and IOC limits 1-2 ticks through the far touch, both sides, three
    symbols, each `STATIC` strategy."""
    out = []
    for i in range(28):
        symbol = ("AAPL", "MSFT", "SPY")[i % 3]
        side = Side.BUY if i % 2 == 0 else Side.SELL
        through = (1 + (i // 2) % 2) * Decimal("0.01")
        far = TOUCH[symbol] if side is Side.BUY else TOUCH[symbol] - Decimal("0.02")
        price = None if i % 4 == 3 else far + side.sign * through
        out.append((symbol, side, SIZES[i % len(SIZES)], price,
                    STATIC[i % len(STATIC)]))
    return out


def children(parent) -> list[tuple]:
    return [(c.route, c.qty, c.price, c.ord_type, c.tif, c.cum_qty)
            for c in parent.children.values()]


def settled(stack) -> bool:
    """Every lit venue's book in the engine is the venue's own."""
    engine, sim = stack.daemon.engine, stack.sim
    for symbol in stack.config.symbols:
        books = engine.market.venue_books(symbol)
        for name, exchange in sim.lit.items():
            book = books.get(name)
            depth = next(v.market_depth for v in stack.config.venues if v.name == name)
            bids, asks = exchange.depth(symbol, depth)
            if book is None or [(lv.price, lv.size) for lv in book.bids] != bids or [
                    (lv.price, lv.size) for lv in book.asks] != asks:
                return False
    return True


async def test_the_lab_routes_a_flow_exactly_as_the_live_daemon_does() -> None:
    live: list[list[tuple]] = []
    # No broker: whether a child goes direct or through a broker follows the measured
    # acknowledgement latency of each route, which is wall-clock time live.
    # No adverse selection in the pools: it moves the price, which the venues' quotes
    # follow at the next step of a clock, and steps come at wall-clock times live.
    config = default_config().model_copy(update={"brokers": []})
    market = load_market(DEFAULT_MARKET, config)
    market = market.model_copy(update={"dark": {
        name: pool.model_copy(update={"adverse_selection_bps": 0.0})
        for name, pool in market.dark.items()}})
    async with running_stack(market, config=config) as stack:
        config, market = stack.config, stack.market
        engine = stack.daemon.engine
        for symbol, side, qty, price, strategy in flow():
            order = stack.oms.new_order(
                symbol, side, qty, OrdType.MARKET if price is None else OrdType.LIMIT, price,
                TimeInForce.IOC, target_strategy=STRATEGIES[strategy].code)
            assert await stack.oms.wait_for(lambda order=order: order.is_terminal, 10)
            parent = engine.parent(stack.session, order.cl_ord_id)
            assert await wait_until(lambda parent=parent: parent.is_done, 10)
            live.append(children(parent))
            # The next parent is routed on the book the venues show, as in the lab (the
            # market data of this one's fills applied first).
            assert await wait_until(lambda: settled(stack), 10)

    latency = {v.name: RouteLatency(0, int(p.ack_latency_ms * MS), int(p.ack_latency_ms * MS))
               for v in config.venues
               for p in [market.dark.get(v.name) if v.kind == "dark" else market.venues.get(
                   v.name)] if p is not None}
    latency.update({b.name: RouteLatency(0, int(b.expected_latency_ms * MS), 0)
                    for b in config.brokers})
    world = World(config, market, list(config.symbols), latency)
    world.advance(50 * MS)
    lab: list[list[tuple]] = []
    for i, (symbol, side, qty, price, strategy) in enumerate(flow()):
        parent = world.new_parent(NewOrderFields(
            f"P{i}", symbol, side.value, str(qty), "1" if price is None else "2",
            None if price is None else str(price), "3",
            target_strategy=str(STRATEGIES[strategy].code)))
        assert parent is not None and parent.session == OMS
        for _ in range(100_000):
            if parent.is_done:
                break
            world.step_once()
        assert parent.is_done
        lab.append(children(parent))
        world.advance(world.now + 50 * MS)

    assert any(len(c) > 1 for c in live) and any(c[0] in ("DARKA", "DARKB")
                                                for p in live for c in p)
    for i, (flow_item, in_live, in_lab) in enumerate(zip(flow(), live, lab, strict=True)):
        assert in_lab == in_live, (i, flow_item, in_live, in_lab)
