"""Optimal placement (Cont & Kukanov 2017): split a Day limit order between a marketable
leg (taken now with the sweep) and passive legs posted at each venue's best bid/offer
behind the visible queue, minimising expected cost with fees, rebates, the queue sizes
from L2 and under/overfill penalties (`sor_daemon.core.routing.cont_kukanov`).

Departures, by design of this router:
- The paper's multi-venue optimum may post more in total than the order needs
  (oversizing); the router never works more than the parent's quantity, so the passive
  legs are scaled into what the marketable leg leaves.
- Queue depletion over the horizon (one second) is learned from the shares each venue
  reports traded (its market data); until there is enough history it is taken as
  exponential with the visible queue as its mean.
IOC and market orders cannot rest: they are swept.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace

from sor_daemon.core.domain import OrdType, TimeInForce
from sor_daemon.core.market import ConsolidatedBook, within_limit
from sor_daemon.core.routing.cont_kukanov import (
    Empirical,
    Exponential,
    VenueQuote,
    multi_venue_optimum,
    single_venue_optimum,
)
from sor_daemon.core.routing.context import RoutingContext
from sor_daemon.core.routing.splits import SWEEP, split_evenly
from sor_daemon.core.routing.strategy import ChildPlan, RouteRequest, VenueState, routable_books

THETA = 0.0005
"""Market impact per share placed (the paper's theta)."""
UNDERFILL_PENALTY = 0.02
"""Per share left unfilled at the horizon (lambda_u): the cost of chasing it."""
ITERATIONS = 400
"""Stochastic approximation steps for several venues (about 1 ms per venue)."""


class OptimalPlacement:
    name = "optimal-placement"
    code = 1006

    @staticmethod
    def depletion(context: RoutingContext, venue: str, symbol: str,
                  queue: int) -> Exponential | Empirical:
        """How much of the queue at ``venue`` trades away over the horizon: learned from
        the shares it reports traded per second once there is enough history (plus
        one share so the distribution is never degenerate at zero), else exponential
        with the visible queue as its mean."""
        history = context.traded_per_second(venue, symbol)
        if history is not None and any(history):
            return Empirical(tuple(float(q) + 1.0 for q in history))
        return Exponential(max(queue, 100))

    def plan(self, request: RouteRequest, market: ConsolidatedBook,
             venues: Mapping[str, VenueState], now_ns: int,
             context: RoutingContext) -> list[ChildPlan]:
        nbbo = market.nbbo(request.symbol)
        books = routable_books(request, market, venues, now_ns)
        posts = {name: book.own_levels(request.side)[0] for name, book in books.items()
                 if book.own_levels(request.side)}
        if (request.tif is not TimeInForce.DAY or request.ord_type is OrdType.MARKET
                or nbbo.bid is None or nbbo.ask is None or nbbo.bid.price >= nbbo.ask.price
                or not posts):
            return SWEEP.plan(request, market, venues, now_ns, context)
        half_spread = float(nbbo.ask.price - nbbo.bid.price) / 2
        taker_fee = float(min(venues[name].taker_fee for name in books))
        rebates = {name: float(venues[name].maker_rebate) for name in posts}
        overfill = half_spread + max(max(rebates.values()), 0.0) + 0.001
        names = sorted(posts)
        quotes = [VenueQuote(posts[n].size, taker_fee, rebates[n],
                             self.depletion(context, n, request.symbol, posts[n].size))
                  for n in names]
        size = request.qty
        if len(quotes) == 1:
            take, limit_qty = single_venue_optimum(
                size, half_spread, taker_fee, rebates[names[0]], THETA, UNDERFILL_PENALTY,
                overfill, quotes[0].queue, quotes[0].outflow)
            legs = [limit_qty]
        else:
            take, legs = multi_venue_optimum(
                size, half_spread, taker_fee, THETA, UNDERFILL_PENALTY, overfill, quotes,
                random.Random(size), iterations=ITERATIONS)
        take = max(0, min(take, size))
        children = (SWEEP.plan(replace(request, qty=take, tif=TimeInForce.IOC), market, venues,
                               now_ns, context) if take else [])
        taken = sum(c.qty for c in children)
        # What the take leg cannot take now (nothing marketable within the limit) is posted
        # with the passive legs; never more in all than the order.
        room = size - taken
        weights = {n: q for n, q in zip(names, legs, strict=True) if q > 0}
        wanted = sum(weights.values()) + (take - taken)
        if not weights:
            weights = {min(names, key=lambda n: (-posts[n].size, n)): 1}
        passive = split_evenly(min(wanted, room), weights)
        for name, qty in passive.items():
            price = posts[name].price
            if not within_limit(request.side, price, request.limit):
                price = request.limit  # never post through the parent's limit
            children.append(ChildPlan(name, qty, OrdType.LIMIT, price, TimeInForce.DAY))
        if not children or taken + sum(passive.values()) == 0:
            return SWEEP.plan(request, market, venues, now_ns, context)
        return children
