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

from sor_daemon.domain import OrdType, TimeInForce
from sor_daemon.market import ConsolidatedBook, within_limit
from sor_daemon.routing.strategy import (
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

    def plan(self, request: RouteRequest, market: ConsolidatedBook,
             venues: Mapping[str, VenueState], now_ns: int) -> list[ChildPlan]:
        books = routable_books(request, market, venues, now_ns)
        levels = sorted(
            ((venue, level) for venue, book in books.items()
             for level in book.levels(request.side)
             if within_limit(request.side, level.price, request.limit)),
            key=lambda item: (price_key(request.side, item[1].price),
                              venues[item[0]].taker_fee, venues[item[0]].expected_latency_ms,
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
            return post_residual(request, books, venues)
        return [_ioc(venue, qty, worst) for venue, (qty, worst) in taken.items()]


def _split_at_touch(request: RouteRequest, market: ConsolidatedBook,
                    venues: Mapping[str, VenueState], now_ns: int,
                    by_size: bool) -> list[ChildPlan]:
    """IOCs at the best displayed price, split by the venues' size there (``by_size``)
    or equally across every routable venue."""
    books = routable_books(request, market, venues, now_ns)
    best = touch(request, books)
    if best is None:
        return post_residual(request, books, venues)
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
             venues: Mapping[str, VenueState], now_ns: int) -> list[ChildPlan]:
        return _split_at_touch(request, market, venues, now_ns, by_size=True)


class RoundRobin:
    name = "round-robin"
    code = 1003

    def plan(self, request: RouteRequest, market: ConsolidatedBook,
             venues: Mapping[str, VenueState], now_ns: int) -> list[ChildPlan]:
        return _split_at_touch(request, market, venues, now_ns, by_size=False)
