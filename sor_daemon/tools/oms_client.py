"""A small FIX OMS: sends orders, cancels and replaces, and tracks what comes back.

Used by `sor-daemon oms`, by the demo and by the integration tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from sor_daemon.config import SorConfig, oms_credentials
from sor_daemon.core.domain import ExecType, OrdRejReason, OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.core.messages import (
    NO_ORDER_ID,
    CancelOrder,
    CancelReject,
    ExecutionReport,
    NewOrder,
)
from sor_daemon.fix import codec
from sor_daemon.fix.codec import FixMessage, Pairs
from sor_daemon.fix.endpoint import FixEndpoint, SessionSpec, SessionStore


@dataclass(slots=True, eq=False)
class OmsOrder:
    """The OMS's view of one order, across its ClOrdID chain."""

    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    ord_type: OrdType
    price: Decimal | None
    tif: TimeInForce
    current: str = ""
    order_id: str = ""
    status: OrdStatus = OrdStatus.PENDING_NEW
    cum_qty: int = 0
    avg_px: Decimal = Decimal(0)
    arrival_mid: Decimal | None = None
    text: str | None = None
    fills: list[tuple[int, Decimal, str]] = field(default_factory=list)
    reports: list[ExecutionReport] = field(default_factory=list)
    cancel_rejects: list[CancelReject] = field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal


Listener = Callable[[OmsOrder | None, ExecutionReport | CancelReject], None]


def describe(message: ExecutionReport | CancelReject) -> str:
    """One readable line for an ExecutionReport or OrderCancelReject."""
    if isinstance(message, CancelReject):
        return (f"CancelReject ClOrdID={message.cl_ord_id} OrigClOrdID={message.orig_cl_ord_id}"
                f" reason={message.reason.name} text={message.text!r}")
    er = message
    side = er.side.name if isinstance(er.side, Side) else er.side
    text = f"{er.exec_type.name:<15} {er.ord_status.name:<16} {er.cl_ord_id:<14} {er.symbol:<5} "
    text += f"{side:<4} cum={er.cum_qty}/{er.order_qty} leaves={er.leaves_qty}"
    if er.last_qty:
        text += f" last={er.last_qty}@{codec.fmt_decimal(er.last_px or Decimal(0))}"
        text += f" on {er.last_mkt}"
    if er.cum_qty:
        text += f" avg={codec.fmt_decimal(er.avg_px.quantize(Decimal('0.0001')))}"
    if er.text:
        text += f" text={er.text!r}"
    return text


class OmsClient:
    def __init__(self, spec: SessionSpec, listener: Listener | None = None,
                 id_prefix: str | None = None, store: SessionStore | None = None) -> None:
        """``store``: how sequence numbers are kept (default: reset at every logon; a
        durable one gets the reports it missed while away resent)."""
        self.session = spec.name
        self.endpoint = FixEndpoint("oms-client", [spec], self, initiator=True,
                                    store=store or SessionStore())
        self.exec_ids: set[str] = set()
        self.duplicates = 0
        """Reports whose ExecID (17) had been seen (a resend): ignored, counted. Status
        replies are never counted: they all have ExecID 0, and a resent one is harmless."""
        self.orders: dict[str, OmsOrder] = {}
        self.business_rejects: list[str] = []
        self.unmatched: list[ExecutionReport | CancelReject] = []
        self._listener = listener
        self._prefix = id_prefix or f"{time.time_ns() // 1_000_000 % 100_000_000:08d}-"
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()

    @classmethod
    def for_config(cls, config: SorConfig, host: str = "127.0.0.1",
                   listener: Listener | None = None, session: int = 0,
                   password: str | None = None, store: SessionStore | None = None,
                   id_prefix: str | None = None) -> OmsClient:
        """A client for the config's ``session``-th OMS session. A session with a username
        logs on with it and ``password`` (default: read where the daemon reads it)."""
        oms = config.oms.sessions[session]
        logon: dict[int, str] = {}
        if oms.username is not None:
            logon[553] = oms.username
            if password is None:
                password = oms_credentials(config)[oms.comp_id][1]
            if password is not None:
                logon[554] = password
        return cls(SessionSpec(sender_comp_id=oms.comp_id,
                               target_comp_id=config.oms.sender_comp_id, port=config.oms.port,
                               host=host, logon_fields=logon), listener, id_prefix, store)

    async def start(self, timeout: float = 10.0) -> bool:
        await self.endpoint.start()
        return await self.endpoint.wait_logged_on(timeout=timeout)

    async def stop(self) -> None:
        await self.endpoint.stop()

    def next_id(self) -> str:
        return f"{self._prefix}{next(self._ids)}"

    # --------------------------------------------------------------- requests

    def new_order(self, symbol: str, side: Side, qty: int, ord_type: OrdType = OrdType.LIMIT,
                  price: Decimal | None = None, tif: TimeInForce = TimeInForce.DAY,
                  ex_destination: str | None = None, target_strategy: int | None = None,
                  cl_ord_id: str | None = None) -> OmsOrder:
        order = OmsOrder(cl_ord_id or self.next_id(), symbol, side, qty, ord_type, price, tif)
        order.current = order.cl_ord_id
        self.orders.setdefault(order.cl_ord_id, order)
        self.send_raw("D", codec.encode_new_order(NewOrder(
            order.cl_ord_id, symbol, side, qty, ord_type, price, tif, ex_destination,
            target_strategy)))
        return order

    def cancel(self, order: OmsOrder, cl_ord_id: str | None = None) -> str:
        cl_ord_id = cl_ord_id or self.next_id()
        self.orders[cl_ord_id] = order
        self.send_raw("F", codec.encode_cancel(CancelOrder(
            cl_ord_id, order.current, order.symbol, order.side, order.qty)))
        return cl_ord_id

    def replace(self, order: OmsOrder, qty: int | None = None, price: Decimal | None = None,
                cl_ord_id: str | None = None) -> str:
        cl_ord_id = cl_ord_id or self.next_id()
        self.orders[cl_ord_id] = order
        self.send_raw("G", codec.encode_replace(
            cl_ord_id, order.current, order.symbol, order.side, qty or order.qty,
            order.ord_type, price if price is not None else order.price, order.tif))
        return cl_ord_id

    def status(self, order: OmsOrder) -> None:
        self.send_raw("H", codec.encode_status_request(order.current, order.symbol,
                                                       order.side, self.next_id()))

    def send_raw(self, msg_type: str, pairs: Pairs) -> bool:
        """Send any message as given (the tests use it for bad input)."""
        if not self.endpoint.send(self.session, msg_type, pairs):
            raise ConnectionError("the OMS session is not logged on")
        return True

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate()`` holds: woken by every report, re-checked every 50 ms
        (session-level events such as a Reject do not pass through this client)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
        return True

    # --------------------------------------------------------- quickfix events

    def on_logon(self, session: str) -> None:
        self._changed.set()

    def on_logout(self, session: str) -> None:
        self._changed.set()

    def on_message(self, session: str, message: FixMessage) -> None:
        match message.msg_type:
            case "8":
                self._on_report(codec.decode_execution_report(message))
            case "9":
                reject = codec.decode_cancel_reject(message)
                order = self.orders.get(reject.cl_ord_id)
                if order is None:
                    self.unmatched.append(reject)
                else:
                    order.cancel_rejects.append(reject)
                self._notify(order, reject)
            case "j":
                self.business_rejects.append(message.get(58) or "")
                self._changed.set()

    def _on_report(self, er: ExecutionReport) -> None:
        if er.exec_type is not ExecType.ORDER_STATUS:  # a status reply's ExecID is always 0
            if er.exec_id in self.exec_ids:
                self.duplicates += 1
                return
            self.exec_ids.add(er.exec_id)
        order = self.orders.get(er.cl_ord_id)
        if er.orig_cl_ord_id and order is None:
            order = self.orders.get(er.orig_cl_ord_id)
        if order is None or (er.exec_type is ExecType.REJECTED
                             and er.ord_rej_reason is OrdRejReason.DUPLICATE_ORDER
                             and order.order_id):
            # A reject of a reused ClOrdID says nothing about the order that owns it.
            self.unmatched.append(er)
            self._notify(order, er)
            return
        order.reports.append(er)
        if er.exec_type is not ExecType.ORDER_STATUS or er.ord_status is not OrdStatus.REJECTED:
            order.status = er.ord_status
            order.cum_qty = er.cum_qty
            order.avg_px = er.avg_px
            if er.order_id != NO_ORDER_ID:
                order.order_id = er.order_id
        order.text = er.text or order.text
        if er.benchmark_price is not None:
            order.arrival_mid = er.benchmark_price
        if er.exec_type is ExecType.TRADE:
            order.fills.append((er.last_qty, er.last_px or Decimal(0), er.last_mkt or "?"))
        if er.exec_type in (ExecType.REPLACED, ExecType.CANCELED) and er.cl_ord_id in self.orders:
            order.current = er.cl_ord_id
            order.qty = er.order_qty
            order.price = er.price
        self._notify(order, er)

    def _notify(self, order: OmsOrder | None, message: ExecutionReport | CancelReject) -> None:
        self._changed.set()
        if self._listener is not None:
            self._listener(order, message)
