"""The OMS-facing FIX acceptor: D/F/G/H in, 8/9/j out. Translation only."""

from __future__ import annotations

from typing import Protocol

from sor_daemon.config import OmsConfig
from sor_daemon.fix import codec
from sor_daemon.fix.codec import DecodeError, FixMessage
from sor_daemon.fix.endpoint import FixEndpoint, SessionSpec
from sor_daemon.messages import (
    CancelFields,
    CancelReject,
    ExecutionReport,
    NewOrderFields,
    ReplaceFields,
    StatusFields,
)
from sor_daemon.metrics import FIX_MESSAGES, SESSION_UP

SUPPORTED = "D (NewOrderSingle), F (OrderCancelRequest), G (OrderCancelReplaceRequest), " \
            "H (OrderStatusRequest)"


class OmsEvents(Protocol):
    def new_order(self, session: str, fields: NewOrderFields) -> None: ...

    def cancel_order(self, session: str, fields: CancelFields) -> None: ...

    def replace_order(self, session: str, fields: ReplaceFields) -> None: ...

    def order_status(self, session: str, fields: StatusFields) -> None: ...

    def oms_session(self, session: str, up: bool) -> None: ...

    def oms_problem(self, session: str, problem: str, detail: str) -> None: ...


class OmsGateway:
    def __init__(self, config: OmsConfig, events: OmsEvents, log_dir: str | None = None) -> None:
        self._events = events
        spec = SessionSpec(
            sender_comp_id=config.sender_comp_id, target_comp_id=config.target_comp_id,
            port=config.port, heartbeat_seconds=config.heartbeat_seconds,
            allowed_addresses=tuple(config.allowed_remote_addresses),
        )
        self.session = spec.name
        self.endpoint = FixEndpoint("oms", [spec], self, initiator=False, log_dir=log_dir,
                                    on_error=self._on_error)
        self._out = {t: FIX_MESSAGES.labels("out", "oms", t) for t in ("8", "9", "j")}

    async def start(self) -> None:
        await self.endpoint.start()

    async def stop(self) -> None:
        await self.endpoint.stop()

    def send(self, session: str, message: ExecutionReport | CancelReject) -> bool:
        if isinstance(message, ExecutionReport):
            msg_type, pairs = "8", codec.encode_execution_report(message)
        else:
            msg_type, pairs = "9", codec.encode_cancel_reject(message)
        sent = self.endpoint.send(session, msg_type, pairs)
        if sent:
            self._out[msg_type].inc()
        return sent

    def on_logon(self, session: str) -> None:
        SESSION_UP.labels("oms").set(1)
        self._events.oms_session(session, True)

    def on_logout(self, session: str) -> None:
        SESSION_UP.labels("oms").set(0)
        self._events.oms_session(session, False)

    def on_message(self, session: str, message: FixMessage) -> None:
        FIX_MESSAGES.labels("in", "oms", message.msg_type).inc()
        ev = self._events
        match message.msg_type:
            case "D":
                ev.new_order(session, codec.decode_new_order(message))
            case "F":
                ev.cancel_order(session, codec.decode_cancel(message))
            case "G":
                ev.replace_order(session, codec.decode_replace(message))
            case "H":
                ev.order_status(session, codec.decode_status(message))
            case other:
                self._business_reject(session, message, 3,
                                      f"unsupported MsgType {other}; this router accepts "
                                      f"{SUPPORTED}")

    def _business_reject(self, session: str, message: FixMessage, reason: int,
                         text: str) -> None:
        if self.endpoint.send(session, "j", codec.encode_business_reject(
                message.get(34), message.msg_type, reason, text)):
            self._out["j"].inc()

    def _on_error(self, session: str, raw: str, exc: Exception) -> None:
        kind = "undecodable_message" if isinstance(exc, DecodeError) else "handler_error"
        self._events.oms_problem(session, kind, f"{exc!r}")
        try:
            message = codec.parse(raw)
        except DecodeError:
            return
        self._business_reject(session, message, 0, f"message could not be processed: {exc}")
