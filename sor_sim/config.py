"""The simulated market's configuration (`sim-market.toml`): frozen pydantic models that
reject unknown keys. The simulator's own; the daemon's config only names the file."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

CompID = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,32}$")]
Symbol = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9.\-]{0,15}$")]
PositivePrice = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=8)]


class Strict(BaseModel):
    """Base for every section: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


NonNegative = Annotated[float, Field(ge=0)]


class SimSymbolConfig(Strict):
    """One symbol's fundamental price process, shared by every simulated venue."""

    reference_price: PositivePrice
    volatility_bps: Annotated[float, Field(ge=0, le=10_000)] = 0.0
    """Standard deviation of log-price moves per sqrt(second), in basis points."""
    jump_rate: NonNegative = 0.0
    """Price jumps per second (Poisson)."""
    jump_bps: NonNegative = 0.0
    """Mean absolute jump size."""
    lot_size: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] = 1


class FlowConfig(Strict):
    """Background order flow on one lit venue, per symbol: the book ticks and queues move."""

    limit_rate: NonNegative
    """Limit orders per second, placed 0..depth_ticks-1 behind the touch."""
    market_rate: NonNegative = 0.0
    cancel_rate: NonNegative = 0.0
    depth_ticks: Annotated[int, Field(strict=True, ge=1, le=100)] = 5
    half_spread_ticks: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    mean_size: Annotated[int, Field(strict=True, ge=1, le=10_000_000)] = 200


class RefillConfig(Strict):
    """Queue-reactive refill of the house levels (`SimExchange.replenish`) instead of an
    instant top-up after every event."""

    rate: Annotated[float, Field(gt=0, le=10_000)]
    """Arrivals per second at an empty level; ``rate * (1 - shown / size)`` at a level
    showing ``shown`` of its ``size``."""
    chunk: Annotated[float, Field(gt=0, le=1)] = 0.25
    """Each arrival's size, as a share of the level's size (rounded to the lot)."""


class FadeConfig(Strict):
    """Quote fading: after a client's trade at another venue, the house maker here moves
    the side that trade took from further away, for a while."""

    reaction_ms: Annotated[float, Field(ge=0, le=60_000)]
    """How long after the trade (the reprice happens at the first clock step past it)."""
    ticks: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    hold_ms: Annotated[float, Field(gt=0, le=3_600_000)] = 500.0
    """How long the quotes stay faded after the last trade that faded them."""


class SimVenueConfig(Strict):
    """A simulated lit exchange: its house market maker, fees, latency and flow."""

    price_offset_ticks: Annotated[int, Field(strict=True, ge=-100, le=100)] = 0
    half_spread_ticks: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    levels: Annotated[int, Field(strict=True, ge=0, le=50)] = 5
    """House levels per side, refilled after every event; 0 leaves the book to the flow."""
    level_size: Annotated[int, Field(strict=True, ge=1, le=10_000_000)] = 500
    size_step: Annotated[int, Field(strict=True, ge=0, le=10_000_000)] = 0
    """Extra shares per level away from the touch (deeper levels hold more)."""
    fees: Literal["maker-taker", "inverted", "flat"] = "maker-taker"
    ack_latency_ms: Annotated[float, Field(ge=0, le=10_000)] = 0.0
    flow: FlowConfig | None = None
    refill: RefillConfig | None = None
    """None: every house level is topped back up at once after every event."""
    fade: FadeConfig | None = None
    """None: the house ignores trades at other venues."""


class DarkPoolConfig(Strict):
    """A simulated dark pool: midpoint-pegged, hidden contra liquidity, no market data."""

    min_qty: Annotated[int, Field(strict=True, ge=1)] = 100
    fee_per_share: Annotated[Decimal, Field(ge=-1, le=1)] = Decimal("0.0010")
    adverse_selection_bps: float = 0.0
    """After each fill the fundamental moves this much against the filled side."""
    zero_probability: Annotated[float, Field(ge=0, le=1)] = 0.7
    """Share of pings that find no contra liquidity at all."""
    liquidity_scale: Annotated[int, Field(strict=True, ge=1)] = 500
    liquidity_alpha: Annotated[float, Field(gt=0)] = 1.5
    """Pareto tail index of the contra size: lower means fatter tails (rare blocks)."""
    arrival_rate: NonNegative = 0.0
    """Fresh contra liquidity per second for resting orders."""
    crossing_interval_s: Annotated[float, Field(gt=0)] | None = None
    """Periodic crossing sessions instead of continuous matching."""
    ack_latency_ms: Annotated[float, Field(ge=0, le=10_000)] = 0.0


class ShockConfig(Strict):
    """A scripted move of the fundamental (e.g. a flash crash and its recovery)."""

    symbol: Symbol | None = None
    """None: every symbol."""
    start_s: NonNegative
    move_bps: float
    move_s: Annotated[float, Field(gt=0)]
    recover_s: NonNegative = 0.0


class ImpactConfig(Strict):
    """Price impact of the clients' marketable orders (`sor_sim.market_model.Impact`):
    a concave instant move, partly permanent, the rest decaying as a power law. The
    background flow's own impact is part of the symbols' volatility."""

    coefficient_bps: Annotated[float, Field(ge=0, le=1000)]
    """The instant move of an order of ``reference_size`` shares."""
    reference_size: Annotated[int, Field(strict=True, ge=1)] = 100
    size_exponent: Annotated[float, Field(ge=0, le=1)] = 0.5
    decay_s: Annotated[float, Field(gt=0, le=3600)] = 1.0
    decay_exponent: Annotated[float, Field(ge=0, le=5)] = 0.5
    permanent: Annotated[float, Field(ge=0, le=1)] = 0.0
    """The share of each move that stays for good."""


class OutageConfig(Strict):
    """A venue disconnects every session at ``start_s`` and refuses logons for a while."""

    venue: str
    start_s: NonNegative
    duration_s: Annotated[float, Field(gt=0)]


class MarketConfig(Strict):
    """The simulated market: price processes, venue profiles and scripted events."""

    seed: int = 7
    step_ms: Annotated[int, Field(strict=True, ge=1, le=1000)] = 10
    """The simulation clock's step: prices, background flow and pools advance per step."""
    members: list[CompID] = []
    """Client CompIDs every simulated venue accepts beside the daemon's (quickfix 1.16
    has no dynamic sessions): a second desk or router, or a trader on a venue directly."""
    symbols: Annotated[dict[Symbol, SimSymbolConfig], Field(min_length=1)]
    venues: dict[str, SimVenueConfig] = {}
    """Lit venue profiles by venue name; a lit venue without one gets the defaults."""
    dark: dict[str, DarkPoolConfig] = {}
    """Dark pool profiles by venue name; a dark venue without one gets the defaults."""
    shocks: list[ShockConfig] = []
    outages: list[OutageConfig] = []
    impact: ImpactConfig | None = None
    """None: orders never move the price (the fundamental follows its own process)."""
