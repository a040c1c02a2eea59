"""Venue failover, OMS disconnects and graceful shutdown through real FIX sessions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sor_daemon.config import SorConfig
from sor_daemon.core.domain import OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.fix.endpoint import wait_until
from sor_daemon.service.daemon import Daemon
from tests.conftest import default_config_data
from tests.integration.conftest import Stack, running_stack

pytestmark = pytest.mark.integration


def config_with(**changes) -> SorConfig:
    data = default_config_data()
    for path, value in changes.items():
        section, key = path.split("__")
        data[section][key] = value
    return SorConfig.model_validate(data)


async def resting(stack: Stack, qty: int = 500):
    """A Day buy below the market, acknowledged: its one child rests at a lit venue."""
    order = stack.oms.new_order("AAPL", Side.BUY, qty, OrdType.LIMIT, Decimal("189.50"),
                                TimeInForce.DAY)
    assert await stack.oms.wait_for(lambda: order.status is OrdStatus.NEW, 5)
    parent = stack.daemon.engine.parent(stack.session, order.cl_ord_id)
    [child] = parent.children.values()
    return order, parent, child


def venue(stack: Stack, name: str):
    return next(v for v in stack.venues if v.name == name)


async def test_a_venue_that_drops_leaves_its_child_unknown_until_it_says_it_still_works():
    async with running_stack() as stack:
        order, parent, child = await resting(stack)
        sim = venue(stack, child.venue)
        sim.set_down(True)
        connector = stack.daemon.connectors[child.venue]
        assert await wait_until(lambda: not connector.up, 5)
        assert child.unknown and not child.is_terminal
        assert parent.working_qty == 500 and len(parent.children) == 1, "nothing re-sent"
        sim.set_down(False)
        assert await wait_until(lambda: connector.up and not child.unknown, 10)
        assert child.status is OrdStatus.NEW and len(parent.children) == 1
        stack.oms.cancel(order)
        assert await stack.oms.wait_for(lambda: order.status is OrdStatus.CANCELED, 5)


async def test_cancel_on_disconnect_routes_the_residual_elsewhere_and_never_overfills():
    data = default_config_data()
    for v in data["venues"]:
        v["cancel_on_disconnect"] = True
    async with running_stack(config=SorConfig.model_validate(data)) as stack:
        order, parent, child = await resting(stack)
        venue(stack, child.venue).set_down(True)
        assert await wait_until(lambda: len(parent.children) == 2, 5)
        first, second = parent.children.values()
        assert first.status is OrdStatus.CANCELED and second.venue != first.venue
        assert parent.working_qty == 500
        venue(stack, child.venue).set_down(False)
        assert await wait_until(lambda: not first.unknown, 10), "the venue confirms"
        stack.oms.cancel(order)
        assert await stack.oms.wait_for(lambda: order.status is OrdStatus.CANCELED, 5)
        assert order.cum_qty == 0


async def test_an_oms_that_drops_has_its_orders_cancelled_when_so_configured():
    config = config_with(oms__cancel_on_disconnect=True)
    async with running_stack(config=config) as stack:
        _, parent, child = await resting(stack)
        stack.oms.endpoint.logout_all("going away")
        assert await wait_until(lambda: parent.status is OrdStatus.CANCELED, 5)
        assert child.status is OrdStatus.CANCELED


async def test_sigterm_with_cancel_working_cancels_and_reports_before_logging_out():
    config = config_with(shutdown__cancel_working=True)
    async with running_stack(config=config) as stack:
        order, _, child = await resting(stack)
        await stack.daemon.stop()
        assert order.status is OrdStatus.CANCELED, "told before the session logged out"
        assert child.status is OrdStatus.CANCELED


async def test_sigterm_leaves_working_orders_working_by_default():
    async with running_stack() as stack:
        order, _, child = await resting(stack)
        reports = len(order.reports)
        await stack.daemon.stop()
        assert order.status is OrdStatus.NEW and child.status is OrdStatus.NEW
        assert len(order.reports) == reports, "the OMS was told nothing ended"


async def test_a_restart_takes_back_working_orders_the_kill_switch_and_what_routing_learned(
        tmp_path):
    data = default_config_data()
    data["journal"] = {"path": str(tmp_path / "journal.db"),
                       "session_dir": str(tmp_path / "fix-store")}
    config = SorConfig.model_validate(data)
    async with running_stack(config=config) as stack:
        order, parent, child = await resting(stack)
        stack.daemon.engine.context.child_done("XNAS", False, 100, 37, False)
        stack.daemon._execute(stack.daemon.engine.halt("MSFT", "test halt", "operator", 1))
        learned = stack.daemon.engine.context.score("XNAS").fill_rate
        await stack.daemon.stop()

        restarted = Daemon(config)
        await restarted.start()
        try:  # stopped here: two engines with the same sessions must never coexist
            again = restarted.engine.parent(stack.session, order.cl_ord_id)
            assert again is not None and again.order_id == parent.order_id
            assert [c.cl_ord_id for c in again.children.values()] == [child.cl_ord_id]
            assert "MSFT" in restarted.engine.kill_switch.halts
            assert restarted.engine.context.score("XNAS").fill_rate == learned
            # its venue is asked about it, says it still works: nothing is sent again
            assert await wait_until(lambda: not again.children[child.cl_ord_id].unknown, 15)
            assert again.children[child.cl_ord_id].status is OrdStatus.NEW
            assert len(again.children) == 1
        finally:
            await restarted.stop()


async def test_a_resent_order_the_daemon_has_taken_is_not_taken_twice():
    async with running_stack() as stack:
        order, parent, _ = await resting(stack, qty=300)
        resend = [(43, "Y"), (11, order.cl_ord_id), (55, "AAPL"), (54, "1"),
                  (60, "20261124-12:00:00.000000"), (38, "300"), (40, "2"), (44, "189.50")]
        before = len(order.reports)
        stack.oms.send_raw("D", resend)
        stack.oms.send_raw("D", [(t, "T2-NEW" if t == 11 else v) for t, v in resend])
        assert await stack.oms.wait_for(lambda: any(
            r.cl_ord_id == "T2-NEW" for r in stack.oms.unmatched), 5), \
            "a PossDup order never seen is taken (and acknowledged)"
        assert len(order.reports) == before, "the known one is neither rejected nor re-acked"
        assert stack.daemon.engine.parent(stack.session, order.cl_ord_id) is parent
        assert len(stack.daemon.engine.open_parents()) == 2


async def test_a_durable_session_refuses_a_message_for_a_session_it_does_not_have():
    async with running_stack() as stack:
        venue = stack.venues[0]
        assert venue.endpoint.store.persist_messages
        # as a broker's unroutable reply did: refused, never a KeyError that stops the
        # venue's outbound queue
        assert venue.endpoint.send("", "8", [(11, "X")]) is False
        assert venue.endpoint.send("FIX.4.4:NOBODY->SOR", "8", [(11, "X")]) is False
