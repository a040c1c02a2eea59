"""The dispatcher: the engine's commands carried out through the adapters (children and
cancels and status requests to the venues, reports to the OMS), its events handed to the
observers, in the order the engine gave them."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sor_daemon.core.actions import (
    Action,
    CancelChild,
    Decision,
    ParentAccepted,
    QueryChild,
    SendChild,
    ToOms,
)
from sor_daemon.fix.codec import Pairs
from sor_daemon.fix.gateway import OmsGateway
from sor_daemon.fix.metrics import FIX_MESSAGES
from sor_daemon.fix.ports import VenueConnector
from sor_daemon.service.metrics import ANOMALIES
from sor_daemon.service.observers import Observers


class Dispatcher:
    def __init__(self, connectors: Mapping[str, VenueConnector], gateway: OmsGateway,
                 observers: Observers, log: Any,
                 not_sent: Callable[[str, str], None]) -> None:
        """``not_sent(child_id, why)``: a child its venue's session did not take."""
        self.connectors = connectors
        self.gateway = gateway
        self.observers = observers
        self.log = log
        self._not_sent = not_sent

    def carry_out(self, actions: list[Action], encoded: list[tuple[str, Pairs]] | None,
                  decision_started: int | None = None) -> bool:
        """The actions, in order, except that decisions are recorded after the children
        are sent (with the time they were made): the venue waits for the child, nobody
        waits for the record. ``encoded``: the reports to the OMS as committed, taken in
        order. False: some report did not reach quickfix."""
        undelivered = False
        decisions: list[tuple[Decision, int]] = []
        observers, handlers = self.observers, self.observers.handlers
        for action in actions:
            match action:
                case SendChild(venue=venue, order=order, child=child):
                    handed = time.perf_counter_ns()
                    if not self.connectors[venue].submit(order):
                        self.log.warning("child_not_sent", venue=venue, child=order.cl_ord_id,
                                         parent=child.parent.cl_ord_id)
                        self._not_sent(order.cl_ord_id, "venue session is down")
                        continue
                    observers.child_sent(action, handed, decision_started)
                    decision_started = None
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
                    handed = time.perf_counter_ns()
                    sent = self.gateway.send(session, message,
                                             encoded.pop(0) if encoded else None)
                    observers.reported(session, message, handed, sent)
                    undelivered |= not sent
                case Decision():
                    decisions.append((action, time.time_ns()))
                case ParentAccepted():
                    observers.parent_accepted(action, decision_started)
                case _:
                    handlers[type(action)](action)
        for decision, made_ns in decisions:
            observers.decision(decision, made_ns)
        return not undelivered
