"""The daemon: the loop that joins the OMS gateway, the engine and the venue connectors.

Everything here runs on the event loop thread, which is the only writer of order
state: adapters report events, the engine decides, and `_execute` has the engine's
actions committed (`persistence`) and carried out (`dispatcher`: commands to the adapters,
events to the `observers`). What it is made of is built in `wiring`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import start_http_server

from sor_daemon.config import SorConfig, oms_credentials
from sor_daemon.core.actions import Action, CancelChild, SendChild
from sor_daemon.core.analytics.monitor import ExecutionMonitor
from sor_daemon.core.engine import IdSource
from sor_daemon.core.market import VenueBook
from sor_daemon.core.messages import (
    CancelFields,
    CancelReject,
    ExecutionReport,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
)
from sor_daemon.core.risk import ALL, Halt
from sor_daemon.fix.endpoint import FixEndpoint, wait_until
from sor_daemon.fix.gateway import OmsGateway
from sor_daemon.fix.metrics import FIX_MESSAGES, SESSION_UP, VENUE_OUTAGES
from sor_daemon.fix.venue import FixVenueConnector
from sor_daemon.service.admin import AdminServer
from sor_daemon.service.audit import AuditError, AuditTrail, MiB
from sor_daemon.service.dispatcher import Dispatcher
from sor_daemon.service.files import private_dir
from sor_daemon.service.journal import JournalError
from sor_daemon.service.metrics import (
    ANOMALIES,
    HALTED_SYMBOLS,
    KILL_SWITCH,
    RECOVERED_PARENTS,
    UNKNOWN_CHILDREN,
)
from sor_daemon.service.observers import AuditTap, Observers
from sor_daemon.service.persistence import Persistence
from sor_daemon.service.sd_notify import Notifier
from sor_daemon.service.wiring import build_engine, id_prefix, open_journal, session_stores

TICK_SECONDS = 0.1
"""How often the engine's timers are looked at."""
ROUTING_STATE_SECONDS = 10
"""How often what routing has learned is saved to the journal (and at shutdown)."""


def _halt_json(halt: Halt) -> dict[str, Any]:
    since = datetime.fromtimestamp(halt.since_ns / 1e9, UTC).isoformat(timespec="seconds")
    return {"scope": halt.scope, "reason": halt.reason, "by": halt.by, "since": since}


GC_THRESHOLDS = (20_000, 20, 10)
"""Young collections every 20,000 net allocations instead of 700 (CPython's default)."""


def quiet_gc() -> None:
    """Keep the cyclic garbage collector's pauses off the latency tail.

    A full collection walks every tracked object; in a daemon that holds its modules
    (pydantic, quickfix, prometheus_client ...) and thousands of recent orders, that took
    ~200 ms every ~10 s under load, the whole p99 of the order round trip. Objects alive
    at start are frozen out of collections (``gc.freeze``: they live as long as the
    process anyway), and young collections run less often, so fewer short-lived orders
    are promoted to the old generation, whose collections are what cost."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Daemon:
    def __init__(self, config: SorConfig,
                 credentials: dict[str, tuple[str, str | None]] | None = None,
                 accept_empty_journal: bool = False) -> None:
        """``credentials``: OMS usernames and passwords by CompID (default: read as the
        config says, from the environment or a file); ``accept_empty_journal``: start
        with an empty journal though the FIX store has history (`wiring.open_journal`)."""
        self.config = config
        self.log = structlog.get_logger("sor").bind()
        """Assembled once, from the logging configured now (a lazy proxy would rebuild
        itself on every call: a cost on the hot path)."""
        log_dir = config.log.fix_message_dir
        if log_dir:  # before quickfix makes it
            private_dir(log_dir)
        self.journal = (open_journal(config.journal, accept_empty_journal)
                        if config.journal.path else None)
        """None: nothing survives a restart, and sessions reset at every logon."""
        oms_store, venue_store = session_stores(config.journal, self.journal)
        audit = config.audit
        self.audit_tap = AuditTap(
            AuditTrail(Path(audit.path), audit.durability, audit.max_mb * MiB, audit.keep)
            if audit.path else None, self._audit_failed)
        self.gateway = OmsGateway(config.oms, self, log_dir,
                                  oms_credentials(config) if credentials is None
                                  else credentials,
                                  tap=self.audit_tap.oms if self.audit_tap.trail else None,
                                  store=oms_store)
        self.audit_tap.counterparties = self.gateway.counterparties
        self.audit = self.audit_tap.trail
        """The audit trail (None: not kept)."""
        self.engine = build_engine(config, self.gateway.sessions,
                                   IdSource(id_prefix(time.time_ns())),
                                   track_changes=self.journal is not None)
        self.admin = AdminServer(config.admin.socket, self._admin)
        self.connectors = {
            v.name: FixVenueConnector(
                v, list(config.symbols), self, log_dir,
                tap=(functools.partial(self.audit_tap.venue, v.name)
                     if self.audit_tap.trail else None),
                store=venue_store)
            for v in [*config.venues, *config.brokers]
        }
        self._endpoints: list[FixEndpoint] = [self.gateway.endpoint,
                                              *(c.endpoint for c in self.connectors.values())]
        self._metrics_server = None
        self._ticker: asyncio.Future[None] | None = None
        for venue in self.connectors:
            SESSION_UP.labels(venue).set(0)
        KILL_SWITCH.set(0)
        HALTED_SYMBOLS.set(0)
        self.monitor = ExecutionMonitor(config.monitor.scorecard_window_s)
        self.observers = Observers(self.monitor, self.audit_tap, self.log, self.engine.mid,
                                   config.monitor.records, self._halts_changed)
        self.dispatcher = Dispatcher(self.connectors, self.gateway, self.observers, self.log,
                                     self._child_not_sent)
        self.persistence = (Persistence(self.journal, self.engine, self.gateway,
                                        self._endpoints, self.dispatcher, self.audit_tap,
                                        self.log, self._journal_failed)
                            if self.journal is not None else None)
        self._scored_ns = 0
        self._up: set[str] = set()
        """Venue and broker sessions logged on (an outage is a drop from up)."""
        self._saved_ns = 0
        self._stopped = False
        self._rewind: dict[str, int] = {}
        """Where each session's inbound sequence resumes after a restart (`_recover`)."""

    def _recover(self) -> None:
        assert self.persistence is not None
        restored, completed, self._rewind = self.persistence.recover(
            self.config.routing.completed_orders_kept)
        self._halts_changed()
        for accepted in restored:
            self.observers.watch(accepted.parent)
        RECOVERED_PARENTS.set(len(restored))
        assert self.journal is not None
        self.log.info("journal_recovered", working=len(restored), completed=completed,
                      unknown_children=self._count_unknown(),
                      sequences={s: n - 1 for s, n in self._rewind.items()},
                      replayed=self.journal.replayed)

    def _count_unknown(self) -> int:
        count = sum(1 for p in self.engine.open_parents()
                    for c in p.live_children() if c.unknown)
        UNKNOWN_CHILDREN.set(count)
        return count

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self.persistence is not None:
            self._recover()
        metrics = self.config.metrics
        self._metrics_server, _ = start_http_server(metrics.port, metrics.host)
        await self.admin.start()
        # The OMS sessions exist before any venue can report: a report made on restart
        # (a fill the venue resends) is stored for the OMS even before it logs on.
        await self.gateway.start(self._rewind)
        if self.persistence is not None:
            self.persistence.resend_unsent()
        for connector in self.connectors.values():
            await connector.start(self._rewind)
        self.observers.open_records()
        self._ticker = asyncio.ensure_future(self._tick())
        self.log.info("daemon_started", oms_port=self.config.oms.port,
                      venues=list(self.connectors), metrics=f"{metrics.host}:{metrics.port}")

    async def stop(self) -> None:
        """Stop intake first; then, if so configured, cancel every working order and wait
        (bounded) for the venues to confirm; then log out of the OMS and every venue and
        close the journal. A second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self.log.info("daemon_stopping", open_parents=len(self.engine.open_parents()))
        self.engine.close_intake("the router is shutting down")
        if self.config.shutdown.cancel_working and self.engine.open_parents():
            self._execute(self.engine.cancel_all("canceled: the router is shutting down",
                                                 time.time_ns()))
            settled = await wait_until(
                lambda: not any(p.live_children() for p in self.engine.open_parents()),
                self.config.shutdown.timeout_s)
            self.log.info("shutdown_cancels", settled=settled,
                          open_parents=len(self.engine.open_parents()))
        await self.gateway.stop()
        await self.admin.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await asyncio.gather(*(c.stop() for c in self.connectors.values()))
        self.observers.close_records()
        if self.persistence is not None:
            self.persistence.flush()  # before the audit trail closes: its actions may be audited
        self.audit_tap.close()
        if self.persistence is not None:
            try:
                self.persistence.close()
            except JournalError as exc:  # its redo log keeps it: the next start applies it
                self._fault("journal_write_failed", "journal_close_failed", str(exc))
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        self.log.info("daemon_stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Start, tell systemd (if it runs us) that we are ready, serve until ``stop``."""
        await self.start()
        service = Notifier.from_environment()
        service.ready(self.service_status)
        try:
            await stop.wait()
        finally:
            service.stopping()
            await self.stop()
            service.close()

    def service_status(self) -> str:
        """One line for `systemctl status`: sessions up, working orders, the kill switch."""
        oms = sum(1 for name in self.gateway.sessions if self.gateway.endpoint.is_logged_on(name))
        halted = "; kill switch engaged" if ALL in self.engine.halts else ""
        return (f"OMS sessions {oms}/{len(self.gateway.sessions)} up, venue sessions "
                f"{len(self._up)}/{len(self.connectors)} up, "
                f"{len(self.engine.open_parents())} working orders{halted}")

    async def _tick(self) -> None:
        """Timers: passive children past their time to live; markouts come due (their
        book may not have moved); scorecards and the record file every second."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                now = time.time_ns()
                actions = self.engine.tick(now)
                if actions:
                    self._execute(actions)
                for symbol in self.config.symbols:
                    self.observers.markouts(symbol, now)
                self.audit_tap.write_wire()
                self.audit_tap.flush()
                if now - self._scored_ns >= 1_000_000_000:
                    self._scored_ns = now
                    self.observers.export_scorecards(now)
                    self._count_unknown()
                    if (self.persistence is not None
                            and now - self._saved_ns >= ROUTING_STATE_SECONDS * 1_000_000_000):
                        self._saved_ns = now
                        self.persistence.save_learned()
                    self.observers.flush_records()
            except Exception as exc:  # a timer must keep running; the bug is counted
                ANOMALIES.labels("timer_error").inc()
                self.log.exception("timer_failed", error=repr(exc))

    # ------------------------------------------------------------ OMS events

    def new_order(self, session: str, fields: NewOrderFields, received_ns: int = 0) -> None:
        received = time.perf_counter_ns()
        if fields.poss_dup and self._seen_before(session, fields.cl_ord_id):
            ANOMALIES.labels("possdup_ignored").inc()
            self.log.warning("possdup_order_ignored", session=session,
                             cl_ord_id=fields.cl_ord_id)
            return
        self._execute(self.engine.new_order(session, fields, time.time_ns(),
                                            received_ns or None), decision_started=received)

    def _seen_before(self, session: str, cl_ord_id: str) -> bool:
        """A ClOrdID this OMS session has used: in memory, or in the journal."""
        if self.engine.parent(session, cl_ord_id) is not None:
            return True
        return self.journal is not None and any(
            p.session == session for p in self.journal.find(cl_ord_id))

    def cancel_order(self, session: str, fields: CancelFields, received_ns: int = 0) -> None:
        self._execute(self.engine.cancel_order(session, fields, time.time_ns(),
                                               received_ns or None))

    def replace_order(self, session: str, fields: ReplaceFields, received_ns: int = 0) -> None:
        self._execute(self.engine.replace_order(session, fields, time.time_ns(),
                                                received_ns or None))

    def order_status(self, session: str, fields: StatusFields, received_ns: int = 0) -> None:
        self._execute(self.engine.order_status(session, fields, time.time_ns(),
                                               received_ns or None))

    def oms_session(self, session: str, up: bool) -> None:
        self.log.info("oms_session_up" if up else "oms_session_down", session=session)
        if not up and self.config.oms.cancel_on_disconnect:
            self._execute(self.engine.cancel_all("canceled: the OMS session dropped",
                                                 time.time_ns(), session))

    def oms_problem(self, session: str, problem: str, detail: str) -> None:
        ANOMALIES.labels(problem).inc()
        self.log.error("oms_message_failed", session=session, problem=problem, detail=detail)

    def oms_logon_refused(self, session: str, reason: str) -> None:
        self.log.warning("oms_logon_refused", session=session or None, reason=reason)

    def oms_connection_refused(self, reason: str, peer: str, detail: str) -> None:
        """Closed by the gate before quickfix saw it (counted there)."""
        self.log.warning("oms_connection_refused", reason=reason, peer=peer, detail=detail)
        self.audit_tap.event("connection_refused", reason=reason, peer=peer, detail=detail)

    def oms_session_cut(self, session: str, reason: str, detail: str) -> None:
        """A logged-on OMS connection cut by the gate (counted there)."""
        self.log.warning("oms_session_cut", session=session, reason=reason, detail=detail)
        self.audit_tap.event("session_cut", session=self.gateway.counterparties[session],
                         reason=reason, detail=detail)

    # ---------------------------------------------------------- venue events

    def venue_session(self, venue: str, up: bool) -> None:
        now = time.time_ns()
        dropped = not up and venue in self._up
        if dropped:
            VENUE_OUTAGES.labels(venue).inc()
            self.monitor.venue_down(venue, now)
        (self._up.add if up else self._up.discard)(venue)
        SESSION_UP.labels(venue).set(1 if up else 0)
        self.log.info("venue_session_up" if up else "venue_session_down", venue=venue)
        self._execute(self.engine.venue_session(venue, up, now))
        if dropped:
            self._execute(self.engine.venue_error(venue, "session down", now))

    def venue_execution(self, venue: str, report: ExecutionReport) -> None:
        now = time.time_ns()
        FIX_MESSAGES.labels("in", venue, "8").inc()
        self._execute(self.engine.venue_execution(venue, report, now))

    def venue_cancel_reject(self, venue: str, reject: CancelReject) -> None:
        FIX_MESSAGES.labels("in", venue, "9").inc()
        self.log.info("venue_cancel_rejected", venue=venue, child=reject.orig_cl_ord_id,
                      text=reject.text)
        self._execute(self.engine.venue_cancel_reject(venue, reject, time.time_ns()))

    def venue_book(self, book: VenueBook) -> None:
        now = time.time_ns()
        actions = self.engine.venue_book(book, now)
        if actions:
            self._execute(actions)
        self.observers.markouts(book.symbol, now)

    def venue_trades(self, venue: str, symbol: str, qty: int) -> None:
        self.engine.observe_traded(venue, symbol, qty, time.monotonic_ns())

    def venue_problem(self, venue: str, problem: str, detail: str) -> None:
        ANOMALIES.labels(problem).inc()
        self.log.error("venue_problem", venue=venue, problem=problem, detail=detail)
        self._execute(self.engine.venue_error(venue, problem, time.time_ns()))

    # --------------------------------------------------------------- actions

    def _execute(self, actions: list[Action], decision_started: int | None = None) -> None:
        """Carry the engine's actions out. With a journal, first commit what they change
        (`Persistence`: the events of one turn of the loop together), then carry them
        out, in order, at the start of the next turn."""
        if self.persistence is None or self.persistence.closed:
            if self.audit_tap.first:
                self.audit_tap.write_wire()
            self.dispatcher.carry_out(actions, None, decision_started)
            return
        self.persistence.execute(actions, decision_started)

    def _child_not_sent(self, child_id: str, why: str) -> None:
        self._execute(self.engine.child_not_sent(child_id, why, time.time_ns()))

    def _fault(self, anomaly: str, event: str, error: str, halt: str | None = None,
               by: str = "") -> None:
        """Count and log a failure of the daemon's own; with ``halt``, engage the kill
        switch for everything (once) with that reason."""
        ANOMALIES.labels(anomaly).inc()
        self.log.error(event, error=error)
        if halt is not None and ALL not in self.engine.halts:
            self._execute(self.engine.halt(ALL, halt, by, time.time_ns()))

    def _journal_failed(self, exc: JournalError) -> None:
        self._fault("journal_write_failed", "journal_write_failed", str(exc),
                    f"journal unwritable: {exc}", "journal")

    def _audit_failed(self, exc: AuditError) -> None:
        """A trail that cannot be written halts trading (an unrecorded order is a
        compliance breach), once."""
        self._fault("audit_write_failed", "audit_write_failed", str(exc),
                    f"audit trail unwritable: {exc}", "audit")

    def _halts_changed(self) -> None:
        halts = self.engine.halts
        self.observers.halts(halts)
        if self.persistence is not None:
            try:
                self.persistence.save_halts(halts)
            except JournalError as exc:
                self._fault("journal_write_failed", "journal_write_failed", str(exc))

    # ----------------------------------------------------------------- admin

    async def _admin(self, request: dict[str, Any]) -> dict[str, Any]:
        """One operator command from the control socket (on the loop, like every event)."""
        command, now = request["command"], time.time_ns()
        reason = str(request.get("reason") or "operator request")[:200]
        self.log.warning("admin_command", command=command, reason=reason)
        if command != "status":
            self.audit_tap.event("admin", command=command, reason=reason)
        if command == "status":
            return {"ok": True, "status": self.status(now)}
        if command == "halt":
            actions = self.engine.halt(ALL, reason, "operator", now)
            if not actions:
                return {"ok": False, "error": "the kill switch is already engaged"}
            self._execute(actions)
            cancels = sum(1 for a in actions if isinstance(a, CancelChild))
            return {"ok": True, "message": f"kill switch engaged: new orders refused; "
                                           f"{cancels} working children being cancelled"}
        if command == "resume":
            actions = self.engine.resume(now)
            if not actions:
                return {"ok": False, "error": "nothing is halted"}
            self._execute(actions)
            sent = sum(1 for a in actions if isinstance(a, SendChild))
            return {"ok": True, "message": f"resumed: routing again ({sent} children sent)"}
        open_now = len(self.engine.open_parents())
        self._execute(self.engine.cancel_all(f"canceled by operator: {reason}", now))
        return {"ok": True, "message": f"cancelling {open_now} open orders"}

    def status(self, now_ns: int, max_orders: int = 50) -> dict[str, Any]:
        """Sessions, the kill switch, open orders and venue health, JSON-safe."""
        parents = sorted(self.engine.open_parents(), key=lambda p: p.created_ns)
        oms_up = {name: self.gateway.endpoint.is_logged_on(name)
                  for name in self.gateway.sessions}
        return {
            "halts": [_halt_json(h) for h in self.engine.halts.values()],
            "sessions": [
                *({"name": label, "kind": "oms", "up": oms_up[name]}
                  for name, label in self.gateway.counterparties.items()),
                *({"name": name, "kind": "broker" if self.engine.is_broker(name)
                   else self.engine.venues[name].kind, "up": name in self._up}
                  for name in self.connectors),
            ],
            "open_count": len(parents),
            "open_orders": [{
                "cl_ord_id": p.cl_ord_id, "session": self.gateway.sessions.get(p.session),
                "symbol": p.symbol, "side": p.side.name.lower(), "qty": p.qty,
                "filled": p.cum_qty, "status": p.status.name.lower(), "strategy": p.strategy,
                "working_children": len(p.live_children())} for p in parents[:max_orders]],
            "venues": [{"route": route, "fill_rate": card.fill_rate,
                        "reject_rate": card.reject_rate, "ack_latency_s": card.ack_latency_s,
                        "outages": card.outages, "children": card.children}
                       for route, card in sorted(
                           self.monitor.scorecards.snapshot(now_ns).items())],
        }
