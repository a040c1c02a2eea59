"""The connector contract: what every venue connector offers the daemon, and what it
reports back. A new kind of venue or broker needs this and nothing of the daemon's.

==================================  ========  ==========================================
member                              required  what
==================================  ========  ==========================================
``name``, ``up``                    yes       its name in config and metrics; logged on?
``endpoint``                        yes       its FIX endpoint (the journal keeps its
                                              sequence numbers)
``start(rewind)``, ``stop()``       yes       log on (inbound sequences resume at
                                              ``rewind``); log out
``submit(order)``                   yes       a NewOrderSingle; False: not handed over
``cancel(request)``                 yes       an OrderCancelRequest; False: not handed over
``status(cl_ord_id, symbol, side)`` yes       an OrderStatusRequest: what became of a child
                                              whose outcome is unknown (reconciliation)
``replace(request, orig_cl_ord_id)`` optional an OrderCancelReplaceRequest (the router does
                                              not amend children today)
market data                         optional  a lit venue reports its books (``venue_book``)
                                              and trades (``venue_trades``)
==================================  ========  ==========================================

Every callback (`VenueEvents`) is made on the event loop thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sor_daemon.core.market import VenueBook
from sor_daemon.core.messages import CancelOrder, CancelReject, ExecutionReport, NewOrder
from sor_daemon.fix.endpoint import FixEndpoint


class VenueEvents(Protocol):
    """Callbacks a connector makes, always on the event loop thread."""

    def venue_session(self, venue: str, up: bool) -> None: ...

    def venue_execution(self, venue: str, report: ExecutionReport) -> None: ...

    def venue_cancel_reject(self, venue: str, reject: CancelReject) -> None: ...

    def venue_book(self, book: VenueBook) -> None: ...

    def venue_trades(self, venue: str, symbol: str, qty: int) -> None:
        """Shares the venue reports traded (its market data), for learned queue depletion."""
        ...

    def venue_problem(self, venue: str, problem: str, detail: str) -> None: ...


class VenueConnector(Protocol):
    name: str
    endpoint: FixEndpoint

    @property
    def up(self) -> bool: ...

    async def start(self, rewind: Mapping[str, int] | None = None) -> None: ...

    async def stop(self) -> None: ...

    def submit(self, order: NewOrder) -> bool:
        """Send a new order; False when it could not be handed to the venue."""
        ...

    def cancel(self, request: CancelOrder) -> bool: ...

    def replace(self, request: NewOrder, orig_cl_ord_id: str) -> bool:
        """Optional: a connector without it raises NotImplementedError."""
        ...

    def status(self, cl_ord_id: str, symbol: str, side: str) -> bool: ...
