"""Per-share exchange fees for the simulated lit venues.

Sign convention: a positive amount is charged by the venue, a negative one is a rebate
paid to the member. ``maker`` is the resting order that added liquidity, ``taker`` the
incoming order that removed it. Defaults are typical US-equity levels (per share):

| model         | maker    | taker    |
| ------------- | -------- | -------- |
| maker-taker   | -0.0020  | +0.0030  |
| inverted      | +0.0010  | -0.0005  |
| flat          | +0.0005  | +0.0005  |
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

__all__ = ["FeeModel", "FeeSchedule"]

FeeModel = Literal["maker-taker", "inverted", "flat"]
_MODELS: tuple[str, ...] = get_args(FeeModel)


def _per_share(value: Decimal | str | int) -> Decimal:
    if isinstance(value, float):
        raise TypeError("fees are Decimal (or str/int), not float")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"fee per share must be finite, got {amount}")
    return amount


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A venue's fee per share for makers and takers (positive: charge, negative: rebate)."""

    model: FeeModel
    maker_per_share: Decimal
    taker_per_share: Decimal

    def __post_init__(self) -> None:
        if self.model not in _MODELS:
            raise ValueError(f"unknown fee model {self.model!r}; accepted: {', '.join(_MODELS)}")
        object.__setattr__(self, "maker_per_share", _per_share(self.maker_per_share))
        object.__setattr__(self, "taker_per_share", _per_share(self.taker_per_share))

    @classmethod
    def maker_taker(
        cls, maker: Decimal | str = "-0.0020", taker: Decimal | str = "0.0030"
    ) -> FeeSchedule:
        """Makers earn a rebate, takers pay (the common lit-venue model)."""
        return cls("maker-taker", Decimal(maker), Decimal(taker))

    @classmethod
    def inverted(
        cls, maker: Decimal | str = "0.0010", taker: Decimal | str = "-0.0005"
    ) -> FeeSchedule:
        """Makers pay, takers earn a rebate ("taker-maker")."""
        return cls("inverted", Decimal(maker), Decimal(taker))

    @classmethod
    def flat(cls, per_share: Decimal | str = "0.0005") -> FeeSchedule:
        """The same charge whichever side of the trade."""
        amount = Decimal(per_share)
        return cls("flat", amount, amount)

    @classmethod
    def for_model(cls, model: FeeModel) -> FeeSchedule:
        """The default schedule of a model, by its config name."""
        if model == "maker-taker":
            return cls.maker_taker()
        if model == "inverted":
            return cls.inverted()
        if model == "flat":
            return cls.flat()
        raise ValueError(f"unknown fee model {model!r}; accepted: {', '.join(_MODELS)}")

    def fee(self, qty: int, maker: bool) -> Decimal:
        """Fee for one fill of ``qty`` shares: positive charged, negative rebated."""
        if qty < 0:
            raise ValueError(f"quantity must not be negative, got {qty}")
        return qty * (self.maker_per_share if maker else self.taker_per_share)
