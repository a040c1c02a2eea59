"""The audit trail: the writer's durability modes, rotation and failure handling, the
reader's tolerance of a crash's half line, and one parent order's lifecycle rebuilt from a
hand-built trail."""

from __future__ import annotations

import errno
import io
import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from sor_daemon.service.audit import BATCH_BYTES, AuditError, AuditTrail
from sor_daemon.tools.reports.audit import (
    AuditReportError,
    TrailStats,
    fix_fields,
    lifecycle,
    main,
    print_lifecycle,
    read_trail,
)

SOH = "\x01"


def fix(msg_type: str, *fields: tuple[int, object], seq: int = 1) -> str:
    """A FIX message as quickfix hands it over (checksum not computed)."""
    pairs = [(8, "FIX.4.4"), (9, "0"), (35, msg_type), (34, seq), *fields, (10, "000")]
    return SOH.join(f"{tag}={value}" for tag, value in pairs) + SOH


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


# ----------------------------------------------------------------------- writer


def test_records_round_trip_with_index_keys_and_readable_fix(tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    report = fix("8", (37, "O1"), (11, "CL1"), (17, "E1"), (150, "F"), (39, "1"),
                 (55, "AAPL"), (32, "100"), (31, "190.02"), (58, "partial fill"))
    with AuditTrail(path) as trail:
        trail.message("out", "oms:OMS1", report, 1_000)
        trail.message("in", "XNAS", fix("D", (11, "C1"), (55, "AAPL"), (110, "5")), 2_000)
        trail.event("decision", 3_000, order_id="O1", parent="CL1", strategy="sweep",
                    children=[{"venue": "XNAS", "qty": 100, "price": Decimal("190.05")}])
    first, second, third = list(read_trail(path))
    assert first == {
        "ts": 1_000, "kind": "fix", "dir": "out", "cpty": "oms:OMS1", "msg_type": "8",
        "seq": "1", "order_id": "O1", "cl_ord_id": "CL1", "exec_id": "E1", "exec_type": "F",
        "ord_status": "1", "symbol": "AAPL", "text": "partial fill",
        "fix": report.replace(SOH, "|"),
    }
    assert list(first)[:4] == ["ts", "kind", "dir", "cpty"] and list(first)[-1] == "fix"
    # Absent tags are omitted; 110 (MinQty) is not 11.
    assert second == {"ts": 2_000, "kind": "fix", "dir": "in", "cpty": "XNAS",
                      "msg_type": "D", "seq": "1", "cl_ord_id": "C1", "symbol": "AAPL",
                      "fix": second["fix"]}
    assert third == {"ts": 3_000, "kind": "decision", "order_id": "O1", "parent": "CL1",
                     "strategy": "sweep",
                     "children": [{"venue": "XNAS", "qty": 100, "price": "190.05"}]}


def test_an_event_field_that_is_not_json_is_refused(tmp_path: Path):
    with AuditTrail(tmp_path / "audit.jsonl") as trail, pytest.raises(TypeError):
        trail.event("admin", 1, command=object())


def test_fsync_mode_writes_and_fsyncs_every_record_before_returning(tmp_path: Path,
                                                                    fsyncs: list[int]):
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path, durability="fsync")
    for n in range(3):
        trail.message("in", "oms:OMS1", fix("D", (11, f"CL{n}")), n)
        assert len(lines(path)) == n + 1
        assert len(fsyncs) == n + 1
    trail.event("kill_switch", 9, engaged=True, reason="test")
    assert len(fsyncs) == 4
    trail.close()
    assert len(fsyncs) == 4  # nothing left to sync
    assert [r["ts"] for r in lines(path)] == [0, 1, 2, 9]


def test_batch_mode_writes_nothing_until_flush_then_fsyncs_once(tmp_path: Path,
                                                                fsyncs: list[int]):
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path)
    for n in range(50):
        trail.message("in", "oms:OMS1", fix("D", (11, f"CL{n}")), n)
    assert path.stat().st_size == 0 and fsyncs == []
    trail.flush()
    assert len(lines(path)) == 50 and len(fsyncs) == 1
    trail.flush()  # nothing new: no fsync
    assert len(fsyncs) == 1
    trail.close()


def test_batch_mode_writes_a_full_buffer_out_and_fsyncs_it_at_the_next_flush(
        tmp_path: Path, fsyncs: list[int]):
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path)
    text = "x" * 1000
    count = 0
    while path.stat().st_size == 0:
        trail.event("admin", count, command="note", text=text)
        count += 1
    assert path.stat().st_size >= BATCH_BYTES and fsyncs == []
    trail.flush()
    assert len(lines(path)) == count and len(fsyncs) == 1
    trail.close()


def test_none_mode_writes_on_flush_and_never_fsyncs(tmp_path: Path, fsyncs: list[int]):
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path, durability="none", max_bytes=500)
    for n in range(20):
        trail.event("admin", n, command="status")
    assert path.stat().st_size == 0
    trail.close()
    assert fsyncs == []
    assert [r["ts"] for r in read_trail(path)] == list(range(20))


@pytest.mark.parametrize("durability", ["fsync", "batch"])
def test_rotation_keeps_keep_files_and_never_splits_a_record(tmp_path: Path,
                                                              durability: str):
    path = tmp_path / "audit.jsonl"
    max_bytes = 1_000
    trail = AuditTrail(path, durability=durability, max_bytes=max_bytes,  # type: ignore[arg-type]
                       keep=3)
    for n in range(200):
        trail.event("admin", n, command="x" * (n % 70))
        if n % 17 == 0:
            trail.flush()
    trail.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.3"]
    for file in tmp_path.iterdir():
        data = file.read_bytes()
        assert 0 < len(data) <= max_bytes and data.endswith(b"\n")
        lines(file)  # every line a whole record
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    # Oldest first, contiguous, ending with the last record: only the oldest were dropped.
    seen = [r["ts"] for r in read_trail(path)]
    assert seen == list(range(seen[0], 200)) and seen[0] > 0


def test_a_record_larger_than_max_bytes_gets_a_file_of_its_own(tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    with AuditTrail(path, max_bytes=200, keep=5) as trail:
        trail.event("admin", 1, command="small")
        trail.event("admin", 2, command="y" * 500)
        trail.event("admin", 3, command="small")
    assert [r["ts"] for r in lines(path.with_name("audit.jsonl.2"))] == [1]
    assert [r["ts"] for r in lines(path.with_name("audit.jsonl.1"))] == [2]
    assert [r["ts"] for r in lines(path)] == [3]


def test_the_file_is_created_0600_with_its_directory_and_appended_to(tmp_path: Path):
    path = tmp_path / "var" / "log" / "audit.jsonl"
    with AuditTrail(path) as trail:
        trail.event("admin", 1, command="start")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with AuditTrail(path) as trail:
        trail.event("admin", 2, command="start")
    assert [r["ts"] for r in lines(path)] == [1, 2]


def test_reopening_after_a_crash_drops_the_half_written_last_record(tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"ts":1,"kind":"admin"}\n{"ts":2,"ki')
    with AuditTrail(path) as trail:
        trail.event("admin", 3)
    stats = TrailStats()
    assert [r["ts"] for r in read_trail(path, stats)] == [1, 3]
    assert not stats.truncated_tail


def failing_writes(monkeypatch: pytest.MonkeyPatch, trail: AuditTrail,
                   plan: list[int | None]) -> None:
    """os.write on the trail's file follows ``plan``: None fails with ENOSPC, n writes
    at most n bytes; then it behaves."""
    real = os.write

    def write(fd: int, data: Any) -> int:
        if fd == trail._fd and plan:
            step = plan.pop(0)
            if step is None:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd, bytes(data)[:step])
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


def test_fsync_mode_raises_on_a_failed_write_and_retries_what_was_not_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path, durability="fsync")
    failing_writes(monkeypatch, trail, [10, None])  # half a record written, then a failure
    with pytest.raises(AuditError, match="No space left"):
        trail.event("admin", 1, command="first")
    trail.event("admin", 2, command="second")
    trail.close()
    assert [r["ts"] for r in lines(path)] == [1, 2]


def test_batch_mode_raises_from_flush_and_keeps_the_records(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path)
    trail.event("admin", 1)
    failing_writes(monkeypatch, trail, [None])
    with pytest.raises(AuditError):
        trail.flush()
    trail.event("admin", 2)
    trail.close()
    assert [r["ts"] for r in lines(path)] == [1, 2]
    with pytest.raises(AuditError, match="closed"):
        trail.event("admin", 3)
    trail.close()  # idempotent


def test_a_failed_early_write_out_in_batch_mode_is_raised_by_the_next_flush(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path)
    failing_writes(monkeypatch, trail, [None])
    count = 0
    while not trail._deferred:
        trail.event("admin", count, text="z" * 1000)  # never raises here
        count += 1
    trail.flush()  # the disk came back: the retry succeeds
    assert [r["ts"] for r in lines(path)] == list(range(count))
    trail.close()


def test_bad_arguments_are_refused(tmp_path: Path):
    with pytest.raises(ValueError):
        AuditTrail(tmp_path / "a.jsonl", durability="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AuditTrail(tmp_path / "a.jsonl", keep=0)


# ----------------------------------------------------------------------- reader


def write_lines(path: Path, *records: bytes) -> None:
    path.write_bytes(b"".join(records))


def test_a_truncated_last_line_of_the_newest_file_is_skipped_and_flagged(tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    write_lines(path.with_name("audit.jsonl.1"), b'{"ts":1,"kind":"a"}\n')
    write_lines(path, b'{"ts":2,"kind":"a"}\n', b"\n", b'{"ts":3,"kind":"a"}\n',
                b'{"ts":4,"ki')
    stats = TrailStats()
    assert [r["ts"] for r in read_trail(path, stats)] == [1, 2, 3]
    assert stats.truncated_tail and stats.records == 3
    assert stats.files == [path.with_name("audit.jsonl.1"), path]


def test_a_corrupt_line_elsewhere_is_an_error_naming_file_and_line(tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    write_lines(path, b'{"ts":1,"kind":"a"}\n', b'{"ts":2,"ki\n', b'{"ts":3,"kind":"a"}\n')
    with pytest.raises(AuditReportError, match=r"audit\.jsonl:2: not JSON"):
        list(read_trail(path))
    # Half a line at the end of an older file is not a crash's leftover.
    write_lines(path.with_name("audit.jsonl.1"), b'{"ts":1,"kind":"a"}\n', b'{"ts":2')
    write_lines(path, b'{"ts":3,"kind":"a"}\n')
    with pytest.raises(AuditReportError, match=r"audit\.jsonl\.1:2"):
        list(read_trail(path))
    write_lines(path.with_name("audit.jsonl.1"), b'["ts", 1]\n')
    with pytest.raises(AuditReportError, match=r"audit\.jsonl\.1:1: not an audit record"):
        list(read_trail(path))


def test_a_missing_trail_is_an_error(tmp_path: Path):
    with pytest.raises(AuditReportError, match="no such audit trail"):
        list(read_trail(tmp_path / "audit.jsonl"))


def test_passwords_are_masked_in_the_trail_and_in_what_is_read_back(tmp_path: Path):
    """Written masked; and read back masked from a trail written before they were (with a
    ClOrdID on the Logon, so that the lifecycle shows it)."""
    path = tmp_path / "audit.jsonl"
    logon = fix("A", (98, "0"), (108, "30"), (553, "desk1"), (554, "s3cret|pw"),
                (11, "CL1"))
    with AuditTrail(path) as trail:
        trail.message("in", OMS, logon, 1_000)
        trail.message("in", OMS, fix("D", (11, "CL1"), (55, "AAPL")), 2_000)
    assert b"s3cret" not in path.read_bytes()
    [written, _] = lines(path)
    assert written["fix"] == logon.replace("s3cret|pw", "***").replace(SOH, "|")
    old = {"ts": 1_000, "kind": "fix", "dir": "in", "cpty": OMS, "msg_type": "A",
           "cl_ord_id": "CL1", "fix": logon.replace(SOH, "|")}
    path.write_bytes(orjson.dumps(old) + b"\n")
    [record] = list(read_trail(path))
    assert record["fix"] == written["fix"]
    out = io.StringIO()
    print_lifecycle(lifecycle(read_trail(path), "CL1"), Console(file=out, width=300))
    assert "s3cret" not in out.getvalue() and "pw" not in out.getvalue()


def test_fix_fields_keeps_a_pipe_inside_text():
    assert fix_fields("8=FIX.4.4|35=8|58=a|b|c|10=000|") == {8: "FIX.4.4", 35: "8",
                                                             58: "a|b|c", 10: "000"}


# ---------------------------------------------------------------- reconstruction

OMS = "oms:OMS1"


def build_trail(path: Path) -> None:
    """CL1 (buy 500 AAPL) split into C1 -> XNAS (filled) and C2 -> BRKA>DARKA (100 filled),
    replaced by CL2, cancelled by CL3; another parent (CL9) interleaved throughout."""
    t = iter(range(1_700_000_000_000_000_000, 1_800_000_000_000_000_000, 1_000_123))
    with AuditTrail(path, max_bytes=4_000, keep=20) as trail:
        def msg(direction: str, cpty: str, msg_type: str, *fields: tuple[int, object]) -> None:
            trail.message(direction, cpty, fix(msg_type, *fields), next(t))  # type: ignore[arg-type]

        msg("in", OMS, "D", (11, "CL1"), (55, "AAPL"), (54, "1"), (38, "500"), (40, "2"),
            (44, "190.05"), (59, "0"))
        msg("in", OMS, "D", (11, "CL9"), (55, "MSFT"), (54, "2"), (38, "100"), (40, "1"),
            (59, "3"))
        msg("out", OMS, "8", (37, "O1"), (11, "CL1"), (17, "E1"), (150, "0"), (39, "0"),
            (55, "AAPL"), (54, "1"), (38, "500"), (151, "500"), (14, "0"), (6, "0"))
        msg("out", OMS, "8", (37, "O9"), (11, "CL9"), (17, "E2"), (150, "0"), (39, "0"),
            (55, "MSFT"), (54, "2"), (38, "100"))
        trail.event("decision", next(t), order_id="O1", parent="CL1", strategy="sweep",
                    children=[{"route": "XNAS", "qty": 300}, {"route": "BRKA>DARKA",
                                                              "qty": 200}])
        trail.event("decision", next(t), order_id="O9", parent="CL9", strategy="best-price",
                    children=[{"route": "XNAS", "qty": 100}])
        trail.event("child", next(t), order_id="O1", parent="CL1", child="C1", venue="XNAS",
                    route="XNAS")
        trail.event("child", next(t), order_id="O9", parent="CL9", child="C9", venue="XNAS",
                    route="XNAS")
        trail.event("child", next(t), order_id="O1", parent="CL1", child="C2", venue="DARKA",
                    route="BRKA>DARKA", qty=200)
        msg("out", "XNAS", "D", (11, "C1"), (55, "AAPL"), (54, "1"), (38, "300"), (40, "2"),
            (44, "190.05"), (59, "3"))
        msg("out", "XNAS", "D", (11, "C9"), (55, "MSFT"), (54, "2"), (38, "100"), (40, "2"),
            (44, "410.00"), (59, "3"))
        msg("out", "BRKA", "D", (11, "C2"), (55, "AAPL"), (54, "1"), (38, "200"), (40, "2"),
            (44, "190.05"), (59, "0"), (100, "DARKA"), (110, "100"))
        trail.event("kill_switch", next(t), engaged=False, reason="unrelated")
        msg("in", "XNAS", "8", (37, "X-1"), (11, "C1"), (17, "XE1"), (150, "0"), (39, "0"),
            (55, "AAPL"))
        msg("in", "XNAS", "8", (37, "X-2"), (11, "C9"), (17, "XE2"), (150, "F"), (39, "2"),
            (32, "100"), (31, "410.00"), (14, "100"))
        msg("in", "XNAS", "8", (37, "X-1"), (11, "C1"), (17, "XE3"), (150, "F"), (39, "2"),
            (55, "AAPL"), (32, "300"), (31, "190.02"), (14, "300"), (151, "0"), (6, "190.02"))
        for _ in range(2):  # the broker resends its fill: applied once
            msg("in", "BRKA", "8", (37, "B-1"), (11, "C2"), (17, "BE1"), (150, "F"),
                (39, "1"), (55, "AAPL"), (32, "100"), (31, "190.03"), (14, "100"),
                (151, "100"), (30, "DARKA"), (12, "0.10"))
        msg("out", OMS, "8", (37, "O1"), (11, "CL1"), (17, "E3"), (150, "F"), (39, "1"),
            (55, "AAPL"), (54, "1"), (38, "500"), (32, "300"), (31, "190.02"), (14, "300"),
            (151, "200"), (6, "190.02"))
        msg("out", OMS, "8", (37, "O1"), (11, "CL1"), (17, "E4"), (150, "F"), (39, "1"),
            (55, "AAPL"), (54, "1"), (38, "500"), (32, "100"), (31, "190.03"), (14, "400"),
            (151, "100"), (6, "190.0225"))
        msg("out", OMS, "8", (37, "O9"), (11, "CL9"), (17, "E5"), (150, "F"), (39, "2"),
            (32, "100"), (31, "410.00"), (14, "100"))
        msg("in", OMS, "G", (11, "CL2"), (41, "CL1"), (55, "AAPL"), (54, "1"), (38, "450"),
            (40, "2"), (44, "190.04"), (59, "0"))
        msg("out", OMS, "8", (37, "O1"), (11, "CL2"), (41, "CL1"), (17, "E6"), (150, "5"),
            (39, "1"), (55, "AAPL"), (54, "1"), (38, "450"), (44, "190.04"), (14, "400"),
            (151, "50"), (6, "190.0225"))
        msg("in", OMS, "F", (11, "CL3"), (41, "CL2"), (55, "AAPL"), (54, "1"))
        msg("out", "BRKA", "F", (11, "X1"), (41, "C2"), (55, "AAPL"), (54, "1"))
        msg("in", "BRKA", "8", (37, "B-1"), (11, "X1"), (41, "C2"), (17, "BE2"), (150, "4"),
            (39, "4"), (55, "AAPL"), (14, "100"), (151, "0"))
        msg("in", OMS, "F", (11, "CL9X"), (41, "CL9"), (55, "MSFT"), (54, "2"))
        msg("out", OMS, "9", (37, "O9"), (11, "CL9X"), (41, "CL9"), (39, "2"), (434, "1"),
            (102, "0"), (58, "too late to cancel"))
        msg("out", OMS, "8", (37, "O1"), (11, "CL3"), (41, "CL2"), (17, "E7"), (150, "4"),
            (39, "4"), (55, "AAPL"), (54, "1"), (38, "450"), (14, "400"), (151, "0"),
            (6, "190.0225"), (58, "canceled by OMS|desk"))


@pytest.fixture
def trail_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    build_trail(path)
    assert path.with_name("audit.jsonl.1").exists()  # the order spans rotated files
    return path


@pytest.mark.parametrize("asked", ["CL1", "CL2", "CL3", "C2"])
def test_any_clordid_of_the_chain_gives_the_whole_lifecycle(trail_path: Path, asked: str):
    result = lifecycle(read_trail(trail_path), asked)
    assert result.cl_ord_id == asked
    assert result.chain == ["CL1", "CL2", "CL3"]
    assert result.order_ids == ["O1"]
    assert result.oms == OMS
    assert (result.symbol, result.side, result.qty, result.price) == ("AAPL", "1", 450,
                                                                      "190.04")
    assert (result.status, result.cum_qty, result.avg_px) == ("Canceled", 400, "190.0225")

    c1, c2 = result.children
    assert (c1.cl_ord_id, c1.venue, c1.route, c1.qty, c1.filled, c1.avg_px, c1.status) == (
        "C1", "XNAS", "XNAS", 300, 300, Decimal("190.02"), "Filled")
    assert (c2.cl_ord_id, c2.venue, c2.route, c2.qty, c2.filled, c2.avg_px, c2.status) == (
        "C2", "DARKA", "BRKA>DARKA", 200, 100, Decimal("190.03"), "Canceled")
    assert [f.exec_id for f in c2.fills] == ["BE1"]

    times = [e.ts for e in result.entries]
    assert times == sorted(times)
    oms = [(e.direction, e.msg_type, e.record.get("cl_ord_id")) for e in result.entries
           if e.role == "oms"]
    assert oms == [("in", "D", "CL1"), ("out", "8", "CL1"), ("out", "8", "CL1"),
                   ("out", "8", "CL1"), ("in", "G", "CL2"), ("out", "8", "CL2"),
                   ("in", "F", "CL3"), ("out", "8", "CL3")]
    venue = [(e.counterparty, e.direction, e.msg_type, e.record.get("cl_ord_id"))
             for e in result.entries if e.role == "venue"]
    assert venue == [("XNAS", "out", "D", "C1"), ("BRKA", "out", "D", "C2"),
                     ("XNAS", "in", "8", "C1"), ("XNAS", "in", "8", "C1"),
                     ("BRKA", "in", "8", "C2"), ("BRKA", "in", "8", "C2"),
                     ("BRKA", "out", "F", "X1"), ("BRKA", "in", "8", "X1")]
    events = [(e.kind, e.record.get("child")) for e in result.entries if e.role == "event"]
    assert events == [("decision", None), ("child", "C1"), ("child", "C2")]
    # Nothing of the other parent, nor the unrelated kill switch event.
    text = orjson.dumps([e.record for e in result.entries]).decode()
    for other in ("CL9", "O9", "C9", "MSFT", "kill_switch"):
        assert other not in text


def test_a_refusal_without_clordid_joins_the_order_it_refuses(tmp_path: Path):
    """A session Reject (3) or BusinessMessageReject (j) names what it refuses only by
    RefSeqNum (45); sequence numbers restart at every logon, so it is the last inbound
    message with that number before it."""
    path = tmp_path / "audit.jsonl"
    with AuditTrail(path) as trail:
        trail.message("in", OMS, fix("D", (11, "R1"), (55, "AAPL"), seq=5), 1)
        trail.message("out", OMS, fix("3", (45, 5), (371, 44), (373, 6), seq=3), 2)
        trail.message("in", OMS, fix("A", (98, 0), (141, "Y"), seq=1), 3)  # a new logon
        trail.message("in", OMS, fix("D", (11, "R2"), (55, "AAPL"), seq=5), 4)
        trail.message("out", OMS, fix("j", (45, 5), (372, "D"), (380, 0), seq=2), 5)
    first = lifecycle(read_trail(path), "R1")
    second = lifecycle(read_trail(path), "R2")
    assert [e.record.get("msg_type") for e in first.entries] == ["D", "3"]
    assert [e.record.get("msg_type") for e in second.entries] == ["D", "j"]


def test_the_same_lifecycle_from_a_list_and_from_the_file(trail_path: Path):
    records = list(read_trail(trail_path))
    from_list = lifecycle(records, "CL2")
    from_file = lifecycle(read_trail(trail_path), "CL3")
    assert [e.record for e in from_list.entries] == [e.record for e in from_file.entries]


def test_an_unknown_clordid_is_an_error(trail_path: Path):
    with pytest.raises(AuditReportError, match=r"no order with ClOrdID NOPE in .*audit"):
        lifecycle(read_trail(trail_path), "NOPE", source=trail_path)
    with pytest.raises(AuditReportError, match="no order with ClOrdID X-1"):
        lifecycle(read_trail(trail_path), "X-1")  # a venue's OrderID is not a ClOrdID


def test_clordids_are_scoped_by_oms_session(trail_path: Path):
    with AuditTrail(trail_path) as trail:  # another OMS session reuses CL1
        trail.message("in", "oms:OMS2", fix("D", (11, "CL1"), (55, "SPY"), (38, "7")), 1)
        trail.message("out", "oms:OMS2", fix("8", (37, "O5"), (11, "CL1"), (150, "0"),
                                             (39, "0"), (55, "SPY"), (38, "7")), 2)
        trail.event("decision", 3, order_id="O5", parent="CL1", strategy="sweep")
    with pytest.raises(AuditReportError, match=r"several OMS sessions .*oms:OMS1, oms:OMS2"):
        lifecycle(read_trail(trail_path), "CL1")
    ours = lifecycle(read_trail(trail_path), "CL1", counterparty=OMS)
    assert ours.order_ids == ["O1"] and ours.symbol == "AAPL"
    assert [e.record for e in ours.entries] == [
        e.record for e in lifecycle(read_trail(trail_path), "CL3").entries]
    theirs = lifecycle(read_trail(trail_path), "CL1", counterparty="oms:OMS2")
    assert (theirs.chain, theirs.order_ids, theirs.qty) == (["CL1"], ["O5"], 7)
    assert [e.kind for e in theirs.entries] == ["fix", "fix", "decision"]


def test_print_lifecycle_shows_header_children_and_timeline(trail_path: Path):
    out = io.StringIO()
    print_lifecycle(lifecycle(read_trail(trail_path), "CL1"),
                    Console(file=out, width=220, color_system=None))
    text = out.getvalue()
    for expected in ("CL1 -> CL2 -> CL3", "O1", "Buy 450 AAPL @ 190.04",
                     "Canceled (filled 400 @ avg 190.0225)", "BRKA>DARKA", "190.03",
                     "NewOrderSingle", "OrderCancelReplaceRequest", "OrderCancelRequest",
                     "ExecutionReport Trade", "ExecutionReport Canceled", "decision",
                     "C2 -> DARKA via BRKA>DARKA", "canceled by OMS|desk",
                     "2023-11-14T22:13:20.000000Z", "last 300 @ 190.02"):
        assert expected in text, expected


def test_main_prints_or_fails_in_one_line(trail_path: Path, capsys: pytest.CaptureFixture):
    with trail_path.open("ab") as f:
        f.write(b'{"ts": 1, "kind": "fi')  # the daemon died mid-write
    assert main(trail_path, "CL2") == 0
    captured = capsys.readouterr()
    assert "CL1 -> CL2 -> CL3" in captured.out
    assert "half a record" in captured.err
    assert main(trail_path, "NOPE") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no order with ClOrdID NOPE" in err
    assert main(trail_path.with_name("missing.jsonl"), "CL1") == 1
    assert "no such audit trail" in capsys.readouterr().err

