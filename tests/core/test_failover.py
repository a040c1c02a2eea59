"""Venue failover and restart recovery in the engine: unknown outcomes, status queries,
cancel on disconnect, and orders taken back from a journal."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from sor_daemon.core.actions import Anomaly, ChildEnded, ChildFilled, QueryChild, SendChild
from sor_daemon.core.domain import (
    CxlRejReason,
    CxlRejResponseTo,
    ExecType,
    OrdRejReason,
    OrdStatus,
)
from sor_daemon.core.engine import Engine, IdSource
from sor_daemon.core.messages import CancelFields, CancelReject, ExecutionReport
from sor_daemon.service.journal import Fill, Journal
from tests.core.test_engine import S, make_engine, new, of, reports, venue_report


def resting(engine: Engine, qty: str = "500") -> SendChild:
    """A Day buy resting at ARCX (limit below the offer: posted, acknowledged)."""
    [send] = of(engine.new_order(S, new(qty=qty, price="189.99", tif="0"), 1), SendChild)
    assert send.venue == "ARCX"
    engine.venue_execution("ARCX", venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    return send


def test_a_dropped_session_leaves_its_children_unknown_and_never_routes_them_again():
    engine = make_engine()
    send = resting(engine)
    assert engine.venue_session("ARCX", False, 3) == []
    child = send.child
    assert child.unknown and child.status is OrdStatus.NEW
    assert child.parent.working_qty == 500, "may still be working: not routed elsewhere"
    assert not of(engine.tick(10**12), SendChild)
    [query] = engine.venue_session("ARCX", True, 4)
    assert query == QueryChild("ARCX", child)


def test_a_venue_that_does_not_know_the_child_frees_its_quantity_for_routing():
    engine = make_engine()
    send = resting(engine, qty="300")
    engine.venue_session("ARCX", False, 3)
    engine.venue_session("ARCX", True, 4)
    answer = replace(venue_report(send, ExecType.ORDER_STATUS, OrdStatus.REJECTED),
                     ord_rej_reason=OrdRejReason.UNKNOWN_ORDER)
    actions = engine.venue_execution("ARCX", answer, 5)
    assert send.child.status is OrdStatus.CANCELED and not send.child.unknown
    assert of(actions, ChildEnded)
    [again] = of(actions, SendChild)
    assert again.order.qty == 300 and again.child is not send.child


def unknown_answer(send: SendChild, form: str) -> ExecutionReport | CancelReject:
    """A venue's or a broker's "I do not know that order", in one of the forms they use."""
    status = venue_report(send, ExecType.ORDER_STATUS, OrdStatus.REJECTED)
    match form:
        case "status reason 5":
            return replace(status, ord_rej_reason=OrdRejReason.UNKNOWN_ORDER)
        case "status rejected":
            return status
        case "status text":
            return replace(status, ord_rej_reason=OrdRejReason.OTHER, text="Unknown order")
        case "rejected reason 5":
            return replace(venue_report(send, ExecType.REJECTED, OrdStatus.REJECTED,
                                        text="BRKA: unknown order 'C1'"),
                           ord_rej_reason=OrdRejReason.UNKNOWN_ORDER)
        case "rejected text":
            return venue_report(send, ExecType.REJECTED, OrdStatus.REJECTED,
                                text="Unknown order")
        case "cancel reject reason 1":
            return CancelReject("NONE", "X9", send.order.cl_ord_id, OrdStatus.REJECTED,
                                CxlRejResponseTo.CANCEL, CxlRejReason.UNKNOWN_ORDER,
                                "BRKA: unknown order")
        case "cancel reject text":
            return CancelReject("NONE", "X9", send.order.cl_ord_id, OrdStatus.REJECTED,
                                CxlRejResponseTo.CANCEL, CxlRejReason.OTHER, "Unknown order")
    raise AssertionError(form)


UNKNOWN_FORMS = ["status reason 5", "status rejected", "status text", "rejected reason 5",
                 "rejected text", "cancel reject reason 1", "cancel reject text"]


def answer(engine: Engine, venue: str, message: ExecutionReport | CancelReject, now: int):
    if isinstance(message, CancelReject):
        return engine.venue_cancel_reject(venue, message, now)
    return engine.venue_execution(venue, message, now)


@pytest.mark.parametrize("form", UNKNOWN_FORMS)
def test_every_form_of_unknown_order_frees_the_child_for_routing(form):
    engine = make_engine()
    send = resting(engine, qty="300")
    engine.venue_session("ARCX", False, 3)
    engine.venue_session("ARCX", True, 4)
    actions = answer(engine, "ARCX", unknown_answer(send, form), 5)
    assert not [a for a in of(actions, Anomaly) if a.reason == "illegal_transition"]
    assert send.child.status is OrdStatus.CANCELED and not send.child.unknown
    assert of(actions, ChildEnded)
    [again] = of(actions, SendChild)
    assert again.order.qty == 300 and again.child is not send.child
    assert "ARCX" not in send.child.parent.exhausted_venues, "the venue did nothing wrong"
    assert answer(engine, "ARCX", unknown_answer(send, form), 6) == [], "a late copy: nothing"


@pytest.mark.parametrize("form", UNKNOWN_FORMS)
def test_a_cancel_of_a_child_its_venue_forgot_ends_the_parent(form):
    engine = make_engine()
    send = resting(engine)
    parent = send.child.parent
    engine.venue_session("ARCX", False, 3)
    engine.venue_session("ARCX", True, 4)
    engine.cancel_order(S, CancelFields("P1-C", "P1"), 5)
    assert parent.status is OrdStatus.PENDING_CANCEL
    actions = answer(engine, "ARCX", unknown_answer(send, form), 6)
    assert send.child.status is OrdStatus.CANCELED
    assert parent.status is OrdStatus.CANCELED and not of(actions, SendChild)
    [done] = reports(actions)
    assert (done.exec_type, done.cl_ord_id) == (ExecType.CANCELED, "P1-C")


def test_a_rejected_status_for_a_child_never_acknowledged_is_a_reject():
    engine = make_engine()
    [send] = of(engine.new_order(S, new(qty="300", price="189.99", tif="0"), 1), SendChild)
    engine.venue_session("ARCX", False, 2)
    engine.venue_session("ARCX", True, 3)
    status = replace(venue_report(send, ExecType.ORDER_STATUS, OrdStatus.REJECTED),
                     ord_rej_reason=OrdRejReason.EXCHANGE_CLOSED, text="closed")
    engine.venue_execution("ARCX", status, 4)
    assert send.child.status is OrdStatus.REJECTED
    assert "ARCX" in send.child.parent.exhausted_venues


def test_a_status_that_says_working_keeps_the_child_and_a_lost_cancel_is_sent_again():
    engine = make_engine()
    send = resting(engine)
    parent = send.child.parent
    engine.venue_session("ARCX", False, 3)
    engine.cancel_order(S, CancelFields("P1-C", "P1"), 4)  # cannot reach ARCX now
    assert send.child.status is OrdStatus.PENDING_CANCEL
    engine.venue_session("ARCX", True, 5)
    status = venue_report(send, ExecType.ORDER_STATUS, OrdStatus.NEW)
    actions = engine.venue_execution("ARCX", status, 6)
    assert len(send.child.cancel_ids) == 2, "the cancel is sent again"
    assert parent.status is OrdStatus.PENDING_CANCEL and not of(actions, SendChild)


def test_fills_a_status_reports_but_nobody_resent_are_applied_once_from_it():
    engine = make_engine()
    send = resting(engine)
    engine.venue_session("ARCX", False, 3)
    engine.venue_session("ARCX", True, 4)
    ahead = replace(venue_report(send, ExecType.ORDER_STATUS, OrdStatus.CANCELED, cum=200),
                    avg_px=Decimal("189.99"))
    actions = engine.venue_execution("ARCX", ahead, 5)
    assert [a.reason for a in of(actions, Anomaly)] == ["fill_from_status"]
    [fill] = of(actions, ChildFilled)
    assert (fill.qty, fill.price) == (200, Decimal("189.99"))
    assert send.child.status is OrdStatus.CANCELED and send.child.parent.cum_qty == 200
    [trade] = [r for r in reports(actions) if r.exec_type is ExecType.TRADE]
    assert (trade.last_qty, trade.cum_qty) == (200, 200), "the OMS hears of it"
    late = venue_report(send, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum=200,
                        last_qty=200, last_px="189.99")
    assert [a.reason for a in engine.venue_execution("ARCX", late, 6)] == [
        "fill_already_reconciled"]
    assert send.child.parent.cum_qty == 200, "never twice"


def test_fills_applied_from_two_status_replies_are_both_journaled(tmp_path):
    """A status reply's ExecID is 0 (FIX 4.4): two fills taken from status replies of one
    child are still two fills in the journal."""
    engine = make_engine(track_changes=True)
    send = resting(engine)
    journal = Journal(tmp_path / "j.db")
    for step, cum in ((3, 100), (6, 300)):
        engine.venue_session("ARCX", False, step)
        engine.venue_session("ARCX", True, step + 1)
        status = replace(venue_report(send, ExecType.ORDER_STATUS, OrdStatus.PARTIALLY_FILLED,
                                      cum=cum, exec_id="0"), avg_px=Decimal("189.99"))
        [fill] = of(engine.venue_execution("ARCX", status, step + 2), ChildFilled)
        journal.write(engine.take_touched(), [Fill(send.child.cl_ord_id, fill.exec_id,
                                                   fill.qty, fill.price, step)], {})
    parent = send.child.parent
    assert parent.cum_qty == 300
    assert sum(f.qty for f in journal.fills(parent.order_id)) == 300
    journal.close()


def test_a_status_behind_what_we_applied_is_flagged_not_applied():
    engine = make_engine()
    send = resting(engine)
    engine.venue_execution("ARCX", venue_report(
        send, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum=200, last_qty=200,
        last_px="189.99"), 3)
    behind = venue_report(send, ExecType.ORDER_STATUS, OrdStatus.NEW, cum=100)
    actions = engine.venue_execution("ARCX", behind, 4)
    assert [a.reason for a in of(actions, Anomaly)] == ["status_mismatch"]
    assert send.child.cum_qty == 200


def test_cancel_on_disconnect_routes_the_residual_elsewhere_at_once():
    engine = make_engine(cancel_on_disconnect=frozenset({"ARCX"}))
    send = resting(engine)
    actions = engine.venue_session("ARCX", False, 3)
    assert send.child.status is OrdStatus.CANCELED and send.child.unknown
    [elsewhere] = of(actions, SendChild)
    assert elsewhere.venue == "XNAS" and elsewhere.order.qty == 500
    confirm = venue_report(send, ExecType.CANCELED, OrdStatus.CANCELED)
    assert engine.venue_execution("ARCX", confirm, 4) == []
    assert not send.child.unknown


def test_a_fill_after_an_assumed_cancel_on_disconnect_is_flagged_not_applied_twice():
    engine = make_engine(cancel_on_disconnect=frozenset({"ARCX"}))
    send = resting(engine)
    engine.venue_session("ARCX", False, 3)
    late = venue_report(send, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum=100,
                        last_qty=100, last_px="189.99", exec_id="LATE")
    assert [a.reason for a in engine.venue_execution("ARCX", late, 4)] == [
        "fill_after_disconnect"]
    assert engine.venue_execution("ARCX", late, 5) == []


def test_a_restart_takes_orders_back_from_the_journal_and_asks_about_their_children(
        tmp_path):
    engine = make_engine(track_changes=True)
    send = resting(engine)
    fill = venue_report(send, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum=100,
                        last_qty=100, last_px="189.99", exec_id="F1")
    actions = engine.venue_execution("ARCX", fill, 3)
    journal = Journal(tmp_path / "j.db")
    [filled] = of(actions, ChildFilled)
    journal.write(engine.take_touched(), [Fill(send.child.cl_ord_id, filled.exec_id, 100,
                                               filled.price, 3)], {"OMS": 7})
    journal.close()

    journal = Journal(tmp_path / "j.db")
    restarted = make_engine(up=())
    restarted._ids = IdSource("T2-")
    restored = restarted.restore(journal.load(10))
    [parent] = [a.parent for a in restored]
    assert (parent.cl_ord_id, parent.cum_qty, parent.status) == ("P1", 100,
                                                                 OrdStatus.PARTIALLY_FILLED)
    child = parent.children[send.child.cl_ord_id]
    assert child.unknown and child.exec_ids == {"F1"}
    assert journal.session_seqs() == {"OMS": 7}
    [query] = restarted.venue_session("ARCX", True, 4)
    assert query.child is child
    resent = replace(fill)  # the venue resends what it sent before: applied once only
    assert [a.reason for a in restarted.venue_execution("ARCX", resent, 5)] == [
        "duplicate_exec"]
    more = venue_report(send, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum=300,
                        last_qty=200, last_px="189.99", exec_id="F2")
    [report] = reports(restarted.venue_execution("ARCX", more, 6))
    assert (report.cum_qty, report.cl_ord_id) == (300, "P1")
    assert restarted.parent(S, "P1") is parent, "found by its ClOrdID again"
    journal.close()
