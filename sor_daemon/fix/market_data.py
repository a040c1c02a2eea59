"""A venue's book per symbol as its market data builds it: a W snapshot, then X increments.

Pure (no I/O, no clock): the FIX venue connector feeds it every W and X it receives and
forwards what comes out; tests feed it a simulated venue's messages the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sor_daemon.core.market import VenueBook, apply_changes
from sor_daemon.fix import codec
from sor_daemon.fix.codec import FixMessage


@dataclass(slots=True)
class FeedUpdate:
    """What one incremental refresh (X) means, in message order."""

    books: list[VenueBook] = field(default_factory=list)
    """The books to forward: every symbol with level changes or trades."""
    trades: dict[str, int] = field(default_factory=dict)
    """Shares reported traded per symbol."""
    before_snapshot: list[str] = field(default_factory=list)
    """Symbols with level changes but no snapshot yet (their changes are dropped)."""


class VenueFeed:
    def __init__(self, venue: str) -> None:
        self.venue = venue
        self._books: dict[str, VenueBook] = {}

    def clear(self) -> None:
        """The session dropped: nothing is known until the next snapshot."""
        self._books.clear()

    def book(self, symbol: str) -> VenueBook | None:
        return self._books.get(symbol)

    def snapshot(self, message: FixMessage, now_ns: int) -> VenueBook:
        """A MarketDataSnapshotFullRefresh (W): the symbol's book, to forward."""
        book = codec.decode_snapshot(message, self.venue, now_ns)
        self._books[book.symbol] = book
        return book

    def increment(self, message: FixMessage, now_ns: int) -> FeedUpdate:
        """A MarketDataIncrementalRefresh (X): the books it names, and its trades."""
        changes_by_symbol, trades = codec.decode_incremental(message)
        update = FeedUpdate(trades={symbol: sum(q for _, q in prints)
                                    for symbol, prints in trades.items()})
        # A symbol with trades only is forwarded too: its levels may be those we had
        # (the venue refilled what traded), but a copy that took our own fills off
        # (`ConsolidatedBook.consume`) must become the venue's book again.
        for symbol in dict.fromkeys([*changes_by_symbol, *trades]):
            before = self._books.get(symbol)
            if before is None:
                if symbol in changes_by_symbol:
                    update.before_snapshot.append(symbol)
                continue
            book = self._books[symbol] = apply_changes(
                before, changes_by_symbol.get(symbol, []), now_ns)
            update.books.append(book)
        return update
