"""What the engine returns: commands for the adapters to carry out (`SendChild`,
`CancelChild`, `QueryChild`, `ToOms`) and events for the observers (the rest), in the order
they happened."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sor_daemon.core.messages import (
    BusinessReject,
    CancelOrder,
    CancelReject,
    ExecutionReport,
    NewOrder,
)
from sor_daemon.core.orders import ChildOrder, ParentOrder
from sor_daemon.core.risk import Halt
from sor_daemon.core.routing.strategy import ChildPlan


@dataclass(frozen=True, slots=True)
class SendChild:
    venue: str
    order: NewOrder
    child: ChildOrder


@dataclass(frozen=True, slots=True)
class CancelChild:
    venue: str
    request: CancelOrder


@dataclass(frozen=True, slots=True)
class QueryChild:
    """Ask the venue what became of a child whose outcome is unknown
    (OrderStatusRequest)."""

    venue: str
    child: ChildOrder


@dataclass(frozen=True, slots=True)
class ToOms:
    session: str
    message: ExecutionReport | CancelReject | BusinessReject


@dataclass(frozen=True, slots=True)
class Candidate:
    """One venue as the strategy saw it: why it was or was not used."""

    venue: str
    kind: str
    up: bool
    exhausted: bool
    touch: Decimal | None
    """Best displayed price the order would take (lit venues)."""
    size: int
    fill_rate: float
    ack_latency_ms: float


@dataclass(frozen=True, slots=True)
class Decision:
    """One routing decision, for the log: the candidates considered and the children."""

    parent: ParentOrder
    strategy: str
    qty: int
    candidates: tuple[Candidate, ...]
    children: tuple[ChildPlan, ...]
    routes: tuple[str, ...] = ()
    """The route each child took: its venue, or ``BROKER>VENUE``."""


@dataclass(frozen=True, slots=True)
class ParentAccepted:
    """A new parent passed intake and is being routed (for metrics and the monitor)."""

    parent: ParentOrder


@dataclass(frozen=True, slots=True)
class ChildAcked:
    """A venue acknowledged a child: how long it took (for the latency metric)."""

    venue: str
    """The child's route: its venue, or ``BROKER>VENUE``."""
    latency_ns: int


@dataclass(frozen=True, slots=True)
class ChildFilled:
    """A fill applied to a child and its parent (for the execution monitor)."""

    child: ChildOrder
    qty: int
    price: Decimal
    commission: Decimal | None
    """What the venue or broker charged for it (Commission, 12), if it said."""
    bid: Decimal | None = None
    ask: Decimal | None = None
    """The NBBO before this fill was taken off the book."""
    first: bool = False
    """The child's first fill (child fill latency is measured to it)."""
    liquidity: str | None = None
    """LastLiquidityInd (851) as the venue said: 1 added (passive), 2 removed."""
    exec_id: str = ""
    """The venue's ExecID (17): with the child's ClOrdID, what makes the fill unique."""


@dataclass(frozen=True, slots=True)
class ChildEnded:
    """A child reached a final state."""

    child: ChildOrder


@dataclass(frozen=True, slots=True)
class ParentEnded:
    """A parent reached a final state (filled, canceled, rejected, expired)."""

    parent: ParentOrder


@dataclass(frozen=True, slots=True)
class Halted:
    """The kill switch engaged (for everything, or one symbol)."""

    halt: Halt


@dataclass(frozen=True, slots=True)
class Resumed:
    """An operator lifted these halts."""

    halts: tuple[Halt, ...]


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something that must never happen did, or a counterparty sent nonsense."""

    reason: str
    detail: str


Action = (SendChild | CancelChild | QueryChild | ToOms | Anomaly | Decision | ParentAccepted
          | ChildAcked | ChildFilled | ChildEnded | ParentEnded | Halted | Resumed)
