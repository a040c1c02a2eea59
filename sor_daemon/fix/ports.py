"""The one interface every venue connector offers the daemon, and what it reports back."""

from __future__ import annotations

from typing import Protocol

from sor_daemon.core.market import VenueBook
from sor_daemon.core.messages import CancelOrder, CancelReject, ExecutionReport, NewOrder


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

    @property
    def up(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def submit(self, order: NewOrder) -> bool:
        """Send a new order; False when it could not be handed to the venue."""
        ...

    def cancel(self, request: CancelOrder) -> bool: ...

    def replace(self, request: NewOrder, orig_cl_ord_id: str) -> bool: ...

    def status(self, cl_ord_id: str, symbol: str, side: str) -> bool: ...
