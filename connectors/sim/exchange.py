"""A simulated lit exchange: price-time books, a house market maker, execution reports.

Pure: requests in, messages out (addressed to a FIX session name); the FIX acceptor in
`connectors.sim.venue` only translates. A house market maker keeps each configured level
on both sides refilled around the symbol's reference price after every client event,
so the book always shows depth to route against.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from connectors.sim.book import OrderBook, SubmitResult, Trade
from sor_daemon.config import SimVenueConfig
from sor_daemon.domain import (
    CxlRejReason,
    CxlRejResponseTo,
    ExecType,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)
from sor_daemon.intake import Rejection, validate_new_order, validate_replace
from sor_daemon.messages import (
    CancelFields,
    CancelReject,
    ExecutionReport,
    NewOrder,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
    refusal_report,
)

HOUSE = "HOUSE"


@dataclass(frozen=True, slots=True)
class SimSymbol:
    tick: Decimal
    reference_price: Decimal


@dataclass(frozen=True, slots=True)
class Snapshot:
    req_id: str
    symbol: str
    bids: list[tuple[Decimal, int]]
    asks: list[tuple[Decimal, int]]


@dataclass(frozen=True, slots=True)
class MarketDataReject:
    req_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Outbound:
    session: str
    message: ExecutionReport | CancelReject | Snapshot | MarketDataReject


@dataclass(slots=True, eq=False)
class ClientOrder:
    session: str
    cl_ord_id: str
    order_id: str
    order: NewOrder
    qty: int
    price: Decimal | None
    status: OrdStatus = OrdStatus.NEW
    cum_qty: int = 0
    notional: Decimal = Decimal(0)

    @property
    def leaves_qty(self) -> int:
        return 0 if self.status.is_terminal else self.qty - self.cum_qty


@dataclass(slots=True)
class _Subscription:
    session: str
    req_id: str
    depth: int
    last: tuple | None = None


@dataclass(slots=True)
class _SymbolState:
    spec: SimSymbol
    book: OrderBook
    center: int
    subscriptions: list[_Subscription] = field(default_factory=list)


class SimExchange:
    def __init__(self, name: str, symbols: dict[str, SimSymbol], profile: SimVenueConfig) -> None:
        self.name = name
        self._profile = profile
        self._symbols = {
            symbol: _SymbolState(
                spec, OrderBook(symbol),
                int(spec.reference_price / spec.tick) + profile.price_offset_ticks)
            for symbol, spec in symbols.items()
        }
        self._ticks = {symbol: spec.tick for symbol, spec in symbols.items()}
        self._orders: dict[tuple[str, str], ClientOrder] = {}
        self._by_book_id: dict[str, ClientOrder] = {}
        self._ids = itertools.count(1)
        for symbol in self._symbols:
            self._refill(symbol)

    # ------------------------------------------------------------------ queries

    def depth(self, symbol: str, levels: int) -> tuple[list[tuple[Decimal, int]],
                                                       list[tuple[Decimal, int]]]:
        state = self._symbols[symbol]
        tick = state.spec.tick
        bids, asks = state.book.depth(levels)
        return [(p * tick, q) for p, q in bids], [(p * tick, q) for p, q in asks]

    def filled_shares(self) -> int:
        """Shares this venue has filled for its clients (the house excluded)."""
        return sum(order.cum_qty for order in self._by_book_id.values())

    def book(self, symbol: str) -> OrderBook:
        return self._symbols[symbol].book

    # ----------------------------------------------------------------- requests

    def new_order(self, session: str, fields: NewOrderFields) -> list[Outbound]:
        if (session, fields.cl_ord_id) in self._orders:
            return [self._reject(session, fields, Rejection(
                OrdRejReason.DUPLICATE_ORDER, f"duplicate ClOrdID {fields.cl_ord_id!r}"))]
        order = validate_new_order(fields, self._ticks)
        if isinstance(order, Rejection):
            return [self._reject(session, fields, order)]
        client = ClientOrder(session, order.cl_ord_id, self._next("O"), order, order.qty,
                             order.price)
        self._orders[(session, client.cl_ord_id)] = client
        self._by_book_id[client.order_id] = client
        out = [self._report(client, ExecType.NEW)]
        state = self._symbols[order.symbol]
        tif = TimeInForce.IOC if order.ord_type is OrdType.MARKET else order.tif
        result = state.book.submit(client.order_id, session, order.side, order.qty,
                                   self._to_ticks(order.symbol, order.price), tif)
        out += self._apply(order.symbol, result, client)
        return out + self._after_event(order.symbol)

    def cancel(self, session: str, fields: CancelFields) -> list[Outbound]:
        client = self._orders.get((session, fields.orig_cl_ord_id))
        refusal = self._refuse_amend(session, client, fields.cl_ord_id, fields.orig_cl_ord_id,
                                     CxlRejResponseTo.CANCEL)
        if refusal is not None:
            return [refusal]
        assert client is not None
        self._symbols[client.order.symbol].book.cancel(client.order_id)
        self._orders[(session, fields.cl_ord_id)] = client
        client.status = OrdStatus.CANCELED
        out = [self._report(client, ExecType.CANCELED, cl_ord_id=fields.cl_ord_id,
                            orig_cl_ord_id=fields.orig_cl_ord_id)]
        client.cl_ord_id = fields.cl_ord_id
        return out + self._after_event(client.order.symbol)

    def replace(self, session: str, fields: ReplaceFields) -> list[Outbound]:
        client = self._orders.get((session, fields.orig_cl_ord_id))
        refusal = self._refuse_amend(session, client, fields.cl_ord_id, fields.orig_cl_ord_id,
                                     CxlRejResponseTo.REPLACE)
        if refusal is not None:
            return [refusal]
        assert client is not None
        symbol = client.order.symbol
        terms = validate_replace(fields, client.order, client.cum_qty, self._ticks[symbol])
        if isinstance(terms, Rejection) or terms.price is None:
            text = terms.text if isinstance(terms, Rejection) else "market orders never rest"
            return [Outbound(session, CancelReject(
                client.order_id, fields.cl_ord_id, fields.orig_cl_ord_id, client.status,
                CxlRejResponseTo.REPLACE, CxlRejReason.OTHER, text))]
        self._orders[(session, fields.cl_ord_id)] = client
        client.qty, client.price = terms.qty, terms.price
        orig, client.cl_ord_id = client.cl_ord_id, fields.cl_ord_id
        book = self._symbols[symbol].book
        if terms.qty == client.cum_qty:
            book.cancel(client.order_id)
            client.status = OrdStatus.FILLED
            return [self._report(client, ExecType.REPLACED, orig_cl_ord_id=orig)]
        result = book.replace(client.order_id, terms.qty, self._to_ticks(symbol, terms.price))
        client.status = OrdStatus.PARTIALLY_FILLED if client.cum_qty else OrdStatus.NEW
        out = [self._report(client, ExecType.REPLACED, orig_cl_ord_id=orig)]
        if result is not None:
            out += self._apply(symbol, result, client)
        return out + self._after_event(symbol)

    def status(self, session: str, fields: StatusFields) -> list[Outbound]:
        client = self._orders.get((session, fields.cl_ord_id or ""))
        if client is None:
            return [Outbound(session, refusal_report(
                self._next("E"), fields.cl_ord_id, OrdRejReason.UNKNOWN_ORDER, "unknown order",
                exec_type=ExecType.ORDER_STATUS, status_req_id=fields.ord_status_req_id))]
        return [self._report(client, ExecType.ORDER_STATUS)]

    def subscribe(self, session: str, req_id: str, depth: int,
                  symbols: tuple[str, ...]) -> list[Outbound]:
        unknown = [s for s in symbols if s not in self._symbols]
        if unknown or not symbols:
            return [Outbound(session, MarketDataReject(
                req_id, f"unknown symbol {unknown[0]!r}" if unknown else "no symbol requested"))]
        out = []
        for symbol in symbols:
            sub = _Subscription(session, req_id, depth)
            self._symbols[symbol].subscriptions.append(sub)
            out += self._publish(symbol, [sub], force=True)
        return out

    def drop_session(self, session: str) -> None:
        """Forget a disconnected session's subscriptions (its orders stay, as on a venue
        without cancel-on-disconnect)."""
        for state in self._symbols.values():
            state.subscriptions = [s for s in state.subscriptions if s.session != session]

    # ---------------------------------------------------------------- internals

    def _next(self, kind: str) -> str:
        return f"{self.name}-{kind}{next(self._ids)}"

    def _to_ticks(self, symbol: str, price: Decimal | None) -> int | None:
        return None if price is None else int(price / self._ticks[symbol])

    def _apply(self, symbol: str, result: SubmitResult, taker: ClientOrder) -> list[Outbound]:
        tick = self._ticks[symbol]
        out: list[Outbound] = []
        for trade in result.trades:
            out += self._fill(taker, trade, trade.taker_leaves, tick)
            maker = self._by_book_id.get(trade.maker_id)
            if maker is not None:
                out += self._fill(maker, trade, trade.maker_leaves, tick)
        if result.canceled_qty and not taker.status.is_terminal:
            taker.status = OrdStatus.CANCELED
            out.append(self._report(taker, ExecType.CANCELED,
                                    text="IOC remainder canceled: no more liquidity in limit"))
        return out

    def _fill(self, client: ClientOrder, trade: Trade, leaves: int,
              tick: Decimal) -> list[Outbound]:
        price = trade.price * tick
        client.cum_qty += trade.qty
        client.notional += price * trade.qty
        client.status = OrdStatus.FILLED if leaves == 0 else OrdStatus.PARTIALLY_FILLED
        return [self._report(client, ExecType.TRADE, last_qty=trade.qty, last_px=price)]

    def _after_event(self, symbol: str) -> list[Outbound]:
        self._refill(symbol)
        return self._publish(symbol, self._symbols[symbol].subscriptions)

    def _refill(self, symbol: str) -> None:
        """Top each house level back up to its size, never crossing the other side."""
        state = self._symbols[symbol]
        book, profile = state.book, self._profile
        bids, asks = book.depth(profile.levels + 50)
        bid_sizes, ask_sizes = dict(bids), dict(asks)
        for k in range(profile.levels):
            target = profile.level_size + k * profile.size_step
            for side, price, sizes, opposite in (
                (Side.BUY, state.center - profile.half_spread_ticks - k, bid_sizes,
                 book.best_ask()),
                (Side.SELL, state.center + profile.half_spread_ticks + k, ask_sizes,
                 book.best_bid()),
            ):
                if opposite is not None and (
                    (side is Side.BUY and price >= opposite[0])
                    or (side is Side.SELL and price <= opposite[0])
                ):
                    continue
                missing = target - sizes.get(price, 0)
                if missing > 0:
                    book.submit(self._next("H"), HOUSE, side, missing, price, TimeInForce.DAY)

    def _publish(self, symbol: str, subs: list[_Subscription],
                 force: bool = False) -> list[Outbound]:
        out = []
        for sub in subs:
            bids, asks = self.depth(symbol, sub.depth)
            key = (tuple(bids), tuple(asks))
            if force or key != sub.last:
                sub.last = key
                out.append(Outbound(sub.session, Snapshot(sub.req_id, symbol, bids, asks)))
        return out

    def _refuse_amend(self, session: str, client: ClientOrder | None, cl_ord_id: str,
                      orig_cl_ord_id: str, response_to: CxlRejResponseTo) -> Outbound | None:
        if client is None:
            return Outbound(session, CancelReject(
                "NONE", cl_ord_id, orig_cl_ord_id, OrdStatus.REJECTED, response_to,
                CxlRejReason.UNKNOWN_ORDER, f"unknown order {orig_cl_ord_id!r}"))
        if client.status.is_terminal:
            return Outbound(session, CancelReject(
                client.order_id, cl_ord_id, orig_cl_ord_id, client.status, response_to,
                CxlRejReason.TOO_LATE_TO_CANCEL, f"order is already {client.status.name}"))
        if (session, cl_ord_id) in self._orders:
            return Outbound(session, CancelReject(
                client.order_id, cl_ord_id, orig_cl_ord_id, client.status, response_to,
                CxlRejReason.DUPLICATE_CLORDID, f"duplicate ClOrdID {cl_ord_id!r}"))
        return None

    def _report(self, client: ClientOrder, exec_type: ExecType, *, cl_ord_id: str | None = None,
                orig_cl_ord_id: str | None = None, last_qty: int = 0,
                last_px: Decimal | None = None, text: str | None = None) -> Outbound:
        order = client.order
        return Outbound(client.session, ExecutionReport(
            order_id=client.order_id,
            cl_ord_id=cl_ord_id or client.cl_ord_id,
            exec_id=self._next("E"),
            exec_type=exec_type,
            ord_status=client.status,
            symbol=order.symbol,
            side=order.side,
            order_qty=client.qty,
            leaves_qty=client.leaves_qty,
            cum_qty=client.cum_qty,
            avg_px=client.notional / client.cum_qty if client.cum_qty else Decimal(0),
            ord_type=order.ord_type,
            price=client.price,
            tif=order.tif,
            orig_cl_ord_id=orig_cl_ord_id,
            last_qty=last_qty,
            last_px=last_px,
            last_mkt=self.name if last_qty else None,
            text=text,
        ))

    def _reject(self, session: str, fields: NewOrderFields, rejection: Rejection) -> Outbound:
        return Outbound(session, refusal_report(
            self._next("E"), fields.cl_ord_id, rejection.reason, rejection.text,
            symbol=fields.symbol, side=fields.side))
