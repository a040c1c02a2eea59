"""The execution monitor: fill records, markouts at their horizons, parent TCA, rolling
scorecards (hand-computed values)."""

from __future__ import annotations

import functools
from decimal import Decimal

import pytest

from sor_daemon.core.analytics.monitor import (
    NS,
    ExecutionMonitor,
    from_json,
    to_json,
)
from sor_daemon.core.domain import Side

D = Decimal


def buy_parent(monitor: ExecutionMonitor, now: int = 0) -> None:
    monitor.parent_arrived("P1", "sweep", "AAPL", Side.BUY, 1000, D("100.00"), now)


def test_fill_record_measures_against_arrival_and_the_nbbo():
    monitor = ExecutionMonitor()
    buy_parent(monitor)
    record = monitor.fill("P1", "XNAS", 300, D("100.04"), D("0.90"), D("100.03"),
                          D("100.05"), sent_ns=NS // 2, now_ns=NS)
    assert record.slippage_bps == pytest.approx(4.0)            # 0.04 / 100.00
    assert record.effective_spread_bps == 0.0                   # at the mid, 100.04
    assert record.price_improvement_bps == pytest.approx(0.9995, abs=1e-4)
    assert record.fill_latency_s == 0.5
    assert from_json(to_json(record)) == record


def test_markouts_resolve_at_each_horizon_with_the_first_mid_after_it():
    monitor = ExecutionMonitor()
    buy_parent(monitor)
    monitor.fill("P1", "XNAS", 100, D("100.00"), D(0), None, None, None, 0)
    assert monitor.quote("AAPL", D("100.50"), NS - 1) == [], "nothing due before 1 s"
    [one] = monitor.quote("AAPL", D("100.01"), NS)
    assert (one.horizon, one.markout_bps) == ("1s", pytest.approx(1.0))
    assert monitor.quote("MSFT", D("1.00"), 20 * NS) == [], "other symbols are separate"
    [ten] = monitor.quote("AAPL", D("99.98"), 10 * NS + 5)
    assert (ten.horizon, ten.markout_bps) == ("10s", pytest.approx(-2.0))  # adverse
    [sixty] = monitor.quote("AAPL", D("100.00"), 61 * NS)
    assert (sixty.horizon, sixty.markout_bps) == ("60s", 0.0)
    assert monitor.quote("AAPL", D("101"), 100 * NS) == []


def test_parent_record_for_a_partially_filled_buy_with_fees():
    # The hand-computed example of test_tca: 600 of 1000 at 100.05, 1.80 fees, mid ends
    # at 100.20 -> IS 11.18 bps, arrival slippage 5 bps.
    monitor = ExecutionMonitor()
    buy_parent(monitor)
    monitor.parent_acked("P1", NS // 1000)
    monitor.fill("P1", "XNAS", 400, D("100.05"), D("1.20"), None, None, None, NS)
    monitor.fill("P1", "ARCX", 200, D("100.05"), D("0.60"), None, None, None, NS)
    record = monitor.parent_ended("P1", "canceled", 600, D("60030"), D("100.20"), 2 * NS)
    assert record is not None
    assert (record.filled, record.avg_price, record.fees) == (600, "100.05", "1.80")
    assert record.arrival_slippage_bps == pytest.approx(5.0)
    assert record.shortfall_bps == pytest.approx(11.18)
    assert record.ack_latency_s == pytest.approx(0.001)
    assert monitor.parent_ended("P1", "canceled", 0, D(0), None, 3 * NS) is None


def test_sell_parent_signs():
    monitor = ExecutionMonitor()
    monitor.parent_arrived("S1", "dark-first", "AAPL", Side.SELL, 200, D("50.00"), 0)
    fill = monitor.fill("S1", "DARKA", 200, D("49.98"), D("-0.20"), D("49.97"), D("50.01"),
                        None, NS)
    assert fill.slippage_bps == pytest.approx(4.0)
    assert fill.price_improvement_bps == pytest.approx(2.0012, abs=1e-4)  # 0.01 / 49.97
    record = monitor.parent_ended("S1", "filled", 200, D("9996"), D("49.00"), NS)
    assert record.shortfall_bps == pytest.approx(3.8)


def test_scorecards_follow_fills_rejects_and_forget_outside_the_window():
    monitor = ExecutionMonitor(window_s=10)
    buy_parent(monitor)
    monitor.child_acked("XNAS", 0.002, 0)
    monitor.child_acked("XNAS", 0.004, NS)
    ended = functools.partial(monitor.child_ended, "P1", "sweep", "AAPL", Side.BUY, "XNAS")
    record = ended(300, 300, "filled", 0.002, NS)
    assert (record.route, record.side, record.filled, record.ack_latency_s) == (
        "XNAS", "buy", 300, 0.002)
    ended(100, 0, "canceled", None, NS)   # an IOC miss
    ended(100, 0, "rejected", None, NS)   # a reject
    monitor.fill("P1", "XNAS", 300, D("100.02"), D(0), None, None, None, NS)
    monitor.fill("P1", "XNAS", 100, D("100.06"), D(0), None, None, None, NS)
    monitor.quote("AAPL", D("100.10"), 2 * NS)     # 1 s markouts of both fills
    card = monitor.scorecards.snapshot(2 * NS)["XNAS"]
    assert card.fill_rate == pytest.approx(300 / 400)
    assert card.reject_rate == pytest.approx(1 / 3)
    assert card.slippage_bps == pytest.approx((2.0 * 300 + 6.0 * 100) / 400)
    # 300 x (0.08/100.02) and 100 x (0.04/100.06), share-weighted.
    expected = (300 * 0.08 / 100.02 + 100 * 0.04 / 100.06) / 400 * 1e4
    assert card.markout_bps["1s"] == pytest.approx(expected)
    assert card.ack_latency_s == pytest.approx(0.003)
    monitor.venue_down("XNAS", 3 * NS)
    assert monitor.scorecards.snapshot(3 * NS)["XNAS"].outages == 1
    # Eleven seconds on, everything has left the 10 s window.
    later = monitor.scorecards.snapshot(13 * NS)["XNAS"]
    assert (later.fill_rate, later.children, later.outages, later.markout_bps) == (
        None, 0, 0, {})


def test_pending_markouts_are_bounded(monkeypatch):
    monkeypatch.setattr("sor_daemon.core.analytics.monitor.MAX_PENDING_MARKOUTS", 5)
    monitor = ExecutionMonitor()
    buy_parent(monitor)
    for i in range(20):
        monitor.fill("P1", "XNAS", 1, D("100"), D(0), None, None, None, i)
    assert len(monitor.quote("AAPL", D("100"), 100 * NS)) == 5 * 3
