"""The audit trail: an append-only JSON-lines file of every order message in and out and
every routing decision, for compliance (`sor-daemon audit CLORDID` reads it back, see
`sor_daemon.tools.reports.audit`).

One record per line, serialised with orjson:

- FIX: ``{"ts", "kind": "fix", "dir": "in"|"out", "cpty", "msg_type", "cl_ord_id",
  "orig_cl_ord_id", "order_id", "exec_id", "exec_type", "ord_status", "symbol", "text",
  "fix"}``: the index keys are tags 35, 11, 41, 37, 17, 150, 39, 55 and 58 (first
  occurrence; absent tags are omitted) and ``fix`` is the whole message with SOH shown as
  ``|``, the values of Password (554), NewPassword (925) and RawData (96) replaced by
  ``***``. ``cpty`` is ``oms:<session>`` for the OMS (the report relies on that prefix) or a
  venue or broker name.
- Events: ``{"ts", "kind", **fields}``, e.g. ``decision`` and ``child`` (``order_id``,
  ``parent``, ``child``, ``venue``, ``route``), ``kill_switch``, ``admin``.

``ts`` is wall-clock nanoseconds since the epoch (``time.time_ns()``).

Durability:

- ``fsync``: each record is written and fsynced before `message`/`event` returns.
- ``batch``: records are buffered; `flush` writes and fsyncs them (the daemon calls it
  every 100 ms and at stop). A buffer past `BATCH_BYTES` is written out at once, without
  fsync, to bound memory; the next `flush` fsyncs it.
- ``none``: as ``batch``, never fsynced (the OS writes it back when it likes).

Errors: a failed write raises `AuditError` from `message`/`event` in ``fsync`` mode and
from `flush`/`close` otherwise (a failed early write-out in ``batch``/``none`` mode is kept
and raised by the next `flush`). Records not written stay buffered, in order, and are
retried by the next write, so a transient failure (a full disk freed up) loses nothing and
never leaves half a record followed by another one (only `close` gives up on them).

Opening a file whose last line is half written (the daemon died mid-write) cuts that half
line off, with an ``audit_torn_tail_dropped`` warning, so the next record starts clean.

Each call holds a lock, so calls from several threads never interleave records; the
daemon calls it from its loop.
"""

from __future__ import annotations

import os
import re
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import orjson
import structlog

from sor_daemon.fix.codec import masked
from sor_daemon.service.files import private_dir

MiB = 1 << 20
BATCH_BYTES = 64 * 1024
"""``batch``/``none``: the buffer is written out (not fsynced) once it holds this much."""

Durability = Literal["fsync", "batch", "none"]

# Each wanted tag right after a SOH (the message is searched with one SOH prepended);
# "=" right after the number keeps 11 from matching 110.
_TAGS = re.compile("\x01(35|34|45|11|41|37|17|150|39|55|58)=([^\x01]*)")
_KEYS = {"35": "msg_type", "34": "seq", "45": "ref_seq", "11": "cl_ord_id",
         "41": "orig_cl_ord_id", "37": "order_id", "17": "exec_id", "150": "exec_type",
         "39": "ord_status", "55": "symbol", "58": "text"}
_DUMPS_OPTIONS = orjson.OPT_APPEND_NEWLINE

log = structlog.get_logger("sor.audit")


class AuditError(OSError):
    """Writing the audit trail failed; the records not written are kept and retried."""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"audit event field of type {type(value).__name__} is not JSON-safe")


class AuditTrail:
    """Appends records to ``path``, rotating to ``path.1`` ... ``path.<keep>`` (oldest is
    the highest number) before the file would pass ``max_bytes``; a record is never split
    across files. ``keep`` counts rotated files, so at most ``keep + 1`` files exist."""

    def __init__(self, path: Path, durability: Durability = "batch",
                 max_bytes: int = 100 * MiB, keep: int = 10) -> None:
        if durability not in ("fsync", "batch", "none"):
            raise ValueError(f"durability must be fsync, batch or none, not {durability!r}")
        if max_bytes <= 0 or keep < 1:
            raise ValueError("max_bytes must be positive and keep at least 1")
        self.path = Path(path)
        self.durability: Durability = durability
        self.max_bytes = max_bytes
        self.keep = keep
        self._sync = durability != "none"
        self._per_record = durability == "fsync"
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        """Whole records not yet handed to the OS, oldest first."""
        self._pending_bytes = 0
        self._partial = b""
        """The unwritten end of a record a failed write began: the current file gets it
        first, before anything else and before any rotation."""
        self._unsynced = False
        self._deferred: OSError | None = None
        self._fd: int | None = None
        self._closed = False
        self._size = 0
        private_dir(self.path.parent)
        self._open()

    # ------------------------------------------------------------------ records

    def message(self, direction: Literal["in", "out"], counterparty: str, raw: str,
                now_ns: int) -> None:
        """One FIX message as quickfix's text (SOH separated), passwords `masked`."""
        raw = masked(raw)
        record: dict[str, Any] = {"ts": now_ns, "kind": "fix", "dir": direction,
                                  "cpty": counterparty}
        for tag, value in _TAGS.findall("\x01" + raw):
            key = _KEYS[tag]
            if key not in record:
                record[key] = value
        record["fix"] = raw.replace("\x01", "|")
        self._append(orjson.dumps(record, option=_DUMPS_OPTIONS))

    def event(self, kind: str, now_ns: int, **fields: Any) -> None:
        """A non-FIX record: JSON-safe values (Decimal is written as a string)."""
        self._append(orjson.dumps({"ts": now_ns, "kind": kind, **fields},
                                  default=_default, option=_DUMPS_OPTIONS))

    def flush(self) -> None:
        """Write the buffered records out and fsync them (not in ``none`` mode)."""
        with self._lock:
            self._deferred = None
            self._write_pending()
            self._fsync_if_needed()

    def close(self) -> None:
        """Flush and close; idempotent. The file is closed even if the flush fails (and the
        records it could not write are dropped)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            with self._lock:
                self._closed = True
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None

    def __enter__(self) -> AuditTrail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- internals

    def _append(self, line: bytes) -> None:
        with self._lock:
            if self._closed:
                raise AuditError(f"audit trail {self.path} is closed")
            self._pending.append(line)
            self._pending_bytes += len(line)
            if self._per_record:
                self._write_pending()
                self._fsync_if_needed()
            elif self._pending_bytes >= BATCH_BYTES and self._deferred is None:
                try:
                    self._write_pending()
                except AuditError as exc:  # raised by the next flush()
                    self._deferred = exc
                    log.error("audit_write_failed", path=str(self.path), error=str(exc))

    def _write_pending(self) -> None:
        if self._closed:
            raise AuditError(f"audit trail {self.path} is closed")
        try:
            if self._fd is None:  # a rotation failed after closing the file
                self._open()
            if self._partial:
                self._write(self._partial)
                self._partial = b""
            while self._pending:
                # Records that fit in the current file, at least one if it is empty.
                room = self.max_bytes - self._size
                count, size = 0, 0
                for line in self._pending:
                    if size + len(line) > room and (count or self._size):
                        break
                    count += 1
                    size += len(line)
                if count == 0:
                    self._rotate()
                    continue
                chunk = self._pending[:count]
                del self._pending[:count]
                self._pending_bytes -= size
                self._write(chunk[0] if count == 1 else b"".join(chunk))
        except OSError as exc:
            raise AuditError(exc.errno, f"audit trail {self.path}: {exc.strerror or exc}") \
                from exc

    def _write(self, data: bytes) -> None:
        """All of ``data``; on failure, what was not written becomes ``_partial``."""
        assert self._fd is not None
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except OSError:
                self._partial = bytes(view)
                raise
            self._size += written
            self._unsynced = True
            view = view[written:]

    def _fsync_if_needed(self) -> None:
        if self._sync and self._unsynced and self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise AuditError(exc.errno, f"audit trail {self.path}: fsync: {exc.strerror}") \
                    from exc
            self._unsynced = False

    def _open(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        size = os.fstat(fd).st_size
        if size:
            size = self._drop_torn_tail(fd, size)
        self._fd, self._size, self._unsynced = fd, size, False

    def _drop_torn_tail(self, fd: int, size: int) -> int:
        """A crash can leave the last record half written; appending after it would glue
        it to the next record. Cut the file back to its last complete line."""
        with open(self.path, "rb") as f:
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                return size
            end = size
            while end > 0:
                start = max(0, end - 65536)
                f.seek(start)
                block = f.read(end - start)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    end = start + newline + 1
                    break
                end = start
        os.ftruncate(fd, end)
        if self._sync:
            os.fsync(fd)
        log.warning("audit_torn_tail_dropped", path=str(self.path), bytes=size - end)
        return end

    def _rotate(self) -> None:
        """Close the file, shift path.N -> path.N+1 (dropping path.<keep>), path -> path.1,
        open a new path."""
        assert self._fd is not None
        if self._sync and self._unsynced:
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        name = self.path.name
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{name}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{name}.{n + 1}"))
        os.replace(self.path, self.path.with_name(f"{name}.1"))
        self._open()
        if self._sync:
            self._fsync_dir()

    def _fsync_dir(self) -> None:
        """Make the renames and the new file durable."""
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
