"""What routing learns from its own children: venue scorecards and dark pool liquidity.

The engine is the only writer (it reports every child's acknowledgement and outcome);
strategies only read. Pure: no clocks, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sor_daemon.core.routing.dark_allocator import DarkAllocator
from sor_daemon.core.routing.routes import (
    LATENCY_COST_PER_MS,
    MISS_COST,
    Broker,
    Route,
    Routes,
    route_key,
)


@dataclass(slots=True)
class VenueScore:
    """Exponentially weighted statistics of one venue's children (weight ``alpha`` on the
    newest). Fill rate starts optimistic (1.0) so that a new venue is tried. A route
    through a broker (``BROKER>VENUE``) has its own ack latency and reject rate; fill
    rate is the venue's, whichever route carried the child."""

    fill_rate: float = 1.0
    reject_rate: float = 0.0
    ack_latency_ms: float = 0.0
    children: int = 0


FLOW_BUCKET_NS = 1_000_000_000
"""Queue depletion is learned as shares traded per second at each venue."""
FLOW_HISTORY = 300
"""Seconds of history kept per venue and symbol."""
FLOW_MIN_SAMPLES = 20
"""Fewer completed seconds than this and the history is not used yet."""


class _TradedVolume:
    """Shares traded per one-second bucket; empty seconds count (as zero) too."""

    __slots__ = ("bucket", "current", "history")

    def __init__(self, bucket: int) -> None:
        self.bucket = bucket
        self.current = 0
        self.history: deque[int] = deque(maxlen=FLOW_HISTORY)

    def add(self, qty: int, now_ns: int) -> None:
        bucket = now_ns // FLOW_BUCKET_NS
        if bucket != self.bucket:
            self.history.append(self.current)
            self.history.extend([0] * min(bucket - self.bucket - 1, FLOW_HISTORY))
            self.bucket, self.current = bucket, 0
        self.current += qty


class RoutingContext:
    def __init__(self, dark_pools: Iterable[str] = (), lot_size: int = 100,
                 alpha: float = 0.1, brokers: Iterable[Broker] = ()) -> None:
        self.alpha = alpha
        self.routes = Routes(brokers)
        self._traded: dict[tuple[str, str], _TradedVolume] = {}
        self.scores: dict[str, VenueScore] = {}
        pools = sorted(dark_pools)
        self.dark = DarkAllocator(pools, lot_size=lot_size) if pools else None
        """Learned dark liquidity; None when no dark pool is configured."""

    def state(self) -> dict[str, Any]:
        """What routing has learned (scorecards, dark liquidity), JSON-safe: kept across
        restarts so a restarted daemon does not start from its optimistic priors."""
        return {"scores": {route: asdict(score) for route, score in self.scores.items()},
                "dark": self.dark.state() if self.dark is not None else {}}

    def load_state(self, state: dict[str, Any]) -> None:
        self.scores.update({route: VenueScore(**score)
                            for route, score in state.get("scores", {}).items()})
        if self.dark is not None:
            self.dark.load_state(state.get("dark", {}))

    def observe_traded(self, venue: str, symbol: str, qty: int, now_ns: int) -> None:
        """Shares a venue reported traded in ``symbol`` (its market data trades)."""
        key = (venue, symbol)
        if key not in self._traded:
            self._traded[key] = _TradedVolume(now_ns // FLOW_BUCKET_NS)
        self._traded[key].add(qty, now_ns)

    def traded_so_far(self, venue: str, symbol: str) -> int:
        """Shares seen traded in the history kept (for monitoring and tests)."""
        volume = self._traded.get((venue, symbol))
        return 0 if volume is None else sum(volume.history) + volume.current

    def traded_per_second(self, venue: str, symbol: str) -> list[int] | None:
        """The learned history of shares traded per second, or None while too short."""
        volume = self._traded.get((venue, symbol))
        if volume is None or len(volume.history) < FLOW_MIN_SAMPLES:
            return None
        return list(volume.history)

    def score(self, venue: str) -> VenueScore:
        return self.scores.get(venue) or VenueScore()

    def child_acked(self, venue: str, latency_ms: float) -> None:
        score = self.scores.setdefault(venue, VenueScore())
        first = score.children == 0 and score.ack_latency_ms == 0.0
        score.ack_latency_ms = latency_ms if first else (
            (1 - self.alpha) * score.ack_latency_ms + self.alpha * latency_ms)

    def child_done(self, venue: str, dark: bool, sent: int, filled: int,
                   rejected: bool, via: str | None = None) -> None:
        """A child ended: ``filled`` of ``sent`` shares (IOC misses and rejects count);
        ``via`` the broker that carried it."""
        a = self.alpha
        route = self.scores.setdefault(route_key(venue, via), VenueScore())
        route.children += 1
        route.reject_rate = (1 - a) * route.reject_rate + a * (1.0 if rejected else 0.0)
        if sent > 0 and not rejected:
            score = self.scores.setdefault(venue, VenueScore())
            score.fill_rate = (1 - a) * score.fill_rate + a * (filled / sent)
        if dark and not rejected and self.dark is not None:
            self.dark.observe(venue, sent, filled)

    def best_route(self, venue: str, expected_latency_ms: float) -> Route | None:
        """The cheapest live route to ``venue`` (see `routes`), or None when none is up."""
        cost, via, found = self.route_cost(venue, expected_latency_ms)
        return Route(venue, via, cost) if found else None

    def route_cost(self, venue: str, expected_latency_ms: float
                   ) -> tuple[float, str | None, bool]:
        """(cost per share, broker or None, whether any route is up) of the cheapest live
        route to ``venue``; the cost is `MISS_COST` when none is. On the decision path of
        cost-based routing, so kept lean."""
        scores = self.scores
        fill_rate = scores[venue].fill_rate if venue in scores else 1.0
        best_cost, best_via, found = MISS_COST, None, False
        for via, commission, expected in self.routes.options(venue, expected_latency_ms):
            score = scores.get(venue if via is None else route_key(venue, via))
            latency, rejects = (score.ack_latency_ms, score.reject_rate) if score else (0.0, 0.0)
            cost = (float(commission) + LATENCY_COST_PER_MS * (latency or expected)
                    + MISS_COST * (1.0 - fill_rate + rejects))
            if not found or cost < best_cost:
                best_cost, best_via, found = cost, via, True
        return best_cost, best_via, found
