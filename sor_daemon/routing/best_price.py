"""Best displayed price: one child at a time to the venue quoting the best price.

Lit venues only (dark pools are for the dark-first strategy). Marketable quantity goes
out as an IOC limited to the best venue's touch price and size,
so no child trades through a better quote shown elsewhere; each miss marks the venue
exhausted for the parent and the engine asks again for the residual. When nothing
marketable is left, a Day limit order rests where its side is quoted best; an IOC or
market order stops (the engine cancels its residual).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sor_daemon.domain import OrdType, Side, TimeInForce
from sor_daemon.market import ConsolidatedBook, Level, VenueBook, within_limit
from sor_daemon.routing.strategy import ChildPlan, RouteRequest, VenueState


def _price_key(side: Side, level: Level) -> tuple[Decimal, int]:
    """Sort key: best price for ``side`` first, then larger size."""
    return (level.price if side is Side.BUY else -level.price, -level.size)


class BestPrice:
    name = "best-price"
    code = 1000

    def plan(
        self,
        request: RouteRequest,
        market: ConsolidatedBook,
        venues: Mapping[str, VenueState],
        now_ns: int,
    ) -> list[ChildPlan]:
        candidates = [
            v.name
            for v in venues.values()
            if v.up
            and v.kind == "lit"
            and v.name not in request.exhausted
            and (request.pinned_venue is None or v.name == request.pinned_venue)
        ]
        if not candidates:
            return []
        books = market.venue_books(request.symbol)
        take = self._best_take(request, candidates, books)
        if take is not None:
            venue, level = take
            return [
                ChildPlan(venue, min(request.qty, level.size), OrdType.LIMIT, level.price,
                          TimeInForce.IOC)
            ]
        if request.pinned_venue is not None and request.ord_type is OrdType.MARKET:
            # Pinned market orders go to the venue as they are: the user chose it.
            return [ChildPlan(candidates[0], request.qty, OrdType.MARKET, None, request.tif)]
        if request.ord_type is OrdType.MARKET or request.tif is TimeInForce.IOC:
            return []
        return [
            ChildPlan(self._best_post(request, candidates, books), request.qty, OrdType.LIMIT,
                      request.limit, TimeInForce.DAY)
        ]

    @staticmethod
    def _best_take(
        request: RouteRequest, candidates: list[str], books: Mapping[str, VenueBook]
    ) -> tuple[str, Level] | None:
        best: tuple[str, Level] | None = None
        for venue in candidates:
            book = books.get(venue)
            if book is None or not book.levels(request.side):
                continue
            level = book.levels(request.side)[0]
            if not within_limit(request.side, level.price, request.limit):
                continue
            if best is None or _price_key(request.side, level) < _price_key(request.side, best[1]):
                best = (venue, level)
        return best

    @staticmethod
    def _best_post(
        request: RouteRequest, candidates: list[str], books: Mapping[str, VenueBook]
    ) -> str:
        """The venue whose own side is quoted best (join the best bid/offer); else the first."""
        quoted = [
            (_price_key(request.side.opposite, books[v].own_levels(request.side)[0]), v)
            for v in candidates
            if v in books and books[v].own_levels(request.side)
        ]
        return min(quoted)[1] if quoted else candidates[0]
