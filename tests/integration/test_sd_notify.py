"""systemd's notification protocol without systemd: a Unix datagram listener stands in
for it as NOTIFY_SOCKET, and records what the daemon says and when."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sor_daemon.config import SorConfig, toml_text
from sor_daemon.fix.endpoint import wait_until
from sor_daemon.service.daemon import Daemon
from tests.conftest import DEFAULT_MARKET, ROOT, default_config_data

pytestmark = pytest.mark.integration


class FakeSystemd:
    """A NOTIFY_SOCKET: every datagram is kept as (monotonic time, its lines). When READY=1
    arrives, the daemon's OMS and metrics ports are tried at once (bound or not)."""

    def __init__(self, ports: tuple[int, ...]) -> None:
        self.dir = tempfile.mkdtemp(prefix="sor-notify-")
        self.path = str(Path(self.dir) / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.ports = ports
        self.received: list[tuple[float, list[str]]] = []
        self.bound_at_ready: list[bool] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            lines = data.decode().split("\n")
            if "READY=1" in lines:
                self.bound_at_ready = [_accepts(port) for port in self.ports]
            self.received.append((time.monotonic(), lines))

    def times(self, line: str) -> list[float]:
        return [at for at, lines in list(self.received) if line in lines]

    def statuses(self) -> list[str]:
        return [ln.removeprefix("STATUS=") for _, lines in list(self.received)
                for ln in lines if ln.startswith("STATUS=")]

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self.dir)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def fake_systemd(data: dict) -> Iterator[FakeSystemd]:
    listener = FakeSystemd((data["oms"]["port"], data["metrics"]["port"]))
    try:
        yield listener
    finally:
        listener.close()


async def test_ready_after_listeners_bound_watchdog_from_the_loop_stopping_at_stop(
        monkeypatch: pytest.MonkeyPatch):
    data = default_config_data()
    with fake_systemd(data) as systemd:
        monkeypatch.setenv("NOTIFY_SOCKET", systemd.path)
        monkeypatch.setenv("WATCHDOG_USEC", "600000")  # pings every 0.2 s
        daemon = Daemon(SorConfig.model_validate(data))
        stop = asyncio.Event()
        running = asyncio.ensure_future(daemon.run(stop))
        try:
            assert await wait_until(lambda: systemd.times("READY=1"), 30), systemd.received
            assert systemd.bound_at_ready == [True, True]
            assert "NOTIFY_SOCKET" not in os.environ  # children do not inherit it
            assert "WATCHDOG_USEC" not in os.environ
            assert systemd.statuses()[0] == (
                "OMS sessions 0/1 up, venue sessions 0/6 up, 0 working orders")
            assert await wait_until(lambda: len(systemd.times("WATCHDOG=1")) >= 3, 10)

            # The loop freezes (a handler stuck in a blocking call): no ping until it turns.
            frozen_at = time.monotonic()
            time.sleep(2.0)  # blocking on purpose: the event loop does not turn
            thawed_at = time.monotonic()
            assert await wait_until(
                lambda: len([t for t in systemd.times("WATCHDOG=1") if t > thawed_at]) >= 2,
                10)
            pings = systemd.times("WATCHDOG=1")
            assert not [t for t in pings if frozen_at + 0.5 < t < thawed_at], pings
        finally:
            stop.set()
            await asyncio.wait_for(running, 60)
        stopping = systemd.times("STOPPING=1")
        assert len(stopping) == 1
        assert not [t for t in systemd.times("WATCHDOG=1") if t > stopping[0] + 0.5]


async def _run_daemon(tmp_path: Path, data: dict, systemd: FakeSystemd
                      ) -> tuple[asyncio.subprocess.Process, Path]:
    data["sim"]["market"] = str(DEFAULT_MARKET)
    config_path = tmp_path / "sor.toml"
    config_path.write_text(toml_text(data))
    env = {**os.environ, "NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "600000"}
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sor_daemon", "run", "--config", str(config_path),
            cwd=ROOT, stdout=out, stderr=out, env=env, preexec_fn=_no_core_dump)
    return daemon, log


def _no_core_dump() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


async def test_sigterm_says_stopping_and_exits_zero(tmp_path: Path):
    """`sor-daemon run` as a process: READY=1 with its PID, STOPPING=1 at SIGTERM."""
    data = default_config_data()
    with fake_systemd(data) as systemd:
        daemon, log = await _run_daemon(tmp_path, data, systemd)
        try:
            assert await wait_until(lambda: systemd.times("READY=1"), 30), log.read_text()
            assert systemd.bound_at_ready == [True, True]
            assert await wait_until(lambda: len(systemd.times("WATCHDOG=1")) >= 2, 10)
            daemon.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(daemon.wait(), 30) == 0
        finally:
            if daemon.returncode is None:
                daemon.kill()
                await daemon.wait()
        assert len(systemd.times("STOPPING=1")) == 1, systemd.received
        ready = next(lines for _, lines in systemd.received if "READY=1" in lines)
        assert f"MAINPID={daemon.pid}" in ready


async def test_watchdog_abort_leaves_the_python_stacks_in_the_log(tmp_path: Path):
    """systemd's watchdog kills with SIGABRT: the log then says where every thread was."""
    data = default_config_data()
    with fake_systemd(data) as systemd:
        daemon, log = await _run_daemon(tmp_path, data, systemd)
        try:
            assert await wait_until(lambda: systemd.times("READY=1"), 30), log.read_text()
            daemon.send_signal(signal.SIGABRT)
            assert await asyncio.wait_for(daemon.wait(), 30) == -signal.SIGABRT
        finally:
            if daemon.returncode is None:
                daemon.kill()
                await daemon.wait()
    text = log.read_text()
    assert "Fatal Python error: Aborted" in text, text[-2000:]
    assert "most recent call first" in text
