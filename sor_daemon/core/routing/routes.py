"""How a child reaches its venue: the venue's own session, or a broker that reaches it.

A route costs, per share and beyond the venue's own fees (which a broker passes on):
the broker's commission, a penalty on the route's acknowledgement latency (measured, or
expected until measured) and the opportunity cost of its measured misses and rejects.
Every strategy plans against venues; the cheapest live route to each venue carries the
child, and cost-based routing ranks venues with that route's cost included. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

LATENCY_COST_PER_MS = 0.0001
"""Dollars per share per millisecond of acknowledgement latency (the market moves)."""
ZERO = Decimal(0)
MISS_COST = 0.01
"""Dollars per share of a miss or reject: about one tick of re-routing, at worst."""


@dataclass(frozen=True, slots=True)
class Broker:
    name: str
    commission: Decimal
    """Per share, on top of the venue's fees."""
    expected_latency_ms: float
    venues: frozenset[str]
    up: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    venue: str
    via: str | None
    """The broker carrying the child; None for the venue's own session."""
    cost: float
    """Per share beyond the venue's fees (a ranking, so float)."""

    @property
    def key(self) -> str:
        """Name of the route in scorecards and metrics: the venue, or BROKER>VENUE."""
        return route_key(self.venue, self.via)

    @property
    def session(self) -> str:
        """The connector that sends it."""
        return self.via or self.venue


def route_key(venue: str, via: str | None) -> str:
    return venue if via is None else f"{via}>{venue}"


class Routes:
    """The brokers configured, which are up, and each venue's direct session state."""

    def __init__(self, brokers: Iterable[Broker] = ()) -> None:
        self.brokers = {b.name: b for b in brokers}
        self.direct_up: dict[str, bool] = {}
        """Known session states; a venue never reported is taken as up (strategies
        are also run without an engine, on venue states alone)."""

    def set_up(self, name: str, up: bool) -> bool:
        """A session came up or went down; False when ``name`` is no broker."""
        broker = self.brokers.get(name)
        if broker is None:
            self.direct_up[name] = up
            return False
        self.brokers[name] = replace(broker, up=up)
        return True

    def reachable(self, venue: str) -> bool:
        return self.direct_up.get(venue, True) or any(
            b.up and venue in b.venues for b in self.brokers.values())

    def options(self, venue: str, expected_latency_ms: float) -> list[tuple[str | None, Decimal,
                                                                          float]]:
        """Every live route to ``venue``: (broker or None, commission, expected latency)."""
        found: list[tuple[str | None, Decimal, float]] = (
            [(None, ZERO, expected_latency_ms)] if self.direct_up.get(venue, True) else [])
        if self.brokers:
            found += [(b.name, b.commission, expected_latency_ms + b.expected_latency_ms)
                      for b in self.brokers.values() if b.up and venue in b.venues]
        return found
