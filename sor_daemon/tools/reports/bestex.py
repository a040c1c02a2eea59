"""`sor-daemon bestex`: a best-execution report shaped like the MiFID II RTS 28 "top five
execution venues" table, from the TCA record file the daemon appends.

One class of instrument (Equities, shares); client type is not applicable. Per venue
(the part of a route after ``>``), ranked by volume:

- volume %: the venue's notional (sum of qty * price of its fills) over the total;
- orders %: the venue's executed child orders (ChildRecord with filled > 0) over all
  executed child orders;
- passive % / aggressive %: RTS 28 counts executed orders that added / removed
  liquidity. FillRecord has no child id, so here *fills* are counted: the venue's fills
  flagged ``liquidity == "added"`` (passive) or ``"removed"`` (aggressive) over all its
  fills. Unflagged fills (dark midpoint fills often say nothing) count as neither, so the
  two may add up to less than 100;
- directed %: not available (a parent pinned with ExDestination is directed, but the
  records do not say which were), printed "n/a";
- extras: share-weighted slippage and price improvement (bps, positive slippage = cost),
  share-weighted 1s markout, fill rate (shares filled / shares asked of children not
  rejected) and reject rate (rejected children / all children).

Each record belongs to the period by its own ``time_ns`` (a fill's: when it happened, a
child's: when it ended, a markout's: when it was taken): ``since`` inclusive, ``until``
exclusive. The same table per broker (the part before ``>``) stands in for RTS 28's
"top five investment firms" to which orders were transmitted.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from sor_daemon.core.analytics.monitor import ChildRecord, FillRecord, MarkoutRecord
from sor_daemon.tools.reports.tca import Records, ReportError, _fmt, _weighted, load_records

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

INSTRUMENT_CLASS = "Equities \u2013 shares"
"""The one class reported (RTS 28 Annex I class (a), equities; not split by tick-size
liquidity band)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Grouping = Literal["venue", "broker"]
_R = TypeVar("_R", FillRecord, ChildRecord, MarkoutRecord)


@dataclass(frozen=True)
class VenueRow:
    """One venue (or broker) over the period; percentages are 0-100, None: nothing to
    divide by."""

    name: str
    notional: float
    shares: int
    fills: int
    executed_orders: int
    """Child orders with filled > 0."""
    volume_pct: float | None
    orders_pct: float | None
    passive_pct: float | None
    """Of this venue's fills, those that added liquidity (fills, not orders)."""
    aggressive_pct: float | None
    """Of this venue's fills, those that removed liquidity (fills, not orders)."""
    slippage_bps: float | None
    improvement_bps: float | None
    markout_1s_bps: float | None
    fill_rate_pct: float | None
    reject_rate_pct: float | None


@dataclass(frozen=True)
class Summary:
    """Totals of the period and the RTS 28 low-activity notification."""

    instrument_class: str
    period_from: datetime
    period_to: datetime
    to_exclusive: bool
    """True when ``period_to`` is the given ``until``; False: it is the last fill."""
    fills: int
    shares: int
    notional: float
    executed_orders: int
    business_days: int
    """Mon-Fri dates (UTC) the period touches; at least 1."""
    trades_per_business_day: float
    below_one_trade_per_day: bool
    """The "Notification if < 1 average trade per business day" flag (Y)."""


# ------------------------------------------------------------------ time


class WhenError(ValueError, argparse.ArgumentTypeError):
    """A bad date or time; also an ArgumentTypeError, so argparse shows the message."""


def parse_when(text: str) -> datetime:
    """``2026-11-24``, ``2026-11-24T10:00`` or ``2026-11-24T10:00:00Z`` (any ISO 8601
    date or date-time); naive means UTC. Returns an aware UTC datetime."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise WhenError(f"not a date or time: {text!r} (expected e.g. 2026-11-24, "
                        "2026-11-24T10:00 or 2026-11-24T10:00:00Z, UTC)") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def to_ns(when: datetime) -> int:
    """Nanoseconds since the epoch (naive means UTC), exact to the microsecond."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - EPOCH) // timedelta(microseconds=1) * 1000


def from_ns(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1000)


def business_days(start: datetime, end: datetime, end_exclusive: bool) -> int:
    """Mon-Fri dates from ``start``'s to ``end``'s (UTC); an exclusive end at midnight
    does not touch its date."""
    first = start.astimezone(UTC).date()
    last_moment = end - timedelta(microseconds=1) if end_exclusive else end
    last = last_moment.astimezone(UTC).date()
    days = (last - first).days + 1
    if days <= 0:
        return 0
    weeks, rest = divmod(days, 7)
    return weeks * 5 + sum((first.weekday() + i) % 7 < 5 for i in range(rest))


# ------------------------------------------------------------------ computation


def in_period(records: Records, since_ns: int | None = None,
              until_ns: int | None = None) -> Records:
    """The records with ``since_ns <= time_ns < until_ns`` (either bound optional)."""

    def keep(time_ns: int) -> bool:
        return ((since_ns is None or time_ns >= since_ns)
                and (until_ns is None or time_ns < until_ns))

    return Records(fills=[r for r in records.fills if keep(r.time_ns)],
                   markouts=[r for r in records.markouts if keep(r.time_ns)],
                   parents=[r for r in records.parents if keep(r.time_ns)],
                   children=[r for r in records.children if keep(r.time_ns)])


def route_key(route: str, by: Grouping) -> str | None:
    """``BROKER>VENUE`` or ``VENUE``: the venue, or the broker (None: no broker)."""
    broker, sep, venue = route.partition(">")
    if by == "venue":
        return venue if sep else broker
    return broker if sep else None


def _group(items: Iterable[_R], by: Grouping) -> dict[str, list[_R]]:
    groups: dict[str, list[_R]] = defaultdict(list)
    for item in items:
        key = route_key(item.route, by)
        if key is not None:
            groups[key].append(item)
    return groups


def _notional(fills: Iterable[FillRecord]) -> float:
    return float(sum((f.qty * Decimal(f.price) for f in fills), Decimal(0)))


def _pct(part: float, whole: float) -> float | None:
    return 100 * part / whole if whole else None


def venue_rows(records: Records, since_ns: int | None = None, until_ns: int | None = None,
               top: int = 5, by: Grouping = "venue") -> list[VenueRow]:
    """The ``top`` venues (or brokers) with fills in the period, by notional, descending
    (ties by name). Volume and order percentages are of the whole class, direct routes
    included, so broker rows need not add up to 100."""
    if by not in ("venue", "broker"):
        raise ValueError(f"by must be 'venue' or 'broker', not {by!r}")
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    period = in_period(records, since_ns, until_ns)
    total_notional = _notional(period.fills)
    total_executed = sum(1 for c in period.children if c.filled > 0)
    children = _group(period.children, by)
    markouts = _group((m for m in period.markouts if m.horizon == "1s"), by)
    rows = []
    for name, fills in _group(period.fills, by).items():
        mine = children.get(name, [])
        live = [c for c in mine if c.status != "rejected"]
        executed = sum(1 for c in mine if c.filled > 0)
        notional = _notional(fills)
        rows.append(VenueRow(
            name=name, notional=notional, shares=sum(f.qty for f in fills), fills=len(fills),
            executed_orders=executed,
            volume_pct=_pct(notional, total_notional),
            orders_pct=_pct(executed, total_executed),
            passive_pct=_pct(sum(f.liquidity == "added" for f in fills), len(fills)),
            aggressive_pct=_pct(sum(f.liquidity == "removed" for f in fills), len(fills)),
            slippage_bps=_weighted((f.slippage_bps, f.qty) for f in fills),
            improvement_bps=_weighted((f.price_improvement_bps, f.qty) for f in fills),
            markout_1s_bps=_weighted((m.markout_bps, m.qty) for m in markouts.get(name, [])),
            fill_rate_pct=_pct(sum(c.filled for c in live), sum(c.qty for c in live)),
            reject_rate_pct=_pct(len(mine) - len(live), len(mine)),
        ))
    rows.sort(key=lambda row: (-row.notional, row.name))
    return rows[:top]


def summarize(records: Records, since_ns: int | None = None,
              until_ns: int | None = None) -> Summary:
    """Totals of the period. The period runs from ``since`` (else the first fill) to
    ``until`` (exclusive; else the last fill, inclusive). Trades are fills; a period
    that touches no business day counts as one. Raises ReportError without fills."""
    period = in_period(records, since_ns, until_ns)
    if not period.fills:
        raise ReportError(f"no fills in the period ({period_text(since_ns, until_ns)})")
    times = [f.time_ns for f in period.fills]
    start = from_ns(since_ns if since_ns is not None else min(times))
    end = from_ns(until_ns if until_ns is not None else max(times))
    days = max(1, business_days(start, end, until_ns is not None))
    per_day = len(period.fills) / days
    return Summary(
        instrument_class=INSTRUMENT_CLASS, period_from=start, period_to=end,
        to_exclusive=until_ns is not None, fills=len(period.fills),
        shares=sum(f.qty for f in period.fills), notional=_notional(period.fills),
        executed_orders=sum(1 for c in period.children if c.filled > 0),
        business_days=days, trades_per_business_day=per_day,
        below_one_trade_per_day=per_day < 1,
    )


def period_text(since_ns: int | None, until_ns: int | None) -> str:
    """``from X before Y`` (UTC), either part optional: the period for a message."""
    def stamp(ns: int) -> str:
        return f"{from_ns(ns):%Y-%m-%d %H:%M:%S} UTC"

    parts = ([] if since_ns is None else [f"from {stamp(since_ns)}"]) + (
        [] if until_ns is None else [f"before {stamp(until_ns)}"])
    return " ".join(parts) or "all records"


# ------------------------------------------------------------------ printing

VENUE_HEADER = ["venue", "volume %", "orders %", "passive %", "aggressive %", "directed %",
                "slippage bps", "price impr bps", "markout 1s bps", "fill rate %",
                "reject rate %"]
BROKER_HEADER = ["broker", "volume %", "orders %", "passive %", "aggressive %",
                 "directed %"]
FOOTNOTES = (
    "volume %: notional (qty x price) of the venue's fills over the class total; "
    "orders %: child orders with a fill, ended in the period, over all such orders.",
    "passive % / aggressive %: the records hold no child id per fill, so FILLS are "
    "counted, not orders: fills that added / removed liquidity over the venue's fills; "
    "unflagged fills (often dark midpoint) count as neither.",
    "directed %: n/a - a parent pinned with ExDestination is directed, but the records "
    "do not say which parents were.",
    "bps: slippage vs the parent's arrival mid, positive = cost; markout: positive = the "
    "market moved our way; all share-weighted. Fill rate excludes rejected children.",
)


def _table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def print_bestex(summary: Summary, rows: list[VenueRow], broker_rows: list[VenueRow],
                 console: Console | None = None) -> None:
    """The header lines, the venue table, the broker table (or a line: none) and the
    footnotes."""
    from rich.console import Console

    console = console or Console(width=max(150, Console().width))

    def line(text: str = "") -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    ends = "exclusive" if summary.to_exclusive else "last fill, inclusive"
    line(f"Class of instrument: {summary.instrument_class}")
    line("Client type: not applicable (the records do not split retail and professional "
         "clients)")
    line(f"Period: {summary.period_from:%Y-%m-%d %H:%M:%S} UTC to "
         f"{summary.period_to:%Y-%m-%d %H:%M:%S} UTC ({ends})")
    line("Notification if < 1 average trade per business day in the previous year: "
         f"{'Y' if summary.below_one_trade_per_day else 'N'} ({summary.fills} fills over "
         f"{summary.business_days} business days in the period: "
         f"{summary.trades_per_business_day:.2f} per day)")
    line(f"Total: {summary.fills} fills, {summary.shares} shares, notional "
         f"{summary.notional:,.2f}, {summary.executed_orders} executed child orders")
    console.print(_table(
        f"Top {len(rows)} execution venues ranked in terms of trading volumes "
        "(descending order)", VENUE_HEADER,
        [[r.name, _fmt(r.volume_pct), _fmt(r.orders_pct), _fmt(r.passive_pct),
          _fmt(r.aggressive_pct), "n/a", _fmt(r.slippage_bps), _fmt(r.improvement_bps),
          _fmt(r.markout_1s_bps), _fmt(r.fill_rate_pct), _fmt(r.reject_rate_pct)]
         for r in rows]))
    if broker_rows:
        console.print(_table(
            f"Top {len(broker_rows)} brokers to which orders were transmitted, ranked by "
            "volume (% of the whole class, direct routes included)", BROKER_HEADER,
            [[r.name, _fmt(r.volume_pct), _fmt(r.orders_pct), _fmt(r.passive_pct),
              _fmt(r.aggressive_pct), "n/a"] for r in broker_rows]))
    else:
        line("Brokers: none (every order went direct to a venue)")
    for note in FOOTNOTES:
        line(note)


def main(records_path: Path, since: datetime | None, until: datetime | None,
         top: int = 5) -> int:
    """Print the report: 0; a bad records file, bad arguments or no fills in the period:
    one line on stderr, 1."""
    since_ns = to_ns(since) if since is not None else None
    until_ns = to_ns(until) if until is not None else None
    if top < 1:
        print(f"--top must be at least 1 (got {top})", file=sys.stderr)
        return 1
    if since_ns is not None and until_ns is not None and since_ns >= until_ns:
        print("--since must be before --until", file=sys.stderr)
        return 1
    try:
        records = load_records(records_path)
    except ReportError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        summary = summarize(records, since_ns, until_ns)
    except ReportError as exc:
        print(f"{records_path}: {exc}", file=sys.stderr)
        return 1
    print_bestex(summary, venue_rows(records, since_ns, until_ns, top),
                 venue_rows(records, since_ns, until_ns, top, by="broker"))
    return 0
