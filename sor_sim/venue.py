"""One simulated venue served as a real FIX acceptor: translation only.

Messages go out after the venue's configured acknowledgement latency, in order. Sessions
are durable while the process lives (`SIM_STORE`): what the venue sends while a client is
away (fills, cancel-on-disconnect reports) is stored and resent when it is back. A report
goes out through whichever venue or broker owns the order's session (`SimVenue.route`):
an order arriving on one session may fill one resting from another.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable, Mapping
from typing import IO

import orjson
import structlog

from sor_daemon.core.domain import ExecType
from sor_daemon.core.messages import CancelReject, ExecutionReport
from sor_daemon.fix import codec
from sor_daemon.fix.codec import FixMessage, Pairs
from sor_daemon.fix.endpoint import FixEndpoint, SessionSpec, SessionStore
from sor_daemon.fix.order_entry import decode_request, encode_report
from sor_sim.exchange import Increment, MarketDataReject, Outbound, Snapshot
from sor_sim.market import SimMarket

SIM_STORE = SessionStore(persist_messages=True, reset_on_logon=False, adopt_when_fresh=True,
                         never_resend=frozenset({"W", "X", "Y"}))
"""In memory, numbering kept across reconnects; a restarted sim adopts its client's
numbering. Market data is gap-filled, never resent: a new subscription gets a fresh
snapshot."""
CANCEL_ON_DISCONNECT = "cancel on disconnect"
SEPARATOR = "|"
"""Between a broker's name and its FIX session in the keys its orders carry."""


def broker_of(session_key: str) -> str | None:
    """The broker an outbound message belongs to, or None for a venue's own session."""
    name, sep, _ = session_key.partition(SEPARATOR)
    return name if sep else None


def encode(message: object) -> tuple[str, Pairs]:
    """The FIX message type and fields of a venue's outbound message."""
    if isinstance(message, ExecutionReport | CancelReject):
        return encode_report(message)
    if isinstance(message, Snapshot):
        return "W", codec.encode_snapshot(message.req_id, message.symbol, message.bids,
                                          message.asks)
    if isinstance(message, Increment):
        return "X", codec.encode_incremental(message.req_id, message.symbol, message.changes,
                                             message.trades)
    if isinstance(message, MarketDataReject):
        return "Y", codec.encode_market_data_reject(message.req_id, "0", message.text)
    raise TypeError(f"no FIX encoding for {type(message).__name__}")


class SimVenue:
    def __init__(
        self,
        name: str,
        market: SimMarket,
        specs: list[SessionSpec],
        log_dir: str | None = None,
        on_error: Callable[[str, str, Exception], None] | None = None,
        cancel_on_disconnect: bool = False,
    ) -> None:
        """``cancel_on_disconnect``: a session that logs out has its working orders
        cancelled (reported Canceled when it is back); otherwise they keep working."""
        self.name = name
        self.market = market
        self.port = specs[0].port
        self.cancel_on_disconnect = cancel_on_disconnect
        self.endpoint = FixEndpoint(f"sim-{name}", specs, self, initiator=False,
                                    log_dir=log_dir, on_error=on_error, store=SIM_STORE)
        self._latency = market.latency_ns.get(name, 0) / 1e9
        self._queue: deque[tuple[float, Outbound]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.peers: Mapping[str, SimVenue] = {name: self}
        """Every venue and broker on the same market, by name (`connect`)."""
        self.undelivered = 0
        """Messages quickfix did not take (logged): a report the client never gets."""
        self._log = structlog.get_logger("sim")

    def connect(self, peers: Mapping[str, SimVenue]) -> None:
        """Share the market's reports with ``peers``: a fill of an order that came in
        through a broker goes out through that broker, and the other way round."""
        self.peers = peers

    def route(self, venue: str, outbound: list[Outbound]) -> None:
        """Send what ``venue``'s book produced (this venue's, or one this broker reaches),
        each message through whoever owns its session: the venue itself, or the broker
        whose key the order carries."""
        for item in outbound:
            owner = self.peers.get(broker_of(item.session) or venue)
            if owner is None:
                self.undelivered_report(item, "no venue or broker here owns the session")
            else:
                owner.send([item])

    async def start(self) -> None:
        await self.endpoint.start()

    async def stop(self) -> None:
        await self.endpoint.stop()

    def set_down(self, down: bool) -> None:
        """An outage: drop every session and refuse logons; or end it."""
        if down:
            self.endpoint.logon_refusal = f"{self.name} is unavailable (simulated outage)"
            self.endpoint.logout_all("simulated outage")
        else:
            self.endpoint.logon_refusal = None
            self.endpoint.enable_all()

    def on_logon(self, session: str) -> None:
        pass

    def on_logout(self, session: str) -> None:
        self.market.drop_session(self.name, session)
        if self.cancel_on_disconnect:
            self.route(self.name,
                       self.market.cancel_session(self.name, session, CANCEL_ON_DISCONNECT))

    def on_message(self, session: str, message: FixMessage) -> None:
        market, venue = self.market, self.name
        request = decode_request(message)
        if request is not None:
            out = market.request(venue, session, request)
        elif message.msg_type == "V":
            subscription = codec.decode_market_data_request(message)
            if subscription.subscribe:
                out = market.subscribe(venue, session, subscription.req_id, subscription.depth,
                                       subscription.symbols)
            else:
                market.drop_session(venue, session)
                out = []
        else:
            self.endpoint.send(session, "j", codec.encode_business_reject(
                message.get(34), message.msg_type, 3,
                f"{venue} does not accept MsgType {message.msg_type}"))
            return
        self.route(venue, out)

    ledger: IO[bytes] | None = None
    """Where every fill is written, before it is reported (`sor-daemon chaos` compares
    what the venues filled with what the router applied)."""

    def _deliver(self, item: Outbound) -> None:
        message = item.message
        if (self.ledger is not None and isinstance(message, ExecutionReport)
                and message.exec_type is ExecType.TRADE):
            self.ledger.write(orjson.dumps({
                "venue": self.name, "child": message.cl_ord_id, "exec_id": message.exec_id,
                "qty": message.last_qty, "pid": os.getpid()}) + b"\n")
            self.ledger.flush()
        if not self.endpoint.send(item.session, *encode(message)):
            self.undelivered_report(item, "the session is not there to take it")

    def undelivered_report(self, item: Outbound, why: str) -> None:
        """Count and log a message that will never reach its client."""
        self.undelivered += 1
        message = item.message
        self._log.error("sim_report_undelivered", venue=self.name, session=item.session,
                        message=type(message).__name__, why=why,
                        cl_ord_id=getattr(message, "cl_ord_id", None),
                        exec_type=getattr(message, "exec_type", None))

    def send(self, outbound: list[Outbound]) -> None:
        if not self._latency:
            for item in outbound:
                self._deliver(item)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + self._latency
        self._queue.extend((due, item) for item in outbound)
        if self._timer is None and self._queue:
            self._timer = loop.call_at(self._queue[0][0], self._drain)

    def _drain(self) -> None:
        """Send what is due, in order (equal deadlines must not reorder messages)."""
        loop = asyncio.get_running_loop()
        self._timer = None
        try:
            while self._queue and self._queue[0][0] <= loop.time():
                _, item = self._queue.popleft()
                self._deliver(item)
        finally:  # a message that fails (the loop reports it) must not stall the rest
            if self._queue:
                self._timer = loop.call_at(self._queue[0][0], self._drain)
