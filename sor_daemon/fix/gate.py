"""A TCP front for quickfix's acceptor: who may connect, what they may send before a
Logon, and how far behind its reader a session may fall.

quickfix 1.16's threaded acceptor gives every connection a thread before it knows who is
calling (its address allowlist is checked only once a Logon names a session), buffers a
first message of whatever length it announces, and writes to a peer in the sender's
thread: an OMS that stops reading blocks whoever sends to it, the event loop included.

The gate listens on the public port and hands quickfix, over loopback, only connections
from an allowed address whose first message is one complete Logon of bounded size, for a
known CompID, sent within the logon timeout; it caps the connections still in that state.
Once a connection is handed over, bytes flow both ways unchanged. Everything quickfix
writes is read at once, so quickfix's sends never block; what the peer has not read yet
is held up to ``max_backlog_bytes``, and past that the peer is cut. quickfix sees the
disconnect and logs the session out; with durable sessions, what the peer missed stays
in quickfix's store and is resent when it logs on again and asks.

Everything here runs on the event loop; the protocols do no parsing after the Logon.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol, cast

from sor_daemon.fix.codec import field_text
from sor_daemon.fix.metrics import LOGON_REJECTS, SESSION_DROPS

PREFIX = b"8=FIX.4.4\x019="
HEADER = re.compile(rb"8=FIX\.4\.4\x019=(\d{1,9})\x01")
"""BeginString and BodyLength, the first two fields of every FIX 4.4 message."""
CHECKSUM_BYTES = 7  # "10=NNN\x01"
LINGER_SECONDS = 5.0
"""How long a peer has to read quickfix's last words once quickfix has closed."""
SEND_BUFFER_BYTES = 256 << 10
"""The kernel's send buffer of a peer's socket (it doubles it), so that what a peer has
not read is held mostly where the gate can count it."""


@dataclass(frozen=True)
class GateLimits:
    """What a connection may do before quickfix sees it, and how far behind it may fall."""

    allowed_addresses: frozenset[str] = frozenset()
    """Peers allowed to connect at all (empty: any). Others are closed at once."""
    logon_timeout_s: float = 5.0
    """From connect to a complete Logon, and to quickfix's answer."""
    max_logon_bytes: int = 4096
    """A first message announcing more, or that many bytes with no complete message."""
    max_pending: int = 16
    """Connections at once that have not yet been answered a Logon; past it the one that
    has waited longest is closed (a peer that logs on at once is never the oldest)."""
    max_backlog_bytes: int = 4 << 20
    """Bytes written to a peer that it has not read yet (beyond the kernel's buffers)."""


class GateEvents(Protocol):
    """What the gate tells its owner, on the loop."""

    def on_connection_refused(self, reason: str, peer: str, detail: str) -> None:
        """Closed before quickfix saw it (``reason``: the metric's label)."""

    def on_unknown_session(self, raw: str) -> None:
        """A Logon for CompIDs that have no session (its text)."""

    def on_session_cut(self, comp_id: str, reason: str, detail: str) -> None:
        """A logged-on peer's connection cut (``reason``: the metric's label)."""


class Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def first_message(buffer: bytes | bytearray, limit: int) -> int | None:
    """The length of the complete first FIX message in ``buffer``; None while it is
    incomplete. Raises `Refused` when it cannot become a message within ``limit`` bytes."""
    match = HEADER.match(buffer)
    if match is None:
        head, digits = bytes(buffer[:len(PREFIX)]), bytes(buffer[len(PREFIX):len(PREFIX) + 10])
        if not PREFIX.startswith(head) or len(digits) > 9 or (digits and not digits.isdigit()):
            raise Refused("not_a_logon", f"does not start as a FIX 4.4 message: "
                                         f"{bytes(buffer[:32])!r}")
        return None
    total = match.end() + int(match.group(1)) + CHECKSUM_BYTES
    if total > limit:
        raise Refused("logon_too_large", f"first message announces {total} bytes; "
                                         f"at most {limit} before logon")
    return total if len(buffer) >= total else None


class _Engine(asyncio.Protocol):
    """The gate's connection to quickfix for one peer: read everything at once."""

    def __init__(self, peer: _Peer) -> None:
        self._peer = peer
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass

    def data_received(self, data: bytes) -> None:
        self._peer.from_engine(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._peer.engine_closed()

    def pause_writing(self) -> None:  # quickfix reads slower than the peer writes
        self._peer.pause()

    def resume_writing(self) -> None:
        self._peer.resume()


class _Peer(asyncio.Protocol):
    """One connection on the public port."""

    def __init__(self, gate: AcceptorGate) -> None:
        self._gate = gate
        self._limits = gate.limits
        self.transport: asyncio.Transport | None = None
        self.address = ""
        self.comp_id = ""
        self._buffer = bytearray()
        self._engine: _Engine | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._piping = False
        """The Logon (and whatever came with it) is written to quickfix: pipe from now on."""
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._paused_by: set[str] = set()

    # -------------------------------------------------------------- peer side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:  # the kernel's share of a backlog, bounded too
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if peer else "?"
        gate = self._gate
        gate.peers.add(self)
        allowed = self._limits.allowed_addresses
        if allowed and self.address not in allowed:
            self._refuse(Refused("address", f"{self.address} is not among the allowed "
                                            f"addresses"))
            return
        if len(gate.waiting) >= self._limits.max_pending:
            oldest = next(iter(gate.waiting))
            oldest._refuse(Refused("pending_limit", f"{len(gate.waiting)} connections "
                                                    f"waiting to log on; the oldest closed"))
        gate.waiting[self] = None
        self._timer = asyncio.get_running_loop().call_later(
            self._limits.logon_timeout_s, self._timed_out)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        engine = self._engine
        if self._piping and engine is not None and engine.transport is not None:
            engine.transport.write(data)
            return
        self._buffer += data
        if engine is None:
            try:
                self._check_logon()
            except Refused as refused:
                self._refuse(refused)
        elif len(self._buffer) > self._limits.max_logon_bytes:  # while connecting
            self.pause("connecting")

    def connection_lost(self, exc: Exception | None) -> None:
        self._close()

    # ---------------------------------------------------------------- logon

    def _check_logon(self) -> None:
        length = first_message(self._buffer, self._limits.max_logon_bytes)
        if length is None:
            return
        raw = bytes(self._buffer[:length]).decode("utf-8", "replace")
        if field_text(raw, 35) != "A":
            raise Refused("not_a_logon", f"first message is MsgType "
                                         f"{field_text(raw, 35)!r}, not a Logon (A)")
        comp_id, target = field_text(raw, 49), field_text(raw, 56)
        if comp_id not in self._gate.comp_ids or target != self._gate.own_comp_id:
            self._gate.events.on_unknown_session(raw)
            self._close()
            return
        self.comp_id = comp_id
        self._engine = _Engine(self)
        self._connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._engine is not None
        try:
            await loop.create_connection(lambda: self._engine, "127.0.0.1",
                                         self._gate.engine_port)
        except OSError as exc:
            self._refuse(Refused("engine_unreachable", f"quickfix's acceptor: {exc}"))
            return
        engine = self._engine.transport
        if self._closed:
            if engine is not None:
                engine.close()
            return
        assert engine is not None
        engine.write(bytes(self._buffer))
        self._buffer.clear()
        self._piping = True
        self.resume("connecting")

    def _timed_out(self) -> None:
        self._timer = None
        if self in self._gate.waiting and not self._closed:
            self._refuse(Refused("logon_timeout", f"no Logon answered within "
                                                  f"{self._limits.logon_timeout_s:g} s"))

    def _refuse(self, refused: Refused) -> None:
        LOGON_REJECTS.labels(refused.reason).inc()
        self._gate.events.on_connection_refused(refused.reason, self.address, refused.detail)
        self._close(abort=True)

    # -------------------------------------------------------------- engine side

    def from_engine(self, data: bytes) -> None:
        transport = self.transport
        if self._closed or transport is None:
            return
        self._answered()
        transport.write(data)
        backlog = transport.get_write_buffer_size()
        if backlog > self._limits.max_backlog_bytes:
            SESSION_DROPS.labels("slow_consumer").inc()
            self._gate.events.on_session_cut(
                self.comp_id, "slow_consumer",
                f"{backlog} bytes written and not read by {self.address} "
                f"(limit {self._limits.max_backlog_bytes})")
            self._close(abort=True)

    def engine_closed(self) -> None:
        transport = self.transport
        if transport is not None and not self._closed:
            self._closed = True  # quickfix's last words (a Logout) go out first ...
            self._forget()
            transport.close()
            asyncio.get_running_loop().call_later(  # ... to a peer that reads them
                LINGER_SECONDS, transport.abort)

    def _answered(self) -> None:
        """quickfix answered the Logon (or the connection is gone): no longer waiting."""
        self._gate.waiting.pop(self, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ---------------------------------------------------------------- flow

    def pause(self, why: str = "engine") -> None:
        """Stop reading from the peer (quickfix is behind, or the owner asks)."""
        if not self._paused_by and self.transport is not None and not self._closed:
            self.transport.pause_reading()
        self._paused_by.add(why)

    def resume(self, why: str = "engine") -> None:
        self._paused_by.discard(why)
        if not self._paused_by and self.transport is not None and not self._closed:
            self.transport.resume_reading()

    def _forget(self) -> None:
        self._answered()
        self._gate.peers.discard(self)

    def _close(self, abort: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        self._forget()
        if self.transport is not None:
            (self.transport.abort if abort else self.transport.close)()
        engine = self._engine.transport if self._engine is not None else None
        if engine is not None:
            engine.close()


class AcceptorGate:
    """Listens on the public port and hands checked connections to quickfix (see the
    module's docstring)."""

    def __init__(self, port: int, engine_port: int, comp_ids: Collection[str],
                 own_comp_id: str, events: GateEvents, limits: GateLimits = GateLimits(),
                 host: str | None = None) -> None:
        """``comp_ids``: the peers' CompIDs that have a session (their SenderCompID);
        ``own_comp_id``: ours (their TargetCompID); ``host``: the address to listen on
        (None: every interface)."""
        self.port, self.engine_port, self.host = port, engine_port, host
        self.comp_ids = frozenset(comp_ids)
        self.own_comp_id = own_comp_id
        self.events = events
        self.limits = limits
        self.waiting: dict[_Peer, None] = {}
        """Connections not yet answered a Logon, oldest first."""
        self.peers: set[_Peer] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Peer(self), self.host, self.port,
                                                reuse_address=True)

    async def stop(self) -> None:
        """Stop listening; connections still open are closed."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for peer in list(self.peers):
            peer._close()

    def flow(self, comp_id: str, reading: bool) -> None:
        """Pause (``reading`` False) or resume reading from the logged-on peer with this
        CompID: its messages queue faster than they are handled."""
        for peer in self.peers:
            if peer.comp_id == comp_id:
                (peer.resume if reading else peer.pause)("owner")


def pick_loopback_port() -> int:
    """A port the kernel has free on 127.0.0.1 now (quickfix cannot listen on port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

