"""What a simulated venue accepts: a typed order, or a rejection with its reason.

The simulator's own, written from the venue's rules, not shared with the router's intake:
a simulator that validated with the code it tests could not catch a bug in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sor_daemon.core.domain import OrdRejReason, OrdType, Side, TimeInForce, wire_decimal
from sor_daemon.core.messages import NewOrder, NewOrderFields, ReplaceFields

_SIDES = {s.value: s for s in Side}
_ORD_TYPES = {t.value: t for t in OrdType}
_TIFS = {t.value: t for t in TimeInForce}
POST_ONLY = "6"
"""ExecInst (18) 6, participate don't initiate: the FIX 4.4 way to say post-only."""


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: OrdRejReason
    text: str


@dataclass(frozen=True, slots=True)
class ReplaceTerms:
    qty: int
    price: Decimal | None


class _Invalid(Exception):
    def __init__(self, reason: OrdRejReason, text: str) -> None:
        self.rejection = Rejection(reason, text)


def _decimal(text: str, tag: str) -> Decimal:
    try:
        return wire_decimal(text)
    except ValueError as exc:
        raise _Invalid(OrdRejReason.OTHER, f"{tag} {exc}: {text!r}") from None


def _quantity(text: str | None, tag: str = "OrderQty (38)") -> int:
    if text is None:
        raise _Invalid(OrdRejReason.INCORRECT_QUANTITY, f"{tag} is required")
    value = _decimal(text, tag)
    if value <= 0 or value != value.to_integral_value():
        raise _Invalid(OrdRejReason.INCORRECT_QUANTITY,
                       f"{tag} must be a positive whole number of shares, got {text}")
    return int(value)


def _enum(text: str | None, table: dict, tag: str, default=None):
    if text is None and default is not None:
        return default
    if text not in table:
        accepted = ", ".join(f"{k}={v.name.title().replace('_', '')}" for k, v in table.items())
        raise _Invalid(OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
                       f"unsupported {tag} {text!r}; accepted: {accepted}")
    return table[text]


def _price(ord_type: OrdType, text: str | None, tick: Decimal) -> Decimal | None:
    if ord_type is OrdType.MARKET:
        if text is not None:
            raise _Invalid(OrdRejReason.OTHER, "Price (44) must not be set on a market order")
        return None
    if text is None:
        raise _Invalid(OrdRejReason.OTHER, "Price (44) is required for a limit order")
    price = _decimal(text, "Price (44)")
    if price <= 0:
        raise _Invalid(OrdRejReason.OTHER, f"Price (44) must be positive, got {text}")
    if price % tick:
        raise _Invalid(OrdRejReason.OTHER,
                       f"Price (44) {text} is not a multiple of the tick {tick}")
    return price


def _optional_qty(text: str | None, tag: str, qty: int, allow_zero: bool = False) -> int | None:
    if text is None:
        return None
    if allow_zero and text.strip() in ("0", "0.0"):
        return 0
    value = _quantity(text, tag)
    if value > qty:
        raise _Invalid(OrdRejReason.INCORRECT_QUANTITY,
                       f"{tag} {value} is above OrderQty (38) {qty}")
    return value


def _post_only(exec_inst: str | None, ord_type: OrdType) -> bool:
    if exec_inst is None:
        return False
    unsupported = [v for v in exec_inst.split() if v != POST_ONLY]
    if unsupported:
        raise _Invalid(OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
                       f"unsupported ExecInst (18) {' '.join(unsupported)!r}; accepted: "
                       f"{POST_ONLY}=post-only (participate don't initiate)")
    if ord_type is OrdType.MARKET:
        raise _Invalid(OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
                       "a post-only (ExecInst 6) order needs a limit price")
    return True


def validate_new_order(fields: NewOrderFields, ticks: Mapping[str, Decimal],
                       lot_sizes: Mapping[str, int]) -> NewOrder | Rejection:
    """Check a NewOrderSingle as a venue does: any TimeInForce, MinQty, MaxFloor
    (iceberg), post-only, whole lots; no routing choices (ExDestination, TargetStrategy)."""
    try:
        symbol = fields.symbol
        if symbol is None or symbol not in ticks:
            raise _Invalid(OrdRejReason.UNKNOWN_SYMBOL, f"unknown symbol {symbol!r}")
        side = _enum(fields.side, _SIDES, "Side (54)")
        qty = _quantity(fields.order_qty)
        ord_type = _enum(fields.ord_type, _ORD_TYPES, "OrdType (40)")
        tif = _enum(fields.tif, _TIFS, "TimeInForce (59)", TimeInForce.DAY)
        price = _price(ord_type, fields.price, ticks[symbol])
        if fields.ex_destination is not None:
            raise _Invalid(OrdRejReason.OTHER, f"unknown ExDestination (100) "
                           f"{fields.ex_destination!r}; venues: none")
        if fields.target_strategy is not None:
            raise _Invalid(OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
                           f"unknown TargetStrategy (847) {fields.target_strategy!r}; "
                           "accepted: none")
        lot = lot_sizes.get(symbol, 1)
        if qty % lot:
            raise _Invalid(OrdRejReason.INCORRECT_QUANTITY,
                           f"OrderQty (38) {qty} is not a multiple of the lot size {lot}")
        min_qty = _optional_qty(fields.min_qty, "MinQty (110)", qty)
        display = _optional_qty(fields.max_floor, "MaxFloor (111)", qty, allow_zero=True)
        post_only = _post_only(fields.exec_inst, ord_type)
    except _Invalid as exc:
        return exc.rejection
    return NewOrder(fields.cl_ord_id, symbol, side, qty, ord_type, price, tif, None, None,
                    min_qty, post_only, display)


def validate_replace(fields: ReplaceFields, order: NewOrder, cum_qty: int,
                     tick: Decimal) -> ReplaceTerms | Rejection:
    """Check an OrderCancelReplaceRequest against the order it amends."""
    try:
        if fields.symbol is not None and fields.symbol != order.symbol:
            raise _Invalid(OrdRejReason.OTHER,
                           f"Symbol (55) cannot change ({order.symbol} -> {fields.symbol})")
        for text, value, tag in ((fields.side, order.side, "Side (54)"),
                                 (fields.ord_type, order.ord_type, "OrdType (40)"),
                                 (fields.tif, order.tif, "TimeInForce (59)")):
            if text is not None and text != value.value:
                raise _Invalid(OrdRejReason.OTHER, f"{tag} cannot change on a replace")
        qty = order.qty if fields.order_qty is None else _quantity(fields.order_qty)
        if order.ord_type is OrdType.MARKET or fields.price is not None:
            price = _price(order.ord_type, fields.price, tick)
        else:
            price = order.price
        if qty < cum_qty:
            raise _Invalid(OrdRejReason.INCORRECT_QUANTITY,
                           f"OrderQty (38) {qty} is below the filled quantity {cum_qty}")
    except _Invalid as exc:
        return exc.rejection
    return ReplaceTerms(qty, price)
