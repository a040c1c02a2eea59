"""Pre-trade limits, the throttle and the kill switch: alone, and driving the engine."""

from __future__ import annotations

from decimal import Decimal

from sor_daemon.config import RiskConfig, SessionLimits, SymbolLimits
from sor_daemon.core.actions import CancelChild, Halted, ParentEnded, Resumed, SendChild
from sor_daemon.core.domain import CxlRejReason, ExecType, OrdRejReason, OrdStatus, OrdType, Side
from sor_daemon.core.engine import Engine, IdSource
from sor_daemon.core.market import Level, Nbbo, VenueBook
from sor_daemon.core.messages import BusinessReject, CancelFields, ReplaceFields, StatusFields
from sor_daemon.core.risk import ALL, Throttle
from sor_daemon.service.wiring import risk_from_config
from tests.core.test_engine import S, new, of, reports, states, venue_report

D = Decimal
NS = 1_000_000_000
OTHER = "FIX.4.4:SOR->OMS2"
NBBO = Nbbo(Level(D("99.99"), 100), Level(D("100.01"), 100))


def checks(**risk):
    config = RiskConfig(**{"max_order_qty": 1000, "max_notional": D("50000"),
                           "price_collar_bps": 100.0, "max_open_orders": 2,
                           "messages_per_second": 5, "burst": 3, **risk})
    return risk_from_config(config, {S: SessionLimits(), OTHER: SessionLimits(
        max_order_qty=5000, max_notional=D("1000000"), restricted_symbols=["MSFT"])})


def check(session=S, symbol="AAPL", side=Side.BUY, ord_type=OrdType.LIMIT, qty=100,
          price: str | None = "100.00", open_orders=0, **risk):
    risk_checks, _ = checks(**risk)
    return risk_checks.check_order(session, symbol, side, ord_type, qty,
                                   D(price) if price else None, NBBO, open_orders)


def test_within_every_limit_passes():
    assert check() is None
    assert check(side=Side.SELL, price="99.50") is None


def test_each_breach_names_the_limit_and_the_value():
    cases = {
        "OrderQty (38) 1001 is above max_order_qty 1000": dict(qty=1001),
        "notional 60000.00 (600 x 100.00) is above max_notional 50000": dict(qty=600),
        "Price (44) 101.50 is 150 bps above the NBBO mid 100.00 (price_collar_bps 100)":
            dict(price="101.50"),
        "Price (44) 98.00 is 200 bps below the NBBO mid 100.00 (price_collar_bps 100)":
            dict(side=Side.SELL, price="98.00"),
        "2 orders already open: max_open_orders is 2": dict(open_orders=2),
    }
    for text, case in cases.items():
        refused = check(**case)
        assert refused is not None, case
        assert refused.reason is OrdRejReason.ORDER_EXCEEDS_LIMIT
        assert refused.text == f"risk limit: {text}"


def test_market_orders_are_valued_at_the_far_touch():
    refused = check(ord_type=OrdType.MARKET, price=None, qty=500)
    assert refused is not None and "(500 x 100.01)" in refused.text
    assert check(ord_type=OrdType.MARKET, price=None, qty=400) is None


def test_session_limits_replace_defaults_and_the_tighter_symbol_limit_wins():
    assert check(session=OTHER, qty=4000, price="100.00") is None   # above the default 1000
    symbols = {"AAPL": SymbolLimits(max_order_qty=3000)}
    refused = check(session=OTHER, qty=4000, symbols=symbols)
    assert refused is not None and "above max_order_qty 3000" in refused.text
    refused = check(session=OTHER, symbol="MSFT")
    assert refused is not None and refused.reason is OrdRejReason.BROKER_OPTION
    assert refused.text == "restricted symbol MSFT: not traded by this router"
    refused = check(restricted_symbols=["AAPL"])
    assert refused is not None and "restricted symbol AAPL" in refused.text


def test_throttle_allows_the_burst_then_the_rate():
    throttle = Throttle(rate=5, burst=3)
    assert [throttle.allow(0) for _ in range(4)] == [True, True, True, False]
    assert not throttle.allow(NS // 10)         # 0.5 tokens back
    assert throttle.allow(NS // 5)              # 1 token back
    assert [throttle.allow(10 * NS) for _ in range(4)] == [True, True, True, False]


def test_throttle_is_per_session():
    risk, _ = checks()
    assert [risk.admit(S, 0) is None for _ in range(4)] == [True, True, True, False]
    assert risk.admit(OTHER, 0) is None, "another session keeps its own budget"
    refused = risk.admit(S, 0)
    assert refused is not None
    assert refused.text == ("throttled: more than 5 messages per second (burst 3) from this "
                            "session")


def test_cancels_and_status_requests_have_an_allowance_of_their_own():
    risk, _ = checks(cancels_per_second=10, cancel_burst=2)
    assert [risk.admit(S, 0) is None for _ in range(4)] == [True, True, True, False]
    assert [risk.admit(S, 0, cancel=True) is None for _ in range(3)] == [True, True, False]
    refused = risk.admit(S, 0, cancel=True)
    assert refused is not None and refused.text == (
        "throttled: more than 10 cancel and status requests per second (burst 2) from this "
        "session")
    assert risk.admit(S, NS // 10, cancel=True) is None  # 1 token back
    assert risk.admit(S, NS // 5) is None, "orders kept their own allowance meanwhile"


# ------------------------------------------------------------------ in the engine


def engine_with(**risk) -> Engine:
    risk_checks, switch = checks(**{"messages_per_second": 1000, "burst": 1000,
                                    "max_open_orders": 100, "max_notional": None,
                                    "price_collar_bps": 500.0, **risk})
    engine = Engine({"AAPL": D("0.01"), "MSFT": D("0.01")}, states(XNAS="lit", ARCX="lit"),
                    "best-price", IdSource("T-"), risk=risk_checks, kill_switch=switch)
    for venue in ("XNAS", "ARCX"):
        engine.venue_session(venue, True, 0)
        engine.venue_book(VenueBook(venue, "AAPL", (Level(D("189.99"), 300),),
                                    (Level(D("190.01"), 300),), 0))
    return engine


def rested(engine: Engine, cl: str = "P1", qty: str = "100") -> SendChild:
    """A Day buy resting at 189.98 on a venue, acknowledged."""
    [send] = of(engine.new_order(S, new(cl, qty=qty, price="189.98", tif="0"), 1), SendChild)
    engine.venue_execution(send.venue, venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    return send


def test_engine_rejects_a_breach_with_ord_rej_reason_3():
    engine = engine_with()
    [report] = reports(engine.new_order(S, new(qty="2000"), 1))
    assert (report.exec_type, report.ord_rej_reason) == (ExecType.REJECTED,
                                                        OrdRejReason.ORDER_EXCEEDS_LIMIT)
    assert report.text == "risk limit: OrderQty (38) 2000 is above max_order_qty 1000"
    assert engine.parent(S, "P1") is None
    [report] = reports(engine.new_order(S, new("P2", price="200.00"), 1))
    assert "above the NBBO mid 190.00" in report.text


def test_max_open_orders_counts_working_parents_of_the_session():
    engine = engine_with(max_open_orders=1)
    rested(engine, "P1")
    [refused] = reports(engine.new_order(S, new("P2", price="189.98", tif="0"), 3))
    assert refused.text == "risk limit: 1 orders already open: max_open_orders is 1"
    assert of(engine.new_order(OTHER, new("P3", price="189.98", tif="0"), 3), SendChild)


def test_replace_terms_are_checked_too():
    engine = engine_with()
    rested(engine)
    fields = ReplaceFields("R1", "P1", "AAPL", "1", "5000", "2", "189.98", "0")
    [refusal] = [a.message for a in engine.replace_order(S, fields, 3) if hasattr(a, "message")]
    assert refusal.text == "risk limit: OrderQty (38) 5000 is above max_order_qty 1000"


def test_halt_refuses_new_orders_cancels_children_and_resume_routes_again():
    engine = engine_with()
    send = rested(engine)
    actions = engine.halt(ALL, "desk request", "operator", 5)
    [halted] = of(actions, Halted)
    assert (halted.halt.scope, halted.halt.by) == (ALL, "operator")
    [cancel] = of(actions, CancelChild)
    assert cancel.request.orig_cl_ord_id == send.order.cl_ord_id
    assert engine.halt(ALL, "again", "operator", 6) == [], "already engaged"
    [refused] = reports(engine.new_order(S, new("P2"), 6))
    assert refused.ord_rej_reason is OrdRejReason.BROKER_OPTION
    assert refused.text == ("kill switch engaged (desk request, by operator): new orders "
                            "are refused until an operator resumes")
    # The child's cancel is confirmed: the parent stays open, nothing is routed.
    done = engine.venue_execution(send.venue, venue_report(
        send, ExecType.CANCELED, OrdStatus.CANCELED, cl_ord_id=cancel.request.cl_ord_id,
        orig=send.order.cl_ord_id), 7)
    assert not of(done, SendChild) and not reports(done)
    assert engine.parent(S, "P1").status is OrdStatus.NEW
    resumed = engine.resume(8)
    assert of(resumed, Resumed) and len(of(resumed, SendChild)) == 1
    assert engine.resume(9) == [], "nothing left to resume"


def test_cancel_all_ends_every_open_parent_unsolicited():
    engine = engine_with()
    first, second = rested(engine, "P1"), rested(engine, "P2")
    actions = engine.cancel_all("canceled by operator: end of day", 5)
    cancels = of(actions, CancelChild)
    assert len(cancels) == 2 and not reports(actions), "no PendingCancel for our own cancel"
    for send, cancel in zip((first, second), cancels, strict=True):
        done = engine.venue_execution(send.venue, venue_report(
            send, ExecType.CANCELED, OrdStatus.CANCELED, cl_ord_id=cancel.request.cl_ord_id,
            orig=send.order.cl_ord_id), 6)
        [report] = reports(done)
        assert (report.exec_type, report.orig_cl_ord_id, report.text) == (
            ExecType.CANCELED, None, "canceled by operator: end of day")
        assert of(done, ParentEnded)
    assert not engine.open_parents()


def test_a_burst_of_child_rejects_engages_the_kill_switch():
    engine = engine_with(breakers={"reject_burst": 3, "reject_window_s": 10})
    for i in range(3):
        [send] = of(engine.new_order(S, new(f"P{i}", qty="100"), i), SendChild)
        actions = engine.venue_execution(send.venue, venue_report(
            send, ExecType.REJECTED, OrdStatus.REJECTED, text="no"), i)
    [halted] = of(actions, Halted)
    assert halted.halt.by == "reject breaker"
    assert halted.halt.reason == "3 child rejects within 10 s"
    assert engine.kill_switch.engaged


def test_losing_every_lit_book_halts_the_symbol_until_resumed():
    engine = engine_with()
    assert engine.tick(1) == []
    engine.venue_session("XNAS", False, 2)
    assert engine.tick(3) == [], "ARCX still publishes AAPL"
    engine.venue_session("ARCX", False, 4)
    [halted] = of(engine.tick(5), Halted)
    assert (halted.halt.scope, halted.halt.by) == ("AAPL", "market data breaker")
    assert not engine.kill_switch.engaged, "only AAPL"
    engine.venue_session("XNAS", True, 6)
    engine.venue_book(VenueBook("XNAS", "AAPL", (Level(D("189.99"), 300),),
                                (Level(D("190.01"), 300),), 7))
    [refused] = reports(engine.new_order(S, new("P9"), 8))
    assert refused.text.startswith("AAPL halted (no market data"), "resume is explicit"
    engine.resume(9)
    assert of(engine.new_order(S, new("P10"), 10), SendChild)


def test_a_cancel_flood_is_refused_past_its_allowance_but_never_for_a_working_order():
    engine = engine_with(cancels_per_second=1, cancel_burst=1)
    send = rested(engine)
    [refusal] = engine.cancel_order(S, CancelFields("C1", "NOPE"), 3)
    assert refusal.message.reason is CxlRejReason.UNKNOWN_ORDER
    [throttled] = engine.cancel_order(S, CancelFields("C2", "NOPE"), 3)
    assert (throttled.message.reason, throttled.message.text) == (
        CxlRejReason.OTHER, "throttled: more than 1 cancel and status requests per second "
                            "(burst 1) from this session")
    actions = engine.cancel_order(S, CancelFields("P1-C", "P1"), 3)
    assert [r.exec_type for r in reports(actions)] == [ExecType.PENDING_CANCEL]
    assert [c.request.orig_cl_ord_id for c in of(actions, CancelChild)] == [
        send.order.cl_ord_id]


def test_a_throttled_status_request_gets_a_business_reject():
    engine = engine_with(cancels_per_second=1, cancel_burst=1)
    rested(engine)
    [known] = reports(engine.order_status(S, StatusFields("P1", seq_num="7"), 3))
    assert known.exec_type is ExecType.ORDER_STATUS
    [refused] = engine.order_status(S, StatusFields("P1", seq_num="8"), 3)
    assert refused.message == BusinessReject(
        "8", "H", 0, "throttled: more than 1 cancel and status requests per second (burst 1) "
                     "from this session")


def test_the_throttle_counts_when_messages_arrived_not_when_they_are_handled():
    """An OMS paced at 550 messages per second for two seconds, under a limit of 1000 (burst
    200), whose messages the router gets round to all at once after a backlog."""
    engine = engine_with(messages_per_second=1000, burst=200, max_open_orders=5000)
    handled = 10 * NS
    refused = [r.text for i in range(1100)
               for r in reports(engine.new_order(S, new(f"P{i}", price="189.98", tif="0"),
                                                 handled, received_ns=NS + i * NS // 550))
               if r.exec_type is ExecType.REJECTED]
    assert refused == []
    assert len(engine.open_parents()) == 1100
