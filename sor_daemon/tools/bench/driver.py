"""The benchmark's OMS: one quickfix initiator with a session to each path, timing every
order from the NewOrderSingle handed to quickfix to its reports read back.

No event loop and no per-report hand-off: the reports are timed, matched and counted in
quickfix's callback, and the sending thread waits only for room in its window. The same
code drives both paths, with the same message, so that they differ only by what is
behind the session.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

import quickfix as fix

from sor_daemon.core.domain import OrdType, Side, TimeInForce
from sor_daemon.core.messages import NewOrder
from sor_daemon.fix import codec
from sor_daemon.fix.codec import field_text
from sor_daemon.fix.dictionary import data_dictionary_path
from sor_daemon.fix.endpoint import (
    INITIATOR_QUALIFIER,
    BareApplication,
    SessionSpec,
    build_message,
    session_settings,
)

SYMBOL = "AAPL"
PRICE = Decimal("190.10")
"""A marketable IOC buy at the echo's offer: one child, filled at once."""
QTY = 100
TERMINAL = frozenset("2348C")
"""OrdStatus values that end an order: filled, done for day, canceled, rejected, expired."""


@dataclass
class Sample:
    """What one run of orders measured (nanoseconds)."""

    acks: list[int] = field(default_factory=list)
    """NewOrderSingle sent -> its first ExecutionReport (New, or a fill if none came first)."""
    fills: list[int] = field(default_factory=list)
    """NewOrderSingle sent -> the report that filled it."""
    failed: int = 0
    """Orders that ended without being filled."""
    elapsed_ns: int = 0


class _Run:
    """The orders of one run in flight; the callback fills in ``sample``."""

    def __init__(self, window: int) -> None:
        self.sample = Sample()
        self.sent: dict[str, int] = {}
        self.acked: set[str] = set()
        self.room = threading.Semaphore(window)
        self.done = threading.Event()
        self.expected = 0
        self.finished = 0


class BenchDriver(BareApplication):
    """Sessions to each target by name; `run` sends orders to one of them."""

    def __init__(self, sender: str, targets: dict[str, tuple[str, int]]) -> None:
        """``targets``: name -> (TargetCompID, port) on 127.0.0.1."""
        super().__init__()
        self._specs = {name: SessionSpec(sender_comp_id=sender, target_comp_id=comp_id,
                                         port=port)
                       for name, (comp_id, port) in targets.items()}
        self._ids = {name: fix.SessionID("FIX.4.4", sender, spec.target_comp_id,
                                         INITIATOR_QUALIFIER)
                     for name, spec in self._specs.items()}
        self._names = {sid.toString() for sid in self._ids.values()}
        self._logged_on: set[str] = set()
        self._dictionary = fix.DataDictionary(data_dictionary_path())
        self._run: _Run | None = None
        self._seq = itertools.count(1)
        self._prefix = f"B{time.time_ns() % 10**9:x}-"
        self.errors = 0
        self._initiator = fix.SocketInitiator(self, fix.MemoryStoreFactory(),
                                              session_settings(True, list(self._specs.values())))

    # ------------------------------------------------------------ control

    def start(self, timeout: float = 30.0) -> None:
        self._initiator.start()
        deadline = time.monotonic() + timeout
        while self._logged_on != self._names:
            if time.monotonic() > deadline:
                missing = sorted(self._names - self._logged_on)
                raise TimeoutError(f"no logon within {timeout:.0f} s: {missing}")
            time.sleep(0.05)

    def stop(self) -> None:
        self._initiator.stop()

    def run(self, target: str, orders: int, window: int = 1, rate: float = 0.0,
            timeout: float = 120.0) -> Sample:
        """Send ``orders`` orders to ``target``, at most ``window`` in flight; with
        ``rate`` (orders/s), on a fixed schedule as well. Returns when every order has
        ended; raises TimeoutError after ``timeout`` seconds."""
        run = self._run = _Run(window)
        run.expected = orders
        session_id = self._ids[target]
        interval_ns = int(1e9 / rate) if rate else 0
        deadline = time.monotonic() + timeout
        start = time.perf_counter_ns()
        for i in range(orders):
            if interval_ns:
                due = start + i * interval_ns
                while (wait := due - time.perf_counter_ns()) > 0:
                    time.sleep(wait / 1e9 if wait > 200_000 else 0)
            while not run.room.acquire(timeout=1.0):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{target}: {run.finished}/{orders} orders ended "
                                       f"in {timeout:.0f} s")
            cl_ord_id = f"{self._prefix}{next(self._seq)}"
            message = build_message("D", codec.encode_new_order(NewOrder(
                cl_ord_id, SYMBOL, Side.BUY, QTY, OrdType.LIMIT, PRICE, TimeInForce.IOC)),
                self._dictionary)
            run.sent[cl_ord_id] = time.perf_counter_ns()
            fix.Session.sendToTarget(message, session_id)
        if not run.done.wait(max(deadline - time.monotonic(), 0.0)):
            raise TimeoutError(f"{target}: {run.finished}/{orders} orders ended "
                               f"in {timeout:.0f} s")
        run.sample.elapsed_ns = time.perf_counter_ns() - start
        self._run = None
        return run.sample

    # ------------------------------------------------------- quickfix's thread

    def _report(self, raw: str, now: int) -> None:
        run = self._run
        if run is None:
            return
        cl_ord_id = field_text(raw, 11)
        sent = run.sent.get(cl_ord_id)
        if sent is None:
            return
        if cl_ord_id not in run.acked:
            run.acked.add(cl_ord_id)
            run.sample.acks.append(now - sent)
        status = field_text(raw, 39)
        if status not in TERMINAL:
            return
        if status == "2":
            run.sample.fills.append(now - sent)
        else:
            run.sample.failed += 1
        del run.sent[cl_ord_id]
        run.acked.discard(cl_ord_id)
        run.finished += 1
        run.room.release()
        if run.finished == run.expected:
            run.done.set()

    def fromApp(self, message, session_id):  # noqa: N802 - quickfix's names
        now = time.perf_counter_ns()
        try:
            raw = message.toString()
            if field_text(raw, 35) == "8":
                self._report(raw, now)
        except Exception:  # noqa: BLE001 - must not escape into quickfix
            self.errors += 1

    def onLogon(self, session_id):  # noqa: N802
        self._logged_on.add(session_id.toString())

    def onLogout(self, session_id):  # noqa: N802
        self._logged_on.discard(session_id.toString())
