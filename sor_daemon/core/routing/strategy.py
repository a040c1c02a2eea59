"""The contract between the engine and every routing strategy.

A strategy is pure: given what is left to place of a parent, the consolidated book, the
venues' state, the time and what routing has learned (`RoutingContext`, read only), it
returns child order plans. The engine owns all state and
calls it again whenever the parent has quantity that nothing is working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import ClassVar, Protocol

from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.core.market import ConsolidatedBook, VenueBook, within_limit
from sor_daemon.core.routing.context import RoutingContext


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What a strategy sees of a parent order."""

    symbol: str
    side: Side
    ord_type: OrdType
    limit: Decimal | None
    tif: TimeInForce
    qty: int
    """Shares to place now: the parent's leaves less what children are working."""
    pinned_venue: str | None
    exhausted: frozenset[str]
    """Venues left out for this parent now: its children were rejected there, or one
    missed there and the venue has published nothing since (for a while at most)."""
    missed: frozenset[str] = frozenset()
    """Of ``exhausted``, the venues left out only after a miss: nothing is taken there,
    but a Day residual may rest there."""


@dataclass(frozen=True, slots=True)
class VenueState:
    name: str
    kind: str
    up: bool
    taker_fee: Decimal = Decimal(0)
    maker_rebate: Decimal = Decimal(0)
    expected_latency_ms: float = 0.0
    max_quote_age_ns: int = 0
    min_qty: int = 0
    """A dark pool's minimum execution size: children are never sent below it."""


def routable_books(request: RouteRequest, market: ConsolidatedBook,
                   venues: Mapping[str, VenueState], now_ns: int) -> dict[str, VenueBook]:
    """The lit venues a strategy may use for this request: up, not exhausted, within the
    pin, with a book that is not stale."""
    books = market.venue_books(request.symbol)
    usable = {}
    for venue in venues.values():
        if (not venue.up or venue.kind != "lit" or venue.name in request.exhausted
                or (request.pinned_venue is not None and venue.name != request.pinned_venue)):
            continue
        book = books.get(venue.name)
        if book is None:
            continue
        if venue.max_quote_age_ns and now_ns - book.updated_ns > venue.max_quote_age_ns:
            continue
        usable[venue.name] = book
    return usable


@dataclass(frozen=True, slots=True)
class ChildPlan:
    venue: str
    qty: int
    ord_type: OrdType
    price: Decimal | None
    tif: TimeInForce
    min_qty: int | None = None
    """MinQty (110) for dark children: the pool's minimum."""


class Strategy(Protocol):
    name: ClassVar[str]
    code: ClassVar[int]
    """The TargetStrategy (847) value that selects it (FIX reserves 1000+ for users)."""

    def plan(
        self,
        request: RouteRequest,
        market: ConsolidatedBook,
        venues: Mapping[str, VenueState],
        now_ns: int,
        context: RoutingContext,
    ) -> list[ChildPlan]: ...


def price_key(side: Side, price: Decimal) -> Decimal:
    """Sorts prices best first for an order on ``side`` taking liquidity."""
    return price if side is Side.BUY else -price


def touch(request: RouteRequest, books: Mapping[str, VenueBook]) -> Decimal | None:
    """The best displayed price on the side the request takes from, within its limit."""
    prices = [book.levels(request.side)[0].price for book in books.values()
              if book.levels(request.side)
              and within_limit(request.side, book.levels(request.side)[0].price, request.limit)]
    return min(prices, key=lambda p: price_key(request.side, p)) if prices else None


def post_residual(request: RouteRequest, market: ConsolidatedBook,
                  venues: Mapping[str, VenueState], now_ns: int) -> list[ChildPlan]:
    """Nothing marketable is left: a Day limit rests where its own side is quoted best (it
    joins the best bid/offer), a venue where it only missed included; IOC and market
    orders stop here."""
    if request.ord_type is OrdType.MARKET or request.tif is not TimeInForce.DAY:
        return []
    request = replace(request, exhausted=request.exhausted - request.missed)
    books = routable_books(request, market, venues, now_ns)
    quoted = [(price_key(request.side.opposite, book.own_levels(request.side)[0].price),
               -book.own_levels(request.side)[0].size, name)
              for name, book in books.items() if book.own_levels(request.side)]
    if quoted:
        venue = min(quoted)[2]
    else:
        candidates = sorted(name for name, v in venues.items() if v.up and v.kind == "lit"
                            and name not in request.exhausted
                            and request.pinned_venue in (None, name))
        if not candidates:
            return []
        venue = candidates[0]
    return [ChildPlan(venue, request.qty, OrdType.LIMIT, request.limit, TimeInForce.DAY)]
