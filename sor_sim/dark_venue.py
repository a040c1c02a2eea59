"""A simulated dark pool as a venue: order entry and execution reports around `DarkPool`.

Pure, like `sor_sim.exchange`: requests and the lit NBBO in, messages and price
impulses (adverse selection) out. Fills are at the NBBO midpoint, never below MinQty
(110), never while the NBBO is missing, locked or crossed. No market data.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal

from sor_daemon.core.domain import (
    CxlRejResponseTo,
    ExecType,
    LiquidityInd,
    OrdRejReason,
    OrdStatus,
    TimeInForce,
)
from sor_daemon.core.messages import (
    STATUS_EXEC_ID,
    CancelFields,
    NewOrderFields,
    StatusFields,
    refusal_report,
)
from sor_sim.dark import DarkFill, DarkPool, DarkResult, Impulse
from sor_sim.exchange import (
    ClientOrder,
    MarketDataReject,
    Outbound,
    cancel_working,
    client_report,
    refuse_amend,
    reject_new,
)
from sor_sim.validation import Rejection, validate_new_order

Nbbo = tuple[int, int] | None
"""(best bid, best ask) in ticks across the lit venues, or None."""


class DarkVenue:
    def __init__(self, name: str, pool: DarkPool, ticks: Mapping[str, Decimal],
                 lot_sizes: Mapping[str, int]) -> None:
        self.name = name
        self.pool = pool
        self._ticks = dict(ticks)
        self._lots = lot_sizes
        self._orders: dict[tuple[str, str], ClientOrder] = {}
        self._by_pool_id: dict[str, ClientOrder] = {}
        self._ids = itertools.count(1)

    def filled_shares(self) -> int:
        return sum(o.cum_qty for o in self._by_pool_id.values())

    def new_order(self, session: str, fields: NewOrderFields, nbbo: Nbbo,
                  now_ns: int) -> tuple[list[Outbound], list[Impulse]]:
        if (session, fields.cl_ord_id) in self._orders:
            return [self._reject(session, fields, Rejection(
                OrdRejReason.DUPLICATE_ORDER, f"duplicate ClOrdID {fields.cl_ord_id!r}"))], []
        order = validate_new_order(fields, self._ticks, self._lots)
        if isinstance(order, Rejection):
            return [self._reject(session, fields, order)], []
        if order.tif is TimeInForce.FOK or order.post_only or order.display_qty is not None:
            return [self._reject(session, fields, Rejection(
                OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC,
                "a dark pool takes Day or IOC midpoint orders (no FOK, post-only, MaxFloor)"))
            ], []
        pool_id = self._next("O")
        tick = self._ticks[order.symbol]
        limit = None if order.price is None else int(order.price / tick)
        result = self.pool.submit(pool_id, session, order.symbol, order.side, order.qty,
                                  order.min_qty or 0, order.tif, limit, nbbo, now_ns)
        if result.reject is not None:
            return [self._reject(session, fields, Rejection(OrdRejReason.OTHER,
                                                            result.reject))], []
        entry = ClientOrder(session, order.cl_ord_id, pool_id, order, order.qty, order.price)
        self._orders[(session, entry.cl_ord_id)] = entry
        self._by_pool_id[pool_id] = entry
        out = [self._report(entry, ExecType.NEW)]
        out += self._apply(result)
        if result.canceled_qty and not entry.status.is_terminal:
            entry.status = OrdStatus.CANCELED
            out.append(self._report(entry, ExecType.CANCELED,
                                    text="IOC remainder canceled: no contra at the midpoint"))
        return out, list(result.impulses)

    def on_time(self, now_ns: int,
                nbbos: Mapping[str, Nbbo]) -> tuple[list[Outbound], list[Impulse]]:
        result = self.pool.on_time(now_ns, nbbos)
        return self._apply(result), list(result.impulses)

    def cancel(self, session: str, fields: CancelFields) -> list[Outbound]:
        entry = self._orders.get((session, fields.orig_cl_ord_id))
        refusal = refuse_amend(session, entry, fields.cl_ord_id, fields.orig_cl_ord_id,
                               CxlRejResponseTo.CANCEL, (session, fields.cl_ord_id) in self._orders)
        if refusal is not None:
            return [refusal]
        assert entry is not None
        self.pool.cancel(entry.order_id)
        self._orders[(session, fields.cl_ord_id)] = entry
        entry.status = OrdStatus.CANCELED
        out = [self._report(entry, ExecType.CANCELED, cl_ord_id=fields.cl_ord_id,
                            orig_cl_ord_id=fields.orig_cl_ord_id)]
        entry.cl_ord_id = fields.cl_ord_id
        return out

    def cancel_session(self, session: str, text: str) -> list[Outbound]:
        """Cancel every working order of a session (cancel on disconnect)."""
        cancelled = cancel_working(self._by_pool_id.values(), session,
                                   lambda entry: self.pool.cancel(entry.order_id))
        return [self._report(entry, ExecType.CANCELED, text=text) for entry in cancelled]

    def status(self, session: str, fields: StatusFields) -> list[Outbound]:
        entry = self._orders.get((session, fields.cl_ord_id or ""))
        if entry is None:
            return [Outbound(session, refusal_report(
                STATUS_EXEC_ID, fields.cl_ord_id, OrdRejReason.UNKNOWN_ORDER, "unknown order",
                request=fields, exec_type=ExecType.ORDER_STATUS,
                status_req_id=fields.ord_status_req_id))]
        return [self._report(entry, ExecType.ORDER_STATUS)]

    def subscribe(self, session: str, req_id: str) -> list[Outbound]:
        return [Outbound(session, MarketDataReject(
            req_id, f"{self.name} is a dark pool: it publishes no market data"))]

    # ---------------------------------------------------------------- internals

    def _next(self, kind: str) -> str:
        return f"{self.name}-{kind}{next(self._ids)}"

    def _apply(self, result: DarkResult) -> list[Outbound]:
        return [out for fill in result.fills for out in self._fill(fill)]

    def _fill(self, fill: DarkFill) -> list[Outbound]:
        entry = self._by_pool_id.get(fill.order_id)
        if entry is None:
            return []
        price = Decimal(fill.price_half_ticks) * self._ticks[entry.order.symbol] / 2
        entry.cum_qty += fill.qty
        entry.notional += price * fill.qty
        entry.status = OrdStatus.FILLED if fill.leaves == 0 else OrdStatus.PARTIALLY_FILLED
        return [self._report(entry, ExecType.TRADE, last_qty=fill.qty, last_px=price,
                             commission=self.pool.fee(fill.qty))]

    def _report(self, entry: ClientOrder, exec_type: ExecType, **fields: object) -> Outbound:
        if fields.get("last_qty"):
            fields["liquidity"] = LiquidityInd.REMOVED  # a dark fill takes the contra side
        return client_report(entry, self._next("E"), self.name, exec_type, **fields)

    def _reject(self, session: str, fields: NewOrderFields, rejection: Rejection) -> Outbound:
        return reject_new(session, self._next("E"), fields, rejection)
