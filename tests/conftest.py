"""Shared fixtures: free loopback ports and configs built from the shipped defaults."""

from __future__ import annotations

import socket
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_config_data() -> dict[str, Any]:
    """The shipped config as a dict, moved to free ports so tests never collide."""
    with DEFAULT_CONFIG.open("rb") as fh:
        data = tomllib.load(fh)
    data["oms"]["port"] = free_port()
    data["metrics"]["port"] = free_port()
    for venue in data["venues"]:
        venue["port"] = free_port()
    return data


def default_config() -> SorConfig:
    return SorConfig.model_validate(default_config_data())
