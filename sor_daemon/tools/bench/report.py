"""The benchmark's results as text and as PNG charts (from the result dicts alone)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MEASURES = (("pingpong_ack", "ack, ping-pong"), ("pingpong_fill", "fill, ping-pong"),
            ("half_load_ack", "ack, 50% load"), ("half_load_fill", "fill, 50% load"))
QS = ("p50", "p99", "p99.9")


def _decision_line(label: str, decision: dict[str, float]) -> str:
    return (f"  {label} p50 {decision['p50']:.1f} us, p99 {decision['p99']:.1f} us over "
            f"{decision['count']:,.0f}")


def bench_text(result: dict[str, Any]) -> str:
    paths, ratios, targets, met = (result[k] for k in ("paths", "ratios", "targets", "met"))
    base, daemon = paths["baseline"], paths["daemon"]
    options = result["options"]
    lines = [
        f"sor-daemon bench: {options['rounds']} rounds, every path in turn; "
        f"{options['orders']} orders per round and path in ping-pong and at 50% load, "
        f"{options['throughput_orders']} with {options['window']} in flight for throughput",
        "",
        f"{'round trip (us)':<20}{'baseline p50/p99/p99.9':>26}{'daemon p50/p99/p99.9':>26}"
        f"{'ratio p50/p99/p99.9':>24}",
    ]
    for key, label in MEASURES:
        b, d = base[f"{key}_us"], daemon[f"{key}_us"]
        r = [ratios[f"{key}_{q}"] for q in QS]
        lines.append(
            f"{label:<20}{'/'.join(f'{b[q]:.0f}' for q in QS):>26}"
            f"{'/'.join(f'{d[q]:.0f}' for q in QS):>26}"
            f"{'/'.join(f'{x:.2f}' for x in r):>24}")
    lines += [
        "",
        f"throughput (orders/s, each one child filled at once): baseline "
        f"{base['throughput_orders_per_s']:,.0f}, daemon {daemon['throughput_orders_per_s']:,.0f}"
        f", ratio {ratios['throughput']:.3f}",
        f"50% load: baseline at {base['half_load_rate']:,.0f}/s, daemon at "
        f"{daemon['half_load_rate']:,.0f}/s",
        "daemon decision latency (parent received -> first child handed to quickfix, its "
        "histogram):",
        _decision_line("ping-pong (the decision and its journal write)",
                       result["decision_pingpong_us"]),
        _decision_line("every phase (under load: the orders ahead of it in the loop too)",
                       result["decision_us"]),
        "peak RSS: " + ", ".join(f"{k.removesuffix('_peak_rss_mb')} {v:.0f} MB"
                                 for k, v in result["memory"].items()),
        "orders not filled: " + ", ".join(f"{name} {path['failed']}"
                                          for name, path in paths.items()),
        *_floor_lines(result),
        "",
        "targets:",
        f"  ack p50 ratio <= {targets['ack_p50']}: {ratios['pingpong_ack_p50']:.2f} "
        f"{_verdict(met['ack_p50'])}",
        f"  ack p99 ratio <= {targets['ack_p99']}: {ratios['pingpong_ack_p99']:.2f} "
        f"{_verdict(met['ack_p99'])}",
        f"  throughput ratio >= {targets['throughput']}: {ratios['throughput']:.3f} "
        f"{_verdict(met['throughput'])}",
        f"  decision p50 (ping-pong) <= {targets['decision_p50_us']} us: "
        f"{result['decision_pingpong_us']['p50']:.1f} us {_verdict(met['decision_p50_us'])}",
    ]
    return "\n".join(lines)


FLOOR_LABELS = {"relay_thread": "relay on quickfix's thread",
                "relay_loop": "relay through an event loop"}


def _floor_lines(result: dict[str, Any]) -> list[str]:
    """The floors: two hops through a relay with no logic, beside the baseline and the
    daemon."""
    lines = ["", "floors: the daemon's route through a relay with no logic (one parse, one "
                 "message built, one send per message)",
             f"{'':<32}{'ack p50/p99 us':>16}{'tput/s':>9}{'x baseline ack p50/tput':>26}"
             f"{'daemon x floor ack p50/tput':>30}"]
    for name, ratios in result["floors"].items():
        path = result["paths"][name]
        over, daemon = ratios["over_baseline"], ratios["daemon_over_floor"]
        lines.append(
            f"{FLOOR_LABELS.get(name, name):<32}"
            f"{path['pingpong_ack_us']['p50']:>8.0f}/{path['pingpong_ack_us']['p99']:<7.0f}"
            f"{path['throughput_orders_per_s']:>9,.0f}"
            f"{over['pingpong_ack_p50']:>18.2f} / {over['throughput']:<5.3f}"
            f"{daemon['pingpong_ack_p50']:>22.2f} / {daemon['throughput']:<5.3f}")
    return lines


def soak_text(result: dict[str, Any]) -> str:
    options = result["options"]
    lines = [f"sor-daemon bench --soak: {result['orders']:,} orders at "
             f"{options['rate']:,.0f}/s, {options['interval']:g} s slices", "",
             f"{'t (s)':>7}{'orders':>11}{'ack p50':>9}{'ack p99':>9}{'fill p50':>10}"
             f"{'fill p99':>10}{'RSS MB':>8}"]
    for s in result["slices"]:
        lines.append(f"{s['t_s']:>7.0f}{s['orders']:>11,}{s['ack_us']['p50']:>9.0f}"
                     f"{s['ack_us']['p99']:>9.0f}{s['fill_us']['p50']:>10.0f}"
                     f"{s['fill_us']['p99']:>10.0f}{s['rss_mb']:>8.1f}")
    lines += ["", f"daemon RSS: {result['rss_start_mb']} MB after warm-up, "
                  f"{result['rss_growth_mb']:+} MB from the first slice to the last (the "
                  f"completed-orders window and a minute of markouts filling), "
                  f"{result['rss_growth_second_half_mb']:+} MB over the second half "
                  f"({result['rss_growth_second_half_mb_per_million']:+} MB per million "
                  f"orders), peak {result['daemon_peak_rss_mb']} MB; orders not filled: "
                  f"{result['failed']}"]
    return "\n".join(lines)


PATH_COLORS = {"baseline": "#4c72b0", "relay_thread": "#55a868", "relay_loop": "#8c8c8c",
               "daemon": "#dd8452"}


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bench_chart(result: dict[str, Any], path: Path) -> Path:
    """Grouped bars: p50/p99/p99.9 of each round trip, every path side by side, log
    scale."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 5))
    names = list(result["paths"])
    width = 0.8 / (len(names) * len(QS))
    for m, (key, _) in enumerate(MEASURES):
        for p, path_name in enumerate(names):
            for qi, q in enumerate(QS):
                x = m + (p * len(QS) + qi - (len(names) * len(QS) - 1) / 2) * width
                value = result["paths"][path_name][f"{key}_us"][q]
                ax.bar(x, value, width, color=PATH_COLORS.get(path_name, "#8172b3"),
                       alpha=(1.0, 0.7, 0.45)[qi],
                       label=f"{path_name} {q}" if m == 0 else None)
    ax.set_xticks(range(len(MEASURES)), [label for _, label in MEASURES])
    ax.set_yscale("log")
    ax.set_ylabel("round trip, microseconds (log)")
    ratios = result["ratios"]
    ax.set_title(f"sor-daemon vs a bare quickfix echo: ack p50 x{ratios['pingpong_ack_p50']:.2f}"
                 f", throughput x{ratios['throughput']:.3f}")
    ax.legend(ncols=len(names), fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def soak_chart(result: dict[str, Any], path: Path) -> Path:
    """Latency percentiles and the daemon's RSS over the soak."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 5))
    t = [s["t_s"] for s in result["slices"]]
    for key, style in (("ack", "-"), ("fill", "--")):
        for q, color in (("p50", "#4c72b0"), ("p99", "#c44e52")):
            ax.plot(t, [s[f"{key}_us"][q] for s in result["slices"]], style, color=color,
                    label=f"{key} {q}")
    ax.set_xlabel("seconds")
    ax.set_ylabel("round trip, microseconds")
    ax.set_yscale("log")
    rss = ax.twinx()
    rss.plot(t, [s["rss_mb"] for s in result["slices"]], color="#55a868", label="RSS (MB)")
    rss.set_ylabel("daemon RSS, MB")
    rss.set_ylim(bottom=0)
    ax.set_title(f"soak: {result['orders']:,} orders at {result['options']['rate']:,.0f}/s")
    lines = ax.get_legend_handles_labels()
    extra = rss.get_legend_handles_labels()
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=8, loc="upper left")
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path
