"""Validation of the OMS's order requests: a typed order, or a rejection with its reason
(a precise Text (58) naming what was wrong). The simulated venues validate with their own
rules (`sor_sim.validation`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal

from sor_daemon.core.domain import OrdRejReason, OrdType, Side, TimeInForce, wire_decimal
from sor_daemon.core.messages import NewOrder, NewOrderFields, ReplaceFields

_SIDES = {s.value: s for s in Side}
_ORD_TYPES = {t.value: t for t in OrdType}
_ROUTER_TIFS = {t.value: t for t in (TimeInForce.DAY, TimeInForce.IOC)}


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: OrdRejReason
    text: str


class _Invalid(Exception):
    def __init__(self, reason: OrdRejReason, text: str) -> None:
        self.rejection = Rejection(reason, text)


def _decimal(text: str, tag: str) -> Decimal:
    try:
        return wire_decimal(text)
    except ValueError as exc:
        raise _Invalid(OrdRejReason.OTHER, f"{tag} {exc}: {text!r}") from None


def parse_quantity(text: str | None, tag: str = "OrderQty (38)") -> int:
    if text is None:
        raise _Invalid(OrdRejReason.INCORRECT_QUANTITY, f"{tag} is required")
    value = _decimal(text, tag)
    if value <= 0 or value != value.to_integral_value():
        raise _Invalid(
            OrdRejReason.INCORRECT_QUANTITY,
            f"{tag} must be a positive whole number of shares, got {text}",
        )
    return int(value)


def _enum(text: str | None, table: dict, tag: str, default=None):
    if text is None and default is not None:
        return default
    if text not in table:
        accepted = ", ".join(f"{k}={v.name.title().replace('_', '')}" for k, v in table.items())
        raise _Invalid(
            OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
            f"unsupported {tag} {text!r}; accepted: {accepted}",
        )
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


def _tick(symbol: str | None, ticks: Mapping[str, Decimal]) -> tuple[str, Decimal]:
    if symbol is None or symbol not in ticks:
        raise _Invalid(OrdRejReason.UNKNOWN_SYMBOL, f"unknown symbol {symbol!r}")
    return symbol, ticks[symbol]


def validate_new_order(
    fields: NewOrderFields,
    ticks: Mapping[str, Decimal],
    venues: Collection[str] | None = None,
    strategy_codes: Mapping[int, str] | None = None,
) -> NewOrder | Rejection:
    """Check a NewOrderSingle. ``venues``/``strategy_codes`` are the router's routing
    choices (ExDestination, TargetStrategy)."""
    try:
        symbol, tick = _tick(fields.symbol, ticks)
        side = _enum(fields.side, _SIDES, "Side (54)")
        qty = parse_quantity(fields.order_qty)
        ord_type = _enum(fields.ord_type, _ORD_TYPES, "OrdType (40)")
        tif = _enum(fields.tif, _ROUTER_TIFS, "TimeInForce (59)", TimeInForce.DAY)
        price = _price(ord_type, fields.price, tick)
        ex_destination = fields.ex_destination
        if ex_destination is not None and (venues is None or ex_destination not in venues):
            known = ", ".join(sorted(venues or ()))
            raise _Invalid(
                OrdRejReason.OTHER,
                f"unknown ExDestination (100) {ex_destination!r}; venues: {known or 'none'}",
            )
        strategy = _strategy(fields.target_strategy, strategy_codes)
        for text, tag in ((fields.min_qty, "MinQty (110)"), (fields.exec_inst, "ExecInst (18)"),
                          (fields.max_floor, "MaxFloor (111)")):
            if text is not None:
                raise _Invalid(OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
                               f"{tag} is not supported")
    except _Invalid as exc:
        return exc.rejection
    return NewOrder(fields.cl_ord_id, symbol, side, qty, ord_type, price, tif, ex_destination,
                    strategy)


def _strategy(text: str | None, codes: Mapping[int, str] | None) -> int | None:
    if text is None:
        return None
    accepted = ", ".join(f"{code}={name}" for code, name in (codes or {}).items())
    try:
        code = int(text)
    except ValueError:
        code = -1
    if codes is None or code not in codes:
        raise _Invalid(
            OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
            f"unknown TargetStrategy (847) {text!r}; accepted: {accepted or 'none'}",
        )
    return code


@dataclass(frozen=True, slots=True)
class ReplaceTerms:
    qty: int
    price: Decimal | None


def validate_replace(
    fields: ReplaceFields, order: NewOrder, cum_qty: int, tick: Decimal
) -> ReplaceTerms | Rejection:
    """Check an OrderCancelReplaceRequest against the order it amends."""
    try:
        if fields.symbol is not None and fields.symbol != order.symbol:
            raise _Invalid(OrdRejReason.OTHER,
                           f"Symbol (55) cannot change ({order.symbol} -> {fields.symbol})")
        if fields.side is not None and fields.side != order.side.value:
            raise _Invalid(OrdRejReason.OTHER, "Side (54) cannot change on a replace")
        if fields.ord_type is not None and fields.ord_type != order.ord_type.value:
            raise _Invalid(OrdRejReason.OTHER, "OrdType (40) cannot change on a replace")
        if fields.tif is not None and fields.tif != order.tif.value:
            raise _Invalid(OrdRejReason.OTHER, "TimeInForce (59) cannot change on a replace")
        qty = order.qty if fields.order_qty is None else parse_quantity(fields.order_qty)
        if order.ord_type is OrdType.MARKET:
            price = _price(order.ord_type, fields.price, tick)
        else:
            price = order.price if fields.price is None else _price(order.ord_type,
                                                                    fields.price, tick)
        if qty < cum_qty:
            raise _Invalid(
                OrdRejReason.INCORRECT_QUANTITY,
                f"OrderQty (38) {qty} is below the filled quantity {cum_qty}",
            )
    except _Invalid as exc:
        return exc.rejection
    return ReplaceTerms(qty, price)
