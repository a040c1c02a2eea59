"""The routing engine, driven in-process with venue reports written by hand."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest

from sor_daemon.core.actions import (
    Anomaly,
    CancelChild,
    ChildEnded,
    ChildFilled,
    Decision,
    ParentEnded,
    SendChild,
    ToOms,
)
from sor_daemon.core.domain import (
    CxlRejReason,
    CxlRejResponseTo,
    ExecType,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)
from sor_daemon.core.engine import Engine, IdSource
from sor_daemon.core.market import Level, VenueBook
from sor_daemon.core.messages import (
    CancelFields,
    CancelReject,
    ExecutionReport,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
)
from sor_daemon.core.routing.routes import Broker
from sor_daemon.core.routing.strategy import VenueState

D = Decimal
S = "FIX.4.4:SOR->OMS"
_exec_ids = itertools.count(1)


def states(**kinds: str) -> list[VenueState]:
    """Venues with no fees, latency or staleness: name=kind."""
    return [VenueState(name, kind, False) for name, kind in kinds.items()]


def make_engine(up=("XNAS", "ARCX"), **options) -> Engine:
    engine = Engine({"AAPL": D("0.01"), "MSFT": D("0.01")}, states(XNAS="lit", ARCX="lit"),
                    "best-price", IdSource("T-"), **options)
    for venue in up:
        engine.venue_session(venue, True, 0)
    # XNAS: 189.99 x 300 / 190.01 x 300, 190.02 x 500; ARCX: 190.00 x 500 / 190.02 x 500
    engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.99"), 300),),
                                (Level(D("190.01"), 300), Level(D("190.02"), 500)), 0))
    engine.venue_book(VenueBook("ARCX", "AAPL", (Level(D("190.00"), 500),),
                                (Level(D("190.02"), 500),), 0))
    return engine


def new(cl="P1", symbol="AAPL", side="1", qty="100", ord_type="2", price="190.05", tif="3",
        **kw) -> NewOrderFields:
    return NewOrderFields(cl, symbol, side, qty, ord_type, price, tif, **kw)


def of(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def reports(actions) -> list[ExecutionReport]:
    return [a.message for a in actions if isinstance(a, ToOms)
            and isinstance(a.message, ExecutionReport)]


def venue_report(send: SendChild, exec_type: ExecType, status: OrdStatus, cum: int = 0,
                 last_qty: int = 0, last_px: str | None = None, text: str | None = None,
                 exec_id: str | None = None, cl_ord_id: str | None = None,
                 orig: str | None = None) -> ExecutionReport:
    order = send.order
    return ExecutionReport(
        order_id=f"V-{order.cl_ord_id}", cl_ord_id=cl_ord_id or order.cl_ord_id,
        exec_id=exec_id or f"VE{next(_exec_ids)}", exec_type=exec_type, ord_status=status,
        symbol=order.symbol, side=order.side, order_qty=order.qty,
        leaves_qty=0 if status.is_terminal else order.qty - cum, cum_qty=cum, avg_px=D(0),
        last_qty=last_qty, last_px=D(last_px) if last_px else None, orig_cl_ord_id=orig,
        text=text)


def test_ioc_goes_to_best_offer_capped_at_its_price_and_size():
    engine = make_engine()
    actions = engine.new_order(S, new(qty="1000"), 1)
    [send] = of(actions, SendChild)
    assert send.venue == "XNAS"  # 190.01 x 300 beats ARCX's 190.02
    assert (send.order.qty, send.order.price, send.order.tif) == (300, D("190.01"),
                                                                  TimeInForce.IOC)
    assert not reports(actions), "no ack before the venue acknowledges"


def test_filled_order_reports_new_then_trade_with_arrival_mid():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(qty="100"), 1), SendChild)
    acks = reports(engine.venue_execution("XNAS", venue_report(send, ExecType.NEW,
                                                                OrdStatus.NEW), 2))
    assert [(r.exec_type, r.ord_status) for r in acks] == [(ExecType.NEW, OrdStatus.NEW)]
    assert acks[0].benchmark_price == D("190.005")
    fill = reports(engine.venue_execution("XNAS", venue_report(
        send, ExecType.TRADE, OrdStatus.FILLED, cum=100, last_qty=100, last_px="190.01"), 3))
    [trade] = fill
    assert (trade.exec_type, trade.ord_status, trade.cum_qty, trade.leaves_qty) == (
        ExecType.TRADE, OrdStatus.FILLED, 100, 0)
    assert (trade.last_qty, trade.last_px, trade.last_mkt, trade.avg_px) == (
        100, D("190.01"), "XNAS", D("190.01"))


def test_ioc_residual_is_rerouted_then_cancelled_when_nothing_is_left():
    engine = make_engine()
    [first] = of(engine.new_order(S, new(qty="1000", price="190.02"), 1), SendChild)
    engine.venue_execution("XNAS", venue_report(first, ExecType.NEW, OrdStatus.NEW), 2)
    actions = engine.venue_execution("XNAS", venue_report(
        first, ExecType.TRADE, OrdStatus.FILLED, cum=300, last_qty=300, last_px="190.01"), 3)
    # Our own fill is taken off our copy of the book: XNAS 190.02 x 500 ties ARCX
    # 190.02 x 500, so the residual goes to a 190.02 level.
    [second] = of(actions, SendChild)
    assert second.order.price == D("190.02") and second.order.qty == 500
    engine.venue_execution(second.venue, venue_report(second, ExecType.NEW, OrdStatus.NEW), 4)
    engine.venue_execution(second.venue, venue_report(
        second, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum=200, last_qty=200,
        last_px="190.02"), 5)
    actions = engine.venue_execution(second.venue, venue_report(
        second, ExecType.CANCELED, OrdStatus.CANCELED, cum=200, text="IOC remainder"), 6)
    # The venue that missed is exhausted; the other one still shows 190.02.
    [third] = of(actions, SendChild)
    assert third.venue != second.venue
    engine.venue_execution(third.venue, venue_report(third, ExecType.CANCELED,
                                                     OrdStatus.CANCELED), 7)
    final = engine.parent(S, "P1")
    assert final.status is OrdStatus.CANCELED
    assert final.cum_qty == 500
    [last] = reports(engine.venue_execution(third.venue, venue_report(
        third, ExecType.CANCELED, OrdStatus.CANCELED), 8)) or [None]
    assert last is None  # a repeated cancel changes nothing


def test_a_miss_after_the_venue_published_leaves_it_in():
    """The quote moved: the venue's new book came before the miss, so the venue is
    routed to again at once, on that book."""
    engine = make_engine()
    [first] = of(engine.new_order(S, new(ord_type="1", price=None, qty="300"), 1), SendChild)
    assert (first.venue, first.order.price) == ("XNAS", D("190.01"))
    engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.99"), 300),),
                                (Level(D("190.01"), 300),), 2), 2)
    [again] = of(engine.venue_execution("XNAS", venue_report(
        first, ExecType.CANCELED, OrdStatus.CANCELED, text="IOC remainder"), 3), SendChild)
    assert (again.venue, again.order.price, again.order.qty) == ("XNAS", D("190.01"), 300)


def test_a_missed_venue_is_back_once_it_publishes_a_new_book():
    engine = make_engine()
    [first] = of(engine.new_order(S, new(ord_type="1", price=None, qty="300"), 1), SendChild)
    [second] = of(engine.venue_execution("XNAS", venue_report(
        first, ExecType.CANCELED, OrdStatus.CANCELED), 2), SendChild)
    assert (second.venue, second.order.price) == ("ARCX", D("190.02")), "XNAS is left out"
    engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.99"), 300),),
                                (Level(D("190.01"), 500),), 3), 3)
    actions = engine.venue_execution("ARCX", venue_report(
        second, ExecType.CANCELED, OrdStatus.CANCELED), 4)
    [third] = of(actions, SendChild)
    assert (third.venue, third.order.price, third.order.qty) == ("XNAS", D("190.01"), 300)
    [decision] = of(actions, Decision)
    assert {c.venue: c.exhausted for c in decision.candidates} == {"XNAS": False,
                                                                   "ARCX": True}
    assert engine.parent(S, "P1").status is OrdStatus.PENDING_NEW


def test_a_missed_venue_is_back_after_the_miss_hold():
    engine = make_engine(miss_hold_ns=1_000)
    [first] = of(engine.new_order(S, new(qty="300", price="190.02", tif="0"), 1), SendChild)
    assert first.venue == "XNAS"
    [second] = of(engine.venue_execution("XNAS", venue_report(
        first, ExecType.CANCELED, OrdStatus.CANCELED), 2), SendChild)
    assert second.venue == "ARCX"
    engine.venue_execution("ARCX", venue_report(
        second, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum=100, last_qty=100,
        last_px="190.02"), 500)
    [third] = of(engine.venue_execution("ARCX", venue_report(
        second, ExecType.CANCELED, OrdStatus.CANCELED, cum=100), 1_002), SendChild)
    assert (third.venue, third.order.price, third.order.qty) == ("XNAS", D("190.01"), 200)


def test_a_reject_leaves_the_venue_out_for_the_parent():
    engine = make_engine(miss_hold_ns=1_000)
    [first] = of(engine.new_order(S, new(ord_type="1", price=None, qty="300"), 1), SendChild)
    engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.99"), 300),),
                                (Level(D("190.01"), 300),), 2), 2)
    [second] = of(engine.venue_execution("XNAS", venue_report(
        first, ExecType.REJECTED, OrdStatus.REJECTED, text="halted"), 5_000), SendChild)
    assert second.venue == "ARCX"


def test_ioc_with_no_marketable_liquidity_is_cancelled_at_once():
    engine = make_engine()
    [report] = reports(engine.new_order(S, new(price="189.00"), 1))
    assert (report.exec_type, report.ord_status) == (ExecType.CANCELED, OrdStatus.CANCELED)
    assert "no more displayed liquidity" in report.text


def test_passive_day_limit_rests_where_its_side_is_best():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(price="189.90", tif="0"), 1), SendChild)
    assert send.venue == "ARCX"  # best bid 190.00 vs XNAS 189.99
    assert (send.order.tif, send.order.price) == (TimeInForce.DAY, D("189.90"))


def test_day_limit_rests_its_residual_when_every_venue_missed():
    """Round-robin sends an IOC to every venue at the best price; ARCX does not quote it
    and XNAS's offer went meanwhile: both miss. The Day limit's residual rests."""
    engine = make_engine()
    actions = engine.new_order(S, new(qty="600", price="190.01", tif="0",
                                      target_strategy="1003"), 1)
    sends = of(actions, SendChild)
    assert sorted((s.venue, s.order.qty, s.order.tif) for s in sends) == [
        ("ARCX", 300, TimeInForce.IOC), ("XNAS", 300, TimeInForce.IOC)]
    actions = []
    for send in sends:
        actions += engine.venue_execution(send.venue, venue_report(
            send, ExecType.CANCELED, OrdStatus.CANCELED, text="IOC remainder"), 2)
    [rest] = of(actions, SendChild)
    assert (rest.venue, rest.order.qty, rest.order.price, rest.order.tif) == (
        "ARCX", 600, D("190.01"), TimeInForce.DAY)  # ARCX bids best: 190.00
    assert not reports(actions), "the OMS sees no cancel"
    assert engine.parent(S, "P1").status is OrdStatus.PENDING_NEW


def test_day_limit_with_no_venue_up_waits_and_rests_when_one_is_back():
    engine = make_engine(cancel_on_disconnect=frozenset({"XNAS", "ARCX"}))
    [send] = of(engine.new_order(S, new(qty="500", price="189.90", tif="0"), 1), SendChild)
    engine.venue_execution(send.venue, venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    engine.venue_session("XNAS", False, 3)
    actions = engine.venue_session("ARCX", False, 4)  # the venue cancels the child
    assert not of(actions, SendChild) and not reports(actions)
    parent = engine.parent(S, "P1")
    assert parent.status is OrdStatus.NEW and parent.leaves_qty == 500
    [again] = of(engine.venue_session("XNAS", True, 5), SendChild)
    assert (again.venue, again.order.qty, again.order.price, again.order.tif) == (
        "XNAS", 500, D("189.90"), TimeInForce.DAY)


def test_a_day_limit_no_venue_can_take_at_once_is_acknowledged_and_waits():
    """A Day buy pinned to a dark pool far below the mid: no child yet, but the OMS hears
    New at once (it works at the router), not silence."""
    engine = Engine({"AAPL": D("0.01")}, states(XNAS="lit", DARKA="dark"), "best-price",
                    IdSource("T-"))
    for venue in ("XNAS", "DARKA"):
        engine.venue_session(venue, True, 0)
    engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.99"), 300),),
                                (Level(D("190.01"), 300),), 0))
    actions = engine.new_order(S, new(price="100", tif="0", ex_destination="DARKA"), 1)
    assert not of(actions, SendChild)
    [ack] = reports(actions)
    assert (ack.exec_type, ack.ord_status, ack.leaves_qty) == (ExecType.NEW, OrdStatus.NEW, 100)


def test_ex_destination_pins_the_venue():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(ex_destination="ARCX"), 1), SendChild)
    assert send.venue == "ARCX"


def test_cancel_of_working_order():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(price="189.90", tif="0"), 1), SendChild)
    engine.venue_execution(send.venue, venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    actions = engine.cancel_order(S, CancelFields("P1-C", "P1"), 3)
    [pending] = reports(actions)
    assert (pending.exec_type, pending.ord_status, pending.cl_ord_id, pending.orig_cl_ord_id) \
        == (ExecType.PENDING_CANCEL, OrdStatus.PENDING_CANCEL, "P1-C", "P1")
    [cancel] = of(actions, CancelChild)
    assert cancel.request.orig_cl_ord_id == send.order.cl_ord_id
    [done] = reports(engine.venue_execution(send.venue, venue_report(
        send, ExecType.CANCELED, OrdStatus.CANCELED, cl_ord_id=cancel.request.cl_ord_id,
        orig=send.order.cl_ord_id), 4))
    assert (done.exec_type, done.ord_status, done.cl_ord_id, done.leaves_qty) == (
        ExecType.CANCELED, OrdStatus.CANCELED, "P1-C", 0)


def test_fill_racing_a_cancel_wins_and_the_cancel_is_refused_too_late():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(price="189.90", tif="0"), 1), SendChild)
    engine.venue_execution(send.venue, venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    engine.cancel_order(S, CancelFields("P1-C", "P1"), 3)
    actions = engine.venue_execution(send.venue, venue_report(
        send, ExecType.TRADE, OrdStatus.FILLED, cum=100, last_qty=100, last_px="189.90"), 4)
    [trade] = reports(actions)
    assert trade.ord_status is OrdStatus.FILLED
    [refusal] = [a.message for a in of(actions, ToOms) if isinstance(a.message, CancelReject)]
    assert refusal.reason is CxlRejReason.TOO_LATE_TO_CANCEL
    assert engine.parent(S, "P1").cum_qty == 100


def test_replace_cancels_children_then_reroutes_on_new_terms():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(qty="200", price="189.90", tif="0"), 1), SendChild)
    engine.venue_execution(send.venue, venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    actions = engine.replace_order(S, ReplaceFields("P2", "P1", "AAPL", "1", "100", "2",
                                                    "190.01", "0"), 3)
    assert [r.exec_type for r in reports(actions)] == [ExecType.PENDING_REPLACE]
    [cancel] = of(actions, CancelChild)
    actions = engine.venue_execution(send.venue, venue_report(
        send, ExecType.CANCELED, OrdStatus.CANCELED, cl_ord_id=cancel.request.cl_ord_id,
        orig=send.order.cl_ord_id), 4)
    [replaced] = reports(actions)
    assert (replaced.exec_type, replaced.cl_ord_id, replaced.orig_cl_ord_id,
            replaced.order_qty, replaced.price) == (ExecType.REPLACED, "P2", "P1", 100,
                                                     D("190.01"))
    [resend] = of(actions, SendChild)
    assert resend.venue == "XNAS" and resend.order.qty == 100  # now marketable at 190.01


def test_replace_below_filled_quantity_is_refused():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(qty="500", price="189.90", tif="0"), 1), SendChild)
    engine.venue_execution(send.venue, venue_report(
        send, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum=300, last_qty=300,
        last_px="189.90"), 2)
    [refusal] = [a.message for a in engine.replace_order(
        S, ReplaceFields("P2", "P1", "AAPL", "1", "200", "2", "189.90", "0"), 3)]
    assert isinstance(refusal, CancelReject)
    assert refusal.response_to is CxlRejResponseTo.REPLACE
    assert "below the filled quantity 300" in refusal.text
    assert engine.parent(S, "P1").status is OrdStatus.PARTIALLY_FILLED


@pytest.mark.parametrize(("qty", "price", "named"), [
    ("100", "1" + "0" * 40, "Price (44)"), ("1" + "0" * 40, "189.90", "OrderQty (38)")])
def test_a_replace_with_a_number_out_of_range_is_refused_naming_the_tag(qty, price, named):
    engine = make_engine()
    [send] = of(engine.new_order(S, new(qty="500", price="189.90", tif="0"), 1), SendChild)
    engine.venue_execution(send.venue, venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    [refusal] = [a.message for a in engine.replace_order(
        S, ReplaceFields("P2", "P1", "AAPL", "1", qty, "2", price, "0"), 3)]
    assert isinstance(refusal, CancelReject)
    assert f"{named} is out of range" in refusal.text
    live = engine.parent(S, "P1")
    assert (live.status, live.qty, live.price) == (OrdStatus.NEW, 500, D("189.90"))


@pytest.mark.parametrize(("request_kind"), ["cancel", "replace"])
def test_amending_an_unknown_order_gets_cxlrejreason_1(request_kind):
    engine = make_engine()
    if request_kind == "cancel":
        actions = engine.cancel_order(S, CancelFields("X2", "NOPE"), 1)
    else:
        actions = engine.replace_order(S, ReplaceFields("X2", "NOPE", "AAPL", "1", "10", "2",
                                                        "1", "0"), 1)
    [refusal] = [a.message for a in actions]
    assert isinstance(refusal, CancelReject)
    assert refusal.reason is CxlRejReason.UNKNOWN_ORDER and "NOPE" in refusal.text


def test_duplicate_clordid_is_rejected_and_the_live_order_is_untouched():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(price="189.90", tif="0"), 1), SendChild)
    engine.venue_execution(send.venue, venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    actions = engine.new_order(S, new(qty="999"), 3)
    [report] = reports(actions)
    assert report.ord_rej_reason is OrdRejReason.DUPLICATE_ORDER
    assert not of(actions, SendChild)
    live = engine.parent(S, "P1")
    assert (live.status, live.qty) == (OrdStatus.NEW, 100)


@pytest.mark.parametrize(("fields", "reason", "text"), [
    (new(symbol="ZZZZ"), OrdRejReason.UNKNOWN_SYMBOL, "unknown symbol 'ZZZZ'"),
    (new(qty="0"), OrdRejReason.INCORRECT_QUANTITY, "positive whole number"),
    (new(qty="-5"), OrdRejReason.INCORRECT_QUANTITY, "got -5"),
    (new(qty="10.5"), OrdRejReason.INCORRECT_QUANTITY, "got 10.5"),
    (new(price=None), OrdRejReason.OTHER, "Price (44) is required"),
    (new(price="0"), OrdRejReason.OTHER, "must be positive"),
    (new(price="-1"), OrdRejReason.OTHER, "must be positive"),
    (new(price="190.001"), OrdRejReason.OTHER, "not a multiple of the tick 0.01"),
    (new(ord_type="3"), OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC, "OrdType (40) '3'"),
    (new(tif="6"), OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC, "TimeInForce (59) '6'"),
    (new(side="5"), OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC, "Side (54) '5'"),
    (new(ord_type="1", price="190"), OrdRejReason.OTHER, "must not be set on a market"),
    (new(ex_destination="XLON"), OrdRejReason.OTHER, "unknown ExDestination (100) 'XLON'"),
    (new(target_strategy="7"), OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
     "TargetStrategy (847) '7'"),
    (new(min_qty="100"), OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC, "MinQty (110)"),
    (new(price="1" + "0" * 40), OrdRejReason.OTHER, "Price (44) is out of range"),
    (new(price="12345678901234567890123456789"), OrdRejReason.OTHER,
     "Price (44) is out of range"),
    (new(qty="1" + "0" * 40), OrdRejReason.OTHER, "OrderQty (38) is out of range"),
])
def test_bad_new_orders_are_rejected_with_a_reason(fields, reason, text):
    engine = make_engine()
    assert of(engine.new_order(S, new(cl="LIVE", price="189.90", tif="0"), 1), SendChild)
    actions = engine.new_order(S, fields, 2)
    [report] = reports(actions)
    assert (report.exec_type, report.ord_status) == (ExecType.REJECTED, OrdStatus.REJECTED)
    assert report.ord_rej_reason is reason
    assert text in report.text
    assert not of(actions, SendChild)
    assert engine.parent(S, "LIVE").status is OrdStatus.PENDING_NEW
    assert engine.parent(S, "P1") is None


def test_no_venue_up_rejects():
    engine = make_engine(up=())
    [report] = reports(engine.new_order(S, new(), 1))
    assert report.ord_rej_reason is OrdRejReason.EXCHANGE_CLOSED
    assert report.text == "no venue session is up"


def test_duplicate_exec_id_is_applied_once():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(qty="1000", price="189.90", tif="0"), 1), SendChild)
    fill = venue_report(send, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum=100,
                        last_qty=100, last_px="189.90", exec_id="SAME")
    engine.venue_execution(send.venue, fill, 2)
    actions = engine.venue_execution(send.venue, fill, 3)
    assert [a.reason for a in of(actions, Anomaly)] == ["duplicate_exec"]
    assert engine.parent(S, "P1").cum_qty == 100


def test_venue_overfill_never_overfills_the_parent():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(qty="100", price="189.90", tif="0"), 1), SendChild)
    actions = engine.venue_execution(send.venue, venue_report(
        send, ExecType.TRADE, OrdStatus.FILLED, cum=150, last_qty=150, last_px="189.90"), 2)
    assert "venue_overfill" in [a.reason for a in of(actions, Anomaly)]
    assert engine.parent(S, "P1").cum_qty == 100


def test_report_for_unknown_child_is_counted_not_applied():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(), 1), SendChild)
    stray = venue_report(send, ExecType.TRADE, OrdStatus.FILLED, cum=100, last_qty=100,
                         last_px="190.01", cl_ord_id="NOT-OURS")
    actions = engine.venue_execution("XNAS", stray, 2)
    assert [a.reason for a in actions] == ["unknown_child"]
    assert engine.parent(S, "P1").cum_qty == 0


def test_every_venue_rejecting_rejects_the_parent():
    engine = make_engine()
    [first] = of(engine.new_order(S, new(), 1), SendChild)
    [second] = of(engine.venue_execution(first.venue, venue_report(
        first, ExecType.REJECTED, OrdStatus.REJECTED, text="halted"), 2), SendChild)
    [report] = reports(engine.venue_execution(second.venue, venue_report(
        second, ExecType.REJECTED, OrdStatus.REJECTED, text="halted"), 3))
    assert report.ord_status is OrdStatus.REJECTED and "halted" in report.text


def test_status_request():
    engine = make_engine()
    engine.new_order(S, new(price="189.90", tif="0"), 1)
    [known] = reports(engine.order_status(S, StatusFields("P1", ord_status_req_id="R1"), 2))
    assert (known.exec_type, known.ord_status, known.ord_status_req_id) == (
        ExecType.ORDER_STATUS, OrdStatus.PENDING_NEW, "R1")
    [unknown] = reports(engine.order_status(S, StatusFields("NOPE"), 3))
    assert unknown.ord_rej_reason is OrdRejReason.UNKNOWN_ORDER
    # A status reply reports no execution: its ExecID is 0 (FIX 4.4), every time.
    [again] = reports(engine.order_status(S, StatusFields("P1"), 4))
    assert (known.exec_id, unknown.exec_id, again.exec_id) == ("0", "0", "0")
    [ack] = reports(engine.venue_execution("XNAS", venue_report(
        of(engine.new_order(S, new("P2"), 5), SendChild)[0], ExecType.NEW, OrdStatus.NEW), 6))
    assert ack.exec_id not in ("", "0"), "other reports keep their own ExecIDs"


def test_status_request_by_order_id_when_the_clordid_is_not_ours():
    """FIX 4.4 requires ClOrdID on H; OrderID (37) finds the order when that ClOrdID is
    unknown here (the OMS lost track of its chain), within the same session only."""
    engine = make_engine()
    engine.new_order(S, new(price="189.90", tif="0"), 1)
    order_id = engine.parent(S, "P1").order_id
    [found] = reports(engine.order_status(S, StatusFields("LOST", order_id=order_id), 2))
    assert (found.exec_type, found.ord_status, found.order_id, found.cl_ord_id) == (
        ExecType.ORDER_STATUS, OrdStatus.PENDING_NEW, order_id, "P1")
    [other] = reports(engine.order_status("OTHER", StatusFields("LOST", order_id=order_id), 3))
    assert other.ord_rej_reason is OrdRejReason.UNKNOWN_ORDER
    [unknown] = reports(engine.order_status(S, StatusFields("LOST", order_id="NOPE"), 4))
    assert unknown.text == "unknown order: ClOrdID (11) 'LOST', OrderID (37) 'NOPE'"
    assert (unknown.cl_ord_id, unknown.order_id) == ("LOST", "NOPE"), "echoed"


def test_market_order_takes_displayed_prices_never_trading_through():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(ord_type="1", price=None, tif="0", qty="200"), 1),
                SendChild)
    assert (send.order.ord_type, send.order.price, send.order.tif) == (
        OrdType.LIMIT, D("190.01"), TimeInForce.IOC)
    assert send.order.side is Side.BUY


def test_every_decision_lists_the_candidates_considered():
    engine = make_engine()
    actions = engine.new_order(S, new(qty="300"), 1)
    [decision] = of(actions, Decision)
    assert decision.strategy == "best-price" and decision.qty == 300
    by_venue = {c.venue: c for c in decision.candidates}
    assert by_venue["XNAS"].touch == D("190.01") and by_venue["ARCX"].touch == D("190.02")
    assert [p.venue for p in decision.children] == ["XNAS"]
    # An order nothing can take is explained too.
    [why] = of(engine.new_order(S, new(cl="P2", price="189.00"), 2), Decision)
    assert why.children == ()


def test_passive_child_follows_its_venue_when_the_market_moves_away():
    engine = make_engine()
    actions = engine.new_order(S, new(qty="2000", price="190.00", tif="0",
                                      target_strategy="1006"), 1)
    posted = {a.venue: a for a in of(actions, SendChild) if a.order.tif is TimeInForce.DAY}
    xnas = posted["XNAS"]
    assert xnas.order.price == D("189.99")  # joined XNAS's bid, behind the parent's limit
    for send in of(actions, SendChild):
        engine.venue_execution(send.venue, venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    # ARCX quoting better elsewhere does not move the XNAS child...
    assert not engine.venue_book(VenueBook("ARCX", "AAPL", (Level(D("190.00"), 900),),
                                           (Level(D("190.02"), 500),), 3), 3)
    # ...XNAS's own bid moving up does: cancel, then re-route the residual at 190.00.
    [cancel] = of(engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("190.00"), 400),),
                                              (Level(D("190.01"), 300),), 4), 4), CancelChild)
    assert cancel.request.orig_cl_ord_id == xnas.order.cl_ord_id
    rerouted = engine.venue_execution("XNAS", venue_report(
        xnas, ExecType.CANCELED, OrdStatus.CANCELED, cl_ord_id=cancel.request.cl_ord_id,
        orig=xnas.order.cl_ord_id), 5)
    again = [a for a in of(rerouted, SendChild) if a.venue == "XNAS"]
    assert again and again[0].order.price == D("190.00")
    assert engine.parent(S, "P1").status is OrdStatus.NEW  # the OMS saw no cancel


def test_passive_child_past_its_time_to_live_is_withdrawn_and_routed_again():
    engine = Engine({"AAPL": D("0.01")}, states(XNAS="lit", ARCX="lit"), "best-price",
                    IdSource("T-"), passive_ttl_ns=1_000)
    for venue in ("XNAS", "ARCX"):
        engine.venue_session(venue, True, 0)
    engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.99"), 300),),
                                (Level(D("190.01"), 300),), 0))
    engine.venue_book(VenueBook("ARCX", "AAPL", (Level(D("190.00"), 500),),
                                (Level(D("190.02"), 500),), 0))
    actions = engine.new_order(S, new(qty="2000", price="190.00", tif="0",
                                      target_strategy="1006"), 100)
    posted = [a for a in of(actions, SendChild) if a.order.tif is TimeInForce.DAY
              and a.order.price != D("190.00")]
    assert posted, "optimal placement posts behind the limit, at XNAS's 189.99 bid"
    for send in of(actions, SendChild):
        engine.venue_execution(send.venue, venue_report(send, ExecType.NEW, OrdStatus.NEW), 200)
    assert not of(engine.tick(1_099), CancelChild), "not yet: sent at 100, lives 1000 ns"
    cancels = of(engine.tick(1_100), CancelChild)
    assert [c.request.orig_cl_ord_id for c in cancels] == [p.order.cl_ord_id for p in posted]
    assert not of(engine.tick(5_000), CancelChild), "withdrawn once, not again"
    # The market moved meanwhile: ARCX now bids 190.00 x 900 and XNAS 189.98.
    engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.98"), 300),),
                                (Level(D("190.01"), 300),), 1_200), 1_200)
    send, cancel = posted[0], cancels[0]
    rerouted = engine.venue_execution(send.venue, venue_report(
        send, ExecType.CANCELED, OrdStatus.CANCELED, cl_ord_id=cancel.request.cl_ord_id,
        orig=send.order.cl_ord_id), 1_300)
    again = of(rerouted, SendChild)
    assert again and sum(a.order.qty for a in again) == send.order.qty
    assert engine.parent(S, "P1").status is OrdStatus.NEW  # the OMS saw no cancel


def test_resting_child_crossed_elsewhere_is_cancelled_and_takes_the_better_price():
    engine = make_engine()
    [rest] = of(engine.new_order(S, new(qty="100", price="190.00", tif="0"), 1), SendChild)
    assert (rest.venue, rest.order.price, rest.order.tif) == ("ARCX", D("190.00"),
                                                              TimeInForce.DAY)
    engine.venue_execution("ARCX", venue_report(rest, ExecType.NEW, OrdStatus.NEW), 2)
    # An offer at the child's own price elsewhere does not cross it...
    assert not engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.98"), 300),),
                                           (Level(D("190.00"), 300),), 3), 3)
    # ...a better one does: cancel it, then take that price.
    [cancel] = of(engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.97"), 300),),
                                              (Level(D("189.99"), 200),), 4), 4), CancelChild)
    assert cancel.request.orig_cl_ord_id == rest.order.cl_ord_id
    # No second cancel while the first is pending, whatever the market does.
    assert not engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.96"), 300),),
                                           (Level(D("189.98"), 200),), 5), 5)
    assert not engine.tick(6)
    rerouted = engine.venue_execution("ARCX", venue_report(
        rest, ExecType.CANCELED, OrdStatus.CANCELED, cl_ord_id=cancel.request.cl_ord_id,
        orig=rest.order.cl_ord_id), 7)
    [take] = of(rerouted, SendChild)
    assert (take.venue, take.order.price, take.order.qty, take.order.tif) == (
        "XNAS", D("189.98"), 100, TimeInForce.IOC)
    assert engine.parent(S, "P1").status is OrdStatus.NEW  # the OMS saw no cancel


def test_resting_child_is_not_pulled_for_a_venue_left_out_until_it_is_back():
    engine = make_engine(miss_hold_ns=1_000)
    engine.venue_book(VenueBook("ARCX", "AAPL", (Level(D("190.00"), 500),),
                                (Level(D("190.05"), 500),), 0))
    [first] = of(engine.new_order(S, new(qty="300", price="190.02", tif="0"), 1), SendChild)
    assert (first.venue, first.order.tif) == ("XNAS", TimeInForce.IOC)
    [rest] = of(engine.venue_execution("XNAS", venue_report(
        first, ExecType.CANCELED, OrdStatus.CANCELED), 2), SendChild)
    assert (rest.venue, rest.order.price, rest.order.tif) == ("ARCX", D("190.02"),
                                                              TimeInForce.DAY)
    engine.venue_execution("ARCX", venue_report(rest, ExecType.NEW, OrdStatus.NEW), 3)
    # XNAS still shows 190.01, but it missed and has published nothing since.
    assert not engine.venue_book(VenueBook("ARCX", "AAPL", (Level(D("190.00"), 400),),
                                           (Level(D("190.05"), 500),), 4), 4)
    assert not engine.tick(500)
    [cancel] = of(engine.tick(1_002), CancelChild)  # its hold is over
    assert cancel.request.orig_cl_ord_id == rest.order.cl_ord_id


def broker_engine() -> Engine:
    """XNAS direct, DARKA direct, and broker BRKA reaching both for 0.001/share."""
    engine = Engine({"AAPL": D("0.01")}, states(XNAS="lit", DARKA="dark"), "best-price",
                    IdSource("T-"),
                    brokers=[Broker("BRKA", D("0.001"), 2.0, frozenset({"XNAS", "DARKA"}))])
    engine.venue_session("BRKA", True, 0)
    engine.venue_session("XNAS", True, 0)
    engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.99"), 300),),
                                (Level(D("190.01"), 300),), 0))
    return engine


def test_direct_session_is_preferred_to_a_broker_charging_commission():
    engine = broker_engine()
    [send] = of(engine.new_order(S, new(qty="100"), 1), SendChild)
    assert (send.venue, send.order.ex_destination, send.child.route) == ("XNAS", None, "XNAS")


def test_venue_reached_only_through_a_broker_gets_exdestination_and_its_reports():
    engine = broker_engine()
    assert engine.venues["DARKA"].up, "DARKA's own session is down, BRKA reaches it"
    actions = engine.new_order(S, new(qty="300", target_strategy="1005"), 1)
    [dark] = [a for a in of(actions, SendChild) if a.child.venue == "DARKA"]
    assert (dark.venue, dark.order.ex_destination, dark.child.route) == (
        "BRKA", "DARKA", "BRKA>DARKA")
    [decision] = of(actions, Decision)
    assert "BRKA>DARKA" in decision.routes
    # Reports come back on the broker's session; the venue's own name is refused.
    assert of(engine.venue_execution("DARKA", venue_report(dark, ExecType.NEW, OrdStatus.NEW),
                                     2), Anomaly)
    engine.venue_execution("BRKA", venue_report(dark, ExecType.NEW, OrdStatus.NEW), 2)
    fill = reports(engine.venue_execution("BRKA", venue_report(
        dark, ExecType.TRADE, OrdStatus.FILLED, cum=dark.order.qty, last_qty=dark.order.qty,
        last_px="190.00"), 3))
    assert fill[-1].last_qty == dark.order.qty and fill[-1].last_mkt == "DARKA"


def test_broker_route_takes_over_when_the_direct_session_drops():
    engine = broker_engine()
    engine.venue_session("DARKA", True, 0)
    [direct] = [a for a in of(engine.new_order(S, new(cl="P1", qty="300",
                                                      target_strategy="1005"), 1), SendChild)
                if a.child.venue == "DARKA"]
    assert direct.venue == "DARKA"
    engine.venue_session("DARKA", False, 2)
    [brokered] = [a for a in of(engine.new_order(S, new(cl="P2", qty="300",
                                                        target_strategy="1005"), 3), SendChild)
                  if a.child.venue == "DARKA"]
    assert brokered.venue == "BRKA"
    engine.venue_session("BRKA", False, 4)
    assert not engine.venues["DARKA"].up


def test_a_slow_rejecting_direct_route_loses_to_the_broker():
    engine = broker_engine()
    context = engine.context
    for _ in range(30):  # the direct session acks in 40 ms and rejects one child in two
        context.child_acked("XNAS", 40.0)
        context.child_done("XNAS", False, 100, 0, True)
        context.child_done("XNAS", False, 100, 100, False)
    [send] = of(engine.new_order(S, new(qty="100"), 1), SendChild)
    assert (send.venue, send.order.ex_destination) == ("BRKA", "XNAS")


def test_monitor_events_for_fills_child_and_parent_ends():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(qty="100"), 1), SendChild)
    engine.venue_execution("XNAS", venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    report = venue_report(send, ExecType.TRADE, OrdStatus.FILLED, cum=100, last_qty=100,
                          last_px="190.01")
    actions = engine.venue_execution("XNAS", replace(report, commission=D("0.30")), 3)
    [filled] = of(actions, ChildFilled)
    assert (filled.child is send.child, filled.qty, filled.price, filled.commission) == (
        True, 100, D("190.01"), D("0.30"))
    [ended] = of(actions, ChildEnded)
    assert ended.child.status is OrdStatus.FILLED
    [done] = of(actions, ParentEnded)
    assert done.parent.status is OrdStatus.FILLED and done.parent.cum_qty == 100
    # A parent refused at intake never existed: no end event for it.
    assert not of(engine.new_order(S, new(cl="P9", symbol="NOPE"), 4), ParentEnded)


def test_changed_parents_are_collected_only_for_a_journal():
    """Nothing would empty the collection without one: every parent would stay in memory."""
    quiet = make_engine()
    quiet.new_order(S, new(), 1)
    assert quiet.take_touched() == []
    journaled = make_engine(track_changes=True)
    journaled.new_order(S, new(), 1)
    assert [p.cl_ord_id for p in journaled.take_touched()] == ["P1"]
    assert journaled.take_touched() == []


def test_actions_not_carried_out_leave_no_child_believed_sent_and_reject_the_new_parent():
    engine = make_engine()
    accepted = engine.new_order(S, new(cl="P1", qty="400", price="190.02"), 1)
    refused = engine.new_order(S, new(cl="P1", qty="100"), 2)  # a duplicate: a refusal
    sends = of(accepted, SendChild)
    assert sends
    told = engine.not_carried_out([*accepted, *refused], "journal unwritable: disk full", 3)
    assert all(s.child.status is OrdStatus.REJECTED for s in sends), "none went out"
    assert not of(told, SendChild) and not of(told, CancelChild), "nothing routed instead"
    refusal, rejected = reports(told)
    assert refusal == reports(refused)[0]
    assert (rejected.cl_ord_id, rejected.exec_type, rejected.ord_status, rejected.text) == (
        "P1", ExecType.REJECTED, OrdStatus.REJECTED, "journal unwritable: disk full")
    parent = engine.parent(S, "P1")
    assert parent is not None and parent.is_done and engine.open_parents() == []
    assert of(told, ParentEnded) == [ParentEnded(parent)]
