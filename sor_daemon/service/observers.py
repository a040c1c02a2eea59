"""Observers: what the engine's events and the daemon's sends mean for the metrics, the
execution monitor (and its record file), the audit trail and the decision log.

Each observer takes the typed event (`child_ended(event)`); none decides anything or
sends anything to a counterparty.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import orjson

from sor_daemon.core.actions import (
    Anomaly,
    ChildAcked,
    ChildEnded,
    ChildFilled,
    Decision,
    Halted,
    ParentAccepted,
    ParentEnded,
    Resumed,
    SendChild,
)
from sor_daemon.core.analytics.monitor import ExecutionMonitor, Record, to_json
from sor_daemon.core.domain import ExecType, OrdStatus
from sor_daemon.core.messages import BusinessReject, CancelReject, ExecutionReport
from sor_daemon.core.orders import ParentOrder
from sor_daemon.core.risk import ALL, Halt
from sor_daemon.fix.metrics import FIX_MESSAGES
from sor_daemon.service.audit import AuditError, AuditTrail
from sor_daemon.service.files import private_dir, private_open
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
    KILL_SWITCH,
    KILL_SWITCH_EVENTS,
    MARKOUT,
    PARENT_ACK_LATENCY,
    PARENT_DONE,
    PARENT_ORDERS,
    PARENT_SHORTFALL,
    PARENT_SLIPPAGE,
    PRICE_IMPROVEMENT,
    REJECTS,
    SCORE_ACK_LATENCY,
    SCORE_FILL_RATE,
    SCORE_MARKOUT,
    SCORE_REJECT_RATE,
    SCORE_SLIPPAGE,
    UNDELIVERED,
)

FIRST_REPORTS = frozenset({ExecType.NEW, ExecType.TRADE, ExecType.REJECTED,
                           ExecType.CANCELED})
"""The report that ends a parent's acknowledgement wait, whichever comes first."""


class AuditTap:
    """What goes into the audit trail: the FIX messages the sessions' taps saw (from
    quickfix's threads too: queued, written on the loop in the order seen) and the
    daemon's own events. A trail that cannot be written calls ``failed`` (which halts
    trading: an unrecorded order is a compliance breach)."""

    def __init__(self, trail: AuditTrail | None, failed: Callable[[AuditError], None]) -> None:
        self.trail = trail
        self._failed = failed
        self.counterparties: Mapping[str, str] = {}
        """OMS session -> its name in the trail (the gateway's, once it exists)."""
        self._wire: deque[tuple[str, str, str, int]] = deque()
        """FIX messages seen (direction, counterparty, text, time), not yet written."""
        self.first = trail is not None and trail.durability == "fsync"
        """With fsync durability, what was seen is written before anything is done about
        it; otherwise once the turn's messages are sent."""

    def oms(self, direction: str, session: str, raw: str, now_ns: int) -> None:
        # Any thread: queued only.
        self._wire.append((direction, self.counterparties.get(session, session), raw, now_ns))

    def venue(self, venue: str, direction: str, session: str, raw: str, now_ns: int) -> None:
        self._wire.append((direction, venue, raw, now_ns))

    def write_wire(self) -> None:
        """The queued FIX messages into the audit trail, in the order they were seen."""
        wire, trail = self._wire, self.trail
        while wire and trail is not None:
            self._write(trail.message, *wire.popleft())

    def event(self, kind: str, at_ns: int | None = None, **fields: Any) -> None:
        """``at_ns``: when it happened, if not now."""
        if self.trail is not None:
            self._write(self.trail.event, kind, at_ns or time.time_ns(), **fields)

    def flush(self) -> None:
        if self.trail is not None:
            self._write(self.trail.flush)

    def close(self) -> None:
        if self.trail is not None:
            self.write_wire()
            self._write(self.trail.close)

    def _write(self, write: Callable[..., None], *args: Any, **fields: Any) -> None:
        try:
            write(*args, **fields)
        except AuditError as exc:
            self._failed(exc)


class Observers:
    """Events -> metrics, the execution monitor and its records, the audit trail, logs."""

    def __init__(self, monitor: ExecutionMonitor, audit: AuditTap, log: Any,
                 mid: Callable[[str], Decimal | None], records: str | None,
                 halts_changed: Callable[[], None]) -> None:
        """``mid``: a symbol's NBBO midpoint now; ``records``: the TCA record file;
        ``halts_changed``: called when the kill switch engages or resumes."""
        self.monitor = monitor
        self._halts_changed = halts_changed
        self.audit = audit
        self.log = log
        self._mid = mid
        self._records_path = records
        self._records: IO[bytes] | None = None
        self.awaiting_ack: dict[str, int] = {}
        """Parents awaiting their first report to the OMS (each gets one, at the latest
        when it ends): OrderID -> perf_counter_ns when it arrived (parent ack latency)."""
        self.handlers: dict[type, Callable[[Any], None]] = {
            Anomaly: self.anomaly, ChildAcked: self.child_acked, ChildFilled: self.child_filled,
            ChildEnded: self.child_ended, ParentEnded: self.parent_ended, Halted: self.halted,
            Resumed: self.resumed,
        }
        """The events observed as they come (`ParentAccepted` and `Decision` need more)."""

    # ------------------------------------------------------------ record file

    def open_records(self) -> None:
        if self._records_path:
            path = Path(self._records_path)
            private_dir(path.parent)
            self._records = os.fdopen(private_open(path, os.O_WRONLY | os.O_CREAT
                                                   | os.O_APPEND), "ab")

    def flush_records(self) -> None:
        if self._records is not None:
            self._records.flush()

    def close_records(self) -> None:
        if self._records is not None:
            self._records.close()
            self._records = None

    def _record(self, record: Record) -> None:
        if self._records is not None:
            self._records.write(orjson.dumps(to_json(record)) + b"\n")

    # ------------------------------------------------------------------ events

    def parent_accepted(self, event: ParentAccepted, decision_started: int | None) -> None:
        PARENT_ORDERS.labels(event.parent.strategy).inc()
        if decision_started is not None:
            self.awaiting_ack[event.parent.order_id] = decision_started
        self.watch(event.parent)

    def watch(self, parent: ParentOrder) -> None:
        """The execution monitor follows a parent from its arrival (new or recovered)."""
        self.monitor.parent_arrived(parent.order_id, parent.strategy, parent.symbol,
                                    parent.side, parent.qty, parent.arrival_mid,
                                    parent.created_ns)

    def child_sent(self, event: SendChild, handed_ns: int, decision_started: int | None) -> None:
        """A child quickfix took (``decision_started``: the event's, for its first child)."""
        child, order = event.child, event.order
        parent = child.parent
        if decision_started is not None:
            DECISION_LATENCY.labels(parent.strategy).observe(
                (handed_ns - decision_started) / 1e9)
        self.audit.event("child", order_id=parent.order_id, parent=parent.cl_ord_id,
                         child=order.cl_ord_id, venue=child.venue, route=child.route,
                         qty=order.qty, price=order.price)
        CHILD_ORDERS.labels(child.route, parent.strategy).inc()
        CHILD_SHARES.labels(child.route).inc(child.qty)
        FIX_MESSAGES.labels("out", event.venue, "D").inc()
        self.log.debug("child_routed", parent=parent.cl_ord_id, strategy=parent.strategy,
                       venue=event.venue, child=order.cl_ord_id, side=order.side, qty=order.qty,
                       price=order.price, tif=order.tif)

    def child_acked(self, event: ChildAcked) -> None:
        CHILD_ACK_LATENCY.labels(event.venue).observe(event.latency_ns / 1e9)
        self.monitor.child_acked(event.venue, event.latency_ns / 1e9, time.time_ns())

    def child_filled(self, event: ChildFilled) -> None:
        child, now = event.child, time.time_ns()
        route, strategy = child.route, child.parent.strategy
        FILLS.labels(route, strategy).inc()
        FILLED_SHARES.labels(route).inc(event.qty)
        record = self.monitor.fill(
            child.parent.order_id, route, event.qty, event.price,
            event.commission or Decimal(0), event.bid, event.ask,
            child.sent_ns if event.first else None, now, event.liquidity)
        if record.fill_latency_s is not None:
            CHILD_FILL_LATENCY.labels(route).observe(record.fill_latency_s)
        if record.slippage_bps is not None:
            FILL_SLIPPAGE.labels(route).observe(record.slippage_bps)
        if record.price_improvement_bps is not None:
            PRICE_IMPROVEMENT.labels(route).observe(record.price_improvement_bps)
        self._record(record)

    def child_ended(self, event: ChildEnded) -> None:
        child = event.child
        if child.status is OrdStatus.REJECTED:
            CHILD_REJECTS.labels(child.route).inc()
        latency, parent = child.ack_latency_ns, child.parent
        self._record(self.monitor.child_ended(
            parent.order_id, parent.strategy, parent.symbol, parent.side,
            child.route, child.qty, child.cum_qty, child.status.name.lower(),
            latency / 1e9 if latency is not None else None, time.time_ns()))

    def parent_ended(self, event: ParentEnded) -> None:
        parent = event.parent
        PARENT_DONE.labels(parent.strategy, parent.status.name.lower()).inc()
        record = self.monitor.parent_ended(
            parent.order_id, parent.status.name.lower(), parent.cum_qty, parent.notional,
            self._mid(parent.symbol), time.time_ns())
        if record is None:
            return
        if record.arrival_slippage_bps is not None:
            PARENT_SLIPPAGE.labels(parent.strategy).observe(record.arrival_slippage_bps)
        if record.shortfall_bps is not None:
            PARENT_SHORTFALL.labels(parent.strategy).observe(record.shortfall_bps)
        self._record(record)

    def anomaly(self, event: Anomaly) -> None:
        ANOMALIES.labels(event.reason).inc()
        self.log.error("anomaly", reason=event.reason, detail=event.detail)

    def halted(self, event: Halted) -> None:
        halt = event.halt
        KILL_SWITCH_EVENTS.labels(halt.by).inc()
        self._halts_changed()
        self.audit.event("kill_switch", engaged=True, scope=halt.scope, reason=halt.reason,
                         by=halt.by)
        self.log.warning("kill_switch_engaged", scope=halt.scope, reason=halt.reason,
                         by=halt.by)

    def resumed(self, event: Resumed) -> None:
        lifted = [h.scope for h in event.halts]
        self._halts_changed()
        self.audit.event("kill_switch", engaged=False, lifted=lifted, by="operator")
        self.log.warning("kill_switch_resumed", lifted=lifted)

    def halts(self, halts: Mapping[str, Halt]) -> None:
        """The kill switch's gauges, as the halts now stand."""
        KILL_SWITCH.set(1 if ALL in halts else 0)
        HALTED_SYMBOLS.set(sum(1 for scope in halts if scope != ALL))

    def decision(self, event: Decision, made_ns: int) -> None:
        """One event per routing decision: every venue considered, and what was sent."""
        candidates = [{"venue": c.venue, "kind": c.kind, "up": c.up,
                       "exhausted": c.exhausted, "touch": c.touch, "size": c.size,
                       "fill_rate": round(c.fill_rate, 3),
                       "ack_ms": round(c.ack_latency_ms, 3)} for c in event.candidates]
        children = [{"venue": p.venue, "qty": p.qty, "price": p.price, "tif": p.tif,
                     "min_qty": p.min_qty} for p in event.children]
        parent = event.parent
        self.log.debug("routing_decision", parent=parent.cl_ord_id, strategy=event.strategy,
                       qty=event.qty, candidates=candidates, children=children)
        self.audit.event("decision", made_ns, order_id=parent.order_id,
                         parent=parent.cl_ord_id, strategy=event.strategy, qty=event.qty,
                         candidates=candidates, children=children, routes=list(event.routes))

    def reported(self, session: str, message: ExecutionReport | CancelReject | BusinessReject,
                 handed_ns: int, sent: bool) -> None:
        """A report to the OMS, handed to quickfix at ``handed_ns`` (``sent``: taken)."""
        if isinstance(message, ExecutionReport):
            if message.exec_type in FIRST_REPORTS:
                received = self.awaiting_ack.pop(message.order_id, None)
                if received is not None:
                    PARENT_ACK_LATENCY.observe((handed_ns - received) / 1e9)
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

    # ----------------------------------------------------------------- timers

    def markouts(self, symbol: str, now_ns: int) -> None:
        """The markouts of ``symbol`` due by now, taken at its NBBO mid."""
        for markout in self.monitor.quote(symbol, self._mid(symbol), now_ns):
            MARKOUT.labels(markout.route, markout.horizon).observe(markout.markout_bps)
            self._record(markout)

    def export_scorecards(self, now_ns: int) -> None:
        for route, card in self.monitor.scorecards.snapshot(now_ns).items():
            for gauge, value in ((SCORE_FILL_RATE, card.fill_rate),
                                 (SCORE_REJECT_RATE, card.reject_rate),
                                 (SCORE_SLIPPAGE, card.slippage_bps),
                                 (SCORE_ACK_LATENCY, card.ack_latency_s)):
                if value is not None:
                    gauge.labels(route).set(value)
            for horizon, value in card.markout_bps.items():
                SCORE_MARKOUT.labels(route, horizon).set(value)
