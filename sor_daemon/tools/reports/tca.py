"""`sor-daemon tca`: tables and charts from the records the daemon appended
(`[monitor] records`): per strategy and per route (venue, or BROKER>VENUE)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sor_daemon.core.analytics.monitor import (
    HORIZONS,
    ChildRecord,
    FillRecord,
    MarkoutRecord,
    ParentRecord,
    from_json,
)


class ReportError(Exception):
    """No usable records: the message says why, in one line."""


@dataclass
class Records:
    fills: list[FillRecord] = field(default_factory=list)
    markouts: list[MarkoutRecord] = field(default_factory=list)
    parents: list[ParentRecord] = field(default_factory=list)
    children: list[ChildRecord] = field(default_factory=list)


def load_records(path: Path) -> Records:
    if not path.is_file():
        raise ReportError(f"{path}: no such records file (the daemon writes it: "
                          "[monitor] records in its config)")
    records = Records()
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = from_json(orjson.loads(line))
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ReportError(f"{path}:{number}: not a TCA record ({exc})") from None
        match record:
            case FillRecord():
                records.fills.append(record)
            case MarkoutRecord():
                records.markouts.append(record)
            case ParentRecord():
                records.parents.append(record)
            case ChildRecord():
                records.children.append(record)
    if not records.parents and not records.fills:
        raise ReportError(f"{path}: no fills or orders recorded yet")
    return records


def _mean(values: Iterable[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.fmean(found) if found else None


def _weighted(pairs: Iterable[tuple[float | None, int]]) -> float | None:
    found = [(v, w) for v, w in pairs if v is not None]
    total = sum(w for _, w in found)
    return sum(v * w for v, w in found) / total if total else None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fmt(value: float | None, digits: int = 2, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def strategy_rows(records: Records) -> list[list[str]]:
    by_strategy: dict[str, list[ParentRecord]] = defaultdict(list)
    for parent in records.parents:
        by_strategy[parent.strategy].append(parent)
    rows = []
    for name, parents in sorted(by_strategy.items()):
        qty, filled = sum(p.qty for p in parents), sum(p.filled for p in parents)
        acks = [p.ack_latency_s for p in parents if p.ack_latency_s is not None]
        rows.append([
            name, str(len(parents)), f"{100 * filled / qty:.1f}" if qty else "-",
            _fmt(_weighted((p.arrival_slippage_bps, p.filled) for p in parents)),
            _fmt(_weighted((p.shortfall_bps, p.qty) for p in parents)),
            _fmt(_quantile(acks, 0.5), 2, 1e3), _fmt(_quantile(acks, 0.95), 2, 1e3),
        ])
    return rows


@dataclass
class RouteStats:
    fills: int = 0
    shares: int = 0
    slippage: float | None = None
    improvement: float | None = None
    markouts: dict[str, float | None] = field(default_factory=dict)
    fill_latency: list[float] = field(default_factory=list)
    children: int = 0
    rejected: int = 0
    asked: int = 0
    """Shares asked of children that were not rejected (the fill-rate denominator)."""
    filled: int = 0
    ack_latency: list[float] = field(default_factory=list)

    @property
    def fill_rate(self) -> float | None:
        return self.filled / self.asked if self.asked else None

    @property
    def reject_rate(self) -> float | None:
        return self.rejected / self.children if self.children else None


def route_stats(records: Records) -> dict[str, RouteStats]:
    stats: dict[str, RouteStats] = defaultdict(RouteStats)
    by_route: dict[str, list[FillRecord]] = defaultdict(list)
    for fill in records.fills:
        by_route[fill.route].append(fill)
    for route, fills in by_route.items():
        s = stats[route]
        s.fills, s.shares = len(fills), sum(f.qty for f in fills)
        s.slippage = _weighted((f.slippage_bps, f.qty) for f in fills)
        s.improvement = _weighted((f.price_improvement_bps, f.qty) for f in fills)
        s.fill_latency = [f.fill_latency_s for f in fills if f.fill_latency_s is not None]
    marks: dict[tuple[str, str], list[MarkoutRecord]] = defaultdict(list)
    for markout in records.markouts:
        marks[(markout.route, markout.horizon)].append(markout)
    for (route, horizon), found in marks.items():
        stats[route].markouts[horizon] = _weighted((m.markout_bps, m.qty) for m in found)
    for child in records.children:
        s = stats[child.route]
        s.children += 1
        if child.status == "rejected":
            s.rejected += 1
        else:
            s.asked += child.qty
            s.filled += child.filled
        if child.ack_latency_s is not None:
            s.ack_latency.append(child.ack_latency_s)
    return dict(sorted(stats.items()))


def route_rows(stats: dict[str, RouteStats]) -> list[list[str]]:
    return [[route, str(s.children), _fmt(s.fill_rate, 1, 100), _fmt(s.reject_rate, 1, 100),
             str(s.fills), str(s.shares), _fmt(s.slippage), _fmt(s.improvement),
             *(_fmt(s.markouts.get(h)) for h, _ in HORIZONS),
             _fmt(_quantile(s.ack_latency, 0.5), 2, 1e3),
             _fmt(_quantile(s.fill_latency, 0.5), 2, 1e3),
             _fmt(_quantile(s.fill_latency, 0.99), 2, 1e3)]
            for route, s in stats.items()]


STRATEGY_HEADER = ["strategy", "parents", "filled %", "arrival slip bps", "shortfall bps",
                   "ack p50 ms", "ack p95 ms"]
ROUTE_HEADER = ["route", "children", "fill rate %", "reject %", "fills", "shares",
                "slippage bps", "price impr bps",
                *(f"markout {h} bps" for h, _ in HORIZONS), "ack p50 ms", "1st fill p50 ms",
                "1st fill p99 ms"]


def print_tables(records: Records, stats: dict[str, RouteStats]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(200, Console().width))
    for title, header, rows in (
        ("By strategy (bps: positive = cost; shortfall includes fees and unfilled shares)",
         STRATEGY_HEADER, strategy_rows(records)),
        ("By route (markouts: positive = the market moved our way, negative = adverse)",
         ROUTE_HEADER, route_rows(stats)),
    ):
        table = Table(title=title, title_justify="left")
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right", no_wrap=i == 0)
        for row in rows:
            table.add_row(*row)
        console.print(table)


def write_charts(records: Records, stats: dict[str, RouteStats], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []

    fig, ax = plt.subplots(figsize=(8, 4.5))
    by_strategy: dict[str, list[float]] = defaultdict(list)
    for parent in records.parents:
        if parent.arrival_slippage_bps is not None:
            by_strategy[parent.strategy].append(parent.arrival_slippage_bps)
    if by_strategy:
        ax.hist(list(by_strategy.values()), bins=20, label=list(by_strategy), stacked=True)
        ax.legend(title="strategy")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(title="Arrival slippage per parent order", xlabel="bps (positive = cost)",
           ylabel="parent orders")
    written.append(_save(fig, out / "slippage.png"))

    fig, ax = plt.subplots(figsize=(8, 4.5))
    seconds = [delay / 1e9 for _, delay in HORIZONS]
    for route, s in stats.items():
        points = [(t, s.markouts.get(h)) for t, (h, _) in zip(seconds, HORIZONS, strict=True)]
        points = [(t, v) for t, v in points if v is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=route)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xticks(seconds, [h for h, _ in HORIZONS])
    ax.set(title="Markouts by route (share-weighted)", xlabel="time after the fill",
           ylabel="bps (negative = adverse selection)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title="route")
    written.append(_save(fig, out / "markouts.png"))

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    routes = list(stats)
    x = range(len(routes))

    def bars(axis: Any, series: dict[str, list[float]]) -> None:
        width = 0.8 / len(series)
        for n, (label, values) in enumerate(series.items()):
            axis.bar([i - 0.4 + width * (n + 0.5) for i in x], values, width=width,
                     label=label)
        axis.set_xticks(list(x), routes)
        axis.tick_params(axis="x", rotation=30)
        axis.legend()

    bars(left, {"fill rate": [(s.fill_rate or 0) * 100 for s in stats.values()],
                "reject rate": [(s.reject_rate or 0) * 100 for s in stats.values()]})
    left.set(title="Fill and reject rate by route (children)", ylabel="%", ylim=(0, 100))
    bars(right, {name: [(_quantile(values(s), q) or 0) * 1e3 for s in stats.values()]
                 for name, values, q in (
                     ("ack p50", lambda s: s.ack_latency, 0.5),
                     ("ack p99", lambda s: s.ack_latency, 0.99),
                     ("1st fill p50", lambda s: s.fill_latency, 0.5),
                     ("1st fill p99", lambda s: s.fill_latency, 0.99))})
    right.set(title="Latency by route: child sent -> venue ack, -> first fill",
              ylabel="milliseconds")
    written.append(_save(fig, out / "venues.png"))
    return written


def _save(fig: object, path: Path) -> Path:
    fig.tight_layout()  # type: ignore[attr-defined]
    fig.savefig(path, dpi=110)  # type: ignore[attr-defined]
    import matplotlib.pyplot as plt

    plt.close(fig)  # type: ignore[arg-type]
    return path


def report(records_path: Path, out: Path) -> list[Path]:
    records = load_records(records_path)
    stats = route_stats(records)
    print_tables(records, stats)
    return write_charts(records, stats, out)
