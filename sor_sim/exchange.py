"""A simulated lit exchange: price-time books, a house market maker, background flow,
fees, execution reports and market data.

Pure: requests in, messages out (addressed to a FIX session name); the FIX acceptor in
`sor_sim.venue` only translates, and `sor_sim.market` drives the clock.
The house market maker keeps each configured level on both sides refilled around the
symbol's centre (the shared fundamental plus this venue's offset) after every event.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sor_daemon.core.domain import (
    CxlRejReason,
    CxlRejResponseTo,
    ExecType,
    LiquidityInd,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
)
from sor_daemon.core.market import BookChange, diff_levels
from sor_daemon.core.messages import (
    NO_ORDER_ID,
    STATUS_EXEC_ID,
    CancelFields,
    CancelReject,
    ExecutionReport,
    NewOrder,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
    refusal_report,
)
from sor_sim.book import OrderBook, SubmitResult, Trade
from sor_sim.config import SimVenueConfig
from sor_sim.fees import FeeSchedule
from sor_sim.flow import FlowCancel, FlowOrder
from sor_sim.validation import Rejection, validate_new_order, validate_replace

HOUSE = "HOUSE"
FLOW = "FLOW"


@dataclass(frozen=True, slots=True)
class SimSymbol:
    tick: Decimal
    reference_price: Decimal
    lot_size: int = 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    req_id: str
    symbol: str
    bids: list[tuple[Decimal, int]]
    asks: list[tuple[Decimal, int]]


@dataclass(frozen=True, slots=True)
class Increment:
    req_id: str
    symbol: str
    changes: list[BookChange]
    trades: list[tuple[Decimal, int]]


@dataclass(frozen=True, slots=True)
class MarketDataReject:
    req_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Outbound:
    session: str
    message: ExecutionReport | CancelReject | Snapshot | Increment | MarketDataReject


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


def refuse_amend(session: str, client: ClientOrder | None, cl_ord_id: str,
                 orig_cl_ord_id: str, response_to: CxlRejResponseTo,
                 known: bool = False) -> Outbound | None:
    """The venue's OrderCancelReject for a cancel/replace it cannot do, or None.

    ``known``: ``cl_ord_id`` is already in use in the session (a duplicate)."""
    if client is None:
        return Outbound(session, CancelReject(
            NO_ORDER_ID, cl_ord_id, orig_cl_ord_id, OrdStatus.REJECTED, response_to,
            CxlRejReason.UNKNOWN_ORDER, f"unknown order {orig_cl_ord_id!r}"))
    if client.status.is_terminal:
        return Outbound(session, CancelReject(
            client.order_id, cl_ord_id, orig_cl_ord_id, client.status, response_to,
            CxlRejReason.TOO_LATE_TO_CANCEL, f"order is already {client.status.name}"))
    if known:
        return Outbound(session, CancelReject(
            client.order_id, cl_ord_id, orig_cl_ord_id, client.status, response_to,
            CxlRejReason.DUPLICATE_CLORDID, f"duplicate ClOrdID {cl_ord_id!r}"))
    return None


def cancel_working(orders: Iterable[ClientOrder], session: str,
                   pull: Callable[[ClientOrder], object]) -> list[ClientOrder]:
    """Cancel a session's working orders (each once, though several ClOrdIDs may name
    it): ``pull`` takes one out of the book or pool. Returns them, now Canceled."""
    cancelled = [o for o in orders if o.session == session and not o.status.is_terminal]
    for order in cancelled:
        pull(order)
        order.status = OrdStatus.CANCELED
    return cancelled


def client_report(client: ClientOrder, exec_id: str, venue: str, exec_type: ExecType, *,
                  cl_ord_id: str | None = None, orig_cl_ord_id: str | None = None,
                  last_qty: int = 0, last_px: Decimal | None = None, text: str | None = None,
                  commission: Decimal | None = None,
                  liquidity: LiquidityInd | None = None) -> Outbound:
    """A simulated venue's ExecutionReport on one of its client orders (a status reply's
    ExecID is `STATUS_EXEC_ID`, whatever ``exec_id``)."""
    order = client.order
    if exec_type is ExecType.ORDER_STATUS:
        exec_id = STATUS_EXEC_ID
    return Outbound(client.session, ExecutionReport(
        order_id=client.order_id, cl_ord_id=cl_ord_id or client.cl_ord_id, exec_id=exec_id,
        exec_type=exec_type, ord_status=client.status, symbol=order.symbol, side=order.side,
        order_qty=client.qty, leaves_qty=client.leaves_qty, cum_qty=client.cum_qty,
        avg_px=client.notional / client.cum_qty if client.cum_qty else Decimal(0),
        ord_type=order.ord_type, price=client.price, tif=order.tif,
        orig_cl_ord_id=orig_cl_ord_id, last_qty=last_qty, last_px=last_px,
        last_mkt=venue if last_qty else None, text=text, commission=commission,
        liquidity=liquidity,
    ))


def reject_new(session: str, exec_id: str, fields: NewOrderFields,
               rejection: Rejection) -> Outbound:
    return Outbound(session, refusal_report(exec_id, fields.cl_ord_id, rejection.reason,
                                            rejection.text, request=fields))


@dataclass(slots=True)
class _Subscription:
    session: str
    req_id: str
    depth: int
    bids: dict[Decimal, int] = field(default_factory=dict)
    asks: dict[Decimal, int] = field(default_factory=dict)


@dataclass(slots=True)
class _SymbolState:
    spec: SimSymbol
    book: OrderBook
    center: int
    house: set[str] = field(default_factory=set)
    flow: set[str] = field(default_factory=set)
    """Resting background-flow orders, pulled when the fundamental moves through them."""
    subscriptions: list[_Subscription] = field(default_factory=list)
    trades: list[tuple[Decimal, int]] = field(default_factory=list)
    """Trades since the last market data publication."""
    faded: dict[Side, int] = field(default_factory=dict)
    """Ticks the house quotes of a side are moved away from the centre (`fade`)."""
    fade_until: dict[Side, int] = field(default_factory=dict)


class SimExchange:
    def __init__(self, name: str, symbols: Mapping[str, SimSymbol], profile: SimVenueConfig,
                 fees: FeeSchedule | None = None, seed: int = 0) -> None:
        """``seed``: of the queue-reactive refill's draws (`replenish`)."""
        self.name = name
        self._rng = random.Random(seed)
        self.profile = profile
        self.fees = fees or FeeSchedule.for_model(profile.fees)
        self._symbols = {
            symbol: _SymbolState(
                spec, OrderBook(symbol),
                round(spec.reference_price / spec.tick) + profile.price_offset_ticks)
            for symbol, spec in symbols.items()
        }
        self._ticks = {symbol: spec.tick for symbol, spec in symbols.items()}
        self._lots = {symbol: spec.lot_size for symbol, spec in symbols.items()}
        self._orders: dict[tuple[str, str], ClientOrder] = {}
        self._by_book_id: dict[str, ClientOrder] = {}
        self._ids = itertools.count(1)
        self.aggressions: list[tuple[str, int]] = []
        """(symbol, signed shares) each client order took on arrival, +bought -sold, for
        the market's impact model; the caller empties it (`SimMarket`)."""
        for symbol in self._symbols:
            self._refill(symbol)

    # ------------------------------------------------------------------ queries

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def depth(self, symbol: str, levels: int) -> tuple[list[tuple[Decimal, int]],
                                                       list[tuple[Decimal, int]]]:
        state = self._symbols[symbol]
        tick = state.spec.tick
        bids, asks = state.book.depth(levels)
        return [(p * tick, q) for p, q in bids], [(p * tick, q) for p, q in asks]

    def best_ticks(self, symbol: str) -> tuple[int | None, int | None]:
        book = self._symbols[symbol].book
        bid, ask = book.best_bid(), book.best_ask()
        return (bid[0] if bid else None), (ask[0] if ask else None)

    def filled_shares(self) -> int:
        """Shares this venue has filled for its clients (house and flow excluded)."""
        return sum(order.cum_qty for order in self._by_book_id.values())

    def book(self, symbol: str) -> OrderBook:
        return self._symbols[symbol].book

    # ----------------------------------------------------------------- requests

    def new_order(self, session: str, fields: NewOrderFields) -> list[Outbound]:
        if (session, fields.cl_ord_id) in self._orders:
            return [self._reject(session, fields, Rejection(
                OrdRejReason.DUPLICATE_ORDER, f"duplicate ClOrdID {fields.cl_ord_id!r}"))]
        order = validate_new_order(fields, self._ticks, self._lots)
        if isinstance(order, Rejection):
            return [self._reject(session, fields, order)]
        state = self._symbols[order.symbol]
        book_id = self._next("O")
        result = state.book.submit(
            book_id, session, order.side, order.qty, self._to_ticks(order.symbol, order.price),
            TimeInForce.IOC if order.ord_type is OrdType.MARKET or order.tif is not
            TimeInForce.DAY else TimeInForce.DAY,
            all_or_none=order.tif is TimeInForce.FOK, post_only=order.post_only,
            display_qty=order.display_qty)
        if result.refused:
            return [self._reject(session, fields, Rejection(
                OrdRejReason.OTHER, self._post_only_text(order.symbol, order.side, order.price)))]
        client = ClientOrder(session, order.cl_ord_id, book_id, order, order.qty, order.price)
        self._orders[(session, client.cl_ord_id)] = client
        self._by_book_id[book_id] = client
        out = [self._report(client, ExecType.NEW)]
        out += self._apply(order.symbol, result, client)
        return out + self._after_event(order.symbol)

    def cancel(self, session: str, fields: CancelFields) -> list[Outbound]:
        client = self._orders.get((session, fields.orig_cl_ord_id))
        refusal = refuse_amend(session, client, fields.cl_ord_id, fields.orig_cl_ord_id,
                               CxlRejResponseTo.CANCEL, (session, fields.cl_ord_id) in self._orders)
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
        duplicate = (session, fields.cl_ord_id) in self._orders
        refusal = refuse_amend(session, client, fields.cl_ord_id, fields.orig_cl_ord_id,
                               CxlRejResponseTo.REPLACE, duplicate)
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
        result = book.replace(client.order_id, terms.qty, self._to_ticks(symbol, terms.price),
                              post_only=client.order.post_only)
        if result is not None and result.refused:
            self._orders.pop((session, fields.cl_ord_id))
            client.cl_ord_id = orig
            return [Outbound(session, CancelReject(
                client.order_id, fields.cl_ord_id, orig, client.status, CxlRejResponseTo.REPLACE,
                CxlRejReason.OTHER,
                self._post_only_text(symbol, client.order.side, terms.price)))]
        client.status = OrdStatus.PARTIALLY_FILLED if client.cum_qty else OrdStatus.NEW
        out = [self._report(client, ExecType.REPLACED, orig_cl_ord_id=orig)]
        if result is not None:
            out += self._apply(symbol, result, client)
        return out + self._after_event(symbol)

    def status(self, session: str, fields: StatusFields) -> list[Outbound]:
        client = self._orders.get((session, fields.cl_ord_id or ""))
        if client is None:
            return [Outbound(session, refusal_report(
                STATUS_EXEC_ID, fields.cl_ord_id, OrdRejReason.UNKNOWN_ORDER, "unknown order",
                request=fields, exec_type=ExecType.ORDER_STATUS,
                status_req_id=fields.ord_status_req_id))]
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
            bids, asks = self.depth(symbol, depth)
            sub.bids, sub.asks = dict(bids), dict(asks)
            out.append(Outbound(session, Snapshot(req_id, symbol, bids, asks)))
        return out

    def drop_session(self, session: str) -> None:
        """Forget a disconnected session's subscriptions (its orders stay, as on a venue
        without cancel-on-disconnect)."""
        for state in self._symbols.values():
            state.subscriptions = [s for s in state.subscriptions if s.session != session]

    def cancel_session(self, session: str, text: str) -> list[Outbound]:
        """Cancel every working order of a session (cancel on disconnect): a Canceled
        report for each, then market data for the books that changed."""
        cancelled = cancel_working(self._by_book_id.values(), session, lambda client:
                                   self._symbols[client.order.symbol].book.cancel(
                                       client.order_id))
        out = [self._report(client, ExecType.CANCELED, text=text) for client in cancelled]
        for symbol in dict.fromkeys(client.order.symbol for client in cancelled):
            out += self._after_event(symbol)
        return out

    # ------------------------------------------------------------ market events

    def recenter(self, symbol: str, fundamental_ticks: int) -> list[Outbound]:
        """Move the house quotes to follow the fundamental, and pull background quotes it
        has moved through (as their owners would: stale quotes are otherwise picked off
        and the NBBO across venues would cross); returns market data."""
        state = self._symbols[symbol]
        stale = [order_id for order_id in state.flow
                 if (resting := state.book.get(order_id)) is None
                 or (resting.price >= fundamental_ticks if resting.side is Side.BUY
                     else resting.price <= fundamental_ticks)]
        for order_id in stale:
            state.book.cancel(order_id)
            state.flow.discard(order_id)
        center = fundamental_ticks + self.profile.price_offset_ticks
        if center == state.center:
            return self._after_event(symbol) if stale else []
        state.center = center
        self._pull_outside_band(state)
        return self._after_event(symbol)

    def fade(self, symbol: str, side: Side, until_ns: int) -> list[Outbound]:
        """Another venue just traded against ``side`` (a buyer took offers: ``SELL``): the
        house reprices that side ``fade.ticks`` further from the centre until ``until_ns``
        (`unfade`), as liquidity providers pull quotes on news of a trade elsewhere.
        Returns market data."""
        profile = self.profile.fade
        state = self._symbols[symbol]
        if profile is None:
            return []
        state.fade_until[side] = max(state.fade_until.get(side, 0), until_ns)
        if state.faded.get(side):
            return []
        state.faded[side] = profile.ticks
        self._pull_outside_band(state)
        return self._after_event(symbol)

    def unfade(self, now_ns: int) -> list[Outbound]:
        """Fades whose time is over: the house quotes come back. Returns market data."""
        out: list[Outbound] = []
        for symbol, state in self._symbols.items():
            over = [side for side, until in state.fade_until.items() if until <= now_ns]
            for side in over:
                del state.fade_until[side]
                state.faded.pop(side, None)
            if over:
                self._pull_outside_band(state)
                out += self._after_event(symbol)
        return out

    def _pull_outside_band(self, state: _SymbolState) -> None:
        low, high = self._house_band(state)
        for order_id in list(state.house):
            resting = state.book.get(order_id)
            if resting is None:
                state.house.discard(order_id)
            elif not low[resting.side] <= resting.price <= high[resting.side]:
                state.book.cancel(order_id)
                state.house.discard(order_id)

    def apply_flow(self, symbol: str,
                   events: list[FlowOrder | FlowCancel]) -> tuple[list[Outbound], list[str]]:
        """Background orders into the book; returns client reports and the flow orders that
        filled completely (the flow generator must not cancel those)."""
        if not events:
            return [], []
        book = self._symbols[symbol].book
        out: list[Outbound] = []
        done: list[str] = []
        for event in events:
            if isinstance(event, FlowCancel):
                book.cancel(event.order_id)
                continue
            result = book.submit(event.order_id, FLOW, event.side, event.qty, event.price_ticks,
                                 event.tif)
            out += self._apply(symbol, result, None)
            if result.rested is None:
                done.append(event.order_id)
            else:
                self._symbols[symbol].flow.add(event.order_id)
            done += [t.maker_id for t in result.trades if t.maker_leaves == 0
                     and t.maker_owner == FLOW]
        return out + self._after_event(symbol), done

    # ---------------------------------------------------------------- internals

    def _next(self, kind: str) -> str:
        return f"{self.name}-{kind}{next(self._ids)}"

    def _post_only_text(self, symbol: str, side: Side, price: Decimal | None) -> str:
        bid, ask = self.best_ticks(symbol)
        against = ask if side is Side.BUY else bid
        tick = self._ticks[symbol]
        shown = f" against {against * tick}" if against is not None else ""
        return f"post-only (ExecInst 6) order at {price} would trade{shown}"

    def _to_ticks(self, symbol: str, price: Decimal | None) -> int | None:
        return None if price is None else int(price / self._ticks[symbol])

    def _apply(self, symbol: str, result: SubmitResult,
               taker: ClientOrder | None) -> list[Outbound]:
        state = self._symbols[symbol]
        tick = state.spec.tick
        out: list[Outbound] = []
        if taker is not None and result.trades:
            taken = sum(trade.qty for trade in result.trades)
            self.aggressions.append((symbol, taken if taker.order.side is Side.BUY else -taken))
        for trade in result.trades:
            state.trades.append((trade.price * tick, trade.qty))
            if taker is not None:
                out += self._fill(taker, trade, trade.taker_leaves, tick, maker=False)
            maker = self._by_book_id.get(trade.maker_id)
            if maker is not None:
                out += self._fill(maker, trade, trade.maker_leaves, tick, maker=True)
        if taker is not None and result.canceled_qty and not taker.status.is_terminal:
            taker.status = OrdStatus.CANCELED
            why = ("FOK not filled: not enough liquidity within the limit"
                   if taker.order.tif is TimeInForce.FOK
                   else "IOC remainder canceled: no more liquidity within the limit")
            out.append(self._report(taker, ExecType.CANCELED, text=why))
        return out

    def _fill(self, client: ClientOrder, trade: Trade, leaves: int, tick: Decimal,
              maker: bool) -> list[Outbound]:
        price = trade.price * tick
        client.cum_qty += trade.qty
        client.notional += price * trade.qty
        client.status = OrdStatus.FILLED if leaves == 0 else OrdStatus.PARTIALLY_FILLED
        return [self._report(client, ExecType.TRADE, last_qty=trade.qty, last_px=price,
                             commission=self.fees.fee(trade.qty, maker),
                             liquidity=LiquidityInd.ADDED if maker else LiquidityInd.REMOVED)]

    def _after_event(self, symbol: str) -> list[Outbound]:
        if self.profile.refill is None:
            self._refill(symbol)
        return self._publish(symbol)

    def _house_band(self, state: _SymbolState) -> tuple[dict[Side, int], dict[Side, int]]:
        """The lowest and highest price the house quotes on each side."""
        p = self.profile
        best_bid = state.center - p.half_spread_ticks - state.faded.get(Side.BUY, 0)
        best_ask = state.center + p.half_spread_ticks + state.faded.get(Side.SELL, 0)
        deepest = max(p.levels - 1, 0)
        return ({Side.BUY: best_bid - deepest, Side.SELL: best_ask},
                {Side.BUY: best_bid, Side.SELL: best_ask + deepest})

    def _house_levels(self, state: _SymbolState) -> Iterator[tuple[Side, int, int, int]]:
        """Each house level (side, price, target size, shares displayed there now), never
        one crossing the other side."""
        book, profile = state.book, self.profile
        if not profile.levels:
            return
        bids, asks = book.depth(profile.levels + 50)
        bid_sizes, ask_sizes = dict(bids), dict(asks)
        bid_fade, ask_fade = state.faded.get(Side.BUY, 0), state.faded.get(Side.SELL, 0)
        for k in range(profile.levels):
            target = profile.level_size + k * profile.size_step
            for side, price, sizes, opposite in (
                (Side.BUY, state.center - profile.half_spread_ticks - bid_fade - k,
                 bid_sizes, book.best_ask()),
                (Side.SELL, state.center + profile.half_spread_ticks + ask_fade + k,
                 ask_sizes, book.best_bid()),
            ):
                if opposite is not None and (
                    (side is Side.BUY and price >= opposite[0])
                    or (side is Side.SELL and price <= opposite[0])
                ):
                    continue
                yield side, price, target, sizes.get(price, 0)

    def _quote(self, state: _SymbolState, side: Side, price: int, qty: int) -> None:
        order_id = self._next("H")
        state.book.submit(order_id, HOUSE, side, qty, price, TimeInForce.DAY)
        state.house.add(order_id)

    def _refill(self, symbol: str) -> None:
        """Top each house level back up to its size at once (no ``refill`` profile)."""
        state = self._symbols[symbol]
        for side, price, target, shown in list(self._house_levels(state)):
            if target > shown:
                self._quote(state, side, price, target - shown)

    def replenish(self, symbol: str, dt_s: float) -> list[Outbound]:
        """Queue-reactive refill (a ``refill`` profile), ``dt_s`` seconds of it: house
        liquidity arrives at each house level below its size as a Poisson stream whose
        intensity falls with the queue, ``rate * (1 - shown / size)`` chunks of
        ``chunk * size`` shares per second (Huang, Lehalle and Rosenbaum 2015, "Simulating
        and analyzing order book data: the queue-reactive model"): a depleted queue
        recovers over time, faster the emptier it is. Returns market data."""
        refill = self.profile.refill
        if refill is None:
            return []
        state = self._symbols[symbol]
        lot = state.spec.lot_size
        rng = self._rng
        added = False
        for side, price, target, shown in list(self._house_levels(state)):
            if shown >= target:
                continue
            intensity = refill.rate * (1.0 - shown / target)
            if rng.random() < 1.0 - math.exp(-intensity * dt_s):
                chunk = max(lot, round(target * refill.chunk / lot) * lot)
                self._quote(state, side, price, min(chunk, target - shown))
                added = True
        return self._publish(symbol) if added else []

    def _publish(self, symbol: str) -> list[Outbound]:
        """An incremental refresh (X) to every subscriber whose view changed."""
        state = self._symbols[symbol]
        trades, state.trades = state.trades, []
        out = []
        for sub in state.subscriptions:
            bids, asks = self.depth(symbol, sub.depth)
            new_bids, new_asks = dict(bids), dict(asks)
            changes = (diff_levels(Side.BUY, sub.bids, new_bids)
                       + diff_levels(Side.SELL, sub.asks, new_asks))
            if changes or trades:
                sub.bids, sub.asks = new_bids, new_asks
                out.append(Outbound(sub.session, Increment(sub.req_id, symbol, changes, trades)))
        return out

    def _report(self, client: ClientOrder, exec_type: ExecType, **fields: object) -> Outbound:
        return client_report(client, self._next("E"), self.name, exec_type, **fields)

    def _reject(self, session: str, fields: NewOrderFields, rejection: Rejection) -> Outbound:
        return reject_new(session, self._next("E"), fields, rejection)
