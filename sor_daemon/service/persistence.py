"""Persistence: the journal's side of the loop.

What the engine changes, and the reports it makes to the OMS, are committed before any of
it is told to anyone; the events handled in one turn of the loop are committed together
(group commit: under load one commit serves many orders) and their actions carried out at
the start of the next turn. Reports committed but maybe never sent are resent at start;
what routing learned and the kill switch's halts are kept; a restart takes it all back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from sor_daemon.core.actions import (
    Action,
    Anomaly,
    ChildFilled,
    Halted,
    ParentAccepted,
    Resumed,
    SendChild,
    ToOms,
)
from sor_daemon.core.engine import Engine
from sor_daemon.core.risk import Halt
from sor_daemon.fix.codec import Pairs
from sor_daemon.fix.endpoint import FixEndpoint
from sor_daemon.fix.gateway import OmsGateway
from sor_daemon.service.dispatcher import Dispatcher
from sor_daemon.service.journal import Fill, Journal, JournalError
from sor_daemon.service.metrics import ANOMALIES, JOURNAL_WRITE_LATENCY
from sor_daemon.service.observers import AuditTap

ROUTING_STATE = "routing"
HALTS = "halts"
"""The kill switch's halts, kept so that a restart does not lift them."""


class Persistence:
    def __init__(self, journal: Journal, engine: Engine, gateway: OmsGateway,
                 endpoints: list[FixEndpoint], dispatcher: Dispatcher, audit: AuditTap,
                 log: Any, failed: Callable[[JournalError], None]) -> None:
        """``failed``: a write the journal refused (it halts trading)."""
        self.journal = journal
        self.engine = engine
        self.gateway = gateway
        self._endpoints = endpoints
        self._dispatcher = dispatcher
        self._audit = audit
        self.log = log
        self._failed = failed
        self._batch: list[tuple[list[Action], int | None]] = []
        """Events handled this turn of the loop, committed together by `flush`."""
        self._flush_pending = False
        self.closed = False
        self.unrecorded: str | None = None
        """Why the journal failed a write, once it has: from then on nothing more is
        carried out (`not_recorded`) until a restart recovers from the journal."""

    # ---------------------------------------------------------- group commit

    def execute(self, actions: list[Action], decision_started: int | None) -> None:
        """Queue an event's actions for this turn's commit."""
        self._batch.append((actions, decision_started))
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_pending = False
        if self._audit.first:
            self._audit.write_wire()
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        every = [a for actions, _ in batch for a in actions]
        if self.unrecorded is None:
            encoded = self._commit(every)  # if it fails: not carried out, below neither
        else:
            self.not_recorded(every)
        if self.unrecorded is not None:
            self._audit.write_wire()
            return
        delivered = True
        for actions, started in batch:
            try:
                delivered &= self._dispatcher.carry_out(actions, encoded, started)
            except Exception as exc:  # one event's bug must not drop the others
                ANOMALIES.labels("handler_error").inc()
                self.log.exception("actions_failed", error=repr(exc))
                delivered = False
        if encoded is not None and delivered:  # else kept: resent at the next start
            self.journal.sent()
        try:  # into the database, now that nobody waits for it
            self.journal.apply()
        except JournalError as exc:
            self._failed(exc)
        self._audit.write_wire()

    def _commit(self, actions: list[Action]) -> list[tuple[str, Pairs]] | None:
        """Commit what the engine changed, and the reports it makes to the OMS, before
        any of it is told to anyone; returns those reports encoded, in order (None: no
        report). A journal that cannot be written halts trading, and what it did not
        take is not carried out (`not_recorded`), nor anything after it."""
        started = time.perf_counter_ns()
        parents = self.engine.take_touched()
        seqs = {}
        for endpoint in self._endpoints:
            if endpoint.last_seq:
                seqs.update(self.journal.changed_seqs(endpoint.last_seq))
        reports = [a for a in actions if isinstance(a, ToOms)]
        if not parents and not seqs and not reports:
            return None
        now = time.time_ns()
        fills = [Fill(a.child.cl_ord_id, a.exec_id, a.qty, a.price, now)
                 for a in actions if isinstance(a, ChildFilled)]
        encoded = [self.gateway.encode(a.message) for a in reports]
        try:
            self.journal.write(parents, fills, seqs,
                               [(a.session, *e) for a, e in zip(reports, encoded, strict=True)])
        except JournalError as exc:
            self.unrecorded = f"journal unwritable: {exc}"
            self.not_recorded(actions)  # first: the kill switch cancels what is working
            self._failed(exc)
            return None
        JOURNAL_WRITE_LATENCY.observe((time.perf_counter_ns() - started) / 1e9)
        return encoded or None

    def not_recorded(self, actions: list[Action]) -> None:
        """Actions whose changes are not in the journal are not carried out: no child,
        cancel, status request or report goes out, since a restart would not know of
        them (it recovers from the journal, and the venues and the OMS resend what came
        after it). The engine takes back the children it meant to send and rejects the
        parents it accepted: the OMS gets that Rejected, unjournaled (the journal cannot
        be written), and so do refusals, which change nothing."""
        assert self.unrecorded is not None
        told = self.engine.not_carried_out(actions, self.unrecorded, time.time_ns())
        ANOMALIES.labels("not_carried_out").inc()
        self.log.error("actions_not_carried_out", reason=self.unrecorded,
                       children=sum(1 for a in actions if isinstance(a, SendChild)),
                       reports=sum(1 for a in actions if isinstance(a, ToOms)),
                       told=sum(1 for a in told if isinstance(a, ToOms)))
        self._dispatcher.carry_out(
            [a for a in actions if isinstance(a, (Anomaly, Halted, Resumed))] + told, None)

    # ------------------------------------------------------- start and stop

    def recover(self, completed_kept: int,
                ) -> tuple[list[ParentAccepted], int, dict[str, int]]:
        """Take back what the journal kept: orders (each working child's outcome unknown
        until its venue says), what routing learned, the halts, and where each session's
        inbound sequence stood (quickfix's store may be ahead: messages it had received
        but the daemon had not applied are asked for again). Returns the working parents,
        how many completed ones, and where each session's inbound sequence resumes."""
        learned = self.journal.load_state(ROUTING_STATE)
        if learned:
            self.engine.load_learned(learned)
        self.engine.restore_halts(Halt(h["scope"], h["reason"], h["by"], h["since_ns"])
                                  for h in self.journal.load_state(HALTS) or [])
        parents = self.journal.load(completed_kept)
        restored = self.engine.restore(parents)
        self.engine.take_touched()
        rewind = {session: seq + 1 for session, seq in self.journal.session_seqs().items()}
        return restored, len(parents) - len(restored), rewind

    def resend_unsent(self) -> None:
        """Reports committed before a crash but maybe never sent: sent again, marked
        PossResend (97): the OMS knows them by their ExecID if it has them already."""
        unsent = self.journal.unsent()
        for session, msg_type, pairs in unsent:
            if session in self.gateway.sessions:
                self.gateway.send_encoded(session, msg_type, [*pairs, (97, "Y")])
        self.journal.clear_unsent()
        if unsent:
            self.log.info("journal_reports_resent", count=len(unsent))

    def save_learned(self) -> None:
        try:
            self.journal.save_state(ROUTING_STATE, self.engine.learned())
        except JournalError as exc:
            self._failed(exc)

    def save_halts(self, halts: Mapping[str, Halt]) -> None:
        """Raises JournalError."""
        self.journal.save_state(HALTS, [asdict(h) for h in halts.values()])

    def close(self) -> None:
        """Raises JournalError (its redo log keeps what it had: the next start applies it)."""
        self.save_learned()
        self.closed = True
        self.journal.close()
