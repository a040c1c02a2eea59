"""OMS client -> daemon -> simulated venues and back, over real FIX on loopback.

The default simulated market quotes AAPL at XNAS 189.99 x 300 / 190.01 x 300 and at
ARCX 190.00 x 500 / 190.02 x 500, so the NBBO is 190.00 / 190.01 (mid 190.005).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from sor_daemon.config import SorConfig
from sor_daemon.core.domain import (
    CxlRejReason,
    ExecType,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)
from sor_daemon.fix import codec
from sor_daemon.tools.oms_client import OmsOrder
from tests.conftest import default_config_data
from tests.integration.conftest import Stack, assert_untouched, heard_by, running_stack

pytestmark = pytest.mark.integration

D = Decimal
IOC, DAY = TimeInForce.IOC, TimeInForce.DAY


def kinds(order: OmsOrder) -> list[tuple[ExecType, OrdStatus]]:
    return [(r.exec_type, r.ord_status) for r in order.reports]


async def resting_buy(stack: Stack, qty: int = 100, price: str = "189.90") -> OmsOrder:
    order = stack.oms.new_order("AAPL", Side.BUY, qty, OrdType.LIMIT, D(price), DAY)
    assert await stack.oms.wait_for(lambda: order.status is OrdStatus.NEW, 5)
    return order


async def test_marketable_order_is_filled_at_the_best_venue(stack: Stack):
    order = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, D("190.05"), IOC)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
    assert kinds(order) == [(ExecType.NEW, OrdStatus.NEW), (ExecType.TRADE, OrdStatus.FILLED)]
    trade = order.reports[-1]
    assert (trade.last_qty, trade.last_px, trade.last_mkt) == (100, D("190.01"), "XNAS")
    assert (trade.cum_qty, trade.leaves_qty, trade.avg_px) == (100, 0, D("190.01"))
    assert trade.benchmark_price == D("190.005")
    assert trade.order_id == order.reports[0].order_id != "NONE"


async def test_market_order_sweeps_venues_without_trading_through(stack: Stack):
    order = stack.oms.new_order("AAPL", Side.SELL, 700, OrdType.MARKET)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
    assert order.status is OrdStatus.FILLED
    prices = [px for _, px, _ in order.fills]
    # Best bid first (ARCX 190.00), then XNAS 189.99: never a worse price while a better
    # one was displayed.
    assert order.fills[0] == (500, D("190.00"), "ARCX")
    assert prices == sorted(prices, reverse=True)
    assert sum(q for q, _, _ in order.fills) == 700


async def test_partially_filled_ioc_cancels_the_rest(stack: Stack):
    order = stack.oms.new_order("AAPL", Side.BUY, 3000, OrdType.LIMIT, D("190.01"), IOC)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
    assert order.status is OrdStatus.CANCELED
    assert order.cum_qty == 300 and order.fills == [(300, D("190.01"), "XNAS")]
    last = order.reports[-1]
    assert (last.exec_type, last.leaves_qty, last.cum_qty) == (ExecType.CANCELED, 0, 300)
    assert "no more displayed liquidity" in last.text


async def test_cancel_of_a_resting_order(stack: Stack):
    order = await resting_buy(stack)
    cancel_id = stack.oms.cancel(order)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
    assert kinds(order) == [(ExecType.NEW, OrdStatus.NEW),
                            (ExecType.PENDING_CANCEL, OrdStatus.PENDING_CANCEL),
                            (ExecType.CANCELED, OrdStatus.CANCELED)]
    done = order.reports[-1]
    assert (done.cl_ord_id, done.orig_cl_ord_id, done.leaves_qty) == (cancel_id,
                                                                      order.cl_ord_id, 0)
    # The child left the venue's book too.
    assert (D("189.90"), 100) not in stack.sim.lit["ARCX"].depth("AAPL", 10)[0]


async def test_replace_price_and_quantity(stack: Stack):
    order = await resting_buy(stack, qty=200)
    first = stack.oms.replace(order, qty=150, price=D("189.95"))
    assert await stack.oms.wait_for(lambda: order.current == first, 5)
    replaced = next(r for r in order.reports if r.exec_type is ExecType.REPLACED)
    assert (replaced.cl_ord_id, replaced.orig_cl_ord_id, replaced.order_qty,
            replaced.price, replaced.ord_status) == (first, order.cl_ord_id, 150,
                                                     D("189.95"), OrdStatus.NEW)
    # Through the offer now: it fills on the new terms.
    second = stack.oms.replace(order, price=D("190.01"))
    assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
    assert order.current == second and order.status is OrdStatus.FILLED
    assert order.cum_qty == 150 and all(px == D("190.01") for _, px, _ in order.fills)


async def test_status_request(stack: Stack):
    order = await resting_buy(stack)
    stack.oms.status(order)
    assert await stack.oms.wait_for(
        lambda: order.reports[-1].exec_type is ExecType.ORDER_STATUS, 5)
    status = order.reports[-1]
    assert (status.ord_status, status.leaves_qty, status.order_qty) == (OrdStatus.NEW, 100,
                                                                        100)
    # Every status reply has ExecID 0 (FIX 4.4): the OMS takes each, none is a resend.
    stack.oms.status(order)
    assert await stack.oms.wait_for(lambda: len(order.reports) == 3, 5)
    assert [r.exec_id for r in order.reports[1:]] == ["0", "0"]
    assert stack.oms.duplicates == 0


def decimals(timestamp: str | None) -> int:
    """The decimals of a second in a FIX UTCTimestamp (-1: not one)."""
    found = re.fullmatch(r"\d{8}-\d\d:\d\d:\d\d(?:\.(\d+))?", timestamp or "")
    return -1 if found is None else len(found.group(1) or "")


async def test_sending_time_has_each_sessions_precision_milliseconds_by_default():
    data = default_config_data()
    data["oms"]["timestamp_precision"] = 0
    [xnas] = [v for v in data["venues"] if v["name"] == "XNAS"]
    xnas["timestamp_precision"] = 9
    async with running_stack(config=SorConfig.model_validate(data)) as stack:
        connectors = stack.daemon.connectors
        sims = {v.name: v for v in stack.venues}
        oms, at_xnas, from_xnas, from_batx = (
            heard_by(stack.oms), heard_by(sims["XNAS"]), heard_by(connectors["XNAS"]),
            heard_by(connectors["BATX"]))
        # 1300 at 190.02: XNAS's 300 at 190.01, then BATX's 1000 at 190.02.
        order = stack.oms.new_order("AAPL", Side.BUY, 1300, OrdType.LIMIT, D("190.02"), IOC)
        assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
        assert from_xnas and from_batx and at_xnas, order.fills
        assert {decimals(m.get(52)) for m in oms} == {0}
        assert {decimals(m.get(52)) for m in [*at_xnas, *from_xnas]} == {9}
        assert {decimals(m.get(52)) for m in from_batx} == {3}
        orders_and_reports = [m for m in [*oms, *at_xnas, *from_xnas, *from_batx]
                              if m.msg_type in "8D"]
        assert {decimals(m.get(60)) for m in orders_and_reports} == {3}, (
            "TransactTime (60) in milliseconds")


def raw_new_order(cl_ord_id: str, **fields: str) -> list[tuple[int, str]]:
    values = {55: "AAPL", 54: "1", 38: "100", 40: "2", 44: "190.05", 59: "3"}
    values.update({int(tag[1:]): value for tag, value in fields.items()})
    pairs = [(11, cl_ord_id), (21, "1"), (60, codec.utc_timestamp())]
    return pairs + [(tag, value) for tag, value in values.items() if value != ""]


ECHOED = (55, 54, 38, 40, 44, 59)
"""Symbol, Side, OrderQty, OrdType, Price, TimeInForce: what a reject echoes."""
BAD_ORDERS = {
    "unknown symbol": ({"t55": "ZZZZ"}, OrdRejReason.UNKNOWN_SYMBOL, "unknown symbol 'ZZZZ'"),
    "zero quantity": ({"t38": "0"}, OrdRejReason.INCORRECT_QUANTITY, "got 0"),
    "negative quantity": ({"t38": "-5"}, OrdRejReason.INCORRECT_QUANTITY, "got -5"),
    "fractional quantity": ({"t38": "10.5"}, OrdRejReason.INCORRECT_QUANTITY, "got 10.5"),
    "missing quantity": ({"t38": ""}, OrdRejReason.INCORRECT_QUANTITY, "is required"),
    "limit without price": ({"t44": ""}, OrdRejReason.OTHER, "Price (44) is required"),
    "zero price": ({"t44": "0"}, OrdRejReason.OTHER, "must be positive"),
    "negative price": ({"t44": "-190"}, OrdRejReason.OTHER, "must be positive"),
    "stop order": ({"t40": "3"}, OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
                   "unsupported OrdType (40) '3'"),
    "good till date": ({"t59": "6"}, OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
                       "unsupported TimeInForce (59) '6'"),
    "short sale": ({"t54": "5"}, OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
                   "unsupported Side (54) '5'"),
    "unknown venue": ({"t100": "XLON"}, OrdRejReason.OTHER, "unknown ExDestination (100)"),
    "unknown strategy": ({"t847": "42"}, OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
                         "unknown TargetStrategy (847) '42'"),
}


@pytest.mark.parametrize("case", BAD_ORDERS)
async def test_bad_order_is_rejected_and_nothing_else_moves(stack: Stack, case: str):
    working = await resting_buy(stack)
    fields, reason, text = BAD_ORDERS[case]
    bad_id = stack.oms.next_id()
    bad = OmsOrder(bad_id, "AAPL", Side.BUY, 0, OrdType.LIMIT, None, DAY, current=bad_id)
    stack.oms.orders[bad_id] = bad
    heard = heard_by(stack.oms)
    sent = dict(raw_new_order(bad_id, **fields))
    stack.oms.send_raw("D", list(sent.items()))
    assert await stack.oms.wait_for(lambda: bad.is_terminal, 5)
    [report] = bad.reports
    assert (report.exec_type, report.ord_status) == (ExecType.REJECTED, OrdStatus.REJECTED)
    assert report.ord_rej_reason is reason
    assert text in report.text
    # The reject echoes the order as sent; OrderQty, required, is 0 when there was none.
    [wire] = [m for m in heard if m.get(11) == bad_id]
    assert {tag: wire.get(tag) for tag in ECHOED} == {
        tag: sent.get(tag, "0" if tag == 38 else None) for tag in ECHOED}
    await assert_untouched(stack, working)


async def test_status_of_an_unknown_order_echoes_the_request(stack: Stack):
    heard = heard_by(stack.oms)
    stack.oms.send_raw("H", [(11, "NO-SUCH-ORDER"), (55, "SPY"), (54, "2"), (790, "Q1")])
    assert await stack.oms.wait_for(lambda: heard, 5)
    [reply] = heard
    assert {tag: reply.get(tag) for tag in (11, 17, 150, 39, 103, 790, 55, 54, 38)} == {
        11: "NO-SUCH-ORDER", 17: "0", 150: "I", 39: "8", 103: "5", 790: "Q1", 55: "SPY",
        54: "2", 38: "0"}


async def test_duplicate_clordid_of_a_live_order(stack: Stack):
    working = await resting_buy(stack)
    stack.oms.send_raw("D", raw_new_order(working.cl_ord_id, t38="5000"))
    assert await stack.oms.wait_for(lambda: stack.oms.unmatched, 5)
    [reject] = stack.oms.unmatched
    assert reject.ord_rej_reason is OrdRejReason.DUPLICATE_ORDER
    assert "duplicate ClOrdID" in reject.text
    await assert_untouched(stack, working)


@pytest.mark.parametrize("kind", ["cancel", "replace"])
async def test_amend_of_unknown_order_gets_cancel_reject(stack: Stack, kind: str):
    working = await resting_buy(stack)
    ghost = OmsOrder("NO-SUCH-ORDER", "AAPL", Side.BUY, 100, OrdType.LIMIT, D("189.90"), DAY,
                     current="NO-SUCH-ORDER")
    request_id = stack.oms.cancel(ghost) if kind == "cancel" else stack.oms.replace(ghost,
                                                                                    qty=50)
    assert await stack.oms.wait_for(lambda: ghost.cancel_rejects, 5)
    [reject] = ghost.cancel_rejects
    assert (reject.cl_ord_id, reject.reason, reject.response_to.name.lower()) == (
        request_id, CxlRejReason.UNKNOWN_ORDER, kind)
    assert "NO-SUCH-ORDER" in reject.text
    await assert_untouched(stack, working)


async def test_replace_below_filled_quantity_is_refused(stack: Stack):
    # 1000 at 190.01: takes XNAS's 300 at 190.01, then rests 700 (nothing else in limit).
    order = stack.oms.new_order("AAPL", Side.BUY, 1000, OrdType.LIMIT, D("190.01"), DAY)
    assert await stack.oms.wait_for(
        lambda: order.cum_qty == 300 and order.status is OrdStatus.PARTIALLY_FILLED, 5)
    stack.oms.replace(order, qty=200)
    assert await stack.oms.wait_for(lambda: order.cancel_rejects, 5)
    [reject] = order.cancel_rejects
    assert "OrderQty (38) 200 is below the filled quantity 300" in reject.text
    assert reject.ord_status is OrdStatus.PARTIALLY_FILLED
    stack.oms.cancel(order)
    assert await stack.oms.wait_for(lambda: order.is_terminal, 5)
    assert (order.status, order.cum_qty) == (OrdStatus.CANCELED, 300)


async def test_message_failing_fix_validation_gets_session_reject_and_session_stays_up(
        stack: Stack):
    working = await resting_buy(stack)
    rejects = stack.oms.endpoint.session_rejects
    stack.oms.send_raw("D", raw_new_order("BAD-SIDE", t54="Z"))  # not a FIX Side
    stack.oms.send_raw("D", raw_new_order("NO-SIDE", t54=""))  # required tag missing
    assert await stack.oms.wait_for(lambda: len(rejects) >= 2, 5)
    texts = [r.get(58) or "" for r in rejects]
    assert any("Value is incorrect" in t for t in texts), texts
    assert any("Required tag missing" in t for t in texts), texts
    assert stack.oms.endpoint.is_logged_on(stack.oms.session)
    await assert_untouched(stack, working)
    after = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, D("190.05"), IOC)
    assert await stack.oms.wait_for(lambda: after.is_terminal, 5)
    assert after.status is OrdStatus.FILLED


async def test_unsupported_message_type_gets_business_reject(stack: Stack):
    stack.oms.send_raw("R", [(131, "Q1"), (146, "1"), (55, "AAPL")])  # QuoteRequest
    assert await stack.oms.wait_for(lambda: stack.oms.business_rejects, 5)
    assert "unsupported MsgType R" in stack.oms.business_rejects[0]


async def test_every_fill_reaches_the_oms_exactly_once(stack: Stack):
    from sor_daemon.tools.demo import run_flow

    summary = await run_flow(stack.oms, stack.config, stack.market, 60, seed=3, verbose=False)
    assert all(o.is_terminal for o in summary.orders)
    oms_filled = 0
    for order in summary.orders:
        assert order.cum_qty <= order.qty, "overfilled"
        assert sum(q for q, _, _ in order.fills) == order.cum_qty
        oms_filled += order.cum_qty
    venue_filled = sum(stack.sim.filled_shares(venue.name) for venue in stack.config.venues)
    assert oms_filled == venue_filled > 0
