"""`sor-daemon tca`: tables and charts from records written by the real monitor."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson

from sor_daemon.core.analytics.monitor import NS, ExecutionMonitor, to_json
from sor_daemon.core.domain import Side

D = Decimal


def write_records(path: Path) -> None:
    monitor = ExecutionMonitor()
    records = []
    monitor.parent_arrived("P1", "sweep", "AAPL", Side.BUY, 500, D("100.00"), 0)
    monitor.parent_acked("P1", NS // 1000)
    records.append(monitor.fill("P1", "XNAS", 300, D("100.01"), D("0.90"), D("99.99"),
                                D("100.01"), NS // 500, NS))
    records.append(monitor.fill("P1", "ARCX", 200, D("100.02"), D("-0.10"), D("99.99"),
                                D("100.02"), NS // 500, NS))
    monitor.parent_arrived("P2", "dark-first", "AAPL", Side.SELL, 400, D("100.00"), NS)
    records.append(monitor.fill("P2", "BRKA>DARKA", 400, D("100.00"), D("0.40"), D("99.99"),
                                D("100.01"), NS, 2 * NS))
    records.append(monitor.child_ended("P1", "sweep", "AAPL", Side.BUY, "XNAS", 400, 300,
                                       "canceled", 0.0005, NS))
    records.append(monitor.child_ended("P1", "sweep", "AAPL", Side.BUY, "ARCX", 100, 0,
                                       "rejected", None, NS))
    records.append(monitor.child_ended("P1", "sweep", "AAPL", Side.BUY, "ARCX", 200, 200,
                                       "filled", 0.001, NS))
    records += monitor.quote("AAPL", D("100.03"), 3 * NS)
    records.append(monitor.parent_ended("P1", "filled", 500, D("50007.00"), D("100.03"),
                                        3 * NS))
    records.append(monitor.parent_ended("P2", "filled", 400, D("40000.00"), D("100.03"),
                                        3 * NS))
    path.write_bytes(b"".join(orjson.dumps(to_json(r)) + b"\n" for r in records))


def run_tca(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sor_daemon", "tca", *args],
                          capture_output=True, text=True, timeout=120)


def test_tables_and_charts(tmp_path: Path):
    records = tmp_path / "tca.jsonl"
    write_records(records)
    result = run_tca("--records", str(records), "--out", str(tmp_path / "charts"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for route in ("XNAS", "ARCX", "BRKA>DARKA"):
        assert route in out
    # P1: 500 bought for 50,007 (avg 100.014) vs arrival 100.00 -> 1.40 bps; with 0.80 of
    # fees the shortfall is 7.80 / 50,000 = 1.56 bps.
    sweep = next(line for line in out.splitlines() if "sweep" in line)
    assert "1.40" in sweep and "1.56" in sweep and "100.0" in sweep
    # The dark sell at 100.00 with the mid 100.03 one second later: -3.00 bps markout.
    dark = next(line for line in out.splitlines() if "BRKA>DARKA" in line)
    assert "-3.00" in dark
    # Children: XNAS filled 300 of 400 asked; ARCX one reject and 200 of 200.
    xnas = next(line for line in out.splitlines() if line.lstrip("│ ").startswith("XNAS"))
    assert "75.0" in xnas and "0.50" in xnas   # fill rate %, ack p50 ms
    arcx = next(line for line in out.splitlines() if line.lstrip("│ ").startswith("ARCX"))
    assert "100.0" in arcx and "50.0" in arcx  # fill rate %, reject %
    for name in ("slippage.png", "markouts.png", "venues.png"):
        png = tmp_path / "charts" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10_000


def test_missing_and_bad_record_files(tmp_path: Path):
    result = run_tca("--records", str(tmp_path / "none.jsonl"))
    assert result.returncode == 1 and "no such records file" in result.stderr
    assert "Traceback" not in result.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "fill"}\n')
    result = run_tca("--records", str(bad))
    assert result.returncode == 1 and f"{bad}:1: not a TCA record" in result.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run_tca("--records", str(empty))
    assert result.returncode == 1 and "no fills or orders recorded yet" in result.stderr
