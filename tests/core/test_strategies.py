"""Routing strategies on crafted books (allocations written out by hand), and their
invariants on random books (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.core.market import ConsolidatedBook, Level, VenueBook, within_limit
from sor_daemon.core.routing.context import RoutingContext
from sor_daemon.core.routing.registry import STRATEGIES
from sor_daemon.core.routing.strategy import ChildPlan, RouteRequest, VenueState, price_key

D = Decimal
IOC, DAY = TimeInForce.IOC, TimeInForce.DAY


def book(venue: str, bids: list[tuple[str, int]], asks: list[tuple[str, int]],
         updated_ns: int = 0) -> VenueBook:
    return VenueBook(venue, "AAPL", tuple(Level(D(p), q) for p, q in bids),
                     tuple(Level(D(p), q) for p, q in asks), updated_ns)


def market(*books: VenueBook) -> ConsolidatedBook:
    consolidated = ConsolidatedBook()
    for b in books:
        consolidated.update(b)
    return consolidated


CONTEXT = RoutingContext(["DARKA"])
VENUES = {
    "XNAS": VenueState("XNAS", "lit", True, taker_fee=D("0.0030"), expected_latency_ms=0.2),
    "ARCX": VenueState("ARCX", "lit", True, taker_fee=D("-0.0005"), expected_latency_ms=0.3),
    "BATX": VenueState("BATX", "lit", True, taker_fee=D("0.0005"), expected_latency_ms=1.0),
    "DARKA": VenueState("DARKA", "dark", True, min_qty=200),
}
# Offers: XNAS 190.01 x300, 190.02 x500; ARCX 190.02 x500, 190.03 x500; BATX 190.03 x1000
CRAFTED = market(
    book("XNAS", [("189.99", 300)], [("190.01", 300), ("190.02", 500)]),
    book("ARCX", [("190.00", 500)], [("190.02", 500), ("190.03", 500)]),
    book("BATX", [("189.98", 1000)], [("190.03", 1000)]),
)


def request(qty: int, limit: str | None = "190.05", side: Side = Side.BUY, tif=IOC,
            exhausted: frozenset[str] = frozenset(), pinned: str | None = None) -> RouteRequest:
    return RouteRequest("AAPL", side, OrdType.LIMIT if limit else OrdType.MARKET,
                        D(limit) if limit else None, tif, qty, pinned, exhausted)


def plan(name: str, req: RouteRequest, books: ConsolidatedBook = CRAFTED,
         venues=VENUES, now_ns: int = 0) -> list[tuple[str, int, Decimal | None, TimeInForce]]:
    children = STRATEGIES[name].plan(req, books, venues, now_ns, CONTEXT)
    return sorted((c.venue, c.qty, c.price, c.tif) for c in children)


def test_sweep_takes_the_best_prices_first_across_venues():
    # 1500 within 190.03: XNAS 300@.01; at .02 ARCX first (lower fee) 500 then XNAS 500;
    # 200 more at .03: ARCX first (lower fee) -> ARCX up to .03 for 700, XNAS to .02 for 800.
    assert plan("sweep", request(1500)) == [
        ("ARCX", 700, D("190.03"), IOC),
        ("XNAS", 800, D("190.02"), IOC),
    ]


def test_sweep_stops_at_the_limit_and_posts_a_day_residual_elsewhere():
    assert plan("sweep", request(400, limit="190.01")) == [("XNAS", 300, D("190.01"), IOC)]
    # Nothing marketable at 189.95: a Day order joins the best bid (ARCX 190.00).
    assert plan("sweep", request(400, limit="189.95", tif=DAY)) == [
        ("ARCX", 400, D("189.95"), DAY)]
    assert plan("sweep", request(400, limit="189.95")) == []


def test_sweep_respects_exhausted_and_pinned_venues():
    assert plan("sweep", request(300, exhausted=frozenset({"XNAS"}))) == [
        ("ARCX", 300, D("190.02"), IOC)]
    assert plan("sweep", request(600, pinned="BATX")) == [("BATX", 600, D("190.03"), IOC)]


def test_liquidity_weighted_splits_the_touch_by_size():
    # Touch 190.02 once XNAS is exhausted: ARCX 500 only. With all venues: XNAS alone
    # at 190.01.
    assert plan("liquidity-weighted", request(1000)) == [("XNAS", 300, D("190.01"), IOC)]
    tied = market(book("XNAS", [], [("190.02", 300)]), book("ARCX", [], [("190.02", 600)]),
                  book("BATX", [], [("190.03", 1000)]))
    assert plan("liquidity-weighted", request(600), tied) == [
        ("ARCX", 400, D("190.02"), IOC), ("XNAS", 200, D("190.02"), IOC)]


def test_round_robin_splits_evenly_at_the_best_price():
    # The naive baseline: every venue gets a third at the best price anywhere (the odd
    # share to the first name); ARCX and BATX do not quote 190.01 and will miss.
    assert plan("round-robin", request(1000)) == [
        ("ARCX", 334, D("190.01"), IOC), ("BATX", 333, D("190.01"), IOC),
        ("XNAS", 333, D("190.01"), IOC)]


def test_stale_books_are_not_routed_to():
    stale = {**VENUES, "XNAS": VenueState("XNAS", "lit", True, max_quote_age_ns=1_000)}
    assert plan("sweep", request(300), venues=stale, now_ns=5_000) == [
        ("ARCX", 300, D("190.02"), IOC)]
    assert plan("sweep", request(300), venues=stale, now_ns=500) == [
        ("XNAS", 300, D("190.01"), IOC)]


# ---------------------------------------------------------------- invariants

PRICES = [D("190.00") + D("0.01") * i for i in range(-5, 6)]


@st.composite
def random_book(draw, venue: str) -> VenueBook:
    mid = draw(st.integers(3, 7))
    bid_prices = sorted(draw(st.sets(st.integers(0, mid - 1), max_size=4)), reverse=True)
    ask_prices = sorted(draw(st.sets(st.integers(mid, 10), max_size=4)))
    size = st.integers(1, 2000)
    return book(venue, [(str(PRICES[i]), draw(size)) for i in bid_prices],
                [(str(PRICES[i]), draw(size)) for i in ask_prices])


@st.composite
def scenario(draw):
    books = [draw(random_book(v)) for v in ("XNAS", "ARCX", "BATX")]
    side = draw(st.sampled_from(list(Side)))
    limit = draw(st.one_of(st.none(), st.sampled_from([str(p) for p in PRICES])))
    exhausted = draw(st.sets(st.sampled_from(["XNAS", "ARCX", "BATX"]), max_size=3))
    req = request(draw(st.integers(1, 6000)), limit, side,
                  draw(st.sampled_from([IOC, DAY])) if limit else IOC, frozenset(exhausted))
    # Of those, the venues only missed: a Day residual may rest there.
    missed = draw(st.sets(st.sampled_from(sorted(exhausted)))) if exhausted else set()
    return market(*books), replace(req, missed=frozenset(missed))


def trade_throughs(children: list[ChildPlan], req: RouteRequest,
                   books: ConsolidatedBook) -> list[str]:
    """Levels displayed at a better price than some child's limit that the plan leaves
    (partly) untaken: taking at the worse price would trade through them."""
    problems = []
    # Dark children execute at the midpoint, inside the NBBO: they cannot trade through.
    by_venue = {c.venue: c for c in children
                if c.tif is not DAY and VENUES[c.venue].kind == "lit"}
    for child in by_venue.values():
        for venue, vbook in books.venue_books(req.symbol).items():
            if venue in req.exhausted:
                continue
            better = [lv for lv in vbook.levels(req.side)
                      if price_key(req.side, lv.price) < price_key(req.side, child.price)]
            if not better:
                continue
            mine = by_venue.get(venue)
            covered = mine is not None and mine.qty >= sum(lv.size for lv in better)
            if not covered:
                problems.append(f"{child.venue} at {child.price} trades through {venue}")
    return problems


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_every_strategy_keeps_the_invariants(case):
    books, req = case
    for name, strategy in STRATEGIES.items():
        children = strategy.plan(req, books, VENUES, 0, CONTEXT)
        assert sum(c.qty for c in children) <= req.qty, name
        assert all(c.qty > 0 for c in children), name
        for child in children:
            venue = VENUES[child.venue]
            if child.tif is DAY:  # resting: never where a child was rejected
                assert child.venue not in req.exhausted - req.missed, name
            else:
                assert child.venue not in req.exhausted, name
            if venue.kind == "dark":
                assert name == "dark-first", name
                assert child.qty >= venue.min_qty and child.min_qty == venue.min_qty, name
                continue
            if child.price is not None and req.limit is not None:
                assert within_limit(req.side, child.price, req.limit), name
            if child.tif is DAY:
                assert req.tif is DAY and within_limit(req.side, child.price, req.limit), name
        assert not trade_throughs(children, req, books), (name, children)


TIED = market(book("XNAS", [("190.00", 300)], [("190.02", 300)]),
              book("ARCX", [("190.00", 300)], [("190.02", 300)]),
              book("BATX", [("189.98", 1000)], [("190.04", 1000)]))


def test_cost_based_ranks_venues_at_one_price_by_learned_all_in_cost():
    context = RoutingContext(["DARKA"])
    req = request(300, limit="190.02")
    # ARCX is cheaper to take from (a rebate): it gets the tied level first.
    first = STRATEGIES["cost-based"].plan(req, TIED, VENUES, 0, context)
    assert [(c.venue, c.qty) for c in first] == [("ARCX", 300)]
    # ARCX keeps missing (stale quotes): its miss rate now costs more than XNAS's fee.
    for _ in range(20):
        context.child_done("ARCX", False, sent=300, filled=0, rejected=False)
    again = STRATEGIES["cost-based"].plan(req, TIED, VENUES, 0, context)
    assert [(c.venue, c.qty) for c in again] == [("XNAS", 300)]
    # Price still comes first: a better price elsewhere is never skipped for cost.
    cheaper_worse = market(book("XNAS", [], [("190.01", 100)]), book("ARCX", [], [("190.02", 900)]))
    mixed = STRATEGIES["cost-based"].plan(request(300), cheaper_worse, VENUES, 0, context)
    assert sorted((c.venue, c.qty) for c in mixed) == [("ARCX", 200), ("XNAS", 100)]


def test_dark_first_pings_the_pool_at_its_minimum_then_sweeps():
    context = RoutingContext(["DARKA"])
    children = STRATEGIES["dark-first"].plan(request(1000), TIED, VENUES, 0, context)
    [dark] = children
    assert (dark.venue, dark.tif, dark.min_qty) == ("DARKA", IOC, 200) and dark.qty >= 200
    # Once the pool has missed for this parent, the residual goes to the lit venues.
    after = STRATEGIES["dark-first"].plan(request(1000, exhausted=frozenset({"DARKA"})),
                                          TIED, VENUES, 0, context)
    assert {c.venue for c in after} == {"XNAS", "ARCX", "BATX"}  # swept to the 190.05 limit


def test_dark_first_skips_pools_when_the_nbbo_is_locked_or_the_order_too_small():
    context = RoutingContext(["DARKA"])
    locked = market(book("XNAS", [("190.02", 100)], [("190.02", 300)]),
                    book("ARCX", [("190.00", 300)], [("190.03", 300)]))
    children = STRATEGIES["dark-first"].plan(request(1000), locked, VENUES, 0, context)
    assert all(VENUES[c.venue].kind == "lit" for c in children)
    small = STRATEGIES["dark-first"].plan(request(100), TIED, VENUES, 0, context)
    assert all(c.venue != "DARKA" for c in small)  # below the pool's minimum of 200


def test_optimal_placement_splits_take_and_post_by_the_closed_form():
    from sor_daemon.core.routing.cont_kukanov import Exponential, single_venue_optimum
    from sor_daemon.core.routing.placement import THETA, UNDERFILL_PENALTY

    one = {"XNAS": VENUES["XNAS"]}
    books = market(book("XNAS", [("190.00", 2000)], [("190.02", 5000)]))
    children = STRATEGIES["optimal-placement"].plan(request(1000, tif=DAY), books, one, 0,
                                                    RoutingContext())
    take = sum(c.qty for c in children if c.tif is IOC)
    post = sum(c.qty for c in children if c.tif is DAY)
    expected = single_venue_optimum(1000, 0.01, 0.003, 0.0, THETA, UNDERFILL_PENALTY,
                                    0.01 + 0.0 + 0.001, 2000, Exponential(2000))
    assert (take, post) == expected
    assert take + post <= 1000
    assert all(c.price == D("190.00") for c in children if c.tif is DAY)  # joins the bid
    # An IOC cannot rest: it is swept.
    assert all(c.tif is IOC for c in STRATEGIES["optimal-placement"].plan(
        request(1000), books, one, 0, RoutingContext()))


def test_queue_depletion_is_learned_from_traded_volume():
    from sor_daemon.core.routing.cont_kukanov import Empirical, Exponential
    from sor_daemon.core.routing.placement import OptimalPlacement

    second = 1_000_000_000
    context = RoutingContext()
    for t in range(30):
        context.observe_traded("XNAS", "AAPL", 500 + t, t * second + 1)
    history = context.traded_per_second("XNAS", "AAPL")
    assert history is not None and len(history) == 29 and history[:2] == [500, 501]
    assert isinstance(OptimalPlacement.depletion(context, "XNAS", "AAPL", 2000), Empirical)
    # Too little history: the visible queue stands in.
    assert isinstance(OptimalPlacement.depletion(context, "ARCX", "AAPL", 2000), Exponential)
    # Quiet seconds are history too (nothing traded is information).
    context.observe_traded("ARCX", "AAPL", 100, 0)
    context.observe_traded("ARCX", "AAPL", 100, 25 * second)
    context.observe_traded("ARCX", "AAPL", 100, 26 * second)
    assert context.traded_per_second("ARCX", "AAPL") == [100] + [0] * 24 + [100]
