"""Shared fixtures: free loopback ports and configs built from the shipped defaults."""

from __future__ import annotations

import random
import socket
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import uvloop

from sor_daemon.config import SorConfig

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "sor.toml"
DEFAULT_MARKET = ROOT / "config" / "sim-market.toml"


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item):
    """Async tests run on uvloop, as the daemon does."""
    return {"uvloop": uvloop.new_event_loop}


_handed_out: set[int] = set()
_ports = random.Random()


def free_port() -> int:
    """A free loopback port below Linux's ephemeral range (32768+), never the same twice
    in a run: a port the kernel handed out could be taken again, between the check and
    the bind, as some initiator's outgoing port."""
    while True:
        port = _ports.randrange(20_000, 32_000)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


def _run_dir() -> Path:
    """A private directory for this run's control sockets (a Unix socket path must stay
    under ~100 bytes, so not pytest's deep tmp_path)."""
    global _RUN_DIR
    if _RUN_DIR is None:
        _RUN_DIR = Path(tempfile.mkdtemp(prefix="sor-test-"))
    return _RUN_DIR


_RUN_DIR: Path | None = None


def default_config_data() -> dict[str, Any]:
    """The shipped config as a dict, moved to free ports so tests never collide."""
    with DEFAULT_CONFIG.open("rb") as fh:
        data = tomllib.load(fh)
    data["oms"]["port"] = free_port()
    data["metrics"]["port"] = free_port()
    data["monitor"]["records"] = ""  # tests that read records set their own file
    data["audit"]["path"] = ""        # ... and so do tests of the audit trail
    data.setdefault("journal", {})["path"] = ""  # ... and of the journal (sessions reset)
    data["admin"]["socket"] = str(_run_dir() / f"admin-{free_port()}.sock")
    for session in [*data["venues"], *data.get("brokers", [])]:
        session["port"] = free_port()
    return data


def default_config() -> SorConfig:
    return SorConfig.model_validate(default_config_data())
