"""The fundamental price of every simulated symbol, shared by all simulated venues.

Every venue centres its book on the same fundamental, so quotes across venues move
together and an arbitrage-free NBBO exists to route against. Per symbol the fundamental is

    reference_price * exp(walk) * overlay(t)

where ``walk`` is a Gaussian random walk in log-price plus compound-Poisson jumps plus the
permanent ``impulse`` moves, and ``overlay`` is the deterministic product of the active
`Shock` s (the flash-crash scenario). It is rounded to the symbol's tick only at the API.

Pure: no I/O, no clocks, no threads. Time is integer nanoseconds passed in by the caller;
all randomness comes from one private ``random.Random(seed)``. The walk advances in fixed
steps of ``step_ns`` and consumes the generator in a fixed order (steps, then symbols in
sorted order), so the path depends only on the seed and the number of steps: advancing
100 ms at once gives exactly the same prices as ten advances of 10 ms.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

__all__ = ["Impact", "MarketModel", "PriceProcess", "Shock"]

_BPS = 1e-4
_NS_PER_S = 1_000_000_000
# Private decimal context: the caller's (thread-local) context must not change our rounding.
_CTX = Context(prec=34, rounding=ROUND_HALF_UP)
# Poisson inversion stops here; with a per-step mean far below 1 it is never reached.
_MAX_JUMPS_PER_STEP = 64


@dataclass(frozen=True, slots=True)
class PriceProcess:
    """How one symbol's fundamental moves on its own.

    ``volatility_bps`` is the standard deviation of the log-price over one second, in basis
    points (it scales with sqrt(time)); ``jump_rate`` is Poisson jumps per second and
    ``jump_bps`` their mean absolute size (exponential, sign +/- with equal probability).
    """

    reference_price: Decimal
    tick: Decimal
    volatility_bps: float = 0.0
    jump_rate: float = 0.0
    jump_bps: float = 0.0

    def __post_init__(self) -> None:
        if not self.tick > 0:
            raise ValueError(f"tick must be positive, got {self.tick}")
        if not self.reference_price > 0:
            raise ValueError(f"reference_price must be positive, got {self.reference_price}")
        for name in ("volatility_bps", "jump_rate", "jump_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class Shock:
    """A deterministic move on top of the random walk: a linear move, a hold, a recovery.

    Starting ``start_s`` seconds after the model's start, the price moves linearly by
    ``move_bps`` (a simple return: -800 means 8% down) over ``move_s`` seconds, then comes
    back linearly over ``recover_s`` seconds; ``recover_s == 0`` makes the move permanent.
    ``symbol=None`` hits every symbol.
    """

    symbol: str | None
    start_s: float
    move_bps: float
    move_s: float
    recover_s: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.start_s):
            raise ValueError(f"start_s must be finite, got {self.start_s}")
        if not (math.isfinite(self.move_bps) and self.move_bps > -10_000):
            raise ValueError(f"move_bps must be above -10000, got {self.move_bps}")
        for name in ("move_s", "recover_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")

    def level_bps(self, t_s: float) -> float:
        """The shock's displacement in bps at ``t_s`` seconds after the model's start."""
        elapsed = t_s - self.start_s
        if elapsed < 0:
            return 0.0
        if elapsed < self.move_s:
            return self.move_bps * elapsed / self.move_s
        if self.recover_s <= 0:
            return self.move_bps
        back = elapsed - self.move_s
        if back >= self.recover_s:
            return 0.0
        return self.move_bps * (1.0 - back / self.recover_s)


@dataclass(frozen=True, slots=True)
class Impact:
    """Price impact of marketable orders: a decaying propagator (Bouchaud, Gefen, Potters
    and Wyart 2004, "Fluctuations and response in financial markets").

    An aggressive order of ``v`` shares (``sign`` +1 buying, -1 selling) moves the
    log-price at once by ``sign * coefficient_bps * (v / reference_size) ** size_exponent``
    (a concave impact of one order); a fraction ``permanent`` of that stays for good and
    the rest decays as ``(1 + tau / decay_s) ** -decay_exponent``. With
    ``decay_exponent = 0.5`` a metaorder executed at a constant rate has a peak impact
    growing as the square root of its size (the square-root law, Toth et al. 2011,
    "Anomalous price impact and the critical nature of liquidity in financial markets"),
    until the permanent part, linear in size, takes over (see `MarketModel.impact`).

    The power-law decay is carried as a sum of exponentials (`KERNEL_SCALES` time scales
    from ``decay_s / 4`` to ``4096 * decay_s``, weights fitted once), so the state per
    symbol is a few numbers whatever the number of orders.
    """

    coefficient_bps: float
    reference_size: int = 100
    size_exponent: float = 0.5
    decay_s: float = 1.0
    decay_exponent: float = 0.5
    permanent: float = 0.0

    def __post_init__(self) -> None:
        for name in ("coefficient_bps", "size_exponent", "decay_exponent", "permanent"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if not (math.isfinite(self.decay_s) and self.decay_s > 0):
            raise ValueError(f"decay_s must be positive, got {self.decay_s}")
        if self.reference_size < 1:
            raise ValueError(f"reference_size must be at least 1, got {self.reference_size}")
        if self.permanent > 1:
            raise ValueError(f"permanent must be at most 1, got {self.permanent}")

    def kernel(self, tau_s: float) -> float:
        """The exact transient response ``tau_s`` seconds after an order (1 at 0)."""
        return (1.0 + tau_s / self.decay_s) ** -self.decay_exponent

    def components(self) -> tuple[tuple[float, float], ...]:
        """(time scale in seconds, weight) of the exponentials approximating `kernel`
        (least squares on a log grid from 0 to 1000 ``decay_s``)."""
        import numpy as np

        scales = [self.decay_s * 4.0 ** k for k in range(-1, KERNEL_SCALES - 1)]
        grid = np.concatenate([[0.0], np.geomspace(self.decay_s / 100, 1000 * self.decay_s,
                                                   400)])
        basis = np.exp(-grid[:, None] / np.asarray(scales)[None, :])
        target = np.array([self.kernel(t) for t in grid])
        weights = np.linalg.lstsq(basis, target, rcond=None)[0]
        return tuple(zip(scales, (float(w) for w in weights), strict=True))


KERNEL_SCALES = 8


@dataclass(frozen=True, slots=True)
class _StepParams:
    """Per-step constants of one symbol, precomputed so the stepping loop stays tight."""

    index: int
    sigma: float  # std of the log-price increment per step
    jump_mean: float  # Poisson mean of jumps per step (0 = no jumps)
    p_zero: float  # exp(-jump_mean), the inversion's starting probability
    jump_scale: float  # mean absolute jump in log-price


class MarketModel:
    """One fundamental price process per symbol, advanced in fixed time steps."""

    def __init__(
        self,
        processes: Mapping[str, PriceProcess],
        seed: int,
        start_ns: int = 0,
        step_ns: int = 10_000_000,
        shocks: Sequence[Shock] = (),
        impact: Impact | None = None,
    ) -> None:
        if step_ns <= 0:
            raise ValueError(f"step_ns must be positive, got {step_ns}")
        unknown = sorted({s.symbol for s in shocks if s.symbol is not None} - set(processes))
        if unknown:
            raise ValueError(f"shocks name unknown symbols: {', '.join(unknown)}")
        self._processes = dict(processes)
        self._symbols = tuple(sorted(self._processes))
        self._index = {symbol: i for i, symbol in enumerate(self._symbols)}
        self._rng = random.Random(seed)
        self._start_ns = start_ns
        self._step_ns = step_ns
        self._now_ns = start_ns
        self._steps = 0
        self._walk = [0.0] * len(self._symbols)
        self._impact = impact
        self._permanent = [0.0] * len(self._symbols)
        components = impact.components() if impact is not None else ()
        self._kernel_weights = tuple(w for _, w in components)
        self._kernel_decay = tuple(math.exp(-step_ns / _NS_PER_S / scale)
                                   for scale, _ in components)
        self._transient = [[0.0] * len(components) for _ in self._symbols]
        self._shocks = {
            symbol: tuple(s for s in shocks if s.symbol is None or s.symbol == symbol)
            for symbol in self._symbols
        }
        dt = step_ns / _NS_PER_S
        params = []
        for i, symbol in enumerate(self._symbols):
            proc = self._processes[symbol]
            jumps = proc.jump_rate > 0 and proc.jump_bps > 0
            mean = proc.jump_rate * dt if jumps else 0.0
            params.append(
                _StepParams(
                    index=i,
                    sigma=proc.volatility_bps * _BPS * math.sqrt(dt),
                    jump_mean=mean,
                    p_zero=math.exp(-mean),
                    jump_scale=proc.jump_bps * _BPS,
                )
            )
        self._params = tuple(params)

    @property
    def now_ns(self) -> int:
        """The latest time the model was advanced to (``start_ns`` before any advance)."""
        return self._now_ns

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def advance(self, now_ns: int) -> None:
        """Evolve every symbol in whole steps up to ``now_ns``; earlier times are a no-op."""
        if now_ns <= self._now_ns:
            return
        self._now_ns = now_ns
        target = (now_ns - self._start_ns) // self._step_ns
        for _ in range(target - self._steps):
            self._step()
        self._steps = max(self._steps, target)

    def _step(self) -> None:
        """One step for every symbol. The draws made depend only on the configuration."""
        if self._kernel_decay:
            decay = self._kernel_decay
            for state in self._transient:
                for k, factor in enumerate(decay):
                    state[k] *= factor
        rng = self._rng
        walk = self._walk
        for p in self._params:
            move = rng.gauss(0.0, p.sigma) if p.sigma else 0.0
            if p.jump_mean:
                # Poisson count by inversion: one uniform, then two draws per jump.
                u = rng.random()
                prob = cdf = p.p_zero
                count = 0
                while u > cdf and count < _MAX_JUMPS_PER_STEP:
                    count += 1
                    prob *= p.jump_mean / count
                    cdf += prob
                for _ in range(count):
                    size = rng.expovariate(1.0) * p.jump_scale
                    move += size if rng.random() < 0.5 else -size
            walk[p.index] += move

    def impulse(self, symbol: str, bps: float) -> None:
        """Move ``symbol``'s walk permanently by ``bps`` (a simple return), e.g. the adverse
        selection a dark-pool fill reveals."""
        if not (math.isfinite(bps) and bps > -10_000):
            raise ValueError(f"impulse must be above -10000 bps, got {bps}")
        self._walk[self._index[symbol]] += math.log1p(bps * _BPS)

    def impact(self, symbol: str, signed_qty: int) -> None:
        """An aggressive order of ``abs(signed_qty)`` shares (>0 bought) moves the price
        (`Impact`); nothing without an impact model."""
        spec = self._impact
        if spec is None or not signed_qty or not spec.coefficient_bps:
            return
        size = spec.coefficient_bps * _BPS * (abs(signed_qty) / spec.reference_size) ** (
            spec.size_exponent)
        move = size if signed_qty > 0 else -size
        i = self._index[symbol]
        self._permanent[i] += spec.permanent * move
        transient = (1.0 - spec.permanent) * move
        state = self._transient[i]
        for k, weight in enumerate(self._kernel_weights):
            state[k] += weight * transient

    def impact_bps(self, symbol: str) -> float:
        """The price impact in effect now (permanent and transient), in bps of log-price."""
        i = self._index[symbol]
        return (self._permanent[i] + sum(self._transient[i])) / _BPS

    def _factor(self, symbol: str) -> float:
        """The fundamental over the reference price, before rounding."""
        i = self._index[symbol]
        factor = math.exp(self._walk[i] + self._permanent[i] + sum(self._transient[i]))
        shocks = self._shocks[symbol]
        if shocks:
            t_s = (self._now_ns - self._start_ns) / _NS_PER_S
            for shock in shocks:
                factor *= max(0.0, 1.0 + shock.level_bps(t_s) * _BPS)
        return factor

    def fundamental_ticks(self, symbol: str) -> int:
        """The current fundamental in whole ticks (half-up), never below one tick."""
        proc = self._processes[symbol]
        raw = _CTX.divide(
            _CTX.multiply(proc.reference_price, Decimal(self._factor(symbol))), proc.tick
        )
        return max(1, int(raw.to_integral_value(rounding=ROUND_HALF_UP, context=_CTX)))

    def fundamental(self, symbol: str) -> Decimal:
        """The current fundamental price, on the symbol's tick, never below one tick."""
        return _CTX.multiply(Decimal(self.fundamental_ticks(symbol)), self._processes[symbol].tick)
