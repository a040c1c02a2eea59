"""The journal: what it keeps, and what it refuses to open."""

from __future__ import annotations

import hashlib
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sor_daemon.core.actions import ChildFilled, SendChild
from sor_daemon.core.domain import ExecType, OrdStatus
from sor_daemon.core.engine import IdSource
from sor_daemon.core.messages import CancelFields
from sor_daemon.service import journal as journal_module
from sor_daemon.service.journal import Fill, Journal, JournalError, describe_parent, open_read_only
from tests.core.test_engine import S, make_engine, new, of, venue_report

ROOT = Path(__file__).resolve().parent.parent.parent


def test_parents_children_and_fills_survive_a_reopen(tmp_path):
    engine = make_engine(track_changes=True)
    [send] = of(engine.new_order(S, new(qty="100"), 1), SendChild)
    actions = engine.venue_execution("XNAS", venue_report(
        send, ExecType.TRADE, OrdStatus.FILLED, cum=100, last_qty=100, last_px="190.01",
        exec_id="X1"), 2)
    [filled] = of(actions, ChildFilled)
    journal = Journal(tmp_path / "j.db")
    journal.write(engine.take_touched(),
                  [Fill(send.child.cl_ord_id, filled.exec_id, 100, filled.price, 2)])
    journal.close()

    journal = open_read_only(tmp_path / "j.db")
    assert journal.load(0) == [], "a done parent is not working"
    [parent] = journal.load(5)
    assert (parent.status, parent.cum_qty, parent.notional) == (OrdStatus.FILLED, 100,
                                                                Decimal("19001.00"))
    [child] = parent.children.values()
    assert (child.status, child.exec_ids, child.parent) == (OrdStatus.FILLED, {"X1"}, parent)
    assert [p.order_id for p in journal.find("P1")] == [parent.order_id]
    assert [p.order_id for p in journal.find(parent.order_id)] == [parent.order_id]
    [fill] = journal.fills(parent.order_id)
    assert (fill.exec_id, fill.qty, fill.price) == ("X1", 100, Decimal("190.01"))
    assert journal.totals() == (1, 100)
    text = describe_parent(parent, [fill])
    assert "FILLED" in text and "ExecID X1" in text
    journal.close()


def test_a_cancel_request_id_finds_the_parent_and_pending_state_is_kept(tmp_path):
    engine = make_engine(track_changes=True)
    [send] = of(engine.new_order(S, new(qty="300", price="189.99", tif="0"), 1), SendChild)
    engine.venue_execution("XNAS", venue_report(send, ExecType.NEW, OrdStatus.NEW), 2)
    engine.cancel_order(S, CancelFields("P1-C", "P1"), 3)
    journal = Journal(tmp_path / "j.db")
    journal.write(engine.take_touched())
    [parent] = journal.find("P1-C")
    assert parent.pending is not None and parent.pending.cl_ord_id == "P1-C"
    assert parent.status is OrdStatus.PENDING_CANCEL
    [child] = parent.children.values()
    assert child.status is OrdStatus.PENDING_CANCEL and len(child.cancel_ids) == 1
    journal.close()


def test_session_sequence_numbers_are_kept_and_only_changes_rewritten(tmp_path):
    journal = Journal(tmp_path / "j.db")
    journal.write([], seqs={"A": 5, "B": 9})
    assert journal.changed_seqs({"A": 5, "B": 10}) == {"B": 10}
    journal.save_state("routing", {"scores": {"XNAS": {"fill_rate": 0.5}}})
    journal.close()
    journal = Journal(tmp_path / "j.db")
    assert journal.session_seqs() == {"A": 5, "B": 9}
    assert journal.load_state("routing") == {"scores": {"XNAS": {"fill_rate": 0.5}}}
    journal.close()


def _refused(path, match):
    before = path.read_bytes()
    with pytest.raises(JournalError, match=match):
        Journal(path)
    assert path.read_bytes() == before, "left as it was, for inspection"


def test_garbage_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "j.db"
    path.write_bytes(b"this is not a database\n" * 200)
    _refused(path, "unreadable")


def test_another_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    _refused(path, "not a sor-daemon journal")


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "j.db"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    _refused(path, "schema version 99")


def test_a_corrupt_journal_is_refused(tmp_path):
    path = tmp_path / "j.db"
    journal = Journal(path)
    engine = make_engine(track_changes=True)
    for i in range(200):
        engine.new_order(S, new(cl=f"P{i}", qty="100"), i)
    journal.write(engine.take_touched())
    journal.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page + 100, min(len(data), 6 * page), 7):
        data[offset] = 0xA5
    path.write_bytes(bytes(data))
    _refused(path, "corrupt|unreadable")


def test_read_only_needs_an_existing_journal(tmp_path):
    with pytest.raises(JournalError, match="no journal"):
        open_read_only(tmp_path / "none.db")


def test_reports_stay_in_the_outbox_until_sent_and_the_next_write(tmp_path):
    journal = Journal(tmp_path / "j.db")
    report = ("OMS-1", "8", [(11, "P1"), (17, "E1")])
    journal.write([], outgoing=[report])
    journal.close()  # as if killed before the send: the report is still there
    journal = Journal(tmp_path / "j.db")
    assert journal.unsent() == [report]
    journal.clear_unsent()
    journal.write([], outgoing=[report])
    journal.sent()
    assert journal.unsent() == [report], "deleted with the next write, not before"
    journal.write([], seqs={"OMS-1": 3})
    assert journal.unsent() == []
    journal.close()


def _filled_parent(engine, cl="P1"):
    [send] = of(engine.new_order(S, new(cl=cl, qty="100"), 1), SendChild)
    actions = engine.venue_execution("XNAS", venue_report(
        send, ExecType.TRADE, OrdStatus.FILLED, cum=100, last_qty=100, last_px="190.01",
        exec_id=f"X-{cl}"), 2)
    [filled] = of(actions, ChildFilled)
    return engine.take_touched(), Fill(send.child.cl_ord_id, filled.exec_id, 100,
                                       filled.price, 2)


def _killed(journal):
    """As SIGKILL leaves it: the redo log written, nothing applied, nothing closed."""
    os.close(journal._redo)
    journal._redo = None
    journal._pending = []
    journal._db.close()


def test_a_write_is_in_the_redo_log_before_the_database_and_replayed_after_a_kill(tmp_path):
    engine = make_engine(track_changes=True)
    parents, fill = _filled_parent(engine)
    journal = Journal(tmp_path / "j.db")
    journal.write(parents, [fill], {"OMS-1": 7}, [("OMS-1", "8", [(11, "P1")])])
    reader = open_read_only(tmp_path / "j.db")
    assert (reader.unapplied, reader.totals()) == (1, (0, 0)), "logged, not applied yet"
    reader.close()
    _killed(journal)

    journal = Journal(tmp_path / "j.db")
    assert journal.replayed == 1
    assert journal.totals() == (1, 100)
    assert journal.session_seqs() == {"OMS-1": 7}
    assert journal.unsent() == [("OMS-1", "8", [(11, "P1")])]
    assert not (tmp_path / "j.db-redo").read_bytes(), "applied: the log starts afresh"
    journal.close()
    journal = Journal(tmp_path / "j.db")
    assert journal.replayed == 0 and journal.totals() == (1, 100)
    journal.close()


def _two_writes_then_killed(tmp_path):
    """P1 then P2 written to the redo log, neither applied; the log's path."""
    engine = make_engine(track_changes=True)
    journal = Journal(tmp_path / "j.db")
    for cl in ("P1", "P2"):
        parents, fill = _filled_parent(engine, cl)
        journal.write(parents, [fill])
    _killed(journal)
    return tmp_path / "j.db-redo"


def test_a_torn_last_redo_line_is_dropped_and_what_came_before_is_kept(tmp_path):
    redo = _two_writes_then_killed(tmp_path)
    redo.write_bytes(redo.read_bytes()[:-40])  # the second write cut short

    journal = Journal(tmp_path / "j.db")
    assert journal.replayed == 1
    assert [p.cl_ord_id for p in journal.load(5)] == ["P1"]
    journal.close()


def test_a_redo_log_damaged_before_its_end_is_refused_and_left_alone(tmp_path):
    redo = _two_writes_then_killed(tmp_path)
    damaged = b"garbage\n" + redo.read_bytes()
    redo.write_bytes(damaged)
    with pytest.raises(JournalError, match="line 1 is not a transaction"):
        Journal(tmp_path / "j.db")
    assert redo.read_bytes() == damaged


def test_the_redo_log_is_emptied_once_applied_and_large(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "REDO_TRUNCATE_BYTES", 1000)
    journal = Journal(tmp_path / "j.db")
    redo = tmp_path / "j.db-redo"
    for i in range(5):
        parents, fill = _filled_parent(make_engine(track_changes=True), f"P{i}")
        journal.write(parents, [fill])
        journal.apply()
        assert redo.stat().st_size < 2000
    assert journal.totals()[1] == 500, "every fill applied before the log was emptied"
    journal.close()


def test_a_failed_apply_keeps_the_transactions_in_the_redo_log_for_the_next_start(
        tmp_path, monkeypatch):
    parents, fill = _filled_parent(make_engine(track_changes=True))
    journal = Journal(tmp_path / "j.db")
    journal.write(parents, [fill])
    with monkeypatch.context() as patched:
        patched.setattr(journal_module, "_APPLY",
                        (("parents", "INSERT INTO nowhere VALUES (?)"),))
        with pytest.raises(JournalError, match="write failed"):
            journal.close()
    journal = Journal(tmp_path / "j.db")
    assert journal.replayed == 1 and journal.totals() == (1, 100)
    journal.close()


_FILL_THE_DISK = """
import sys
from sor_daemon.service.journal import Journal, JournalError
from tests.service.test_journal import _filled_parent
from tests.core.test_engine import make_engine

journal = Journal(sys.argv[1])
written = 0
try:
    for i in range(10_000):
        parents, fill = _filled_parent(make_engine(track_changes=True), f"P{i}")
        journal.write(parents, [fill])
        written += 1
except JournalError as exc:
    print(written, exc, sep="\\n")
"""


def test_a_full_file_system_fails_the_write_and_leaves_no_torn_line(tmp_path):
    """A real limit: the process may not grow a file past 64 KiB (RLIMIT_FSIZE), so an
    append to the redo log fails part-way, as on a full disk."""
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    path = tmp_path / "j.db"
    done = subprocess.run([sys.executable, "-c", _FILL_THE_DISK, str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, preexec_fn=limited)
    assert done.returncode == 0, done.stderr
    written, error = done.stdout.splitlines()
    assert 0 < int(written) < 10_000
    assert "write failed" in error and f"{path}-redo" in error
    assert Path(f"{path}-redo").read_bytes().endswith(b"\n"), "no torn line left"
    journal = Journal(path)
    assert journal.totals()[1] == 100 * int(written), "every fill it took, no other"
    journal.close()


def _journal_files(directory: Path) -> dict[str, str | None]:
    """Each file's checksum; SQLite's ``-shm`` (the WAL's shared-memory index: no data,
    marked by every reader) only by its presence."""
    return {p.name: None if p.name.endswith("-shm") else
            hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def _start(path: Path) -> tuple[Any, ...]:
    """What the daemon reads from its journal when it starts."""
    journal = Journal(path)
    try:
        return ([(p.order_id, p.status, p.cum_qty, p.cl_ord_ids,
                  [(c.cl_ord_id, c.status, c.cum_qty, c.exec_ids) for c in p.children.values()])
                 for p in journal.load(10_000)],
                journal.session_seqs(), journal.load_state("routing"), journal.unsent())
    finally:
        journal.close()


def _written_journal(directory: Path, killed: bool) -> Path:
    """A journal as the daemon leaves it in ``directory``: resting and filled orders,
    sequence numbers, reports, some applied; then closed, or killed (its database, WAL
    and redo log as they were while it was open)."""
    path = directory.with_name(f"{directory.name}-live") / "j.db"
    path.parent.mkdir()
    journal = Journal(path)
    engine = make_engine(track_changes=True)
    for i in range(120):
        if i % 3:
            engine.new_order(S, new(cl=f"R{i}", qty="100", price="189.00", tif="0"), i)
            journal.write(engine.take_touched(), seqs={S: i},
                          outgoing=[(S, "8", [(11, f"R{i}"), (58, "résumé")])])
        else:  # each in a market of its own (a fill takes the liquidity)
            filling = make_engine(track_changes=True)
            filling._ids = IdSource(f"F{i}-")
            parents, fill = _filled_parent(filling, f"F{i}")
            journal.write(parents, [fill], seqs={S: i})
        if i % 25 == 0:
            journal.apply()
            journal.save_state("routing", {"i": i})
    if killed:
        shutil.copytree(path.parent, directory)
        _killed(journal)
    else:
        journal.close()
        shutil.copytree(path.parent, directory)
    return directory / "j.db"


@pytest.mark.parametrize("killed", [False, True], ids=["closed", "killed"])
def test_random_corruptions_are_refused_naming_the_file_or_change_nothing(tmp_path, killed):
    """20 corruptions of 16 random bytes in the database, its WAL or the redo log: each
    start reads what it read before, or refuses with `JournalError` naming the file and
    leaves every file as it was; never another exception."""
    source = _written_journal(tmp_path / "source", killed).parent
    reference = _start(shutil.copytree(source, tmp_path / "reference") / "j.db")
    rng = random.Random(1)
    outcomes = {"same": 0, "refused": 0}
    for trial in range(20):
        directory = shutil.copytree(source, tmp_path / f"t{trial}")
        damaged = rng.choice([p for p in sorted(directory.iterdir())
                              if p.stat().st_size and not p.name.endswith("-shm")])
        data = bytearray(damaged.read_bytes())
        at = rng.randrange(len(data) - 16)
        data[at:at + 16] = rng.randbytes(16)
        damaged.write_bytes(bytes(data))
        before = _journal_files(directory)
        try:
            started = _start(directory / "j.db")
        except JournalError as exc:
            assert str(directory / "j.db") in str(exc), (damaged.name, at, str(exc))
            assert _journal_files(directory) == before, f"{damaged.name} at {at}: modified"
            outcomes["refused"] += 1
        else:
            assert started == reference, f"{damaged.name} at {at}: read differently"
            outcomes["same"] += 1
    print(outcomes)
    assert outcomes["refused"] > 0


def test_text_that_is_not_utf8_refuses_the_journal_naming_it(tmp_path):
    """Damaged text that SQLite's integrity check cannot see (it was an
    OperationalError out of the first read, not a refusal)."""
    path = _written_journal(tmp_path / "j", killed=False)
    data = path.read_bytes()
    at = data.index(S.encode()) + 4
    path.write_bytes(data[:at] + b"\xff\xfe" + data[at + 2:])
    _refused(path, f"journal {path} is unreadable .*UTF-8 column")


def test_a_refused_start_leaves_every_file_of_a_killed_journal_as_it_was(tmp_path):
    path = _written_journal(tmp_path / "j", killed=True)
    redo = Path(f"{path}{journal_module.REDO_SUFFIX}")
    redo.write_bytes(b"[]\n" + redo.read_bytes())
    before = _journal_files(path.parent)
    assert {"j.db", "j.db-wal", "j.db-redo"} <= set(before)
    with pytest.raises(JournalError, match="line 1 is not a transaction"):
        Journal(path)
    assert _journal_files(path.parent) == before
