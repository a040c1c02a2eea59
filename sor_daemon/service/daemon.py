"""The daemon: wires the OMS gateway, the engine and the venue connectors on one loop.

Everything here runs on the event loop thread, which is the only writer of order
state: adapters report events, the engine decides, and `_execute` carries out the
engine's actions through the adapters, counting and logging as it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import orjson
import structlog
from prometheus_client import start_http_server

from sor_daemon.config import SorConfig, oms_credentials
from sor_daemon.core.analytics.monitor import ExecutionMonitor, Record, to_json
from sor_daemon.core.domain import ExecType, OrdStatus
from sor_daemon.core.engine import (
    Action,
    Anomaly,
    CancelChild,
    ChildAcked,
    ChildEnded,
    ChildFilled,
    Decision,
    Engine,
    Halted,
    IdSource,
    ParentAccepted,
    ParentEnded,
    QueryChild,
    Resumed,
    SendChild,
    ToOms,
)
from sor_daemon.core.market import VenueBook
from sor_daemon.core.messages import (
    BusinessReject,
    CancelFields,
    CancelReject,
    ExecutionReport,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
)
from sor_daemon.core.orders import ParentOrder
from sor_daemon.core.risk import ALL, Halt
from sor_daemon.core.routing.routes import Broker
from sor_daemon.core.routing.strategy import VenueState
from sor_daemon.fix.codec import Pairs
from sor_daemon.fix.endpoint import FixEndpoint, SessionStore, wait_until
from sor_daemon.fix.gateway import OmsGateway
from sor_daemon.fix.metrics import FIX_MESSAGES, SESSION_UP, VENUE_OUTAGES
from sor_daemon.fix.venue import FixVenueConnector
from sor_daemon.service.admin import AdminServer
from sor_daemon.service.audit import AuditError, AuditTrail, MiB
from sor_daemon.service.files import private_dir, private_open
from sor_daemon.service.journal import REDO_SUFFIX, Fill, Journal, JournalError
from sor_daemon.service.metrics import (
    ANOMALIES,
    CHILD_ACK_LATENCY,
    CHILD_FILL_LATENCY,
    CHILD_ORDERS,
    CHILD_REJECTS,
    CHILD_SHARES,
    DECISION_LATENCY,
    FILL_SLIPPAGE,
    FILLED_SHARES,
    FILLS,
    HALTED_SYMBOLS,
    JOURNAL_WRITE_LATENCY,
    KILL_SWITCH,
    KILL_SWITCH_EVENTS,
    MARKOUT,
    PARENT_ACK_LATENCY,
    PARENT_DONE,
    PARENT_ORDERS,
    PARENT_SHORTFALL,
    PARENT_SLIPPAGE,
    PRICE_IMPROVEMENT,
    RECOVERED_PARENTS,
    REJECTS,
    SCORE_ACK_LATENCY,
    SCORE_FILL_RATE,
    SCORE_MARKOUT,
    SCORE_REJECT_RATE,
    SCORE_SLIPPAGE,
    UNDELIVERED,
    UNKNOWN_CHILDREN,
)
from sor_daemon.service.sd_notify import Notifier
from sor_daemon.service.wiring import risk_from_config

FIRST_REPORTS = frozenset({ExecType.NEW, ExecType.TRADE, ExecType.REJECTED,
                           ExecType.CANCELED})
"""The report that ends a parent's acknowledgement wait, whichever comes first."""
TICK_SECONDS = 0.1
"""How often the engine's timers are looked at."""
ROUTING_STATE_SECONDS = 10
"""How often what routing has learned is saved to the journal (and at shutdown)."""
ROUTING_STATE = "routing"
HALTS = "halts"
"""The kill switch's halts, kept so that a restart does not lift them."""


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


def fix_store_history(root: Path) -> list[str]:
    """The sessions of quickfix's FileStore under ``root`` that have exchanged messages
    (a sequence number past 1)."""
    found = []
    for seqnums in sorted(root.rglob("*.seqnums")) if root.is_dir() else []:
        try:
            numbers = [int(n) for n in seqnums.read_text().split(":")]
        except (OSError, ValueError):
            numbers = [0]  # unreadable: not taken as empty
        if any(n != 1 for n in numbers):
            found.append(seqnums.stem)
    return found


def id_prefix(now_ns: int) -> str:
    """A short prefix from the start time, so IDs stay unique across restarts."""
    value, digits = now_ns // 1_000_000, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = ""
    while value:
        value, rem = divmod(value, 36)
        text = digits[rem] + text
    return text + "-"


class Daemon:
    def __init__(self, config: SorConfig,
                 credentials: dict[str, tuple[str, str | None]] | None = None,
                 accept_empty_journal: bool = False) -> None:
        """``credentials``: OMS usernames and passwords by CompID (default: read as the
        config says, from the environment or a file); ``accept_empty_journal``: start
        with an empty journal though the FIX store has history (`_open_journal`)."""
        self.config = config
        self.log = structlog.get_logger("sor").bind()
        """Assembled once, from the logging configured now (a lazy proxy would rebuild
        itself on every call: a cost on the hot path)."""
        log_dir = config.log.fix_message_dir
        if log_dir:  # before quickfix makes it
            private_dir(log_dir)
        journal = config.journal
        self.journal = (self._open_journal(accept_empty_journal) if journal.path
                        else None)
        """None: nothing survives a restart, and sessions reset at every logon."""
        oms_store, venue_store = self._stores()
        audit = config.audit
        self.audit = (AuditTrail(Path(audit.path), audit.durability, audit.max_mb * MiB,
                                 audit.keep) if audit.path else None)
        self._wire: deque[tuple[str, str, str, int]] = deque()
        """FIX messages the taps saw (from quickfix's threads too: direction, counterparty,
        text, time), not yet in the audit trail: written by `_write_wire` once the turn's
        messages are sent, or, with fsync durability, before anything is done about them."""
        self._wire_first = audit.durability == "fsync"
        self.gateway = OmsGateway(config.oms, self, log_dir,
                                  oms_credentials(config) if credentials is None
                                  else credentials,
                                  tap=self._tap_oms if self.audit else None,
                                  store=oms_store)
        limits = {s.comp_id: s.limits for s in config.oms.sessions}
        risk, kill_switch = risk_from_config(
            config.risk, {name: limits[comp_id] for name, comp_id in self.gateway.sessions.items()})
        self.engine = Engine(
            ticks={s: c.tick_size for s, c in config.symbols.items()},
            venues=[VenueState(v.name, v.kind, False, v.taker_fee, v.maker_rebate,
                               v.expected_latency_ms, v.max_quote_age_ms * 1_000_000,
                               v.min_qty)
                    for v in config.venues],
            default_strategy=config.routing.default_strategy,
            ids=IdSource(id_prefix(time.time_ns())),
            send_pending_new=config.oms.send_pending_new,
            brokers=[Broker(b.name, b.commission_per_share, b.expected_latency_ms,
                            frozenset(b.venues)) for b in config.brokers],
            passive_ttl_ns=config.routing.passive_child_ttl_ms * 1_000_000,
            risk=risk, kill_switch=kill_switch,
            cancel_children_on_halt=config.risk.cancel_children_on_halt,
            completed_orders_kept=config.routing.completed_orders_kept,
            cancel_on_disconnect=frozenset(
                s.name for s in [*config.venues, *config.brokers] if s.cancel_on_disconnect),
            track_changes=self.journal is not None,
            miss_hold_ns=config.routing.miss_hold_ms * 1_000_000,
        )
        self.admin = AdminServer(config.admin.socket, self._admin)
        self.connectors = {
            v.name: FixVenueConnector(
                v, list(config.symbols), self, log_dir,
                tap=functools.partial(self._tap_venue, v.name) if self.audit else None,
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
        self._records: IO[bytes] | None = None
        self._scored_ns = 0
        self._received: dict[str, int] = {}
        """Parents awaiting their first report to the OMS (each gets one, at the latest
        when it ends): OrderID -> perf_counter_ns when it arrived (parent ack latency)."""
        self._up: set[str] = set()
        """Venue and broker sessions logged on (an outage is a drop from up)."""
        self._saved_ns = 0
        self._stopped = False
        self._batch: list[tuple[list[Action], int | None]] = []
        """Events handled this turn of the loop, committed together by `_flush`."""
        self._flush_pending = False
        self._stopped_journal = False
        self._rewind: dict[str, int] = {}
        """Where each session's inbound sequence resumes after a restart (`_recover`)."""
        self._unrecorded: str | None = None
        """Why the journal failed a write, once it has: from then on nothing more is
        carried out (`_not_recorded`) until a restart recovers from the journal."""

    def _open_journal(self, accept_empty: bool) -> Journal:
        """The journal; an empty one (no database, no redo log) beside a FIX store whose
        sessions have history is refused unless ``accept_empty``: it was lost or replaced,
        and starting from it would forget every order those sessions carried."""
        config = self.config.journal
        files = [Path(config.path), Path(f"{config.path}{REDO_SUFFIX}")]
        if not accept_empty and not any(f.exists() and f.stat().st_size for f in files):
            history = fix_store_history(Path(config.session_dir))
            if history:
                raise JournalError(
                    f"journal {config.path} is empty, but the FIX store {config.session_dir} "
                    f"has sessions with history ({', '.join(history[:3])}): their orders "
                    "would be forgotten. Restore the journal, or start with "
                    "--accept-empty-journal to start afresh")
        return Journal(config.path, config.synchronous)

    def _stores(self) -> tuple[SessionStore | None, SessionStore | None]:
        """How the OMS and the venue sessions keep their sequence numbers: with a
        journal, on disk, never reset at logon. Reports to an OMS are kept and resent
        when it asks (a report missed while it was away comes back); orders to venues are
        never resent (what became of them is asked, not assumed), and our Logon tells
        the venue where to resume (NextExpectedMsgSeqNum), so that it resends the reports
        we missed."""
        if self.journal is None:
            return None, None
        root = Path(self.config.journal.session_dir)
        for kind in ("oms", "venues"):  # before quickfix makes them
            private_dir(root / kind)
        return (SessionStore(path=str(root / "oms"), persist_messages=True,
                             reset_on_logon=False),
                SessionStore(path=str(root / "venues"), reset_on_logon=False,
                             send_next_expected=True))

    def _recover(self) -> None:
        """Take back what the journal kept: orders (each working child's outcome unknown
        until its venue says), what routing learned, and where each session's inbound
        sequence stood (quickfix's store may be ahead: messages it had received but the
        daemon had not applied are asked for again)."""
        assert self.journal is not None
        learned = self.journal.load_state(ROUTING_STATE)
        if learned:
            self.engine.context.load_state(learned)
        for halt in self.journal.load_state(HALTS) or []:
            self.engine.kill_switch.engage(halt["scope"], halt["reason"], halt["by"],
                                           halt["since_ns"])
        self._halts_changed()
        parents = self.journal.load(self.config.routing.completed_orders_kept)
        restored = self.engine.restore(parents)
        self.engine.take_touched()
        for accepted in restored:
            self._watch(accepted.parent)
        RECOVERED_PARENTS.set(len(restored))
        seqs = self.journal.session_seqs()
        self._rewind = {session: seq + 1 for session, seq in seqs.items()}
        self.log.info("journal_recovered", working=len(restored),
                      completed=len(parents) - len(restored),
                      unknown_children=self._count_unknown(), sequences=seqs,
                      replayed=self.journal.replayed)

    def _count_unknown(self) -> int:
        count = sum(1 for p in self.engine.open_parents()
                    for c in p.live_children() if c.unknown)
        UNKNOWN_CHILDREN.set(count)
        return count

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self.journal is not None:
            self._recover()
        metrics = self.config.metrics
        self._metrics_server, _ = start_http_server(metrics.port, metrics.host)
        await self.admin.start()
        # The OMS sessions exist before any venue can report: a report made on restart
        # (a fill the venue resends) is stored for the OMS even before it logs on.
        await self.gateway.start(self._rewind)
        if self.journal is not None:
            self._resend_unsent()
        for connector in self.connectors.values():
            await connector.start(self._rewind)
        if self.config.monitor.records:
            path = Path(self.config.monitor.records)
            private_dir(path.parent)
            self._records = os.fdopen(private_open(path, os.O_WRONLY | os.O_CREAT
                                                   | os.O_APPEND), "ab")
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
        self.engine.intake_closed = "the router is shutting down"
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
        if self._records is not None:
            self._records.close()
            self._records = None
        if self.journal is not None:
            self._flush()  # before the audit trail closes: its actions may be audited
        if self.audit is not None:
            self._write_wire()
            self._audited(self.audit.close)
        if self.journal is not None:
            self._save_routing_state()
            try:
                self.journal.close()
            except JournalError as exc:  # its redo log keeps it: the next start applies it
                ANOMALIES.labels("journal_write_failed").inc()
                self.log.error("journal_close_failed", error=str(exc))
            self._stopped_journal = True
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
        halted = "; kill switch engaged" if ALL in self.engine.kill_switch.halts else ""
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
                    self._markouts(symbol, now)
                if self.audit is not None:
                    self._write_wire()
                    self._audited(self.audit.flush)
                if now - self._scored_ns >= 1_000_000_000:
                    self._scored_ns = now
                    self._export_scorecards(now)
                    self._count_unknown()
                    if (self.journal is not None
                            and now - self._saved_ns >= ROUTING_STATE_SECONDS * 1_000_000_000):
                        self._saved_ns = now
                        self._save_routing_state()
                    if self._records is not None:
                        self._records.flush()
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
        self._audit_event("connection_refused", reason=reason, peer=peer, detail=detail)

    def oms_session_cut(self, session: str, reason: str, detail: str) -> None:
        """A logged-on OMS connection cut by the gate (counted there)."""
        self.log.warning("oms_session_cut", session=session, reason=reason, detail=detail)
        self._audit_event("session_cut", session=self.gateway.counterparties[session],
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
        self._markouts(book.symbol, now)

    def venue_trades(self, venue: str, symbol: str, qty: int) -> None:
        self.engine.context.observe_traded(venue, symbol, qty, time.monotonic_ns())

    def venue_problem(self, venue: str, problem: str, detail: str) -> None:
        ANOMALIES.labels(problem).inc()
        self.log.error("venue_problem", venue=venue, problem=problem, detail=detail)
        self._execute(self.engine.venue_error(venue, problem, time.time_ns()))

    # --------------------------------------------------------------- actions

    def _execute(self, actions: list[Action], decision_started: int | None = None) -> None:
        """Carry the engine's actions out. With a journal, first commit what they
        change: the events handled in one turn of the loop are committed together (group
        commit: under load one commit serves many orders), then their actions are carried
        out, in order, at the start of the next turn."""
        if self.journal is None or self._stopped_journal:
            if self._wire_first:
                self._write_wire()
            self._carry_out(actions, None, decision_started)
            return
        self._batch.append((actions, decision_started))
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._wire_first:
            self._write_wire()
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        every = [a for actions, _ in batch for a in actions]
        if self._unrecorded is None:
            encoded = self._journal(every)  # if it fails: not carried out, below neither
        else:
            self._not_recorded(every)
        if self._unrecorded is not None:
            self._write_wire()
            return
        delivered = True
        for actions, started in batch:
            try:
                delivered &= self._carry_out(actions, encoded, started)
            except Exception as exc:  # one event's bug must not drop the others
                ANOMALIES.labels("handler_error").inc()
                self.log.exception("actions_failed", error=repr(exc))
                delivered = False
        assert self.journal is not None
        if encoded is not None and delivered:  # else kept: resent at the next start
            self.journal.sent()
        try:  # into the database, now that nobody waits for it
            self.journal.apply()
        except JournalError as exc:
            self._journal_failed(exc)
        self._write_wire()

    def _carry_out(self, actions: list[Action], encoded: list[tuple[str, Pairs]] | None,
                   decision_started: int | None = None) -> bool:
        """The actions, in order, except that decisions are recorded after the children
        are sent (with the time they were made): the venue waits for the child, nobody
        waits for the record. ``encoded``: the reports to the OMS as committed, taken in
        order. False: some report did not reach quickfix."""
        undelivered = False
        decisions: list[tuple[Decision, int]] = []
        for action in actions:
            match action:
                case SendChild(venue=venue, order=order, child=child):
                    handed = time.perf_counter_ns()
                    if not self.connectors[venue].submit(order):
                        self.log.warning("child_not_sent", venue=venue, child=order.cl_ord_id,
                                         parent=child.parent.cl_ord_id)
                        self._execute(self.engine.child_not_sent(
                            order.cl_ord_id, "venue session is down", time.time_ns()))
                        continue
                    if decision_started is not None:
                        DECISION_LATENCY.labels(child.parent.strategy).observe(
                            (handed - decision_started) / 1e9)
                        decision_started = None
                    parent = child.parent
                    self._audit_event("child", order_id=parent.order_id,
                                      parent=parent.cl_ord_id, child=order.cl_ord_id,
                                      venue=child.venue, route=child.route, qty=order.qty,
                                      price=order.price)
                    CHILD_ORDERS.labels(child.route, child.parent.strategy).inc()
                    CHILD_SHARES.labels(child.route).inc(child.qty)
                    FIX_MESSAGES.labels("out", venue, "D").inc()
                    self.log.debug("child_routed", parent=child.parent.cl_ord_id,
                                   strategy=child.parent.strategy, venue=venue,
                                   child=order.cl_ord_id, side=order.side, qty=order.qty,
                                   price=order.price, tif=order.tif)
                case CancelChild(venue=venue, request=request):
                    if self.connectors[venue].cancel(request):
                        FIX_MESSAGES.labels("out", venue, "F").inc()
                    else:
                        ANOMALIES.labels("cancel_not_sent").inc()
                        self.log.warning("cancel_not_sent", venue=venue,
                                         child=request.orig_cl_ord_id)
                case QueryChild(venue=venue, child=child):
                    if self.connectors[venue].status(child.cl_ord_id, child.symbol,
                                                     child.side):
                        FIX_MESSAGES.labels("out", venue, "H").inc()
                case ToOms(session=session, message=message):
                    if not self._report(session, message,
                                        encoded.pop(0) if encoded else None):
                        undelivered = True
                case Anomaly(reason=reason, detail=detail):
                    ANOMALIES.labels(reason).inc()
                    self.log.error("anomaly", reason=reason, detail=detail)
                case Decision():
                    decisions.append((action, time.time_ns()))
                case ParentAccepted(parent=parent):
                    PARENT_ORDERS.labels(parent.strategy).inc()
                    if decision_started is not None:
                        self._received[parent.order_id] = decision_started
                    self._watch(parent)
                case ChildAcked(venue=venue, latency_ns=latency):
                    CHILD_ACK_LATENCY.labels(venue).observe(latency / 1e9)
                    self.monitor.child_acked(venue, latency / 1e9, time.time_ns())
                case ChildFilled():
                    self._fill(action)
                case ChildEnded(child=child):
                    if child.status is OrdStatus.REJECTED:
                        CHILD_REJECTS.labels(child.route).inc()
                    latency = child.ack_latency_ns
                    parent = child.parent
                    self._record(self.monitor.child_ended(
                        parent.order_id, parent.strategy, parent.symbol, parent.side,
                        child.route, child.qty, child.cum_qty, child.status.name.lower(),
                        latency / 1e9 if latency is not None else None, time.time_ns()))
                case ParentEnded(parent=parent):
                    self._parent_ended(parent)
                case Halted(halt=halt):
                    KILL_SWITCH_EVENTS.labels(halt.by).inc()
                    self._halts_changed()
                    self._audit_event("kill_switch", engaged=True, scope=halt.scope,
                                      reason=halt.reason, by=halt.by)
                    self.log.warning("kill_switch_engaged", scope=halt.scope, reason=halt.reason,
                                     by=halt.by)
                case Resumed(halts=halts):
                    self._halts_changed()
                    self._audit_event("kill_switch", engaged=False,
                                      lifted=[h.scope for h in halts], by="operator")
                    self.log.warning("kill_switch_resumed", lifted=[h.scope for h in halts])
        for decision, made_ns in decisions:
            self._log_decision(decision, made_ns)
        return not undelivered

    # --------------------------------------------------------------- journal

    def _journal(self, actions: list[Action]) -> list[tuple[str, Pairs]] | None:
        """Commit what the engine changed, and the reports it makes to the OMS, before
        any of it is told to anyone; returns those reports encoded, in order (None: no
        report). A journal that cannot be written halts trading, and what it did not
        take is not carried out (`_not_recorded`), nor anything after it."""
        assert self.journal is not None
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
            self._unrecorded = f"journal unwritable: {exc}"
            self._not_recorded(actions)  # first: the kill switch cancels what is working
            self._journal_failed(exc)
            return None
        JOURNAL_WRITE_LATENCY.observe((time.perf_counter_ns() - started) / 1e9)
        return encoded or None

    def _not_recorded(self, actions: list[Action]) -> None:
        """Actions whose changes are not in the journal are not carried out: no child,
        cancel, status request or report goes out, since a restart would not know of
        them (it recovers from the journal, and the venues and the OMS resend what came
        after it). The engine takes back the children it meant to send and rejects the
        parents it accepted: the OMS gets that Rejected, unjournaled (the journal cannot
        be written), and so do refusals, which change nothing."""
        assert self._unrecorded is not None
        told = self.engine.not_carried_out(actions, self._unrecorded, time.time_ns())
        ANOMALIES.labels("not_carried_out").inc()
        self.log.error("actions_not_carried_out", reason=self._unrecorded,
                       children=sum(1 for a in actions if isinstance(a, SendChild)),
                       reports=sum(1 for a in actions if isinstance(a, ToOms)),
                       told=sum(1 for a in told if isinstance(a, ToOms)))
        self._carry_out([a for a in actions if isinstance(a, (Anomaly, Halted, Resumed))]
                        + told, None)

    def _resend_unsent(self) -> None:
        """Reports committed before a crash but maybe never sent: sent again, marked
        PossResend (97): the OMS knows them by their ExecID if it has them already."""
        assert self.journal is not None
        unsent = self.journal.unsent()
        for session, msg_type, pairs in unsent:
            if session in self.gateway.sessions:
                self.gateway.send_encoded(session, msg_type, [*pairs, (97, "Y")])
        self.journal.clear_unsent()
        if unsent:
            self.log.info("journal_reports_resent", count=len(unsent))

    def _journal_failed(self, exc: JournalError) -> None:
        ANOMALIES.labels("journal_write_failed").inc()
        self.log.error("journal_write_failed", error=str(exc))
        if ALL not in self.engine.kill_switch.halts:
            self._execute(self.engine.halt(ALL, f"journal unwritable: {exc}", "journal",
                                           time.time_ns()))

    def _save_routing_state(self) -> None:
        assert self.journal is not None
        try:
            self.journal.save_state(ROUTING_STATE, self.engine.context.state())
        except JournalError as exc:
            self._journal_failed(exc)

    # ----------------------------------------------------------------- audit

    def _tap_oms(self, direction: str, session: str, raw: str, now_ns: int) -> None:
        # Any thread: queued only.
        self._wire.append((direction, self.gateway.counterparties.get(session, session), raw,
                           now_ns))

    def _tap_venue(self, venue: str, direction: str, session: str, raw: str,
                   now_ns: int) -> None:
        self._wire.append((direction, venue, raw, now_ns))

    def _write_wire(self) -> None:
        """The queued FIX messages into the audit trail, in the order they were seen."""
        wire, audit = self._wire, self.audit
        while wire and audit is not None:
            self._audited(audit.message, *wire.popleft())

    def _audit_event(self, kind: str, at_ns: int | None = None, **fields: Any) -> None:
        """``at_ns``: when it happened, if not now."""
        if self.audit is not None:
            self._audited(self.audit.event, kind, at_ns or time.time_ns(), **fields)

    def _audited(self, write: Callable[..., None], *args: Any, **fields: Any) -> None:
        """Write to the audit trail; a trail that cannot be written halts trading (an
        unrecorded order is a compliance breach), once."""
        try:
            write(*args, **fields)
        except AuditError as exc:
            ANOMALIES.labels("audit_write_failed").inc()
            self.log.error("audit_write_failed", error=str(exc))
            if ALL not in self.engine.kill_switch.halts:
                self._execute(self.engine.halt(ALL, f"audit trail unwritable: {exc}",
                                               "audit", time.time_ns()))

    def _halts_changed(self) -> None:
        halts = self.engine.kill_switch.halts
        KILL_SWITCH.set(1 if ALL in halts else 0)
        HALTED_SYMBOLS.set(sum(1 for scope in halts if scope != ALL))
        if self.journal is not None:
            try:
                self.journal.save_state(HALTS, [asdict(h) for h in halts.values()])
            except JournalError as exc:
                ANOMALIES.labels("journal_write_failed").inc()
                self.log.error("journal_write_failed", error=str(exc))

    # ----------------------------------------------------------------- admin

    async def _admin(self, request: dict[str, Any]) -> dict[str, Any]:
        """One operator command from the control socket (on the loop, like every event)."""
        command, now = request["command"], time.time_ns()
        reason = str(request.get("reason") or "operator request")[:200]
        self.log.warning("admin_command", command=command, reason=reason)
        if command != "status":
            self._audit_event("admin", command=command, reason=reason)
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
            "halts": [_halt_json(h) for h in self.engine.kill_switch.halts.values()],
            "sessions": [
                *({"name": label, "kind": "oms", "up": oms_up[name]}
                  for name, label in self.gateway.counterparties.items()),
                *({"name": name, "kind": "broker" if name in self.engine.context.routes.brokers
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

    # --------------------------------------------------------------- monitor

    def _watch(self, parent: ParentOrder) -> None:
        """The execution monitor follows a parent from its arrival (new or recovered)."""
        self.monitor.parent_arrived(parent.order_id, parent.strategy, parent.symbol,
                                    parent.side, parent.qty, parent.arrival_mid,
                                    parent.created_ns)

    def _fill(self, filled: ChildFilled) -> None:
        child, now = filled.child, time.time_ns()
        route, strategy = child.route, child.parent.strategy
        FILLS.labels(route, strategy).inc()
        FILLED_SHARES.labels(route).inc(filled.qty)
        record = self.monitor.fill(
            child.parent.order_id, route, filled.qty, filled.price,
            filled.commission or Decimal(0), filled.bid, filled.ask,
            child.sent_ns if filled.first else None, now, filled.liquidity)
        if record.fill_latency_s is not None:
            CHILD_FILL_LATENCY.labels(route).observe(record.fill_latency_s)
        if record.slippage_bps is not None:
            FILL_SLIPPAGE.labels(route).observe(record.slippage_bps)
        if record.price_improvement_bps is not None:
            PRICE_IMPROVEMENT.labels(route).observe(record.price_improvement_bps)
        self._record(record)

    def _parent_ended(self, parent: ParentOrder) -> None:
        PARENT_DONE.labels(parent.strategy, parent.status.name.lower()).inc()
        record = self.monitor.parent_ended(
            parent.order_id, parent.status.name.lower(), parent.cum_qty, parent.notional,
            self.engine.market.nbbo(parent.symbol).mid, time.time_ns())
        if record is None:
            return
        if record.arrival_slippage_bps is not None:
            PARENT_SLIPPAGE.labels(parent.strategy).observe(record.arrival_slippage_bps)
        if record.shortfall_bps is not None:
            PARENT_SHORTFALL.labels(parent.strategy).observe(record.shortfall_bps)
        self._record(record)

    def _markouts(self, symbol: str, now_ns: int) -> None:
        """The markouts of ``symbol`` due by now, taken at its NBBO mid."""
        for markout in self.monitor.quote(symbol, self.engine.market.nbbo(symbol).mid, now_ns):
            MARKOUT.labels(markout.route, markout.horizon).observe(markout.markout_bps)
            self._record(markout)

    def _record(self, record: Record) -> None:
        if self._records is not None:
            self._records.write(orjson.dumps(to_json(record)) + b"\n")

    def _export_scorecards(self, now_ns: int) -> None:
        for route, card in self.monitor.scorecards.snapshot(now_ns).items():
            for gauge, value in ((SCORE_FILL_RATE, card.fill_rate),
                                 (SCORE_REJECT_RATE, card.reject_rate),
                                 (SCORE_SLIPPAGE, card.slippage_bps),
                                 (SCORE_ACK_LATENCY, card.ack_latency_s)):
                if value is not None:
                    gauge.labels(route).set(value)
            for horizon, value in card.markout_bps.items():
                SCORE_MARKOUT.labels(route, horizon).set(value)

    def _log_decision(self, decision: Decision, made_ns: int) -> None:
        """One event per routing decision: every venue considered, and what was sent."""
        candidates = [{"venue": c.venue, "kind": c.kind, "up": c.up,
                       "exhausted": c.exhausted, "touch": c.touch, "size": c.size,
                       "fill_rate": round(c.fill_rate, 3),
                       "ack_ms": round(c.ack_latency_ms, 3)} for c in decision.candidates]
        children = [{"venue": p.venue, "qty": p.qty, "price": p.price, "tif": p.tif,
                     "min_qty": p.min_qty} for p in decision.children]
        parent = decision.parent
        self.log.debug("routing_decision", parent=parent.cl_ord_id, strategy=decision.strategy,
                       qty=decision.qty, candidates=candidates, children=children)
        self._audit_event("decision", made_ns, order_id=parent.order_id,
                          parent=parent.cl_ord_id,
                          strategy=decision.strategy, qty=decision.qty,
                          candidates=candidates, children=children,
                          routes=list(decision.routes))

    def _report(self, session: str, message: ExecutionReport | CancelReject | BusinessReject,
                encoded: tuple[str, Pairs] | None = None) -> bool:
        """Sent first, accounted for after: the OMS waits for the one, not the other.
        False: quickfix did not take it."""
        handed = time.perf_counter_ns()
        sent = self.gateway.send(session, message, encoded)
        if isinstance(message, ExecutionReport):
            if message.exec_type in FIRST_REPORTS:
                received = self._received.pop(message.order_id, None)
                if received is not None:
                    PARENT_ACK_LATENCY.observe((handed - received) / 1e9)
                    self.monitor.parent_acked(message.order_id, time.time_ns())
            if message.exec_type is ExecType.REJECTED:
                REJECTS.labels(message.ord_rej_reason.name.lower()
                               if message.ord_rej_reason else "other").inc()
            self.log.debug("oms_report", parent=message.cl_ord_id,
                           exec_type=message.exec_type, status=message.ord_status,
                           last_qty=message.last_qty or None, last_px=message.last_px,
                           venue=message.last_mkt, cum_qty=message.cum_qty, text=message.text)
        elif isinstance(message, CancelReject):
            REJECTS.labels(f"cancel_{message.reason.name.lower()}").inc()
            self.log.debug("oms_cancel_reject", parent=message.orig_cl_ord_id,
                           reason=message.reason, text=message.text)
        else:
            REJECTS.labels(f"{message.ref_msg_type.lower()}_business_reject").inc()
        if not sent:
            UNDELIVERED.inc()
            self.log.warning("oms_report_undelivered", session=session,
                             parent=getattr(message, "cl_ord_id", None))
        return sent
