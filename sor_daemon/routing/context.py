"""What routing learns from its own children: venue scorecards and dark pool liquidity.

The engine is the only writer (it reports every child's acknowledgement and outcome);
strategies only read. Pure: no clocks, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sor_daemon.routing.dark_allocator import DarkAllocator


@dataclass(slots=True)
class VenueScore:
    """Exponentially weighted statistics of one venue's children (weight ``alpha`` on the
    newest). Fill rate starts optimistic (1.0) so that a new venue is tried."""

    fill_rate: float = 1.0
    reject_rate: float = 0.0
    ack_latency_ms: float = 0.0
    children: int = 0


class RoutingContext:
    def __init__(self, dark_pools: Iterable[str] = (), lot_size: int = 100,
                 alpha: float = 0.1) -> None:
        self.alpha = alpha
        self.scores: dict[str, VenueScore] = {}
        pools = sorted(dark_pools)
        self.dark = DarkAllocator(pools, lot_size=lot_size) if pools else None
        """Learned dark liquidity; None when no dark pool is configured."""

    def score(self, venue: str) -> VenueScore:
        return self.scores.get(venue) or VenueScore()

    def child_acked(self, venue: str, latency_ms: float) -> None:
        score = self.scores.setdefault(venue, VenueScore())
        first = score.children == 0 and score.ack_latency_ms == 0.0
        score.ack_latency_ms = latency_ms if first else (
            (1 - self.alpha) * score.ack_latency_ms + self.alpha * latency_ms)

    def child_done(self, venue: str, dark: bool, sent: int, filled: int,
                   rejected: bool) -> None:
        """A child ended: ``filled`` of ``sent`` shares (IOC misses and rejects count)."""
        score = self.scores.setdefault(venue, VenueScore())
        a = self.alpha
        score.children += 1
        score.reject_rate = (1 - a) * score.reject_rate + a * (1.0 if rejected else 0.0)
        if sent > 0 and not rejected:
            score.fill_rate = (1 - a) * score.fill_rate + a * (filled / sent)
        if dark and not rejected and self.dark is not None:
            self.dark.observe(venue, sent, filled)
