"""No client can stall the router: an OMS that stops reading, one that floods cancels,
connections that never log on, from addresses that may not, or that announce a huge
first message. Each against the real daemon and its real quickfix acceptor, with a second
OMS session trading throughout, whose every order must be acknowledged promptly (a
liveness bound, generous for a loaded machine, far below what a stall costs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from sor_daemon.config import SorConfig
from sor_daemon.core.domain import OrdStatus, OrdType, Side, TimeInForce
from sor_daemon.fix.endpoint import wait_until
from sor_daemon.fix.gate import Refused, first_message
from tests.conftest import default_config_data
from tests.integration.conftest import Stack, running_stack
from tests.rawfix import RawFixClient, frame, utc_timestamp

pytestmark = pytest.mark.integration

OTHER = "OMS2"
"""The second OMS session: the one that misbehaves."""
ACK_BOUND = 1.0
"""Seconds within which every order of the well-behaved session must be acknowledged."""


def config(tmp_path: Path, **oms: Any) -> SorConfig:
    data = default_config_data()
    data["oms"]["sessions"].append({"comp_id": OTHER})
    data["oms"].update(oms)
    data["audit"]["path"] = str(tmp_path / "audit.jsonl")
    return SorConfig.model_validate(data)


@contextlib.asynccontextmanager
async def stack_with(tmp_path: Path, **oms: Any) -> AsyncIterator[Stack]:
    async with running_stack(config=config(tmp_path, **oms)) as stack:
        yield stack


def rejects(reason: str) -> float:
    return REGISTRY.get_sample_value("sor_logon_rejects_total", {"reason": reason}) or 0.0


def drops(reason: str) -> float:
    return REGISTRY.get_sample_value("sor_fix_session_drops_total", {"reason": reason}) or 0.0


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


async def acks_while(stack: Stack, busy: asyncio.Future[Any], orders: int = 40,
                     pause: float = 0.05) -> list[float]:
    """The well-behaved session sends resting orders one by one while ``busy`` runs
    (at least ``orders``): how long each took to be acknowledged."""
    latencies: list[float] = []
    while len(latencies) < orders or not busy.done():
        started = time.monotonic()
        order = stack.oms.new_order("AAPL", Side.BUY, 100, OrdType.LIMIT, Decimal("189.00"),
                                    TimeInForce.DAY)
        acked = await stack.oms.wait_for(lambda o=order: o.status is not OrdStatus.PENDING_NEW,
                                         10)
        latencies.append(time.monotonic() - started if acked else float("inf"))
        assert order.status is OrdStatus.NEW, order.text
        await asyncio.sleep(pause)
        if len(latencies) > 2000:
            break
    return latencies


def logon_frame(sender: str, target: str = "SOR") -> bytes:
    return frame("A", sender, target, 1, [(98, 0), (108, 30), (141, "Y")])


def cancels(sender: str, first_seq: int, count: int, target: str = "SOR") -> Iterator[bytes]:
    """OrderCancelRequests for orders nobody has, in chunks of 500 frames."""
    now = utc_timestamp()
    chunk: list[bytes] = []
    for i in range(count):
        chunk.append(frame("F", sender, target, first_seq + i, [
            (11, f"X{i}"), (41, f"NOPE{i}"), (55, "AAPL"), (54, "1"), (60, now)]))
        if len(chunk) == 500:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


def flood_and_stop_reading(port: int, count: int, hold: float) -> tuple[int, bool]:
    """Log on as `OTHER`, send ``count`` cancels and never read an answer; keep the
    socket open ``hold`` seconds. How many bytes went out, and whether the router closed
    the connection meanwhile."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.settimeout(5)
        sock.sendall(logon_frame(OTHER))
        assert b"\x0135=A\x01" in sock.recv(4096), "the flooding session could not log on"
        sock.settimeout(2)  # the router may stop reading from us: that is allowed
        sent = 0
        with contextlib.suppress(OSError):
            for data in cancels(OTHER, 2, count):
                sock.sendall(data)
                sent += len(data)
        time.sleep(hold)
        sock.settimeout(2)  # now read what the kernel kept: then the end, or a reset
        closed = False
        with contextlib.suppress(TimeoutError):
            while True:
                try:
                    if not sock.recv(1 << 16):
                        closed = True
                        break
                except ConnectionError:
                    closed = True
                    break
        return sent, closed


@pytest.mark.timeout(120)
async def test_an_oms_that_stops_reading_is_cut_and_stalls_nobody(tmp_path: Path):
    """One OMS floods cancels for unknown orders and never reads the rejects: its unread
    backlog passes the limit and it is cut, while the other session's orders are each
    acknowledged within the bound, and the admin socket and timers carry on."""
    async with stack_with(tmp_path, max_backlog_kib=256) as stack:
        other = next(n for n, c in stack.daemon.gateway.sessions.items() if c == OTHER)
        before = drops("slow_consumer")
        flood = asyncio.ensure_future(asyncio.to_thread(
            flood_and_stop_reading, stack.config.oms.port, 40_000, 8.0))
        latencies = await acks_while(stack, flood)
        sent, closed = await flood
        assert sent > 1_000_000
        assert max(latencies) < ACK_BOUND, sorted(latencies)[-5:]
        assert closed, "the slow session was not cut"
        assert drops("slow_consumer") == before + 1
        assert await wait_until(
            lambda: not stack.daemon.gateway.endpoint.is_logged_on(other), 10)
        status = await stack.daemon._admin({"command": "status"})
        assert status["ok"], status
        async with RawFixClient(stack.config.oms.port, OTHER, "SOR") as again:
            assert (await again.logon()).msg_type == "A", "the cut session cannot log on again"
            await again.logout()
        stack.daemon.audit_tap.write_wire()
        stack.daemon.audit.flush()
        events = [orjson.loads(line) for line in
                  Path(stack.config.audit.path).read_bytes().splitlines()]
        assert [e for e in events if e.get("kind") == "session_cut"
                and e.get("reason") == "slow_consumer" and e.get("session") == f"oms:{OTHER}"]


def flood_cancels_reading(port: int, count: int) -> int:
    """Log on as `OTHER`, send ``count`` cancels for unknown orders at once while reading
    every answer; how many answers came back (within a bound)."""
    with socket.socket() as sock:
        sock.connect(("127.0.0.1", port))
        sock.settimeout(5)
        sock.sendall(logon_frame(OTHER))
        assert b"\x0135=A\x01" in sock.recv(4096)
        for data in cancels(OTHER, 2, count):
            sock.sendall(data)
        answers, pending = 0, b""
        deadline = time.monotonic() + 30
        sock.settimeout(1)
        while answers < count and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                pending += sock.recv(1 << 16)
            answers += pending.count(b"\x0135=9\x01")
            pending = pending[pending.rfind(b"\x01") + 1:]
        return answers


@pytest.mark.timeout(120)
async def test_a_cancel_flood_on_one_session_does_not_delay_another(tmp_path: Path):
    """10,000 cancels at once from one session: past their own allowance they are
    refused as throttled, every one is answered, and the other session's orders are each
    acknowledged within the bound meanwhile."""
    async with stack_with(tmp_path) as stack:
        flood = asyncio.ensure_future(asyncio.to_thread(
            flood_cancels_reading, stack.config.oms.port, 10_000))
        latencies = await acks_while(stack, flood, pause=0.01)
        assert await flood == 10_000
        assert max(latencies) < ACK_BOUND, sorted(latencies)[-5:]


# ------------------------------------------------------------ before logon


async def closed_at_once(port: int, source: str = "127.0.0.1", data: bytes = b"",
                         within: float = 2.0) -> bool:
    """Connect from ``source``, write ``data``; whether the router hangs up ``within``."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                   local_addr=(source, 0))
    try:
        if data:
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        deadline = loop.time() + within
        while loop.time() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), deadline - loop.time())
            except TimeoutError:
                return False
            except ConnectionError:
                return True
            if not chunk:
                return True
        return False
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def logs_on(stack: Stack) -> bool:
    async with RawFixClient(stack.config.oms.port, OTHER, "SOR") as raw:
        accepted = (await raw.logon()).msg_type == "A"
        await raw.logout()
    return accepted


@pytest.mark.timeout(120)
async def test_connections_from_other_addresses_are_closed_at_once(tmp_path: Path):
    """500 idle connections from an address that is not allowed: each closed at once,
    counted, logged and audited; threads stay bounded and a correct logon succeeds
    throughout."""
    async with stack_with(tmp_path) as stack:
        port = stack.config.oms.port
        before, threads_before = rejects("address"), threads()
        opened: list[asyncio.StreamWriter] = []
        readers: list[asyncio.StreamReader] = []
        try:
            for i in range(500):
                reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                               local_addr=("127.0.0.2", 0))
                opened.append(writer)
                readers.append(reader)
                if i % 100 == 0:
                    assert await logs_on(stack)
                    assert threads() < threads_before + 10
            assert await wait_until(lambda: rejects("address") == before + 500, 10)
            assert all([await asyncio.wait_for(r.read(), 5) == b"" for r in readers])
            assert threads() < threads_before + 10
            assert await logs_on(stack)
        finally:
            for writer in opened:
                writer.close()
        assert await closed_at_once(port, "127.0.0.2", logon_frame(OTHER))
        stack.daemon.audit_tap.write_wire()
        stack.daemon.audit.flush()
        events = [orjson.loads(line) for line in
                  Path(stack.config.audit.path).read_bytes().splitlines()]
        refused = [e for e in events if e.get("kind") == "connection_refused"]
        assert len(refused) == 501 and {e["reason"] for e in refused} == {"address"}
        assert {e["peer"] for e in refused} == {"127.0.0.2"}


@pytest.mark.timeout(120)
async def test_what_comes_before_a_logon_is_bounded(tmp_path: Path):
    """A first message announcing 999,999,999 bytes, one that is not a Logon, an idle
    connection past the logon timeout, more idle connections than the cap: each closed
    and counted, memory and threads bounded, and a correct logon succeeds meanwhile."""
    async with stack_with(tmp_path, logon_timeout_seconds=1,
                          max_pending_connections=4) as stack:
        port = stack.config.oms.port
        rss_before, threads_before = rss_bytes(), threads()
        huge = b"8=FIX.4.4\x019=999999999\x0135=A\x01" + b"x" * 4_000_000
        counted = rejects("logon_too_large")
        assert await closed_at_once(port, data=huge)
        assert rejects("logon_too_large") == counted + 1
        order = frame("D", OTHER, "SOR", 1, [(11, "X"), (55, "AAPL")])
        counted = rejects("not_a_logon")
        assert await closed_at_once(port, data=order)
        assert rejects("not_a_logon") == counted + 1
        counted = rejects("logon_timeout")
        assert await closed_at_once(port, within=4.0)
        assert rejects("logon_timeout") == counted + 1

        counted = rejects("pending_limit")
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(10)]
        try:
            assert await wait_until(lambda: rejects("pending_limit") == counted + 6, 5)
            assert await logs_on(stack), "a correct logon was crowded out"
            assert [await asyncio.wait_for(r.read(), 5) for r, _ in idle] == [b""] * 10
        finally:
            for _, writer in idle:
                writer.close()
        assert threads() < threads_before + 10
        assert rss_bytes() < rss_before + 50 * 1024 * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------ framing, pure


def test_the_first_message_is_measured_before_it_is_read():
    logon = logon_frame("OMS")
    assert first_message(logon, 4096) == len(logon)
    assert first_message(logon + b"8=FIX.4.4\x019=5", 4096) == len(logon)
    for cut in (1, 5, 12, 20, len(logon) - 1):
        assert first_message(logon[:cut], 4096) is None
    with pytest.raises(Refused, match="at most 4096"):
        first_message(b"8=FIX.4.4\x019=999999999\x01", 4096)
    with pytest.raises(Refused, match="at most 64"):
        first_message(logon, 64)
    for garbage in (b"GET / HTTP/1.1\r\n", b"\x16\x03\x01\x02\x00\x01", b"8=FIX.4.4\x019=x\x01",
                    b"8=FIX.4.4\x01" + b"9" * 40):
        with pytest.raises(Refused, match=r"does not start as a FIX 4\.4 message"):
            first_message(garbage, 4096)
