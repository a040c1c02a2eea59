"""Best displayed price: one child at a time to the venue quoting the best price.

Lit venues only. Marketable quantity goes out as an IOC limited to the best venue's touch
price and size, so no child trades through a better quote shown elsewhere; after a miss
the engine leaves that venue out (until it publishes another book, see
`RouteRequest.exhausted`) and asks again for the residual.
When nothing marketable is left, a Day limit order rests where its side is quoted best;
an IOC or market order stops (the engine cancels its residual).
"""

from __future__ import annotations

from collections.abc import Mapping

from sor_daemon.core.domain import OrdType, TimeInForce
from sor_daemon.core.market import ConsolidatedBook
from sor_daemon.core.routing.context import RoutingContext
from sor_daemon.core.routing.strategy import (
    ChildPlan,
    RouteRequest,
    VenueState,
    post_residual,
    routable_books,
    touch,
)


class BestPrice:
    name = "best-price"
    code = 1000

    def plan(self, request: RouteRequest, market: ConsolidatedBook,
             venues: Mapping[str, VenueState], now_ns: int,
             context: RoutingContext) -> list[ChildPlan]:
        books = routable_books(request, market, venues, now_ns)
        best = touch(request, books)
        if best is not None:
            venue, size = min(
                ((name, book.levels(request.side)[0].size) for name, book in books.items()
                 if book.levels(request.side) and book.levels(request.side)[0].price == best),
                key=lambda item: (-item[1], item[0]))
            return [ChildPlan(venue, min(request.qty, size), OrdType.LIMIT, best,
                              TimeInForce.IOC)]
        if request.pinned_venue is not None and request.ord_type is OrdType.MARKET:
            # A pinned market order goes to the venue as it is: the user chose it.
            pinned = venues.get(request.pinned_venue)
            if pinned is not None and pinned.up and request.pinned_venue not in request.exhausted:
                return [ChildPlan(request.pinned_venue, request.qty, OrdType.MARKET, None,
                                  request.tif)]
        return post_residual(request, market, venues, now_ns)
