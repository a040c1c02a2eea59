"""The lab's results: per scenario and strategy, means of every metric and the paired
differences of implementation shortfall against the baselines with 95% bootstrap CIs;
a printed table, a JSON file and PNG charts."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson

METRICS = ("is_bps", "slippage_bps", "fill_rate", "fees_bps", "price_improvement_bps",
           "markout_1s_bps", "markout_10s_bps", "dark_share", "trade_through_share",
           "time_to_fill_s")
BASELINES = ("best-price", "round-robin")
RESAMPLES = 2000


def bootstrap_ci(values: Sequence[float], seed: int = 0,
                 resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """The mean and its 95% percentile-bootstrap interval."""
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return mean, float(min(low, mean)), float(max(high, mean))


def summarise(rows: Sequence[dict[str, object]],
              strategies: Sequence[str]) -> dict[str, dict[str, dict[str, object]]]:
    """scenario -> strategy -> {metric means, parents, paired IS differences}."""
    by: dict[str, dict[str, dict[str, dict[str, object]]]] = defaultdict(
        lambda: defaultdict(dict))
    for row in rows:
        by[str(row["scenario"])][str(row["strategy"])][str(row["parent"])] = row
    out: dict[str, dict[str, dict[str, object]]] = {}
    for scenario, per in by.items():
        out[scenario] = {}
        for strategy in strategies:
            runs = per.get(strategy, {})
            stats: dict[str, object] = {"parents": len(runs)}
            for metric in METRICS:
                values = [r[metric] for r in runs.values() if r.get(metric) is not None]
                stats[metric] = float(np.mean(values)) if values else None
            for base in BASELINES:
                if base not in per or base == strategy:
                    continue
                common = sorted(runs.keys() & per[base].keys())
                diffs = [float(runs[p]["is_bps"]) - float(per[base][p]["is_bps"])
                         for p in common]
                if diffs:
                    mean, low, high = bootstrap_ci(diffs)
                    stats[f"is_vs_{base}"] = {"mean": mean, "low": low, "high": high,
                                              "pairs": len(diffs)}
            out[scenario][strategy] = stats
    return out


def _num(value: object, fmt: str = "{:+.2f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def _diff(stats: dict[str, object], base: str) -> str:
    d = stats.get(f"is_vs_{base}")
    if not isinstance(d, dict):
        return "-"
    mark = "*" if d["high"] < 0 or d["low"] > 0 else " "
    return f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]{mark}"


COLUMNS = ("strategy", "n", "IS bps", "dIS vs best-price [95% CI]",
           "dIS vs round-robin [95% CI]", "slip bps", "fill %", "fees bps", "PI bps",
           "mo 1s", "mo 10s", "dark %", "TT %", "ttf s")


def table_rows(stats: dict[str, dict[str, object]]) -> list[list[str]]:
    out = []
    for strategy, s in stats.items():
        pct = (lambda v: None if v is None else 100 * v)  # noqa: E731
        out.append([
            strategy, str(s["parents"]), _num(s["is_bps"]), _diff(s, "best-price"),
            _diff(s, "round-robin"), _num(s["slippage_bps"]),
            _num(pct(s["fill_rate"]), "{:.1f}"), _num(s["fees_bps"]),
            _num(s["price_improvement_bps"]), _num(s["markout_1s_bps"]),
            _num(s["markout_10s_bps"]), _num(pct(s["dark_share"]), "{:.1f}"),
            _num(pct(s["trade_through_share"]), "{:.1f}"),
            _num(s["time_to_fill_s"], "{:.2f}"),
        ])
    return out


def print_tables(summary: dict[str, dict[str, dict[str, object]]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    for scenario, stats in summary.items():
        table = Table(title=f"{scenario}: implementation shortfall and execution quality "
                            "(* = CI excludes 0; lower IS is better)")
        for column in COLUMNS:
            table.add_column(column, justify="left" if column == "strategy" else "right")
        for row in table_rows(stats):
            table.add_row(*row)
        console.print(table)


def markdown(summary: dict[str, dict[str, dict[str, object]]]) -> str:
    """The tables as Markdown (for the README)."""
    lines = []
    for scenario, stats in summary.items():
        lines += [f"**{scenario}**", "", "| " + " | ".join(COLUMNS) + " |",
                  "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(row) + " |" for row in table_rows(stats)]
        lines.append("")
    return "\n".join(lines)


def charts(summary: dict[str, dict[str, dict[str, object]]], out: Path) -> list[Path]:
    """Per scenario: each strategy's IS difference against best-price with its CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    scenarios = list(summary)
    fig, axes = plt.subplots(len(scenarios), 1, figsize=(8, 2.2 * len(scenarios) + 0.5),
                             squeeze=False)
    for ax, scenario in zip(axes[:, 0], scenarios, strict=True):
        names, means, errs = [], [], [[], []]
        for strategy, s in summary[scenario].items():
            d = s.get("is_vs_best-price")
            if not isinstance(d, dict):
                continue
            names.append(strategy)
            means.append(d["mean"])
            errs[0].append(d["mean"] - d["low"])
            errs[1].append(d["high"] - d["mean"])
        ax.barh(names, means, xerr=errs, color=["tab:red" if m > 0 else "tab:green"
                                                 for m in means], capsize=3)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"{scenario}: IS minus best-price's, same parents (bps, 95% CI)",
                     fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    path = out / "lab-is-vs-best-price.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    return paths


def write(result: dict[str, object], out: Path) -> tuple[dict, list[Path]]:
    """``lab.json`` (settings, speed, summary, every row) and the charts under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    strategies = result["settings"]["strategies"]  # type: ignore[index]
    summary = summarise(result["rows"], strategies)  # type: ignore[arg-type]
    result = {**result, "summary": summary}
    (out / "lab.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return summary, charts(summary, out)
