"""`sor-daemon sim`: the simulated venues a daemon config connects to, as FIX acceptors."""

from __future__ import annotations

import asyncio

import structlog

from connectors.sim.exchange import SimExchange, SimSymbol
from connectors.sim.venue import SimVenue
from sor_daemon.config import MarketConfig, SimVenueConfig, SorConfig
from sor_daemon.fix.endpoint import SessionSpec


def build_venues(config: SorConfig, market: MarketConfig) -> list[SimVenue]:
    """One simulated exchange per venue of the daemon config, on the port it dials."""
    log = structlog.get_logger("sim")
    symbols = {
        name: SimSymbol(config.symbols[name].tick_size, spec.reference_price)
        for name, spec in market.symbols.items()
        if name in config.symbols
    }
    venues = []
    for venue in config.venues:
        profile = market.venues.get(venue.name, SimVenueConfig())
        spec = SessionSpec(
            sender_comp_id=venue.target_comp_id,
            target_comp_id=venue.sender_comp_id,
            port=venue.port,
            heartbeat_seconds=venue.heartbeat_seconds,
        )

        def on_error(session: str, raw: str, exc: Exception, name: str = venue.name) -> None:
            log.error("sim_message_failed", venue=name, session=session, error=repr(exc))

        venues.append(SimVenue(SimExchange(venue.name, symbols, profile), spec,
                               config.log.fix_message_dir, on_error))
    return venues


async def run_sim(config: SorConfig, market: MarketConfig, stop: asyncio.Event) -> None:
    log = structlog.get_logger("sim")
    venues = build_venues(config, market)
    for venue in venues:
        await venue.start()
        log.info("sim_venue_listening", venue=venue.name, port=venue.port)
    await stop.wait()
    for venue in venues:
        await venue.stop()
    log.info("sim_stopped")
