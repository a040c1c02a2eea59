"""Broker routes and passive-child expiry, through FIX against the simulated market (the
shipped config's broker BRKA reaches XNAS, ARCX, DARKA and DARKB for 0.001/share)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from sor_daemon.config import SorConfig
from sor_daemon.core.domain import ExecType, OrdRejReason, OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.core.messages import ExecutionReport, NewOrder
from sor_daemon.core.routing.registry import STRATEGIES
from sor_daemon.fix.endpoint import wait_until
from sor_daemon.fix.venue import FixVenueConnector
from sor_sim.runner import build_venues
from tests.conftest import default_config_data
from tests.integration.conftest import Stack, running_stack

pytestmark = pytest.mark.integration
DARK_FIRST = STRATEGIES["dark-first"].code


async def test_dark_pool_down_on_its_own_session_is_reached_through_the_broker(stack: Stack):
    daemon = stack.daemon
    [darka] = [v for v in stack.venues if v.name == "DARKA"]
    darka.set_down(True)  # refuses our session; BRKA still reaches the pool
    assert await wait_until(lambda: not daemon.connectors["DARKA"].up)
    assert daemon.engine.venues["DARKA"].up, "reachable through BRKA"
    order = stack.oms.new_order("AAPL", Side.BUY, 500, OrdType.LIMIT, Decimal("190.05"),
                                TimeInForce.IOC, ex_destination="DARKA", target_strategy=DARK_FIRST)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 10)
    parent = daemon.engine.parent(stack.session, order.cl_ord_id)
    [child] = parent.children.values()
    assert (child.venue, child.via) == ("DARKA", "BRKA")
    assert child.status in (OrdStatus.FILLED, OrdStatus.CANCELED), child.status
    assert all(venue == "DARKA" and px == Decimal("190.005") for _, px, venue in order.fills)
    # With its own session back, DARKA is reached directly again (no commission).
    darka.set_down(False)
    assert await wait_until(lambda: daemon.connectors["DARKA"].up, 10)
    again = stack.oms.new_order("AAPL", Side.BUY, 500, OrdType.LIMIT, Decimal("190.05"),
                                TimeInForce.IOC, ex_destination="DARKA", target_strategy=DARK_FIRST)
    assert await stack.oms.wait_for(lambda: again.is_terminal, 10)
    parent = daemon.engine.parent(stack.session, again.cl_ord_id)
    assert [c.via for c in parent.children.values()] == [None]


async def test_broker_refuses_a_venue_it_does_not_reach(stack: Stack):
    [broker] = [v for v in stack.venues if v.name == "BRKA"]
    assert "BATX" not in broker.venues
    # Straight to the broker's session, as a misconfigured route would send it.
    connector = stack.daemon.connectors["BRKA"]
    from sor_daemon.core.messages import NewOrder

    reports = []
    stack.daemon.venue_execution = lambda venue, report: reports.append((venue, report))
    assert connector.submit(NewOrder("BAD1", "AAPL", Side.BUY, 100, OrdType.LIMIT,
                                     Decimal("190.01"), TimeInForce.IOC, ex_destination="BATX"))
    assert await wait_until(lambda: reports, 5)
    venue, report = reports[0]
    assert venue == "BRKA" and report.ord_status is OrdStatus.REJECTED
    assert report.text == "BRKA does not reach 'BATX'; it reaches ARCX, DARKA, DARKB, XNAS"


async def test_a_broker_order_trading_with_one_on_the_venue_own_session_reaches_both(
        stack: Stack):
    """Each side of the trade hears of its fill on its own session (the venue's or the
    broker's), whichever arrived first; the venue's book moves for its subscribers."""
    daemon = stack.daemon
    seen: list[tuple[str, ExecutionReport]] = []
    daemon.venue_execution = lambda venue, report: seen.append((venue, report))

    def reported(session: str, cl_ord_id: str, exec_type: ExecType) -> bool:
        return any(s == session and r.cl_ord_id == cl_ord_id and r.exec_type is exec_type
                   for s, r in seen)

    def best_ask() -> Decimal | None:
        book = daemon.engine.market.venue_books("AAPL").get("XNAS")
        return book.asks[0].price if book is not None and book.asks else None

    inside = Decimal("190.00")  # inside XNAS's 189.99 x 190.01: only these two meet there
    direct, broker = daemon.connectors["XNAS"], daemon.connectors["BRKA"]

    async def trade(maker: FixVenueConnector, taker: FixVenueConnector) -> None:
        sell, buy = f"SELL-{maker.name}", f"BUY-{taker.name}"
        assert maker.submit(NewOrder(sell, "AAPL", Side.SELL, 100, OrdType.LIMIT, inside,
                                     TimeInForce.DAY,
                                     ex_destination="XNAS" if maker is broker else None))
        assert await wait_until(lambda: reported(maker.name, sell, ExecType.NEW), 5)
        assert await wait_until(lambda: best_ask() == inside, 5), "XNAS's book shows it"
        assert taker.submit(NewOrder(buy, "AAPL", Side.BUY, 100, OrdType.LIMIT, inside,
                                     TimeInForce.IOC,
                                     ex_destination="XNAS" if taker is broker else None))
        assert await wait_until(lambda: reported(taker.name, buy, ExecType.TRADE)
                                and reported(maker.name, sell, ExecType.TRADE), 5), seen
        assert await wait_until(lambda: best_ask() == Decimal("190.01"), 5)

    await trade(direct, broker)
    await trade(broker, direct)
    assert [v.undelivered for v in stack.venues] == [0] * len(stack.venues)


async def test_passive_children_are_withdrawn_after_their_time_to_live():
    data = default_config_data()
    data["routing"]["passive_child_ttl_ms"] = 300
    async with running_stack(config=SorConfig.model_validate(data)) as stack:
        order = stack.oms.new_order("AAPL", Side.BUY, 3000, OrdType.LIMIT, Decimal("190.05"),
                                    TimeInForce.DAY,
                                    target_strategy=STRATEGIES["optimal-placement"].code)
        parent = None

        def refreshed() -> bool:
            nonlocal parent
            parent = stack.daemon.engine.parent(stack.session, order.cl_ord_id)
            return parent is not None and any(
                c.cancel_ids and c.status is OrdStatus.CANCELED
                for c in parent.children.values() if c.tif is TimeInForce.DAY)

        assert await wait_until(refreshed, 10), "a resting child was withdrawn"
        assert not order.is_terminal, "the parent keeps working: the OMS saw no cancel"
        assert sum(c.leaves_qty for c in parent.children.values()) + parent.cum_qty <= 3000
        stack.oms.cancel(order)
        assert await stack.oms.wait_for(lambda: order.is_terminal, 10)


async def test_a_child_a_restarted_broker_forgot_ends_and_its_parent_can_be_cancelled():
    data = default_config_data()
    data["risk"]["breakers"]["market_data_loss"] = False  # no halt while every book is gone
    async with running_stack(config=SorConfig.model_validate(data)) as stack:
        daemon = stack.daemon
        [xnas] = [v for v in stack.venues if v.name == "XNAS"]
        xnas.set_down(True)  # XNAS only through BRKA
        assert await wait_until(lambda: not daemon.connectors["XNAS"].up)
        order = stack.oms.new_order("AAPL", Side.BUY, 400, OrdType.LIMIT, Decimal("189.50"),
                                    TimeInForce.DAY, ex_destination="XNAS")
        assert await stack.oms.wait_for(lambda: order.status is OrdStatus.NEW, 5)
        parent = daemon.engine.parent(stack.session, order.cl_ord_id)
        [child] = parent.children.values()
        assert (child.route, child.status) == ("BRKA>XNAS", OrdStatus.NEW)

        answers = []
        execution = daemon.venue_execution

        def seen(venue: str, report: ExecutionReport) -> None:
            answers.append((venue, report))
            execution(venue, report)

        daemon.venue_execution = seen
        # The simulated venues' process dies and comes back empty: BRKA forgets the child.
        await asyncio.gather(*(venue.stop() for venue in stack.venues))
        assert await wait_until(lambda: not daemon.connectors["BRKA"].up, 5)
        assert child.unknown
        stack.venues[:] = build_venues(stack.config, stack.market)
        for venue in stack.venues:
            await venue.start()

        assert await wait_until(lambda: child.is_terminal and not child.unknown, 15), \
            "the broker's answer to the status request ends the child"
        [status] = [r for venue, r in answers if venue == "BRKA"
                    and r.cl_ord_id == child.cl_ord_id]
        assert (status.exec_type, status.ord_status, status.ord_rej_reason) == (
            ExecType.ORDER_STATUS, OrdStatus.REJECTED, OrdRejReason.UNKNOWN_ORDER)
        assert child.status is OrdStatus.CANCELED
        assert await wait_until(lambda: len(parent.children) == 2, 10), "the 400 re-routed"
        assert not order.is_terminal and order.cum_qty == 0
        stack.oms.cancel(order)
        assert await stack.oms.wait_for(lambda: order.status is OrdStatus.CANCELED, 10), \
            order.reports[-1]
        assert all(c.is_terminal for c in parent.children.values())
