"""Pre-trade risk checks, the per-session message throttle, and the kill switch.

Pure: the engine asks with the order, the NBBO and the time; nothing here reads a clock
or a socket. A breach comes back as a `Rejection` whose Text names the limit and the
value, so the OMS (and its trader) can see at once which control refused the order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sor_daemon.core.domain import OrdRejReason, OrdType, Side
from sor_daemon.core.intake import Rejection
from sor_daemon.core.market import Nbbo

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits that apply to one order: a session's merged with its symbol's."""

    max_order_qty: int | None = None
    max_notional: Decimal | None = None
    price_collar_bps: float | None = None
    max_open_orders: int | None = None
    restricted: bool = False


@dataclass(frozen=True, slots=True)
class SessionRules:
    """One OMS session's limits and message rate (None: unlimited)."""

    limits: Limits = Limits()
    restricted_symbols: frozenset[str] = frozenset()
    messages_per_second: int | None = None
    burst: int | None = None
    cancels_per_second: int | None = None
    cancel_burst: int | None = None


def _tighter(a: float | Decimal | int | None, b: float | Decimal | int | None):
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


class Throttle:
    """A token bucket: ``rate`` messages per second, up to ``burst`` at once."""

    def __init__(self, rate: int, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._at_ns: int | None = None

    def allow(self, now_ns: int) -> bool:
        if self._at_ns is not None and now_ns > self._at_ns:
            self._tokens = min(self.burst, self._tokens + (now_ns - self._at_ns) * self.rate / NS)
        self._at_ns = now_ns if self._at_ns is None else max(self._at_ns, now_ns)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class RiskChecks:
    """Limits per OMS session and per symbol; the tighter of the two applies."""

    def __init__(self, sessions: Mapping[str, SessionRules], default: SessionRules,
                 symbols: Mapping[str, Limits] | None = None) -> None:
        self._sessions = dict(sessions)
        self._default = default
        self._symbols = dict(symbols or {})
        self._merged: dict[tuple[str, str], Limits] = {}
        self._throttles: dict[tuple[str, bool], Throttle | None] = {}

    def rules(self, session: str) -> SessionRules:
        return self._sessions.get(session, self._default)

    def limits(self, session: str, symbol: str) -> Limits:
        key = (session, symbol)
        found = self._merged.get(key)
        if found is None:
            rules = self.rules(session)
            mine, theirs = rules.limits, self._symbols.get(symbol, Limits())
            found = self._merged[key] = Limits(
                _tighter(mine.max_order_qty, theirs.max_order_qty),
                _tighter(mine.max_notional, theirs.max_notional),
                _tighter(mine.price_collar_bps, theirs.price_collar_bps),
                mine.max_open_orders,
                theirs.restricted or symbol in rules.restricted_symbols,
            )
        return found

    def admit(self, session: str, now_ns: int, cancel: bool = False) -> Rejection | None:
        """The session's throttle: None, or why this message is refused. Orders and
        replaces draw on one allowance, cancels and status requests (``cancel``) on
        another."""
        key = (session, cancel)
        if key not in self._throttles:
            rules = self.rules(session)
            rate, burst = ((rules.cancels_per_second, rules.cancel_burst) if cancel
                           else (rules.messages_per_second, rules.burst))
            self._throttles[key] = Throttle(rate, burst or rate) if rate is not None else None
        throttle = self._throttles[key]
        if throttle is None or throttle.allow(now_ns):
            return None
        what = "cancel and status requests" if cancel else "messages"
        return Rejection(OrdRejReason.ORDER_EXCEEDS_LIMIT,
                         f"throttled: more than {throttle.rate} {what} per second "
                         f"(burst {throttle.burst}) from this session")

    def check_order(self, session: str, symbol: str, side: Side, ord_type: OrdType,
                    qty: int, price: Decimal | None, nbbo: Nbbo,
                    open_orders: int | None = None) -> Rejection | None:
        """A new order (``open_orders``: the session's working parents) or the terms of a
        replace (``open_orders`` None): None when within every limit."""
        limits = self.limits(session, symbol)
        if limits.restricted:
            return Rejection(OrdRejReason.BROKER_OPTION,
                             f"restricted symbol {symbol}: not traded by this router")
        if limits.max_order_qty is not None and qty > limits.max_order_qty:
            return _breach(f"OrderQty (38) {qty} is above max_order_qty {limits.max_order_qty}")
        if open_orders is not None and limits.max_open_orders is not None \
                and open_orders >= limits.max_open_orders:
            return _breach(f"{open_orders} orders already open: max_open_orders is "
                           f"{limits.max_open_orders}")
        far = nbbo.ask if side is Side.BUY else nbbo.bid
        if limits.max_notional is not None:
            reference = price if ord_type is OrdType.LIMIT else (far.price if far else None)
            if reference is None:
                return _breach(f"no {'offer' if side is Side.BUY else 'bid'} for {symbol} to "
                               f"value a market order against max_notional")
            notional = reference * qty
            if notional > limits.max_notional:
                return _breach(f"notional {notional:f} ({qty} x {reference}) is above "
                               f"max_notional {limits.max_notional}")
        if limits.price_collar_bps is not None and price is not None:
            mid = nbbo.mid
            if mid is None:
                return _breach(f"no NBBO for {symbol} to check the price collar against")
            through = (price - mid if side is Side.BUY else mid - price) / mid * 10_000
            if through > Decimal(str(limits.price_collar_bps)):
                word = "above" if side is Side.BUY else "below"
                return _breach(f"Price (44) {price} is {abs(through):.0f} bps {word} the NBBO "
                               f"mid {mid} (price_collar_bps {limits.price_collar_bps:g})")
        return None


def _breach(text: str) -> Rejection:
    return Rejection(OrdRejReason.ORDER_EXCEEDS_LIMIT, f"risk limit: {text}")


# ------------------------------------------------------------------ kill switch


ALL = "*"
"""The kill switch's scope for everything (otherwise a symbol)."""


@dataclass(frozen=True, slots=True)
class Halt:
    scope: str
    """`ALL`, or the symbol halted."""
    reason: str
    by: str
    """"operator" or the breaker that engaged it."""
    since_ns: int


class Burst:
    """Counts events in a sliding window: trips once ``limit`` fall within it."""

    def __init__(self, limit: int, window_s: int) -> None:
        self.limit, self.window_ns = limit, window_s * NS
        self._times: deque[int] = deque()

    def add(self, now_ns: int) -> bool:
        if self.limit <= 0:
            return False
        times = self._times
        times.append(now_ns)
        while times and times[0] <= now_ns - self.window_ns:
            times.popleft()
        return len(times) >= self.limit


@dataclass
class KillSwitch:
    """Halts, global or per symbol. Engaged by an operator or a breaker; only an operator
    resumes."""

    reject_burst: Burst = field(default_factory=lambda: Burst(0, 1))
    venue_error_burst: Burst = field(default_factory=lambda: Burst(0, 1))
    market_data_loss: bool = False
    halts: dict[str, Halt] = field(default_factory=dict)

    @property
    def engaged(self) -> bool:
        return ALL in self.halts

    def refusal(self, symbol: str) -> str | None:
        """Why a new order for ``symbol`` is refused now, if it is."""
        halt = self.halts.get(ALL) or self.halts.get(symbol)
        if halt is None:
            return None
        what = "kill switch engaged" if halt.scope == ALL else f"{symbol} halted"
        return (f"{what} ({halt.reason}, by {halt.by}): new orders are refused until an "
                f"operator resumes")

    def engage(self, scope: str, reason: str, by: str, now_ns: int) -> Halt | None:
        """The new halt, or None when that scope was already halted."""
        if scope in self.halts:
            return None
        halt = self.halts[scope] = Halt(scope, reason, by, now_ns)
        return halt

    def resume(self) -> list[Halt]:
        """Lift every halt; returns those lifted."""
        lifted = list(self.halts.values())
        self.halts.clear()
        return lifted

    def child_rejected(self, now_ns: int) -> str | None:
        if self.reject_burst.add(now_ns):
            return (f"{self.reject_burst.limit} child rejects within "
                    f"{self.reject_burst.window_ns // NS} s")
        return None

    def venue_error(self, now_ns: int) -> str | None:
        if self.venue_error_burst.add(now_ns):
            return (f"{self.venue_error_burst.limit} venue errors within "
                    f"{self.venue_error_burst.window_ns // NS} s")
        return None
