"""A whole trading stack on 127.0.0.1: simulated venues, the daemon, an OMS client.

Each runs its own quickfix engine in this process; all share the test's event loop.
Teardown goes initiator first: OMS client, daemon (its OMS acceptor, then its venue
initiators), then the venue acceptors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from sor_daemon.config import SorConfig, load_market
from sor_daemon.core.domain import ExecType, OrdStatus
from sor_daemon.fix.codec import FixMessage
from sor_daemon.fix.endpoint import FixHandler, wait_until
from sor_daemon.service.daemon import Daemon
from sor_daemon.tools.oms_client import OmsClient, OmsOrder
from sor_sim.config import MarketConfig
from sor_sim.market import SimMarket
from sor_sim.runner import build_venues, run_clock
from sor_sim.venue import SimVenue
from tests.conftest import DEFAULT_MARKET, default_config


@dataclass
class Stack:
    config: SorConfig
    market: MarketConfig
    venues: list[SimVenue]
    daemon: Daemon
    oms: OmsClient

    @property
    def session(self) -> str:
        """The daemon's name for the OMS client's session."""
        return next(iter(self.daemon.gateway.sessions))

    @property
    def sim(self) -> SimMarket:
        return self.venues[0].market



@contextlib.asynccontextmanager
async def running_stack(market: MarketConfig | None = None, clock: bool = False,
                        config: SorConfig | None = None) -> AsyncIterator[Stack]:
    """The whole stack on loopback; ``clock`` runs the simulated market's clock (prices,
    background flow, dark pool arrivals, outages) as `sor-daemon sim` does."""
    config = config or default_config()
    market = market or load_market(DEFAULT_MARKET, config)
    venues = build_venues(config, market)
    for venue in venues:
        await venue.start()
    stop = asyncio.Event()
    ticking = asyncio.ensure_future(run_clock(venues, stop)) if clock else None
    daemon = Daemon(config)
    await daemon.start()
    oms = OmsClient.for_config(config)
    try:
        assert await wait_until(lambda: all(c.up for c in daemon.connectors.values()))
        lit = [v for v in config.venues if v.kind == "lit"]
        assert await wait_until(lambda: all(
            len(daemon.engine.market.venue_books(s)) == len(lit) for s in config.symbols))
        assert await oms.start(), "the OMS client could not log on"
        yield Stack(config, market, venues, daemon, oms)
    finally:
        stop.set()
        if ticking is not None:
            await ticking
        await oms.stop()
        await daemon.stop()
        await asyncio.gather(*(venue.stop() for venue in venues))


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with running_stack() as running:
        yield running


async def assert_untouched(stack: Stack, order: OmsOrder) -> None:
    """A resting order is still working and unfilled, as the daemon answers a status
    request for it."""
    count = len(order.reports)
    stack.oms.status(order)
    assert await stack.oms.wait_for(lambda: len(order.reports) > count, 5)
    status = order.reports[-1]
    assert (status.exec_type, status.ord_status, status.cum_qty, status.leaves_qty) == (
        ExecType.ORDER_STATUS, OrdStatus.NEW, 0, order.qty)


def heard_by(handler: FixHandler) -> list[FixMessage]:
    """Every application message ``handler`` (an OMS client, a venue connector, a
    simulated venue) receives from now on, header included, as it came in."""
    heard: list[FixMessage] = []
    on_message = handler.on_message

    def recording(session: str, message: FixMessage) -> None:
        heard.append(message)
        on_message(session, message)

    handler.on_message = recording  # type: ignore[method-assign]
    return heard
