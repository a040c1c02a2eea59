"""The simulated market over FIX: market data, outages, dark pools, venue rejects."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from sor_daemon.config import load_market
from sor_daemon.core.domain import ExecType, OrdType, Side, TimeInForce
from sor_daemon.core.market import VenueBook
from sor_daemon.core.messages import CancelOrder, CancelReject, ExecutionReport, NewOrder
from sor_daemon.fix.venue import FixVenueConnector
from tests.conftest import ROOT, default_config
from tests.integration.conftest import running_stack, wait_until

pytestmark = pytest.mark.integration
SCENARIOS = ROOT / "config" / "scenarios"


async def test_daemon_rebuilds_every_venue_book_from_w_and_x_under_background_flow():
    config = default_config()
    market = load_market(SCENARIOS / "volatile.toml", config)
    async with running_stack(market, clock=True) as stack:
        sim = stack.sim
        await asyncio.sleep(3.0)  # prices move, flow trades, books tick
        # Quiesce: the clock's next wait becomes very long, so nothing changes any more;
        # then let the last messages drain.
        sim.step_ns = 10**12
        await asyncio.sleep(0.5)
        for venue, exchange in sim.lit.items():
            for symbol in config.symbols:
                book = stack.daemon.engine.market.venue_books(symbol)[venue]
                depth = config.venue(venue).market_depth
                bids, asks = exchange.depth(symbol, depth)
                assert [(lv.price, lv.size) for lv in book.bids] == bids, (venue, symbol)
                assert [(lv.price, lv.size) for lv in book.asks] == asks, (venue, symbol)
        # Prices moved (a random walk can come back to its start: any symbol will do).
        assert any(sim.model.fundamental(s) != market.symbols[s].reference_price
                   for s in config.symbols)
        # The trades in the X messages reached the routing context (learned depletion).
        context = stack.daemon.engine.context
        assert sum(context.traded_so_far(v, s) for v in sim.lit for s in config.symbols) > 0


class Collector:
    """What a venue connector reports, for tests that talk to a venue directly."""

    def __init__(self) -> None:
        self.up = False
        self.reports: list[ExecutionReport] = []
        self.rejects: list[CancelReject] = []
        self.books: list[VenueBook] = []
        self.problems: list[tuple[str, str]] = []

    def venue_session(self, venue: str, up: bool) -> None:
        self.up = up

    def venue_execution(self, venue: str, report: ExecutionReport) -> None:
        self.reports.append(report)

    def venue_cancel_reject(self, venue: str, reject: CancelReject) -> None:
        self.rejects.append(reject)

    def venue_book(self, book: VenueBook) -> None:
        self.books.append(book)

    def venue_trades(self, venue: str, symbol: str, qty: int) -> None:
        pass

    def venue_problem(self, venue: str, problem: str, detail: str) -> None:
        self.problems.append((problem, detail))


async def test_dark_pool_over_fix_honours_min_qty_and_the_midpoint():
    config = default_config()
    market = load_market(SCENARIOS / "dark-heavy.toml", config).model_copy(
        update={"members": ["DESK2"]})
    async with running_stack(market, clock=True) as stack:
        # A second client of DARKA, beside the daemon: its own CompID and session.
        config = stack.config
        venue = config.venue("DARKA").model_copy(update={"sender_comp_id": "DESK2"})
        events = Collector()
        client = FixVenueConnector(venue, list(config.symbols), events)
        await client.start()
        try:
            assert await wait_until(lambda: events.up, 10)
            for i in range(40):
                client.submit(NewOrder(f"P{i}", "AAPL", Side.BUY if i % 2 else Side.SELL, 1000,
                                       OrdType.MARKET, None, TimeInForce.IOC, min_qty=400))
            assert await wait_until(lambda: sum(
                r.exec_type in (ExecType.CANCELED, ExecType.REJECTED)
                or (r.leaves_qty == 0 and r.exec_type is ExecType.TRADE)
                for r in events.reports) >= 40, 10)
            fills = [r for r in events.reports if r.exec_type is ExecType.TRADE]
            assert fills, "dark-heavy pools fill some pings"
            assert all(r.last_qty >= 400 for r in fills)
            assert all(r.commission is not None for r in fills)
            # Midpoint: on the half-tick grid, strictly inside the lit spread it came from.
            assert all((r.last_px * 200) % 1 == 0 for r in fills)
            # Dark pools publish nothing.
            assert not events.books
        finally:
            await client.stop()


async def test_lit_venue_rejects_bad_orders_over_fix():
    config = default_config()
    market = load_market(ROOT / "config" / "sim-market.toml", config).model_copy(
        update={"members": ["DESK3"]})
    async with running_stack(market) as stack:
        config = stack.config
        venue = config.venue("XNAS").model_copy(update={"sender_comp_id": "DESK3"})
        events = Collector()
        client = FixVenueConnector(venue, ["AAPL", "ZZZZ"], events)
        await client.start()
        try:
            assert await wait_until(lambda: events.up, 10)
            client.submit(NewOrder("B1", "AAPL", Side.BUY, 100, OrdType.LIMIT,
                                   Decimal("190.015"), TimeInForce.DAY))
            client.submit(NewOrder("B2", "AAPL", Side.BUY, 100, OrdType.LIMIT,
                                   Decimal("190.05"), TimeInForce.DAY, post_only=True))
            client.submit(NewOrder("B3", "ZZZZ", Side.BUY, 100, OrdType.LIMIT,
                                   Decimal("10.00"), TimeInForce.DAY))
            client.cancel(CancelOrder("X1", "NOPE", "AAPL", Side.BUY, 100))
            assert await wait_until(lambda: len(events.reports) >= 3 and events.rejects, 10)
            texts = {r.cl_ord_id: r.text for r in events.reports}
            assert "tick" in texts["B1"]
            assert "post-only" in texts["B2"]
            assert "unknown symbol" in texts["B3"]
            assert "unknown order" in events.rejects[0].text
            # The market data request named an unknown symbol: MarketDataRequestReject.
            assert await wait_until(lambda: events.problems, 5)
            assert events.problems[0][0] == "market_data_rejected"
        finally:
            await client.stop()


async def test_venue_outage_drops_the_session_and_the_daemon_reconnects():
    config = default_config()
    market = load_market(ROOT / "config" / "sim-market.toml", config).model_copy(
        update={"outages": load_market(SCENARIOS / "venue-outage.toml", config).outages})
    outage = market.outages[0].model_copy(update={"start_s": 1.0, "duration_s": 2.0})
    market = market.model_copy(update={"outages": [outage]})
    async with running_stack(market, clock=True) as stack:
        xnas = stack.daemon.connectors["XNAS"]
        assert await wait_until(lambda: not xnas.up, 5), "XNAS never went down"
        engine = stack.daemon.engine
        assert engine.context.routes.direct_up["XNAS"] is False
        assert "XNAS" not in engine.market.venue_books("AAPL"), "its book is dropped"
        # While XNAS is away (it quotes the best offer), orders go elsewhere.
        order = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("190.05"),
                                    TimeInForce.IOC)
        assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
        assert order.cum_qty == 100
        assert "XNAS" not in {venue for _, _, venue in order.fills}
        assert await wait_until(lambda: xnas.up, 10), "XNAS never came back"


async def test_acknowledgement_latency_delays_venue_replies_in_order():
    config = default_config()
    base = load_market(ROOT / "config" / "sim-market.toml", config)
    slow = base.venues["XNAS"].model_copy(update={"ack_latency_ms": 150.0})
    market = base.model_copy(update={"venues": {**base.venues, "XNAS": slow}})
    async with running_stack(market) as stack:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        order = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("190.05"),
                                    TimeInForce.IOC, ex_destination="XNAS")
        assert await stack.oms.wait_for(lambda: order.status.name != "PENDING_NEW", 5)
        # The daemon acknowledges only once the venue has: never before XNAS's delay.
        assert loop.time() - sent >= 0.15
        assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
        assert [r.exec_type for r in order.reports] == [ExecType.NEW, ExecType.TRADE]
