"""Background order flow for one (venue, symbol): the other traders on a simulated venue.

Without it a simulated book only changes when the daemon trades, so queues never form
or move and the touch never ticks. This generator produces Poisson arrivals of three
kinds: limit orders resting near the touch of the fundamental, marketable orders that
take liquidity, and cancels of its own resting orders. The caller (the simulated
exchange) submits them to its book and reports back, via `BackgroundFlow.done`, the
orders that filled completely so they are never cancelled.

Pure: no I/O, no clocks, no threads. Time is integer nanoseconds passed in by the caller;
all randomness comes from one private ``random.Random(seed)``, so the events are a
function of the seed and the sequence of calls. The next arrival time is carried across
calls, so contiguous windows (a, b], (b, c] yield the same events as one window (a, c]
(given the same fundamental).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from dataclasses import dataclass

from sor_daemon.core.domain import Side, TimeInForce

__all__ = ["MAX_LIVE", "BackgroundFlow", "FlowCancel", "FlowEvent", "FlowOrder", "FlowSpec"]

# Ids tracked for cancellation at most; past this the oldest are forgotten (never cancelled).
MAX_LIVE = 10_000
# Log-normal sigma of order sizes: most sizes within roughly 0.4x..2.5x the mean.
_SIZE_SIGMA = 0.5
# Probability ratio between successive price levels behind the touch.
_LEVEL_DECAY = 0.5
_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """Arrival rates (per second) and the shape of the orders of one background flow.

    Limit orders are placed ``half_spread_ticks + k`` ticks from the fundamental on their
    own side (buys below, sells above), ``k`` in ``0..depth_ticks-1`` with probability
    halving per level, so the levels nearest the touch are busiest. ``cancel_rate`` is the
    total rate of cancels of this flow's own resting orders (none while it has none).
    """

    limit_rate: float
    market_rate: float
    cancel_rate: float
    depth_ticks: int = 5
    half_spread_ticks: int = 1
    mean_size: int = 200
    lot_size: int = 100

    def __post_init__(self) -> None:
        for name in ("limit_rate", "market_rate", "cancel_rate"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.depth_ticks < 1:
            raise ValueError(f"depth_ticks must be at least 1, got {self.depth_ticks}")
        if self.half_spread_ticks < 0:
            raise ValueError(f"half_spread_ticks must be >= 0, got {self.half_spread_ticks}")
        if self.lot_size < 1:
            raise ValueError(f"lot_size must be at least 1, got {self.lot_size}")
        if self.mean_size < 1:
            raise ValueError(f"mean_size must be at least 1, got {self.mean_size}")


@dataclass(frozen=True, slots=True)
class FlowOrder:
    """A new order: a DAY limit (``price_ticks`` set) or an IOC market (``None``)."""

    order_id: str
    side: Side
    qty: int
    price_ticks: int | None
    tif: TimeInForce


@dataclass(frozen=True, slots=True)
class FlowCancel:
    """Cancel of one of this flow's own resting limit orders."""

    order_id: str


FlowEvent = FlowOrder | FlowCancel


class BackgroundFlow:
    """Poisson limit/market/cancel arrivals for one (venue, symbol)."""

    def __init__(self, spec: FlowSpec, name: str, seed: int, *, max_live: int = MAX_LIVE) -> None:
        if max_live < 1:
            raise ValueError(f"max_live must be at least 1, got {max_live}")
        self._spec = spec
        self._name = name
        self._rng = random.Random(seed)
        self._max_live = max_live
        self._rate = spec.limit_rate + spec.market_rate + spec.cancel_rate
        self._next_ns: int | None = None
        self._seq = itertools.count(1)
        self._level_weights = list(
            itertools.accumulate(_LEVEL_DECAY**k for k in range(spec.depth_ticks))
        )
        self._size_mu = math.log(spec.mean_size) - _SIZE_SIGMA**2 / 2  # mean == mean_size
        # Live ids: a list for O(1) uniform picks (swap-remove), a slot index for O(1)
        # removal by id, and an insertion-ordered deque (lazily pruned) to find the oldest.
        self._live: list[str] = []
        self._slot: dict[str, int] = {}
        self._fifo: deque[str] = deque()

    @property
    def name(self) -> str:
        return self._name

    @property
    def spec(self) -> FlowSpec:
        return self._spec

    @property
    def live_count(self) -> int:
        """How many of this flow's orders it may still cancel."""
        return len(self._live)

    def events(self, start_ns: int, end_ns: int, fundamental_ticks: int) -> list[FlowEvent]:
        """The arrivals in (start_ns, end_ns], in time order, priced off ``fundamental_ticks``.

        If the caller skipped time since the last window, arrivals restart at ``start_ns``
        (Poisson arrivals are memoryless, so nothing is lost but the skipped window).
        """
        out: list[FlowEvent] = []
        if end_ns <= start_ns or self._rate <= 0:
            return out
        nxt = self._next_ns
        if nxt is None or nxt <= start_ns:
            nxt = start_ns + self._gap_ns()
        while nxt <= end_ns:
            event = self._draw(fundamental_ticks)
            if event is not None:
                out.append(event)
            nxt += self._gap_ns()
        self._next_ns = nxt
        return out

    def done(self, order_id: str) -> None:
        """The caller reports ``order_id`` finished (filled, rejected): never cancel it.

        A cancel already returned by the same `events` call may still name it (the window's
        events are drawn before the caller submits them), so the caller must ignore a
        cancel of an order its book no longer holds.
        """
        if order_id in self._slot:
            self._remove(order_id)

    def _gap_ns(self) -> int:
        return max(1, math.ceil(self._rng.expovariate(self._rate) * _NS_PER_S))

    def _draw(self, fundamental_ticks: int) -> FlowEvent | None:
        spec = self._spec
        u = self._rng.random() * self._rate
        if u < spec.limit_rate:
            return self._limit(fundamental_ticks)
        if u < spec.limit_rate + spec.market_rate:
            return self._order(self._side(), None, TimeInForce.IOC)
        return self._cancel()

    def _limit(self, fundamental_ticks: int) -> FlowOrder:
        side = self._side()
        levels = range(self._spec.depth_ticks)
        k = self._rng.choices(levels, cum_weights=self._level_weights)[0]
        offset = self._spec.half_spread_ticks + k
        price = fundamental_ticks - offset if side is Side.BUY else fundamental_ticks + offset
        order = self._order(side, max(1, price), TimeInForce.DAY)
        self._add_live(order.order_id)
        return order

    def _order(self, side: Side, price_ticks: int | None, tif: TimeInForce) -> FlowOrder:
        lot = self._spec.lot_size
        raw = self._rng.lognormvariate(self._size_mu, _SIZE_SIGMA)
        qty = max(1, int(raw / lot + 0.5)) * lot
        return FlowOrder(f"{self._name}-{next(self._seq)}", side, qty, price_ticks, tif)

    def _side(self) -> Side:
        return Side.BUY if self._rng.random() < 0.5 else Side.SELL

    def _cancel(self) -> FlowCancel | None:
        if not self._live:
            return None
        order_id = self._live[self._rng.randrange(len(self._live))]
        self._remove(order_id)
        return FlowCancel(order_id)

    def _add_live(self, order_id: str) -> None:
        self._slot[order_id] = len(self._live)
        self._live.append(order_id)
        self._fifo.append(order_id)
        while len(self._live) > self._max_live:
            oldest = self._fifo.popleft()
            if oldest in self._slot:
                self._remove(oldest)
        if len(self._fifo) > 2 * len(self._live) + 64:
            self._fifo = deque(i for i in self._fifo if i in self._slot)

    def _remove(self, order_id: str) -> None:
        slot = self._slot.pop(order_id)
        last = self._live.pop()
        if slot < len(self._live):
            self._live[slot] = last
            self._slot[last] = slot
