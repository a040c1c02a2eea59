"""Price-time priority limit order book for one symbol, used by the simulated exchange.

Pure data structure: no I/O, no clocks, no threads. Prices are integer ticks, quantities
integer shares; a market order has price ``None`` and must be IOC here (the caller
converts). Trades always execute at the maker's resting price. Self-trades are allowed.

Layout: each side keeps a sorted list of *keys* (``price`` for bids, ``-price`` for asks),
so the best level of either side is ``keys[-1]`` and removing it is ``list.pop()``; a
dict maps key -> level, and each level holds a FIFO ``deque`` of orders plus its exact
aggregate size and live-order count. Cancels are lazy: the order leaves the id index and
its level's totals at once, while its deque entry stays until matching (or compaction)
reaches it. An entry is live exactly when the id index still maps its id to that object.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass

from sor_daemon.domain import Side, TimeInForce

__all__ = ["OrderBook", "RestingOrder", "SubmitResult", "Trade"]

# A level's deque is rebuilt without dead entries once it holds more than
# ``2 * live + _COMPACT_SLACK`` entries, which bounds memory at amortised O(1) cost.
_COMPACT_SLACK = 16


@dataclass(slots=True)
class RestingOrder:
    """An order (or its remainder) resting in the book; ``seq`` orders time priority."""

    order_id: str
    owner: str
    side: Side
    price: int
    qty: int
    leaves: int
    seq: int

    @property
    def cum(self) -> int:
        """Quantity filled so far."""
        return self.qty - self.leaves


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
    """Outcome of ``submit``/``replace``: fills, the resting order if any, and the
    remainder that was canceled rather than rested (IOC or market)."""

    trades: tuple[Trade, ...]
    rested: RestingOrder | None
    canceled_qty: int


class _Level:
    """All orders at one price: FIFO queue (may hold dead entries) and live totals."""

    __slots__ = ("count", "orders", "price", "size")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[RestingOrder] = deque()
        self.size = 0  # sum of live orders' leaves
        self.count = 0  # number of live orders


class _Side:
    """One side of the book; ``key = sign * price`` so the best level is ``keys[-1]``."""

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.keys: list[int] = []
        self.levels: dict[int, _Level] = {}

    def best(self) -> tuple[int, int] | None:
        if not self.keys:
            return None
        level = self.levels[self.keys[-1]]
        return level.price, level.size

    def top(self, n: int) -> list[tuple[int, int]]:
        if n <= 0:
            return []
        levels = self.levels
        return [(levels[k].price, levels[k].size) for k in reversed(self.keys[-n:])]

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
        """Number of resting orders."""
        return len(self._orders)

    def get(self, order_id: str) -> RestingOrder | None:
        """The resting order with this id, or None."""
        return self._orders.get(order_id)

    def best_bid(self) -> tuple[int, int] | None:
        """(price, total size) of the best bid level, or None if there are no bids."""
        return self._bids.best()

    def best_ask(self) -> tuple[int, int] | None:
        """(price, total size) of the best ask level, or None if there are no asks."""
        return self._asks.best()

    def depth(self, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``levels`` aggregated (price, size) levels: bids descending, asks ascending."""
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
    ) -> SubmitResult:
        """Match a new order, then rest its remainder (limit DAY) or cancel it (IOC/market).

        Raises ValueError for ``qty <= 0``, an id that is already resting, or a DAY market
        order.
        """
        if qty <= 0:
            raise ValueError(f"quantity must be positive, got {qty}")
        if order_id in self._orders:
            raise ValueError(f"duplicate live order id {order_id!r}")
        if price is None and tif is not TimeInForce.IOC:
            raise ValueError("market orders must be IOC")
        trades, leaves = self._match(order_id, owner, side, qty, price)
        if not leaves:
            return SubmitResult(trades, None, 0)
        if price is None or tif is TimeInForce.IOC:
            return SubmitResult(trades, None, leaves)
        order = RestingOrder(order_id, owner, side, price, qty, leaves, self._seq)
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

    def replace(self, order_id: str, new_qty: int, new_price: int) -> SubmitResult | None:
        """Amend a resting order to total ``new_qty`` at ``new_price`` (None if unknown).

        A pure quantity decrease at the same price keeps time priority and amends the
        order in place. Otherwise the order loses priority: it is re-entered as a new
        ``RestingOrder`` with a fresh ``seq`` and, as taker, matches anything it now
        crosses. Raises ValueError if ``new_qty`` does not exceed the filled quantity.
        """
        order = self._orders.get(order_id)
        if order is None:
            return None
        cum = order.qty - order.leaves
        if new_qty <= cum:
            raise ValueError(f"new quantity {new_qty} must exceed filled quantity {cum}")
        new_leaves = new_qty - cum
        if new_price == order.price and new_qty <= order.qty:
            side = self._bids if order.side is Side.BUY else self._asks
            side.levels[side.sign * order.price].size += new_leaves - order.leaves
            order.qty = new_qty
            order.leaves = new_leaves
            return SubmitResult((), order, 0)
        del self._orders[order_id]
        self._unlink(order)
        trades, leaves = self._match(order_id, order.owner, order.side, new_leaves, new_price)
        if not leaves:
            return SubmitResult(trades, None, 0)
        fresh = RestingOrder(
            order_id, order.owner, order.side, new_price, new_qty, leaves, self._seq
        )
        self._rest(fresh)
        return SubmitResult(trades, fresh, 0)

    # ------------------------------------------------------------------ internals

    def _match(
        self, taker_id: str, owner: str, side: Side, leaves: int, limit: int | None
    ) -> tuple[tuple[Trade, ...], int]:
        """Fill up to ``leaves`` against the opposite side; return (trades, remainder)."""
        opp = self._asks if side is Side.BUY else self._bids
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
        while leaves and keys:
            key = keys[-1]
            if bound is not None and key < bound:
                break
            level = levels[key]
            queue = level.orders
            price = level.price
            while leaves and level.count:
                maker = queue[0]
                if orders.get(maker.order_id) is not maker:
                    queue.popleft()  # lazily canceled or superseded entry
                    continue
                fill = leaves if leaves < maker.leaves else maker.leaves
                leaves -= fill
                maker.leaves -= fill
                level.size -= fill
                if not maker.leaves:
                    queue.popleft()
                    level.count -= 1
                    del orders[maker.order_id]
                trades.append(
                    Trade(
                        taker_id,
                        maker.order_id,
                        owner,
                        maker.owner,
                        side,
                        price,
                        fill,
                        leaves,
                        maker.leaves,
                    )
                )
            if not level.count:
                keys.pop()
                del levels[key]
        return tuple(trades), leaves

    def _rest(self, order: RestingOrder) -> None:
        """Append ``order`` (already carrying ``self._seq``) to its level and index it."""
        self._seq += 1
        side = self._bids if order.side is Side.BUY else self._asks
        key = side.sign * order.price
        level = side.levels.get(key)
        if level is None:
            level = side.levels[key] = _Level(order.price)
            insort(side.keys, key)
        level.orders.append(order)
        level.size += order.leaves
        level.count += 1
        self._orders[order.order_id] = order

    def _unlink(self, order: RestingOrder) -> None:
        """Drop an order (already removed from the id index) from its level's totals."""
        side = self._bids if order.side is Side.BUY else self._asks
        key = side.sign * order.price
        level = side.levels[key]
        level.size -= order.leaves
        level.count -= 1
        if not level.count:
            side.remove_level(key)
        elif len(level.orders) > 2 * level.count + _COMPACT_SLACK:
            orders = self._orders
            level.orders = deque(o for o in level.orders if orders.get(o.order_id) is o)
