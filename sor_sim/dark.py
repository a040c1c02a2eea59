"""A simulated dark pool: midpoint-pegged orders against hidden, zero-inflated contra liquidity.

Pure: no I/O, no wall clock, no threads. Time comes in as integer nanoseconds and every
random number comes from the pool's own ``random.Random(seed)``, so the same seed and the
same call sequence give the same fills.

Prices are integer *half-ticks*, so the midpoint of a lit NBBO given in ticks is exact:
``mid = bid + ask`` (bid=19000, ask=19001 ticks -> 38001 half-ticks). Quantities are whole
shares. Nothing is displayed: an order learns whether contra liquidity is there only by
pinging. Following the dark-pool literature (Ganchev, Kearns, Nevmyvaka, Vaughan 2010,
"Censored exploration and the dark pool problem"), a ping usually finds nothing, and when
it finds something the size is heavy-tailed (Pareto), so rare blocks dominate the volume.

Matching modes:

- continuous (``crossing_interval_s is None``): a submit pings once; a DAY remainder rests
  pegged to the mid and gets a fresh ping at each Poisson arrival (``arrival_rate`` per
  second, 0 = never) that ``on_time`` reaches;
- periodic crossing: nothing executes on submit; at each cross (``start_ns``, then every
  interval) every resting order pings once at the symbol's then-current mid. An IOC can
  never reach a cross, so in this mode it is canceled in full on submit (send DAY orders).

An execution needs a valid NBBO (present, not locked, not crossed), the mid inside the
order's limit, and a fill of at least the order's effective minimum:
``min(leaves, max(order min_qty, spec.min_qty))`` (so a small remainder can still finish).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from sor_daemon.core.domain import Side, TimeInForce

__all__ = [
    "DarkFill",
    "DarkOrder",
    "DarkPool",
    "DarkPoolSpec",
    "DarkResult",
    "HiddenLiquidity",
    "Impulse",
    "Nbbo",
]

Nbbo = tuple[int, int] | None
"""(best bid, best ask) of the lit market in ticks, or None when there is none."""

_NS_PER_S = 1_000_000_000
_MAX_GAP_S = 1e9  # an arrival gap beyond ~30 years is "never"; keeps the ns conversion finite


@dataclass(frozen=True, slots=True)
class HiddenLiquidity:
    """The contra size one ping finds: 0 with ``zero_probability``, else
    ``scale * Pareto(alpha)`` shares, capped at ``cap`` and rounded down to ``lot_size``."""

    zero_probability: float
    scale: int
    alpha: float
    lot_size: int = 100
    cap: int = 1_000_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.zero_probability <= 1.0:
            raise ValueError(f"zero_probability must be in [0, 1], got {self.zero_probability}")
        if self.scale < 0:
            raise ValueError(f"scale must be >= 0 shares, got {self.scale}")
        if not (self.alpha > 0 and math.isfinite(self.alpha)):
            raise ValueError(f"alpha must be a positive number, got {self.alpha}")
        if self.lot_size < 1:
            raise ValueError(f"lot_size must be >= 1, got {self.lot_size}")
        if self.cap < 0:
            raise ValueError(f"cap must be >= 0 shares, got {self.cap}")

    def draw(self, rng: random.Random) -> int:
        """One ping. Always consumes two random numbers, so one draw's outcome does not
        shift the stream of later draws."""
        empty = rng.random() < self.zero_probability
        u = 1.0 - rng.random()  # in (0, 1]
        if empty or self.scale == 0:
            return 0
        # Pareto by inversion, in logs so a tiny alpha cannot overflow: tail = u**(-1/alpha).
        log_tail = -math.log(u) / self.alpha
        if log_tail >= math.log(self.cap / self.scale + 1):
            size = self.cap
        else:
            size = min(self.cap, int(self.scale * math.exp(log_tail)))
        return size // self.lot_size * self.lot_size


def _default_liquidity() -> HiddenLiquidity:
    return HiddenLiquidity(zero_probability=0.7, scale=500, alpha=1.5)


@dataclass(frozen=True, slots=True)
class DarkPoolSpec:
    """One pool's profile. ``fee_per_share`` may be negative (a rebate);
    ``adverse_selection_bps`` is how far the mid moves against each filled party."""

    min_qty: int = 100
    fee_per_share: Decimal = Decimal("0.0010")
    adverse_selection_bps: float = 0.0
    arrival_rate: float = 0.0
    crossing_interval_s: float | None = None
    liquidity: HiddenLiquidity = field(default_factory=_default_liquidity)

    def __post_init__(self) -> None:
        if self.min_qty < 1:
            raise ValueError(f"min_qty must be >= 1 share, got {self.min_qty}")
        if not math.isfinite(self.adverse_selection_bps):
            raise ValueError(f"adverse_selection_bps must be finite, got "
                             f"{self.adverse_selection_bps}")
        if not (self.arrival_rate >= 0 and math.isfinite(self.arrival_rate)):
            raise ValueError(f"arrival_rate must be >= 0 per second, got {self.arrival_rate}")
        if self.crossing_interval_s is not None and not (
            math.isfinite(self.crossing_interval_s)
            and round(self.crossing_interval_s * _NS_PER_S) >= 1
        ):
            raise ValueError(
                f"crossing_interval_s must be positive, got {self.crossing_interval_s}")


@dataclass(frozen=True, slots=True)
class DarkFill:
    """One execution at the midpoint; ``leaves`` is what the order still has open."""

    order_id: str
    owner: str
    side: Side
    qty: int
    price_half_ticks: int
    leaves: int


@dataclass(frozen=True, slots=True)
class Impulse:
    """A permanent price move for the market model; ``bps`` > 0 moves the price up."""

    symbol: str
    bps: float


@dataclass(frozen=True, slots=True)
class DarkResult:
    """Outcome of one call: fills, the impulses they cause, whether the submitted order
    rests, the IOC remainder canceled on submit, and a reject reason if it was refused."""

    fills: tuple[DarkFill, ...] = ()
    impulses: tuple[Impulse, ...] = ()
    rested: bool = False
    canceled_qty: int = 0
    reject: str | None = None


@dataclass(frozen=True, slots=True)
class DarkOrder:
    """A read-only view of a resting order (``resting``); ``min_qty`` as submitted."""

    order_id: str
    owner: str
    symbol: str
    side: Side
    qty: int
    leaves: int
    min_qty: int
    tif: TimeInForce
    limit_ticks: int | None
    entry_ns: int


@dataclass(slots=True, eq=False)
class _Order:
    order_id: str
    owner: str
    symbol: str
    side: Side
    qty: int
    leaves: int
    min_qty: int
    tif: TimeInForce
    limit_ticks: int | None
    entry_ns: int
    arrival_seq: int = 0
    """The sequence number of this order's pending arrival; older heap entries are stale."""

    def view(self) -> DarkOrder:
        return DarkOrder(self.order_id, self.owner, self.symbol, self.side, self.qty,
                         self.leaves, self.min_qty, self.tif, self.limit_ticks, self.entry_ns)


class DarkPool:
    """One dark pool's order state. ``submit``/``cancel`` are order entry, ``on_time``
    advances the clock (arrivals of contra liquidity, periodic crosses)."""

    def __init__(self, name: str, spec: DarkPoolSpec, seed: int, start_ns: int = 0) -> None:
        self.name = name
        self.spec = spec
        self._rng = random.Random(seed)
        self._orders: dict[str, _Order] = {}  # insertion order = submission order
        self._now = start_ns
        self._start_ns = start_ns
        self._interval_ns = (None if spec.crossing_interval_s is None
                             else round(spec.crossing_interval_s * _NS_PER_S))
        self._next_cross_ns = start_ns
        # Continuous mode: (arrival time, sequence, order id); stale entries are skipped.
        self._arrivals: list[tuple[int, int, str]] = []
        self._seq = 0

    # ------------------------------------------------------------------ public API

    def fee(self, qty: int) -> Decimal:
        """The pool's charge for ``qty`` shares executed."""
        return qty * self.spec.fee_per_share

    def submit(self, order_id: str, owner: str, symbol: str, side: Side, qty: int,
               min_qty: int, tif: TimeInForce, limit_ticks: int | None, nbbo: Nbbo,
               now_ns: int) -> DarkResult:
        """A new midpoint-pegged order. Continuous mode pings once now; the remainder of an
        IOC is canceled, a DAY remainder rests."""
        reason = self._refusal(order_id, qty, min_qty, tif)
        if reason is not None:
            return DarkResult(reject=reason)
        entry_ns = max(now_ns, self._now)
        order = _Order(order_id, owner, symbol, side, qty, qty, min_qty, tif, limit_ticks,
                       entry_ns)
        fills: list[tuple[str, DarkFill]] = []
        if self._interval_ns is None:
            fill = self._ping(order, nbbo)
            if fill is not None:
                fills.append((symbol, fill))
        result = DarkResult(tuple(f for _, f in fills), self._impulses(fills))
        if order.leaves == 0:
            return result
        if tif is TimeInForce.IOC:
            return replace(result, canceled_qty=order.leaves)
        self._orders[order_id] = order
        if self._interval_ns is None:
            self._schedule_arrival(order, entry_ns)
        return replace(result, rested=True)

    def on_time(self, now_ns: int, nbbos: Mapping[str, Nbbo]) -> DarkResult:
        """Advance to ``now_ns``: every arrival (continuous) or cross (periodic) due by then
        pings at the symbol's mid in ``nbbos`` (a symbol missing there cannot execute)."""
        if now_ns < self._now:
            return DarkResult()
        fills: list[tuple[str, DarkFill]] = []
        if self._interval_ns is None:
            self._run_arrivals(now_ns, nbbos, fills)
        else:
            self._run_crosses(now_ns, self._interval_ns, nbbos, fills)
        self._now = now_ns
        return DarkResult(tuple(f for _, f in fills), self._impulses(fills))

    def cancel(self, order_id: str) -> int | None:
        """Cancel a resting order: its leaves, or None if it is not resting here."""
        order = self._orders.pop(order_id, None)
        return None if order is None else order.leaves

    def resting(self, symbol: str) -> list[DarkOrder]:
        """The resting orders of ``symbol`` in submission order."""
        return [o.view() for o in self._orders.values() if o.symbol == symbol]

    def __len__(self) -> int:
        return len(self._orders)

    # ------------------------------------------------------------------ internals

    def _refusal(self, order_id: str, qty: int, min_qty: int, tif: TimeInForce) -> str | None:
        if qty <= 0:
            return f"quantity must be a positive number of shares, got {qty}"
        if min_qty < 0:
            return f"MinQty must not be negative, got {min_qty}"
        if min_qty > qty:
            return f"MinQty {min_qty} exceeds the order quantity {qty}"
        if tif not in (TimeInForce.DAY, TimeInForce.IOC):
            return f"{self.name} takes Day or IOC orders only, got TimeInForce {tif.name}"
        if order_id in self._orders:
            return f"duplicate order id {order_id!r}"
        return None

    def _effective_min(self, order: _Order) -> int:
        return min(order.leaves, max(order.min_qty, self.spec.min_qty))

    @staticmethod
    def _executable_mid(order: _Order, nbbo: Nbbo) -> int | None:
        """The mid in half-ticks if the order may execute there now, else None."""
        if nbbo is None:
            return None
        bid, ask = nbbo
        if bid >= ask:  # locked or crossed: no reliable midpoint
            return None
        mid = bid + ask
        if order.limit_ticks is not None:
            limit = 2 * order.limit_ticks
            if (mid > limit) if order.side is Side.BUY else (mid < limit):
                return None
        return mid

    def _ping(self, order: _Order, nbbo: Nbbo) -> DarkFill | None:
        """Draw the contra liquidity once and execute against it if it meets MinQty."""
        mid = self._executable_mid(order, nbbo)
        if mid is None:
            return None
        qty = min(order.leaves, self.spec.liquidity.draw(self._rng))
        if qty <= 0 or qty < self._effective_min(order):
            return None
        order.leaves -= qty
        return DarkFill(order.order_id, order.owner, order.side, qty, mid, order.leaves)

    def _schedule_arrival(self, order: _Order, after_ns: int) -> None:
        if self.spec.arrival_rate <= 0:
            return
        gap_s = min(self._rng.expovariate(self.spec.arrival_rate), _MAX_GAP_S)
        gap_ns = max(1, round(gap_s * _NS_PER_S))
        self._seq += 1
        order.arrival_seq = self._seq
        heapq.heappush(self._arrivals, (after_ns + gap_ns, self._seq, order.order_id))

    def _run_arrivals(self, now_ns: int, nbbos: Mapping[str, Nbbo],
                      fills: list[tuple[str, DarkFill]]) -> None:
        while self._arrivals and self._arrivals[0][0] <= now_ns:
            at_ns, seq, order_id = heapq.heappop(self._arrivals)
            order = self._orders.get(order_id)
            if order is None or order.arrival_seq != seq:
                continue  # canceled, filled, or a stale entry for a reused id
            fill = self._ping(order, nbbos.get(order.symbol))
            if fill is not None:
                fills.append((order.symbol, fill))
            if order.leaves == 0:
                del self._orders[order_id]
            else:
                self._schedule_arrival(order, at_ns)

    def _run_crosses(self, now_ns: int, interval_ns: int, nbbos: Mapping[str, Nbbo],
                     fills: list[tuple[str, DarkFill]]) -> None:
        while self._next_cross_ns <= now_ns:
            cross_ns = self._next_cross_ns
            if not self._orders:  # nothing to cross: skip straight past now_ns
                k = (now_ns - self._start_ns) // interval_ns + 1
                self._next_cross_ns = self._start_ns + k * interval_ns
                return
            for order in list(self._orders.values()):
                if order.entry_ns > cross_ns:
                    continue  # entered after this cross (submitted ahead of on_time)
                fill = self._ping(order, nbbos.get(order.symbol))
                if fill is not None:
                    fills.append((order.symbol, fill))
                if order.leaves == 0:
                    del self._orders[order.order_id]
            self._next_cross_ns = cross_ns + interval_ns

    def _impulses(self, fills: list[tuple[str, DarkFill]]) -> tuple[Impulse, ...]:
        """One impulse per fill, against the party that traded (up after a buy)."""
        bps = self.spec.adverse_selection_bps
        if bps == 0:
            return ()
        return tuple(Impulse(symbol, bps * f.side.sign) for symbol, f in fills)
