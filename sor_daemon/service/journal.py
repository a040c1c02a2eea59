"""The durable record of every parent, child and fill: an SQLite database in WAL mode,
fronted by a redo log.

The daemon writes what an event changed in one transaction *before* it carries out the
event's actions (a child is on disk before it is sent, a fill before the OMS hears of it),
so a restart after SIGKILL at any point finds every order it had told anyone about. With
each transaction go the sequence numbers of the FIX messages applied so far: quickfix's
own store counts a message as received before the loop has applied it, so on restart the
sessions are rewound to what the journal saw and the counterparties resend the rest.

That write is one appended line in the redo log (``<path>-redo``: the transaction's rows
as JSON), a single system call, as durable as an SQLite commit with the same
``synchronous`` setting. `apply` puts the logged transactions into the database after the
actions are carried out, off the path of the orders (one SQLite transaction for however
many were logged). Opening the journal applies what a crash left in the redo log; a torn
last line was never acted upon and is dropped. Reads in this process apply first; a
read-only reader sees what is applied (milliseconds behind a running daemon).

Completed orders leave the engine's memory but stay here (`find`, `sor-daemon orders`).
A file that is not this journal (another SQLite database, a newer schema, garbage, a
failed integrity check) is refused with `JournalError` and left as it is.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from sor_daemon.core.domain import OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.core.orders import ChildOrder, ParentOrder, PendingRequest
from sor_daemon.service.files import private_dir, private_open

APPLICATION_ID = 0x534F524A
"""``SORJ``: SQLite's application_id header field, so a foreign database is recognised."""
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE parents (
    order_id TEXT PRIMARY KEY, session TEXT NOT NULL, cl_ord_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, ord_type TEXT NOT NULL, price TEXT,
    tif TEXT NOT NULL, qty INTEGER NOT NULL, strategy TEXT NOT NULL, pinned_venue TEXT,
    created_ns INTEGER NOT NULL, arrival_mid TEXT, status TEXT NOT NULL,
    cum_qty INTEGER NOT NULL, notional TEXT NOT NULL, acked INTEGER NOT NULL,
    text TEXT NOT NULL, cl_ord_ids TEXT NOT NULL, exhausted TEXT NOT NULL, pending TEXT,
    done INTEGER NOT NULL, seq INTEGER NOT NULL
);
CREATE INDEX parents_done ON parents (done);
CREATE INDEX parents_cl_ord_id ON parents (cl_ord_id);
CREATE TABLE children (
    cl_ord_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, venue TEXT NOT NULL, via TEXT,
    ord_type TEXT NOT NULL, price TEXT, tif TEXT NOT NULL, qty INTEGER NOT NULL,
    sent_ns INTEGER NOT NULL, status TEXT NOT NULL, cum_qty INTEGER NOT NULL,
    venue_order_id TEXT NOT NULL, cancel_ids TEXT NOT NULL, expires_ns INTEGER,
    ack_latency_ns INTEGER, unknown INTEGER NOT NULL
);
CREATE INDEX children_parent ON children (order_id);
CREATE TABLE fills (
    child TEXT NOT NULL, exec_id TEXT NOT NULL, qty INTEGER NOT NULL, price TEXT NOT NULL,
    at_ns INTEGER NOT NULL, PRIMARY KEY (child, exec_id)
);
CREATE TABLE sessions (session TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, session TEXT NOT NULL, msg_type TEXT NOT NULL,
    fields TEXT NOT NULL
);
"""


_PARENT_UPDATED = ("cl_ord_id", "price", "qty", "status", "cum_qty", "notional", "acked", "text",
                   "cl_ord_ids", "exhausted", "pending", "done", "seq")
_CHILD_UPDATED = ("status", "cum_qty", "venue_order_id", "cancel_ids", "expires_ns",
                  "ack_latency_ns", "unknown")
UPSERT_PARENT = ("INSERT INTO parents VALUES (" + ",".join("?" * 23) + ") "
                 "ON CONFLICT (order_id) DO UPDATE SET "
                 + ", ".join(f"{c}=excluded.{c}" for c in _PARENT_UPDATED))
"""An update in place: the indexes of a row (its OrderID, its done flag) are not
rewritten when they did not change, so a commit touches fewer pages."""
UPSERT_CHILD = ("INSERT INTO children VALUES (" + ",".join("?" * 16) + ") "
                "ON CONFLICT (cl_ord_id) DO UPDATE SET "
                + ", ".join(f"{c}=excluded.{c}" for c in _CHILD_UPDATED))


UPSERT_FILL = "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?)"
REDO_SUFFIX = "-redo"
REDO_TRUNCATE_BYTES = 1 << 20
"""The redo log is emptied once everything in it is applied and it has grown past this."""
APPLIED_KEY = "redo_applied"
"""In ``state``: the number of the last redo transaction the database holds."""


_APPLY = (("parents", UPSERT_PARENT), ("children", UPSERT_CHILD), ("fills", UPSERT_FILL),
          ("seqs", "INSERT OR REPLACE INTO sessions VALUES (?,?)"),
          ("outbox", "INSERT INTO outbox VALUES (?,?,?,?)"))
"""A redo transaction's rows by key, and the statement that puts them in the database."""


class JournalError(Exception):
    """The journal cannot be opened, read or written; the message says why."""


Outgoing = tuple[str, str, list[tuple[int, str]]]
"""A message to an OMS: session, MsgType, its fields (as `gateway.encode` makes them)."""


@dataclass(frozen=True, slots=True)
class Fill:
    child: str
    exec_id: str
    qty: int
    price: Decimal
    at_ns: int


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _undec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


class Journal:
    def __init__(self, path: str | Path, synchronous: str = "normal",
                 read_only: bool = False) -> None:
        """Open (or create) the journal at ``path``; `JournalError` if it is not one.
        ``read_only``: for looking orders up while the daemon writes."""
        self.path = Path(path)
        existed = self.path.exists() and self.path.stat().st_size > 0
        if read_only and not existed:
            raise JournalError(f"no journal at {self.path}")
        self._redo_path = Path(f"{self.path}{REDO_SUFFIX}")
        if not read_only:
            if existed:
                self._verify()
            private_dir(self.path.parent)
            os.close(private_open(self.path, os.O_RDONLY | os.O_CREAT))  # 0600: SQLite
            for shared in (f"{self.path}-wal", f"{self.path}-shm"):  # makes these so too
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(shared, 0o600)
        try:
            self._db = sqlite3.connect(
                f"file:{self.path}?mode=ro" if read_only else self.path,
                isolation_level=None, check_same_thread=False, uri=read_only)
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot open: {exc}") from exc
        try:
            if existed:
                self._check()
            if not read_only:
                if not existed:  # small pages: a commit writes each page it touches
                    self._db.execute("PRAGMA page_size=1024")
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            if not existed:
                self._create()
        except sqlite3.Error as exc:
            self._db.close()
            raise JournalError(f"journal {self.path} is unreadable ({exc}); it is left "
                               "as it is for inspection: move it away to start afresh"
                               ) from exc
        except JournalError:
            self._db.close()
            raise
        self._fsync = synchronous.upper() in ("FULL", "EXTRA")
        self._pending: list[dict[str, Any]] = []
        """Transactions in the redo log, not yet in the database (oldest first)."""
        self._redo: int | None = None
        self._redo_size = 0
        self._txn = self.load_state(APPLIED_KEY) or 0
        self.unapplied = 0
        """Read-only: transactions in the redo log the database does not hold yet."""
        self.replayed = 0
        """Transactions a crash left in the redo log, applied when this journal opened."""
        try:
            if read_only:
                self.unapplied = sum(1 for t in self._read_redo() if t["t"] > self._txn)
            else:
                self._replay()
                self._redo = private_open(self._redo_path,
                                          os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        except (JournalError, OSError) as exc:
            self._db.close()
            if isinstance(exc, JournalError):
                raise
            raise JournalError(f"journal {self._redo_path}: cannot open: {exc}") from exc
        with self._reading():
            self._seq = self._db.execute(
                "SELECT coalesce(max(seq), 0) FROM parents").fetchone()[0]
            self._last_outbox = self._db.execute(
                "SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
        self._sent_up_to = 0
        """Outbox rows up to this id have gone to quickfix: deleted by the next write."""
        self._session_seqs = self.session_seqs()

    def _read_redo(self) -> list[dict[str, Any]]:
        """The redo log's transactions. A last line without its newline is torn (the
        process died inside the write, which never returned: nothing was done about it)
        and dropped; a whole line that is not a transaction refuses the journal."""
        try:
            data = self._redo_path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise JournalError(f"journal {self._redo_path}: cannot read: {exc}") from exc
        whole, _, _torn = data.rpartition(b"\n")
        txns = []
        for number, line in enumerate(whole.split(b"\n") if whole else [], 1):
            try:
                txn = orjson.loads(line)
                if not isinstance(txn, dict) or not isinstance(txn.get("t"), int):
                    raise ValueError
            except ValueError:  # orjson.JSONDecodeError is one
                raise JournalError(
                    f"journal {self._redo_path} line {number} is not a transaction; it is "
                    "left as it is for inspection") from None
            txns.append(txn)
        return txns

    def _replay(self) -> None:
        pending = [t for t in self._read_redo() if t["t"] > self._txn]
        if pending:
            self._pending = pending
            self.apply()
            self.replayed = len(pending)
        self._redo_path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """What cannot be read or decoded (damaged pages, text that is not UTF-8, a value
        that is not one) refuses the journal, naming it."""
        try:
            yield
        except (sqlite3.Error, ValueError, TypeError, KeyError, ArithmeticError) as exc:
            raise JournalError(f"journal {self.path} is unreadable ({exc}); it is left as "
                               "it is for inspection: move it away to start afresh"
                               ) from exc

    def _verify(self) -> None:
        """Before anything is written: refuse a journal that any of its files (the
        database, its WAL, the redo log) makes unreadable, reading every row and every
        logged transaction through a read-only connection. The journal's files are left
        as they were (SQLite's ``-shm``, the WAL's shared-memory index, holds no data:
        a reader marks what it reads there); without a WAL nothing else is created."""
        wal = Path(f"{self.path}-wal").exists()
        if wal:
            _check_wal(Path(f"{self.path}-wal"))
        db = sqlite3.connect(f"file:{self.path}?mode=ro{'' if wal else '&immutable=1'}",
                             isolation_level=None, uri=True)
        try:
            with self._reading():
                self._check(db)
                for table, decode in _DECODE.items():
                    for row in db.execute(f"SELECT * FROM {table}"):
                        decode(row)
        finally:
            db.close()
        for number, txn in enumerate(self._read_redo(), 1):
            try:
                for table, decode in _DECODE_REDO.items():
                    for row in txn[table]:
                        decode(tuple(row))
            except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
                raise JournalError(
                    f"journal {self._redo_path} line {number} is not a transaction ({exc!r}); "
                    "it is left as it is for inspection") from None

    def _check(self, db: sqlite3.Connection | None = None) -> None:
        """Refuse anything but an intact journal of a schema this code knows."""
        db = db or self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise JournalError(
                f"{self.path} is not a sor-daemon journal (SQLite application_id "
                f"{app_id:#x}); it is left as it is: point journal.path elsewhere")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise JournalError(
                f"journal {self.path} has schema version {version}; this build reads "
                f"version {SCHEMA_VERSION}: it is left as it is")
        problems = [row[0] for row in db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise JournalError(f"journal {self.path} is corrupt ({'; '.join(problems[:3])}); "
                               "it is left as it is for inspection")

    def _create(self) -> None:
        self._db.executescript(f"BEGIN; {SCHEMA} PRAGMA application_id={APPLICATION_ID}; "
                               f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")

    def close(self) -> None:
        """Apply what is logged, then close; after a failure to apply, the redo log keeps
        it for the next start."""
        try:
            if self._redo is not None:
                self.apply()
        finally:
            if self._redo is not None:
                os.close(self._redo)
                self._redo = None
            self._db.close()

    # ---------------------------------------------------------------- writes

    def write(self, parents: Iterable[ParentOrder], fills: Iterable[Fill] = (),
              seqs: dict[str, int] | None = None, outgoing: Iterable[Outgoing] = ()
              ) -> None:
        """One transaction, logged (the database gets it at the next `apply`): each
        parent's row and its children's, new fills, the last applied inbound sequence
        number of the sessions in ``seqs``, and the messages to the OMS this change makes
        (kept until `sent`: a crash between this write and their send must not lose them;
        `unsent` gives them back)."""
        if self._redo is None:
            raise JournalError(f"journal {self.path} is closed or read-only")
        parent_rows, child_rows = [], []
        seq = self._seq
        for parent in parents:
            seq += 1
            parent_rows.append(_parent_row(parent, seq))
            child_rows += [_child_row(c) for c in parent.children.values()]
        first = self._last_outbox + 1
        outbox = [(first + i, session, msg_type, orjson.dumps(fields).decode())
                  for i, (session, msg_type, fields) in enumerate(outgoing)]
        txn = {"t": self._txn + 1, "sent": self._sent_up_to, "parents": parent_rows,
               "children": child_rows,
               "fills": [(f.child, f.exec_id, f.qty, str(f.price), f.at_ns) for f in fills],
               "seqs": list(seqs.items()) if seqs else [], "outbox": outbox}
        line = orjson.dumps(txn, option=orjson.OPT_APPEND_NEWLINE)
        try:
            written = os.write(self._redo, line)
            while written < len(line):
                written += os.write(self._redo, line[written:])
            if self._fsync:
                os.fsync(self._redo)
        except OSError as exc:
            with contextlib.suppress(OSError):  # no torn line for the next one to follow
                os.ftruncate(self._redo, self._redo_size)
            raise JournalError(f"journal {self._redo_path}: write failed: {exc}") from exc
        self._redo_size += len(line)
        self._txn += 1
        self._seq = seq
        self._last_outbox += len(outbox)
        self._sent_up_to = 0
        self._pending.append(txn)
        if seqs:
            self._session_seqs.update(seqs)

    def apply(self) -> None:
        """Put the logged transactions into the database, in one SQLite transaction; the
        redo log is emptied when it has grown large and holds nothing else."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        db = self._db
        try:
            db.execute("BEGIN")
            # One call per table: each call into sqlite hands the GIL to quickfix's threads
            # and must win it back. Upserts in log order: the latest row wins.
            for table, statement in _APPLY:
                rows = [row for txn in pending for row in txn[table]]
                if rows:
                    db.executemany(statement, rows)
            sent = max(txn["sent"] for txn in pending)
            if sent:
                db.execute("DELETE FROM outbox WHERE id <= ?", (sent,))
            db.execute("INSERT OR REPLACE INTO state VALUES (?,?)",
                       (APPLIED_KEY, orjson.dumps(pending[-1]["t"])))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._pending = pending + self._pending
            raise JournalError(f"journal {self.path}: write failed: {exc}") from exc
        if self._redo is not None and self._redo_size > REDO_TRUNCATE_BYTES:
            try:
                os.ftruncate(self._redo, 0)
                self._redo_size = 0
            except OSError as exc:
                raise JournalError(f"journal {self._redo_path}: cannot empty: {exc}") from exc

    def sent(self) -> None:
        """The messages of the last write have been handed to quickfix (whose store keeps
        them for resend from now on)."""
        self._sent_up_to = max(self._sent_up_to, self._last_outbox)

    def unsent(self) -> list[Outgoing]:
        """Messages committed but maybe never sent (the daemon stopped in between)."""
        with self._reading():
            return self._unsent()

    def _unsent(self) -> list[Outgoing]:
        return [(session, msg_type, [(int(t), v) for t, v in orjson.loads(fields)])
                for session, msg_type, fields in self._query(
                    "SELECT session, msg_type, fields FROM outbox ORDER BY id")]

    def clear_unsent(self) -> None:
        self.apply()
        self._db.execute("DELETE FROM outbox")

    def changed_seqs(self, seqs: dict[str, int]) -> dict[str, int]:
        """Those of ``seqs`` that differ from what is recorded."""
        known = self._session_seqs
        return {s: n for s, n in seqs.items() if known.get(s) != n}

    def save_state(self, key: str, value: Any) -> None:
        try:
            self._db.execute("INSERT OR REPLACE INTO state VALUES (?,?)",
                             (key, orjson.dumps(value)))
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: write failed: {exc}") from exc

    # ----------------------------------------------------------------- reads

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """Every read goes through here: what is logged is applied first."""
        self.apply()
        with self._reading():
            return self._db.execute(sql, parameters)

    def load_state(self, key: str) -> Any:
        row = self._query("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        with self._reading():
            return None if row is None else orjson.loads(row[0])

    def session_seqs(self) -> dict[str, int]:
        with self._reading():
            return dict(self._query("SELECT session, last_seq FROM sessions"))

    def load(self, completed: int) -> list[ParentOrder]:
        """Every parent not done, then the last ``completed`` done ones (oldest first),
        each with its children and their applied ExecIDs."""
        rows = [*self._query("SELECT * FROM parents WHERE done=0 ORDER BY rowid"),
                *reversed(self._query(
                    "SELECT * FROM parents WHERE done=1 ORDER BY rowid DESC LIMIT ?",
                    (completed,)).fetchall())]
        with self._reading():
            return list(self._rebuild(rows))

    def find(self, key: str) -> list[ParentOrder]:
        """Parents by OrderID (37), or by any ClOrdID (11) they have had."""
        rows = self._query(
            "SELECT * FROM parents WHERE order_id=? OR cl_ord_id=? OR order_id IN "
            "(SELECT p.order_id FROM parents p, json_each(p.cl_ord_ids) j WHERE j.value=?) "
            "ORDER BY seq", (key, key, key)).fetchall()
        with self._reading():
            return list(self._rebuild(rows))

    def fills(self, order_id: str) -> list[Fill]:
        with self._reading():
            return self._fills(order_id)

    def _fills(self, order_id: str) -> list[Fill]:
        return [Fill(child, exec_id, qty, Decimal(price), at_ns)
                for child, exec_id, qty, price, at_ns in self._query(
                    "SELECT f.* FROM fills f JOIN children c ON c.cl_ord_id = f.child "
                    "WHERE c.order_id=? ORDER BY f.at_ns", (order_id,))]

    def totals(self) -> tuple[int, int]:
        """(parents, shares filled) over the whole journal."""
        parents = self._query("SELECT count(*) FROM parents").fetchone()[0]
        shares = self._query("SELECT coalesce(sum(qty), 0) FROM fills").fetchone()[0]
        return parents, shares

    def _rebuild(self, rows: list[tuple[Any, ...]]) -> Iterator[ParentOrder]:
        for row in rows:
            parent = _parent_of(row)
            for child_row in self._query(
                    "SELECT * FROM children WHERE order_id=? ORDER BY sent_ns, cl_ord_id",
                    (parent.order_id,)):
                child = _child_of(child_row, parent)
                child.exec_ids.update(e for (e,) in self._query(
                    "SELECT exec_id FROM fills WHERE child=?", (child.cl_ord_id,)))
                parent.children[child.cl_ord_id] = child
            yield parent


def _pending_json(pending: PendingRequest | None) -> str | None:
    if pending is None:
        return None
    return orjson.dumps({"is_replace": pending.is_replace, "cl_ord_id": pending.cl_ord_id,
                         "orig_cl_ord_id": pending.orig_cl_ord_id, "qty": pending.qty,
                         "price": _dec(pending.price), "text": pending.text}).decode()


def _pending_of(text: str | None) -> PendingRequest | None:
    if text is None:
        return None
    data = orjson.loads(text)
    data["price"] = _undec(data["price"])
    return PendingRequest(**data)


def _parent_row(p: ParentOrder, seq: int) -> tuple[Any, ...]:
    return (p.order_id, p.session, p.cl_ord_id, p.symbol, p.side.value, p.ord_type.value,
            _dec(p.price), p.tif.value, p.qty, p.strategy, p.pinned_venue, p.created_ns,
            _dec(p.arrival_mid), p.status.value, p.cum_qty, str(p.notional), int(p.acked),
            p.text, orjson.dumps(p.cl_ord_ids).decode(),
            orjson.dumps(sorted(p.exhausted_venues)).decode(), _pending_json(p.pending),
            int(p.is_done), seq)


def _parent_of(row: tuple[Any, ...]) -> ParentOrder:
    (order_id, session, cl_ord_id, symbol, side, ord_type, price, tif, qty, strategy,
     pinned, created_ns, arrival_mid, status, cum_qty, notional, acked, text, cl_ord_ids,
     exhausted, pending, _done, _seq) = row
    return ParentOrder(
        session=session, cl_ord_id=cl_ord_id, order_id=order_id, symbol=symbol,
        side=Side(side), ord_type=OrdType(ord_type), price=_undec(price),
        tif=TimeInForce(tif), qty=qty, strategy=strategy, pinned_venue=pinned,
        created_ns=created_ns, arrival_mid=_undec(arrival_mid), status=OrdStatus(status),
        cum_qty=cum_qty, notional=Decimal(notional), acked=bool(acked),
        exhausted_venues=set(orjson.loads(exhausted)), pending=_pending_of(pending),
        text=text, cl_ord_ids=orjson.loads(cl_ord_ids))


def _child_row(c: ChildOrder) -> tuple[Any, ...]:
    return (c.cl_ord_id, c.parent.order_id, c.venue, c.via, c.ord_type.value, _dec(c.price),
            c.tif.value, c.qty, c.sent_ns, c.status.value, c.cum_qty, c.venue_order_id,
            orjson.dumps(c.cancel_ids).decode(), c.expires_ns, c.ack_latency_ns,
            int(c.unknown))


def _child_of(row: tuple[Any, ...], parent: ParentOrder) -> ChildOrder:
    (cl_ord_id, _order_id, venue, via, ord_type, price, tif, qty, sent_ns, status, cum_qty,
     venue_order_id, cancel_ids, expires_ns, ack_latency_ns, unknown) = row
    return ChildOrder(
        cl_ord_id=cl_ord_id, parent=parent, venue=venue, symbol=parent.symbol,
        side=parent.side, ord_type=OrdType(ord_type), price=_undec(price),
        tif=TimeInForce(tif), qty=qty, sent_ns=sent_ns, status=OrdStatus(status),
        cum_qty=cum_qty, venue_order_id=venue_order_id, cancel_ids=orjson.loads(cancel_ids),
        via=via, expires_ns=expires_ns, ack_latency_ns=ack_latency_ns, unknown=bool(unknown))


def _wal_checksum(data: bytes, s0: int, s1: int, order: str) -> tuple[int, int]:
    words = struct.unpack(f"{order}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def _check_wal(wal: Path) -> None:
    """SQLite takes a WAL's first bad frame for the torn end of a crash and ignores it
    and everything after it, silently. A bad frame followed by a commit of the same
    generation (its salts) is damage, not a torn end: refused."""
    try:
        data = wal.read_bytes()
    except OSError as exc:
        raise JournalError(f"journal {wal}: cannot read: {exc}") from exc
    if len(data) < 32:
        return
    magic, _version, page_size, _checkpoint, salt1, salt2 = struct.unpack(">6I", data[:24])
    if magic not in (0x377F0682, 0x377F0683):
        raise JournalError(f"journal {wal} is not a WAL (its header is damaged); it is left "
                           "as it is for inspection")
    order = ">" if magic & 1 else "<"
    sums = _wal_checksum(data[:24], 0, 0, order)
    if sums != struct.unpack(">2I", data[24:32]):
        raise JournalError(f"journal {wal}: its header is damaged; it is left as it is for "
                           "inspection")
    frame, at, broken = 24 + page_size, 32, None
    while at + frame <= len(data):
        _page, commit, frame_salt1, frame_salt2, c1, c2 = struct.unpack(
            ">6I", data[at:at + 24])
        current = (frame_salt1, frame_salt2) == (salt1, salt2)
        if broken is None:
            sums = _wal_checksum(data[at:at + 8] + data[at + 24:at + frame], *sums, order)
            if not current or sums != (c1, c2):
                broken = at
        elif current and commit:
            raise JournalError(f"journal {wal} is damaged at byte {broken}, before "
                               "transactions it holds; it is left as it is for inspection")
        at += frame


def _child_alone(row: tuple[Any, ...]) -> ChildOrder:
    stub = ParentOrder(session="", cl_ord_id="", order_id=row[1], symbol="", side=Side.BUY,
                       ord_type=OrdType.MARKET, price=None, tif=TimeInForce.DAY, qty=0,
                       strategy="", pinned_venue=None, created_ns=0, arrival_mid=None)
    return _child_of(row, stub)


def _fill_of(row: tuple[Any, ...]) -> Fill:
    child, exec_id, qty, price, at_ns = row
    return Fill(child, exec_id, qty, Decimal(price), at_ns)


def _outgoing_of(row: tuple[Any, ...]) -> list[tuple[int, str]]:
    return [(int(t), v) for t, v in orjson.loads(row[-1])]


def _seq_of(row: tuple[Any, ...]) -> tuple[str, int]:
    session, seq = row
    if not isinstance(session, str) or not isinstance(seq, int):
        raise TypeError(f"session sequence {row!r}")
    return session, seq


_DECODE: dict[str, Callable[[tuple[Any, ...]], object]] = {
    "parents": _parent_of, "children": _child_alone, "fills": _fill_of,
    "sessions": _seq_of, "state": lambda row: orjson.loads(row[1]), "outbox": _outgoing_of}
"""Each table's rows as the journal reads them back (`Journal._verify`)."""
_DECODE_REDO = {"parents": _parent_of, "children": _child_alone, "fills": _fill_of,
                "seqs": _seq_of, "outbox": _outgoing_of}


def open_read_only(path: str | Path) -> Journal:
    return Journal(path, read_only=True)


def describe_parent(parent: ParentOrder, fills: list[Fill]) -> str:
    """A parent, its children and its fills, as text for an operator."""
    price = parent.price if parent.price is not None else "market"
    lines = [f"order {parent.order_id} ClOrdIDs {', '.join(parent.cl_ord_ids)} "
             f"(session {parent.session})",
             f"  {parent.side.name.lower()} {parent.qty} {parent.symbol} @ {price} "
             f"{parent.tif.name} {parent.strategy}: {parent.status.name}, filled "
             f"{parent.cum_qty} avg {parent.avg_px:.4f}" + (f" ({parent.text})"
                                                            if parent.text else "")]
    if parent.pending is not None:
        lines.append(f"  pending {'replace' if parent.pending.is_replace else 'cancel'} "
                     f"{parent.pending.cl_ord_id}")
    for child in parent.children.values():
        lines.append(f"  child {child.cl_ord_id} -> {child.route}: {child.qty} @ "
                     f"{child.price if child.price is not None else 'market'} {child.tif.name} "
                     f"{child.status.name} filled {child.cum_qty}"
                     + (" (outcome unknown)" if child.unknown else ""))
    for fill in fills:
        lines.append(f"  fill {fill.qty} @ {fill.price} child {fill.child} "
                     f"ExecID {fill.exec_id}")
    return "\n".join(lines)
