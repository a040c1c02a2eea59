"""Unit tests for the simulated dark pool: midpoint pricing, MinQty, NBBO guards, limits,
the zero-inflated heavy-tailed liquidity, IOC/DAY, arrivals, crosses, impulses, fees,
quantity conservation (property test) and determinism."""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sor_daemon.core.domain import Side, TimeInForce
from sor_sim.dark import (
    DarkFill,
    DarkPool,
    DarkPoolSpec,
    DarkResult,
    HiddenLiquidity,
    Impulse,
    Nbbo,
)

BUY, SELL = Side.BUY, Side.SELL
DAY, IOC = TimeInForce.DAY, TimeInForce.IOC
S = 1_000_000_000  # ns per second
NBBO = (19000, 19001)
MID = 38001

# Liquidity that is always there and large: every ping fills the order in full.
ALWAYS = HiddenLiquidity(zero_probability=0.0, scale=1_000_000, alpha=50.0)
NEVER = HiddenLiquidity(zero_probability=1.0, scale=100, alpha=1.5)


def pool(liquidity: HiddenLiquidity = ALWAYS, seed: int = 1, start_ns: int = 0,
         **spec: object) -> DarkPool:
    return DarkPool("DARK", DarkPoolSpec(liquidity=liquidity, **spec), seed, start_ns)  # type: ignore[arg-type]


def submit(p: DarkPool, order_id: str = "o1", *, side: Side = BUY, qty: int = 500,
           min_qty: int = 0, tif: TimeInForce = IOC, limit: int | None = None,
           nbbo: Nbbo = NBBO, now_ns: int = 0, symbol: str = "AAPL") -> DarkResult:
    return p.submit(order_id, "alice", symbol, side, qty, min_qty, tif, limit, nbbo, now_ns)


# ---------------------------------------------------------------- liquidity model


def test_hidden_liquidity_draws_are_lots_within_cap() -> None:
    liq = HiddenLiquidity(zero_probability=0.3, scale=250, alpha=0.8, lot_size=100,
                          cap=50_000)
    rng = random.Random(3)
    draws = [liq.draw(rng) for _ in range(5000)]
    assert all(0 <= d <= 50_000 and d % 100 == 0 for d in draws)
    assert min(d for d in draws if d) >= 200  # scale * pareto >= scale, floored to lots
    assert max(draws) == 50_000  # alpha < 1: the cap is hit


def test_tiny_alpha_does_not_overflow() -> None:
    liq = HiddenLiquidity(zero_probability=0.0, scale=100, alpha=1e-6)
    rng = random.Random(0)
    assert all(liq.draw(rng) == 1_000_000 for _ in range(100))


def test_heavy_tail_max_much_larger_than_median() -> None:
    liq = HiddenLiquidity(zero_probability=0.0, scale=100, alpha=1.2, lot_size=1)
    rng = random.Random(11)
    draws = [liq.draw(rng) for _ in range(5000)]
    assert max(draws) > 50 * statistics.median(draws)


def test_zero_inflation_most_iocs_find_nothing() -> None:
    liq = HiddenLiquidity(zero_probability=0.8, scale=100, alpha=1.5)
    p = pool(liq, seed=42)
    n = 2000
    empty = 0
    for i in range(n):
        result = submit(p, f"o{i}", qty=100, now_ns=i)
        assert result.reject is None and not result.rested
        if result.fills:
            assert result.fills[0].qty == 100 and result.canceled_qty == 0
        else:
            assert result.canceled_qty == 100
            empty += 1
    assert 0.75 < empty / n < 0.85
    assert len(p) == 0


@pytest.mark.parametrize("kwargs", [
    {"zero_probability": 1.5, "scale": 100, "alpha": 1.0},
    {"zero_probability": 0.5, "scale": -1, "alpha": 1.0},
    {"zero_probability": 0.5, "scale": 100, "alpha": 0.0},
    {"zero_probability": 0.5, "scale": 100, "alpha": 1.0, "lot_size": 0},
])
def test_hidden_liquidity_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        HiddenLiquidity(**kwargs)  # type: ignore[arg-type]


def test_spec_validation_and_defaults() -> None:
    spec = DarkPoolSpec()
    assert spec.min_qty == 100 and spec.fee_per_share == Decimal("0.0010")
    assert spec.crossing_interval_s is None and spec.arrival_rate == 0.0
    with pytest.raises(ValueError):
        DarkPoolSpec(min_qty=0, liquidity=ALWAYS)
    with pytest.raises(ValueError):
        DarkPoolSpec(arrival_rate=-1.0, liquidity=ALWAYS)
    with pytest.raises(ValueError):
        DarkPoolSpec(crossing_interval_s=0.0, liquidity=ALWAYS)


# ---------------------------------------------------------------- submit rules


def test_fills_at_midpoint_in_half_ticks() -> None:
    p = pool()
    result = submit(p, qty=500)
    assert result.fills == (DarkFill("o1", "alice", BUY, 500, MID, 0),)
    assert not result.rested and result.canceled_qty == 0 and result.reject is None
    sell = submit(p, "o2", side=SELL, qty=300, nbbo=(100, 104))
    assert sell.fills[0].price_half_ticks == 204  # mid 102.0 ticks, exact


@pytest.mark.parametrize("nbbo", [None, (19000, 19000), (19001, 19000)])
def test_no_execution_without_a_valid_nbbo(nbbo: Nbbo) -> None:
    p = pool()
    ioc = submit(p, "ioc", nbbo=nbbo)
    assert ioc.fills == () and ioc.canceled_qty == 500 and not ioc.rested
    day = submit(p, "day", tif=DAY, nbbo=nbbo)
    assert day.fills == () and day.rested and day.canceled_qty == 0
    assert [o.order_id for o in p.resting("AAPL")] == ["day"]


def test_limit_respected_in_half_ticks() -> None:
    p = pool()
    # mid 19000.5 ticks: a buy limited at 19000 must not pay it, at 19001 may
    assert submit(p, "b1", limit=19000).fills == ()
    assert submit(p, "b2", limit=19001).fills[0].price_half_ticks == MID
    # a sell limited at 19001 must not sell at 19000.5, at 19000 may
    assert submit(p, "s1", side=SELL, limit=19001).fills == ()
    assert submit(p, "s2", side=SELL, limit=19000).fills[0].price_half_ticks == MID
    # a limit exactly at the mid executes
    assert submit(p, "b3", limit=19000, nbbo=(18999, 19001)).fills[0].price_half_ticks == 38000


def test_min_qty_effective_is_max_of_order_and_pool() -> None:
    # exactly 300 shares of contra on every ping
    liq = HiddenLiquidity(zero_probability=0.0, scale=300, alpha=1e9)
    p = pool(liq, min_qty=100)
    assert submit(p, "a", qty=1000, min_qty=400).fills == ()  # order MinQty 400 > 300
    assert submit(p, "b", qty=1000, min_qty=200).fills[0].qty == 300
    p2 = pool(liq, min_qty=500)  # the pool's own minimum binds
    assert submit(p2, "c", qty=1000, min_qty=0).fills == ()
    # never more than qty: a 200-share order in a 500-minimum pool can still fill
    assert submit(p2, "d", qty=200).fills[0].qty == 200


@pytest.mark.parametrize(("qty", "min_qty", "tif", "text"), [
    (0, 0, IOC, "positive"),
    (-5, 0, IOC, "positive"),
    (100, 200, IOC, "MinQty"),
    (100, -1, IOC, "MinQty"),
    (100, 0, TimeInForce.FOK, "Day or IOC"),
])
def test_rejects(qty: int, min_qty: int, tif: TimeInForce, text: str) -> None:
    p = pool()
    result = submit(p, qty=qty, min_qty=min_qty, tif=tif)
    assert result.reject is not None and text in result.reject
    assert result.fills == () and not result.rested and result.canceled_qty == 0
    assert len(p) == 0


def test_duplicate_live_id_rejected_but_reusable_when_done() -> None:
    p = pool(NEVER)
    assert submit(p, tif=DAY).rested
    dup = submit(p, tif=DAY)
    assert dup.reject is not None and "duplicate" in dup.reject
    assert len(p) == 1 and p.resting("AAPL")[0].leaves == 500  # the live order untouched
    assert p.cancel("o1") == 500
    assert submit(p, tif=DAY).reject is None


def test_ioc_remainder_canceled_day_remainder_rests() -> None:
    liq = HiddenLiquidity(zero_probability=0.0, scale=300, alpha=1e9)
    p = pool(liq)
    ioc = submit(p, "ioc", qty=1000)
    assert [f.qty for f in ioc.fills] == [300] and ioc.fills[0].leaves == 700
    assert ioc.canceled_qty == 700 and not ioc.rested and len(p) == 0
    day = submit(p, "day", qty=1000, tif=DAY, limit=19005)
    assert [f.qty for f in day.fills] == [300] and day.rested and day.canceled_qty == 0
    [view] = p.resting("AAPL")
    assert (view.order_id, view.leaves, view.qty, view.limit_ticks) == ("day", 700, 1000, 19005)
    assert p.resting("MSFT") == []
    assert p.cancel("day") == 700 and p.cancel("day") is None and p.cancel("nope") is None


# ---------------------------------------------------------------- time


def test_day_remainder_fills_later_via_arrivals() -> None:
    liq = HiddenLiquidity(zero_probability=0.0, scale=200, alpha=1e9)
    p = pool(liq, arrival_rate=10.0)
    first = submit(p, "day", qty=1000, tif=DAY)
    assert first.fills[0].qty == 200 and first.rested
    nbbos = {"AAPL": (19010, 19012)}
    fills: list[DarkFill] = []
    for step in range(1, 101):
        fills += p.on_time(step * S // 10, nbbos).fills
    assert [f.qty for f in fills] == [200] * 4
    assert [f.leaves for f in fills] == [600, 400, 200, 0]
    assert all(f.price_half_ticks == 38022 for f in fills)  # the mid passed to on_time
    assert len(p) == 0


def test_no_arrivals_means_day_order_only_pings_at_submit() -> None:
    p = pool(HiddenLiquidity(zero_probability=0.0, scale=200, alpha=1e9))
    submit(p, qty=1000, tif=DAY)
    assert p.on_time(3600 * S, {"AAPL": NBBO}).fills == ()
    assert p.resting("AAPL")[0].leaves == 800


def test_arrivals_respect_nbbo_and_symbol_missing() -> None:
    p = pool(arrival_rate=100.0)
    submit(p, qty=1000, tif=DAY, nbbo=None)
    assert p.on_time(S, {}).fills == ()
    assert p.on_time(2 * S, {"AAPL": (19000, 19000)}).fills == ()
    assert p.on_time(3 * S, {"AAPL": None}).fills == ()
    assert p.on_time(4 * S, {"AAPL": NBBO}).fills[0].qty == 1000


def test_crossing_mode_fills_only_at_crosses() -> None:
    start = 5 * S
    p = pool(crossing_interval_s=1.0, start_ns=start)
    nbbos = {"AAPL": NBBO, "MSFT": (40000, 40002)}
    day = submit(p, "a", qty=500, tif=DAY, now_ns=start + S // 2)
    assert day.fills == () and day.rested  # no execution on submit, even with liquidity
    ioc = submit(p, "i", qty=500, tif=IOC, now_ns=start + S // 2)
    assert ioc.fills == () and ioc.canceled_qty == 500
    submit(p, "b", side=SELL, qty=300, tif=DAY, now_ns=start + S // 2, symbol="MSFT")
    assert p.on_time(start + S // 2, nbbos).fills == ()
    assert p.on_time(start + S - 1, nbbos).fills == ()
    crossed = p.on_time(start + S, nbbos).fills
    assert [(f.order_id, f.qty, f.price_half_ticks) for f in crossed] == [
        ("a", 500, MID), ("b", 300, 80002)]
    assert len(p) == 0


def test_crossing_order_waits_for_its_cross_and_later_crosses() -> None:
    liq = HiddenLiquidity(zero_probability=0.0, scale=100, alpha=1e9)
    p = pool(liq, crossing_interval_s=2.0)
    submit(p, "a", qty=300, tif=DAY, now_ns=S)
    times = []
    for t in range(1, 12):
        result = p.on_time(t * S, {"AAPL": NBBO})
        times += [t] * len(result.fills)
    assert times == [2, 4, 6]  # one 100-share fill at each cross until done


def test_crossing_skips_orders_submitted_after_the_cross() -> None:
    p = pool(crossing_interval_s=1.0)
    p.on_time(0, {})
    submit(p, "late", tif=DAY, now_ns=S + 1)  # submitted ahead of the clock
    assert p.on_time(S, {"AAPL": NBBO}).fills == ()
    assert p.on_time(2 * S, {"AAPL": NBBO}).fills[0].order_id == "late"


# ---------------------------------------------------------------- impulses and fees


def test_impulses_sign_and_size() -> None:
    p = pool(adverse_selection_bps=2.5)
    assert submit(p, "b", side=BUY).impulses == (Impulse("AAPL", 2.5),)
    assert submit(p, "s", side=SELL, symbol="MSFT").impulses == (Impulse("MSFT", -2.5),)
    assert submit(p, "n", nbbo=None).impulses == ()  # no fill, no impulse
    assert submit(pool(), "z").impulses == ()  # bps 0: none


def test_impulses_one_per_fill_in_on_time() -> None:
    liq = HiddenLiquidity(zero_probability=0.0, scale=100, alpha=1e9)
    p = pool(liq, adverse_selection_bps=1.0, crossing_interval_s=1.0)
    submit(p, "b", qty=200, tif=DAY, now_ns=1)
    submit(p, "s", side=SELL, qty=200, tif=DAY, now_ns=1, symbol="MSFT")
    result = p.on_time(S, {"AAPL": NBBO, "MSFT": NBBO})
    assert len(result.fills) == 2
    assert result.impulses == (Impulse("AAPL", 1.0), Impulse("MSFT", -1.0))


def test_fees_per_fill() -> None:
    p = pool(HiddenLiquidity(zero_probability=0.0, scale=300, alpha=1e9),
             fee_per_share=Decimal("0.0012"), arrival_rate=50.0)
    fills = list(submit(p, qty=700, tif=DAY).fills)
    fills += p.on_time(10 * S, {"AAPL": NBBO}).fills
    assert [f.qty for f in fills] == [300, 300, 100]
    assert [p.fee(f.qty) for f in fills] == [Decimal("0.36"), Decimal("0.36"), Decimal("0.12")]
    assert sum(p.fee(f.qty) for f in fills) == Decimal("0.8400")
    assert pool(fee_per_share=Decimal("-0.0005")).fee(1000) == Decimal("-0.5")


# ---------------------------------------------------------------- property test


@dataclass
class _Tracked:
    symbol: str
    side: Side
    qty: int
    min_qty: int
    limit: int | None
    filled: int = 0
    canceled: int = 0
    live: bool = False
    fills: list[DarkFill] = field(default_factory=list)


valid_nbbo_st = st.builds(lambda bid, spread: (bid, bid + spread),
                          st.integers(95, 105), st.integers(1, 3))
bad_nbbo_st = st.one_of(st.none(), st.builds(lambda bid, d: (bid, bid - d),
                                             st.integers(95, 105), st.integers(0, 2)))
nbbos_st = st.one_of(valid_nbbo_st, valid_nbbo_st, valid_nbbo_st, bad_nbbo_st)
qty_st = st.one_of(st.integers(1, 30).map(lambda lots: 100 * lots), st.integers(-10, 3000))
submit_st = st.tuples(
    st.just("submit"), st.sampled_from(["AAPL", "MSFT"]), st.sampled_from([BUY, SELL]),
    qty_st, st.one_of(st.just(0), st.integers(0, 1200)), st.sampled_from([DAY, DAY, IOC]),
    st.one_of(st.none(), st.none(), st.integers(97, 106)), nbbos_st,
)
cancel_st = st.tuples(st.just("cancel"), st.integers(0, 40))
dt_st = st.one_of(st.sampled_from([S // 10, S // 4, S // 2, S, 3 * S]), st.integers(0, 3 * S))
time_st = st.tuples(st.just("time"), dt_st,
                    st.fixed_dictionaries({"AAPL": nbbos_st, "MSFT": nbbos_st}))
ops_st = st.lists(st.one_of(submit_st, cancel_st, time_st, time_st), min_size=5, max_size=60)
spec_st = st.builds(
    DarkPoolSpec,
    min_qty=st.integers(1, 400),
    adverse_selection_bps=st.sampled_from([0.0, 1.5, -0.5]),
    arrival_rate=st.sampled_from([0.0, 0.5, 5.0]),
    crossing_interval_s=st.sampled_from([None, None, 0.25, 1.0]),
    liquidity=st.builds(HiddenLiquidity, zero_probability=st.floats(0.0, 0.9),
                        scale=st.integers(0, 800), alpha=st.floats(0.3, 5.0),
                        lot_size=st.sampled_from([1, 100])),
)


def _check_fill(fill: DarkFill, order: _Tracked, nbbo: Nbbo, spec: DarkPoolSpec) -> None:
    assert nbbo is not None and nbbo[0] < nbbo[1], "executed without a valid NBBO"
    assert fill.price_half_ticks == nbbo[0] + nbbo[1], "not at the midpoint"
    if order.limit is not None:
        if order.side is BUY:
            assert fill.price_half_ticks <= 2 * order.limit
        else:
            assert fill.price_half_ticks >= 2 * order.limit
    leaves_before = order.qty - order.filled
    assert 0 < fill.qty <= leaves_before, "overfill"
    assert fill.qty >= min(leaves_before, max(order.min_qty, spec.min_qty)), "below MinQty"
    assert fill.side is order.side and fill.leaves == leaves_before - fill.qty
    order.filled += fill.qty
    order.fills.append(fill)


def _check_impulses(result: DarkResult, orders: Mapping[str, _Tracked],
                    spec: DarkPoolSpec) -> None:
    if spec.adverse_selection_bps == 0:
        assert result.impulses == ()
        return
    assert result.impulses == tuple(
        Impulse(orders[f.order_id].symbol, spec.adverse_selection_bps * f.side.sign)
        for f in result.fills)


@settings(max_examples=500, deadline=None)
@given(spec=spec_st, seed=st.integers(0, 2**32), ops=ops_st)
def test_conservation_and_invariants(spec: DarkPoolSpec, seed: int,
                                     ops: list[tuple[object, ...]]) -> None:
    p = DarkPool("DARK", spec, seed, start_ns=0)
    orders: dict[str, _Tracked] = {}
    ids: list[str] = []
    now = 0
    for op in ops:
        if op[0] == "submit":
            _, symbol, side, qty, min_qty, tif, limit, nbbo = op
            oid = f"o{len(ids)}"
            result = p.submit(oid, "x", symbol, side, qty, min_qty, tif, limit, nbbo, now)
            if qty <= 0 or min_qty > qty:
                assert result.reject is not None and result.fills == ()
                continue
            assert result.reject is None
            ids.append(oid)
            order = orders[oid] = _Tracked(symbol, side, qty, min_qty, limit)
            if spec.crossing_interval_s is not None:
                assert result.fills == ()
            for fill in result.fills:
                assert fill.order_id == oid
                _check_fill(fill, order, nbbo, spec)
            _check_impulses(result, orders, spec)
            order.canceled = result.canceled_qty
            order.live = result.rested
            assert result.rested == (tif is DAY and order.filled < qty)
            if tif is IOC:
                assert order.filled + order.canceled == qty
        elif op[0] == "cancel":
            if not ids:
                continue
            oid = ids[op[1] % len(ids)]
            canceled = p.cancel(oid)
            order = orders[oid]
            if order.live:
                assert canceled == order.qty - order.filled
                order.canceled += canceled
                order.live = False
            else:
                assert canceled is None
        else:
            _, dt, nbbos = op
            now += dt
            result = p.on_time(now, nbbos)
            assert result.canceled_qty == 0 and result.reject is None
            for fill in result.fills:
                order = orders[fill.order_id]
                assert order.live, "a fill for an order that is not resting"
                _check_fill(fill, order, nbbos[order.symbol], spec)
                if fill.leaves == 0:
                    order.live = False
            _check_impulses(result, orders, spec)
        # the pool's view agrees with the ledger after every step
        resting = {o.order_id: o for s in ("AAPL", "MSFT") for o in p.resting(s)}
        assert len(p) == len(resting)
        assert set(resting) == {oid for oid, o in orders.items() if o.live}
        for oid, order in orders.items():
            leaves = resting[oid].leaves if oid in resting else 0
            assert order.filled + order.canceled + leaves == order.qty
            assert order.filled <= order.qty


# ---------------------------------------------------------------- determinism


def _script(seed: int) -> list[object]:
    liq = HiddenLiquidity(zero_probability=0.5, scale=200, alpha=1.3)
    p = DarkPool("DARK", DarkPoolSpec(liquidity=liq, arrival_rate=2.0,
                                      adverse_selection_bps=1.0), seed)
    log: list[object] = []
    for i in range(60):
        log.append(submit(p, f"o{i}", side=BUY if i % 2 else SELL, qty=100 * (1 + i % 7),
                          tif=DAY if i % 3 else IOC, now_ns=i * S // 4))
        if i % 5 == 0:
            log.append(p.cancel(f"o{i - 3}"))
        log.append(p.on_time(i * S // 4 + S // 8, {"AAPL": (19000 + i % 3, 19002 + i % 3)}))
    return log


def test_deterministic_given_seed() -> None:
    a, b = _script(7), _script(7)
    assert a == b
    assert any(isinstance(r, DarkResult) and r.fills for r in a)
    assert _script(8) != a
