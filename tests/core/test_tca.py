"""TCA maths against hand-computed examples (bps, positive = cost, sign by side)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sor_daemon.core.analytics.tca import (
    effective_spread_bps,
    markout_bps,
    price_improvement_bps,
    shortfall_bps,
    slippage_bps,
)
from sor_daemon.core.domain import Side

D = Decimal


def test_buy_partial_fill_shortfall_includes_fees_and_opportunity_cost():
    # Buy 1000 arriving at mid 100.00; 600 filled at 100.05 (notional 60,030), 1.80 fees;
    # the mid ends at 100.20, so the 400 unfilled would now cost 0.20 more each.
    # executed: (60,030 - 600 x 100.00) + 1.80 = 31.80; missed: 0.20 x 400 = 80.00
    # IS = 111.80 / (1000 x 100.00) = 11.18 bps; slippage of the fills = 0.05/100 = 5 bps.
    assert shortfall_bps(Side.BUY, 1000, 600, D("60030"), D("1.80"), D("100.00"),
                         D("100.20")) == pytest.approx(11.18)
    assert slippage_bps(Side.BUY, D("100.05"), D("100.00")) == pytest.approx(5.0)


def test_sell_filled_with_a_rebate():
    # Sell 200 arriving at mid 50.00, all filled at 49.98 (notional 9,996), rebate 0.20.
    # executed: -(9,996 - 10,000) - 0.20 = 3.80 -> 3.80 / 10,000 = 3.8 bps; nothing missed,
    # so the final mid does not matter. Selling 0.02 below the mid is 4 bps of cost.
    assert shortfall_bps(Side.SELL, 200, 200, D("9996"), D("-0.20"), D("50.00"),
                         D("49.00")) == pytest.approx(3.8)
    assert slippage_bps(Side.SELL, D("49.98"), D("50.00")) == pytest.approx(4.0)
    # Selling above the arrival mid is a gain: negative cost.
    assert slippage_bps(Side.SELL, D("50.01"), D("50.00")) == pytest.approx(-2.0)


def test_sell_unfilled_rest_gains_when_the_market_falls():
    # Sell 100 at arrival 20.00, nothing filled, mid falls to 19.90: not selling cost
    # 0.10 x 100 = 10.00 of 2,000 paper = 50 bps.
    assert shortfall_bps(Side.SELL, 100, 0, D(0), D(0), D("20.00"),
                         D("19.90")) == pytest.approx(50.0)


def test_effective_spread():
    # Buy at 100.05 with the mid at 100.00: 2 x 0.05 / 100 = 10 bps.
    assert effective_spread_bps(Side.BUY, D("100.05"), D("100.00")) == pytest.approx(10.0)
    # Sell at 49.98 with the mid at 50.00: 2 x 0.02 / 50 = 8 bps.
    assert effective_spread_bps(Side.SELL, D("49.98"), D("50.00")) == pytest.approx(8.0)
    # A midpoint (dark) fill costs no spread.
    assert effective_spread_bps(Side.BUY, D("100.00"), D("100.00")) == 0.0


def test_price_improvement_against_the_far_touch():
    # Buy at 100.04 with the ask at 100.05: 0.01 / 100.05 = 0.9995 bps better.
    assert price_improvement_bps(Side.BUY, D("100.04"), D("100.03"),
                                 D("100.05")) == pytest.approx(0.99950025)
    # Sell at 49.99 with the bid at 49.98: 0.01 / 49.98 = 2.0008 bps better.
    assert price_improvement_bps(Side.SELL, D("49.99"), D("49.98"),
                                 D("50.00")) == pytest.approx(2.00080032)
    # Buying through the ask is negative improvement.
    assert price_improvement_bps(Side.BUY, D("100.06"), D("100.03"),
                                 D("100.05")) == pytest.approx(-0.99950025)


def test_markouts_sign_by_side():
    # Bought at 100.05, mid later 100.10: +0.05 / 100.05 = +4.9975 bps (good fill).
    assert markout_bps(Side.BUY, D("100.05"), D("100.10")) == pytest.approx(4.99750125)
    # Sold at 49.98, mid later 50.03: the market rose after we sold, -10.004 bps (adverse).
    assert markout_bps(Side.SELL, D("49.98"), D("50.03")) == pytest.approx(-10.0040016)
