"""A raw-socket FIX 4.4 client for tests: it sends what a correct engine never would.

It frames any body (repeated, missing or misordered tags, wrong types, non-ASCII, raw
bytes) with a correct BodyLength (9) and CheckSum (10) around a valid standard header,
keeps its own outbound MsgSeqNum, and parses what comes back itself (framed by 8=/9=/10=).
It answers TestRequest (1) with Heartbeat (0), ResendRequest (2) with a
SequenceReset-GapFill (4) and Logout (5) with Logout; `expect` waits for any inbound
message, `send_raw` writes arbitrary bytes. The daemon's side stays the real quickfix
engine. asyncio streams, loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SOH = b"\x01"
BEGIN_STRING = b"FIX.4.4"
Value = str | bytes | int
Tag = int | str | bytes
Body = Iterable[tuple[Tag, Value]]

_FRAME_START = re.compile(rb"8=[^\x01]*\x019=(\d{1,9})\x01")
_MAYBE_START = re.compile(rb"8=[^\x01]*(\x01(9(=\d{0,9})?)?)?")
_TRAILER = re.compile(rb"10=\d{3}\x01")


def utc_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def as_bytes(value: Tag | Value) -> bytes:
    """A tag or value on the wire: text as UTF-8, bytes as they are."""
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def checksum(data: bytes) -> bytes:
    return b"%03d" % (sum(data) % 256)


def frame(msg_type: Value, sender: Value, target: Value, seq: int, body: Body = (),
          header: Body = ()) -> bytes:
    """One FIX message: a valid header (35 third, then 49/56/34/52 and ``header``), the
    body as given, a correct BodyLength and CheckSum."""
    fields = [(35, msg_type), (49, sender), (56, target), (34, seq), (52, utc_timestamp()),
              *header, *body]
    payload = b"".join(as_bytes(tag) + b"=" + as_bytes(value) + SOH for tag, value in fields)
    start = b"8=" + BEGIN_STRING + SOH + b"9=%d" % len(payload) + SOH
    return start + payload + b"10=" + checksum(start + payload) + SOH


@dataclass(frozen=True, slots=True)
class InMessage:
    """One inbound message: every field in wire order (values decoded as UTF-8, with
    undecodable bytes kept as surrogates)."""

    raw: bytes
    pairs: tuple[tuple[int, str], ...]

    @classmethod
    def parse(cls, raw: bytes) -> InMessage:
        pairs = []
        for item in raw.split(SOH)[:-1]:
            tag, _, value = item.partition(b"=")
            try:
                number = int(tag)
            except ValueError:
                number = -1
            pairs.append((number, value.decode("utf-8", "surrogateescape")))
        return cls(raw, tuple(pairs))

    @property
    def msg_type(self) -> str:
        return self.get(35) or ""

    def get(self, tag: int) -> str | None:
        """The first occurrence of ``tag``."""
        return next((value for number, value in self.pairs if number == tag), None)

    def __str__(self) -> str:
        return self.raw.replace(SOH, b"|").decode("utf-8", "backslashreplace")


class FrameSplitter:
    """Cuts a byte stream into FIX frames; bytes that cannot start one are skipped."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        while True:
            start = buffer.find(b"8=")
            if start < 0:
                del buffer[:-1]  # keep a trailing "8"
                return frames
            del buffer[:start]
            head = _FRAME_START.match(buffer)
            if head is None:
                if _MAYBE_START.fullmatch(buffer):
                    return frames  # the header is still arriving
                del buffer[:2]
                continue
            end = head.end() + int(head.group(1))
            if len(buffer) < end + 7:
                return frames
            if not _TRAILER.match(buffer, end):
                del buffer[:2]  # garbled: look for the next frame
                continue
            frames.append(bytes(buffer[:end + 7]))
            del buffer[:end + 7]


def oms_comp_ids(config: Any) -> tuple[list[str], str]:
    """The CompIDs OMS sessions may log on with, and the daemon's own CompID.

    Accepts both config shapes: ``oms.sessions`` (one entry per OMS, ``comp_id``) and the
    older single ``oms.target_comp_id``.
    """
    oms = config.oms
    sessions = getattr(oms, "sessions", None)
    if sessions:
        return [s.comp_id for s in sessions], oms.sender_comp_id
    return [oms.target_comp_id], oms.sender_comp_id


class RawFixClient:
    """One TCP connection speaking (or not quite speaking) FIX 4.4 as an OMS."""

    def __init__(self, port: int, sender: str, target: str, host: str = "127.0.0.1",
                 heartbeat_seconds: int = 30) -> None:
        self.host, self.port = host, port
        self.sender, self.target = sender, target
        self.heartbeat_seconds = heartbeat_seconds
        self.next_seq = 1
        self.inbox: list[InMessage] = []
        """Every message received, in order, admin messages included."""
        self.last_sent = b""
        self.closed = asyncio.Event()
        """Set once the connection is gone (either side closed it)."""
        self._sent_at = 0
        self._arrival = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._logging_out = False
        self._ping_ids = itertools.count(1)

    async def __aenter__(self) -> RawFixClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ connection

    async def connect(self, timeout: float = 5.0) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), timeout)
        self.closed = asyncio.Event()
        self.inbox.clear()
        self._sent_at = 0
        self._logging_out = False
        self._task = asyncio.ensure_future(self._read())

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.wait_closed(), 2)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.closed.set()

    async def wait_closed(self, timeout: float) -> bool:
        """Whether the peer closes the connection within ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), timeout)
        return self.closed.is_set()

    # ----------------------------------------------------------------- sending

    def build(self, msg_type: Value, body: Body = (), *, seq: int | None = None,
              header: Body = ()) -> bytes:
        """The frame `send` would write, without sending it or using a sequence number."""
        return frame(msg_type, self.sender, self.target, self.next_seq if seq is None else seq,
                     body, header)

    async def send(self, msg_type: Value, body: Body = (), *, header: Body = ()) -> int:
        """Send one message with the next MsgSeqNum; returns that MsgSeqNum."""
        seq = self.next_seq
        data = self.build(msg_type, body, seq=seq, header=header)
        self.next_seq += 1
        self._sent_at = len(self.inbox)
        await self.send_raw(data)
        return seq

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (garbage included)."""
        if self._writer is None or self.closed.is_set():
            raise ConnectionError("the raw FIX connection is closed")
        self.last_sent = data
        self._writer.write(data)
        await self._writer.drain()

    # --------------------------------------------------------------- session

    async def logon(self, timeout: float = 5.0, extra: Body = ()) -> InMessage:
        """Send Logon (ResetSeqNumFlag=Y) and return the reply: Logon (A) when accepted,
        Logout (5) when refused. Raises ConnectionError if the peer just hangs up."""
        self.next_seq = 1
        await self.send("A", [(98, 0), (108, self.heartbeat_seconds), (141, "Y"), *extra])
        return await self.expect(lambda m: m.msg_type in ("A", "5"), timeout)

    async def logout(self, timeout: float = 3.0) -> None:
        """Log out politely and wait (bounded) for the answer or the hang-up."""
        if self.closed.is_set():
            return
        self._logging_out = True
        with contextlib.suppress(ConnectionError):
            await self.send("5")
        with contextlib.suppress(TimeoutError, ConnectionError):
            await self.expect(lambda m: m.msg_type == "5", timeout)

    async def ping(self, timeout: float = 0.5, attempts: int = 5) -> bool:
        """TestRequest until a Heartbeat echoes its TestReqID (112). Several attempts:
        a garbled frame can swallow one, or leave a gap that queues it behind a
        ResendRequest (answered by the gap fill, then asked again at once)."""
        for _ in range(attempts):
            req_id = f"PING-{next(self._ping_ids)}"
            try:
                await self.send("1", [(112, req_id)])
                reply = await self.expect(
                    lambda m, r=req_id: (m.msg_type == "0" and m.get(112) == r)
                    or m.msg_type == "2", timeout)
            except TimeoutError:
                continue
            except ConnectionError:
                return False
            if reply.msg_type == "0":
                return True
        return False

    # ----------------------------------------------------------------- inbox

    def mark(self) -> int:
        """The inbox position now; pass as ``since`` to see only later messages."""
        return len(self.inbox)

    async def expect(self, predicate: Callable[[InMessage], bool], timeout: float = 2.0,
                     since: int | None = None) -> InMessage:
        """The first inbound message from ``since`` (default: from the last `send`) that
        satisfies ``predicate``. Raises TimeoutError, or ConnectionError once the
        connection is closed with no such message."""
        position = self._sent_at if since is None else since
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            arrival = self._arrival
            for message in self.inbox[position:]:
                if predicate(message):
                    return message
            position = len(self.inbox)
            if self.closed.is_set():
                raise ConnectionError("the connection closed before the expected message")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no expected message within {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrival.wait(), remaining)

    def _wake(self) -> None:
        self._arrival.set()
        self._arrival = asyncio.Event()

    async def _read(self) -> None:
        assert self._reader is not None
        splitter = FrameSplitter()
        try:
            while data := await self._reader.read(65536):
                for raw in splitter.feed(data):
                    message = InMessage.parse(raw)
                    self.inbox.append(message)
                    await self._answer(message)
                    self._wake()
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            self._wake()

    async def _answer(self, message: InMessage) -> None:
        """The session duties: heartbeats, gap fills, the logout handshake."""
        with contextlib.suppress(ConnectionError):
            match message.msg_type:
                case "1":
                    await self.send("0", [(112, message.get(112) or "")])
                case "2":
                    begin = int(message.get(7) or self.next_seq)
                    await self.send_raw(self.build(
                        "4", [(123, "Y"), (36, self.next_seq)], seq=begin,
                        header=[(43, "Y"), (122, utc_timestamp())]))
                case "5" if not self._logging_out:
                    self._logging_out = True
                    await self.send("5")
