"""Each routing strategy selected with TargetStrategy (847), through FIX, against the
simulated market (AAPL offers: XNAS 190.01 x300 / 190.02 x500, ARCX 190.02 x500 /
190.03 x600, BATX 190.02 x1000)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sor_daemon.core.domain import OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.core.routing.registry import STRATEGIES
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", sorted(STRATEGIES))
async def test_strategy_fills_within_the_limit(stack: Stack, name: str):
    code = STRATEGIES[name].code
    order = stack.oms.new_order("AAPL", Side.BUY, 1500, OrdType.LIMIT, Decimal("190.03"),
                                TimeInForce.IOC, target_strategy=code)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 10)
    assert order.status in (OrdStatus.FILLED, OrdStatus.CANCELED)
    assert 0 < order.cum_qty <= 1500
    assert all(px <= Decimal("190.03") for _, px, _ in order.fills)
    assert sum(q for q, _, _ in order.fills) == order.cum_qty
    parent = stack.daemon.engine.parent(stack.session, order.cl_ord_id)
    assert parent is not None and parent.strategy == name


async def test_sweep_sends_simultaneous_children_across_venues(stack: Stack):
    order = stack.oms.new_order("AAPL", Side.BUY, 1500, OrdType.LIMIT, Decimal("190.02"),
                                TimeInForce.IOC, target_strategy=STRATEGIES["sweep"].code)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 10)
    assert order.status is OrdStatus.FILLED
    parent = stack.daemon.engine.parent(stack.session, order.cl_ord_id)
    first_wave = {c.venue for c in parent.children.values() if c.sent_ns == parent.created_ns}
    assert len(first_wave) >= 2, "one decision, several venues"
    prices = sorted(px for _, px, _ in order.fills)
    assert prices[0] == Decimal("190.01") and prices[-1] == Decimal("190.02")


async def test_dark_first_pings_pools_at_their_minimum_and_learns(stack: Stack):
    dark = {v.name: v.min_qty for v in stack.config.venues if v.kind == "dark"}
    for i in range(5):
        order = stack.oms.new_order("AAPL", Side.BUY if i % 2 else Side.SELL, 2000,
                                    OrdType.LIMIT, Decimal("190.05") if i % 2 else
                                    Decimal("189.95"), TimeInForce.IOC,
                                    target_strategy=STRATEGIES["dark-first"].code)
        assert await stack.oms.wait_for(lambda order=order: order.is_terminal, 10)
        assert order.status is OrdStatus.FILLED  # the lit sweep completes what dark missed
        parent = stack.daemon.engine.parent(stack.session, order.cl_ord_id)
        pinged = [c for c in parent.children.values() if c.venue in dark]
        assert pinged, "dark pools are tried first"
        assert all(c.qty >= dark[c.venue] for c in pinged)
        for _, px, venue in order.fills:
            if venue in dark:
                assert px == Decimal("190.005")  # the NBBO midpoint
    allocator = stack.daemon.engine.context.dark
    assert allocator is not None
    assert sum(allocator.estimator(pool).observations for pool in dark) >= 5


async def test_optimal_placement_takes_part_rests_the_rest_and_cancels(stack: Stack):
    order = stack.oms.new_order("AAPL", Side.BUY, 3000, OrdType.LIMIT, Decimal("190.05"),
                                TimeInForce.DAY,
                                target_strategy=STRATEGIES["optimal-placement"].code)
    assert await stack.oms.wait_for(lambda: order.status is not OrdStatus.PENDING_NEW, 10)
    parent = stack.daemon.engine.parent(stack.session, order.cl_ord_id)
    resting = [c for c in parent.children.values() if c.tif is TimeInForce.DAY]
    assert resting, "passive legs rest at the best bids"
    assert sum(c.qty for c in parent.children.values()) <= 3000
    stack.oms.cancel(order)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 10)
    assert order.status in (OrdStatus.CANCELED, OrdStatus.FILLED)
    assert all(c.is_terminal for c in parent.children.values())
