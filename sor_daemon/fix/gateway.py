"""The OMS-facing FIX acceptor: D/F/G/H in, 8/9/j out, and who may log on.

Translation and logon checks only: one quickfix session per configured OMS CompID; a
session with a username must log on with it and its password (compared in constant
time, the secret never logged). The public port is an `AcceptorGate`'s: quickfix's
acceptor listens on a loopback port of its own and sees only connections the gate let
through.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Protocol

from sor_daemon.config import OmsConfig, oms_counterparty
from sor_daemon.core.messages import (
    BusinessReject,
    CancelFields,
    CancelReject,
    ExecutionReport,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
)
from sor_daemon.fix import codec
from sor_daemon.fix.codec import DecodeError, FixMessage
from sor_daemon.fix.endpoint import FixEndpoint, SessionSpec, SessionStore, WireTap
from sor_daemon.fix.gate import AcceptorGate, GateLimits, pick_loopback_port
from sor_daemon.fix.metrics import FIX_MESSAGES, LOGON_REJECTS, SESSION_UP
from sor_daemon.fix.order_entry import REQUEST_TYPES, decode_request, encode_report

SUPPORTED_TYPES = REQUEST_TYPES
SUPPORTED = "D (NewOrderSingle), F (OrderCancelRequest), G (OrderCancelReplaceRequest), " \
            "H (OrderStatusRequest)"


class OmsEvents(Protocol):
    """The OMS's requests, each with when it reached the router (its throttle's clock)."""

    def new_order(self, session: str, fields: NewOrderFields, received_ns: int) -> None: ...

    def cancel_order(self, session: str, fields: CancelFields, received_ns: int) -> None: ...

    def replace_order(self, session: str, fields: ReplaceFields, received_ns: int) -> None: ...

    def order_status(self, session: str, fields: StatusFields, received_ns: int) -> None: ...

    def oms_session(self, session: str, up: bool) -> None: ...

    def oms_problem(self, session: str, problem: str, detail: str) -> None: ...

    def oms_logon_refused(self, session: str, reason: str) -> None: ...

    def oms_connection_refused(self, reason: str, peer: str, detail: str) -> None: ...

    def oms_session_cut(self, session: str, reason: str, detail: str) -> None: ...


Credentials = tuple[str, str | None]
"""A session's username and password (None: any password, e.g. none configured)."""


class OmsGateway:
    def __init__(self, config: OmsConfig, events: OmsEvents, log_dir: str | None = None,
                 credentials: Mapping[str, Credentials] | None = None,
                 tap: WireTap | None = None, store: SessionStore | None = None) -> None:
        """``credentials``: by OMS CompID, for sessions that log on with a username;
        ``tap``: sees every message on the OMS sessions but heartbeats (the audit trail);
        ``store``: how sequence numbers and sent messages are kept (default: reset at
        every logon)."""
        self._events = events
        self._tap = tap
        self.engine_port = pick_loopback_port()
        """quickfix's own acceptor port: only the gate connects to it."""
        specs = [SessionSpec(
            sender_comp_id=config.sender_comp_id, target_comp_id=session.comp_id,
            port=self.engine_port, heartbeat_seconds=config.heartbeat_seconds,
            allowed_addresses=("127.0.0.1",), timestamp_precision=config.timestamp_precision,
        ) for session in config.sessions]
        self.sessions = {spec.name: spec.target_comp_id for spec in specs}
        """quickfix session name -> the OMS's CompID."""
        self._credentials = {name: (credentials or {}).get(comp_id)
                             for name, comp_id in self.sessions.items()}
        self.endpoint = FixEndpoint("oms", specs, self, initiator=False, log_dir=log_dir,
                                    on_error=self._on_error, logon_check=self._check_logon,
                                    logon_events=self, tap=tap,
                                    store=store or SessionStore(), backlog=self._backlog)
        self.gate = AcceptorGate(
            config.port, self.engine_port, [s.comp_id for s in config.sessions],
            config.sender_comp_id, self, GateLimits(
                allowed_addresses=frozenset(config.allowed_remote_addresses),
                logon_timeout_s=config.logon_timeout_seconds,
                max_logon_bytes=config.max_logon_bytes,
                max_pending=config.max_pending_connections,
                max_backlog_bytes=config.max_backlog_kib * 1024),
            host=config.host)
        self.counterparties = {name: oms_counterparty(comp_id)
                               for name, comp_id in self.sessions.items()}
        """quickfix session name -> its name in metrics and the audit trail."""
        for label in self.counterparties.values():
            SESSION_UP.labels(label).set(0)

    def _check_logon(self, session: str, logon: FixMessage) -> str | None:
        """On quickfix's thread: why this Logon is refused, or None. Constant-time
        comparisons, so a wrong guess takes as long as a nearly right one."""
        expected = self._credentials.get(session)
        if expected is None:
            return None
        username, password = expected
        given_user, given_password = logon.get(553) or "", logon.get(554) or ""
        user_ok = hmac.compare_digest(given_user.encode(), username.encode())
        password_ok = password is None or hmac.compare_digest(given_password.encode(),
                                                              password.encode())
        if not given_user or (password is not None and not given_password):
            reason = "Username (553) and Password (554) are required"
            LOGON_REJECTS.labels("missing_credentials").inc()
        elif not (user_ok and password_ok):
            reason = "invalid username or password"
            LOGON_REJECTS.labels("bad_credentials").inc()
        else:
            return None
        return reason

    def on_logon_refused(self, session: str, reason: str) -> None:
        self._events.oms_logon_refused(session, reason)

    def on_unknown_session(self, raw: str) -> None:
        LOGON_REJECTS.labels("unknown_comp_id").inc()
        if self._tap is not None:
            self._tap("in", "", raw, time.time_ns())
        try:
            message = codec.parse(raw)
            who = f"SenderCompID {message.get(49)!r} -> TargetCompID {message.get(56)!r}"
        except DecodeError:
            who = "an unreadable message"
        self._events.oms_logon_refused(
            "", f"no session for {who}: allowed OMS CompIDs are "
                f"{', '.join(sorted(self.sessions.values()))}; connection dropped")

    def on_connection_refused(self, reason: str, peer: str, detail: str) -> None:
        self._events.oms_connection_refused(reason, peer, detail)

    def on_session_cut(self, comp_id: str, reason: str, detail: str) -> None:
        session = next(name for name, c in self.sessions.items() if c == comp_id)
        self._events.oms_session_cut(session, reason, detail)

    def _backlog(self, session: str, reading: bool) -> None:
        self.gate.flow(self.sessions[session], reading)

    async def start(self, rewind: Mapping[str, int] | None = None) -> None:
        """``rewind``: see `FixEndpoint.start`."""
        await self.endpoint.start(rewind)
        await self.gate.start()

    async def stop(self) -> None:
        """Log every session out through the gate, then close it."""
        await self.endpoint.stop()
        await self.gate.stop()

    encode = staticmethod(encode_report)

    def send(self, session: str, message: ExecutionReport | CancelReject | BusinessReject,
             encoded: tuple[str, codec.Pairs] | None = None) -> bool:
        """``encoded``: the message as `encode` made it, if it was already."""
        msg_type, pairs = encoded or self.encode(message)
        return self.send_encoded(session, msg_type, pairs)

    def send_encoded(self, session: str, msg_type: str, pairs: codec.Pairs) -> bool:
        sent = self.endpoint.send(session, msg_type, pairs)
        if sent:
            FIX_MESSAGES.labels("out", self.counterparties[session], msg_type).inc()
        return sent

    def on_logon(self, session: str) -> None:
        SESSION_UP.labels(self.counterparties[session]).set(1)
        self._events.oms_session(session, True)

    def on_logout(self, session: str) -> None:
        SESSION_UP.labels(self.counterparties[session]).set(0)
        self._events.oms_session(session, False)

    def on_message(self, session: str, message: FixMessage) -> None:
        msg_type = message.msg_type if message.msg_type in SUPPORTED_TYPES else "other"
        FIX_MESSAGES.labels("in", self.counterparties[session], msg_type).inc()
        ev, request = self._events, decode_request(message)
        match request:
            case NewOrderFields():
                ev.new_order(session, request, message.received_ns)
            case CancelFields():
                ev.cancel_order(session, request, message.received_ns)
            case ReplaceFields():
                ev.replace_order(session, request, message.received_ns)
            case StatusFields():
                ev.order_status(session, request, message.received_ns)
            case None:
                self._business_reject(session, message, 3,
                                      f"unsupported MsgType {message.msg_type}; this router "
                                      f"accepts {SUPPORTED}")

    def _business_reject(self, session: str, message: FixMessage, reason: int,
                         text: str) -> None:
        if self.endpoint.send(session, "j", codec.encode_business_reject(
                message.get(34), message.msg_type, reason, text)):
            FIX_MESSAGES.labels("out", self.counterparties[session], "j").inc()

    def _on_error(self, session: str, raw: str, exc: Exception) -> None:
        kind = "undecodable_message" if isinstance(exc, DecodeError) else "handler_error"
        self._events.oms_problem(session, kind, f"{exc!r}")
        try:
            message = codec.parse(raw)
        except DecodeError:
            return
        self._business_reject(session, message, 0, f"message could not be processed: {exc}")
