"""Every legal transition is accepted and every other one refused, for both tables."""

from decimal import Decimal
from itertools import product

import pytest

from sor_daemon.core.domain import TERMINAL_STATUSES, OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.core.orders import (
    CHILD_TRANSITIONS,
    PARENT_TRANSITIONS,
    ChildOrder,
    IllegalTransition,
    ParentOrder,
)


def parent(status: OrdStatus) -> ParentOrder:
    return ParentOrder(session="s", cl_ord_id="P1", order_id="O1", symbol="AAPL",
                       side=Side.BUY, ord_type=OrdType.LIMIT, price=Decimal("10"),
                       tif=TimeInForce.DAY, qty=100, strategy="best-price", pinned_venue=None,
                       created_ns=0, status=status)


def child(status: OrdStatus) -> ChildOrder:
    return ChildOrder(cl_ord_id="C1", parent=parent(OrdStatus.NEW), venue="XNAS", symbol="AAPL",
                      side=Side.BUY, ord_type=OrdType.LIMIT, price=Decimal("10"),
                      tif=TimeInForce.IOC, qty=100, sent_ns=0, status=status)


@pytest.mark.parametrize(("make", "table"), [(parent, PARENT_TRANSITIONS),
                                             (child, CHILD_TRANSITIONS)])
def test_table_covers_every_status(make, table):
    assert set(table) == set(OrdStatus) - {OrdStatus.REPLACED}


@pytest.mark.parametrize(("make", "table"), [(parent, PARENT_TRANSITIONS),
                                             (child, CHILD_TRANSITIONS)])
def test_every_pair_is_accepted_exactly_when_listed(make, table):
    legal = illegal = 0
    for source, target in product(table, OrdStatus):
        order = make(source)
        if target in table[source]:
            order.transition(target)
            assert order.status is target
            legal += 1
        else:
            with pytest.raises(IllegalTransition):
                order.transition(target)
            assert order.status is source, "a refused transition must not change the state"
            illegal += 1
    assert legal > 20 and illegal > 50


def test_terminal_states_are_final():
    for status in TERMINAL_STATUSES:
        assert PARENT_TRANSITIONS[status] == frozenset()
        assert CHILD_TRANSITIONS[status] == frozenset()


def test_quantities_follow_state():
    p = parent(OrdStatus.NEW)
    p.cum_qty, p.notional = 40, Decimal("400.4")
    assert p.leaves_qty == 60 and p.avg_px == Decimal("10.01")
    assert p.working_status is OrdStatus.PARTIALLY_FILLED
    p.transition(OrdStatus.CANCELED)
    assert p.leaves_qty == 0
