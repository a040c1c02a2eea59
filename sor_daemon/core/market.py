"""The consolidated book: each lit venue's top levels per symbol, and the NBBO."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sor_daemon.core.domain import Side

_TWO = Decimal(2)


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    size: int


@dataclass(frozen=True, slots=True)
class VenueBook:
    """One venue's displayed book for one symbol: bids best first, asks best first."""

    venue: str
    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    updated_ns: int

    def levels(self, side: Side) -> tuple[Level, ...]:
        """The levels an order on ``side`` would take from."""
        return self.asks if side is Side.BUY else self.bids

    def own_levels(self, side: Side) -> tuple[Level, ...]:
        """The levels an order on ``side`` would join."""
        return self.bids if side is Side.BUY else self.asks


@dataclass(frozen=True, slots=True)
class BookChange:
    """One level of one side changed: ``size`` 0 removes it. ``new`` marks a level that
    appeared (MDUpdateAction New) rather than one that changed size."""

    side: Side
    price: Decimal
    size: int
    new: bool = False


def apply_changes(book: VenueBook, changes: list[BookChange], now_ns: int) -> VenueBook:
    """The book after an incremental refresh: levels keyed by price, best first."""
    bids = {level.price: level.size for level in book.bids}
    asks = {level.price: level.size for level in book.asks}
    for change in changes:
        levels = bids if change.side is Side.BUY else asks
        if change.size:
            levels[change.price] = change.size
        else:
            levels.pop(change.price, None)
    return VenueBook(
        book.venue, book.symbol,
        tuple(Level(p, q) for p, q in sorted(bids.items(), reverse=True)),
        tuple(Level(p, q) for p, q in sorted(asks.items())),
        now_ns,
    )


def diff_levels(side: Side, before: dict[Decimal, int],
                after: dict[Decimal, int]) -> list[BookChange]:
    """The changes that turn one side's ``before`` levels into ``after``."""
    changes = [BookChange(side, price, 0) for price in before if price not in after]
    changes += [BookChange(side, price, size, new=price not in before)
                for price, size in after.items() if before.get(price) != size]
    return changes


@dataclass(frozen=True, slots=True)
class Nbbo:
    bid: Level | None
    ask: Level | None

    @property
    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid.price + self.ask.price) / _TWO


def improves(side: Side, price: Decimal, than: Decimal) -> bool:
    """Whether taking at ``price`` is strictly better than at ``than`` for ``side``."""
    return price < than if side is Side.BUY else price > than


def within_limit(side: Side, price: Decimal, limit: Decimal | None) -> bool:
    """Whether an order on ``side`` with ``limit`` (None: market) may trade at ``price``."""
    if limit is None:
        return True
    return price <= limit if side is Side.BUY else price >= limit


class ConsolidatedBook:
    """Latest displayed book per (symbol, venue); the NBBO is derived on demand."""

    def __init__(self) -> None:
        self._books: dict[str, dict[str, VenueBook]] = {}

    def update(self, book: VenueBook) -> None:
        self._books.setdefault(book.symbol, {})[book.venue] = book

    def drop_venue(self, venue: str) -> None:
        for books in self._books.values():
            books.pop(venue, None)

    def venue_books(self, symbol: str) -> dict[str, VenueBook]:
        return self._books.get(symbol, {})

    def consume(self, venue: str, symbol: str, taker_side: Side, price: Decimal, qty: int) -> None:
        """Take ``qty`` at ``price`` off our copy of a venue's book after our own fill there,

        so the next routing decision does not chase liquidity we already took before the
        venue's next market data update arrives.
        """
        book = self._books.get(symbol, {}).get(venue)
        if book is None:
            return
        levels = []
        for level in book.levels(taker_side):
            if level.price == price and qty > 0:
                taken = min(qty, level.size)
                qty -= taken
                if level.size > taken:
                    levels.append(Level(level.price, level.size - taken))
            else:
                levels.append(level)
        if taker_side is Side.BUY:
            self.update(VenueBook(venue, symbol, book.bids, tuple(levels), book.updated_ns))
        else:
            self.update(VenueBook(venue, symbol, tuple(levels), book.asks, book.updated_ns))

    def nbbo(self, symbol: str) -> Nbbo:
        bid: Level | None = None
        ask: Level | None = None
        for book in self._books.get(symbol, {}).values():
            if book.bids and (bid is None or book.bids[0].price > bid.price):
                bid = book.bids[0]
            if book.asks and (ask is None or book.asks[0].price < ask.price):
                ask = book.asks[0]
        return Nbbo(bid, ask)
