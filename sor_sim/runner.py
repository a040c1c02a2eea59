"""`sor-daemon sim`: the simulated venues a daemon config connects to, as FIX acceptors,
and the clock that moves the simulated market."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

import structlog

from sor_daemon.fix.endpoint import SessionSpec
from sor_sim.broker import SimBroker
from sor_sim.config import MarketConfig
from sor_sim.market import SimMarket
from sor_sim.venue import SimVenue


class Session(Protocol):
    """A session the daemon dials, as the simulator needs it: which port to listen on,
    who logs on (``sender_comp_id``) and as whom it answers (``target_comp_id``)."""

    name: str
    port: int
    sender_comp_id: str
    target_comp_id: str
    heartbeat_seconds: int
    timestamp_precision: int
    cancel_on_disconnect: bool


class Venue(Session, Protocol):
    kind: str


class Broker(Session, Protocol):
    venues: Sequence[str]
    commission_per_share: Decimal
    expected_latency_ms: float


class Symbol(Protocol):
    tick_size: Decimal


class Logs(Protocol):
    fix_message_dir: str | None


class Counterparties(Protocol):
    """What the simulator reads of the daemon's config (it never imports its schema)."""

    venues: Sequence[Venue]
    brokers: Sequence[Broker]
    symbols: Mapping[str, Symbol]
    log: Logs


def build_market(config: Counterparties, market: MarketConfig, start_ns: int = 0) -> SimMarket:
    return SimMarket(market, [(v.name, v.kind) for v in config.venues],
                     {s: c.tick_size for s, c in config.symbols.items()}, start_ns)


def build_venues(config: Counterparties, market: MarketConfig) -> list[SimVenue]:
    """One simulated venue per venue of the daemon config and one simulated broker per
    broker, on the ports it dials, all sharing one simulated market."""
    log = structlog.get_logger("sim")
    sim = build_market(config, market, time.monotonic_ns())
    venues = []
    for venue in config.venues:
        specs = [
            SessionSpec(sender_comp_id=venue.target_comp_id, target_comp_id=member,
                        port=venue.port, heartbeat_seconds=venue.heartbeat_seconds,
                        timestamp_precision=venue.timestamp_precision)
            for member in dict.fromkeys([venue.sender_comp_id, *market.members])
        ]

        def on_error(session: str, raw: str, exc: Exception, name: str = venue.name) -> None:
            log.error("sim_message_failed", venue=name, session=session, error=repr(exc))

        venues.append(SimVenue(venue.name, sim, specs, config.log.fix_message_dir, on_error,
                               venue.cancel_on_disconnect))
    for broker in config.brokers:
        specs = [
            SessionSpec(sender_comp_id=broker.target_comp_id, target_comp_id=member,
                        port=broker.port, heartbeat_seconds=broker.heartbeat_seconds,
                        timestamp_precision=broker.timestamp_precision)
            for member in dict.fromkeys([broker.sender_comp_id, *market.members])
        ]

        def on_broker_error(session: str, raw: str, exc: Exception,
                            name: str = broker.name) -> None:
            log.error("sim_message_failed", broker=name, session=session, error=repr(exc))

        venues.append(SimBroker(broker.name, sim, specs, frozenset(broker.venues),
                                broker.commission_per_share, broker.expected_latency_ms,
                                config.log.fix_message_dir, on_broker_error,
                                broker.cancel_on_disconnect))
    peers = {venue.name: venue for venue in venues}
    for venue in venues:
        venue.connect(peers)
    return venues


async def run_clock(venues: list[SimVenue], stop: asyncio.Event) -> None:
    """Step the shared market every ``step_ms`` and deliver what it produced; run outages."""
    log = structlog.get_logger("sim")
    if not venues:
        return
    sim = venues[0].market
    by_name = {venue.name: venue for venue in venues}
    down: set[str] = set()
    while not stop.is_set():
        now = time.monotonic_ns()
        for name, outbound in sim.step(now):
            by_name[name].route(name, [outbound])
        for name, venue in by_name.items():
            is_down = sim.is_down(name, now)
            if is_down != (name in down):
                venue.set_down(is_down)
                (down.add if is_down else down.discard)(name)
                log.info("sim_outage_started" if is_down else "sim_outage_ended", venue=name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), sim.step_ns / 1e9)


async def run_sim(config: Counterparties, market: MarketConfig, stop: asyncio.Event,
                  fill_ledger: str | None = None) -> None:
    """``fill_ledger``: a file every fill is appended to before it is reported."""
    log = structlog.get_logger("sim")
    venues = build_venues(config, market)
    ledger = open(fill_ledger, "ab") if fill_ledger else None  # noqa: SIM115 - closed below
    for venue in venues:
        venue.ledger = ledger
    try:
        for venue in venues:
            await venue.start()
            log.info("sim_venue_listening", venue=venue.name, port=venue.port)
        await run_clock(venues, stop)
        await asyncio.gather(*(venue.stop() for venue in venues))
    finally:
        if ledger is not None:
            ledger.close()
    log.info("sim_stopped")
