"""Unit tests for the simulated venues' background order flow."""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from sor_daemon.core.domain import Side, TimeInForce
from sor_sim.flow import BackgroundFlow, FlowCancel, FlowEvent, FlowOrder, FlowSpec

MS = 1_000_000
S = 1_000_000_000
FUNDAMENTAL = 19_000


def run(flow: BackgroundFlow, seconds: int, window_ns: int = 100 * MS) -> list[FlowEvent]:
    events: list[FlowEvent] = []
    for start in range(0, seconds * S, window_ns):
        events += flow.events(start, start + window_ns, FUNDAMENTAL)
    return events


SPEC = FlowSpec(limit_rate=20.0, market_rate=5.0, cancel_rate=10.0)


def test_counts_match_rates() -> None:
    seconds = 500
    events = run(BackgroundFlow(SPEC, "XNAS-AAPL", seed=1), seconds)
    limits = [e for e in events if isinstance(e, FlowOrder) and e.price_ticks is not None]
    markets = [e for e in events if isinstance(e, FlowOrder) and e.price_ticks is None]
    cancels = [e for e in events if isinstance(e, FlowCancel)]
    assert len(limits) == pytest.approx(SPEC.limit_rate * seconds, rel=0.1)
    assert len(markets) == pytest.approx(SPEC.market_rate * seconds, rel=0.1)
    assert len(cancels) == pytest.approx(SPEC.cancel_rate * seconds, rel=0.1)


def test_limit_prices_sides_and_sizes() -> None:
    spec = FlowSpec(
        limit_rate=50.0,
        market_rate=10.0,
        cancel_rate=0.0,
        depth_ticks=4,
        half_spread_ticks=2,
        mean_size=300,
        lot_size=100,
    )
    events = run(BackgroundFlow(spec, "f", seed=2), 200)
    orders = [e for e in events if isinstance(e, FlowOrder)]
    levels: Counter[int] = Counter()
    for order in orders:
        assert order.qty > 0 and order.qty % spec.lot_size == 0
        if order.price_ticks is None:
            assert order.tif is TimeInForce.IOC
            continue
        assert order.tif is TimeInForce.DAY
        if order.side is Side.BUY:
            k = FUNDAMENTAL - spec.half_spread_ticks - order.price_ticks
        else:
            k = order.price_ticks - FUNDAMENTAL - spec.half_spread_ticks
        assert 0 <= k < spec.depth_ticks, order
        levels[k] += 1
    # Near levels are busiest.
    assert [levels[k] for k in range(spec.depth_ticks)] == sorted(levels.values(), reverse=True)
    assert statistics.fmean(o.qty for o in orders) == pytest.approx(spec.mean_size, rel=0.2)
    sides = Counter(o.side for o in orders)
    assert sides[Side.BUY] == pytest.approx(sides[Side.SELL], rel=0.1)


def test_order_ids_are_unique_and_named() -> None:
    events = run(BackgroundFlow(SPEC, "ARCX-MSFT", seed=3), 100)
    ids = [e.order_id for e in events if isinstance(e, FlowOrder)]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("ARCX-MSFT-") for i in ids)


def test_cancels_only_live_ids_never_done_ones() -> None:
    flow = BackgroundFlow(SPEC, "f", seed=4)
    live: set[str] = set()
    done: set[str] = set()
    cancels = 0
    for start in range(0, 300 * S, 50 * MS):
        new: list[str] = []
        for event in flow.events(start, start + 50 * MS, FUNDAMENTAL):
            if isinstance(event, FlowCancel):
                assert event.order_id in live, event
                assert event.order_id not in done
                live.discard(event.order_id)
                cancels += 1
            elif event.price_ticks is not None:
                live.add(event.order_id)
                new.append(event.order_id)
        # The venue reports some of this window's orders as completely filled.
        for order_id in new[::3]:
            if order_id in live:
                live.discard(order_id)
                done.add(order_id)
                flow.done(order_id)
        assert flow.live_count == len(live)
    assert cancels > 1000
    assert len(done) > 1000
    flow.done("not-ours")  # unknown ids are ignored
    assert flow.live_count == len(live)


def test_live_ids_are_bounded_and_the_oldest_dropped() -> None:
    flow = BackgroundFlow(FlowSpec(100.0, 0.0, 0.0), "f", seed=5, max_live=50)
    assert len(run(flow, 10)) > 500
    assert flow.live_count == 50
    # With cancels: each one names one of the 20 newest ids still live; older are forgotten.
    canceller = BackgroundFlow(FlowSpec(100.0, 0.0, 100.0), "g", seed=6, max_live=20)
    live: list[str] = []
    cancels = 0
    for event in run(canceller, 20):
        if isinstance(event, FlowCancel):
            assert event.order_id in live
            live.remove(event.order_id)
            cancels += 1
        else:
            live = [*live, event.order_id][-20:]
    assert canceller.live_count == len(live)
    assert cancels > 1000


def test_deterministic_given_seed_and_calls() -> None:
    a = run(BackgroundFlow(SPEC, "f", seed=7), 60)
    b = run(BackgroundFlow(SPEC, "f", seed=7), 60)
    c = run(BackgroundFlow(SPEC, "f", seed=8), 60)
    assert a == b
    assert a != c


def test_contiguous_windows_equal_one_window() -> None:
    one = BackgroundFlow(SPEC, "f", seed=9).events(0, 30 * S, FUNDAMENTAL)
    many = run(BackgroundFlow(SPEC, "f", seed=9), 30, window_ns=37 * MS)
    assert one == many


def test_empty_windows_and_zero_rates() -> None:
    flow = BackgroundFlow(SPEC, "f", seed=0)
    assert flow.events(10 * S, 10 * S, FUNDAMENTAL) == []
    assert flow.events(10 * S, 5 * S, FUNDAMENTAL) == []
    assert BackgroundFlow(FlowSpec(0.0, 0.0, 0.0), "z", seed=0).events(0, 100 * S, 10) == []
    # A cancel with nothing resting is simply not emitted.
    assert BackgroundFlow(FlowSpec(0.0, 0.0, 50.0), "c", seed=0).events(0, 10 * S, 10) == []


def test_prices_never_below_one_tick() -> None:
    events = BackgroundFlow(FlowSpec(100.0, 0.0, 0.0), "f", seed=1).events(0, 10 * S, 2)
    assert all(e.price_ticks >= 1 for e in events if isinstance(e, FlowOrder) and e.price_ticks)


def test_invalid_spec_is_refused() -> None:
    with pytest.raises(ValueError):
        FlowSpec(-1.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        FlowSpec(1.0, 0.0, 0.0, depth_ticks=0)
    with pytest.raises(ValueError):
        FlowSpec(1.0, 0.0, 0.0, lot_size=0)
