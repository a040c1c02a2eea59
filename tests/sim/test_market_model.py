"""Unit tests for the shared fundamental price model of the simulated market."""

from __future__ import annotations

import itertools
import math
import statistics
from decimal import Decimal

import pytest

from sor_sim.market_model import Impact, MarketModel, PriceProcess, Shock

MS = 1_000_000
S = 1_000_000_000


def proc(ref: str = "100.00", tick: str = "0.01", **kw: float) -> PriceProcess:
    return PriceProcess(Decimal(ref), Decimal(tick), **kw)


def path(model: MarketModel, symbol: str, times_ns: list[int]) -> list[Decimal]:
    out = []
    for t in times_ns:
        model.advance(t)
        out.append(model.fundamental(symbol))
    return out


NOISY = {
    "AAPL": proc("190.00", volatility_bps=30.0, jump_rate=0.5, jump_bps=20.0),
    "MSFT": proc("410.00", volatility_bps=20.0),
}


def test_same_seed_same_path_different_seed_different() -> None:
    times = [i * 50 * MS for i in range(1, 400)]
    a = path(MarketModel(NOISY, seed=7), "AAPL", times)
    b = path(MarketModel(NOISY, seed=7), "AAPL", times)
    c = path(MarketModel(NOISY, seed=8), "AAPL", times)
    assert a == b
    assert a != c


def test_path_does_not_depend_on_dict_order() -> None:
    reordered = dict(reversed(list(NOISY.items())))
    times = [i * 100 * MS for i in range(1, 100)]
    for symbol in NOISY:
        assert path(MarketModel(NOISY, seed=3), symbol, times) == path(
            MarketModel(reordered, seed=3), symbol, times
        )


def test_batching_does_not_change_the_path() -> None:
    once = MarketModel(NOISY, seed=11, start_ns=5 * S)
    many = MarketModel(NOISY, seed=11, start_ns=5 * S)
    t = 5 * S
    for i in range(500):
        t += (i % 7 + 1) * 3 * MS + 17  # irregular, never aligned with the 10 ms step
        many.advance(t)
    once.advance(t)
    assert once.now_ns == many.now_ns == t
    for symbol in NOISY:
        assert once.fundamental(symbol) == many.fundamental(symbol)
        assert once.fundamental_ticks(symbol) == many.fundamental_ticks(symbol)


def test_advance_backwards_is_a_no_op() -> None:
    model = MarketModel(NOISY, seed=1)
    model.advance(2 * S)
    before = model.fundamental("AAPL")
    model.advance(1 * S)
    assert model.now_ns == 2 * S
    assert model.fundamental("AAPL") == before
    twin = MarketModel(NOISY, seed=1)
    twin.advance(2 * S)
    model.advance(3 * S)
    twin.advance(3 * S)
    assert model.fundamental("AAPL") == twin.fundamental("AAPL")


def test_no_volatility_no_jumps_stays_at_reference() -> None:
    model = MarketModel({"X": proc("190.05"), "Y": proc("0.5", tick="0.0001")}, seed=5)
    for t in range(0, 600 * S, 7 * S):
        model.advance(t)
        assert model.fundamental("X") == Decimal("190.05")
        assert model.fundamental_ticks("X") == 19005
        assert model.fundamental("Y") == Decimal("0.5")


def test_rounds_half_up_to_the_tick() -> None:
    model = MarketModel({"X": proc("100.005", tick="0.01")}, seed=0)
    assert model.fundamental("X") == Decimal("100.01")
    assert model.fundamental_ticks("X") == 10001


def test_one_second_log_returns_match_volatility() -> None:
    vol = 25.0
    # A fine tick so rounding adds nothing measurable to the returns.
    model = MarketModel({"X": proc("100", tick="0.0001", volatility_bps=vol)}, seed=42)
    prices = [math.log(float(p)) for p in path(model, "X", [i * S for i in range(601)])]
    returns = [(b - a) * 1e4 for a, b in itertools.pairwise(prices)]
    assert statistics.stdev(returns) == pytest.approx(vol, rel=0.15)
    assert abs(statistics.fmean(returns)) < 3 * vol / math.sqrt(len(returns))


def test_jumps_arrive_at_the_configured_rate_and_size() -> None:
    rate, size_bps, seconds = 2.0, 50.0, 1000
    model = MarketModel(
        {"X": proc("100", tick="0.0001", jump_rate=rate, jump_bps=size_bps)},
        seed=9,
        step_ns=50 * MS,
    )
    logs = [
        math.log(float(p)) for p in path(model, "X", [i * 50 * MS for i in range(seconds * 20 + 1)])
    ]
    moves = [abs(b - a) * 1e4 for a, b in itertools.pairwise(logs) if b != a]
    # A step shows a move when it holds at least one jump (two in one step show as one).
    steps_with_jumps = seconds * 20 * (1 - math.exp(-rate * 0.05))
    assert len(moves) == pytest.approx(steps_with_jumps, rel=0.1)
    assert statistics.fmean(moves) == pytest.approx(size_bps, rel=0.15)


def test_impulse_moves_the_price_by_bps() -> None:
    model = MarketModel({"X": proc("100.00"), "Y": proc("50.00")}, seed=1)
    model.impulse("X", 25)
    assert model.fundamental("X") == Decimal("100.25")
    assert model.fundamental("Y") == Decimal("50.00")
    model.advance(10 * S)  # permanent: no volatility, so it stays
    assert model.fundamental("X") == Decimal("100.25")
    model.impulse("X", -40)
    assert abs(model.fundamental_ticks("X") - round(10025 * 0.996)) <= 1
    with pytest.raises(KeyError):
        model.impulse("NOPE", 1)
    with pytest.raises(ValueError):
        model.impulse("X", -10_000)


def test_impulse_on_a_random_walk_scales_the_price() -> None:
    processes = {"X": proc("100", tick="0.0001", volatility_bps=40.0)}
    hit, plain = MarketModel(processes, seed=4), MarketModel(processes, seed=4)
    hit.advance(3 * S)
    plain.advance(3 * S)
    hit.impulse("X", -30)
    for t in (3 * S, 20 * S):
        hit.advance(t)
        plain.advance(t)
        expected = float(plain.fundamental("X")) * (1 - 30e-4)
        assert abs(float(hit.fundamental("X")) - expected) <= 0.0001


def test_shock_moves_holds_and_recovers_for_its_symbol_only() -> None:
    shock = Shock("X", start_s=1.0, move_bps=-800, move_s=2.0, recover_s=5.0)
    model = MarketModel(
        {"X": proc("100.00"), "Y": proc("100.00")}, seed=2, start_ns=S, shocks=[shock]
    )
    expected = {
        0.5: "100.00",
        1.0: "100.00",
        2.0: "96.00",
        3.0: "92.00",
        5.5: "96.00",
        8.0: "100.00",
        30.0: "100.00",
    }
    for t_s, price in expected.items():
        model.advance(S + int(t_s * S))
        assert model.fundamental("X") == Decimal(price), t_s
        assert model.fundamental("Y") == Decimal("100.00")


def test_shock_on_top_of_a_random_walk() -> None:
    processes = {"X": proc("100.00", volatility_bps=20.0), "Y": proc("80.00", volatility_bps=20.0)}
    shock = Shock(None, start_s=10.0, move_bps=-800, move_s=0.5, recover_s=20.0)
    shocked = MarketModel(processes, seed=6, shocks=[shock])
    calm = MarketModel(processes, seed=6)
    for t_s, factor in ((5.0, 1.0), (10.5, 0.92), (20.5, 0.96), (30.5, 1.0), (60.0, 1.0)):
        shocked.advance(int(t_s * S))
        calm.advance(int(t_s * S))
        for symbol in processes:  # symbol=None hits every symbol
            want = calm.fundamental_ticks(symbol) * factor
            assert abs(shocked.fundamental_ticks(symbol) - want) <= 2, (t_s, symbol)


def test_permanent_shock_and_floor_at_one_tick() -> None:
    model = MarketModel(
        {"X": proc("0.05")},
        seed=0,
        shocks=[Shock("X", start_s=0.0, move_bps=-9_999, move_s=0.0, recover_s=0.0)],
    )
    model.advance(S)
    assert model.fundamental("X") == Decimal("0.01")
    assert model.fundamental_ticks("X") == 1
    model.advance(1000 * S)
    assert model.fundamental_ticks("X") == 1


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        proc(tick="0")
    with pytest.raises(ValueError):
        proc(volatility_bps=-1.0)
    with pytest.raises(ValueError):
        Shock("X", start_s=0.0, move_bps=-10_000, move_s=1.0, recover_s=0.0)
    with pytest.raises(ValueError):
        MarketModel({"X": proc()}, seed=0, step_ns=0)
    with pytest.raises(ValueError, match="ZZZ"):
        MarketModel({"X": proc()}, seed=0, shocks=[Shock("ZZZ", 0.0, -100, 1.0, 1.0)])


# --- price impact: a decaying propagator ----------------------------------------------------

def _impact_model(impact: Impact) -> MarketModel:
    """One symbol with no price process of its own: only impact moves it."""
    return MarketModel({"X": PriceProcess(Decimal("100"), Decimal("0.0001"))}, seed=1,
                       step_ns=10_000_000, impact=impact)


def test_one_order_moves_the_price_then_decays_as_the_power_law_propagator() -> None:
    """Bouchaud et al. (2004): the response to one order decays as (1 + t/t0)^-beta
    towards its permanent part."""
    spec = Impact(coefficient_bps=2.0, size_exponent=0.5, decay_s=1.0, decay_exponent=0.5,
                  permanent=0.2)
    model = _impact_model(spec)
    model.impact("X", 400)  # 2 bps * sqrt(4) = 4 bps at once, buying: up
    assert model.impact_bps("X") == pytest.approx(4.0, rel=1e-3)
    for t_s in (0.5, 1, 3, 10, 30, 100):
        model.advance(int(t_s * 1e9))
        expected = 4.0 * (0.2 + 0.8 * (1 + t_s) ** -0.5)
        assert model.impact_bps("X") == pytest.approx(expected, rel=0.01), t_s
    model.impact("X", -400)  # selling: down by as much
    assert model.impact_bps("X") == pytest.approx(expected - 4.0, rel=0.01)


def _peak_impact(spec: Impact, qty: int, child: int = 100, every_ms: int = 100) -> float:
    """A metaorder of ``qty`` shares bought ``child`` shares every ``every_ms``: the
    impact when its last child is done."""
    model = _impact_model(spec)
    now = 0
    for _ in range(qty // child):
        model.impact("X", child)
        now += every_ms * 1_000_000
        model.advance(now)
    return model.impact_bps("X")


def _log_slope(spec: Impact, sizes: list[int]) -> float:
    peaks = [_peak_impact(spec, q) for q in sizes]
    return math.log(peaks[-1] / peaks[0]) / math.log(sizes[-1] / sizes[0])


def test_metaorder_impact_follows_the_square_root_law() -> None:
    """Toth et al. (2011): the peak impact of a metaorder traded at a constant rate grows as
    its size to a power near 1/2. With decay_exponent 0.5, decay_s 0.1 s and 1% permanent,
    over metaorders of 1,000-64,000 shares at 1,000 shares/s, the fitted exponent is within
    0.45-0.65 (it tends to 1/2 as they last longer against decay_s); without decay
    (a permanent-only model) impact is linear in size."""
    sizes = [1000, 4000, 16000, 64000]
    propagator = Impact(coefficient_bps=0.25, decay_s=0.1, decay_exponent=0.5,
                        permanent=0.01)
    assert 0.45 <= _log_slope(propagator, sizes) <= 0.65
    permanent_only = Impact(coefficient_bps=0.25, decay_s=0.1, permanent=1.0)
    assert _log_slope(permanent_only, sizes) == pytest.approx(1.0, abs=0.01)


def test_no_impact_model_and_zero_coefficient_leave_prices_alone() -> None:
    for impact in (None, Impact(coefficient_bps=0.0)):
        model = MarketModel({"X": PriceProcess(Decimal("100"), Decimal("0.01"))}, seed=1,
                            impact=impact)
        model.impact("X", 10_000)
        model.advance(1_000_000_000)
        assert model.fundamental("X") == Decimal("100.00")
        assert model.impact_bps("X") == 0.0


@pytest.mark.parametrize(("field", "value"), [
    ("coefficient_bps", -1.0), ("decay_s", 0.0), ("permanent", 1.5), ("reference_size", 0),
    ("decay_exponent", math.nan),
])
def test_invalid_impact_is_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        Impact(**{"coefficient_bps": 1.0, field: value})
