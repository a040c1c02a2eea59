"""The simulated market driven in-process with a simulated clock (no FIX)."""

from __future__ import annotations

import statistics
from decimal import Decimal

import pytest

from sor_daemon.config import load_config, load_market
from sor_daemon.core.actions import SendChild
from sor_daemon.core.domain import (
    ExecType,
    LiquidityInd,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)
from sor_daemon.core.engine import Engine, IdSource
from sor_daemon.core.market import VenueBook
from sor_daemon.core.messages import (
    CancelFields,
    ExecutionReport,
    NewOrder,
    NewOrderFields,
    StatusFields,
)
from sor_daemon.fix.codec import SOH, FixMessage, Pairs, decode_new_order, encode_new_order, parse
from sor_daemon.fix.endpoint import SessionSpec
from sor_daemon.fix.market_data import VenueFeed
from sor_sim.broker import SimBroker
from sor_sim.config import FadeConfig, ImpactConfig, RefillConfig
from sor_sim.exchange import Increment, Outbound, Snapshot
from sor_sim.market import SimMarket
from sor_sim.venue import encode
from tests.conftest import DEFAULT_CONFIG, ROOT
from tests.core.test_engine import states

SCENARIOS = ROOT / "config" / "scenarios"
MS = 1_000_000
S = "FIX.4.4:XNAS->SOR"


def make_market(scenario: str | None = None, **overrides) -> SimMarket:
    config = load_config(DEFAULT_CONFIG)
    path = SCENARIOS / f"{scenario}.toml" if scenario else ROOT / "config" / "sim-market.toml"
    market = load_market(path, config)
    if overrides:
        market = market.model_copy(update=overrides)
    return SimMarket(market, [(v.name, v.kind) for v in config.venues],
                     {s: c.tick_size for s, c in config.symbols.items()}, start_ns=0)


def order(cl: str, side: str, qty: int, price: str | None, tif: str = "3", symbol="AAPL",
          **extra) -> NewOrderFields:
    return NewOrderFields(cl, symbol, side, str(qty), "2" if price else "1", price, tif,
                          **extra)


def reports(out) -> list[ExecutionReport]:
    return [o.message for o in out if isinstance(o.message, ExecutionReport)]


def run_session(seed: int) -> list[tuple]:
    """A minute of the normal scenario with the same client orders every time."""
    sim = make_market("normal", seed=seed)
    fills = []
    for step in range(1, 6001):
        now = step * 10 * MS
        out = [o for _, o in sim.step(now)]
        if step % 50 == 0:
            side = "1" if step % 100 == 0 else "2"
            venue = "XNAS" if step % 150 else "ARCX"
            out += sim.new_order(venue, S, order(f"C{step}", side, 300, None))
        if step % 200 == 0:
            out += sim.new_order("DARKA", S, order(f"D{step}", "1", 500, None, min_qty="100"))
        fills += [(r.cl_ord_id, r.last_qty, r.last_px, r.last_mkt) for r in reports(out)
                  if r.exec_type is ExecType.TRADE]
    return fills


def test_same_seed_and_orders_give_the_same_fills():
    first, second = run_session(11), run_session(11)
    assert first == second
    assert len(first) > 50
    assert run_session(12) != first


def test_prices_move_in_a_living_market_and_not_in_the_static_one():
    living, static = make_market("volatile"), make_market()
    start = living.model.fundamental("AAPL")
    for step in range(1, 3001):
        living.step(step * 10 * MS)
        static.step(step * 10 * MS)
    assert living.model.fundamental("AAPL") != start
    assert static.model.fundamental("AAPL") == Decimal("190.00")
    bid, ask = living.nbbo("AAPL")
    assert bid < ask, "the consolidated book must never be crossed"


def received(msg_type: str, pairs: Pairs) -> FixMessage:
    """A message as the other side's FIX endpoint hands it over: its text, parsed."""
    return parse(SOH.join(f"{tag}={value}" for tag, value in [(35, msg_type), *pairs]))


def wire(item: Outbound) -> FixMessage:
    return received(*encode(item.message))


def levels(book: VenueBook) -> tuple[list[tuple[Decimal, int]], list[tuple[Decimal, int]]]:
    return [(lv.price, lv.size) for lv in book.bids], [(lv.price, lv.size) for lv in book.asks]


@pytest.mark.parametrize("scenario", ["normal", "volatile", "thin", "flash-crash"])
def test_subscriber_rebuilds_the_book_from_snapshot_and_increments(scenario: str):
    sim = make_market(scenario)
    venue = sim.lit["XNAS"]
    feed = VenueFeed("XNAS")  # what the FIX connector builds its books with
    for item in venue.subscribe(S, "MD1", 5, ("AAPL", "MSFT")):
        assert isinstance(item.message, Snapshot)
        feed.snapshot(wire(item), 0)
    increments = 0
    for step in range(1, 3001):
        now = step * 10 * MS
        out = [o for name, o in sim.step(now) if name == "XNAS"]
        if step % 70 == 0:
            out += sim.new_order("XNAS", S, order(f"C{step}", "1" if step % 140 else "2", 500,
                                                  None))
        for item in out:
            if isinstance(item.message, Increment) and item.session == S:
                increments += 1
                feed.increment(wire(item), now)
    assert increments > 100
    for symbol in ("AAPL", "MSFT"):
        book = feed.book(symbol)
        assert book is not None and levels(book) == venue.depth(symbol, 5)


def test_engine_book_equals_the_venue_book_after_its_own_fills_trades_only_included():
    """The engine takes its fills off its copy of the venue's book; the house then tops
    the level back up to the same size and publishes an increment with trades only. The
    engine's copy must be the venue's book again after it, as after every increment."""
    sim = make_market()  # static: the house refills each level to its size
    venue = sim.lit["XNAS"]
    feed = VenueFeed("XNAS")
    engine = Engine({"AAPL": Decimal("0.01")}, states(XNAS="lit"), "best-price", IdSource("T-"))
    engine.venue_session("XNAS", True, 0)
    checked = trade_only = 0

    def deliver(out: list[Outbound], now: int) -> None:
        nonlocal checked, trade_only
        queue = list(out)
        while queue:
            item = queue.pop(0)
            message = item.message
            if isinstance(message, Snapshot):
                engine.venue_book(feed.snapshot(wire(item), now), now)
            elif isinstance(message, Increment):
                trade_only += not message.changes
                for book in feed.increment(wire(item), now).books:
                    engine.venue_book(book, now)
                checked += 1
                assert levels(engine.market.venue_books("AAPL")["XNAS"]) == venue.depth(
                    "AAPL", 5), f"after increment {checked}"
            elif isinstance(message, ExecutionReport):
                for action in engine.venue_execution("XNAS", message, now):
                    if isinstance(action, SendChild):
                        queue += sim.new_order("XNAS", S, decode_new_order(
                            received("D", encode_new_order(action.order))))

    deliver(venue.subscribe(S, "MD1", 5, ("AAPL",)), 1)
    (ask, size), *_ = venue.depth("AAPL", 5)[1]
    for n in range(1, 4):  # each takes the whole touch, which the house refills
        actions = engine.new_order("FIX.4.4:SOR->OMS", NewOrderFields(
            f"P{n}", "AAPL", "1", str(size), "2", str(ask), "3"), 10 * n)
        [send] = [a for a in actions if isinstance(a, SendChild)]
        assert (send.order.price, send.order.qty) == (ask, size)
        deliver(sim.new_order("XNAS", S, decode_new_order(
            received("D", encode_new_order(send.order)))), 10 * n)
        assert engine.parent("FIX.4.4:SOR->OMS", f"P{n}").cum_qty == size
    assert trade_only >= 3 and checked >= 3


def test_fills_carry_fees_and_liquidity_flags():
    sim = make_market()
    rest = reports(sim.new_order("XNAS", S, order("M1", "1", 100, "189.98", tif="0")))
    assert rest[0].exec_type is ExecType.NEW
    take = reports(sim.new_order("XNAS", "FIX.4.4:XNAS->OTHER",
                                 order("T1", "2", 1000, "189.97", tif="3")))
    [ours] = reports(sim.status("XNAS", S, StatusFields("M1")))
    assert ours.cum_qty == 100
    trades = [r for r in take if r.exec_type is ExecType.TRADE]
    taker = [r for r in trades if r.cl_ord_id == "T1"]
    maker = [r for r in trades if r.cl_ord_id == "M1"]
    assert taker and all(r.liquidity is LiquidityInd.REMOVED for r in taker)
    assert all(r.commission is not None and r.commission > 0 for r in taker)  # taker pays
    # XNAS is maker-taker: the resting order that was hit earns a rebate.
    [fill] = maker
    assert fill.liquidity is LiquidityInd.ADDED and fill.commission < 0


@pytest.mark.parametrize(("fields", "text"), [
    (order("B1", "1", 100, "190.015"), "not a multiple of the tick"),
    (order("B2", "1", 150, "190.01", symbol="MSFT"), "lot size"),
    (order("B3", "1", 100, "190.01", symbol="ZZZZ"), "unknown symbol"),
    (order("B4", "1", 100, "190.05", tif="0", exec_inst="6"), "post-only"),
])
def test_venue_rejects_bad_orders_with_text(fields: NewOrderFields, text: str):
    sim = make_market("normal")
    sim.lit["XNAS"]._lots["MSFT"] = 100  # type: ignore[index]
    [report] = reports(sim.new_order("XNAS", S, fields))
    assert report.exec_type is ExecType.REJECTED
    assert text in (report.text or "")


def test_fok_fills_completely_or_not_at_all():
    sim = make_market()
    nothing = reports(sim.new_order("XNAS", S, order("F1", "1", 5000, "190.01", tif="4")))
    assert [r.exec_type for r in nothing] == [ExecType.NEW, ExecType.CANCELED]
    full = reports(sim.new_order("XNAS", S, order("F2", "1", 300, "190.01", tif="4")))
    assert full[-1].ord_status is OrdStatus.FILLED


def test_cancel_of_unknown_order_is_refused():
    sim = make_market()
    [out] = sim.cancel("XNAS", S, CancelFields("X1", "NOPE", "AAPL", "1"))
    assert "unknown order" in out.message.text


@pytest.mark.parametrize("venue", ["XNAS", "DARKA"])
def test_cancel_session_cancels_that_sessions_working_orders_only(venue: str):
    """Cancel on disconnect: resting orders of the session go, each reported once (even
    after a cancel/replace chain gave it a second ClOrdID); other sessions keep theirs."""
    sim = make_market()
    other = "FIX.4.4:XNAS->OTHER"
    sim.new_order(venue, S, order("A1", "1", 200, "150.00", tif="0"))
    sim.new_order(venue, S, order("A2", "2", 200, "250.00", tif="0"))
    sim.new_order(venue, S, order("GONE", "1", 200, "150.00", tif="0"))
    sim.cancel(venue, S, CancelFields("GONE2", "GONE", "AAPL", "1"))
    sim.new_order(venue, other, order("B1", "1", 200, "150.00", tif="0"))
    out = reports(sim.cancel_session(venue, S, "cancel on disconnect"))
    assert [(r.cl_ord_id, r.exec_type, r.ord_status, r.leaves_qty, r.text) for r in out] == [
        (cl, ExecType.CANCELED, OrdStatus.CANCELED, 0, "cancel on disconnect")
        for cl in ("A1", "A2")]
    assert sim.cancel_session(venue, S, "again") == []
    [mine] = reports(sim.status(venue, S, StatusFields("A1")))
    [theirs] = reports(sim.status(venue, other, StatusFields("B1")))
    assert (mine.ord_status, theirs.ord_status) == (OrdStatus.CANCELED, OrdStatus.NEW)
    if venue == "XNAS":
        assert sim.lit["XNAS"].book("AAPL").get(mine.order_id) is None
        assert sim.lit["XNAS"].book("AAPL").get(theirs.order_id) is not None


def test_cancel_session_tells_subscribers_the_book_changed():
    sim = make_market()
    watcher = "FIX.4.4:XNAS->WATCH"
    sim.subscribe("XNAS", watcher, "M1", 10, ("AAPL",))
    sim.new_order("XNAS", S, order("A1", "1", 200, "150.00", tif="0"))
    out = sim.cancel_session("XNAS", S, "cancel on disconnect")
    assert [type(o.message) for o in out] == [ExecutionReport, Increment]
    assert out[1].session == watcher


@pytest.mark.parametrize("cancel_on_disconnect", [True, False])
def test_broker_cancels_its_sessions_orders_at_every_venue_on_disconnect(
        cancel_on_disconnect: bool):
    """The broker's orders rest at the venues under ``BRKA|session``; with cancel on
    disconnect they all go when that session logs out, reported on the broker session."""
    sim = make_market()
    session = "FIX.4.4:BRKA->SOR"
    broker = SimBroker("BRKA", sim, [SessionSpec("BRKA", "SOR", 1)],
                       frozenset({"XNAS", "DARKA"}), Decimal("0.001"), 0,
                       cancel_on_disconnect=cancel_on_disconnect)
    sent: list[tuple[str, str, Pairs]] = []
    broker.endpoint.send = lambda *message: sent.append(message) or True  # type: ignore[method-assign]
    for cl, venue in (("A1", "XNAS"), ("A2", "DARKA")):
        pairs = encode_new_order(NewOrder(cl, "AAPL", Side.BUY, 200, OrdType.LIMIT,
                                          Decimal("150.00"), TimeInForce.DAY, venue))
        broker.on_message(session, FixMessage("D", dict(pairs), pairs))
    assert [(s, t) for s, t, _ in sent] == [(session, "8")] * 2
    broker.on_logout(session)
    canceled = [dict(pairs) for _, _, pairs in sent[2:]]
    assert sorted((c[11], c[150], c[58]) for c in canceled) == (
        [("A1", "4", "cancel on disconnect"), ("A2", "4", "cancel on disconnect")]
        if cancel_on_disconnect else [])


def test_dark_pool_fills_only_at_the_midpoint_and_never_below_min_qty():
    sim = make_market(dark={"DARKA": load_market(
        SCENARIOS / "dark-heavy.toml", load_config(DEFAULT_CONFIG)).dark["DARKA"]})
    bid, ask = sim.nbbo("AAPL")
    mid = (Decimal(bid) + Decimal(ask)) * Decimal("0.01") / 2
    fills = []
    for i in range(200):
        out = sim.new_order("DARKA", S, order(f"D{i}", "1" if i % 2 else "2", 1000, None,
                                              min_qty="300"))
        fills += [r for r in reports(out) if r.exec_type is ExecType.TRADE]
    assert fills, "a dark-heavy pool must fill some pings"
    assert all(r.last_px == mid for r in fills)
    assert all(r.last_qty >= 300 for r in fills)


def test_dark_pool_refuses_min_qty_above_order_qty():
    sim = make_market()
    [report] = reports(sim.new_order("DARKA", S, order("D1", "1", 100, None, min_qty="500")))
    assert report.ord_rej_reason is OrdRejReason.INCORRECT_QUANTITY


def test_outage_windows():
    sim = make_market("venue-outage")
    assert not sim.is_down("XNAS", 29 * 1_000_000_000)
    assert sim.is_down("XNAS", 31 * 1_000_000_000)
    assert not sim.is_down("XNAS", 61 * 1_000_000_000)
    assert not sim.is_down("ARCX", 31 * 1_000_000_000)


def test_flash_crash_falls_and_recovers():
    sim = make_market("flash-crash")
    before = sim.model.fundamental("SPY")
    sim.step(50 * 1_000_000_000)
    crashed = sim.model.fundamental("SPY")
    sim.step(120 * 1_000_000_000)
    recovered = sim.model.fundamental("SPY")
    assert crashed < before * Decimal("0.95")
    assert abs(recovered - before) < before * Decimal("0.01")
    bid, ask = sim.nbbo("SPY")
    assert bid < ask


def test_a_clients_market_order_moves_every_venues_quotes_and_the_move_decays():
    """With an impact model, taking liquidity moves the fundamental: every venue's house
    quotes follow from the next step; the transient part fades, the permanent part stays.
    The background flow does not move it (its impact is in the volatility)."""
    sim = make_market(impact=ImpactConfig(coefficient_bps=2.0, decay_s=0.5, permanent=0.25))
    sim.step(10 * MS)
    before = sim.nbbo("AAPL")
    bids = {venue: sim.lit[venue].best_ticks("AAPL")[0] for venue in ("XNAS", "ARCX", "BATX")}
    assert sim.model.impact_bps("AAPL") == 0.0
    sim.new_order("XNAS", S, order("C1", "1", 2500, None))  # 2 bps * sqrt(25) = 10 bps
    assert sim.model.impact_bps("AAPL") == pytest.approx(10.0, rel=1e-3)
    sim.step(20 * MS)
    moved = sim.nbbo("AAPL")
    assert moved[0] >= before[0] + 18 and moved[1] >= before[1] + 18  # ~19 ticks at 190
    for venue, bid in bids.items():
        assert sim.lit[venue].best_ticks("AAPL")[0] >= bid + 18
    sim.step(60_000 * MS)
    later = sim.nbbo("AAPL")
    assert before[0] + 4 <= later[0] < moved[0]  # 2.5 bps permanent + what is left
    assert sim.model.impact_bps("AAPL") == pytest.approx(
        10.0 * (0.25 + 0.75 * (1 + 60 / 0.5) ** -0.5), rel=0.01)


def _recovery(seed: int) -> list[float]:
    """XNAS's best ask in the static market with queue-reactive refill, taken by a client
    market order: when each chunk of it comes back (seconds after the trade)."""
    venues = load_market(ROOT / "config" / "sim-market.toml", load_config(DEFAULT_CONFIG)).venues
    xnas = venues["XNAS"].model_copy(update={"refill": RefillConfig(rate=20.0, chunk=0.25)})
    sim = make_market(seed=seed, venues={**venues, "XNAS": xnas})
    exchange = sim.lit["XNAS"]
    price, size = exchange.depth("AAPL", 1)[1][0]
    assert size == 300
    sim.new_order("XNAS", S, order("C1", "1", 300, None))
    assert dict(exchange.depth("AAPL", 5)[1]).get(price, 0) == 0  # not refilled at once
    arrivals, shown, now = [], 0, 0
    while shown < 300 and now < 30_000 * MS:
        now += 10 * MS
        sim.step(now)
        level = dict(exchange.depth("AAPL", 5)[1]).get(price, 0)
        if level > shown:
            arrivals.append(now / 1e9)
            shown = level
    assert shown == 300
    return arrivals


def test_queue_reactive_refill_recovers_a_depleted_queue_faster_the_emptier_it_is():
    """Huang, Lehalle and Rosenbaum (2015): limit orders arrive at a queue with an
    intensity that depends on its size. Here rate * (1 - shown/size) chunks of a quarter
    of the level per second: a taken queue is back only after a while (not at once, as
    without a refill profile), in expected 1/20 * (1 + 4/3 + 2 + 4) = 0.42 s, and the
    first chunk (empty queue) comes about four times sooner than the last."""
    runs = [_recovery(seed) for seed in range(150)]
    assert all(len(r) == 4 for r in runs)  # four chunks of 75
    recovery = statistics.mean(r[-1] for r in runs)
    expected = (1 + 4 / 3 + 2 + 4) / 20 + 4 * 0.005  # + half a 10 ms step per chunk
    assert recovery == pytest.approx(expected, rel=0.15)
    first = statistics.mean(r[0] for r in runs)
    last = statistics.mean(r[3] - r[2] for r in runs)
    assert 2.5 < last / first < 6
    instant = make_market()  # no refill profile: topped up after the trade itself
    price = instant.lit["XNAS"].depth("AAPL", 1)[1][0][0]
    instant.new_order("XNAS", S, order("C1", "1", 300, None))
    assert dict(instant.lit["XNAS"].depth("AAPL", 5)[1])[price] == 300


def test_quotes_on_other_venues_fade_a_reaction_time_after_a_trade():
    """Fleeting liquidity (Budish, Cramton and Shim 2015 on the race it starts; RBC's THOR
    aligns a sweep's arrivals to beat it): after a client buys at XNAS, ARCX's maker
    reprices its offers two ticks up once its reaction time has passed, for its hold
    time. An order reaching ARCX before that still gets the displayed price."""
    venues = load_market(ROOT / "config" / "sim-market.toml", load_config(DEFAULT_CONFIG)).venues
    arcx = venues["ARCX"].model_copy(update={"fade": FadeConfig(reaction_ms=5, ticks=2,
                                                                 hold_ms=500)})
    sim = make_market(venues={**venues, "ARCX": arcx})
    sim.step(10 * MS)
    bid0, ask0 = sim.lit["ARCX"].best_ticks("AAPL")
    xnas0 = sim.lit["XNAS"].best_ticks("AAPL")
    sim.new_order("XNAS", S, order("C1", "1", 300, None))
    assert sim.lit["ARCX"].best_ticks("AAPL") == (bid0, ask0)  # within the reaction time
    fills = [r for r in reports(sim.new_order("ARCX", S, order("C2", "1", 100, None)))
             if r.exec_type is ExecType.TRADE]
    assert fills[0].last_px == ask0 * Decimal("0.01")  # aligned: the displayed price
    sim.step(20 * MS)
    assert sim.lit["ARCX"].best_ticks("AAPL") == (bid0, ask0 + 2)  # offers faded
    assert sim.lit["XNAS"].best_ticks("AAPL") == xnas0  # the venue traded does not fade
    late = [r for r in reports(sim.new_order("ARCX", S, order("C3", "1", 100, None)))
            if r.exec_type is ExecType.TRADE]
    assert late[0].last_px == (ask0 + 2) * Decimal("0.01")  # too late: two ticks worse
    sim.step(600 * MS)  # the ARCX trade faded nothing (no other venue fades)
    assert sim.lit["ARCX"].best_ticks("AAPL") == (bid0, ask0)  # back after the hold
