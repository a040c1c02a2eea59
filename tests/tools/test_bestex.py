"""`sor_daemon.tools.reports.bestex`: the RTS 28-style best-execution report from TCA
record files."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from sor_daemon.core.analytics.monitor import (
    NS,
    ChildRecord,
    FillRecord,
    MarkoutRecord,
    Record,
    to_json,
)
from sor_daemon.tools.reports.bestex import (
    business_days,
    main,
    parse_when,
    route_key,
    summarize,
    to_ns,
    venue_rows,
)
from sor_daemon.tools.reports.tca import Records, ReportError, load_records

approx = pytest.approx
TUESDAY = datetime(2026, 11, 24, tzinfo=UTC)
T0 = to_ns(TUESDAY.replace(hour=10))


def fill(route: str, qty: int, price: str, at: int = T0, slip: float | None = None,
         impr: float | None = None, liq: str | None = None) -> FillRecord:
    return FillRecord(parent="P", strategy="s", route=route, symbol="AAPL", side="buy",
                      qty=qty, price=price, fee="0", time_ns=at, slippage_bps=slip,
                      effective_spread_bps=None, price_improvement_bps=impr,
                      fill_latency_s=None, liquidity=liq)


def child(route: str, qty: int, filled: int, status: str, at: int = T0) -> ChildRecord:
    return ChildRecord(parent="P", strategy="s", route=route, symbol="AAPL", side="buy",
                       qty=qty, filled=filled, status=status, ack_latency_s=None, time_ns=at)


def markout(route: str, qty: int, bps: float, horizon: str = "1s") -> MarkoutRecord:
    return MarkoutRecord(parent="P", route=route, symbol="AAPL", horizon=horizon, qty=qty,
                         markout_bps=bps, time_ns=T0 + NS)


def write(path: Path, records: list[Record]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(to_json(r)) + b"\n" for r in records))
    return path


# XNAS: 50,000 notional (one fill of it via BRKA), ARCX 15,000, DARKA 10,000 via BRKA.
SAMPLE: list[Record] = [
    fill("XNAS", 100, "100.00", slip=2.0, impr=0.5, liq="removed"),
    fill("XNAS", 300, "100.00", slip=1.0, impr=1.0, liq="added"),
    fill("BRKA>XNAS", 100, "100.00", slip=None, liq="removed"),
    fill("ARCX", 200, "75.00", slip=-1.0, liq="removed"),
    fill("BRKA>DARKA", 100, "100.00", slip=0.0),
    child("XNAS", 400, 400, "filled"),
    child("XNAS", 200, 0, "canceled"),
    child("XNAS", 100, 0, "rejected"),
    child("BRKA>XNAS", 100, 100, "filled"),
    child("ARCX", 300, 200, "canceled"),
    child("BRKA>DARKA", 500, 100, "expired"),
    child("BRKA>DARKA", 100, 0, "rejected"),
    markout("XNAS", 100, 2.0),
    markout("XNAS", 300, -1.0),
    markout("BRKA>XNAS", 100, 4.0),
    markout("XNAS", 100, 50.0, horizon="10s"),
    markout("BRKA>DARKA", 100, -3.0),
]


@pytest.fixture
def sample(tmp_path: Path) -> Records:
    return load_records(write(tmp_path / "tca.jsonl", SAMPLE))


def test_route_key():
    assert route_key("XNAS", "venue") == "XNAS"
    assert route_key("BRKA>DARKA", "venue") == "DARKA"
    assert route_key("BRKA>DARKA", "broker") == "BRKA"
    assert route_key("XNAS", "broker") is None


def test_venue_rows(sample: Records):
    rows = venue_rows(sample)
    assert [r.name for r in rows] == ["XNAS", "ARCX", "DARKA"]
    xnas, arcx, darka = rows
    # Volume: 50,000 / 15,000 / 10,000 of 75,000.
    assert (xnas.notional, xnas.shares, xnas.fills) == (50_000, 500, 3)
    assert xnas.volume_pct == approx(200 / 3)
    assert arcx.volume_pct == approx(20.0)
    assert darka.volume_pct == approx(40 / 3)
    # Executed children: XNAS 2 (one via BRKA), ARCX 1, DARKA 1 of 4.
    assert (xnas.executed_orders, xnas.orders_pct) == (2, approx(50.0))
    assert arcx.orders_pct == approx(25.0) and darka.orders_pct == approx(25.0)
    # Passive / aggressive by fills; DARKA's unflagged fill is neither.
    assert xnas.passive_pct == approx(100 / 3) and xnas.aggressive_pct == approx(200 / 3)
    assert (arcx.passive_pct, arcx.aggressive_pct) == (approx(0.0), approx(100.0))
    assert (darka.passive_pct, darka.aggressive_pct) == (approx(0.0), approx(0.0))
    # Share-weighted, None left out: (2*100 + 1*300) / 400; (0.5*100 + 1*300) / 400.
    assert xnas.slippage_bps == approx(1.25)
    assert xnas.improvement_bps == approx(0.875)
    assert arcx.slippage_bps == approx(-1.0) and arcx.improvement_bps is None
    # 1s markouts only, BRKA>XNAS counted for XNAS: (200 - 300 + 400) / 500.
    assert xnas.markout_1s_bps == approx(0.6)
    assert darka.markout_1s_bps == approx(-3.0) and arcx.markout_1s_bps is None
    # Fill rate without rejected children: XNAS 500 of 700; reject rate 1 of 4 children.
    assert xnas.fill_rate_pct == approx(500 / 7) and xnas.reject_rate_pct == approx(25.0)
    assert arcx.fill_rate_pct == approx(200 / 3) and arcx.reject_rate_pct == approx(0.0)
    assert darka.fill_rate_pct == approx(20.0) and darka.reject_rate_pct == approx(50.0)


def test_broker_rows(sample: Records):
    (brka,) = venue_rows(sample, by="broker")
    assert brka.name == "BRKA"
    assert brka.notional == 20_000 and brka.volume_pct == approx(80 / 3)  # of all 75,000
    assert brka.orders_pct == approx(50.0)  # BRKA>XNAS and BRKA>DARKA of 4 executed
    assert (brka.passive_pct, brka.aggressive_pct) == (approx(0.0), approx(50.0))
    assert brka.reject_rate_pct == approx(100 / 3)
    assert brka.fill_rate_pct == approx(100 * 200 / 600)


def test_top_n_and_arguments(tmp_path: Path):
    venues = ["V1", "V2", "V3", "V4", "V5", "V6", "V7"]
    records = load_records(write(tmp_path / "tca.jsonl", [
        fill(v, 100 * (i + 1), "10") for i, v in enumerate(venues)]))
    rows = venue_rows(records)
    assert [r.name for r in rows] == ["V7", "V6", "V5", "V4", "V3"]
    assert rows[0].volume_pct == approx(700 / 28)  # of the total, not of the top five
    assert [r.name for r in venue_rows(records, top=2)] == ["V7", "V6"]
    assert venue_rows(records, by="broker") == []
    with pytest.raises(ValueError, match="top"):
        venue_rows(records, top=0)


def test_period_since_inclusive_until_exclusive(tmp_path: Path):
    since, until = T0, T0 + 60 * NS
    records = load_records(write(tmp_path / "tca.jsonl", [
        fill("XNAS", 100, "10", at=since - 1),
        fill("XNAS", 200, "10", at=since),
        fill("ARCX", 300, "10", at=until - 1),
        fill("BATX", 400, "10", at=until),
        child("XNAS", 200, 200, "filled", at=since),
        child("BATX", 400, 400, "filled", at=until),
    ]))
    rows = venue_rows(records, since, until)
    assert [(r.name, r.shares) for r in rows] == [("ARCX", 300), ("XNAS", 200)]
    assert rows[1].orders_pct == approx(100.0)  # BATX's child ended at `until`: out
    assert rows[0].orders_pct == approx(0.0)
    summary = summarize(records, since, until)
    assert (summary.fills, summary.shares) == (2, 500)
    assert summary.period_from == TUESDAY.replace(hour=10)
    assert summary.to_exclusive
    assert [r.shares for r in venue_rows(records, since_ns=since)] == [400, 300, 200]
    assert [r.shares for r in venue_rows(records, until_ns=since + 1)] == [300]  # XNAS: both


def test_business_days_and_notification(tmp_path: Path):
    monday = TUESDAY - timedelta(days=1)
    next_monday = monday + timedelta(days=7)
    assert business_days(monday, next_monday, end_exclusive=True) == 5
    assert business_days(monday, next_monday, end_exclusive=False) == 6
    assert business_days(monday - timedelta(days=2), monday, end_exclusive=True) == 0
    records = load_records(write(tmp_path / "tca.jsonl", [
        fill("XNAS", 100, "10", at=T0 + i * NS) for i in range(3)]))
    week = summarize(records, to_ns(monday), to_ns(next_monday))
    assert week.business_days == 5 and week.trades_per_business_day == approx(0.6)
    assert week.below_one_trade_per_day
    # Without bounds: the first to the last fill, one Tuesday: 3 trades a day.
    day = summarize(records)
    assert day.business_days == 1 and not day.below_one_trade_per_day
    assert not day.to_exclusive and day.period_to == TUESDAY.replace(hour=10, second=2)
    # Five fills over five business days: 1.0 a day, not below one.
    five = load_records(write(tmp_path / "five.jsonl", [
        fill("XNAS", 100, "10", at=to_ns(monday) + i * 86_400 * NS) for i in range(5)]))
    assert not summarize(five, to_ns(monday), to_ns(next_monday)).below_one_trade_per_day
    with pytest.raises(ReportError, match="no fills in the period"):
        summarize(records, until_ns=T0)


def test_parse_when():
    assert parse_when("2026-11-24") == TUESDAY
    assert parse_when("2026-11-24T10:00") == TUESDAY.replace(hour=10)
    assert parse_when("2026-11-24T10:00:00Z") == TUESDAY.replace(hour=10)
    assert parse_when("2026-11-24T11:00:00+01:00") == TUESDAY.replace(hour=10)
    assert parse_when("2026-11-24T11:00:00+01:00").tzinfo == UTC
    with pytest.raises(ValueError, match="not a date or time: 'yesterday'"):
        parse_when("yesterday")
    # As an argparse type the message reaches the user.
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--since", type=parse_when)
    with pytest.raises(argparse.ArgumentError, match=r"expected e\.g\. 2026-11-24"):
        parser.parse_args(["--since", "24/11/2026"])


def test_main_prints_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = write(tmp_path / "tca.jsonl", SAMPLE)
    assert main(path, parse_when("2026-11-24"), parse_when("2026-11-25")) == 0
    out = capsys.readouterr().out
    assert "Class of instrument: Equities \u2013 shares" in out
    assert "Client type: not applicable" in out
    assert "Period: 2026-11-24 00:00:00 UTC to 2026-11-25 00:00:00 UTC (exclusive)" in out
    assert "in the previous year: N (5 fills over 1 business days" in out
    xnas = next(line for line in out.splitlines() if "XNAS" in line)
    for value in ("66.67", "50.00", "33.33", "n/a", "1.25", "0.88", "0.60", "71.43"):
        assert value in xnas
    brka = next(line for line in out.splitlines() if "BRKA" in line)
    assert "26.67" in brka and "50.00" in brka
    assert "DARKA" in out and "BRKA>" not in out
    assert "FILLS are counted, not orders" in out
    assert "directed %: n/a" in out


def test_main_without_brokers(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = write(tmp_path / "tca.jsonl", [fill("XNAS", 100, "10")])
    assert main(path, None, None, top=1) == 0
    out = capsys.readouterr().out
    assert "Brokers: none" in out
    assert "(last fill, inclusive)" in out


def test_main_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(tmp_path / "none.jsonl", None, None) == 1
    err = capsys.readouterr().err
    assert "no such records file" in err and len(err.strip().splitlines()) == 1
    path = write(tmp_path / "tca.jsonl", SAMPLE)
    assert main(path, parse_when("2026-11-25"), None) == 1
    err = capsys.readouterr().err
    assert err.strip() == (f"{path}: no fills in the period "
                           "(from 2026-11-25 00:00:00 UTC)")
    assert main(path, parse_when("2026-11-25"), parse_when("2026-11-24")) == 1
    assert "--since must be before --until" in capsys.readouterr().err
    assert main(path, None, None, top=0) == 1
    assert "--top must be at least 1" in capsys.readouterr().err
