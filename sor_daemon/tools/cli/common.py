"""What the subcommands share: the default config, loading it, running on uvloop."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from sor_daemon.config import (
    ConfigError,
    SorConfig,
    load_config,
    load_market,
    market_path,
    oms_credentials,
)
from sor_daemon.service.files import PRIVATE_UMASK
from sor_sim.config import MarketConfig

DEFAULT_CONFIG = os.environ.get("SOR_CONFIG") or "config/sor.toml"
"""Every subcommand's --config unless given: $SOR_CONFIG (set in the container image)."""
Subparsers = Any
"""argparse's subparsers action (its class is private)."""


def decimal_arg(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def serve(body: Callable[[asyncio.Event], Awaitable[int | None]]) -> int:
    """Run ``body`` on uvloop with SIGTERM/SIGINT setting its stop event."""
    import uvloop

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # After `import quickfix` (which resets SIGINT), so these stick.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await body(stop) or 0

    return uvloop.run(main())


def load(path: str, with_market: bool = False, market_file: str | None = None,
         credentials: bool = False,
         ) -> tuple[SorConfig, MarketConfig | None, dict[str, tuple[str, str | None]] | None]:
    """The config, its simulated market (``market_file`` instead of the config's own) and,
    with ``credentials``, the OMS secrets (read once, so that one that cannot be read is
    said before anything starts). Raises ConfigError."""
    config = load_config(path)
    market = None
    if with_market:
        location = market_path(config, path)
        if location is None:
            raise ConfigError([f"{path}: no [sim] section: nothing to simulate"])
        market = load_market(location, config)
        if market_file:
            market = load_market(market_file, config)
    return config, market, oms_credentials(config) if credentials else None


def problems(exc: ConfigError) -> int:
    for line in exc.problems:
        print(line, file=sys.stderr)
    return 1


def configured(config: SorConfig) -> None:
    """Logging as the config says; what the process writes (quickfix's and SQLite's files
    too) is owner only."""
    from sor_daemon.service.logs import configure_logging

    configure_logging(config.log.level)
    os.umask(PRIVATE_UMASK)
