"""Parent and child orders and their explicit OrdStatus transition tables.

A status change goes through `transition`, which refuses (raises `IllegalTransition`)
anything not in the order's table; the engine counts and logs those as bugs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from sor_daemon.core.domain import OrdStatus, OrdType, Side, TimeInForce

S = OrdStatus

PARENT_TRANSITIONS: dict[OrdStatus, frozenset[OrdStatus]] = {
    S.PENDING_NEW: frozenset(
        {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.CANCELED,
         S.PENDING_CANCEL, S.PENDING_REPLACE}
    ),
    S.NEW: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED, S.EXPIRED}
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED,
         S.EXPIRED}
    ),
    # Fills may land while a cancel or replace is pending; the request then ends in
    # Canceled / a replaced working order, or is refused and the order goes back.
    S.PENDING_CANCEL: frozenset(
        {S.PENDING_CANCEL, S.CANCELED, S.FILLED, S.NEW, S.PARTIALLY_FILLED}
    ),
    S.PENDING_REPLACE: frozenset(
        {S.PENDING_REPLACE, S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED}
    ),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}

CHILD_TRANSITIONS: dict[OrdStatus, frozenset[OrdStatus]] = {
    S.PENDING_NEW: frozenset(
        {S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.CANCELED, S.EXPIRED,
         S.PENDING_CANCEL}
    ),
    S.NEW: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED,
         S.EXPIRED}
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED,
         S.EXPIRED}
    ),
    S.PENDING_CANCEL: frozenset(
        {S.PENDING_CANCEL, S.CANCELED, S.FILLED, S.PARTIALLY_FILLED, S.NEW, S.EXPIRED}
    ),
    S.PENDING_REPLACE: frozenset(
        {S.PENDING_REPLACE, S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED}
    ),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, kind: str, order_id: str, source: OrdStatus, target: OrdStatus) -> None:
        super().__init__(f"{kind} {order_id}: illegal transition {source.name} -> {target.name}")
        self.kind = kind
        self.source = source
        self.target = target


class _Stateful:
    TABLE: ClassVar[dict[OrdStatus, frozenset[OrdStatus]]]
    KIND: ClassVar[str]
    status: OrdStatus

    def transition(self, target: OrdStatus) -> None:
        if target not in self.TABLE[self.status]:
            raise IllegalTransition(self.KIND, self.key, self.status, target)
        self.status = target

    @property
    def key(self) -> str:
        raise NotImplementedError

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal


@dataclass(slots=True)
class PendingRequest:
    """An OMS cancel or replace waiting for the parent's children to come home."""

    is_replace: bool
    cl_ord_id: str
    orig_cl_ord_id: str | None
    """None: an unsolicited cancel (an operator's cancel-all), reported without 41."""
    qty: int = 0
    price: Decimal | None = None
    text: str | None = None
    """Text (58) for the final report."""


@dataclass(slots=True, eq=False)
class ParentOrder(_Stateful):
    TABLE: ClassVar = PARENT_TRANSITIONS
    KIND: ClassVar = "parent"

    session: str
    cl_ord_id: str
    order_id: str
    symbol: str
    side: Side
    ord_type: OrdType
    price: Decimal | None
    tif: TimeInForce
    qty: int
    strategy: str
    pinned_venue: str | None
    created_ns: int
    arrival_mid: Decimal | None = None
    status: OrdStatus = OrdStatus.PENDING_NEW
    cum_qty: int = 0
    notional: Decimal = Decimal(0)
    acked: bool = False
    children: dict[str, ChildOrder] = field(default_factory=dict)
    exhausted_venues: set[str] = field(default_factory=set)
    """Venues left out of its routing for its life: a child there was rejected, could
    not be sent, was pulled by the venue while resting, or ended while unattended."""
    missed: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    """Venues where one of its IOC children missed (found nothing to take): the venue's
    book count then (`ChildOrder.book_seq`) and until when it
    is left out at most. It is back once it publishes another book (the quote moved) or
    that time has passed. Not journaled: after a restart every venue is looked at again."""
    pending: PendingRequest | None = None
    text: str = ""
    cl_ord_ids: list[str] = field(default_factory=list)
    """Every ClOrdID (11) the OMS has given it (the first, then each cancel or replace
    request's): the keys the engine finds it by."""

    @property
    def key(self) -> str:
        return self.cl_ord_id

    @property
    def is_done(self) -> bool:
        """Terminal, nothing pending, and every child terminal: nothing more can happen
        to it but late or duplicate venue reports."""
        return (self.is_terminal and self.pending is None
                and all(c.is_terminal for c in self.children.values()))

    @property
    def leaves_qty(self) -> int:
        return 0 if self.is_terminal else self.qty - self.cum_qty

    @property
    def avg_px(self) -> Decimal:
        return self.notional / self.cum_qty if self.cum_qty else Decimal(0)

    def live_children(self) -> list[ChildOrder]:
        return [c for c in self.children.values() if not c.is_terminal]

    @property
    def working_qty(self) -> int:
        return sum(c.leaves_qty for c in self.children.values() if not c.is_terminal)

    @property
    def working_status(self) -> OrdStatus:
        """New / PartiallyFilled / Filled from quantities alone."""
        if self.cum_qty >= self.qty:
            return OrdStatus.FILLED
        return OrdStatus.PARTIALLY_FILLED if self.cum_qty else OrdStatus.NEW

    def apply_fill(self, qty: int, price: Decimal) -> None:
        """One of its children filled ``qty`` at ``price``."""
        self.cum_qty += qty
        self.notional += price * qty

    def apply_amendment(self, request: PendingRequest) -> None:
        """The OMS's cancel or replace, done: the order goes by the request's ClOrdID; a
        replace's terms are its own now, and its routing starts afresh (no venue left out,
        no miss held against one). Its status moves through the transition table."""
        self.cl_ord_id = request.cl_ord_id
        if request.is_replace:
            self.qty = request.qty
            self.price = request.price
            self.exhausted_venues.clear()
            self.missed.clear()
            self.text = ""


@dataclass(slots=True, eq=False)
class ChildOrder(_Stateful):
    TABLE: ClassVar = CHILD_TRANSITIONS
    KIND: ClassVar = "child"

    cl_ord_id: str
    parent: ParentOrder
    venue: str
    symbol: str
    side: Side
    ord_type: OrdType
    price: Decimal | None
    tif: TimeInForce
    qty: int
    sent_ns: int
    status: OrdStatus = OrdStatus.PENDING_NEW
    cum_qty: int = 0
    venue_order_id: str = ""
    cancel_ids: list[str] = field(default_factory=list)
    via: str | None = None
    """The broker carrying it to ``venue``; None when sent on the venue's own session."""
    expires_ns: int | None = None
    """When a passive child is withdrawn and its quantity routed again (`Engine.tick`)."""
    book_seq: int = 0
    """How many books its venue had published for its symbol when it was sent."""
    ack_latency_ns: int | None = None
    """Sent -> the venue's New."""
    exec_ids: set[str] = field(default_factory=set)
    """ExecIDs (17) of the fills applied (a fill is never counted twice)."""
    status_filled: int = 0
    """Shares applied from a status answer (fills the venue could no longer resend):
    a later report of those same fills is recognised by its CumQty (14), not applied."""
    unknown: bool = False
    """Its outcome is unknown: its session dropped, or the daemon restarted, while it was
    working. It counts as working (its quantity is not routed again) until the venue
    says what became of it, in a report or in answer to an OrderStatusRequest."""

    @property
    def key(self) -> str:
        return self.cl_ord_id

    @property
    def session(self) -> str:
        """The connector it was sent through: its broker, or its venue."""
        return self.via or self.venue

    @property
    def route(self) -> str:
        """The venue, or ``BROKER>VENUE`` (scorecards and metrics)."""
        return self.venue if self.via is None else f"{self.via}>{self.venue}"

    @property
    def leaves_qty(self) -> int:
        return 0 if self.is_terminal else self.qty - self.cum_qty

    def apply_fill(self, qty: int) -> None:
        """The venue filled ``qty`` more (at most what it has working)."""
        self.cum_qty += qty
