"""The execution monitor: TCA per fill and per parent, markouts, rolling venue scorecards.

Pure: the daemon feeds it events with the time and gets records back (to export as
metrics and append to the TCA record file that `sor-daemon tca` reads). Per fill it does
a few Decimal operations and appends to deques; markouts wait in one queue per symbol
and horizon, in due order, so a quote touches only what is due.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from sor_daemon.core.analytics.tca import (
    effective_spread_bps,
    markout_bps,
    price_improvement_bps,
    shortfall_bps,
    slippage_bps,
)
from sor_daemon.core.domain import Side

NS = 1_000_000_000
HORIZONS: tuple[tuple[str, int], ...] = (("1s", NS), ("10s", 10 * NS), ("60s", 60 * NS))
"""Markout horizons: label, delay after the fill."""
MAX_PENDING_MARKOUTS = 100_000
"""Per symbol and horizon; beyond it the oldest are dropped (a symbol without quotes)."""


@dataclass(frozen=True, slots=True)
class FillRecord:
    parent: str
    strategy: str
    route: str
    """The venue, or BROKER>VENUE."""
    symbol: str
    side: str
    qty: int
    price: str
    fee: str
    time_ns: int
    slippage_bps: float | None
    """Against the parent's arrival mid (positive = cost); None without one."""
    effective_spread_bps: float | None
    price_improvement_bps: float | None
    fill_latency_s: float | None
    """Child sent -> this fill, for the child's first fill only."""
    liquidity: str | None = None
    """"added" (the child rested: passive), "removed" (it took), or None: not said."""
    type: str = "fill"


@dataclass(frozen=True, slots=True)
class ChildRecord:
    """A child order at its end: what was asked of a route and what it gave."""

    parent: str
    strategy: str
    route: str
    symbol: str
    side: str
    qty: int
    filled: int
    status: str
    """filled, canceled, rejected or expired."""
    ack_latency_s: float | None
    """Sent -> the venue's New (None: it never said New, e.g. rejected or filled at once)."""
    time_ns: int
    type: str = "child"


@dataclass(frozen=True, slots=True)
class MarkoutRecord:
    parent: str
    route: str
    symbol: str
    horizon: str
    qty: int
    markout_bps: float
    time_ns: int
    type: str = "markout"


@dataclass(frozen=True, slots=True)
class ParentRecord:
    parent: str
    strategy: str
    symbol: str
    side: str
    status: str
    qty: int
    filled: int
    avg_price: str | None
    arrival_mid: str | None
    fees: str
    arrival_slippage_bps: float | None
    shortfall_bps: float | None
    ack_latency_s: float | None
    duration_s: float
    time_ns: int
    type: str = "parent"


Record = FillRecord | MarkoutRecord | ParentRecord | ChildRecord
RECORD_TYPES: dict[str, type[Record]] = {"fill": FillRecord, "markout": MarkoutRecord,
                                         "parent": ParentRecord, "child": ChildRecord}
LIQUIDITY = {"1": "added", "2": "removed"}
"""LastLiquidityInd (851) values as the records spell them."""


_FIELDS = {cls: tuple(f.name for f in fields(cls)) for cls in RECORD_TYPES.values()}


def to_json(record: Record) -> dict[str, Any]:
    """A JSON-safe dict (prices as strings, exact). Records hold only flat values, so a
    shallow copy does (`dataclasses.asdict` deep-copies every value: 10x slower)."""
    return {name: getattr(record, name) for name in _FIELDS[type(record)]}


def from_json(data: dict[str, Any]) -> Record:
    return RECORD_TYPES[data["type"]](**data)


@dataclass(slots=True)
class _Parent:
    strategy: str
    symbol: str
    side: Side
    qty: int
    arrival_mid: Decimal | None
    arrived_ns: int
    acked_ns: int | None = None
    fees: Decimal = Decimal(0)


@dataclass(slots=True)
class _Pending:
    due_ns: int
    horizon: str
    parent: str
    route: str
    side: Side
    price: Decimal
    qty: int


# ------------------------------------------------------------------ scorecards


@dataclass(slots=True)
class _Bucket:
    second: int
    sent: int = 0
    filled: int = 0
    children: int = 0
    rejects: int = 0
    slippage_qty: float = 0.0
    slippage_shares: int = 0
    markout_qty: dict[str, float] = field(default_factory=dict)
    markout_shares: dict[str, int] = field(default_factory=dict)
    ack_sum: float = 0.0
    acks: int = 0
    outages: int = 0


@dataclass(frozen=True, slots=True)
class Scorecard:
    """One route over the rolling window (None where there is nothing to average)."""

    fill_rate: float | None
    """Shares filled / shares of finished children."""
    reject_rate: float | None
    slippage_bps: float | None
    markout_bps: dict[str, float]
    ack_latency_s: float | None
    outages: int
    children: int


class Scorecards:
    """Per route, one-second buckets over the last ``window_s`` seconds: O(1) per event."""

    def __init__(self, window_s: int = 300) -> None:
        self.window_s = window_s
        self._buckets: dict[str, deque[_Bucket]] = {}

    def bucket(self, route: str, now_ns: int) -> _Bucket:
        second = now_ns // NS
        buckets = self._buckets.setdefault(route, deque())
        if not buckets or buckets[-1].second != second:
            buckets.append(_Bucket(second))
            while buckets[0].second <= second - self.window_s:
                buckets.popleft()
        return buckets[-1]

    def snapshot(self, now_ns: int) -> dict[str, Scorecard]:
        cutoff = now_ns // NS - self.window_s
        cards = {}
        for route, buckets in self._buckets.items():
            live = [b for b in buckets if b.second > cutoff]
            sent = sum(b.sent for b in live)
            children = sum(b.children for b in live)
            slip_shares = sum(b.slippage_shares for b in live)
            acks = sum(b.acks for b in live)
            markouts: dict[str, float] = {}
            for horizon, _ in HORIZONS:
                shares = sum(b.markout_shares.get(horizon, 0) for b in live)
                if shares:
                    markouts[horizon] = sum(b.markout_qty.get(horizon, 0.0)
                                            for b in live) / shares
            cards[route] = Scorecard(
                fill_rate=sum(b.filled for b in live) / sent if sent else None,
                reject_rate=sum(b.rejects for b in live) / children if children else None,
                slippage_bps=(sum(b.slippage_qty for b in live) / slip_shares
                              if slip_shares else None),
                markout_bps=markouts,
                ack_latency_s=sum(b.ack_sum for b in live) / acks if acks else None,
                outages=sum(b.outages for b in live),
                children=children,
            )
        return cards


# ------------------------------------------------------------------ the monitor


class ExecutionMonitor:
    def __init__(self, window_s: int = 300) -> None:
        self.scorecards = Scorecards(window_s)
        self._parents: dict[str, _Parent] = {}
        self._pending: dict[tuple[str, str], deque[_Pending]] = {}

    def parent_arrived(self, parent: str, strategy: str, symbol: str, side: Side, qty: int,
                       arrival_mid: Decimal | None, now_ns: int) -> None:
        self._parents[parent] = _Parent(strategy, symbol, side, qty, arrival_mid, now_ns)

    def parent_acked(self, parent: str, now_ns: int) -> None:
        state = self._parents.get(parent)
        if state is not None and state.acked_ns is None:
            state.acked_ns = now_ns

    def child_acked(self, route: str, latency_s: float, now_ns: int) -> None:
        bucket = self.scorecards.bucket(route, now_ns)
        bucket.ack_sum += latency_s
        bucket.acks += 1

    def child_ended(self, parent: str, strategy: str, symbol: str, side: Side, route: str,
                    qty: int, filled: int, status: str, ack_latency_s: float | None,
                    now_ns: int) -> ChildRecord:
        """A child's end: the route's fill and reject rates, and its record."""
        bucket = self.scorecards.bucket(route, now_ns)
        bucket.children += 1
        if status == "rejected":
            bucket.rejects += 1
        else:
            bucket.sent += qty
            bucket.filled += filled
        return ChildRecord(parent, strategy, route, symbol, side.name.lower(), qty, filled,
                           status, ack_latency_s, now_ns)

    def venue_down(self, route: str, now_ns: int) -> None:
        self.scorecards.bucket(route, now_ns).outages += 1

    def fill(self, parent: str, route: str, qty: int, price: Decimal, fee: Decimal,
             bid: Decimal | None, ask: Decimal | None, sent_ns: int | None,
             now_ns: int, liquidity: str | None = None) -> FillRecord:
        """One fill; ``sent_ns`` is its child's send time on its first fill, else None."""
        state = self._parents[parent]
        state.fees += fee
        side = state.side
        slippage = (slippage_bps(side, price, state.arrival_mid)
                    if state.arrival_mid else None)
        mid = (bid + ask) / 2 if bid is not None and ask is not None else None
        record = FillRecord(
            parent=parent, strategy=state.strategy, route=route, symbol=state.symbol,
            side=side.name.lower(), qty=qty, price=str(price), fee=str(fee), time_ns=now_ns,
            slippage_bps=slippage,
            effective_spread_bps=effective_spread_bps(side, price, mid) if mid else None,
            price_improvement_bps=(price_improvement_bps(side, price, bid, ask)
                                   if mid else None),
            fill_latency_s=(now_ns - sent_ns) / NS if sent_ns is not None else None,
            liquidity=LIQUIDITY.get(liquidity) if liquidity is not None else None,
        )
        if slippage is not None:
            bucket = self.scorecards.bucket(route, now_ns)
            bucket.slippage_qty += slippage * qty
            bucket.slippage_shares += qty
        for horizon, delay in HORIZONS:
            queue = self._pending.setdefault((state.symbol, horizon), deque())
            queue.append(_Pending(now_ns + delay, horizon, parent, route, side, price, qty))
            if len(queue) > MAX_PENDING_MARKOUTS:
                queue.popleft()
        return record

    def quote(self, symbol: str, mid: Decimal | None, now_ns: int) -> list[MarkoutRecord]:
        """The mid of ``symbol`` now, on each new one and on the daemon's timer (so a quiet
        book still gets its markouts on time): the markouts due are taken at it (one queue
        per symbol and horizon, in due order: only what is due is touched). Without a mid
        (no two-sided NBBO) they wait, but no longer than their horizon once due: then
        they are dropped, unmeasurable. So the queues hold about a horizon of fills."""
        done: list[MarkoutRecord] = []
        for horizon, delay in HORIZONS:
            queue = self._pending.get((symbol, horizon))
            if mid is None:
                while queue and queue[0].due_ns <= now_ns - delay:
                    queue.popleft()
                continue
            while queue and queue[0].due_ns <= now_ns:
                item = queue.popleft()
                bps = markout_bps(item.side, item.price, mid)
                bucket = self.scorecards.bucket(item.route, now_ns)
                bucket.markout_qty[horizon] = bucket.markout_qty.get(horizon, 0.0) + bps * item.qty
                bucket.markout_shares[horizon] = bucket.markout_shares.get(horizon, 0) + item.qty
                done.append(MarkoutRecord(item.parent, item.route, symbol, horizon, item.qty,
                                          bps, now_ns))
        return done

    def parent_ended(self, parent: str, status: str, filled: int, notional: Decimal,
                     final_mid: Decimal | None, now_ns: int) -> ParentRecord | None:
        state = self._parents.pop(parent, None)
        if state is None:
            return None
        arrival = state.arrival_mid
        avg = notional / filled if filled else None
        return ParentRecord(
            parent=parent, strategy=state.strategy, symbol=state.symbol,
            side=state.side.name.lower(), status=status, qty=state.qty, filled=filled,
            avg_price=str(avg) if avg is not None else None,
            arrival_mid=str(arrival) if arrival is not None else None, fees=str(state.fees),
            arrival_slippage_bps=(slippage_bps(state.side, avg, arrival)
                                  if avg is not None and arrival else None),
            shortfall_bps=(shortfall_bps(state.side, state.qty, filled, notional, state.fees,
                                         arrival, final_mid) if arrival else None),
            ack_latency_s=((state.acked_ns - state.arrived_ns) / NS
                           if state.acked_ns is not None else None),
            duration_s=(now_ns - state.arrived_ns) / NS, time_ns=now_ns,
        )
