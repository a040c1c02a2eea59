"""Price-time priority limit order book for one symbol, used by the simulated exchange.

Pure data structure: no I/O, no clocks, no threads. Prices are integer ticks, quantities
integer shares; a market order has price ``None`` and must be IOC (or FOK) here (the
caller converts). Trades always execute at the maker's resting price. Self-trades are
allowed.

Order types beyond plain limit/market (keyword-only arguments of ``submit``):

- ``all_or_none``: fill the whole quantity at once or not at all (FOK). The quantity
  available within the limit (displayed and hidden) is counted before matching; if it is
  short, nothing trades and the whole quantity is returned as ``canceled_qty``. Such an
  order never rests.
- ``post_only``: an order that would trade on arrival (against displayed *or* hidden
  quantity) is refused: no trade, nothing rests, ``SubmitResult.refused`` says why.
- ``display_qty``: ``None`` fully displayed; ``0`` fully hidden; ``k > 0`` an iceberg
  showing at most ``k`` of its remaining quantity.

Priority at one price is displayed quantity first (by time), then hidden quantity (by
time). When an iceberg's displayed slice is used up and it has quantity in reserve, the
next slice is shown at once with a fresh ``seq``: it goes to the back of the displayed
queue at its price, and the same incoming order may reach it again. Market data
(``depth``, ``best_bid``, ``best_ask``) shows displayed quantity only; a level holding
only hidden quantity does not appear at all.

Layout: each side keeps a sorted list of *keys* (``price`` for bids, ``-price`` for asks),
so the best level of either side is ``keys[-1]`` and removing it is ``list.pop()``; a
dict maps key -> level, and each level holds two FIFO ``deque``s of orders (displayed,
hidden) plus its exact total size, displayed size and live-order count. Cancels are lazy:
the order leaves the id index and its level's totals at once, while its deque entry stays
until matching (or compaction) reaches it. An entry is live exactly when the id index
still maps its id to that object.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass

from sor_daemon.core.domain import Side, TimeInForce

__all__ = ["OrderBook", "RestingOrder", "SubmitResult", "Trade"]

# A level's deque is rebuilt without dead entries once it holds more than
# ``2 * live + _COMPACT_SLACK`` entries, which bounds memory at amortised O(1) cost.
_COMPACT_SLACK = 16

_BUY = Side.BUY
_DAY = TimeInForce.DAY
# TimeInForce.FOK, where the domain defines it: treated as ``all_or_none`` (never rests).
_FOK = getattr(TimeInForce, "FOK", None)


@dataclass(slots=True)
class RestingOrder:
    """An order (or its remainder) resting in the book; ``seq`` orders time priority.

    ``display_qty`` is the order's display instruction (None: fully displayed, 0: hidden,
    k: iceberg); ``shown`` is the part of ``leaves`` currently displayed, kept by the book.
    """

    order_id: str
    owner: str
    side: Side
    price: int
    qty: int
    leaves: int
    seq: int
    display_qty: int | None = None
    shown: int = 0

    @property
    def cum(self) -> int:
        """Quantity filled so far."""
        return self.qty - self.leaves

    @property
    def hidden(self) -> int:
        """Quantity resting but not displayed (an iceberg's reserve, or all of a hidden
        order)."""
        return self.leaves - self.shown


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill between an incoming (taker) and a resting (maker) order."""

    taker_id: str
    maker_id: str
    taker_owner: str
    maker_owner: str
    taker_side: Side
    price: int
    qty: int
    taker_leaves: int
    maker_leaves: int


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """Outcome of ``submit``/``replace``: fills, the resting order if any, the remainder
    that was canceled rather than rested (IOC, market, or an all-or-none order that could
    not fill), and, for a refused order (post-only that would trade), the reason. A
    refused order has no trades, does not rest and reports ``canceled_qty == 0``."""

    trades: tuple[Trade, ...]
    rested: RestingOrder | None
    canceled_qty: int
    refused: str | None = None


class _Level:
    """All orders at one price: FIFO queues (may hold dead entries) and live totals."""

    __slots__ = ("count", "hidden", "orders", "price", "shown", "size")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[RestingOrder] = deque()  # displayed orders and icebergs
        self.hidden: deque[RestingOrder] = deque()  # fully hidden orders (display_qty 0)
        self.size = 0  # sum of live orders' leaves
        self.shown = 0  # sum of live orders' displayed quantity
        self.count = 0  # number of live orders


class _Side:
    """One side of the book; ``key = sign * price`` so the best level is ``keys[-1]``."""

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.keys: list[int] = []
        self.levels: dict[int, _Level] = {}

    def best(self) -> tuple[int, int] | None:
        """Best level with displayed quantity: (price, displayed size)."""
        levels = self.levels
        for key in reversed(self.keys):
            level = levels[key]
            if level.shown:
                return level.price, level.shown
        return None

    def top(self, n: int) -> list[tuple[int, int]]:
        if n <= 0:
            return []
        out: list[tuple[int, int]] = []
        levels = self.levels
        for key in reversed(self.keys):
            level = levels[key]
            if level.shown:
                out.append((level.price, level.shown))
                if len(out) == n:
                    break
        return out

    def remove_level(self, key: int) -> None:
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]
        del self.levels[key]


class OrderBook:
    """Limit order book for one symbol with price-time priority matching."""

    __slots__ = ("_asks", "_bids", "_orders", "_seq", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._bids = _Side(1)
        self._asks = _Side(-1)
        self._orders: dict[str, RestingOrder] = {}
        self._seq = 0

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        """Number of resting orders (hidden ones included)."""
        return len(self._orders)

    def get(self, order_id: str) -> RestingOrder | None:
        """The resting order with this id, or None."""
        return self._orders.get(order_id)

    def best_bid(self) -> tuple[int, int] | None:
        """(price, displayed size) of the best displayed bid level, or None."""
        return self._bids.best()

    def best_ask(self) -> tuple[int, int] | None:
        """(price, displayed size) of the best displayed ask level, or None."""
        return self._asks.best()

    def depth(self, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``levels`` aggregated (price, displayed size) levels: bids descending, asks
        ascending. Hidden quantity is left out; a level with none displayed is skipped."""
        return self._bids.top(levels), self._asks.top(levels)

    # ------------------------------------------------------------------ commands

    def submit(
        self,
        order_id: str,
        owner: str,
        side: Side,
        qty: int,
        price: int | None,
        tif: TimeInForce,
        *,
        all_or_none: bool = False,
        post_only: bool = False,
        display_qty: int | None = None,
    ) -> SubmitResult:
        """Match a new order, then rest its remainder (limit DAY) or cancel it (IOC/market).

        ``all_or_none``: fill completely now or cancel the whole quantity (never rests;
        ``tif=TimeInForce.FOK`` means the same). ``post_only``: refuse the order (see
        ``SubmitResult.refused``) if it would trade on arrival; with ``all_or_none`` a
        post-only order that does not cross cannot fill either, so it is canceled.
        ``display_qty``: None fully displayed, 0 hidden, k > 0 iceberg showing at most k.

        Raises ValueError for ``qty <= 0``, an id that is already resting, a DAY market
        order, a post-only market order, or a negative ``display_qty``.
        """
        if qty <= 0:
            raise ValueError(f"quantity must be positive, got {qty}")
        if order_id in self._orders:
            raise ValueError(f"duplicate live order id {order_id!r}")
        if price is None:
            if tif is _DAY:
                raise ValueError("market orders must be IOC (or FOK)")
            if post_only:
                raise ValueError("a market order cannot be post-only")
        if display_qty is not None and display_qty < 0:
            raise ValueError(f"display quantity must not be negative, got {display_qty}")
        if post_only or all_or_none or tif is _FOK:
            opp = self._asks if side is _BUY else self._bids
            if post_only:
                crossed = self._crossing_price(opp, price)
                if crossed is not None:
                    return SubmitResult(
                        (), None, 0, f"post-only order would cross at {crossed}"
                    )
            if (all_or_none or tif is _FOK) and self._available(opp, price, qty) < qty:
                return SubmitResult((), None, qty)
        trades, leaves = self._match(order_id, owner, side, qty, price)
        if not leaves:
            return SubmitResult(trades, None, 0)
        if price is None or tif is not _DAY:
            return SubmitResult(trades, None, leaves)
        order = RestingOrder(order_id, owner, side, price, qty, leaves, 0, display_qty)
        self._rest(order)
        return SubmitResult(trades, order, 0)

    def cancel(self, order_id: str) -> RestingOrder | None:
        """Remove a resting order and return it (None if not resting).

        The returned object is left as it was: its ``leaves`` is the quantity canceled.
        """
        order = self._orders.pop(order_id, None)
        if order is not None:
            self._unlink(order)
        return order

    def replace(
        self, order_id: str, new_qty: int, new_price: int, *, post_only: bool = False
    ) -> SubmitResult | None:
        """Amend a resting order to total ``new_qty`` at ``new_price`` (None if unknown).

        A pure quantity decrease at the same price keeps time priority and amends the
        order in place (an iceberg's displayed slice shrinks only if it exceeds the new
        remainder). Otherwise the order loses priority: it is re-entered as a new
        ``RestingOrder`` with a fresh ``seq`` and the same ``display_qty`` and, as taker,
        matches anything it now crosses. With ``post_only`` a replace that would trade is
        refused instead (``refused`` set) and the order is left exactly as it was. Raises
        ValueError if ``new_qty`` does not exceed the filled quantity.
        """
        order = self._orders.get(order_id)
        if order is None:
            return None
        cum = order.qty - order.leaves
        if new_qty <= cum:
            raise ValueError(f"new quantity {new_qty} must exceed filled quantity {cum}")
        new_leaves = new_qty - cum
        if new_price == order.price and new_qty <= order.qty:
            side = self._bids if order.side is _BUY else self._asks
            level = side.levels[side.sign * order.price]
            level.size += new_leaves - order.leaves
            shown = order.shown if order.shown < new_leaves else new_leaves
            level.shown += shown - order.shown
            order.shown = shown
            order.qty = new_qty
            order.leaves = new_leaves
            return SubmitResult((), order, 0)
        if post_only:
            opp = self._asks if order.side is _BUY else self._bids
            crossed = self._crossing_price(opp, new_price)
            if crossed is not None:
                return SubmitResult(
                    (), order, 0, f"post-only order would cross at {crossed}"
                )
        del self._orders[order_id]
        self._unlink(order)
        trades, leaves = self._match(order_id, order.owner, order.side, new_leaves, new_price)
        if not leaves:
            return SubmitResult(trades, None, 0)
        fresh = RestingOrder(
            order_id, order.owner, order.side, new_price, new_qty, leaves, 0, order.display_qty
        )
        self._rest(fresh)
        return SubmitResult(trades, fresh, 0)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _crossing_price(opp: _Side, limit: int | None) -> int | None:
        """The best opposite price (displayed or hidden) an order at ``limit`` would
        trade with, or None."""
        keys = opp.keys
        if keys and (limit is None or keys[-1] >= opp.sign * limit):
            return opp.levels[keys[-1]].price
        return None

    @staticmethod
    def _available(opp: _Side, limit: int | None, wanted: int) -> int:
        """Quantity (displayed and hidden) an order at ``limit`` could take, counted until
        it reaches ``wanted``."""
        bound = None if limit is None else opp.sign * limit
        levels = opp.levels
        total = 0
        for key in reversed(opp.keys):
            if bound is not None and key < bound:
                break
            total += levels[key].size
            if total >= wanted:
                break
        return total

    def _match(
        self, taker_id: str, owner: str, side: Side, leaves: int, limit: int | None
    ) -> tuple[tuple[Trade, ...], int]:
        """Fill up to ``leaves`` against the opposite side; return (trades, remainder)."""
        opp = self._asks if side is _BUY else self._bids
        keys = opp.keys
        if not keys:
            return (), leaves
        # A level is marketable when its key >= bound (ask <= limit, or bid >= limit).
        bound = None if limit is None else opp.sign * limit
        if bound is not None and keys[-1] < bound:
            return (), leaves
        levels = opp.levels
        orders = self._orders
        trades: list[Trade] = []
        append = trades.append
        while leaves and keys:
            key = keys[-1]
            if bound is not None and key < bound:
                break
            level = levels[key]
            price = level.price
            # Displayed queue first: plain orders and icebergs' displayed slices.
            queue = level.orders
            while leaves and level.shown:
                maker = queue[0]
                if orders.get(maker.order_id) is not maker:
                    queue.popleft()  # lazily canceled or superseded entry
                    continue
                shown = maker.shown
                fill = leaves if leaves < shown else shown
                leaves -= fill
                maker_leaves = maker.leaves = maker.leaves - fill
                maker.shown = shown = shown - fill
                level.size -= fill
                level.shown -= fill
                if not maker_leaves:
                    queue.popleft()
                    level.count -= 1
                    del orders[maker.order_id]
                elif not shown:
                    # Iceberg slice used up: show the next one, with new time priority.
                    queue.popleft()
                    display: int = maker.display_qty  # type: ignore[assignment]
                    shown = display if display < maker_leaves else maker_leaves
                    maker.shown = shown
                    level.shown += shown
                    maker.seq = self._seq
                    self._seq += 1
                    queue.append(maker)
                append(
                    Trade(
                        taker_id,
                        maker.order_id,
                        owner,
                        maker.owner,
                        side,
                        price,
                        fill,
                        leaves,
                        maker_leaves,
                    )
                )
            if leaves and level.count:
                # Only hidden orders are left at this price.
                queue = level.hidden
                while leaves and level.count:
                    maker = queue[0]
                    if orders.get(maker.order_id) is not maker:
                        queue.popleft()
                        continue
                    maker_leaves = maker.leaves
                    fill = leaves if leaves < maker_leaves else maker_leaves
                    leaves -= fill
                    maker_leaves = maker.leaves = maker_leaves - fill
                    level.size -= fill
                    if not maker_leaves:
                        queue.popleft()
                        level.count -= 1
                        del orders[maker.order_id]
                    append(
                        Trade(
                            taker_id,
                            maker.order_id,
                            owner,
                            maker.owner,
                            side,
                            price,
                            fill,
                            leaves,
                            maker_leaves,
                        )
                    )
            if not level.count:
                keys.pop()
                del levels[key]
        return tuple(trades), leaves

    def _rest(self, order: RestingOrder) -> None:
        """Give ``order`` the next ``seq``, append it to its level and index it."""
        order.seq = self._seq
        self._seq += 1
        side = self._bids if order.side is _BUY else self._asks
        key = side.sign * order.price
        level = side.levels.get(key)
        if level is None:
            level = side.levels[key] = _Level(order.price)
            insort(side.keys, key)
        display = order.display_qty
        leaves = order.leaves
        if display is None:
            order.shown = leaves
            level.orders.append(order)
        elif display:
            order.shown = display if display < leaves else leaves
            level.orders.append(order)
        else:
            order.shown = 0
            level.hidden.append(order)
        level.size += leaves
        level.shown += order.shown
        level.count += 1
        self._orders[order.order_id] = order

    def _unlink(self, order: RestingOrder) -> None:
        """Drop an order (already removed from the id index) from its level's totals."""
        side = self._bids if order.side is _BUY else self._asks
        key = side.sign * order.price
        level = side.levels[key]
        level.size -= order.leaves
        level.shown -= order.shown
        level.count -= 1
        if not level.count:
            side.remove_level(key)
            return
        hidden = order.display_qty == 0
        queue = level.hidden if hidden else level.orders
        if len(queue) > 2 * level.count + _COMPACT_SLACK:
            orders = self._orders
            compacted = deque(o for o in queue if orders.get(o.order_id) is o)
            if hidden:
                level.hidden = compacted
            else:
                level.orders = compacted
