"""A simulated broker: one FIX acceptor that forwards each order to the simulated venue
its ExDestination (100) names, and adds its commission to every fill.

Orders reach the venue's book under the key ``BROKER|session``, so the venue's reports
(now, later from the market clock, or when an order on another session takes them:
`SimVenue.route`) come back here and go out on the broker's own session after the
broker's latency, which replaces the venue's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from sor_daemon.core.domain import CxlRejReason, CxlRejResponseTo, ExecType, OrdRejReason, OrdStatus
from sor_daemon.core.messages import (
    NO_ORDER_ID,
    STATUS_EXEC_ID,
    CancelFields,
    CancelReject,
    ExecutionReport,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
    refusal_report,
)
from sor_daemon.fix import codec
from sor_daemon.fix.codec import FixMessage
from sor_daemon.fix.endpoint import SessionSpec
from sor_daemon.fix.order_entry import decode_request
from sor_sim.exchange import Outbound
from sor_sim.market import SimMarket
from sor_sim.venue import CANCEL_ON_DISCONNECT, SEPARATOR, SimVenue


class SimBroker(SimVenue):
    def __init__(self, name: str, market: SimMarket, specs: list[SessionSpec],
                 venues: frozenset[str], commission: Decimal, latency_ms: float,
                 log_dir: str | None = None,
                 on_error: Callable[[str, str, Exception], None] | None = None,
                 cancel_on_disconnect: bool = False) -> None:
        super().__init__(name, market, specs, log_dir, on_error, cancel_on_disconnect)
        self.venues = venues
        self.commission = commission
        self._latency = latency_ms / 1e3
        self._destinations: dict[str, str] = {}
        """ClOrdID (and cancel/replace ClOrdID) -> the venue holding the order."""
        self._exec_ids = itertools.count(1)

    def on_logout(self, session: str) -> None:
        """No market data subscriptions; orders stay at their venues, unless the broker
        cancels on disconnect."""
        if self.cancel_on_disconnect:
            key = f"{self.name}{SEPARATOR}{session}"
            for venue in sorted(self.venues):
                self.route(venue, self.market.cancel_session(venue, key, CANCEL_ON_DISCONNECT))

    def on_message(self, session: str, message: FixMessage) -> None:
        market, key = self.market, f"{self.name}{SEPARATOR}{session}"
        fields = decode_request(message)
        match fields:
            case NewOrderFields():
                venue = fields.ex_destination
                if venue not in self.venues or market.is_down(venue, market.now_ns):
                    why = (f"{venue} is unavailable (simulated outage)" if venue in self.venues
                           else f"{self.name} does not reach {venue!r}; it reaches "
                           f"{', '.join(sorted(self.venues))}" if venue
                           else f"{self.name} needs ExDestination (100)")
                    self.send([Outbound(key, refusal_report(
                        f"{self.name}-R{next(self._exec_ids)}", fields.cl_ord_id,
                        OrdRejReason.EXCHANGE_CLOSED if venue else OrdRejReason.OTHER, why,
                        request=fields))])
                    return
                self._destinations[fields.cl_ord_id] = venue
                out = market.new_order(venue, key, replace(fields, ex_destination=None))
            case CancelFields() | ReplaceFields() | StatusFields():
                orig = getattr(fields, "orig_cl_ord_id", None) or fields.cl_ord_id
                venue = self._destinations.get(orig or "")
                if venue is None:
                    self.send([Outbound(key, self._unknown(message.msg_type, fields))])
                    return
                if fields.cl_ord_id:
                    self._destinations[fields.cl_ord_id] = venue
                out = market.request(venue, key, fields)
            case None:
                self.endpoint.send(session, "j", codec.encode_business_reject(
                    message.get(34), message.msg_type, 3, f"{self.name} is a broker: it "
                    "accepts D, F, G and H, and publishes no market data"))
                return
        self.route(venue, out)

    def send(self, outbound: list[Outbound]) -> None:
        """Back to the broker's own FIX session, with the commission on each fill."""
        super().send([Outbound(item.session.partition(SEPARATOR)[2],
                               self._charged(item.message)) for item in outbound])

    def _charged(self, message: object) -> object:
        if isinstance(message, ExecutionReport) and message.last_qty:
            fee = (message.commission or Decimal(0)) + self.commission * message.last_qty
            return replace(message, commission=fee)
        return message

    def _unknown(self, msg_type: str, fields: object) -> ExecutionReport | CancelReject:
        cl_ord_id = getattr(fields, "cl_ord_id", None) or ""
        orig = getattr(fields, "orig_cl_ord_id", None) or ""
        text = f"{self.name}: unknown order {orig or cl_ord_id!r}"
        if isinstance(fields, StatusFields):
            return refusal_report(STATUS_EXEC_ID, cl_ord_id, OrdRejReason.UNKNOWN_ORDER, text,
                                  request=fields, exec_type=ExecType.ORDER_STATUS,
                                  status_req_id=fields.ord_status_req_id)
        return CancelReject(NO_ORDER_ID, cl_ord_id, orig, OrdStatus.REJECTED,
                            CxlRejResponseTo.REPLACE if msg_type == "G"
                            else CxlRejResponseTo.CANCEL, CxlRejReason.UNKNOWN_ORDER, text)
