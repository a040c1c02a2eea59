"""Unit tests for the simulated venues' fee schedules."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from decimal import Decimal

import pytest

from sor_sim.fees import FeeSchedule

D = Decimal


def test_maker_taker_defaults_rebate_maker_charge_taker() -> None:
    fees = FeeSchedule.maker_taker()
    assert fees == FeeSchedule("maker-taker", D("-0.0020"), D("0.0030"))
    assert fees.fee(100, maker=True) == D("-0.20")
    assert fees.fee(100, maker=False) == D("0.30")
    assert fees.fee(1, maker=True) < 0 < fees.fee(1, maker=False)


def test_inverted_defaults_charge_maker_rebate_taker() -> None:
    fees = FeeSchedule.inverted()
    assert fees == FeeSchedule("inverted", D("0.0010"), D("-0.0005"))
    assert fees.fee(300, maker=True) == D("0.30")
    assert fees.fee(300, maker=False) == D("-0.15")
    assert fees.fee(1, maker=False) < 0 < fees.fee(1, maker=True)


def test_flat_defaults_charge_both_sides_the_same() -> None:
    fees = FeeSchedule.flat()
    assert fees == FeeSchedule("flat", D("0.0005"), D("0.0005"))
    assert fees.fee(1000, maker=True) == fees.fee(1000, maker=False) == D("0.50")


@pytest.mark.parametrize(
    ("model", "maker", "taker"),
    [
        ("maker-taker", D("-0.0020"), D("0.0030")),
        ("inverted", D("0.0010"), D("-0.0005")),
        ("flat", D("0.0005"), D("0.0005")),
    ],
)
def test_for_model_uses_each_models_defaults(model: str, maker: Decimal, taker: Decimal) -> None:
    fees = FeeSchedule.for_model(model)  # type: ignore[arg-type]
    assert (fees.model, fees.maker_per_share, fees.taker_per_share) == (model, maker, taker)
    for qty in (1, 37, 100, 12_345):
        assert fees.fee(qty, maker=True) == qty * maker
        assert fees.fee(qty, maker=False) == qty * taker


def test_fee_is_exact_decimal_and_zero_for_zero_shares() -> None:
    fees = FeeSchedule.maker_taker()
    amount = fees.fee(333, maker=False)
    assert isinstance(amount, Decimal) and amount == D("0.9990")
    assert fees.fee(0, maker=True) == 0


def test_custom_rates() -> None:
    fees = FeeSchedule.maker_taker(maker="-0.0032", taker="0.0030")
    assert fees.fee(100, maker=True) == D("-0.32")
    assert FeeSchedule.flat("0.0001").fee(100, maker=False) == D("0.01")
    assert FeeSchedule.inverted(D("0.0018"), D("-0.0014")).fee(100, maker=False) == D("-0.14")


def test_invalid_schedules_and_quantities_raise() -> None:
    with pytest.raises(ValueError, match="unknown fee model"):
        FeeSchedule.for_model("free")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown fee model"):
        FeeSchedule("free", D(0), D(0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        FeeSchedule("flat", 0.0005, 0.0005)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FeeSchedule("flat", D("NaN"), D(0))
    with pytest.raises(ValueError):
        FeeSchedule.flat().fee(-1, maker=True)


def test_schedule_is_frozen() -> None:
    fees = FeeSchedule.flat()
    with pytest.raises(FrozenInstanceError):
        fees.maker_per_share = D(0)  # type: ignore[misc]
