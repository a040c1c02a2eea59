"""Completed orders leave memory: the engine keeps the last N of them (duplicate ClOrdIDs,
status requests, late venue reports), then forgets them; the monitor's markouts do not
outlive their horizon. Sizes of structures are asserted, never memory or time."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from sor_daemon.core.actions import CancelChild, ChildEnded, ChildFilled, SendChild, ToOms
from sor_daemon.core.analytics.monitor import NS, ExecutionMonitor
from sor_daemon.core.domain import ExecType, OrdRejReason, OrdStatus, Side
from sor_daemon.core.engine import Engine
from sor_daemon.core.market import Level, VenueBook
from sor_daemon.core.messages import CancelFields, ReplaceFields, StatusFields
from sor_daemon.core.orders import ChildOrder
from tests.core.test_engine import S, make_engine, new, of, reports, venue_report

D = Decimal
XNAS = VenueBook("XNAS", "AAPL", (Level(D("189.99"), 300),), (Level(D("190.01"), 300),), 0)


def filled(engine: Engine, cl: str, now: int) -> SendChild:
    """An IOC buy of 100, sent to XNAS (its book refreshed first) and filled at once by
    ExecID ``F-<cl>``."""
    engine.venue_book(XNAS, now)
    [send] = of(engine.new_order(S, new(cl), now), SendChild)
    engine.venue_execution(send.venue, venue_report(
        send, ExecType.TRADE, OrdStatus.FILLED, cum=100, last_qty=100, last_px="190.01",
        exec_id=f"F-{cl}"), now)
    return send


def known(engine: Engine) -> tuple[int, int, int, int]:
    """Parent keys, parents by OrderID, child keys, retired parents kept."""
    return (len(engine._parents), len(engine._orders), len(engine._children),
            len(engine._retired))


def acked(engine: Engine, send: SendChild, now: int) -> None:
    engine.venue_execution(send.venue, venue_report(send, ExecType.NEW, OrdStatus.NEW), now)


def canceled(engine: Engine, send: SendChild, cancel_id: str, now: int) -> list:
    return engine.venue_execution(send.venue, venue_report(
        send, ExecType.CANCELED, OrdStatus.CANCELED, cl_ord_id=cancel_id,
        orig=send.order.cl_ord_id), now)


def test_completed_orders_are_forgotten_beyond_the_window():
    engine = make_engine(completed_orders_kept=100)
    for i in range(5000):
        filled(engine, f"P{i}", i)
    assert known(engine) == (100, 100, 100, 100)
    assert engine.parent(S, "P4899") is None
    assert engine.parent(S, "P4900").status is OrdStatus.FILLED
    assert not engine.open_parents()


def test_a_window_of_zero_forgets_each_order_when_it_completes():
    engine = make_engine(completed_orders_kept=0)
    for i in range(10):
        filled(engine, f"P{i}", i)
    assert known(engine) == (0, 0, 0, 0)


def test_every_key_of_a_forgotten_order_goes_with_it():
    engine = make_engine(completed_orders_kept=1)
    [first] = of(engine.new_order(S, new(qty="200", price="189.90", tif="0"), 1), SendChild)
    acked(engine, first, 2)
    [cancel] = of(engine.replace_order(S, ReplaceFields("P2", "P1", "AAPL", "1", "100", "2",
                                                        "189.91", "0"), 3), CancelChild)
    [second] = of(canceled(engine, first, cancel.request.cl_ord_id, 4), SendChild)
    [cancel2] = of(engine.cancel_order(S, CancelFields("P3", "P2"), 5), CancelChild)
    canceled(engine, second, cancel2.request.cl_ord_id, 6)
    parent = engine.parent(S, "P3")
    assert parent.status is OrdStatus.CANCELED
    assert [engine.parent(S, c) for c in ("P1", "P2")] == [parent, parent]
    assert known(engine) == (3, 1, 4, 1), "three ClOrdIDs; two children, two cancels"

    filled(engine, "Q1", 7)  # the next completed order pushes it out
    assert [engine.parent(S, c) for c in ("P1", "P2", "P3")] == [None, None, None]
    assert known(engine) == (1, 1, 1, 1), "Q1 alone"
    stray = engine.venue_execution(second.venue, venue_report(
        second, ExecType.CANCELED, OrdStatus.CANCELED, cl_ord_id=cancel2.request.cl_ord_id,
        orig=second.order.cl_ord_id), 8)
    assert [a.reason for a in stray] == ["unknown_child"]
    assert of(engine.new_order(S, new("P1"), 9), SendChild), "P1 may be used again"


def test_a_duplicate_clordid_is_refused_while_its_order_is_remembered():
    engine = make_engine(completed_orders_kept=10)
    filled(engine, "P1", 1)
    actions = engine.new_order(S, new("P1"), 2)
    [report] = reports(actions)
    assert report.ord_rej_reason is OrdRejReason.DUPLICATE_ORDER
    assert report.text == "duplicate ClOrdID (11) 'P1': already used in this session"
    assert not of(actions, SendChild)
    [refusal] = [a.message for a in engine.cancel_order(S, CancelFields("P1-C", "P1"), 3)]
    assert refusal.text == "order is already filled"
    for i in range(10):
        filled(engine, f"Q{i}", 4 + i)
    assert of(engine.new_order(S, new("P1"), 20), SendChild), "forgotten: free again"


def test_status_of_a_recently_completed_order_is_answered():
    engine = make_engine(completed_orders_kept=10)
    filled(engine, "P1", 1)
    order_id = engine.parent(S, "P1").order_id
    for i in range(9):
        filled(engine, f"Q{i}", 2 + i)  # P1 is now the oldest kept
    for fields in (StatusFields("P1", ord_status_req_id="R1"),
                   StatusFields(None, order_id=order_id, ord_status_req_id="R1")):
        [status] = reports(engine.order_status(S, fields, 20))
        assert (status.exec_type, status.ord_status, status.cum_qty, status.order_id,
                status.ord_status_req_id) == (ExecType.ORDER_STATUS, OrdStatus.FILLED, 100,
                                              order_id, "R1")
    [other] = reports(engine.order_status("OTHER", StatusFields(None, order_id=order_id), 21))
    assert other.ord_rej_reason is OrdRejReason.UNKNOWN_ORDER, "another session's order"

    filled(engine, "Q9", 22)  # one more: P1 is forgotten
    for fields in (StatusFields("P1"), StatusFields(None, order_id=order_id)):
        [unknown] = reports(engine.order_status(S, fields, 23))
        assert unknown.ord_rej_reason is OrdRejReason.UNKNOWN_ORDER


def test_late_and_duplicate_reports_for_a_retired_child_are_never_counted_again():
    engine = make_engine(completed_orders_kept=10)
    send = filled(engine, "P1", 1)
    parent = engine.parent(S, "P1")
    assert list(engine._retired) == [parent]
    again = venue_report(send, ExecType.TRADE, OrdStatus.FILLED, cum=100, last_qty=100,
                         last_px="190.01", exec_id="F-P1")
    assert [a.reason for a in engine.venue_execution("XNAS", again, 2)] == ["duplicate_exec"]
    late = engine.venue_execution("XNAS", replace(again, exec_id="F-LATE"), 3)
    assert [a.reason for a in late] == ["venue_overfill"]
    late_end = engine.venue_execution("XNAS", venue_report(
        send, ExecType.CANCELED, OrdStatus.CANCELED), 4)
    assert [a.reason for a in late_end] == ["illegal_transition"]
    for actions in (late, late_end):
        assert not of(actions, ChildFilled) and not of(actions, ChildEnded)
        assert not of(actions, ToOms)
    assert (parent.cum_qty, send.child.cum_qty, send.child.exec_ids) == (100, 100,
                                                                        {"F-P1", "F-LATE"})
    assert list(engine._retired) == [parent], "retired once"


def test_an_order_is_kept_while_a_child_works_or_a_cancel_is_pending():
    engine = make_engine(completed_orders_kept=5)
    [resting] = of(engine.new_order(S, new("W", price="189.90", tif="0"), 1), SendChild)
    acked(engine, resting, 2)
    for i in range(50):
        filled(engine, f"Q{i}", 3 + i)
    parent = engine.parent(S, "W")
    assert parent.status is OrdStatus.NEW and parent not in engine._retired
    [cancel] = of(engine.cancel_order(S, CancelFields("W-C", "W"), 60), CancelChild)
    for i in range(50):
        filled(engine, f"R{i}", 61 + i)
    assert engine.parent(S, "W-C") is parent and parent not in engine._retired
    assert engine.venue_execution("XNAS", venue_report(
        resting, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, cum=40, last_qty=40,
        last_px="189.90"), 120), "its child is still found"
    canceled(engine, resting, cancel.request.cl_ord_id, 121)
    assert parent.status is OrdStatus.CANCELED and engine._retired[-1] is parent
    assert known(engine) == (6, 5, 6, 5), "W, W-C and four fills; W's child and cancel"


def test_a_terminal_parent_with_a_working_child_is_not_done():
    engine = make_engine()
    filled(engine, "P1", 1)
    parent = engine.parent(S, "P1")
    assert parent.is_done
    straggler = ChildOrder("C-LATE", parent, "ARCX", "AAPL", Side.BUY, parent.ord_type,
                           parent.price, parent.tif, 100, 1)
    parent.children[straggler.cl_ord_id] = straggler
    assert not parent.is_done


def test_ended_passive_children_leave_the_passive_index_at_once():
    engine = make_engine()
    sends = of(engine.new_order(S, new(qty="2000", price="190.00", tif="0",
                                       target_strategy="1006"), 1), SendChild)
    assert engine._passive["AAPL"], "optimal placement posts behind the limit"
    for send in sends:
        acked(engine, send, 2)
    cancels = {c.request.orig_cl_ord_id: c.request.cl_ord_id
               for c in of(engine.cancel_order(S, CancelFields("P1-C", "P1"), 3), CancelChild)}
    for send in sends:
        canceled(engine, send, cancels[send.order.cl_ord_id], 4)
    assert engine.parent(S, "P1").status is OrdStatus.CANCELED
    assert not engine._passive["AAPL"], "no tick needed"


def test_markouts_without_a_mid_are_dropped_a_horizon_after_they_came_due():
    monitor = ExecutionMonitor()
    monitor.parent_arrived("O1", "best-price", "AAPL", Side.BUY, 100, D("100.00"), 0)
    monitor.fill("O1", "XNAS", 100, D("100.01"), D(0), D("100.00"), D("100.02"), None, 0)

    def waiting() -> int:
        return sum(len(queue) for queue in monitor._pending.values())

    assert monitor.quote("AAPL", None, 2 * NS - 1) == [] and waiting() == 3
    assert monitor.quote("AAPL", None, 2 * NS) == [] and waiting() == 2, "1 s: dropped"
    [ten] = monitor.quote("AAPL", D("100.03"), 10 * NS)
    assert (ten.horizon, waiting()) == ("10s", 1)
    monitor.parent_ended("O1", "filled", 100, D("10001"), D("100.03"), 11 * NS)
    assert monitor.quote("AAPL", None, 120 * NS) == [] and waiting() == 0
    assert not monitor._parents
