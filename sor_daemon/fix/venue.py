"""A venue, or a broker reaching venues, over FIX 4.4: one quickfix initiator session,
translation only."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Mapping

from sor_daemon.config import SessionConfig, VenueConfig
from sor_daemon.core.domain import Side
from sor_daemon.core.messages import CancelOrder, NewOrder
from sor_daemon.fix import codec
from sor_daemon.fix.codec import DecodeError, FixMessage
from sor_daemon.fix.endpoint import FixEndpoint, SessionSpec, SessionStore, WireTap
from sor_daemon.fix.market_data import VenueFeed
from sor_daemon.fix.ports import VenueEvents

RECONNECT_BACKOFF_MAX_S = 30.0
"""Reconnect attempts to a venue that stays away grow apart up to this far."""


class FixVenueConnector:
    def __init__(self, config: SessionConfig, symbols: list[str], events: VenueEvents,
                 log_dir: str | None = None, tap: WireTap | None = None,
                 store: SessionStore | None = None) -> None:
        """``tap``: sees every order message sent and received (the audit trail);
        ``store``: how sequence numbers are kept (default: reset at every logon)."""
        self.name = config.name
        self._symbols = symbols
        self._events = events
        spec = SessionSpec(
            sender_comp_id=config.sender_comp_id, target_comp_id=config.target_comp_id,
            port=config.port, host=config.host, heartbeat_seconds=config.heartbeat_seconds,
            reconnect_seconds=config.reconnect_seconds,
            timestamp_precision=config.timestamp_precision,
        )
        self._session = spec.name
        self._md_ids = itertools.count(1)
        self._feed = VenueFeed(self.name)
        """This venue's book per symbol, as built from its W snapshot and X increments."""
        self._depth = (config.market_depth
                       if isinstance(config, VenueConfig) and config.kind == "lit" else 0)
        """Book levels to subscribe to: lit venues only (dark pools and brokers publish
        nothing)."""
        self._reconnect_s = float(config.reconnect_seconds)
        self._backoff: asyncio.Task[None] | None = None
        self._stopping = False
        self.endpoint = FixEndpoint(f"venue-{self.name}", [spec], self, initiator=True,
                                    log_dir=log_dir, on_error=self._on_error, tap=tap,
                                    store=store or SessionStore())

    @property
    def up(self) -> bool:
        return self.endpoint.is_logged_on(self._session)

    async def start(self, rewind: Mapping[str, int] | None = None) -> None:
        """``rewind``: see `FixEndpoint.start`."""
        await self.endpoint.start(rewind)

    async def stop(self) -> None:
        self._stopping = True
        if self._backoff is not None:
            self._backoff.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._backoff
        await self.endpoint.stop()

    async def _reconnect(self) -> None:
        """After a drop: a couple of attempts ``reconnect_seconds`` apart, then pauses
        that double up to `RECONNECT_BACKOFF_MAX_S` while the venue stays away (no
        connection storm against a venue that is restarting)."""
        pause = self._reconnect_s
        try:
            while not self._stopping:
                if await self.endpoint.wait_logged_on(self._session, 2 * self._reconnect_s + 1):
                    return
                self.endpoint.set_enabled(self._session, False)
                await asyncio.sleep(pause)
                self.endpoint.set_enabled(self._session, True)
                pause = min(2 * pause, RECONNECT_BACKOFF_MAX_S)
        finally:
            self._backoff = None

    # ----------------------------------------------------------- order entry

    def submit(self, order: NewOrder) -> bool:
        return self.endpoint.send(self._session, "D", codec.encode_new_order(order))

    def cancel(self, request: CancelOrder) -> bool:
        return self.endpoint.send(self._session, "F", codec.encode_cancel(request))

    def replace(self, request: NewOrder, orig_cl_ord_id: str) -> bool:
        return self.endpoint.send(self._session, "G", codec.encode_replace(
            request.cl_ord_id, orig_cl_ord_id, request.symbol, request.side, request.qty,
            request.ord_type, request.price, request.tif))

    def status(self, cl_ord_id: str, symbol: str, side: str) -> bool:
        return self.endpoint.send(self._session, "H", codec.encode_status_request(
            cl_ord_id, symbol, Side(side), f"{self.name}-S{cl_ord_id}"))

    # ------------------------------------------------------- quickfix events

    def on_logon(self, session: str) -> None:
        if self._depth:
            self.endpoint.send(session, "V", codec.encode_market_data_request(
                f"{self.name}-MD{next(self._md_ids)}", self._symbols, self._depth))
        self._events.venue_session(self.name, True)

    def on_logout(self, session: str) -> None:
        self._feed.clear()
        if not self._stopping and self._backoff is None:
            self._backoff = asyncio.ensure_future(self._reconnect())
        self._events.venue_session(self.name, False)

    def on_message(self, session: str, message: FixMessage) -> None:
        match message.msg_type:
            case "8":
                self._events.venue_execution(self.name, codec.decode_execution_report(message))
            case "9":
                self._events.venue_cancel_reject(self.name, codec.decode_cancel_reject(message))
            case "W":
                self._events.venue_book(self._feed.snapshot(message, time.time_ns()))
            case "X":
                update = self._feed.increment(message, time.time_ns())
                for symbol, qty in update.trades.items():
                    self._events.venue_trades(self.name, symbol, qty)
                for symbol in update.before_snapshot:
                    self._events.venue_problem(self.name, "increment_before_snapshot", symbol)
                for book in update.books:
                    self._events.venue_book(book)
            case "Y":
                self._events.venue_problem(self.name, "market_data_rejected",
                                           message.get(58) or "no reason given")
            case "j":
                self._events.venue_problem(self.name, "business_reject",
                                           message.get(58) or "no reason given")
            case other:
                self._events.venue_problem(self.name, "unexpected_message", f"MsgType {other}")

    def _on_error(self, session: str, raw: str, exc: Exception) -> None:
        kind = "undecodable_message" if isinstance(exc, DecodeError) else "handler_error"
        self._events.venue_problem(self.name, kind, f"{exc!r} in {codec.masked(raw)[:200]!r}")
