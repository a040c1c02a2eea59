"""Completed orders leave the daemon's memory, over real FIX on loopback: the engine keeps
only the last `routing.completed_orders_kept`, the daemon and the monitor nothing per
order once it has ended, and markouts are taken on time though the book never moves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sor_daemon.config import SorConfig
from sor_daemon.core.domain import ExecType, OrdRejReason, OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.fix.endpoint import wait_until
from sor_daemon.tools.oms_client import OmsOrder
from tests.conftest import default_config_data
from tests.integration.conftest import Stack, running_stack

pytestmark = pytest.mark.integration


async def filled(stack: Stack) -> OmsOrder:
    order = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("190.05"),
                                TimeInForce.IOC)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
    assert order.status is OrdStatus.FILLED
    return order


async def test_completed_orders_leave_the_daemon_but_the_last_few():
    data = default_config_data()
    data["routing"]["completed_orders_kept"] = 3
    async with running_stack(config=SorConfig.model_validate(data)) as stack:
        orders = [await filled(stack) for _ in range(8)]
        daemon, engine = stack.daemon, stack.daemon.engine
        assert (len(engine._orders), len(engine._children), len(engine._retired)) == (3, 3, 3)
        assert not daemon.observers.awaiting_ack and not daemon.monitor._parents
        # The book did not move (the sim refills what was taken): the timer takes the 1 s
        # markouts all the same.
        one_second = daemon.monitor._pending[("AAPL", "1s")]
        assert await wait_until(lambda: not one_second, 3)

        recent, forgotten = orders[-1], orders[0]
        stack.oms.status(recent)
        assert await stack.oms.wait_for(
            lambda: recent.reports[-1].exec_type is ExecType.ORDER_STATUS, 5)
        assert recent.reports[-1].ord_status is OrdStatus.FILLED
        stack.oms.status(forgotten)
        assert await stack.oms.wait_for(
            lambda: forgotten.reports[-1].exec_type is ExecType.ORDER_STATUS, 5)
        assert forgotten.reports[-1].ord_rej_reason is OrdRejReason.UNKNOWN_ORDER
