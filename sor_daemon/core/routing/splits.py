"""Strategies that send several IOC children at once.

- `Sweep`: take the best prices first across venues, level by level, with one IOC per
  venue capped at the worst level it takes there. Every level better than any child's
  limit is taken in full by the plan, so no child trades through a better quote shown
  elsewhere (Reg NMS Rule 611 in spirit: the simultaneous children act as an
  intermarket sweep). Price ties go to the lower taker fee, then the quicker venue, then
  the larger size.
- `LiquidityWeighted`: split among the venues quoting the best price in proportion to
  their size there; the residual goes out again at the next best price.
- `RoundRobin`: the naive baseline: an equal split across every routable venue, each child
  an IOC at the best price displayed anywhere; venues not quoting it miss.

Whatever is not marketable is posted by `post_residual` (Day limits) or ends the parent.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sor_daemon.core.domain import OrdType, TimeInForce
from sor_daemon.core.market import ConsolidatedBook, within_limit
from sor_daemon.core.routing.context import RoutingContext
from sor_daemon.core.routing.strategy import (
    ChildPlan,
    RouteRequest,
    VenueState,
    post_residual,
    price_key,
    routable_books,
    touch,
)


def _ioc(venue: str, qty: int, price: Decimal) -> ChildPlan:
    return ChildPlan(venue, qty, OrdType.LIMIT, price, TimeInForce.IOC)


def split_evenly(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Whole shares in proportion to ``weights`` (largest remainders, then name)."""
    weight_sum = sum(weights.values())
    if total <= 0 or weight_sum <= 0:
        return {}
    shares = {name: total * w // weight_sum for name, w in weights.items()}
    left = total - sum(shares.values())
    by_remainder = sorted(weights, key=lambda n: (-(total * weights[n] % weight_sum), n))
    for name in by_remainder[:left]:
        shares[name] += 1
    return {name: qty for name, qty in shares.items() if qty > 0}


class Sweep:
    name = "sweep"
    code = 1001

    @staticmethod
    def venue_rank(venue: VenueState, context: RoutingContext) -> tuple:
        """Orders venues within one price: the cheaper to take from, then the quicker."""
        return (venue.taker_fee, venue.expected_latency_ms)

    def plan(self, request: RouteRequest, market: ConsolidatedBook,
             venues: Mapping[str, VenueState], now_ns: int,
             context: RoutingContext) -> list[ChildPlan]:
        books = routable_books(request, market, venues, now_ns)
        rank = {name: self.venue_rank(venues[name], context) for name in books}
        levels = sorted(
            ((venue, level) for venue, book in books.items()
             for level in book.levels(request.side)
             if within_limit(request.side, level.price, request.limit)),
            key=lambda item: (price_key(request.side, item[1].price), rank[item[0]],
                              -item[1].size, item[0]))
        remaining = request.qty
        taken: dict[str, tuple[int, Decimal]] = {}
        for venue, level in levels:
            if remaining == 0:
                break
            qty = min(remaining, level.size)
            remaining -= qty
            before = taken.get(venue, (0, level.price))[0]
            taken[venue] = (before + qty, level.price)
        if not taken:
            return post_residual(request, market, venues, now_ns)
        return [_ioc(venue, qty, worst) for venue, (qty, worst) in taken.items()]


class CostBased(Sweep):
    """The sweep, with the venues at each price ranked by estimated all-in cost per share:
    taker fee (less rebate) + the cost of the cheapest route there (`routes`: broker
    commission, a latency penalty on the measured acknowledgement latency, the
    opportunity cost of measured misses and rejects). Price priority is kept, so
    cost never buys a trade-through; it decides which venues take each price first and
    so adapts as venues fill better or worse (scorecards in `RoutingContext`)."""

    name = "cost-based"
    code = 1004

    @staticmethod
    def venue_rank(venue: VenueState, context: RoutingContext) -> tuple:
        """Estimated all-in cost per share beyond the price (a ranking, so float)."""
        return (float(venue.taker_fee)
                + context.route_cost(venue.name, venue.expected_latency_ms)[0],)


class DarkFirst:
    """Ping the eligible dark pools at the midpoint first, then sweep the lit venues.

    The allocation across pools is the Kaplan-Meier greedy of Ganchev, Kearns, Nevmyvaka
    and Vaughan (2010) on what the pools have filled so far (`RoutingContext.dark`); a
    pool gets nothing or at least its minimum size (MinQty 110 on the child). Pools are
    skipped while the NBBO is missing, locked or crossed, or its midpoint is outside the
    limit. A pool that misses is left out for the parent (`RouteRequest.exhausted`), so
    the residual reaches the lit venues."""

    name = "dark-first"
    code = 1005

    def plan(self, request: RouteRequest, market: ConsolidatedBook,
             venues: Mapping[str, VenueState], now_ns: int,
             context: RoutingContext) -> list[ChildPlan]:
        pools = {v.name: v.min_qty for v in venues.values()
                 if v.up and v.kind == "dark" and v.name not in request.exhausted
                 and request.pinned_venue in (None, v.name) and v.min_qty <= request.qty}
        nbbo = market.nbbo(request.symbol)
        mid = nbbo.mid
        if (pools and context.dark is not None and mid is not None and nbbo.bid is not None
                and nbbo.ask is not None
                and nbbo.bid.price < nbbo.ask.price
                and within_limit(request.side, mid, request.limit)):
            allocation = context.dark.allocate(request.qty, pools)
            if allocation:
                return [ChildPlan(venue, qty, request.ord_type, request.limit,
                                  TimeInForce.IOC, min_qty=pools[venue] or None)
                        for venue, qty in allocation.items() if qty > 0]
        return SWEEP.plan(request, market, venues, now_ns, context)


SWEEP = Sweep()


def _split_at_touch(request: RouteRequest, market: ConsolidatedBook,
                    venues: Mapping[str, VenueState], now_ns: int,
                    by_size: bool) -> list[ChildPlan]:
    """IOCs at the best displayed price, split by the venues' size there (``by_size``)
    or equally across every routable venue."""
    books = routable_books(request, market, venues, now_ns)
    best = touch(request, books)
    if best is None:
        return post_residual(request, market, venues, now_ns)
    if by_size:
        weights = {name: book.levels(request.side)[0].size for name, book in books.items()
                   if book.levels(request.side) and book.levels(request.side)[0].price == best}
        qty = min(request.qty, sum(weights.values()))
    else:
        weights, qty = dict.fromkeys(sorted(books), 1), request.qty
    return [_ioc(venue, n, best) for venue, n in split_evenly(qty, weights).items()]


class LiquidityWeighted:
    name = "liquidity-weighted"
    code = 1002

    def plan(self, request: RouteRequest, market: ConsolidatedBook,
             venues: Mapping[str, VenueState], now_ns: int,
             context: RoutingContext) -> list[ChildPlan]:
        return _split_at_touch(request, market, venues, now_ns, by_size=True)


class RoundRobin:
    name = "round-robin"
    code = 1003

    def plan(self, request: RouteRequest, market: ConsolidatedBook,
             venues: Mapping[str, VenueState], now_ns: int,
             context: RoutingContext) -> list[ChildPlan]:
        return _split_at_touch(request, market, venues, now_ns, by_size=False)
