"""The order vocabulary shared by the core and the adapters, with FIX 4.4 wire values.

Quantities are whole shares (``int``); prices are ``decimal.Decimal``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum

MAX_WHOLE_DIGITS = 15
"""Digits a price or quantity read from FIX may have before its decimal point. Valid FIX
allows any number; the arithmetic does not: decimal's default context keeps 28
significant digits, and ``price % tick`` or a price formatted to 8 decimals raises
(``DivisionImpossible``, ``InvalidOperation``) once the result needs more. Below 10**15 a
value also stays exact as a float (metrics) and fits an SQLite integer (the journal)."""


def wire_decimal(text: str) -> Decimal:
    """A number from the wire as a Decimal that is safe to compute with; ValueError,
    with the reason, for text that is not a number, not finite, or out of range
    (`MAX_WHOLE_DIGITS`)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("is not a number") from None
    if not value.is_finite():
        raise ValueError("is not a finite number")
    if value and value.adjusted() >= MAX_WHOLE_DIGITS:
        raise ValueError(f"is out of range (more than {MAX_WHOLE_DIGITS} digits before "
                         "the decimal point)")
    return value


class Side(StrEnum):
    BUY = "1"
    SELL = "2"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: costs are ``sign * (paid - benchmark)``."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrdType(StrEnum):
    MARKET = "1"
    LIMIT = "2"


class TimeInForce(StrEnum):
    DAY = "0"
    IOC = "3"
    FOK = "4"


class OrdStatus(StrEnum):
    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    REJECTED = "8"
    PENDING_NEW = "A"
    EXPIRED = "C"
    PENDING_REPLACE = "E"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED}
)


class ExecType(StrEnum):
    NEW = "0"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    REJECTED = "8"
    PENDING_NEW = "A"
    EXPIRED = "C"
    PENDING_REPLACE = "E"
    TRADE = "F"
    ORDER_STATUS = "I"


class OrdRejReason(StrEnum):
    """FIX 4.4 OrdRejReason (103) values the router and the simulated venues use."""

    BROKER_OPTION = "0"
    UNKNOWN_SYMBOL = "1"
    EXCHANGE_CLOSED = "2"
    ORDER_EXCEEDS_LIMIT = "3"
    UNKNOWN_ORDER = "5"
    DUPLICATE_ORDER = "6"
    UNSUPPORTED_ORDER_CHARACTERISTIC = "11"
    INCORRECT_QUANTITY = "13"
    OTHER = "99"


class CxlRejReason(StrEnum):
    """FIX 4.4 CxlRejReason (102)."""

    TOO_LATE_TO_CANCEL = "0"
    UNKNOWN_ORDER = "1"
    BROKER_OPTION = "2"
    ALREADY_PENDING = "3"
    DUPLICATE_CLORDID = "6"
    OTHER = "99"


class CxlRejResponseTo(StrEnum):
    """FIX 4.4 CxlRejResponseTo (434): which request an OrderCancelReject answers."""

    CANCEL = "1"
    REPLACE = "2"


class LiquidityInd(StrEnum):
    """FIX 4.4 LastLiquidityInd (851): whether a fill added or removed liquidity."""

    ADDED = "1"
    REMOVED = "2"
