"""`sor-daemon bench` in miniature, so that it keeps working: every path over real FIX
(the echo, the relays and the daemon as separate processes), a few hundred orders, every
report and chart written. It asserts what was measured, never how fast (that is the benchmark's to
report)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sor_daemon.tools.bench import report
from sor_daemon.tools.bench.run import (
    FLOORS,
    PATHS,
    BenchOptions,
    SoakOptions,
    run_bench,
    run_soak,
    write_json,
)

pytestmark = pytest.mark.integration


@pytest.mark.timeout(180)
def test_bench_measures_every_path_and_writes_its_reports(tmp_path: Path):
    options = BenchOptions(orders=100, rounds=2, window=8, throughput_orders=300, warmup=50)
    result = run_bench(options, progress=False)
    assert set(result["paths"]) == set(PATHS)
    for path in PATHS:
        measured = result["paths"][path]
        assert measured["failed"] == 0
        for key in ("pingpong_ack_us", "pingpong_fill_us", "half_load_ack_us",
                    "half_load_fill_us"):
            assert measured[key]["count"] == options.rounds * options.orders
            assert 0 < measured[key]["p50"] <= measured[key]["p99"] <= measured[key]["p99.9"]
        assert measured["throughput_orders_per_s"] > 0
        assert len(measured["throughput_by_round"]) == options.rounds
        assert measured["pingpong_ack_us"]["p50"] <= measured["pingpong_fill_us"]["p50"]
    assert all(math.isfinite(v) and v > 0 for v in result["ratios"].values())
    assert set(result["floors"]) == set(FLOORS)
    for floor in result["floors"].values():
        for ratios in floor.values():
            assert ratios.keys() == result["ratios"].keys()
            assert all(math.isfinite(v) and v > 0 for v in ratios.values())
    # every daemon order after the warm-up went through the decision histogram
    parents = options.rounds * (2 * options.orders + options.throughput_orders)
    assert result["decision_us"]["count"] == parents
    assert 0 < result["decision_us"]["p50"] <= result["decision_us"]["p99"]
    assert result["decision_pingpong_us"]["count"] == options.rounds * options.orders
    assert result["memory"]["daemon_peak_rss_mb"] > 0
    assert set(result["met"]) == set(result["targets"])
    saved = json.loads(write_json(result, tmp_path).read_text())
    assert saved["ratios"] == pytest.approx(result["ratios"])
    text = report.bench_text(result)
    assert "ack, ping-pong" in text
    assert all(label in text for label in report.FLOOR_LABELS.values())
    assert report.bench_chart(result, tmp_path / "bench.png").stat().st_size > 10_000


@pytest.mark.timeout(120)
def test_soak_reports_latency_and_memory_over_time(tmp_path: Path):
    result = run_soak(SoakOptions(seconds=3, rate=200, interval=1), progress=False)
    assert result["failed"] == 0
    assert len(result["slices"]) >= 2
    assert result["orders"] == sum(200 for _ in result["slices"])
    assert all(s["ack_us"]["count"] == 200 and s["rss_mb"] > 0 for s in result["slices"])
    assert "RSS" in report.soak_text(result)
    assert report.soak_chart(result, tmp_path / "soak.png").stat().st_size > 10_000
